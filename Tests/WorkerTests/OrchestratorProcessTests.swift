import Foundation
import XCTest

/// A real orchestrator process (`modelhost-supervise`, JSON lines on stdin/stdout) that tests can kill and restart.
final class SuperviseProcess {
    let process = Process()
    private let input = Pipe()
    private let output = Pipe()
    private let condition = NSCondition()
    private var lines: [[String: Any]] = []
    private var consumed = 0
    let stateDirectory: URL

    init(stateDirectory: URL, environment: [String: String] = [:], arguments: [String] = []) throws {
        self.stateDirectory = stateDirectory
        let fixture = try WorkerTestSupport.fixture()
        let modelhost = WorkerTestSupport.productsDirectory.appendingPathComponent("modelhost-supervise").path
        guard FileManager.default.isExecutableFile(atPath: modelhost) else {
            throw NSError(domain: "WorkerTests", code: 3, userInfo: [NSLocalizedDescriptionKey:
                "\(modelhost) is missing: build the package (scripts/build) before running these tests"])
        }
        process.executableURL = URL(fileURLWithPath: modelhost)
        process.arguments = ["--state-dir", stateDirectory.path, "--model", fixture.modelPath,
                             "--plugin-path", fixture.pluginDirectory, "--threads", "1", "--drain-timeout", "10",
                             "--cancel-grace", "0.5"] + arguments
        process.environment = ProcessInfo.processInfo.environment.merging(environment) { $1 }
        process.standardInput = input
        process.standardOutput = output
        // Diagnostics go to a file: an undrained stderr pipe is exactly the deadlock this work removes.
        let log = stateDirectory.appendingPathComponent("supervise-\(UUID().uuidString.prefix(6)).log")
        _ = FileManager.default.createFile(atPath: log.path, contents: nil)
        process.standardError = try FileHandle(forWritingTo: log)
        try process.run()
        let reader = Thread { [self] in readLines() }
        reader.start()
    }

    var pid: Int32 { process.processIdentifier }

    private func readLines() {
        let handle = output.fileHandleForReading
        var buffer = Data()
        while true {
            let chunk = handle.availableData
            if chunk.isEmpty { break }
            buffer.append(chunk)
            while let newline = buffer.firstIndex(of: 0x0A) {
                let line = buffer[buffer.startIndex..<newline]
                buffer.removeSubrange(buffer.startIndex...newline)
                if let object = try? JSONSerialization.jsonObject(with: line) as? [String: Any] {
                    condition.lock()
                    lines.append(object)
                    condition.broadcast()
                    condition.unlock()
                }
            }
        }
    }

    func send(_ object: [String: Any]) {
        var data = try! JSONSerialization.data(withJSONObject: object)
        data.append(0x0A)
        input.fileHandleForWriting.write(data)
    }

    /// The first line not yet returned that matches, waiting up to `timeout` seconds.
    func next(timeout: Double = 10, _ matches: ([String: Any]) -> Bool) -> [String: Any]? {
        let deadline = Date().addingTimeInterval(timeout)
        condition.lock()
        defer { condition.unlock() }
        while true {
            if let index = lines.indices.first(where: { matches(lines[$0]) }) {
                return lines.remove(at: index)
            }
            if !condition.wait(until: deadline) { return nil }
        }
    }

    func event(_ name: String, id: String? = nil, timeout: Double = 10) -> [String: Any]? {
        next(timeout: timeout) { $0["event"] as? String == name && (id == nil || $0["id"] as? String == id) }
    }

    /// The terminal line (done or error) of request `id`.
    func end(of id: String, timeout: Double = 10) -> [String: Any]? {
        next(timeout: timeout) { line in
            line["id"] as? String == id && ["done", "error"].contains(line["event"] as? String ?? "")
        }
    }

    func workerPID() -> Int32? { status()?.pid }

    /// The model's state and worker pid as `status` reports them.
    func status() -> (state: String, pid: Int32?)? {
        send(["op": "status"])
        guard let model = (event("status")?["models"] as? [[String: Any]])?.first,
              let state = model["state"] as? String else { return nil }
        return (state, (model["pid"] as? Int).map { Int32($0) })
    }

    func closeInput() { try? input.fileHandleForWriting.close() }
}

final class OrchestratorProcessTests: XCTestCase {
    typealias S = WorkerTestSupport

    func testKilledWorkerMidStreamFailsTheClientAndTheNextRequestSucceeds() throws {
        let state = try S.temporaryDirectory()
        let orchestrator = try SuperviseProcess(stateDirectory: state)
        XCTAssertNotNil(orchestrator.event("ready"))
        orchestrator.send(["op": "generate", "id": "long", "prompt": [S.stall, 20], "max_tokens": 4_000])
        XCTAssertNotNil(orchestrator.event("tokens", id: "long"))
        let pid = try XCTUnwrap(orchestrator.workerPID())
        let names = try S.registryContents(state).names
        XCTAssertEqual(names.count, 1)
        let started = Date()
        kill(pid, SIGKILL)
        let failure = try XCTUnwrap(orchestrator.end(of: "long", timeout: 5))
        XCTAssertLessThan(Date().timeIntervalSince(started), 2)
        XCTAssertEqual(failure["event"] as? String, "error")
        XCTAssertEqual(failure["code"] as? String, "workerCrashed")
        XCTAssertTrue((failure["message"] as? String ?? "").contains("SIGKILL"), "\(failure)")
        XCTAssertTrue(S.waitUntil(timeout: 2) { !S.hasProcEntry(pid) }, "worker \(pid) left a zombie")
        for name in names {
            XCTAssertFalse(FileManager.default.fileExists(atPath: "/dev/shm" + name), "\(name) leaked")
        }
        orchestrator.send(["op": "generate", "id": "next", "prompt": [S.echo, 40, 41], "max_tokens": 5,
                           "stop": [S.eos]])
        let done = try XCTUnwrap(orchestrator.end(of: "next"))
        XCTAssertEqual(done["event"] as? String, "done", "\(done)")
        orchestrator.send(["op": "shutdown"])
        XCTAssertNotNil(orchestrator.event("stopped"))
        orchestrator.process.waitUntilExit()
        XCTAssertEqual(orchestrator.process.terminationStatus, 0)
    }

    func testKilledOrchestratorTakesItsWorkerDownAndTheNextStartCleansUp() throws {
        let state = try S.temporaryDirectory()
        let first = try SuperviseProcess(stateDirectory: state)
        XCTAssertNotNil(first.event("ready"))
        first.send(["op": "load"])
        XCTAssertNotNil(first.event("loaded"))
        let pid = try XCTUnwrap(first.workerPID())
        let names = try S.registryContents(state).names
        kill(first.pid, SIGKILL)
        first.process.waitUntilExit()
        XCTAssertTrue(S.waitUntil(timeout: 2) { !S.isRunning(pid) }, "worker \(pid) outlived its orchestrator")
        let second = try SuperviseProcess(stateDirectory: state)
        XCTAssertNotNil(second.event("ready"))
        for name in names {
            XCTAssertFalse(FileManager.default.fileExists(atPath: "/dev/shm" + name), "\(name) survived the restart")
        }
        XCTAssertFalse(try S.registryContents(state).pids.contains(pid))
        second.closeInput()
        XCTAssertNotNil(second.event("stopped"))
        second.process.waitUntilExit()
    }

    /// With the parent-death signal disabled, a worker stuck in a kernel survives its orchestrator; the next
    /// orchestrator start finds it through the registry (pid + start time + marker) and kills it.
    func testOrphanWithoutParentDeathSignalIsReapedByTheNextStart() throws {
        let state = try S.temporaryDirectory()
        let first = try SuperviseProcess(stateDirectory: state, environment: ["MODELHOST_TEST_NO_PDEATHSIG": "1"])
        XCTAssertNotNil(first.event("ready"))
        first.send(["op": "generate", "id": "stuck", "prompt": [S.hang, 3_000], "max_tokens": 5])
        // Kill the orchestrator only once the request is in the worker's hands.
        var pid: Int32?
        XCTAssertTrue(S.waitUntil(timeout: 10) {
            let status = first.status()
            pid = status?.pid
            return status?.state == "busy(1)"
        })
        let worker = try XCTUnwrap(pid)
        let names = try S.registryContents(state).names
        Thread.sleep(forTimeInterval: 0.5)
        kill(first.pid, SIGKILL)
        first.process.waitUntilExit()
        Thread.sleep(forTimeInterval: 0.5)
        let stat = (try? String(contentsOfFile: "/proc/\(worker)/stat", encoding: .utf8)) ?? "(no /proc entry)"
        XCTAssertTrue(S.isRunning(worker), "the test needs an orphan: the worker should still run; stat: \(stat)")
        let second = try SuperviseProcess(stateDirectory: state)
        let ready = try XCTUnwrap(second.event("ready"))
        XCTAssertEqual(ready["reaped"] as? [Int], [Int(worker)])
        XCTAssertTrue(S.waitUntil(timeout: 2) { !S.isRunning(worker) })
        for name in names {
            XCTAssertFalse(FileManager.default.fileExists(atPath: "/dev/shm" + name), "\(name) survived the reaping")
        }
        second.closeInput()
        XCTAssertNotNil(second.event("stopped"))
        second.process.waitUntilExit()
    }

    func testSigtermDrainsInFlightWorkThenStopsWorkersAndCleansUp() throws {
        let state = try S.temporaryDirectory()
        let orchestrator = try SuperviseProcess(stateDirectory: state)
        XCTAssertNotNil(orchestrator.event("ready"))
        orchestrator.send(["op": "generate", "id": "inflight", "prompt": [S.stall, 20], "max_tokens": 40])
        XCTAssertNotNil(orchestrator.event("tokens", id: "inflight"))
        let pid = try XCTUnwrap(orchestrator.workerPID())
        let names = try S.registryContents(state).names
        kill(orchestrator.pid, SIGTERM)
        Thread.sleep(forTimeInterval: 0.2)
        orchestrator.send(["op": "generate", "id": "late", "prompt": [S.echo, 3], "max_tokens": 2])
        let refused = try XCTUnwrap(orchestrator.end(of: "late"))
        XCTAssertEqual(refused["code"] as? String, "shuttingDown", "\(refused)")
        let drained = try XCTUnwrap(orchestrator.end(of: "inflight", timeout: 15))
        XCTAssertEqual(drained["event"] as? String, "done", "\(drained)")
        XCTAssertEqual(drained["completion_tokens"] as? Int, 40)
        XCTAssertNotNil(orchestrator.event("stopped"))
        orchestrator.process.waitUntilExit()
        XCTAssertEqual(orchestrator.process.terminationStatus, 0)
        XCTAssertFalse(S.isRunning(pid))
        for name in names { XCTAssertFalse(FileManager.default.fileExists(atPath: "/dev/shm" + name)) }
        let registry = try S.registryContents(state)
        XCTAssertEqual(registry.pids, [])
        XCTAssertEqual(registry.roots, [])
    }

    func testIPCBenchPrintsFiguresBesideTheUnixSocketBaseline() throws {
        // A test-and-benchmark executable of its own, not part of the production binary.
        let r = try S.run(S.productsDirectory.appendingPathComponent("ipc-bench").path,
                          ["--round-trips", "2000", "--bulk-messages", "32"])
        // 1 only says the targets were missed (a loaded machine); the figures must be there either way.
        XCTAssertTrue([0, 1].contains(r.status), r.output)
        for needle in ["shared-memory ring", "unix socket", "p50", "p99", "GiB/s", "ratio"] {
            XCTAssertTrue(r.output.contains(needle), "missing \(needle):\n\(r.output)")
        }
        print(r.output)
    }
}
