/// One application message: what the orchestrator and a worker exchange. The transport never interprets `type` or
/// the payload; it only guarantees that a frame arrives whole, in order, or not at all.
public struct Frame: Sendable, Equatable {
    /// Application-defined message kind (request, token batch, final, error, ...).
    public var type: UInt32
    /// Correlates every frame with the request it belongs to, so no response is ever matched by order alone.
    public var requestID: UInt64
    public var payload: [UInt8]

    public init(type: UInt32, requestID: UInt64, payload: [UInt8] = []) {
        self.type = type
        self.requestID = requestID
        self.payload = payload
    }
}

/// A received frame whose payload may point straight into the ring: valid only inside the `withNextFrame` closure.
public struct FrameView {
    public let type: UInt32
    public let requestID: UInt64
    public let payload: UnsafeRawBufferPointer
}

/// The 32-byte record header that precedes every chunk in a ring. Records start at 8-byte aligned positions.
///
/// ```
/// 0 type u32 | 4 flags u32 | 8 requestID u64 | 16 length u32 | 20 check u32 | 24 totalLength u64
/// ```
/// `length` is this chunk's payload, `totalLength` the whole message's, so the reader can reject an oversized message
/// before allocating for it. `check` catches a torn or foreign header before its length is trusted.
struct RecordHeader {
    static let size = 32
    /// More chunks of the same message follow.
    static let flagMore: UInt32 = 1
    /// The writer gave up on a chunked message midway (its deadline passed); the reader drops what it gathered.
    static let flagAbort: UInt32 = 2
    static let knownFlags: UInt32 = flagMore | flagAbort
    static let checkSeed: UInt32 = 0x4D48_4652

    var type: UInt32
    var flags: UInt32
    var requestID: UInt64
    var length: UInt32
    var totalLength: UInt64

    var check: UInt32 { Self.checkSeed ^ type ^ (flags &* 0x9E37_79B9) ^ length ^ UInt32(truncatingIfNeeded: totalLength) }

    /// Bytes the record occupies in the ring, padding included.
    var recordSize: Int { Self.recordSize(payload: Int(length)) }

    static func recordSize(payload: Int) -> Int { (size + payload + 7) & ~7 }

    func store(to p: UnsafeMutableRawPointer) {
        p.storeBytes(of: type, toByteOffset: 0, as: UInt32.self)
        p.storeBytes(of: flags, toByteOffset: 4, as: UInt32.self)
        p.storeBytes(of: requestID, toByteOffset: 8, as: UInt64.self)
        p.storeBytes(of: length, toByteOffset: 16, as: UInt32.self)
        p.storeBytes(of: check, toByteOffset: 20, as: UInt32.self)
        p.storeBytes(of: totalLength, toByteOffset: 24, as: UInt64.self)
    }

    /// Decodes and validates a header; a `.corrupt` failure when it cannot be one this build wrote.
    static func load(from p: UnsafeRawPointer) -> Result<RecordHeader, IPCError> {
        let header = RecordHeader(
            type: p.loadUnaligned(fromByteOffset: 0, as: UInt32.self),
            flags: p.loadUnaligned(fromByteOffset: 4, as: UInt32.self),
            requestID: p.loadUnaligned(fromByteOffset: 8, as: UInt64.self),
            length: p.loadUnaligned(fromByteOffset: 16, as: UInt32.self),
            totalLength: p.loadUnaligned(fromByteOffset: 24, as: UInt64.self))
        let stored = p.loadUnaligned(fromByteOffset: 20, as: UInt32.self)
        guard stored == header.check else {
            return .failure(.corrupt("record header check 0x\(String(stored, radix: 16)) does not match its fields"))
        }
        guard header.flags & ~knownFlags == 0 else {
            return .failure(.corrupt("record header has unknown flags 0x\(String(header.flags, radix: 16))"))
        }
        return .success(header)
    }
}
