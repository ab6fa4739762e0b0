import Glibc
import IPC
import XCTest

/// Tests with a real peer process (`ipc-peer`): the stress test, peer death on either side, a full ring's deadline
/// and name cleanup.
final class CrossProcessTests: XCTestCase {
    private static let stopType: UInt32 = 0xFFFF_FFFF
    private var names: [String] = []
    private var peers: [SpawnedProcess] = []

    override func tearDown() {
        for peer in peers {
            peer.signal(SIGKILL)
            peer.wait()
        }
        for name in names { _ = try? SharedMemorySegment.unlink(name: name) }
        peers = []
        names = []
    }

    private func makeSegment(_ label: String, ring: Int) throws -> SharedMemorySegment {
        let name = TestSupport.uniqueSegmentName(label)
        names.append(name)
        return try SharedMemorySegment.create(name: name, requestRingCapacity: ring, eventRingCapacity: ring)
    }

    private func spawn(_ arguments: [String]) throws -> SpawnedProcess {
        let peer = try TestSupport.spawnPeer(arguments)
        peers.append(peer)
        return peer
    }

    /// Millions of seeded frames (sizes from empty to twice the ring) go to the peer, which echoes them; every byte of
    /// every echo is checked against the generator, so corruption in either direction fails the test.
    func testStressEchoVerifiesEveryByteThroughWrapsAndFullAndEmptyRings() throws {
        #if DEBUG
        let count: UInt64 = 100_000
        #else
        let count: UInt64 = 2_000_000
        #endif
        let ring = 16 << 10
        let seed: UInt64 = 0x5EED_2026
        let segment = try makeSegment("stress", ring: ring)
        let peer = try spawn(["echo", segment.name])
        let channel = try RingChannel(segment: segment, peer: .pid(peer.pid))

        let sendError = Box<IPCError?>(nil)
        let sender = TestSupport.background {
            do throws(IPCError) {
                for index in 0..<count {
                    try channel.send(TestPattern.frame(seed: seed, index: index, ringCapacity: ring),
                                     deadline: .after(seconds: 30))
                }
                try channel.send(Frame(type: Self.stopType, requestID: 0), deadline: .after(seconds: 30))
            } catch {
                sendError.value = error
            }
        }
        var expected = [UInt8](repeating: 0, count: ring * 3)
        var mismatches = 0
        var largest = 0
        for index in 0..<count {
            let size = TestPattern.size(seed: seed, index: index, ringCapacity: ring)
            largest = max(largest, size)
            expected.withUnsafeMutableBytes {
                TestPattern.fill(UnsafeMutableRawBufferPointer(rebasing: $0[0..<size]), seed: seed, index: index)
            }
            let ok = try channel.withNextFrame(deadline: .after(seconds: 30)) { view in
                view.requestID == index && view.type == UInt32(index % 65_521) && view.payload.count == size
                    && expected.withUnsafeBytes { memcmp($0.baseAddress!, view.payload.baseAddress ?? $0.baseAddress!, size) == 0 }
            }
            if ok != true {
                mismatches += 1
                XCTFail("frame \(index) (\(size) bytes): \(ok == nil ? "not received within 30 s" : "content differs")")
                if mismatches > 5 { break }
            }
        }
        if mismatches > 0 { peer.signal(SIGKILL) }  // unblocks the sender at once instead of after its deadline
        sender()
        guard mismatches == 0 else { return }
        XCTAssertNil(sendError.value)
        XCTAssertEqual(peer.wait(), .exited(0))
        let stats = channel.statistics
        XCTAssertEqual(stats.framesReceived, Int(count))
        XCTAssertGreaterThan(largest, ring, "some frames must be larger than the ring")
        XCTAssertGreaterThan(stats.wrappedRecords, 1000, "records must wrap around the ring end")
        XCTAssertGreaterThan(stats.fullRingWaits, 0, "the sender must hit a full ring")
        XCTAssertGreaterThan(stats.emptyRingWaits, 0, "the receiver must hit an empty ring")
        XCTAssertTrue(try segment.unlink())
        XCTAssertFalse(TestSupport.sharedMemoryFileExists(segment.name))
    }

    /// The peer generates seeded frames itself: this side verifies what a different process wrote from scratch.
    func testFramesGeneratedByThePeerArriveIntact() throws {
        #if DEBUG
        let count = 20_000
        #else
        let count = 300_000
        #endif
        let ring = 8 << 10
        let segment = try makeSegment("generate", ring: ring)
        let peer = try spawn(["generate", segment.name, "42", "\(count)", "\(ring)"])
        let channel = try RingChannel(segment: segment, peer: .pid(peer.pid))
        for index in 0..<UInt64(count) {
            let frame = try XCTUnwrap(channel.receive(deadline: .after(seconds: 30)), "frame \(index) missing")
            guard frame == TestPattern.frame(seed: 42, index: index, ringCapacity: ring) else {
                return XCTFail("frame \(index) differs (\(frame.payload.count) bytes)")
            }
        }
        try channel.send(Frame(type: 0, requestID: 0), deadline: .after(seconds: 5))
        XCTAssertEqual(peer.wait(), .exited(0))
    }

    /// SIGKILL of the reader while a 10 MiB send waits on the full ring: the sender learns within a second.
    func testSenderSeesPeerDiedWithinOneSecondOfSIGKILL() throws {
        let segment = try makeSegment("killsend", ring: 64 << 10)
        let peer = try spawn(["hang", segment.name])
        XCTAssertTrue(TestSupport.eventually(within: 10) { segment.attacherPID == peer.pid }, "peer never attached")
        let channel = try RingChannel(segment: segment, peer: .pid(peer.pid))
        let killedAt = Box<IPCDeadline?>(nil)
        let killer = TestSupport.background {
            usleep(300_000)
            killedAt.value = .now
            peer.signal(SIGKILL)
        }
        XCTAssertThrowsError(try channel.send(Frame(type: 1, requestID: 1, payload: [UInt8](repeating: 7, count: 10 << 20)),
                                              deadline: .after(seconds: 20))) {
            XCTAssertEqual($0 as? IPCError, .peerDied(pid: peer.pid))
        }
        let noticed = TestSupport.elapsedSeconds(since: try XCTUnwrap(killedAt.value))
        killer()
        XCTAssertLessThan(noticed, 1.0, "peer death noticed after \(noticed) s")
        XCTAssertEqual(peer.wait(), .signaled(SIGKILL))
    }

    /// SIGKILL of the writer in the middle of a stream: the reader drains what was published, then gets `peerDied`
    /// within a second instead of waiting for its deadline.
    func testReceiverSeesPeerDiedWithinOneSecondOfSIGKILLMidTransfer() throws {
        let ring = 16 << 10
        let segment = try makeSegment("killrecv", ring: ring)
        let peer = try spawn(["generate", segment.name, "7", "100000000", "\(ring)"])
        let channel = try RingChannel(segment: segment, peer: .pid(peer.pid))
        for index in 0..<UInt64(200) {
            let frame = try XCTUnwrap(channel.receive(deadline: .after(seconds: 30)))
            XCTAssertEqual(frame, TestPattern.frame(seed: 7, index: index, ringCapacity: ring))
        }
        peer.signal(SIGKILL)
        let killedAt = IPCDeadline.now
        var received = 200
        var outcome: IPCError?
        while outcome == nil {
            do {
                guard try channel.receive(deadline: .after(seconds: 20)) != nil else { break }
                received += 1
            } catch {
                outcome = error
            }
        }
        XCTAssertEqual(outcome, .peerDied(pid: peer.pid))
        let noticed = TestSupport.elapsedSeconds(since: killedAt)
        XCTAssertLessThan(noticed, 1.0, "peer death noticed after \(noticed) s (\(received) frames drained)")
        XCTAssertEqual(peer.wait(), .signaled(SIGKILL))
    }

    /// The worker's side: a process attached to a segment notices its creator's death within a second.
    func testAttacherSeesCreatorDiedWithinOneSecond() throws {
        let name = TestSupport.uniqueSegmentName("creator")
        names.append(name)
        let creator = try spawn(["hold", name])
        var probe: SharedMemorySegment?
        XCTAssertTrue(TestSupport.eventually(within: 10) {
            probe = try? SharedMemorySegment.attach(name: name)
            return probe != nil
        }, "creator never finished the segment")
        let segment = try XCTUnwrap(probe)
        XCTAssertEqual(segment.creatorPID, creator.pid)
        let watcher = try spawn(["expect-peer-death", name])
        XCTAssertTrue(TestSupport.eventually(within: 10) { segment.attacherPID == watcher.pid }, "watcher never attached")
        usleep(200_000)
        creator.signal(SIGKILL)
        let killedAt = IPCDeadline.now
        var result: SpawnedProcess.Termination?
        XCTAssertTrue(TestSupport.eventually(within: 5) {
            result = watcher.poll()
            return result != nil
        })
        let noticed = TestSupport.elapsedSeconds(since: killedAt)
        XCTAssertEqual(result, .exited(0), "the watcher must exit 0 on peerDied")
        XCTAssertLessThan(noticed, 1.0, "creator death noticed after \(noticed) s")
        XCTAssertEqual(creator.wait(), .signaled(SIGKILL))
        // The creator died without cleaning up, as a crashed orchestrator would: the name is still there until the
        // registry (or this test) unlinks it.
        XCTAssertTrue(TestSupport.sharedMemoryFileExists(name))
        XCTAssertTrue(try SharedMemorySegment.unlink(name: name))
        XCTAssertFalse(TestSupport.sharedMemoryFileExists(name))
    }

    /// A reader that stops reading makes the writer wait exactly until its deadline, never drop a frame.
    func testFullRingWaitsForTheDeadlineWhenThePeerStopsReading() throws {
        let segment = try makeSegment("full", ring: 16 << 10)
        let peer = try spawn(["hang", segment.name])
        XCTAssertTrue(TestSupport.eventually(within: 10) { segment.attacherPID == peer.pid })
        let channel = try RingChannel(segment: segment, peer: .pid(peer.pid))
        var accepted = 0
        while true {
            let start = IPCDeadline.now
            do {
                try channel.send(Frame(type: 1, requestID: UInt64(accepted), payload: [UInt8](repeating: 1, count: 2000)),
                                 deadline: .after(seconds: 0.3))
                accepted += 1
                XCTAssertEqual(channel.statistics.fullRingWaits, 0, "a send with room must not wait")
            } catch {
                let waited = TestSupport.elapsedSeconds(since: start)
                XCTAssertEqual(error, .timedOut)
                XCTAssertGreaterThanOrEqual(waited, 0.29)
                XCTAssertLessThan(waited, 1.0)
                break
            }
            XCTAssertLessThan(accepted, 100, "the ring never filled")
            if accepted >= 100 { break }
        }
        XCTAssertEqual(accepted, (16 << 10) / 2032, "exactly as many frames as fit")
        XCTAssertEqual(channel.statistics.fullRingWaits, 1)
        XCTAssertTrue(peer.poll() == nil, "the peer is still alive: the send timed out, it did not see a death")
    }

    /// After an orderly exchange and cleanup no name of the run is left in /dev/shm.
    func testNamesAreGoneFromDevShmAfterCleanup() throws {
        let names = IPCNames.random()
        var segments: [SharedMemorySegment] = []
        for worker in ["a", "b", "c"] {
            let name = try names.segmentName(worker: worker)
            self.names.append(name)
            segments.append(try SharedMemorySegment.create(name: name, requestRingCapacity: 4096, eventRingCapacity: 4096))
        }
        let peer = try spawn(["echo", segments[0].name])
        let channel = try RingChannel(segment: segments[0], peer: .pid(peer.pid))
        try channel.send(Frame(type: 2, requestID: 9, payload: [1, 2, 3]), deadline: .after(seconds: 10))
        XCTAssertEqual(try channel.receive(deadline: .after(seconds: 10)), Frame(type: 2, requestID: 9, payload: [1, 2, 3]))
        try channel.send(Frame(type: Self.stopType, requestID: 0), deadline: .after(seconds: 10))
        XCTAssertEqual(peer.wait(), .exited(0))
        let listed = try FileManager.default.contentsOfDirectory(atPath: "/dev/shm").filter { names.owns(fileName: $0) }
        XCTAssertEqual(listed.count, 3)
        for segment in segments { try segment.unlink() }
        let left = try FileManager.default.contentsOfDirectory(atPath: "/dev/shm").filter { names.owns(fileName: $0) }
        XCTAssertEqual(left, [])
    }
}
