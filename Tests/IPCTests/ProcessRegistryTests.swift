import Foundation
import Glibc
import IPC
import ProcessRegistry
import XCTest

final class ProcessRegistryTests: XCTestCase {
    private var directory = ""
    private var children: [SpawnedProcess] = []
    private var names: [String] = []

    override func setUpWithError() throws {
        directory = NSTemporaryDirectory() + "mh-registry-\(getpid())-\(UInt32.random(in: 0...UInt32.max))"
    }

    override func tearDown() {
        for child in children {
            child.signal(SIGKILL)
            child.wait()
        }
        for name in names { _ = try? SharedMemorySegment.unlink(name: name) }
        try? FileManager.default.removeItem(atPath: directory)
        children = []
        names = []
    }

    private func spawnSleeper(marker: String) throws -> SpawnedProcess {
        let child = try SpawnedProcess.spawn(
            executable: "/bin/sleep", arguments: ["60"],
            environment: ["PATH": "/usr/bin:/bin", ProcessIdentity.markerEnvironmentKey: marker])
        children.append(child)
        // Wait for exec: until then /proc/<pid>/environ is still the parent's.
        XCTAssertTrue(TestSupport.eventually(within: 5) {
            (try? ProcessIdentity.environmentValue(of: child.pid, key: ProcessIdentity.markerEnvironmentKey)) == marker
        })
        return child
    }

    private func makeSegmentName(_ names: IPCNames, _ worker: String) throws -> String {
        let name = try names.segmentName(worker: worker)
        self.names.append(name)
        _ = try SharedMemorySegment.create(name: name, requestRingCapacity: 4096, eventRingCapacity: 4096)
        return name
    }

    private func isRunning(_ pid: Int32) -> Bool { ProcessIdentity.startTime(of: pid) != nil }

    func testReapKillsOnlyExactMatchesAndUnlinksEveryRecordedName() throws {
        let ipc = IPCNames.random()
        let first = try ProcessRegistry(stateDirectory: directory)
        try first.addRoot(ipc.root)

        let orphan = try spawnSleeper(marker: "marker-orphan")
        let reused = try spawnSleeper(marker: "marker-reused")
        let stranger = try spawnSleeper(marker: "marker-stranger")
        let exited = try SpawnedProcess.spawn(executable: "/bin/true", arguments: [])
        XCTAssertEqual(exited.wait(), .exited(0))

        let orphanIdentity = try ProcessIdentity.capture(pid: orphan.pid, marker: "marker-orphan")
        var reusedIdentity = try ProcessIdentity.capture(pid: reused.pid, marker: "marker-reused")
        reusedIdentity.startTime += 1  // same pid, different start time: the pid was reused
        let strangerIdentity = ProcessIdentity(
            pid: stranger.pid, startTime: ProcessIdentity.startTime(of: stranger.pid) ?? 0, marker: "marker-other")
        let goneIdentity = ProcessIdentity(pid: exited.pid, startTime: 12345, marker: "marker-gone")
        let records = [
            WorkerRecord(identity: orphanIdentity, modelID: "m1", sharedMemoryNames: [try makeSegmentName(ipc, "w1")]),
            WorkerRecord(identity: reusedIdentity, modelID: "m2", sharedMemoryNames: [try makeSegmentName(ipc, "w2")]),
            WorkerRecord(identity: strangerIdentity, modelID: "m3", sharedMemoryNames: [try makeSegmentName(ipc, "w3")]),
            WorkerRecord(identity: goneIdentity, modelID: "m4", sharedMemoryNames: [try makeSegmentName(ipc, "w4")]),
        ]
        for record in records { try first.register(record) }
        // A segment created before its worker was registered: only the root sweep finds it.
        let unregistered = try makeSegmentName(ipc, "unregistered")
        first.close()  // the orchestrator "crashes"

        let second = try ProcessRegistry(stateDirectory: directory)
        XCTAssertEqual(second.workers, records)
        let report = try second.reapOrphans()

        XCTAssertEqual(report.killed, [orphan.pid])
        XCTAssertFalse(isRunning(orphan.pid), "the orphan must be gone, not left as a zombie")
        XCTAssertTrue(isRunning(reused.pid), "a reused pid must be left alone")
        XCTAssertTrue(isRunning(stranger.pid), "a process without the marker must be left alone")
        XCTAssertEqual(report.spared.map(\.pid), [reused.pid, stranger.pid, exited.pid])
        XCTAssertTrue(report.spared[0].reason.contains("reused"), report.spared[0].reason)
        XCTAssertTrue(report.spared[1].reason.contains("marker"), report.spared[1].reason)
        XCTAssertEqual(report.problems, [])
        XCTAssertEqual(Set(report.unlinkedNames), Set(records.flatMap(\.sharedMemoryNames) + [unregistered]))
        for name in records.flatMap(\.sharedMemoryNames) + [unregistered] {
            XCTAssertFalse(TestSupport.sharedMemoryFileExists(name), name)
        }
        XCTAssertEqual(second.workers, [])
        XCTAssertEqual(second.roots, [])
        second.close()
        let third = try ProcessRegistry(stateDirectory: directory)
        XCTAssertEqual(third.workers, [], "the emptied registry must be what is on disk")
    }

    func testSecondInstanceIsRefusedWithTheHoldersPid() throws {
        let first = try ProcessRegistry(stateDirectory: directory)
        XCTAssertThrowsError(try ProcessRegistry(stateDirectory: directory)) { error in
            XCTAssertEqual(error as? RegistryError,
                           .alreadyRunning(pid: getpid(), lockFile: directory + "/orchestrator.lock"))
            XCTAssertTrue("\(error)".contains("process \(getpid())"))
        }
        first.close()
        XCTAssertNoThrow(try ProcessRegistry(stateDirectory: directory))
    }

    /// A fresh machine has no `~/.local/state`: every missing parent is created, each private to the user; a path
    /// through a file is refused with the path that failed.
    func testStateDirectoryIsCreatedWithItsParents() throws {
        let nested = directory + "/home/.local/state/modelhost"
        let registry = try ProcessRegistry(stateDirectory: nested)
        registry.close()
        for path in [directory + "/home", directory + "/home/.local", nested] {
            var info = stat()
            XCTAssertEqual(stat(path, &info), 0, path)
            XCTAssertEqual(info.st_mode & S_IFMT, S_IFDIR, path)
            XCTAssertEqual(info.st_mode & 0o777, 0o700, path)
        }
        XCTAssertNoThrow(try ProcessRegistry(stateDirectory: nested + "/").close(), "an existing directory is fine")
        FileManager.default.createFile(atPath: directory + "/file", contents: Data())
        XCTAssertThrowsError(try ProcessRegistry(stateDirectory: directory + "/file/state")) { error in
            XCTAssertTrue("\(error)".contains(directory + "/file"), "\(error)")
        }
    }

    /// A temporary left by a writer that died mid-write is removed at the next start (the lock proves no writer
    /// remains); after `close()` no write can start, so an exit cannot cut one off.
    func testTemporariesAreSweptAndClosedRegistriesRefuseWrites() throws {
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        let stale = directory + "/.workers.json.tmp-12345-abcd"
        FileManager.default.createFile(atPath: stale, contents: Data("{".utf8))
        FileManager.default.createFile(atPath: directory + "/unrelated.tmp-1", contents: Data())
        let registry = try ProcessRegistry(stateDirectory: directory)
        XCTAssertFalse(FileManager.default.fileExists(atPath: stale))
        XCTAssertTrue(FileManager.default.fileExists(atPath: directory + "/unrelated.tmp-1"))
        try registry.addRoot("abc")
        registry.close()
        XCTAssertThrowsError(try registry.unregister(pid: 1)) { error in
            XCTAssertTrue("\(error)".contains("closed"), "\(error)")
        }
        let left = try FileManager.default.contentsOfDirectory(atPath: directory)
        XCTAssertEqual(left.filter { $0.contains(".tmp-") && $0.hasPrefix(".workers") }, [])
    }

    func testRecordsSurviveARestart() throws {
        let first = try ProcessRegistry(stateDirectory: directory)
        let record = WorkerRecord(
            identity: ProcessIdentity(pid: 4242, startTime: 99, marker: "abc"), modelID: "smollm2",
            sharedMemoryNames: ["/mh-0123456789abcdef-w"])
        try first.register(record)
        try first.addRoot("0123456789abcdef")
        first.close()
        let second = try ProcessRegistry(stateDirectory: directory)
        XCTAssertEqual(second.workers, [record])
        XCTAssertEqual(second.roots, ["0123456789abcdef"])
        try second.unregister(pid: 4242)
        XCTAssertEqual(second.workers, [])
        XCTAssertThrowsError(try second.register(WorkerRecord(
            identity: record.identity, modelID: "x", sharedMemoryNames: ["/../etc"])))
        XCTAssertThrowsError(try second.addRoot("../x"))
    }

    /// A reader polling the file while a writer replaces it thousands of times with contents of very different sizes
    /// must always parse a complete document.
    func testAtomicWriteNeverExposesAPartialFile() throws {
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        let path = directory + "/doc.json"
        func document(_ n: Int) -> [UInt8] {
            Array(("[" + (0..<n).map { "\"entry-\($0)-\(String(repeating: "x", count: 40))\"" }.joined(separator: ",") + "]").utf8)
        }
        let small = document(1)
        let large = document(20_000)  // about 1 MB
        try AtomicFile.write(small, to: path)
        #if DEBUG
        let rounds = 200
        #else
        let rounds = 1000
        #endif
        let stop = Box(false)
        let reads = Box(0)
        let torn = Box<[Int]>([])
        let reader = TestSupport.background {
            while !stop.value {
                guard let bytes = try? AtomicFile.read(path) else { continue }
                reads.value += 1
                if bytes != small && bytes != large { torn.value.append(bytes.count) }
            }
        }
        for round in 0..<rounds { try AtomicFile.write(round % 2 == 0 ? large : small, to: path) }
        stop.value = true
        reader()
        XCTAssertEqual(torn.value, [], "partial files of these sizes were observed")
        XCTAssertGreaterThan(reads.value, 10)
        let leftovers = try FileManager.default.contentsOfDirectory(atPath: directory).filter { $0 != "doc.json" }
        XCTAssertEqual(leftovers, [], "temporary files must not be left behind")
    }

    func testCorruptRegistryIsMovedAsideNotTrusted() throws {
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        try AtomicFile.write(Array("{\"version\": 1, \"workers\": [".utf8), to: directory + "/workers.json")
        let registry = try ProcessRegistry(stateDirectory: directory)
        let quarantined = try XCTUnwrap(registry.quarantined)
        XCTAssertTrue(FileManager.default.fileExists(atPath: quarantined.path))
        XCTAssertFalse(FileManager.default.fileExists(atPath: directory + "/workers.json"))
        XCTAssertEqual(registry.workers, [])
    }

    func testIdentityComesFromProcStatAndEnviron() throws {
        let child = try spawnSleeper(marker: "marker-42")
        let identity = try ProcessIdentity.capture(pid: child.pid, marker: "marker-42")
        XCTAssertNil(identity.mismatch())
        XCTAssertGreaterThan(identity.startTime, try XCTUnwrap(ProcessIdentity.startTime(of: getpid())) - 1)
        var wrong = identity
        wrong.marker = "marker-43"
        XCTAssertNotNil(wrong.mismatch())
        XCTAssertEqual(ProcessIdentity.newMarker().count, 32)
        XCTAssertNotEqual(ProcessIdentity.newMarker(), ProcessIdentity.newMarker())
    }
}
