import Glibc
import IPC
import XCTest

/// Single-process tests of the segment and the rings: both sides mapped in this process, the peer check disabled.
final class RingChannelTests: XCTestCase {
    private var names: [String] = []

    override func tearDown() {
        for name in names { _ = try? SharedMemorySegment.unlink(name: name) }
        names = []
    }

    private func makePair(ring: Int = 1 << 20) throws -> (host: RingChannel, worker: RingChannel) {
        let name = TestSupport.uniqueSegmentName("pair")
        names.append(name)
        let created = try SharedMemorySegment.create(name: name, requestRingCapacity: ring, eventRingCapacity: ring)
        let attached = try SharedMemorySegment.attach(name: name)
        XCTAssertEqual(attached.creatorPID, getpid())
        XCTAssertEqual(created.attacherPID, getpid())
        return (try RingChannel(segment: created, peer: .unchecked), try RingChannel(segment: attached, peer: .unchecked))
    }

    func testFramesKeepTypeRequestIDAndBytesInOrder() throws {
        let (host, worker) = try makePair(ring: 4096)
        var frames: [Frame] = []
        for i in 0..<50 {
            let payload: [UInt8] = (0..<(i * 37 % 900)).map { UInt8(truncatingIfNeeded: $0 + i) }
            frames.append(Frame(type: UInt32(i % 7), requestID: UInt64(1000 + i), payload: payload))
        }
        let toSend = frames
        let sender = TestSupport.background {
            for frame in toSend { try! host.send(frame, deadline: .after(seconds: 10)) }
        }
        for expected in frames {
            XCTAssertEqual(try worker.receive(deadline: .after(seconds: 10)), expected)
        }
        sender()
        XCTAssertGreaterThan(host.statistics.wrappedRecords, 0, "a 4 KiB ring must wrap with 50 frames")
        XCTAssertEqual(worker.statistics.framesReceived, frames.count)
    }

    func testTenMebibytePayloadCrossesOneMebibyteRing() throws {
        let (host, worker) = try makePair(ring: 1 << 20)
        var payload = [UInt8](repeating: 0, count: 10 << 20 + 12_345)
        for i in payload.indices { payload[i] = UInt8(truncatingIfNeeded: i &* 2_654_435_761 >> 7) }
        let frame = Frame(type: 9, requestID: 77, payload: payload)
        let sender = TestSupport.background { try! host.send(frame, deadline: .after(seconds: 30)) }
        let received = try XCTUnwrap(worker.receive(deadline: .after(seconds: 30)))
        sender()
        XCTAssertEqual(received.type, 9)
        XCTAssertEqual(received.requestID, 77)
        XCTAssertEqual(received.payload.count, payload.count)
        XCTAssertTrue(received.payload == payload, "reassembled payload differs")
        // The frame is ten times the ring, so it crossed in pieces. (Whether the sender ever found the ring full
        // depends on scheduling: a receiver that keeps up never lets it fill, so that is not asserted.)
        XCTAssertGreaterThan(payload.count, 10 * (1 << 20))
        XCTAssertEqual(host.statistics.framesSent, 1)
    }

    func testReceiveReturnsNilAtDeadlineWhenIdle() throws {
        let (host, worker) = try makePair()
        let start = IPCDeadline.now
        // (Keep `host` alive: dropping it would close its side and the wait would end with `.peerClosed`.)
        XCTAssertNil(try withExtendedLifetime(host) { try worker.receive(deadline: .after(seconds: 0.2)) })
        let elapsed = TestSupport.elapsedSeconds(since: start)
        XCTAssertGreaterThanOrEqual(elapsed, 0.19)
        XCTAssertLessThan(elapsed, 1.0)
    }

    func testFullRingSendTimesOutAtItsDeadline() throws {
        let (host, worker) = try makePair(ring: 4096)
        defer { withExtendedLifetime(worker) {} }
        let chunk = Frame(type: 1, requestID: 1, payload: [UInt8](repeating: 1, count: 992))
        var sent = 0
        var caught: IPCError?
        var elapsed = 0.0
        while caught == nil && sent < 100 {
            let start = IPCDeadline.now
            do {
                try host.send(chunk, deadline: .after(seconds: 0.25))
                sent += 1
            } catch {
                caught = error
                elapsed = TestSupport.elapsedSeconds(since: start)
            }
        }
        XCTAssertEqual(caught, .timedOut)
        XCTAssertEqual(sent, 4, "a 4 KiB ring holds exactly four 992-byte frames with their 32-byte headers")
        XCTAssertGreaterThanOrEqual(elapsed, 0.24)
        XCTAssertLessThan(elapsed, 1.0)
    }

    func testChunkedSendInterruptedByDeadlineIsDiscardedByReader() throws {
        let (host, worker) = try makePair(ring: 4096)
        // 10 KB needs several 2 KiB chunks; nobody reads, so the send times out midway.
        XCTAssertThrowsError(try host.send(Frame(type: 5, requestID: 5, payload: [UInt8](repeating: 5, count: 10_000)),
                                           deadline: .after(seconds: 0.1))) { XCTAssertEqual($0 as? IPCError, .timedOut) }
        let next = Frame(type: 6, requestID: 6, payload: [1, 2, 3])
        let sender = TestSupport.background { try! host.send(next, deadline: .after(seconds: 10)) }
        XCTAssertEqual(try worker.receive(deadline: .after(seconds: 10)), next, "the partial message must be dropped")
        sender()
    }

    func testZeroCopyViewAndWrappedRecordsReadTheSameBytes() throws {
        let (host, worker) = try makePair(ring: 4096)
        for round in 0..<40 {
            let payload = (0..<(300 + round * 41)).map { UInt8(truncatingIfNeeded: $0 * 13 + round) }
            try host.send(Frame(type: 3, requestID: UInt64(round), payload: payload), deadline: .after(seconds: 1))
            let same = try worker.withNextFrame(deadline: .after(seconds: 1)) { view in
                view.requestID == UInt64(round) && view.payload.elementsEqual(payload)
            }
            XCTAssertEqual(same, true, "round \(round)")
        }
        XCTAssertGreaterThan(host.statistics.wrappedRecords, 0)
    }

    func testOversizedFrameIsRefusedBeforeAnythingIsWritten() throws {
        let name = TestSupport.uniqueSegmentName("limit")
        names.append(name)
        let segment = try SharedMemorySegment.create(name: name, requestRingCapacity: 4096, eventRingCapacity: 4096)
        let channel = try RingChannel(segment: segment, peer: .unchecked, maxMessageSize: 1000)
        XCTAssertThrowsError(try channel.send(Frame(type: 1, requestID: 1, payload: [UInt8](repeating: 0, count: 1001)),
                                              deadline: .after(seconds: 1))) {
            XCTAssertEqual($0 as? IPCError, .frameTooLarge(size: 1001, limit: 1000))
        }
        XCTAssertEqual(channel.statistics.framesSent, 0)
    }

    func testClosingWakesAWaitingPeerWithPeerClosed() throws {
        let (host, worker) = try makePair()
        let closer = TestSupport.background {
            usleep(100_000)
            host.close()
        }
        let start = IPCDeadline.now
        XCTAssertThrowsError(try worker.receive(deadline: .after(seconds: 10))) {
            XCTAssertEqual($0 as? IPCError, .peerClosed)
        }
        XCTAssertLessThan(TestSupport.elapsedSeconds(since: start), 1.0)
        closer()
    }

    func testAttachRejectsForeignObjectsAndBadSizes() throws {
        let name = TestSupport.uniqueSegmentName("foreign")
        names.append(name)
        let fd = shm_open(name, O_CREAT | O_EXCL | O_RDWR, 0o600)
        XCTAssertGreaterThanOrEqual(fd, 0)
        XCTAssertEqual(ftruncate(fd, 8192), 0)
        close(fd)
        XCTAssertThrowsError(try SharedMemorySegment.attach(name: name)) { error in
            guard case .layoutMismatch(let why)? = error as? IPCError else { return XCTFail("\(error)") }
            XCTAssertTrue(why.contains("magic"), why)
        }
        XCTAssertThrowsError(try SharedMemorySegment.create(name: "/x", requestRingCapacity: 5000)) {
            guard case .invalidArgument? = $0 as? IPCError else { return XCTFail("\($0)") }
        }
        XCTAssertThrowsError(try SharedMemorySegment.create(name: "no-slash")) {
            guard case .invalidArgument? = $0 as? IPCError else { return XCTFail("\($0)") }
        }
        let absent = TestSupport.uniqueSegmentName("absent")
        XCTAssertThrowsError(try SharedMemorySegment.attach(name: absent)) {
            XCTAssertEqual($0 as? IPCError, .system(call: "shm_open(\(absent))", errno: ENOENT))
        }
    }

    func testNamesDeriveFromOneRootAndRejectUnsafeParts() throws {
        let names = IPCNames.random()
        XCTAssertEqual(names.root.count, 16)
        let segment = try names.segmentName(worker: "llama_0")
        XCTAssertEqual(segment, "/mh-\(names.root)-llama_0")
        XCTAssertTrue(names.owns(fileName: String(segment.dropFirst())))
        XCTAssertThrowsError(try names.segmentName(worker: "../x"))
        XCTAssertThrowsError(try names.segmentName(worker: ""))
        XCTAssertThrowsError(try IPCNames(root: "ABC"))
        XCTAssertNotEqual(IPCNames.random().root, names.root)
    }

    func testUnlinkRemovesTheNameAndIsIdempotent() throws {
        let name = TestSupport.uniqueSegmentName("unlink")
        let segment = try SharedMemorySegment.create(name: name, requestRingCapacity: 4096, eventRingCapacity: 4096)
        XCTAssertTrue(TestSupport.sharedMemoryFileExists(name))
        XCTAssertThrowsError(try SharedMemorySegment.create(name: name)) {
            XCTAssertEqual($0 as? IPCError, .system(call: "shm_open(\(name), O_CREAT|O_EXCL)", errno: EEXIST))
        }
        XCTAssertTrue(try segment.unlink())
        XCTAssertFalse(TestSupport.sharedMemoryFileExists(name))
        XCTAssertFalse(try segment.unlink())
    }
}
