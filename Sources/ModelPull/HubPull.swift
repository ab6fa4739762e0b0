import AsyncHTTPClient
import CSupport
import Foundation
import ModelCatalog
import NIOCore
import NIOHTTP1

/// `modelhost pull ORG/NAME[:FILE-OR-QUANT]` and `POST /admin/pull`: downloads a GGUF file, or a whole safetensors
/// folder, from a Hugging Face-compatible hub into the `$HF_HOME/hub` cache layout that the catalog reads
/// (`models--ORG--NAME/blobs/`, `snapshots/COMMIT/` links, `refs/main`).
///
/// - Files go to `blobs/ID.incomplete` and are renamed to `blobs/ID` only once their size (and, for LFS files, the
///   SHA-256 the hub lists) is right, so no half file ever has a final name; a later pull resumes an `.incomplete`
///   file with a Range request, hashing what is already there first.
/// - A file whose checksum is wrong is deleted, and a repository this pull created is removed if nothing of it
///   completed: a corrupted download leaves nothing in the cache.
/// - `HF_ENDPOINT` (default https://huggingface.co) and `HF_TOKEN` as Hugging Face's own tools read them.
public struct HubPull: Sendable {
    public struct Options: Sendable {
        public var endpoint: String
        public var token: String?
        public var hubDirectory: String

        /// From the environment: `HF_ENDPOINT`, `HF_TOKEN`, and `hfHome` (the catalog's `$HF_HOME`).
        public init(environment: [String: String], hfHome: String) {
            self.init(environment: environment,
                      hubDirectory: URL(fileURLWithPath: hfHome).appendingPathComponent("hub").path)
        }

        public init(environment: [String: String], hubDirectory: String) {
            endpoint = environment["HF_ENDPOINT"].flatMap { $0.isEmpty ? nil : $0 } ?? "https://huggingface.co"
            while endpoint.hasSuffix("/") { endpoint.removeLast() }
            token = environment["HF_TOKEN"].flatMap { $0.isEmpty ? nil : $0 }
            self.hubDirectory = hubDirectory
        }
    }

    /// What a pull reports as it goes: one file's bytes so far (resumed bytes included) of its total.
    public struct Progress: Sendable, Equatable {
        public var file: String
        public var done: Int64
        public var total: Int64
        public var fileIndex: Int
        public var fileCount: Int
    }

    public struct Result: Sendable, Equatable {
        /// The catalog id to serve it by: `org/name` (a folder) or `org/name:STEM` (a GGUF file).
        public var modelID: String
        public var files: [String]
        public var bytesDownloaded: Int64
        public var resumedBytes: Int64
    }

    public struct Failure: Error, Sendable, CustomStringConvertible {
        public let message: String
        /// The bytes arrived but do not match the hub's checksum (the download was deleted).
        public let corrupt: Bool
        public init(_ message: String, corrupt: Bool = false) {
            self.message = message
            self.corrupt = corrupt
        }
        public var description: String { message }
    }

    let options: Options

    public init(options: Options) {
        self.options = options
    }

    /// One file of the repository listing.
    struct RemoteFile {
        let name: String
        let size: Int64
        /// The LFS object's SHA-256 (hex), for large files; nil for small files kept in git.
        let sha256: String?
        /// The cache's blob name: the LFS SHA-256, else the git blob id.
        let blob: String
    }

    /// Pulls `spec` (`org/name` or `org/name:FILE-OR-QUANT`).
    public func pull(_ spec: String, client: HTTPClient = .shared,
                     progress: @escaping @Sendable (Progress) -> Void = { _ in }) async throws -> Result {
        let (repo, selector) = try Self.parse(spec)
        let (commit, listing) = try await list(repo, client: client)
        let files = try Self.choose(listing, selector: selector, repo: repo)
        let repoDirectory = "\(options.hubDirectory)/models--\(repo.replacingOccurrences(of: "/", with: "--"))"
        let existed = FileManager.default.fileExists(atPath: repoDirectory)
        let snapshot = "\(repoDirectory)/snapshots/\(commit)"
        let blobs = "\(repoDirectory)/blobs"
        try FileManager.default.createDirectory(atPath: blobs, withIntermediateDirectories: true)
        var downloaded: Int64 = 0, resumed: Int64 = 0
        do {
            for (index, file) in files.enumerated() {
                let blob = "\(blobs)/\(file.blob)"
                if !Self.isComplete(blob, size: file.size) {
                    let (fresh, kept) = try await download(repo, commit: commit, file: file, to: blob, client: client) {
                        progress(Progress(file: file.name, done: $0, total: file.size, fileIndex: index, fileCount: files.count))
                    }
                    downloaded += fresh
                    resumed += kept
                }
                progress(Progress(file: file.name, done: file.size, total: file.size, fileIndex: index, fileCount: files.count))
                try Self.link(snapshot: snapshot, name: file.name, blob: file.blob)
            }
        } catch let failure as Failure where failure.corrupt {
            // Nothing of a corrupted download stays; a repository this pull created goes entirely.
            if !existed { try? FileManager.default.removeItem(atPath: repoDirectory) }
            throw failure
        }
        try FileManager.default.createDirectory(atPath: "\(repoDirectory)/refs", withIntermediateDirectories: true)
        try commit.write(toFile: "\(repoDirectory)/refs/main", atomically: true, encoding: .utf8)
        let ggufs = files.filter { $0.name.hasSuffix(".gguf") && !$0.name.hasPrefix("mmproj") }
        let id = ggufs.count == 1 ? "\(repo):\(ggufs[0].name.dropLast(5))" : repo
        return Result(modelID: id, files: files.map(\.name), bytesDownloaded: downloaded, resumedBytes: resumed)
    }

    /// `org/name[:selector]`, checked like a catalog id.
    static func parse(_ spec: String) throws -> (repo: String, selector: String?) {
        do {
            try ModelID.validate(spec)
        } catch {
            throw Failure("'\(spec)' is not ORG/NAME[:FILE-OR-QUANT]: \(error.message)")
        }
        let repo = spec.split(separator: ":", maxSplits: 1).first.map(String.init) ?? spec
        guard repo.contains("/") else { throw Failure("'\(spec)' is not ORG/NAME[:FILE-OR-QUANT]") }
        return (repo, spec.contains(":") ? String(spec[spec.index(after: spec.firstIndex(of: ":")!)...]) : nil)
    }

    /// The repository's commit and files (`GET /api/models/ORG/NAME/revision/main?blobs=true`).
    func list(_ repo: String, client: HTTPClient) async throws -> (String, [RemoteFile]) {
        var request = HTTPClientRequest(url: "\(options.endpoint)/api/models/\(repo)/revision/main?blobs=true")
        authorize(&request)
        let response = try await client.execute(request, timeout: .seconds(60))
        let body = try await response.body.collect(upTo: 64 << 20)
        guard response.status == .ok else {
            let detail = String(buffer: body).prefix(200)
            switch response.status.code {
            case 401, 403: throw Failure("\(repo): the hub refused access (HTTP \(response.status.code)); set HF_TOKEN for a gated or private repository")
            case 404: throw Failure("\(repo): no such repository at \(options.endpoint)")
            default: throw Failure("\(repo): the hub answered HTTP \(response.status.code): \(detail)")
            }
        }
        let bytes = Data(body.readableBytesView)
        guard let json = try? JSONSerialization.jsonObject(with: bytes) as? [String: Any],
              let commit = json["sha"] as? String, (try? ModelID.validate(commit)) != nil,
              let siblings = json["siblings"] as? [[String: Any]] else {
            throw Failure("\(repo): the hub's listing is not what a Hugging Face hub sends (sha, siblings)")
        }
        var files: [RemoteFile] = []
        for sibling in siblings {
            guard let name = sibling["rfilename"] as? String, Self.isSafeName(name) else { continue }
            let lfs = sibling["lfs"] as? [String: Any]
            var sha: String?
            if let hex = lfs?["sha256"] as? String, Self.isHex(hex, count: 64) { sha = hex.lowercased() }
            let sizeNumber = (lfs?["size"] as? NSNumber) ?? (sibling["size"] as? NSNumber)
            let size: Int64 = sizeNumber?.int64Value ?? -1
            var blobID = sha
            if blobID == nil, let id = sibling["blobId"] as? String, Self.isHex(id, count: 40) { blobID = id }
            guard size >= 0, let blobID else {
                throw Failure("\(repo): the listing gives no size or blob id for \(name) (ask the hub for ?blobs=true)")
            }
            files.append(RemoteFile(name: name, size: size, sha256: sha, blob: blobID))
        }
        return (commit, files)
    }

    /// The files a pull takes: the GGUF file the selector names (with its vision projector, if the repository has
    /// exactly one), or, without a selector, the one GGUF file or the safetensors folder.
    static func choose(_ files: [RemoteFile], selector: String?, repo: String) throws -> [RemoteFile] {
        let ggufs = ModelCatalog.ggufFiles(in: files.map(\.name))
        if let selector {
            guard let name = ModelCatalog.select(selector, in: ggufs) else {
                let matching = ggufs.filter { $0.lowercased().contains(selector.lowercased()) }
                throw Failure("\(repo) has no single GGUF file for '\(selector)'"
                    + (matching.count > 1 ? "; it matches \(matching.joined(separator: ", "))" : "")
                    + (ggufs.isEmpty ? " (it has no GGUF files)" : "; its GGUF files: \(ggufs.joined(separator: ", "))"))
            }
            return files.filter { $0.name == name }
        }
        let names = Set(files.map(\.name))
        if names.contains("config.json"), files.contains(where: { $0.name.hasSuffix(".safetensors") }) {
            // The folder the catalog serves: configuration, tokenizer and safetensors weights, without the same
            // weights again in other frameworks' formats.
            let skipped = [".bin", ".pt", ".pth", ".h5", ".msgpack", ".onnx", ".ot", ".tflite", ".gguf", ".ckpt"]
            return files.filter { file in !skipped.contains { file.name.hasSuffix($0) } }
        }
        switch ggufs.count {
        case 1: return files.filter { $0.name == ggufs[0] }
        case 0: throw Failure("\(repo) has neither a safetensors folder (config.json + .safetensors) nor GGUF files")
        default:
            throw Failure("\(repo) has several GGUF files; name one: "
                + ggufs.map { "\(repo):\($0.dropLast(5))" }.joined(separator: ", "))
        }
    }

    /// Downloads into `blob.incomplete` (resuming it), checks size and checksum, renames to `blob`. Returns the bytes
    /// fetched now and the bytes kept from an earlier attempt.
    func download(_ repo: String, commit: String, file: RemoteFile, to blob: String, client: HTTPClient,
                  progress: (Int64) -> Void) async throws -> (Int64, Int64) {
        let partial = blob + ".incomplete"
        var have = Self.size(of: partial) ?? 0
        if have > file.size {
            try? FileManager.default.removeItem(atPath: partial)
            have = 0
        }
        var hasher = try SHA256Stream()
        if have > 0, let existing = FileHandle(forReadingAtPath: partial) {
            // A resumed file's checksum covers what is already there.
            while let chunk = try existing.read(upToCount: 1 << 20), !chunk.isEmpty {
                chunk.withUnsafeBytes { hasher.update($0) }
            }
            try existing.close()
        } else if !FileManager.default.createFile(atPath: partial, contents: nil) {
            throw Failure("cannot write \(partial)")
        }
        let kept = have
        var fresh: Int64 = 0
        if have < file.size {
            let path = file.name.split(separator: "/")
                .map { $0.addingPercentEncoding(withAllowedCharacters: .urlPathAllowed) ?? String($0) }.joined(separator: "/")
            var request = HTTPClientRequest(url: "\(options.endpoint)/\(repo)/resolve/\(commit)/\(path)")
            authorize(&request)
            if have > 0 { request.headers.add(name: "Range", value: "bytes=\(have)-") }
            let response = try await client.execute(request, timeout: .hours(12))
            switch response.status {
            case .partialContent where have > 0: break
            case .ok:
                if have > 0 {
                    // The server sent the whole file after all: start again.
                    try FileHandle(forWritingAtPath: partial)?.truncate(atOffset: 0)
                    have = 0
                    hasher = try SHA256Stream()
                }
            default:
                throw Failure("\(file.name): the hub answered HTTP \(response.status.code)")
            }
            guard let handle = FileHandle(forWritingAtPath: partial) else { throw Failure("cannot write \(partial)") }
            defer { try? handle.close() }
            try handle.seekToEnd()
            var done = have
            var lastReport = ContinuousClock.now
            do {
                for try await buffer in response.body {
                    guard done + Int64(buffer.readableBytes) <= file.size else {
                        throw Failure("\(file.name): the hub sent more than its \(file.size) bytes")
                    }
                    buffer.withUnsafeReadableBytes { hasher.update($0) }
                    try handle.write(contentsOf: Data(buffer.readableBytesView))
                    done += Int64(buffer.readableBytes)
                    fresh += Int64(buffer.readableBytes)
                    if ContinuousClock.now - lastReport > .milliseconds(200) {
                        lastReport = .now
                        progress(done)
                    }
                }
            } catch let failure as Failure {
                throw failure
            } catch {
                // What arrived stays in the .incomplete file for the next pull to resume.
                try? handle.synchronize()
                throw Failure("\(file.name): the transfer broke off at \(done) of \(file.size) bytes (\(error)); pull "
                              + "again to resume")
            }
            try handle.synchronize()
        }
        // Size, then checksum; the file takes its final name only when both hold.
        let size = Self.size(of: partial) ?? -1
        guard size == file.size else {
            throw Failure("\(file.name): the transfer ended at \(size) of \(file.size) bytes; pull again to resume")
        }
        if let expected = file.sha256 {
            let got = hasher.finish()
            guard got == expected else {
                try? FileManager.default.removeItem(atPath: partial)
                throw Failure("\(file.name): checksum mismatch (SHA-256 \(got), the hub lists \(expected)); the "
                              + "download was deleted", corrupt: true)
            }
        }
        if rename(partial, blob) != 0 { throw Failure("cannot rename \(partial): errno \(errno)") }
        return (fresh, kept)
    }

    static func size(of path: String) -> Int64? {
        ((try? FileManager.default.attributesOfItem(atPath: path))?[.size] as? NSNumber)?.int64Value
    }

    private func authorize(_ request: inout HTTPClientRequest) {
        if let token = options.token { request.headers.add(name: "Authorization", value: "Bearer \(token)") }
        request.headers.add(name: "User-Agent", value: "modelhost-pull")
    }

    static func isComplete(_ blob: String, size: Int64) -> Bool {
        Self.size(of: blob) == size
    }

    /// `snapshots/COMMIT/NAME` -> `../../blobs/BLOB` (one more `..` per folder in NAME), as huggingface_hub links.
    static func link(snapshot: String, name: String, blob: String) throws {
        let path = "\(snapshot)/\(name)"
        let depth = name.split(separator: "/").count - 1
        try FileManager.default.createDirectory(atPath: (path as NSString).deletingLastPathComponent,
                                                withIntermediateDirectories: true)
        try? FileManager.default.removeItem(atPath: path)
        try FileManager.default.createSymbolicLink(
            atPath: path, withDestinationPath: String(repeating: "../", count: depth + 2) + "blobs/\(blob)")
    }

    /// A repository path that stays inside the snapshot: no absolute path, no `..`, no empty or hidden segment.
    static func isSafeName(_ name: String) -> Bool {
        !name.isEmpty && !name.hasPrefix("/") && name.count < 512
            && name.split(separator: "/", omittingEmptySubsequences: false).allSatisfy { !$0.isEmpty && $0 != ".." && $0 != "." }
    }

    static func isHex(_ text: String, count: Int) -> Bool {
        text.count == count && text.allSatisfy { $0.isHexDigit }
    }
}

/// Incremental SHA-256 through libcrypto; the context is freed by `finish` or, if never finished, on deinit.
final class SHA256Stream {
    private var context: OpaquePointer?

    init() throws {
        guard let context = mh_sha256_create() else { throw HubPull.Failure("out of memory for a SHA-256 context") }
        self.context = context
    }

    func update(_ bytes: UnsafeRawBufferPointer) {
        if let context, let base = bytes.baseAddress { mh_sha256_update(context, base, bytes.count) }
    }

    /// The digest in lowercase hex.
    func finish() -> String {
        var digest = [UInt8](repeating: 0, count: 32)
        if let context { mh_sha256_finish(context, &digest) }
        context = nil
        return digest.map { String(format: "%02x", $0) }.joined()
    }

    deinit { if context != nil { _ = finish() } }
}
