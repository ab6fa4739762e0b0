import CSupport
import Foundation
import Synchronization

/// One side of a worker's transport: it writes frames into one single-producer single-consumer ring of the segment
/// and reads frames from the other (the orchestrator writes the request ring and reads the event ring; the worker the
/// reverse).
///
/// The rings are lock-free: each has a producer position and a consumer position, monotonically increasing 64-bit
/// byte counters published with release stores and read with acquire loads, so no process ever holds a lock the
/// other could be killed inside. A side with nothing to do spins for a few microseconds and then sleeps on a process
/// shared semaphore in the segment; the other side posts it only when a "waiting" flag says someone sleeps, checked
/// after a sequentially consistent fence so no wake-up is lost. Sleeps are sliced into 100 ms waits after each of
/// which the peer's liveness is checked, so a dead peer is noticed within about 100 ms and nothing blocks forever.
///
/// A message larger than half a ring travels as consecutive chunks that the reader reassembles, so any message up to
/// `maxMessageSize` fits whatever the ring size.
///
/// Thread safety: any number of threads may call `send` and `receive`/`withNextFrame`; sends are serialised among
/// themselves, receives among themselves, and one send may overlap one receive.
public final class RingChannel: @unchecked Sendable {
    public let segment: SharedMemorySegment
    /// The largest message this side sends or accepts; a larger incoming total marks the ring corrupt.
    public let maxMessageSize: Int
    /// The longest a side spins before it sleeps on a semaphore. Spinning is what makes a small round trip much
    /// cheaper than a socket's when both processes have a core; on a busy machine it only steals the peer's time, so
    /// the actual spin adapts (see `SpinBudget`). Zero disables spinning.
    public let spinNanoseconds: UInt64

    private let outRing: RingMemory
    private let inRing: RingMemory
    private let ownClosed: UnsafeMutableRawPointer
    private let peerClosed: UnsafeMutableRawPointer
    private let peer: PeerLiveness

    private let sendLock = NSLock()
    private var tail: UInt64
    private var cachedHead: UInt64
    private var pendingAbort = false
    private let maxOutChunk: Int
    private var sendSpin: SpinBudget

    private let receiveLock = NSLock()
    private var head: UInt64
    private var cachedTail: UInt64
    private var partial: PartialMessage?
    /// Where a single record that wraps around the ring end is made contiguous for `withNextFrame`; allocated on
    /// first need (up to half the ring).
    private var scratch: UnsafeMutableRawBufferPointer?
    private let maxInChunk: Int
    private var receiveSpin: SpinBudget

    private static let livenessSliceNanoseconds: Int64 = 100_000_000

    /// Counters for metrics and for tests that must prove they hit the ring's edges.
    public struct Statistics: Sendable, Equatable {
        public var framesSent = 0
        public var framesReceived = 0
        /// Records written across the ring's end (split in two copies).
        public var wrappedRecords = 0
        /// Sends that found the ring too full and had to wait.
        public var fullRingWaits = 0
        /// Receives that found the ring empty and had to wait.
        public var emptyRingWaits = 0
    }

    private let framesSent = Atomic<Int>(0)
    private let framesReceived = Atomic<Int>(0)
    private let wrappedRecords = Atomic<Int>(0)
    private let fullRingWaits = Atomic<Int>(0)
    private let emptyRingWaits = Atomic<Int>(0)

    /// A snapshot of the counters; readable from any thread without blocking behind a waiting send or receive.
    public var statistics: Statistics {
        Statistics(
            framesSent: framesSent.load(ordering: .relaxed), framesReceived: framesReceived.load(ordering: .relaxed),
            wrappedRecords: wrappedRecords.load(ordering: .relaxed), fullRingWaits: fullRingWaits.load(ordering: .relaxed),
            emptyRingWaits: emptyRingWaits.load(ordering: .relaxed))
    }

    /// Opens this process's side of `segment`.
    /// - Parameters:
    ///   - peer: how to tell that the other side died; pass the worker's pid on the orchestrator's side and the
    ///     segment's `creatorPID` on the worker's side.
    ///   - maxMessageSize: the largest message accepted in either direction (default 256 MiB).
    ///   - spinNanoseconds: the most a wait spins before sleeping (default 20 µs; adapted downwards when spins fail).
    public init(
        segment: SharedMemorySegment, peer: PeerLiveness, maxMessageSize: Int = 256 << 20,
        spinNanoseconds: UInt64 = 20_000
    ) throws(IPCError) {
        guard maxMessageSize > 0, maxMessageSize <= Int(Int32.max) * 64 else {
            throw .invalidArgument("maxMessageSize must be positive and at most 128 GiB, got \(maxMessageSize)")
        }
        self.segment = segment
        self.peer = peer
        self.maxMessageSize = maxMessageSize
        self.spinNanoseconds = spinNanoseconds
        sendSpin = SpinBudget(maximum: spinNanoseconds)
        receiveSpin = SpinBudget(maximum: spinNanoseconds)
        let request = segment.ring(.request)
        let event = segment.ring(.event)
        (outRing, inRing) = segment.role == .creator ? (request, event) : (event, request)
        ownClosed = segment.closedFlag(of: segment.role)
        peerClosed = segment.closedFlag(of: segment.role == .creator ? .attacher : .creator)
        tail = mh_atomic_load_acquire_u64(outRing.tail)
        cachedHead = mh_atomic_load_acquire_u64(outRing.head)
        head = mh_atomic_load_acquire_u64(inRing.head)
        cachedTail = head
        maxOutChunk = Self.maxChunkPayload(capacity: outRing.capacity)
        maxInChunk = Self.maxChunkPayload(capacity: inRing.capacity)
    }

    deinit {
        close()
        scratch?.deallocate()
    }

    /// The largest payload of one record: half the ring, so the writer can fill one half while the reader drains the
    /// other.
    static func maxChunkPayload(capacity: Int) -> Int { (capacity / 2 - RecordHeader.size) & ~7 }

    // MARK: Sending

    /// Sends `frame`, waiting while the ring is full. Throws `.timedOut` when `deadline` passes first, `.peerDied` or
    /// `.peerClosed` when the reader is gone.
    public func send(_ frame: Frame, deadline: IPCDeadline) throws(IPCError) {
        let result: Result<Void, IPCError> = frame.payload.withUnsafeBytes { bytes in
            do throws(IPCError) {
                try send(type: frame.type, requestID: frame.requestID, payload: bytes, deadline: deadline)
                return .success(())
            } catch {
                return .failure(error)
            }
        }
        try result.get()
    }

    /// Sends a frame whose payload the caller already holds in memory, without an intermediate array.
    public func send(
        type: UInt32, requestID: UInt64, payload: UnsafeRawBufferPointer, deadline: IPCDeadline
    ) throws(IPCError) {
        guard payload.count <= maxMessageSize else { throw .frameTooLarge(size: payload.count, limit: maxMessageSize) }
        sendLock.lock()
        defer { sendLock.unlock() }
        if mh_atomic_load_acquire_u32(peerClosed) != 0 { throw .peerClosed }
        if pendingAbort {
            let abort = RecordHeader(type: 0, flags: RecordHeader.flagAbort, requestID: 0, length: 0, totalLength: 0)
            try writeRecord(abort, payload: nil, deadline: deadline)
            pendingAbort = false
        }
        let total = UInt64(payload.count)
        if payload.count <= maxOutChunk {
            let header = RecordHeader(type: type, flags: 0, requestID: requestID, length: UInt32(payload.count),
                                      totalLength: total)
            try writeRecord(header, payload: payload.baseAddress, deadline: deadline)
            framesSent.add(1, ordering: .relaxed)
            return
        }
        var offset = 0
        while offset < payload.count {
            let length = min(maxOutChunk, payload.count - offset)
            let last = offset + length == payload.count
            let header = RecordHeader(type: type, flags: last ? 0 : RecordHeader.flagMore, requestID: requestID,
                                      length: UInt32(length), totalLength: total)
            do {
                try writeRecord(header, payload: payload.baseAddress! + offset, deadline: deadline)
            } catch {
                // The reader holds a partial message; the next send first tells it to drop that.
                if offset > 0 { pendingAbort = true }
                throw error
            }
            offset += length
        }
        framesSent.add(1, ordering: .relaxed)
    }

    private func writeRecord(
        _ header: RecordHeader, payload: UnsafeRawPointer?, deadline: IPCDeadline
    ) throws(IPCError) {
        let size = header.recordSize
        let capacity = UInt64(outRing.capacity)
        if capacity &- (tail &- cachedHead) < UInt64(size) {
            cachedHead = mh_atomic_load_acquire_u64(outRing.head)
        }
        if capacity &- (tail &- cachedHead) < UInt64(size) {
            fullRingWaits.add(1, ordering: .relaxed)
            let ring = outRing
            let tail = self.tail
            var head = cachedHead
            let ready = try wait(
                semaphore: ring.spaceSemaphore, flag: ring.producerWaiting, spin: &sendSpin, deadline: deadline
            ) {
                head = mh_atomic_load_acquire_u64(ring.head)
                return capacity &- (tail &- head) >= UInt64(size)
            }
            cachedHead = head
            guard ready else { throw .timedOut }
        }
        withUnsafeTemporaryAllocation(byteCount: RecordHeader.size, alignment: 8) { buffer in
            header.store(to: buffer.baseAddress!)
            copyIn(UnsafeRawPointer(buffer.baseAddress!), count: RecordHeader.size, at: tail)
        }
        if let payload, header.length > 0 {
            copyIn(payload, count: Int(header.length), at: tail &+ UInt64(RecordHeader.size))
        }
        if Int(tail & (capacity - 1)) + size > outRing.capacity { wrappedRecords.add(1, ordering: .relaxed) }
        tail &+= UInt64(size)
        mh_atomic_store_release_u64(outRing.tail, tail)
        wake(semaphore: outRing.dataSemaphore, flag: outRing.consumerWaiting)
    }

    private func copyIn(_ source: UnsafeRawPointer, count: Int, at position: UInt64) {
        let offset = Int(position & UInt64(outRing.capacity - 1))
        let first = min(count, outRing.capacity - offset)
        (outRing.data + offset).copyMemory(from: source, byteCount: first)
        if first < count { outRing.data.copyMemory(from: source + first, byteCount: count - first) }
    }

    // MARK: Receiving

    /// Receives the next whole frame, or returns `nil` if `deadline` passes with none complete ("nothing yet" is not an
    /// error). A chunked message interrupted by the deadline resumes on the next call.
    public func receive(deadline: IPCDeadline) throws(IPCError) -> Frame? {
        receiveLock.lock()
        defer { receiveLock.unlock() }
        guard let delivery = try nextMessage(deadline: deadline) else { return nil }
        framesReceived.add(1, ordering: .relaxed)
        switch delivery {
        case .assembled(let message):
            return Frame(type: message.type, requestID: message.requestID, payload: message.bytes)
        case .record(let header):
            let length = Int(header.length)
            let payload = [UInt8](unsafeUninitializedCapacity: length) { buffer, count in
                if length > 0 { copyOut(into: UnsafeMutableRawPointer(buffer.baseAddress!), count: length,
                                        at: head &+ UInt64(RecordHeader.size)) }
                count = length
            }
            consume(header)
            return Frame(type: header.type, requestID: header.requestID, payload: payload)
        }
    }

    /// Hands the next frame to `body` without copying it out of the ring when it lies contiguously there; the view is
    /// valid only inside `body`, and the ring space is released when `body` returns. Returns `nil` if `deadline`
    /// passes first. `body` must not call back into this channel's receive side.
    public func withNextFrame<R>(deadline: IPCDeadline, _ body: (FrameView) -> R) throws(IPCError) -> R? {
        receiveLock.lock()
        defer { receiveLock.unlock() }
        guard let delivery = try nextMessage(deadline: deadline) else { return nil }
        framesReceived.add(1, ordering: .relaxed)
        switch delivery {
        case .assembled(let message):
            return message.bytes.withUnsafeBytes {
                body(FrameView(type: message.type, requestID: message.requestID, payload: $0))
            }
        case .record(let header):
            let length = Int(header.length)
            let start = head &+ UInt64(RecordHeader.size)
            let offset = Int(start & UInt64(inRing.capacity - 1))
            let view: UnsafeRawBufferPointer
            if offset + length <= inRing.capacity {
                view = UnsafeRawBufferPointer(start: inRing.data + offset, count: length)
            } else {
                let buffer = scratch ?? .allocate(byteCount: maxInChunk, alignment: 16)
                scratch = buffer
                copyOut(into: buffer.baseAddress!, count: length, at: start)
                view = UnsafeRawBufferPointer(start: buffer.baseAddress!, count: length)
            }
            let result = body(FrameView(type: header.type, requestID: header.requestID, payload: view))
            consume(header)
            return result
        }
    }

    private enum Delivery {
        /// A single-record message still in the ring at `head`; the caller consumes it.
        case record(RecordHeader)
        /// A message reassembled from chunks.
        case assembled(PartialMessage)
    }

    private struct PartialMessage {
        var type: UInt32
        var requestID: UInt64
        var total: Int
        var bytes: [UInt8]
    }

    private func nextMessage(deadline: IPCDeadline) throws(IPCError) -> Delivery? {
        while true {
            guard let header = try nextRecord(deadline: deadline) else { return nil }
            let length = Int(header.length)
            let payloadStart = head &+ UInt64(RecordHeader.size)
            if header.flags & RecordHeader.flagAbort != 0 {
                partial = nil
                consume(header)
                continue
            }
            if var message = partial {
                partial = nil
                guard header.type == message.type, header.requestID == message.requestID,
                      header.totalLength == UInt64(message.total), message.bytes.count + length <= message.total else {
                    throw .corrupt("chunk (type \(header.type), request \(header.requestID), \(length) bytes) does not "
                        + "continue message (type \(message.type), request \(message.requestID), "
                        + "\(message.bytes.count) of \(message.total) bytes)")
                }
                appendPayload(to: &message.bytes, count: length, at: payloadStart)
                consume(header)
                if header.flags & RecordHeader.flagMore == 0 {
                    guard message.bytes.count == message.total else {
                        throw .corrupt("message ended after \(message.bytes.count) of \(message.total) bytes")
                    }
                    return .assembled(message)
                }
                partial = message
                continue
            }
            if header.flags & RecordHeader.flagMore == 0 {
                guard header.totalLength == UInt64(length) else {
                    throw .corrupt("single-record message of \(length) bytes claims \(header.totalLength) in total")
                }
                return .record(header)
            }
            guard header.totalLength > UInt64(length), header.totalLength <= UInt64(maxMessageSize) else {
                throw .corrupt("chunked message claims \(header.totalLength) bytes (first chunk \(length), limit "
                    + "\(maxMessageSize))")
            }
            var message = PartialMessage(type: header.type, requestID: header.requestID,
                                         total: Int(header.totalLength), bytes: [])
            message.bytes.reserveCapacity(message.total)
            appendPayload(to: &message.bytes, count: length, at: payloadStart)
            consume(header)
            partial = message
        }
    }

    /// Waits for a complete record at `head` and returns its validated header, or `nil` at the deadline.
    private func nextRecord(deadline: IPCDeadline) throws(IPCError) -> RecordHeader? {
        if cachedTail == head {
            cachedTail = mh_atomic_load_acquire_u64(inRing.tail)
        }
        if cachedTail == head {
            emptyRingWaits.add(1, ordering: .relaxed)
            let ring = inRing
            let head = self.head
            var tail = cachedTail
            let ready = try wait(
                semaphore: ring.dataSemaphore, flag: ring.consumerWaiting, spin: &receiveSpin, deadline: deadline
            ) {
                tail = mh_atomic_load_acquire_u64(ring.tail)
                return tail != head
            }
            cachedTail = tail
            guard ready else { return nil }
        }
        let available = cachedTail &- head
        guard available >= UInt64(RecordHeader.size), available <= UInt64(inRing.capacity), head & 7 == 0 else {
            throw .corrupt("producer position \(cachedTail) is inconsistent with consumer position \(head)")
        }
        let header = try withUnsafeTemporaryAllocation(byteCount: RecordHeader.size, alignment: 8) {
            buffer -> Result<RecordHeader, IPCError> in
            copyOut(into: buffer.baseAddress!, count: RecordHeader.size, at: head)
            return RecordHeader.load(from: UnsafeRawPointer(buffer.baseAddress!))
        }.get()
        guard Int(header.length) <= maxInChunk, UInt64(header.recordSize) <= available,
              header.totalLength >= UInt64(header.length) else {
            throw .corrupt("record of \(header.length) bytes (total \(header.totalLength)) does not fit the "
                + "\(available) published bytes or the \(maxInChunk)-byte chunk limit")
        }
        if header.totalLength > UInt64(maxMessageSize) {
            throw .corrupt("incoming message of \(header.totalLength) bytes exceeds the \(maxMessageSize)-byte limit")
        }
        return header
    }

    private func consume(_ header: RecordHeader) {
        head &+= UInt64(header.recordSize)
        mh_atomic_store_release_u64(inRing.head, head)
        wake(semaphore: inRing.spaceSemaphore, flag: inRing.producerWaiting)
    }

    private func copyOut(into destination: UnsafeMutableRawPointer, count: Int, at position: UInt64) {
        let offset = Int(position & UInt64(inRing.capacity - 1))
        let first = min(count, inRing.capacity - offset)
        destination.copyMemory(from: inRing.data + offset, byteCount: first)
        if first < count { (destination + first).copyMemory(from: inRing.data, byteCount: count - first) }
    }

    private func appendPayload(to bytes: inout [UInt8], count: Int, at position: UInt64) {
        let offset = Int(position & UInt64(inRing.capacity - 1))
        let first = min(count, inRing.capacity - offset)
        bytes.append(contentsOf: UnsafeRawBufferPointer(start: inRing.data + offset, count: first))
        if first < count {
            bytes.append(contentsOf: UnsafeRawBufferPointer(start: inRing.data, count: count - first))
        }
    }

    // MARK: Closing

    /// Tells the peer this side is done: its waits end with `.peerClosed` once it has drained what was sent.
    /// Idempotent; also runs on deinit.
    public func close() {
        guard mh_atomic_exchange_seqcst_u32(ownClosed, 1) == 0 else { return }
        sem_post(outRing.dataSemaphore)
        sem_post(inRing.spaceSemaphore)
    }

    // MARK: Waiting

    /// Waits until `ready()` holds: first spinning, then sleeping on `semaphore` in slices, checking between slices
    /// whether the peer closed or died. Returns false when the deadline passes.
    private func wait(
        semaphore: UnsafeMutablePointer<sem_t>, flag: UnsafeMutableRawPointer, spin: inout SpinBudget,
        deadline: IPCDeadline, ready: () -> Bool
    ) throws(IPCError) -> Bool {
        if ready() { return true }
        let budget = spin.next()
        if budget > 0 {
            let start = mh_monotonic_ns()
            var iterations = 0
            while true {
                mh_cpu_relax()
                if ready() {
                    spin.succeeded()
                    return true
                }
                iterations &+= 1
                if iterations & 31 == 0, mh_monotonic_ns() &- start >= budget { break }
            }
            spin.failed()
        }
        while true {
            mh_atomic_store_seqcst_u32(flag, 1)
            mh_atomic_thread_fence_seqcst()
            if ready() {
                mh_atomic_store_seqcst_u32(flag, 0)
                return true
            }
            if mh_atomic_load_acquire_u32(peerClosed) != 0 {
                mh_atomic_store_seqcst_u32(flag, 0)
                throw .peerClosed
            }
            let now = mh_monotonic_ns()
            if now >= deadline.uptimeNanoseconds {
                mh_atomic_store_seqcst_u32(flag, 0)
                return false
            }
            let slice = min(Int64(bitPattern: deadline.uptimeNanoseconds - now), Self.livenessSliceNanoseconds)
            let result = mh_sem_wait_for(semaphore, slice)
            mh_atomic_store_seqcst_u32(flag, 0)
            switch result {
            case 0:
                continue
            case ETIMEDOUT:
                if ready() { return true }
                if !peer.isAlive { throw .peerDied(pid: peer.pid) }
            default:
                throw .system(call: "sem_clockwait", errno: result)
            }
        }
    }

    /// Posts `semaphore` if the other side announced that it sleeps on it. The fence orders the position store just
    /// made before the flag load, pairing with the fence in `wait`: either the sleeper sees the new position, or this
    /// side sees its flag.
    private func wake(semaphore: UnsafeMutablePointer<sem_t>, flag: UnsafeMutableRawPointer) {
        mh_atomic_thread_fence_seqcst()
        if mh_atomic_load_acquire_u32(flag) != 0, mh_atomic_exchange_seqcst_u32(flag, 0) != 0 {
            sem_post(semaphore)
        }
    }
}
