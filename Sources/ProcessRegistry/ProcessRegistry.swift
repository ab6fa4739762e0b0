import CSupport
import Foundation

/// One worker as the registry records it: enough to find and kill it after the orchestrator crashed, and to remove
/// every IPC name it used even if it is already gone.
public struct WorkerRecord: Codable, Equatable, Sendable {
    public var identity: ProcessIdentity
    public var modelID: String
    /// POSIX shared-memory names (leading slash), e.g. "/mh-<root>-<worker>".
    public var sharedMemoryNames: [String]
    /// Named POSIX semaphores, if any (the IPC module keeps its semaphores inside the segment and records none).
    public var semaphoreNames: [String]

    public init(identity: ProcessIdentity, modelID: String, sharedMemoryNames: [String], semaphoreNames: [String] = []) {
        self.identity = identity
        self.modelID = modelID
        self.sharedMemoryNames = sharedMemoryNames
        self.semaphoreNames = semaphoreNames
    }
}

/// What `reapOrphans` did, for the start-up log.
public struct ReapReport: Equatable, Sendable, CustomStringConvertible {
    /// Recorded workers that still ran (pid, start time and marker matched) and were killed.
    public var killed: [Int32] = []
    /// Recorded pids left alone, each with the reason (gone, reused, unreadable).
    public var spared: [(pid: Int32, reason: String)] = []
    /// IPC names that existed and were unlinked.
    public var unlinkedNames: [String] = []
    /// Problems that did not stop the reaping (a name that could not be unlinked, a process that would not die).
    public var problems: [String] = []

    public var description: String {
        var lines = ["reaped \(killed.count) orphaned worker(s)\(killed.isEmpty ? "" : ": \(killed)"), "
            + "unlinked \(unlinkedNames.count) IPC name(s)"]
        lines += spared.map { "left process \($0.pid) alone: \($0.reason)" }
        lines += problems.map { "problem: \($0)" }
        return lines.joined(separator: "\n")
    }

    public static func == (lhs: ReapReport, rhs: ReapReport) -> Bool {
        lhs.killed == rhs.killed && lhs.unlinkedNames == rhs.unlinkedNames && lhs.problems == rhs.problems
            && lhs.spared.map(\.pid) == rhs.spared.map(\.pid) && lhs.spared.map(\.reason) == rhs.spared.map(\.reason)
    }
}

/// The orchestrator's crash-safe record of its workers: a small JSON file under the state directory, rewritten
/// atomically on every change, guarded by the single-instance lock for as long as this object lives.
///
/// Start-up order: `open` (takes the lock) → `reapOrphans()` (cleans what a dead predecessor left) → `addRoot` with
/// this run's IPC name root → for each worker, create its segment, spawn it, `register` it; `unregister` when it is
/// gone and its names are unlinked.
public final class ProcessRegistry: @unchecked Sendable {
    static let fileName = "workers.json"
    static let lockName = "orchestrator.lock"
    static let formatVersion = 1

    struct Document: Codable {
        var version: Int
        var ownerPID: Int32
        /// IPC name roots of the runs that used this state directory, so a crash between creating a segment and
        /// registering its worker still leaves a name the sweep can find.
        var roots: [String]
        var workers: [WorkerRecord]
    }

    public let stateDirectory: String
    public var path: String { "\(stateDirectory)/\(Self.fileName)" }
    private let lock: InstanceLock
    private let mutex = NSLock()
    /// Set by `close()`: later updates are refused, so no write can be half done when the process exits.
    private var closed = false
    private var document: Document
    /// Set when the file existed but could not be decoded: where it was moved aside to, and why.
    public private(set) var quarantined: (path: String, reason: String)?
    /// Where shared-memory names live as files (for the root sweep); tests may point elsewhere.
    let sharedMemoryDirectory: String

    /// `mkdir -p` with mode 0700: a fresh machine has no `~/.local/state`, so every missing parent is created too
    /// (each private to the user, as XDG asks of state directories).
    static func makeDirectories(_ path: String) throws(RegistryError) {
        var prefix = path.hasPrefix("/") ? "" : "."
        for component in path.split(separator: "/", omittingEmptySubsequences: true) {
            prefix += "/" + component
            if mkdir(prefix, 0o700) != 0 && errno != EEXIST {
                throw .lastSystemError("mkdir", prefix)
            }
        }
        var info = stat()
        guard stat(path, &info) == 0 else { throw .lastSystemError("stat", path) }
        guard (info.st_mode & S_IFMT) == S_IFDIR else {
            errno = ENOTDIR
            throw .lastSystemError("mkdir", path)
        }
    }

    /// Creates the state directory and its missing parents if needed (mode 0700), takes the single-instance lock and loads the registry.
    /// A registry file that cannot be decoded is moved aside (`quarantined`) rather than blocking start-up.
    public init(stateDirectory: String, sharedMemoryDirectory: String = "/dev/shm") throws(RegistryError) {
        self.stateDirectory = stateDirectory
        self.sharedMemoryDirectory = sharedMemoryDirectory
        try Self.makeDirectories(stateDirectory)
        lock = try InstanceLock(path: "\(stateDirectory)/\(Self.lockName)")
        // Holding the lock, no other writer exists: a temporary file left by a process that died mid-write is junk.
        Self.removeTemporaryFiles(in: stateDirectory)
        document = Document(version: Self.formatVersion, ownerPID: getpid(), roots: [], workers: [])
        let path = "\(stateDirectory)/\(Self.fileName)"
        if let bytes = try AtomicFile.read(path) {
            do {
                let stored = try JSONDecoder().decode(Document.self, from: Data(bytes))
                guard stored.version == Self.formatVersion else {
                    throw RegistryError.unreadable(path: path, reason: "format version \(stored.version)")
                }
                document.roots = stored.roots
                document.workers = stored.workers
            } catch {
                let aside = "\(path).corrupt-\(time(nil))"
                guard rename(path, aside) == 0 else { throw .lastSystemError("rename", path) }
                quarantined = (aside, "\(error)")
            }
        }
    }

    /// Waits for a write in progress, refuses later ones, and releases the lock; the object must not be used
    /// afterwards. Also happens on deinit. (A worker's exit handler can still try to unregister it while the
    /// orchestrator exits; before this, such a write could be cut off by the exit and leave its temporary file.)
    public func close() {
        mutex.withLock { closed = true }
        lock.release()
    }

    /// The workers currently recorded.
    public var workers: [WorkerRecord] { mutex.withLock { document.workers } }
    /// The IPC roots currently recorded.
    public var roots: [String] { mutex.withLock { document.roots } }

    /// Records this run's IPC name root before any segment with that root exists.
    public func addRoot(_ root: String) throws(RegistryError) {
        guard !root.isEmpty, root.utf8.allSatisfy({ ($0 >= 0x30 && $0 <= 0x39) || ($0 >= 0x61 && $0 <= 0x7A) }) else {
            throw .invalidArgument("IPC root must be [a-z0-9]+, got \"\(root)\"")
        }
        try update { if !$0.roots.contains(root) { $0.roots.append(root) } }
    }

    /// Records a spawned worker (replacing any record with the same pid).
    public func register(_ record: WorkerRecord) throws(RegistryError) {
        for name in record.sharedMemoryNames + record.semaphoreNames { try Self.validateIPCName(name) }
        try update {
            $0.workers.removeAll { $0.identity.pid == record.identity.pid }
            $0.workers.append(record)
        }
    }

    /// Forgets a worker whose process was reaped and whose names were unlinked.
    public func unregister(pid: Int32) throws(RegistryError) {
        try update { $0.workers.removeAll { $0.identity.pid == pid } }
    }

    /// Cleans up after a predecessor that did not shut down: kills every recorded worker whose pid, start time and
    /// marker still match, leaves any other process alone, unlinks every recorded IPC name whether or not its
    /// process lived, sweeps `/dev/shm/mh-<root>-*` for every recorded root, then empties the registry.
    public func reapOrphans(killTimeoutMilliseconds: Int32 = 5000) throws(RegistryError) -> ReapReport {
        var report = ReapReport()
        let snapshot = mutex.withLock { document }
        for record in snapshot.workers {
            reap(record.identity, timeoutMilliseconds: killTimeoutMilliseconds, into: &report)
            for name in record.sharedMemoryNames { unlinkSharedMemory(name, into: &report) }
            for name in record.semaphoreNames {
                if sem_unlink(name) == 0 {
                    report.unlinkedNames.append(name)
                } else if errno != ENOENT {
                    report.problems.append("sem_unlink(\(name)): \(String(cString: strerror(errno)))")
                }
            }
        }
        for root in snapshot.roots {
            for name in sharedMemoryNames(withPrefix: "mh-\(root)-") { unlinkSharedMemory("/" + name, into: &report) }
        }
        try update {
            $0.workers.removeAll { record in snapshot.workers.contains(record) }
            $0.roots.removeAll { snapshot.roots.contains($0) }
        }
        return report
    }

    // MARK: Internals

    private func update(_ change: (inout Document) -> Void) throws(RegistryError) {
        mutex.lock()
        defer { mutex.unlock() }
        guard !closed else { throw .invalidArgument("the process registry in \(stateDirectory) is closed") }
        var next = document
        change(&next)
        next.ownerPID = getpid()
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.prettyPrinted, .sortedKeys]
        let data: Data
        do {
            data = try encoder.encode(next)
        } catch {
            throw .invalidArgument("cannot encode the registry: \(error)")
        }
        try AtomicFile.write([UInt8](data), to: path)
        document = next
    }

    /// Removes `.workers.json.tmp-*` files (`AtomicFile`'s temporaries) from the state directory.
    static func removeTemporaryFiles(in directory: String) {
        guard let handle = opendir(directory) else { return }
        defer { closedir(handle) }
        let prefix = ".\(fileName).tmp-"
        while let entry = readdir(handle) {
            let name = withUnsafeBytes(of: entry.pointee.d_name) { String(decoding: $0.prefix { $0 != 0 }, as: UTF8.self) }
            if name.hasPrefix(prefix) { unlink("\(directory)/\(name)") }
        }
    }

    /// Kills `identity` if it is still exactly that process. A pidfd pins the process between the identity check and
    /// the signal, so a pid reused in that window is never hit.
    private func reap(_ identity: ProcessIdentity, timeoutMilliseconds: Int32, into report: inout ReapReport) {
        let pid = identity.pid
        guard pid > 1 else {
            report.spared.append((pid, "invalid pid"))
            return
        }
        let pidfd = mh_pidfd_open(pid)
        if pidfd < 0 && errno == ESRCH {
            report.spared.append((pid, "process \(pid) is not running"))
            return
        }
        defer { if pidfd >= 0 { Glibc.close(pidfd) } }
        if let reason = identity.mismatch() {
            report.spared.append((pid, reason))
            return
        }
        let sent = pidfd >= 0 ? mh_pidfd_send_signal(pidfd, SIGKILL) : kill(pid, SIGKILL)
        guard sent == 0 else {
            report.problems.append("SIGKILL to \(pid) failed: \(String(cString: strerror(errno)))")
            return
        }
        if waitForExit(pid: pid, pidfd: pidfd, startTime: identity.startTime, timeoutMilliseconds: timeoutMilliseconds) {
            report.killed.append(pid)
        } else {
            report.problems.append("process \(pid) survived SIGKILL for \(timeoutMilliseconds) ms")
        }
    }

    /// Waits until the killed process has exited: reaps it if it is our child, otherwise waits on its pidfd (or,
    /// without pidfd support, until its /proc entry is gone or has become a zombie or another process).
    private func waitForExit(pid: Int32, pidfd: Int32, startTime: UInt64, timeoutMilliseconds: Int32) -> Bool {
        if pidfd >= 0 {
            let exited = mh_pidfd_wait_exit(pidfd, timeoutMilliseconds) == 1
            var status: Int32 = 0
            _ = waitpid(pid, &status, WNOHANG)  // reaps it if it is our child; ECHILD otherwise
            return exited
        }
        let deadline = mh_monotonic_ns() + UInt64(timeoutMilliseconds) * 1_000_000
        while true {
            var status: Int32 = 0
            let waited = waitpid(pid, &status, WNOHANG)
            if waited == pid { return true }
            if waited < 0 && errno == ECHILD {
                if Self.isGoneOrZombie(pid: pid, startTime: startTime) { return true }
            }
            if mh_monotonic_ns() >= deadline { return false }
            usleep(10_000)
        }
    }

    private static func isGoneOrZombie(pid: Int32, startTime: UInt64) -> Bool {
        guard let bytes = try? AtomicFile.read("/proc/\(pid)/stat"),
              let close = bytes.lastIndex(of: UInt8(ascii: ")")) else { return true }
        if ProcessIdentity.startTime(of: pid) != startTime { return true }
        let state = bytes[(close + 1)...].first { $0 != UInt8(ascii: " ") }
        return state == UInt8(ascii: "Z") || state == UInt8(ascii: "X")
    }

    private func unlinkSharedMemory(_ name: String, into report: inout ReapReport) {
        if shm_unlink(name) == 0 {
            report.unlinkedNames.append(name)
        } else if errno != ENOENT {
            report.problems.append("shm_unlink(\(name)): \(String(cString: strerror(errno)))")
        }
    }

    private func sharedMemoryNames(withPrefix prefix: String) -> [String] {
        guard let directory = opendir(sharedMemoryDirectory) else { return [] }
        defer { closedir(directory) }
        var names: [String] = []
        while let entry = readdir(directory) {
            let name = withUnsafeBytes(of: entry.pointee.d_name) { raw in
                String(decoding: raw.prefix(while: { $0 != 0 }), as: UTF8.self)
            }
            if name.hasPrefix(prefix) { names.append(name) }
        }
        return names.sorted()
    }

    private static func validateIPCName(_ name: String) throws(RegistryError) {
        let bytes = Array(name.utf8)
        guard bytes.count >= 2, bytes.count <= 255, bytes[0] == UInt8(ascii: "/"),
              !bytes.dropFirst().contains(UInt8(ascii: "/")) else {
            throw .invalidArgument("IPC name must be \"/\" followed by a name without \"/\", got \"\(name)\"")
        }
    }
}
