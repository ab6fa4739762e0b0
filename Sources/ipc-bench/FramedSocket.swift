import Glibc
import IPC

/// The socket baseline's framing: a 16-byte header (type u32, length u32, request id u64) and the payload, read
/// through a buffer so that a small frame costs one `read` and a large one lands directly in the buffer.
final class FramedSocket {
    private let fd: Int32
    private let buffer: UnsafeMutableRawBufferPointer
    private var start = 0
    private var end = 0
    /// The payload of the frame returned by the last `read`, valid until the next call.
    private(set) var lastPayload = UnsafeRawBufferPointer(start: nil, count: 0)

    init(fd: Int32, maxPayload: Int) {
        self.fd = fd
        buffer = .allocate(byteCount: maxPayload + 16, alignment: 64)
    }

    deinit { buffer.deallocate() }

    func close() { Glibc.close(fd) }

    func write(type: UInt32, _ payload: [UInt8]) throws(IPCError) {
        var header = (type, UInt32(payload.count), UInt64(0))
        if payload.count <= 4096 {
            // One syscall for a small frame, as any sensible framing layer would do.
            var frame = [UInt8](repeating: 0, count: 16 + payload.count)
            frame.withUnsafeMutableBytes { out in
                withUnsafeBytes(of: &header) { out.copyMemory(from: $0) }
                if !payload.isEmpty {
                    payload.withUnsafeBytes { (out.baseAddress! + 16).copyMemory(from: $0.baseAddress!, byteCount: $0.count) }
                }
            }
            try check(frame.withUnsafeBytes { writeAll($0) })
        } else {
            try check(withUnsafeBytes(of: &header) { writeAll($0) })
            try check(payload.withUnsafeBytes { writeAll($0) })
        }
    }

    private func check(_ code: Int32) throws(IPCError) {
        if code != 0 { throw .system(call: "write(socket)", errno: code) }
    }

    /// Writes everything; returns 0 or the errno of the failed write.
    private func writeAll(_ bytes: UnsafeRawBufferPointer) -> Int32 {
        var offset = 0
        while offset < bytes.count {
            let n = Glibc.write(fd, bytes.baseAddress! + offset, bytes.count - offset)
            if n < 0 {
                if errno == EINTR { continue }
                return errno
            }
            offset += n
        }
        return 0
    }

    /// Reads the next frame; returns its type and payload length (payload in `lastPayload`).
    func read() throws(IPCError) -> (UInt32, Int) {
        try fill(16)
        let base = UnsafeRawPointer(buffer.baseAddress! + start)
        let type = base.loadUnaligned(as: UInt32.self)
        let length = Int(base.loadUnaligned(fromByteOffset: 4, as: UInt32.self))
        guard length + 16 <= buffer.count else { throw .frameTooLarge(size: length, limit: buffer.count - 16) }
        try fill(16 + length)
        lastPayload = UnsafeRawBufferPointer(start: buffer.baseAddress! + start + 16, count: length)
        start += 16 + length
        return (type, length)
    }

    /// Ensures `count` unread bytes are buffered, moving a partial frame to the front first when it would not fit.
    private func fill(_ count: Int) throws(IPCError) {
        if end - start >= count { return }
        if start + count > buffer.count || start == end {
            let pending = end - start
            if pending > 0 { buffer.baseAddress!.copyMemory(from: buffer.baseAddress! + start, byteCount: pending) }
            start = 0
            end = pending
        }
        while end - start < count {
            let n = Glibc.read(fd, buffer.baseAddress! + end, buffer.count - end)
            if n < 0 {
                if errno == EINTR { continue }
                throw .lastSystemError("read(socket)")
            }
            if n == 0 { throw .peerClosed }
            end += n
        }
    }
}
