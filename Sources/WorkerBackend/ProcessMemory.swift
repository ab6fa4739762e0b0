import Foundation

/// Memory figures of worker processes, from /proc.
enum ProcessMemory {
    /// Resident set size of `pid` (VmRSS), or nil when the process is gone.
    static func residentBytes(pid: Int32) -> UInt64? {
        guard let status = try? String(contentsOfFile: "/proc/\(pid)/status", encoding: .utf8) else { return nil }
        for line in status.split(separator: "\n") where line.hasPrefix("VmRSS:") {
            let fields = line.split(separator: " ", omittingEmptySubsequences: true)
            if fields.count >= 2, let kib = UInt64(fields[1]) { return kib * 1024 }
        }
        return nil
    }

    /// What a worker serving the model at `path` is expected to occupy: the weights (a file, or every file of a
    /// model directory) plus 30% for the KV cache and working buffers.
    static func estimatedWorkerBytes(modelPath: String) -> UInt64 {
        let manager = FileManager.default
        var isDirectory: ObjCBool = false
        guard manager.fileExists(atPath: modelPath, isDirectory: &isDirectory) else { return 0 }
        var total: UInt64 = 0
        if isDirectory.boolValue {
            for name in (try? manager.contentsOfDirectory(atPath: modelPath)) ?? [] {
                let size = (try? manager.attributesOfItem(atPath: modelPath + "/" + name)[.size] as? NSNumber)??.uint64Value
                total += size ?? 0
            }
        } else {
            total = ((try? manager.attributesOfItem(atPath: modelPath)[.size]) as? NSNumber)?.uint64Value ?? 0
        }
        return total + total * 3 / 10
    }
}
