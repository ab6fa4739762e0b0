import Foundation
import IPC
import WorkerProtocol

/// What crosses the process boundary: the worker messages' payload codecs and the ring reader that frames them.
/// The orchestrator reads what a worker (running third-party plugin code) wrote, so neither may trust it.
enum WireTargets {
    /// Bytes 0-3: the frame type (little-endian); the rest: the payload. Decoded as a request (the worker's side)
    /// and as an event (the orchestrator's side); what decodes must encode back to a message that decodes equal.
    static let messages = FuzzTarget(
        name: "messages", summary: "a message type (4 bytes LE) and payload, decoded as a worker request and event",
        maxLength: 4 << 10
    ) { input in
        guard input.count >= 4 else { return }
        let type = UInt32(input[0]) | UInt32(input[1]) << 8 | UInt32(input[2]) << 16 | UInt32(input[3]) << 24
        let payload = Array(input[4...])
        // Compared as bytes, not values: a NaN logprob never equals itself. Duplicate logit-bias tokens collapse on
        // the first decode, so the first re-encoding is the normal form.
        if let request = try? WorkerRequest.decode(type: type, payload: payload) {
            let first = request.encoded()
            guard let again = try? WorkerRequest.decode(type: first.type, payload: first.payload),
                  again.encoded() == first else {
                FuzzFailure.report("messages", "request type \(type) does not survive an encode/decode round trip")
            }
        }
        if let event = try? WorkerEvent.decode(type: type, payload: payload) {
            let first = event.encoded()
            guard let again = try? WorkerEvent.decode(type: first.type, payload: first.payload),
                  again.encoded() == first else {
                FuzzFailure.report("messages", "event type \(type) does not survive an encode/decode round trip")
            }
        }
    }

    /// Byte 0: where the records start (x16); byte 1: bit 0 reads with `withNextFrame` instead of `receive`, bit 1
    /// takes the producer position from bytes 2-9 instead of the end of the records; from byte 10: the ring's
    /// contents. Record headers get a valid check field (so the fuzzer reaches past it) unless their request id's
    /// low byte is 0xEE. Frames that come out are decoded as worker events.
    static let ring = FuzzTarget(
        name: "ring", summary: "raw contents of a worker's event ring, read as the orchestrator reads them",
        maxLength: RingFixture.capacity + 10
    ) { input in
        guard input.count >= 10 else { return }
        _ = RingFixture.shared.run(input)
    }
}

/// One shared-memory segment with the smallest rings, created once per process, whose event ring the target fills
/// with fuzz bytes before reading it with a fresh `RingChannel`.
///
/// Offsets follow `SegmentLayout` (the documented cross-process layout): the event ring's control block is at 1536
/// (producer position +0, consumer position +128), its data after the header page and the request ring.
public final class RingFixture: @unchecked Sendable {
    static let capacity = 4096
    public static let shared = RingFixture()

    private let segment: SharedMemorySegment
    private let base: UnsafeMutableRawPointer
    private static let mappedSize = 4096 + 2 * capacity
    private static let eventControl = 1536
    private static let eventData = 4096 + capacity
    private static let closedFlags = 48

    private init() {
        let name = "/modelhost-fuzz-ring-\(getpid())"
        do {
            segment = try SharedMemorySegment.create(name: name, requestRingCapacity: Self.capacity,
                                                     eventRingCapacity: Self.capacity)
        } catch {
            fatalError("cannot create the fuzz ring segment: \(error)")
        }
        ringSegmentToUnlink = name
        atexit { if let name = ringSegmentToUnlink { shm_unlink(name) } }
        let fd = shm_open(name, O_RDWR, 0)
        precondition(fd >= 0, "cannot open \(name)")
        defer { close(fd) }
        let pointer = mmap(nil, Self.mappedSize, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0)
        precondition(pointer != MAP_FAILED && pointer != nil, "cannot map \(name)")
        base = pointer!
        precondition(base.load(as: UInt64.self) == 0x4745_5343_5049_484D, "the segment layout is not the one expected")
    }

    /// Returns how many frames came out and decoded as worker events.
    public func run(_ input: [UInt8]) -> Int {
        let start = UInt64(input[0]) * 16 % UInt64(Self.capacity)
        let useView = input[1] & 1 != 0
        let rawTail = input[1] & 2 != 0
        var tailDelta: UInt64 = 0
        for i in 0..<8 { tailDelta |= UInt64(input[2 + i]) << (8 * UInt64(i)) }
        let contents = input.dropFirst(10).prefix(Self.capacity)

        let data = base + Self.eventData
        data.initializeMemory(as: UInt8.self, repeating: 0, count: Self.capacity)
        for (i, byte) in contents.enumerated() {
            data.storeBytes(of: byte, toByteOffset: (Int(start) + i) % Self.capacity, as: UInt8.self)
        }
        let end = fixChecks(data: data, start: start, count: UInt64(contents.count))
        let control = base + Self.eventControl
        control.storeBytes(of: rawTail ? start &+ tailDelta : end, toByteOffset: 0, as: UInt64.self)
        control.storeBytes(of: start, toByteOffset: 128, as: UInt64.self)
        base.storeBytes(of: UInt64(0), toByteOffset: Self.closedFlags, as: UInt64.self)

        guard let channel = try? RingChannel(segment: segment, peer: .unchecked, maxMessageSize: 1 << 14,
                                             spinNanoseconds: 0) else { return 0 }
        let past = IPCDeadline(uptimeNanoseconds: 0)
        var decoded = 0
        for _ in 0..<64 {
            do {
                if useView {
                    let got: Bool? = try channel.withNextFrame(deadline: past) { frame in
                        (try? WorkerEvent.decode(type: frame.type, payload: frame.payload)) != nil
                    }
                    guard let got else { break }
                    if got { decoded += 1 }
                } else {
                    guard let frame = try channel.receive(deadline: past) else { break }
                    if (try? WorkerEvent.decode(type: frame.type, payload: frame.payload)) != nil { decoded += 1 }
                }
            } catch {
                break
            }
        }
        return decoded
    }

    /// Walks the records from `start` and writes each header's check field (the formula in `IPC/Frame.swift`), so
    /// that mutations explore what lies past the check. Returns the position after the last whole record.
    private func fixChecks(data: UnsafeMutableRawPointer, start: UInt64, count: UInt64) -> UInt64 {
        var position = start
        let capacity = UInt64(Self.capacity)
        while position - start + 32 <= count {
            var header = [UInt8](repeating: 0, count: 32)
            for i in 0..<32 { header[i] = data.load(fromByteOffset: Int((position + UInt64(i)) % capacity), as: UInt8.self) }
            func u32(_ at: Int) -> UInt32 { header.withUnsafeBytes { $0.loadUnaligned(fromByteOffset: at, as: UInt32.self) } }
            let type = u32(0), flags = u32(4), length = u32(16), total = u32(24)
            if header[8] != 0xEE {
                let check = 0x4D48_4652 ^ type ^ (flags &* 0x9E37_79B9) ^ length ^ total
                for i in 0..<4 {
                    data.storeBytes(of: UInt8(truncatingIfNeeded: check >> (8 * UInt32(i))),
                                    toByteOffset: Int((position + 20 + UInt64(i)) % capacity), as: UInt8.self)
                }
            }
            let size = (32 + UInt64(length) + 7) & ~7
            guard size <= capacity else { break }
            position += size
        }
        return position
    }
}

nonisolated(unsafe) private var ringSegmentToUnlink: String?
