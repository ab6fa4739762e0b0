/// Little-endian binary encoding for the messages that cross a worker's rings.
///
/// Binary rather than JSON because a `tokens` event is the hottest frame in the system (one per sequence per decode
/// step): encoding it is a handful of stores, and decoding never allocates more than the payload describes. Every
/// read is bounds-checked, so a short or hostile payload is a thrown `WireError`, never an out-of-bounds read.
public struct WireWriter {
    public private(set) var bytes: [UInt8] = []

    public init(capacity: Int = 64) { bytes.reserveCapacity(capacity) }

    public mutating func u8(_ value: UInt8) { bytes.append(value) }

    public mutating func u32(_ value: UInt32) {
        withUnsafeBytes(of: value.littleEndian) { bytes.append(contentsOf: $0) }
    }

    public mutating func u64(_ value: UInt64) {
        withUnsafeBytes(of: value.littleEndian) { bytes.append(contentsOf: $0) }
    }

    public mutating func i32(_ value: Int32) { u32(UInt32(bitPattern: value)) }

    public mutating func f32(_ value: Float) { u32(value.bitPattern) }

    public mutating func bool(_ value: Bool) { u8(value ? 1 : 0) }

    /// A length-prefixed UTF-8 string.
    public mutating func string(_ value: String) {
        let utf8 = Array(value.utf8)
        u32(UInt32(utf8.count))
        bytes.append(contentsOf: utf8)
    }

    public mutating func strings(_ values: [String]) {
        u32(UInt32(values.count))
        for value in values { string(value) }
    }

    /// Length-prefixed raw bytes.
    public mutating func byteArray(_ values: [UInt8]) {
        u32(UInt32(values.count))
        bytes.append(contentsOf: values)
    }

    /// A length-prefixed array of token ids.
    public mutating func tokens(_ values: [Int32]) {
        u32(UInt32(values.count))
        for value in values { i32(value) }
    }
}

/// The reading side of `WireWriter`: a cursor over a received payload.
public struct WireReader {
    private let bytes: UnsafeRawBufferPointer
    private var offset = 0
    /// What is being decoded, for error messages ("generate request").
    private let context: String

    public init(_ bytes: UnsafeRawBufferPointer, context: String) {
        self.bytes = bytes
        self.context = context
    }

    public var remaining: Int { bytes.count - offset }

    private mutating func take(_ count: Int, _ field: String) throws(WireError) -> Int {
        guard count >= 0, count <= remaining else {
            throw WireError("\(context): payload ends inside \(field) (needs \(count) bytes, \(remaining) left)")
        }
        defer { offset += count }
        return offset
    }

    public mutating func u8(_ field: String) throws(WireError) -> UInt8 {
        bytes[try take(1, field)]
    }

    public mutating func u32(_ field: String) throws(WireError) -> UInt32 {
        UInt32(littleEndian: bytes.loadUnaligned(fromByteOffset: try take(4, field), as: UInt32.self))
    }

    public mutating func u64(_ field: String) throws(WireError) -> UInt64 {
        UInt64(littleEndian: bytes.loadUnaligned(fromByteOffset: try take(8, field), as: UInt64.self))
    }

    public mutating func i32(_ field: String) throws(WireError) -> Int32 { Int32(bitPattern: try u32(field)) }

    public mutating func f32(_ field: String) throws(WireError) -> Float { Float(bitPattern: try u32(field)) }

    public mutating func bool(_ field: String) throws(WireError) -> Bool {
        let value = try u8(field)
        guard value <= 1 else { throw WireError("\(context): \(field) must be 0 or 1, got \(value)") }
        return value == 1
    }

    public mutating func string(_ field: String) throws(WireError) -> String {
        let count = Int(try u32("\(field) length"))
        let start = try take(count, field)
        return String(decoding: UnsafeRawBufferPointer(rebasing: bytes[start..<start + count]), as: UTF8.self)
    }

    public mutating func strings(_ field: String) throws(WireError) -> [String] {
        let count = Int(try u32("\(field) count"))
        // Each string needs at least its 4-byte length, so a count beyond that is a lie told before allocating.
        guard count <= remaining / 4 else { throw WireError("\(context): \(field) claims \(count) strings") }
        var values: [String] = []
        values.reserveCapacity(count)
        for _ in 0..<count { values.append(try string(field)) }
        return values
    }

    public mutating func byteArray(_ field: String) throws(WireError) -> [UInt8] {
        let count = Int(try u32("\(field) length"))
        let start = try take(count, field)
        return Array(UnsafeRawBufferPointer(rebasing: bytes[start..<start + count]))
    }

    /// A count that prefixes `count` items of at least `minimumSize` bytes each, checked before anything is allocated.
    public mutating func count(_ field: String, minimumSize: Int) throws(WireError) -> Int {
        let count = Int(try u32("\(field) count"))
        guard count <= remaining / max(1, minimumSize) else { throw WireError("\(context): \(field) claims \(count) items") }
        return count
    }

    public mutating func tokens(_ field: String) throws(WireError) -> [Int32] {
        let count = Int(try u32("\(field) count"))
        let start = try take(count * 4, field)
        return (0..<count).map { i in
            Int32(littleEndian: bytes.loadUnaligned(fromByteOffset: start + i * 4, as: Int32.self))
        }
    }

    /// Fails when bytes are left over: a payload longer than its message means the two sides disagree on the format.
    public func finish() throws(WireError) {
        guard remaining == 0 else { throw WireError("\(context): \(remaining) unexpected trailing bytes") }
    }
}

/// A payload that is not a well-formed message of the type its frame claims.
public struct WireError: Error, Equatable, Sendable, CustomStringConvertible {
    public let message: String
    public init(_ message: String) { self.message = message }
    public var description: String { "malformed worker message: \(message)" }
}
