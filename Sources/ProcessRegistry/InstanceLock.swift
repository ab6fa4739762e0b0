import Glibc

/// The single-instance lock of an orchestrator: an exclusive `flock` on a lock file in the state directory, held for
/// the orchestrator's lifetime and released by the kernel when it exits, however it exits. The holder writes its pid
/// into the file so a second instance can say who is in the way. The descriptor is close-on-exec, so a worker never
/// inherits the lock (an orphaned worker would otherwise block every later start). The file is never unlinked:
/// a waiter could otherwise lock a deleted inode while a newcomer locks a fresh one.
public final class InstanceLock: @unchecked Sendable {
    public let path: String
    private var fd: Int32

    /// Takes the lock or throws `.alreadyRunning` naming the holder's pid.
    public init(path: String) throws(RegistryError) {
        self.path = path
        let fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0o600)
        guard fd >= 0 else { throw .lastSystemError("open", path) }
        while flock(fd, LOCK_EX | LOCK_NB) != 0 {
            if errno == EINTR { continue }
            let code = errno
            let holder = Self.readHolder(fd)
            close(fd)
            if code == EWOULDBLOCK { throw .alreadyRunning(pid: holder, lockFile: path) }
            throw .system(call: "flock", path: path, errno: code)
        }
        let text = Array("\(getpid())\n".utf8)
        guard ftruncate(fd, 0) == 0,
              text.withUnsafeBytes({ pwrite(fd, $0.baseAddress, $0.count, 0) }) == text.count else {
            let code = errno
            close(fd)
            throw .system(call: "write", path: path, errno: code)
        }
        self.fd = fd
    }

    deinit { release() }

    /// Releases the lock (idempotent).
    public func release() {
        guard fd >= 0 else { return }
        close(fd)
        fd = -1
    }

    private static func readHolder(_ fd: Int32) -> Int32? {
        var buffer = [UInt8](repeating: 0, count: 32)
        let n = buffer.withUnsafeMutableBytes { pread(fd, $0.baseAddress, $0.count, 0) }
        guard n > 0 else { return nil }
        let text = String(decoding: buffer[0..<n], as: UTF8.self).trimmingCharacters(in: [" ", "\n"])
        return Int32(text)
    }
}

extension String {
    fileprivate func trimmingCharacters(in set: Set<Character>) -> String {
        var slice = Substring(self)
        while let first = slice.first, set.contains(first) { slice.removeFirst() }
        while let last = slice.last, set.contains(last) { slice.removeLast() }
        return String(slice)
    }
}
