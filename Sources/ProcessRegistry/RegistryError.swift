import Glibc

/// Why the registry could not do its job. Each message names the file or process involved so an operator can act.
public enum RegistryError: Error, Equatable, Sendable, CustomStringConvertible {
    /// Another orchestrator holds the single-instance lock.
    case alreadyRunning(pid: Int32?, lockFile: String)
    /// The registry file exists but is not a registry this build can read.
    case unreadable(path: String, reason: String)
    /// A record or argument is invalid.
    case invalidArgument(String)
    /// A system call failed.
    case system(call: String, path: String, errno: Int32)

    public var description: String {
        switch self {
        case .alreadyRunning(let pid, let lockFile):
            let holder = pid.map { "process \($0)" } ?? "another process"
            return "another ModelHost orchestrator (\(holder)) is running with this state directory; it holds the "
                + "lock \(lockFile). Stop it or use another state directory."
        case .unreadable(let path, let reason): return "process registry \(path) is unreadable: \(reason)"
        case .invalidArgument(let why): return "process registry: \(why)"
        case .system(let call, let path, let code):
            return "process registry: \(call)(\(path)) failed: \(String(cString: strerror(code))) (errno \(code))"
        }
    }

    static func lastSystemError(_ call: String, _ path: String) -> RegistryError {
        .system(call: call, path: path, errno: errno)
    }
}
