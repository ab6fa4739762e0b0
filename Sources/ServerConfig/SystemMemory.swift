import Foundation

/// Reads small system files. Injected so that tests can feed fake `/proc/meminfo` and cgroup files.
public protocol SystemFileReader: Sendable {
    /// The file's text, or nil when it does not exist or cannot be read.
    func contents(of path: String) -> String?
}

/// Reads the real files of this machine.
public struct LocalFileReader: SystemFileReader {
    public init() {}

    public func contents(of path: String) -> String? {
        guard let data = FileManager.default.contents(atPath: path) else { return nil }
        return String(decoding: data, as: UTF8.self)
    }
}

/// The memory this process may use: `MemTotal` from `/proc/meminfo`, lowered to the cgroup limit when one is set
/// (containers report the host's RAM in meminfo, which would pick a tier the container cannot afford).
public struct SystemMemory: Sendable, Equatable {
    /// Usable bytes.
    public let totalBytes: UInt64
    /// Where the figure came from: "meminfo", "cgroup v2 (PATH)", "cgroup v1 (PATH)" or "fallback".
    public let source: String

    /// What the original assumes when it cannot read the machine's memory.
    public static let fallbackGiB = 32

    public init(totalBytes: UInt64, source: String) {
        self.totalBytes = totalBytes
        self.source = source
    }

    /// Total RAM rounded to whole GiB, as the original rounds `hw.memsize / 2^30`.
    public var roundedGiB: Int {
        Int((Double(totalBytes) / 1_073_741_824).rounded())
    }

    /// Probes meminfo and the cgroup limits through `reader`.
    public static func probe(_ reader: some SystemFileReader) -> SystemMemory {
        let meminfo = reader.contents(of: "/proc/meminfo").flatMap(parseMemTotal)
        let limit = cgroupLimit(reader)
        switch (meminfo, limit) {
        case let (total?, (bytes, path)?) where bytes < total:
            return SystemMemory(totalBytes: bytes, source: path)
        case let (total?, _):
            return SystemMemory(totalBytes: total, source: "meminfo")
        case let (nil, (bytes, path)?):
            return SystemMemory(totalBytes: bytes, source: path)
        case (nil, nil):
            return SystemMemory(totalBytes: UInt64(fallbackGiB) << 30, source: "fallback")
        }
    }

    /// `MemTotal:  16384256 kB` → bytes.
    static func parseMemTotal(_ text: String) -> UInt64? {
        for line in text.split(separator: "\n") where line.hasPrefix("MemTotal:") {
            let fields = line.split(separator: " ", omittingEmptySubsequences: true)
            guard fields.count >= 2, let kib = UInt64(fields[1]) else { return nil }
            let unit = fields.count >= 3 ? fields[2].lowercased() : "kb"
            return unit == "kb" ? kib * 1024 : kib
        }
        return nil
    }

    /// The tightest cgroup memory limit that applies, with a label naming its file. "max" (v2) and the huge
    /// page-rounded sentinel v1 uses for "unlimited" mean no limit.
    static func cgroupLimit(_ reader: some SystemFileReader) -> (UInt64, String)? {
        var candidates: [(String, String)] = []
        if let membership = reader.contents(of: "/proc/self/cgroup") {
            for line in membership.split(separator: "\n") where line.hasPrefix("0::") {
                let path = String(line.dropFirst(3)).trimmingCharacters(in: .whitespaces)
                if path != "/" && !path.isEmpty {
                    candidates.append(("/sys/fs/cgroup\(path)/memory.max", "cgroup v2"))
                }
            }
        }
        candidates.append(("/sys/fs/cgroup/memory.max", "cgroup v2"))
        candidates.append(("/sys/fs/cgroup/memory/memory.limit_in_bytes", "cgroup v1"))
        var best: (UInt64, String)?
        for (path, kind) in candidates {
            guard let text = reader.contents(of: path)?.trimmingCharacters(in: .whitespacesAndNewlines),
                  text != "max", let bytes = UInt64(text), bytes > 0, bytes < (UInt64(1) << 62)
            else { continue }
            if best == nil || bytes < best!.0 {
                best = (bytes, "\(kind) (\(path))")
            }
        }
        return best
    }
}
