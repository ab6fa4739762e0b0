import Glibc

/// A child process started with posix_spawn (no fork of a multi-threaded Swift process), with the descriptors it
/// should inherit mapped explicitly; everything else is close-on-exec on our side. Used by the transport benchmark
/// and the IPC tests to start real peer processes.
public final class SpawnedProcess: @unchecked Sendable {
    /// How a child ended.
    public enum Termination: Equatable, Sendable, CustomStringConvertible {
        case exited(Int32)
        case signaled(Int32)
        /// Someone else in this process reaped the child (waitpid said ECHILD), so its status is unknown.
        case reapedElsewhere

        public var description: String {
            switch self {
            case .exited(let code): return "exit status \(code)"
            case .signaled(let signal): return "signal \(signal)"
            case .reapedElsewhere: return "reaped elsewhere"
            }
        }
    }

    public let pid: pid_t
    private var termination: Termination?

    /// Starts `executable` (an absolute path) with `arguments` (argv[1...]). `inheriting` maps parent descriptors to
    /// descriptor numbers in the child; `environment` replaces the parent's when given.
    public static func spawn(
        executable: String, arguments: [String], environment: [String: String]? = nil,
        inheriting descriptors: [(parent: Int32, child: Int32)] = [], newProcessGroup: Bool = false
    ) throws(IPCError) -> SpawnedProcess {
        var actions = posix_spawn_file_actions_t()
        posix_spawn_file_actions_init(&actions)
        defer { posix_spawn_file_actions_destroy(&actions) }
        for mapping in descriptors {
            posix_spawn_file_actions_adddup2(&actions, mapping.parent, mapping.child)
        }
        var attributes = posix_spawnattr_t()
        posix_spawnattr_init(&attributes)
        defer { posix_spawnattr_destroy(&attributes) }
        if newProcessGroup {
            posix_spawnattr_setflags(&attributes, Int16(POSIX_SPAWN_SETPGROUP))
            posix_spawnattr_setpgroup(&attributes, 0)
        }
        let argv = ([executable] + arguments).map { strdup($0) } + [nil]
        defer { argv.forEach { free($0) } }
        var pid: pid_t = 0
        let code: Int32
        if let environment {
            let envp = environment.map { strdup("\($0.key)=\($0.value)") } + [nil]
            defer { envp.forEach { free($0) } }
            code = posix_spawn(&pid, executable, &actions, &attributes, argv, envp)
        } else {
            code = posix_spawn(&pid, executable, &actions, &attributes, argv, environ)
        }
        guard code == 0 else { throw .system(call: "posix_spawn(\(executable))", errno: code) }
        return SpawnedProcess(pid: pid)
    }

    private init(pid: pid_t) { self.pid = pid }

    /// Sends `signal` unless the child has already been reaped (then the pid may belong to someone else).
    public func signal(_ signal: Int32) {
        guard termination == nil else { return }
        kill(pid, signal)
    }

    /// Blocks until the child exits and reaps it; idempotent.
    @discardableResult
    public func wait() -> Termination {
        if let termination { return termination }
        var status: Int32 = 0
        var result = Termination.reapedElsewhere
        while true {
            if waitpid(pid, &status, 0) == pid {
                result = Self.decode(status)
                break
            }
            if errno != EINTR { break }
        }
        termination = result
        return result
    }

    /// Reaps the child if it has exited, without blocking.
    public func poll() -> Termination? {
        if let termination { return termination }
        var status: Int32 = 0
        let waited = waitpid(pid, &status, WNOHANG)
        if waited < 0 && errno == ECHILD {
            termination = .reapedElsewhere
            return .reapedElsewhere
        }
        guard waited == pid else { return nil }
        let result = Self.decode(status)
        termination = result
        return result
    }

    private static func decode(_ status: Int32) -> Termination {
        status & 0x7F == 0 ? .exited((status >> 8) & 0xFF) : .signaled(status & 0x7F)
    }
}
