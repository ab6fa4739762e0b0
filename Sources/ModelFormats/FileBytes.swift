#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#elseif canImport(Darwin)
import Darwin
#endif

/// Reads a whole small file (a JSON config beside a model, `/proc` entries) with plain `read(2)` calls.
///
/// Why not `FileManager.contents(atPath:)`: in the Foundation shipped with Swift 6.3 on Linux it leaks its read
/// buffer, about 4 KiB a call, for every file whose size reads as zero (an empty file, anything in `/proc`). The
/// model-folder fuzz target found it through the catalog, which reads `config.json` and `generation_config.json` on
/// every request that names a folder model.
public enum FileBytes {
    /// The file's bytes; nil when it cannot be opened or read, is not a regular file, or is larger than `maxBytes`.
    public static func read(_ path: String, maxBytes: Int = 64 << 20) -> [UInt8]? {
        let fd = open(path, O_RDONLY | O_CLOEXEC)
        guard fd >= 0 else { return nil }
        defer { close(fd) }
        var info = stat()
        guard fstat(fd, &info) == 0, (info.st_mode & S_IFMT) == S_IFREG, Int(info.st_size) <= maxBytes else { return nil }
        var bytes: [UInt8] = []
        bytes.reserveCapacity(Int(info.st_size) + 1)
        var chunk = [UInt8](repeating: 0, count: 64 << 10)
        while true {
            let count = chunk.withUnsafeMutableBytes { Glibc.read(fd, $0.baseAddress, $0.count) }
            if count < 0 {
                if errno == EINTR { continue }
                return nil
            }
            if count == 0 { return bytes }
            guard bytes.count + count <= maxBytes else { return nil }
            bytes.append(contentsOf: chunk[0..<count])
        }
    }
}
