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
}
