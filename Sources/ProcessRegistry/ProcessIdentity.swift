import CSupport
import Glibc

/// What identifies one worker process beyond its pid, which the kernel reuses: the start time the kernel recorded
/// (field 22 of /proc/<pid>/stat, clock ticks since boot) and a random marker the orchestrator put in the worker's
/// environment. A recorded worker is only ever killed when all three still match.
public struct ProcessIdentity: Codable, Equatable, Sendable {
    /// The environment variable through which a worker receives its marker.
    public static let markerEnvironmentKey = "MODELHOST_WORKER_MARKER"

    public var pid: Int32
    public var startTime: UInt64
    public var marker: String

    public init(pid: Int32, startTime: UInt64, marker: String) {
        self.pid = pid
        self.startTime = startTime
        self.marker = marker
    }

    /// Captures the identity of a just-spawned worker (whose environment carries `marker`).
    public static func capture(pid: Int32, marker: String) throws(RegistryError) -> ProcessIdentity {
        guard let start = startTime(of: pid) else {
            throw .invalidArgument("process \(pid) is not running; cannot record its start time")
        }
        return ProcessIdentity(pid: pid, startTime: start, marker: marker)
    }

    /// A fresh random marker: 32 hex characters.
    public static func newMarker() -> String {
        var generator = SystemRandomNumberGenerator()
        return (0..<2).map { _ in
            let hex = String(generator.next() as UInt64, radix: 16)
            return String(repeating: "0", count: 16 - hex.count) + hex
        }.joined()
    }

    /// Field 22 (starttime) of /proc/<pid>/stat, or nil when the process does not exist. The command name (field 2)
    /// may contain spaces and parentheses, so fields are counted from the last ')'.
    public static func startTime(of pid: Int32) -> UInt64? {
        guard pid > 0, let bytes = try? AtomicFile.read("/proc/\(pid)/stat"),
              let close = bytes.lastIndex(of: UInt8(ascii: ")")) else { return nil }
        let fields = bytes[(close + 1)...].split(separator: UInt8(ascii: " "))
        // fields[0] is field 3 (state), so field 22 is fields[19].
        guard fields.count > 19 else { return nil }
        return UInt64(String(decoding: fields[19], as: UTF8.self))
    }

    /// The value of `key` in /proc/<pid>/environ (the environment the process was started with), nil when absent.
    /// Throws when the file cannot be read (no such process, or not ours to inspect).
    public static func environmentValue(of pid: Int32, key: String) throws(RegistryError) -> String? {
        guard let bytes = try AtomicFile.read("/proc/\(pid)/environ") else { return nil }
        let prefix = Array((key + "=").utf8)
        for entry in bytes.split(separator: 0, omittingEmptySubsequences: true)
        where entry.starts(with: prefix) {
            return String(decoding: entry.dropFirst(prefix.count), as: UTF8.self)
        }
        return nil
    }

    /// Why the live process `pid` is not this identity, or nil when pid, start time and marker all match.
    public func mismatch() -> String? {
        guard let start = Self.startTime(of: pid) else { return "process \(pid) is not running" }
        guard start == startTime else {
            return "process \(pid) started at tick \(start), the record says \(startTime): the pid was reused"
        }
        let found: String?
        do {
            found = try Self.environmentValue(of: pid, key: Self.markerEnvironmentKey)
        } catch {
            return "cannot read the environment of process \(pid): \(error)"
        }
        guard found == marker else { return "process \(pid) does not carry the recorded marker" }
        return nil
    }
}
