import Foundation
import ModelCatalog

/// Removing pulled models from the `$HF_HOME/hub` cache (`modelhost rm`): a whole repository (`org/name`), or one
/// GGUF file of it (`org/name:STEM`) with its blob when no other snapshot still links it. Files in the models
/// directory are the user's own and are never touched.
public struct HubCache: Sendable {
    public let hubDirectory: String

    public init(hfHome: String) {
        hubDirectory = URL(fileURLWithPath: hfHome).appendingPathComponent("hub").path
    }

    /// Returns the bytes freed.
    public func remove(_ id: String) throws -> Int64 {
        let (repo, selector) = try HubPull.parse(id)
        let directory = "\(hubDirectory)/models--\(repo.replacingOccurrences(of: "/", with: "--"))"
        guard FileManager.default.fileExists(atPath: directory) else {
            throw HubPull.Failure("\(repo) is not in \(hubDirectory) (models in the models directory are removed by hand)")
        }
        guard let selector else {
            let freed = Self.bytes(under: directory)
            try FileManager.default.removeItem(atPath: directory)
            return freed
        }
        let snapshots = "\(directory)/snapshots"
        var removedBlobs = Set<String>()
        var found = false
        for snapshot in (try? FileManager.default.contentsOfDirectory(atPath: snapshots)) ?? [] {
            let files = (try? FileManager.default.contentsOfDirectory(atPath: "\(snapshots)/\(snapshot)")) ?? []
            guard let file = ModelCatalog.select(selector, in: ModelCatalog.ggufFiles(in: files)) else { continue }
            let link = "\(snapshots)/\(snapshot)/\(file)"
            if let target = try? FileManager.default.destinationOfSymbolicLink(atPath: link) {
                removedBlobs.insert((target as NSString).lastPathComponent)
            }
            try FileManager.default.removeItem(atPath: link)
            found = true
        }
        guard found else { throw HubPull.Failure("\(repo) has no GGUF file for '\(selector)'") }
        // A blob another snapshot still links stays.
        var stillLinked = Set<String>()
        for snapshot in (try? FileManager.default.contentsOfDirectory(atPath: snapshots)) ?? [] {
            for file in (try? FileManager.default.subpathsOfDirectory(atPath: "\(snapshots)/\(snapshot)")) ?? [] {
                if let target = try? FileManager.default.destinationOfSymbolicLink(atPath: "\(snapshots)/\(snapshot)/\(file)") {
                    stillLinked.insert((target as NSString).lastPathComponent)
                }
            }
        }
        var freed: Int64 = 0
        for blob in removedBlobs.subtracting(stillLinked) {
            let path = "\(directory)/blobs/\(blob)"
            freed += HubPull.size(of: path) ?? 0
            try? FileManager.default.removeItem(atPath: path)
        }
        if stillLinked.isEmpty {
            freed += Self.bytes(under: directory)
            try? FileManager.default.removeItem(atPath: directory)
        }
        return freed
    }

    static func bytes(under directory: String) -> Int64 {
        var total: Int64 = 0
        for file in (try? FileManager.default.subpathsOfDirectory(atPath: directory)) ?? [] {
            let path = "\(directory)/\(file)"
            let attributes = try? FileManager.default.attributesOfItem(atPath: path)
            if attributes?[.type] as? FileAttributeType == .typeRegular {
                total += (attributes?[.size] as? NSNumber)?.int64Value ?? 0
            }
        }
        return total
    }
}
