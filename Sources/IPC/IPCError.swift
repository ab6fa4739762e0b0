import Glibc

/// Every way a transport operation can fail. Each case carries what a log line needs to explain it; none of them is
/// "nothing to read yet": a receive whose deadline passes with an empty ring returns `nil` instead, so an idle peer is
/// never mistaken for a dead one (the original server exited idle workers that way).
public enum IPCError: Error, Equatable, Sendable, CustomStringConvertible {
    /// A send's deadline passed while the ring stayed too full to take the frame.
    case timedOut
    /// The peer process exited (or was killed) while this side waited on it.
    case peerDied(pid: Int32)
    /// The peer closed its side of the channel in an orderly way.
    case peerClosed
    /// The payload exceeds the channel's message-size limit.
    case frameTooLarge(size: Int, limit: Int)
    /// The ring holds bytes that cannot be a frame: a torn write, a foreign writer, or a bug. The channel is unusable.
    case corrupt(String)
    /// A segment's header does not describe the layout this build understands.
    case layoutMismatch(String)
    /// An argument is out of range (ring size, segment name, ...).
    case invalidArgument(String)
    /// A system call failed.
    case system(call: String, errno: Int32)

    public var description: String {
        switch self {
        case .timedOut: return "IPC deadline passed while the ring was full; the peer is not draining it"
        case .peerDied(let pid): return "IPC peer process \(pid) died"
        case .peerClosed: return "IPC peer closed the channel"
        case .frameTooLarge(let size, let limit):
            return "IPC frame of \(size) bytes exceeds the \(limit)-byte limit of this channel"
        case .corrupt(let why): return "IPC ring corrupt: \(why)"
        case .layoutMismatch(let why): return "IPC segment layout mismatch: \(why)"
        case .invalidArgument(let why): return "IPC invalid argument: \(why)"
        case .system(let call, let code): return "IPC \(call) failed: \(String(cString: strerror(code))) (errno \(code))"
        }
    }

    /// Captures `errno` right after a failed call.
    public static func lastSystemError(_ call: String) -> IPCError { .system(call: call, errno: errno) }
}
