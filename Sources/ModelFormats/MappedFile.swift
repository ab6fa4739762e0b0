#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#elseif canImport(Darwin)
import Darwin
#endif

/// A read-only memory map of a whole file; unmapped in `deinit`.
///
/// Weights are mapped rather than read so that loading a model costs page-table set-up, not a copy, and so that
/// several workers mapping the same file share one page-cache copy. The map is `MAP_PRIVATE` + `PROT_READ`: nothing
/// is ever written back. If another process truncates the file while it is mapped, reads past the new end raise
/// SIGBUS; model files are expected to be immutable while served.
public final class MappedFile: @unchecked Sendable {
    public let path: String
    private let base: UnsafeRawPointer?
    private let length: Int

    /// Opens `path` read-only and maps all of it. An empty file maps to an empty buffer.
    public init(path: String) throws {
        self.path = path
        let fd = open(path, O_RDONLY | O_CLOEXEC)
        guard fd >= 0 else {
            throw ModelFormatError("cannot open '\(path)': \(MappedFile.errnoText())")
        }
        defer { close(fd) }
        var info = stat()
        guard fstat(fd, &info) == 0 else {
            throw ModelFormatError("cannot stat '\(path)': \(MappedFile.errnoText())")
        }
        guard (info.st_mode & S_IFMT) == S_IFREG else {
            throw ModelFormatError("'\(path)' is not a regular file")
        }
        let size = Int(info.st_size)
        guard size > 0 else {
            self.base = nil
            self.length = 0
            return
        }
        let address = mmap(nil, size, PROT_READ, MAP_PRIVATE, fd, 0)
        guard let address, address != MAP_FAILED else {
            throw ModelFormatError("cannot map '\(path)' (\(size) bytes): \(MappedFile.errnoText())")
        }
        // Tensor data is read front to back on first use; ask the kernel to start read-ahead now. A failed hint is
        // harmless, so its result is ignored.
        _ = madvise(address, size, MADV_WILLNEED)
        self.base = UnsafeRawPointer(address)
        self.length = size
    }

    /// A read-only anonymous mapping holding a copy of `bytes`: lets in-memory data (tests, downloaded headers)
    /// go through the same parser as files. `path` only names it in messages.
    public init(copying bytes: [UInt8], path: String = "<memory>") throws {
        self.path = path
        guard !bytes.isEmpty else {
            self.base = nil
            self.length = 0
            return
        }
        let address = mmap(nil, bytes.count, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0)
        guard let address, address != MAP_FAILED else {
            throw ModelFormatError("cannot allocate \(bytes.count) bytes for '\(path)': \(MappedFile.errnoText())")
        }
        bytes.withUnsafeBytes { address.copyMemory(from: $0.baseAddress!, byteCount: bytes.count) }
        _ = mprotect(address, bytes.count, PROT_READ)
        self.base = UnsafeRawPointer(address)
        self.length = bytes.count
    }

    deinit {
        if let base {
            munmap(UnsafeMutableRawPointer(mutating: base), length)
        }
    }

    /// The whole file. Valid only while this object is alive: keep a reference (or use `withExtendedLifetime`)
    /// for as long as the pointer is used, since `deinit` unmaps it.
    public var bytes: UnsafeRawBufferPointer {
        UnsafeRawBufferPointer(start: base, count: length)
    }

    private static func errnoText() -> String {
        String(cString: strerror(errno))
    }
}
