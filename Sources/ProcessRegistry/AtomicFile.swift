import Glibc

/// Replaces a file so that every reader sees either the old or the new content, and a crash at any point leaves one
/// of the two on disk: write a temporary file in the same directory, fsync it, rename it over the target, then fsync
/// the directory so the rename itself is durable.
public enum AtomicFile {
    public static func write(_ bytes: [UInt8], to path: String) throws(RegistryError) {
        let directory = parentDirectory(of: path)
        var generator = SystemRandomNumberGenerator()
        let temporary = "\(directory)/.\(baseName(of: path)).tmp-\(getpid())-\(String(generator.next() as UInt32, radix: 16))"
        let fd = open(temporary, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0o600)
        guard fd >= 0 else { throw .lastSystemError("open", temporary) }
        var renamed = false
        defer { if !renamed { unlink(temporary) } }
        do {
            defer { close(fd) }
            var offset = 0
            while offset < bytes.count {
                let n = bytes.withUnsafeBytes { Glibc.write(fd, $0.baseAddress! + offset, $0.count - offset) }
                if n < 0 {
                    if errno == EINTR { continue }
                    throw RegistryError.lastSystemError("write", temporary)
                }
                offset += n
            }
            guard fsync(fd) == 0 else { throw RegistryError.lastSystemError("fsync", temporary) }
        }
        guard rename(temporary, path) == 0 else { throw .lastSystemError("rename", path) }
        renamed = true
        try syncDirectory(directory)
    }

    /// Reads a whole file, or returns nil when it does not exist.
    public static func read(_ path: String) throws(RegistryError) -> [UInt8]? {
        let fd = open(path, O_RDONLY | O_CLOEXEC)
        if fd < 0 {
            if errno == ENOENT { return nil }
            throw .lastSystemError("open", path)
        }
        defer { close(fd) }
        var bytes: [UInt8] = []
        var chunk = [UInt8](repeating: 0, count: 16 << 10)
        while true {
            let n = chunk.withUnsafeMutableBytes { Glibc.read(fd, $0.baseAddress, $0.count) }
            if n < 0 {
                if errno == EINTR { continue }
                throw .lastSystemError("read", path)
            }
            if n == 0 { return bytes }
            bytes.append(contentsOf: chunk[0..<n])
        }
    }

    static func syncDirectory(_ directory: String) throws(RegistryError) {
        let fd = open(directory, O_RDONLY | O_DIRECTORY | O_CLOEXEC)
        guard fd >= 0 else { throw .lastSystemError("open", directory) }
        defer { close(fd) }
        guard fsync(fd) == 0 else { throw .lastSystemError("fsync", directory) }
    }

    static func parentDirectory(of path: String) -> String {
        guard let slash = path.lastIndex(of: "/") else { return "." }
        return slash == path.startIndex ? "/" : String(path[..<slash])
    }

    static func baseName(of path: String) -> String {
        guard let slash = path.lastIndex(of: "/") else { return path }
        return String(path[path.index(after: slash)...])
    }
}
