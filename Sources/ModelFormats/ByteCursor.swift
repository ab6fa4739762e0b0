#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#elseif canImport(Darwin)
import Darwin
#endif

/// A bounds-checked little-endian reader over a byte buffer. Every read checks the remaining length first, so a
/// malformed count can only ever produce a thrown error, never an out-of-bounds access.
struct ByteCursor {
    let bytes: UnsafeRawBufferPointer
    private(set) var position: Int

    init(bytes: UnsafeRawBufferPointer, position: Int = 0) {
        self.bytes = bytes
        self.position = position
    }

    var remaining: Int { bytes.count - position }

    /// Throws unless `count` more bytes are available; `what` names the item for the message.
    func require(_ count: Int, _ what: @autoclosure () -> String) throws {
        guard count >= 0, count <= remaining else {
            throw ModelFormatError(
                "GGUF: \(what()) at byte \(position) needs \(count) bytes but only \(max(remaining, 0)) remain "
                    + "(file size \(bytes.count)); the file is truncated or corrupt")
        }
    }

    mutating func read<T: FixedWidthInteger>(_: T.Type, _ what: @autoclosure () -> String) throws -> T {
        try require(MemoryLayout<T>.size, what())
        let value = bytes.loadUnaligned(fromByteOffset: position, as: T.self)
        position += MemoryLayout<T>.size
        return T(littleEndian: value)
    }

    mutating func readFloat(_ what: @autoclosure () -> String) throws -> Float {
        Float(bitPattern: try read(UInt32.self, what()))
    }

    mutating func readDouble(_ what: @autoclosure () -> String) throws -> Double {
        Double(bitPattern: try read(UInt64.self, what()))
    }

    /// A GGUF string: a `uint64` byte length followed by that many UTF-8 bytes (no terminator).
    mutating func readString(_ what: @autoclosure () -> String) throws -> String {
        let start = position
        let length = try read(UInt64.self, "length of \(what())")
        guard length <= UInt64(remaining) else {
            throw ModelFormatError(
                "GGUF: \(what()) at byte \(start) claims \(length) bytes but only \(remaining) remain; "
                    + "the file is truncated or corrupt")
        }
        let count = Int(length)
        let slice = UnsafeRawBufferPointer(rebasing: bytes[position..<(position + count)])
        guard let string = ByteCursor.decodeUTF8(slice) else {
            throw ModelFormatError("GGUF: \(what()) at byte \(start) is not valid UTF-8; the file is corrupt")
        }
        position += count
        return string
    }

    mutating func skip(to newPosition: Int, _ what: @autoclosure () -> String) throws {
        try require(newPosition - position, what())
        position = newPosition
    }

    /// Strict UTF-8 decoding: nil for any ill-formed sequence (no silent U+FFFD repair).
    ///
    /// `String(decoding:)` uses the standard library's fast validator but repairs bad input; repaired output is
    /// valid UTF-8 and so can never equal ill-formed input, which makes a byte comparison an exact validity test.
    static func decodeUTF8(_ slice: UnsafeRawBufferPointer) -> String? {
        var string = String(decoding: slice, as: UTF8.self)
        let identical = string.withUTF8 { decoded in
            decoded.count == slice.count
                && (slice.isEmpty || memcmp(decoded.baseAddress!, slice.baseAddress!, slice.count) == 0)
        }
        return identical ? string : nil
    }
}
