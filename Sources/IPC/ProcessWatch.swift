import CSupport
import Glibc

/// Answers "is that process still running?" for one specific process, immune to pid reuse: it holds a pidfd opened
/// while the process was known to be the right one. A zombie counts as dead, which `kill(pid, 0)` would get wrong for
/// an unreaped child. On kernels without pidfd (before 5.3) it falls back to `kill(pid, 0)` plus the state letter in
/// /proc/<pid>/stat.
public final class ProcessWatch: @unchecked Sendable {
    public let pid: pid_t
    /// The pidfd, or -1 when the kernel has none or the process was already gone at creation.
    public let descriptor: Int32
    private let goneAtCreation: Bool

    public init(pid: pid_t) {
        self.pid = pid
        let fd = pid > 0 ? mh_pidfd_open(pid) : -1
        let code = errno
        descriptor = fd
        goneAtCreation = pid <= 0 || (fd < 0 && code == ESRCH)
    }

    deinit { if descriptor >= 0 { close(descriptor) } }

    /// True until the process exits (zombies count as exited).
    public var isAlive: Bool { !waitForExit(timeoutMilliseconds: 0) }

    /// Waits up to `timeoutMilliseconds` for the process to exit and says whether it has. With a pidfd this sleeps in
    /// poll(2); without one it checks every 10 ms.
    public func waitForExit(timeoutMilliseconds: Int32) -> Bool {
        if goneAtCreation { return true }
        if descriptor >= 0 {
            return mh_pidfd_wait_exit(descriptor, timeoutMilliseconds) != 0
        }
        var remaining = timeoutMilliseconds
        while true {
            if !Self.legacyIsAlive(pid) { return true }
            if remaining <= 0 { return false }
            usleep(10_000)
            remaining -= 10
        }
    }

    private static func legacyIsAlive(_ pid: pid_t) -> Bool {
        if kill(pid, 0) != 0 && errno == ESRCH { return false }
        guard let stat = try? String(contentsOfProcFile: "/proc/\(pid)/stat"),
              let close = stat.lastIndex(of: ")") else { return true }
        let state = stat[stat.index(after: close)...].drop(while: { $0 == " " }).first
        return state != "Z" && state != "X"
    }
}

extension String {
    /// Reads a small /proc file (whose stat size is 0, so it must be read until EOF).
    init(contentsOfProcFile path: String) throws(IPCError) {
        let fd = open(path, O_RDONLY | O_CLOEXEC)
        guard fd >= 0 else { throw .lastSystemError("open(\(path))") }
        defer { close(fd) }
        var bytes: [UInt8] = []
        var chunk = [UInt8](repeating: 0, count: 4096)
        while true {
            let n = chunk.withUnsafeMutableBytes { read(fd, $0.baseAddress, $0.count) }
            if n < 0 {
                if errno == EINTR { continue }
                throw .lastSystemError("read(\(path))")
            }
            if n == 0 { break }
            bytes.append(contentsOf: chunk[0..<n])
        }
        self = String(decoding: bytes, as: UTF8.self)
    }
}

/// How a channel learns that its peer is gone while it waits.
public enum PeerLiveness: Sendable {
    /// Watch this process (the worker's pid on the orchestrator's side, the orchestrator's on the worker's side).
    case process(ProcessWatch)
    /// Ask the caller; must be cheap, it runs every 100 ms of waiting.
    case check(@Sendable () -> Bool)
    /// Never report the peer dead (tests of a single process only).
    case unchecked

    /// Watches `pid`.
    public static func pid(_ pid: pid_t) -> PeerLiveness { .process(ProcessWatch(pid: pid)) }

    var isAlive: Bool {
        switch self {
        case .process(let watch): return watch.isAlive
        case .check(let closure): return closure()
        case .unchecked: return true
        }
    }

    var pid: Int32 {
        if case .process(let watch) = self { return watch.pid }
        return 0
    }
}
