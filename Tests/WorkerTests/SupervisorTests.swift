import Foundation
import IPC
import Supervisor
import WorkerProtocol
import XCTest

/// The supervisor API driving real `modelhost-worker` processes that load the test plugin.
final class SupervisorTests: XCTestCase {
    typealias S = WorkerTestSupport

    private func makeSupervisor(_ change: (inout SupervisorConfiguration) -> Void = { _ in }) throws
        -> (Supervisor, URL)
    {
        let state = try S.temporaryDirectory()
        var configuration = try S.configuration(stateDirectory: state)
        change(&configuration)
        return (try Supervisor(configuration: configuration), state)
    }

    /// Shuts down and checks that nothing of the run is left: no worker, no name, no registry entry.
    private func shutdownAndCheckClean(_ supervisor: Supervisor, _ state: URL, pids: [Int32]) async throws {
        await supervisor.shutdown(drainTimeout: 5)
        for pid in pids { XCTAssertFalse(S.hasProcEntry(pid), "worker \(pid) still has a /proc entry") }
        XCTAssertEqual(S.sharedMemoryFiles(prefix: supervisor.sharedMemoryPrefix), [])
        let registry = try S.registryContents(state)
        XCTAssertEqual(registry.pids, [])
        XCTAssertEqual(registry.roots, [])
    }

    private func workerPID(_ supervisor: Supervisor) async -> Int32? {
        await supervisor.status().first?.workerPID
    }

    private func requirePID(_ supervisor: Supervisor) async throws -> Int32 {
        let pid = await workerPID(supervisor)
        return try XCTUnwrap(pid, "no worker is running")
    }

    /// Workers see only the listed variables: the kernels' AVX2 switch passes, secrets do not.
    func testWorkersInheritTheKernelSwitchButNotSecrets() {
        let inherited = WorkerEnvironment.inherited(from: ["MODELHOST_NO_AVX512": "1", "MODELHOST_API_KEYS": "k",
                                                           "PATH": "/bin", "AWS_SECRET_ACCESS_KEY": "s"])
        XCTAssertEqual(inherited, ["MODELHOST_NO_AVX512": "1", "PATH": "/bin"])
    }

    func testEchoStreamsTokensAndFinishesWithStop() async throws {
        let (supervisor, state) = try makeSupervisor()
        let info = try await supervisor.load(model: "test")
        XCTAssertEqual(info.pluginID, "org.modelhost.test.worker")
        XCTAssertEqual(info.eosTokenID, S.eos)
        let outcome = await S.collect(supervisor.generate(model: "test", request: GenerateRequest(
            promptTokens: [S.echo, 20, 21, 22], maxTokens: 10, stopTokens: [S.eos])))
        XCTAssertNil(outcome.error)
        XCTAssertEqual(outcome.tokens, [20, 21, 22])
        XCTAssertEqual(outcome.completion, Completion(finishReason: .stop, promptTokens: 4, completionTokens: 3))
        let length = await S.collect(supervisor.generate(model: "test", request: GenerateRequest(
            promptTokens: [S.echo, 20, 21, 22], maxTokens: 2, stopTokens: [S.eos])))
        XCTAssertEqual(length.tokens, [20, 21])
        XCTAssertEqual(length.completion?.finishReason, .length)
        let bad = await S.collect(supervisor.generate(model: "test", request: GenerateRequest(
            promptTokens: [S.echo, 99_999], maxTokens: 2)))
        guard case .requestFailed(let failure) = bad.error as? SupervisorError else {
            return XCTFail("expected a bad-request failure, got \(String(describing: bad.error))")
        }
        XCTAssertEqual(failure.category, .badRequest)
        XCTAssertTrue(failure.message.contains("99999"), failure.message)
        let unknown = await S.collect(supervisor.generate(model: "nope", request: GenerateRequest(
            promptTokens: [1], maxTokens: 1)))
        XCTAssertEqual(unknown.error as? SupervisorError, .unknownModel("nope"))
        let pid = try await requirePID(supervisor)
        try await shutdownAndCheckClean(supervisor, state, pids: [pid])
    }

    /// kill -9 of a worker in the middle of a streamed generation.
    func testKilledWorkerFailsItsStreamFastAndTheNextRequestGetsAFreshWorker() async throws {
        let (supervisor, state) = try makeSupervisor()
        var iterator = supervisor.generate(model: "test", request: GenerateRequest(
            promptTokens: [S.stall, 20], maxTokens: 4_000)).makeAsyncIterator()
        guard case .accepted = try await iterator.next() else { return XCTFail("expected the request to be accepted") }
        guard case .delta = try await iterator.next() else { return XCTFail("expected streamed tokens first") }
        let pid = try await requirePID(supervisor)
        let started = Date()
        kill(pid, SIGKILL)
        var failure: Error?
        do {
            while let _ = try await iterator.next() {}
        } catch {
            failure = error
        }
        let elapsed = Date().timeIntervalSince(started)
        XCTAssertLessThan(elapsed, 2, "the client learned of the crash after \(elapsed) s")
        guard case .workerCrashed(_, let crashedPID, let termination) = failure as? SupervisorError else {
            return XCTFail("expected workerCrashed, got \(String(describing: failure))")
        }
        XCTAssertEqual(crashedPID, pid)
        XCTAssertTrue(termination.contains("SIGKILL"), termination)
        XCTAssertTrue(S.waitUntil(timeout: 2) { !S.hasProcEntry(pid) }, "worker \(pid) left a zombie")
        XCTAssertTrue(S.waitUntil(timeout: 2) { S.sharedMemoryFiles(prefix: supervisor.sharedMemoryPrefix).isEmpty })
        XCTAssertTrue(S.waitUntil(timeout: 2) { (try? S.registryContents(state).pids) == [] })

        let next = await S.collect(supervisor.generate(model: "test", request: GenerateRequest(
            promptTokens: [S.echo, 30], maxTokens: 4, stopTokens: [S.eos])))
        XCTAssertNil(next.error)
        XCTAssertEqual(next.tokens, [30])
        let fresh = try await requirePID(supervisor)
        XCTAssertNotEqual(fresh, pid)
        try await shutdownAndCheckClean(supervisor, state, pids: [pid, fresh])
    }

    func testCrashesNameTheSignalAndACrashLoopBacksOff() async throws {
        let (supervisor, state) = try makeSupervisor {
            $0.crashLoopThreshold = 2
            $0.crashBaseBackoff = 30
        }
        let segv = await S.collect(supervisor.generate(model: "test", request: GenerateRequest(
            promptTokens: [S.segv, 1], maxTokens: 10)))
        XCTAssertEqual(segv.tokens, [12], "the first token is streamed at once, before the crash")
        guard case .workerCrashed(_, _, let first) = segv.error as? SupervisorError else {
            return XCTFail("expected workerCrashed, got \(String(describing: segv.error))")
        }
        XCTAssertTrue(first.contains("SIGSEGV"), first)
        let abort = await S.collect(supervisor.generate(model: "test", request: GenerateRequest(
            promptTokens: [S.abort, 0], maxTokens: 10)))
        guard case .workerCrashed(_, _, let second) = abort.error as? SupervisorError else {
            return XCTFail("expected workerCrashed, got \(String(describing: abort.error))")
        }
        XCTAssertTrue(second.contains("SIGABRT"), second)
        let started = Date()
        let refused = await S.collect(supervisor.generate(model: "test", request: GenerateRequest(
            promptTokens: [S.echo, 5], maxTokens: 2)))
        guard case .crashLoop(_, let crashes, let retry, let last) = refused.error as? SupervisorError else {
            return XCTFail("expected crashLoop, got \(String(describing: refused.error))")
        }
        XCTAssertLessThan(Date().timeIntervalSince(started), 1, "a backed-off model must refuse at once")
        XCTAssertEqual(crashes, 2)
        XCTAssertGreaterThan(retry, 20)
        XCTAssertTrue(last.contains("SIGABRT"), last)
        XCTAssertTrue("\(refused.error!)".contains("backing off"), "\(refused.error!)")
        let currentState = await supervisor.state(of: "test")
        XCTAssertEqual(currentState, .absent)
        try await shutdownAndCheckClean(supervisor, state, pids: [])
    }

    /// A request past its deadline is cancelled; a worker that does not stop (stuck in a kernel) is killed.
    func testDeadlinesCancelThenKill() async throws {
        let (supervisor, state) = try makeSupervisor()
        let cancellable = await S.collect(supervisor.generate(
            model: "test", request: GenerateRequest(promptTokens: [S.stall, 20], maxTokens: 4_000),
            options: GenerateOptions(timeout: 0.3)))
        XCTAssertEqual(cancellable.error as? SupervisorError,
                       .deadlineExceeded(model: "test", seconds: 0.3, workerKilled: false))
        let survivor = try await requirePID(supervisor)
        XCTAssertTrue(S.isRunning(survivor), "a worker that honoured the cancel keeps running")

        let started = Date()
        let stuck = await S.collect(supervisor.generate(
            model: "test", request: GenerateRequest(promptTokens: [S.hang, 400], maxTokens: 10),
            options: GenerateOptions(timeout: 0.3)))
        let elapsed = Date().timeIntervalSince(started)
        XCTAssertEqual(stuck.error as? SupervisorError,
                       .deadlineExceeded(model: "test", seconds: 0.3, workerKilled: true))
        XCTAssertLessThan(elapsed, 3, "deadline + cancel grace + kill took \(elapsed) s")
        XCTAssertTrue(S.waitUntil(timeout: 2) { !S.hasProcEntry(survivor) })

        let next = await S.collect(supervisor.generate(model: "test", request: GenerateRequest(
            promptTokens: [S.echo, 7], maxTokens: 3, stopTokens: [S.eos])))
        XCTAssertEqual(next.tokens, [7])
        try await shutdownAndCheckClean(supervisor, state, pids: [survivor])
    }

    /// A client that goes away cancels its request in the worker within a step (with one slot, the next request
    /// can only run once the cancelled sequence is gone).
    func testClientCancellationFreesTheWorkerSlot() async throws {
        let (supervisor, state) = try makeSupervisor { $0.models[0].maxSequences = 1 }
        let consumer = Task {
            await S.collect(supervisor.generate(model: "test", request: GenerateRequest(
                promptTokens: [S.stall, 20], maxTokens: 4_000)))
        }
        let deadline = Date().addingTimeInterval(10)
        while await supervisor.state(of: "test")?.inFlight != 1, Date() < deadline {
            try await Task.sleep(nanoseconds: 10_000_000)
        }
        let currentState = await supervisor.state(of: "test")
        XCTAssertEqual(currentState, .busy(inFlight: 1))
        try await Task.sleep(nanoseconds: 100_000_000)
        consumer.cancel()
        _ = await consumer.value
        let started = Date()
        let next = await S.collect(supervisor.generate(model: "test", request: GenerateRequest(
            promptTokens: [S.echo, 9], maxTokens: 3, stopTokens: [S.eos])))
        XCTAssertEqual(next.tokens, [9])
        XCTAssertLessThan(Date().timeIntervalSince(started), 2)
        let pid = try await requirePID(supervisor)
        try await shutdownAndCheckClean(supervisor, state, pids: [pid])
    }

    /// A hung worker is replaced whichever side gives up first: here the client leaves (as the HTTP side does at its
    /// own deadline) and the worker ignores the cancel, so it is killed after the cancel grace and the next request
    /// is served by a fresh worker instead of queueing behind the hung one.
    func testAWorkerIgnoringAClientsCancelIsKilledAndReplaced() async throws {
        let (supervisor, state) = try makeSupervisor { $0.cancelGrace = 0.5 }
        let consumer = Task {
            await S.collect(supervisor.generate(model: "test", request: GenerateRequest(
                promptTokens: [S.hang, 400], maxTokens: 10)))
        }
        let deadline = Date().addingTimeInterval(10)
        while await supervisor.state(of: "test")?.inFlight != 1, Date() < deadline {
            try await Task.sleep(nanoseconds: 10_000_000)
        }
        let hung = try await requirePID(supervisor)
        try await Task.sleep(nanoseconds: 100_000_000)
        let gaveUp = Date()
        consumer.cancel()
        _ = await consumer.value
        XCTAssertTrue(S.waitUntil(timeout: 3) { !S.hasProcEntry(hung) }, "the hung worker was not killed")
        XCTAssertLessThan(Date().timeIntervalSince(gaveUp), 2.5)
        let next = await S.collect(supervisor.generate(model: "test", request: GenerateRequest(
            promptTokens: [S.echo, 5], maxTokens: 3, stopTokens: [S.eos]), options: GenerateOptions(timeout: 5)))
        XCTAssertEqual(next.tokens, [5])
        let fresh = try await requirePID(supervisor)
        XCTAssertNotEqual(fresh, hung)
        try await shutdownAndCheckClean(supervisor, state, pids: [hung, fresh])
    }

    /// A stopped worker (SIGSTOP) answers no ping: it is killed as hung within the liveness timeout. The request it
    /// was answering ends with a crash error; the one it had taken but not started runs on the replacement.
    func testAStoppedWorkerIsReplacedAndItsUnstartedRequestRunsOnTheNewOne() async throws {
        let (supervisor, state) = try makeSupervisor {
            $0.livenessTimeout = 1
            $0.livenessInterval = 0.2
        }
        var first = supervisor.generate(model: "test", request: GenerateRequest(
            promptTokens: [S.stall, 20], maxTokens: 4_000)).makeAsyncIterator()
        while true {
            guard case .delta = try await first.next() else { continue }
            break
        }
        let stopped = try await requirePID(supervisor)
        kill(stopped, SIGSTOP)
        let sent = Date()
        let second = await S.collect(supervisor.generate(model: "test", request: GenerateRequest(
            promptTokens: [S.echo, 7], maxTokens: 3, stopTokens: [S.eos]), options: GenerateOptions(timeout: 10)))
        XCTAssertNil(second.error)
        XCTAssertEqual(second.tokens, [7], "the queued request was not run on the replacement")
        XCTAssertLessThan(Date().timeIntervalSince(sent), 4)
        do {
            while try await first.next() != nil {}
            XCTFail("the stream of the stopped worker ended without an error")
        } catch {
            guard case .workerCrashed = error as? SupervisorError else { return XCTFail("\(error)") }
        }
        XCTAssertFalse(S.hasProcEntry(stopped))
        let fresh = try await requirePID(supervisor)
        XCTAssertNotEqual(fresh, stopped)
        try await shutdownAndCheckClean(supervisor, state, pids: [stopped, fresh])
    }

    func testIdleUnloadStopsTheWorkerThroughTheCleanupPath() async throws {
        let (supervisor, state) = try makeSupervisor { $0.idleUnloadAfter = 0.5 }
        let outcome = await S.collect(supervisor.generate(model: "test", request: GenerateRequest(
            promptTokens: [S.echo, 4], maxTokens: 3, stopTokens: [S.eos])))
        XCTAssertEqual(outcome.tokens, [4])
        let pid = try await requirePID(supervisor)
        try await Task.sleep(nanoseconds: 1_500_000_000)
        let currentState = await supervisor.state(of: "test")
        XCTAssertEqual(currentState, .absent)
        XCTAssertFalse(S.hasProcEntry(pid))
        XCTAssertEqual(S.sharedMemoryFiles(prefix: supervisor.sharedMemoryPrefix), [])
        XCTAssertEqual(try S.registryContents(state).pids, [])
        // Explicit unload goes the same way; the next request loads again.
        let again = await S.collect(supervisor.generate(model: "test", request: GenerateRequest(
            promptTokens: [S.echo, 5], maxTokens: 3, stopTokens: [S.eos])))
        XCTAssertEqual(again.tokens, [5])
        let second = try await requirePID(supervisor)
        await supervisor.unload(model: "test")
        let unloadedState = await supervisor.state(of: "test")
        XCTAssertEqual(unloadedState, .absent)
        XCTAssertFalse(S.hasProcEntry(second))
        try await shutdownAndCheckClean(supervisor, state, pids: [pid, second])
    }

    /// 1,000 sequential requests, then 200 from 16 concurrent clients, through one worker: zero failures, flat
    /// memory, and the concurrent ones decoded in shared forward calls.
    func testThousandSequentialAndConcurrentRequestsThroughOneWorker() async throws {
        let (supervisor, state) = try makeSupervisor()
        let echo = GenerateRequest(promptTokens: [S.echo, 20, 21, 22, 23], maxTokens: 8, stopTokens: [S.eos])
        for _ in 0..<50 { _ = await S.collect(supervisor.generate(model: "test", request: echo)) }
        let pid = try await requirePID(supervisor)
        let workerBefore = S.residentKilobytes(pid)
        let selfBefore = S.residentKilobytes(getpid())
        var failures = 0
        let sequentialStart = Date()
        for i in 0..<1000 {
            let outcome = await S.collect(supervisor.generate(model: "test", request: echo))
            if outcome.error != nil || outcome.tokens != [20, 21, 22, 23] || outcome.completion?.finishReason != .stop {
                failures += 1
                if failures < 5 { XCTFail("sequential request \(i): \(outcome)") }
            }
        }
        XCTAssertEqual(failures, 0)
        let sequentialSeconds = Date().timeIntervalSince(sequentialStart)

        let stalled = GenerateRequest(promptTokens: [S.stall, 2], maxTokens: 5)
        let concurrentFailures = await withTaskGroup(of: Int.self) { group in
            for client in 0..<16 {
                group.addTask {
                    var failed = 0
                    for _ in stride(from: client, to: 200, by: 16) {
                        let outcome = await S.collect(supervisor.generate(model: "test", request: stalled))
                        if outcome.error != nil || outcome.tokens != [10, 10, 10, 10, 10] { failed += 1 }
                    }
                    return failed
                }
            }
            return await group.reduce(0, +)
        }
        XCTAssertEqual(concurrentFailures, 0)
        let stats = await S.collect(supervisor.generate(model: "test", request: GenerateRequest(
            promptTokens: [S.stats], maxTokens: 2, stopTokens: [S.eos])))
        let widest = try XCTUnwrap(stats.tokens.first)
        XCTAssertGreaterThan(widest, 1, "concurrent requests were never decoded in one forward call")
        let finalPID = try await requirePID(supervisor)
        XCTAssertEqual(finalPID, pid, "all requests went through one worker")

        let workerGrowth = S.residentKilobytes(pid) - workerBefore
        let selfGrowth = S.residentKilobytes(getpid()) - selfBefore
        print("worker RSS \(workerBefore) -> \(workerBefore + workerGrowth) KiB; orchestrator (test process) RSS "
            + "\(selfBefore) -> \(selfBefore + selfGrowth) KiB; widest forward call \(widest) sequences; "
            + "1000 sequential requests in \(String(format: "%.2f", sequentialSeconds)) s")
        XCTAssertLessThan(workerGrowth, 8 * 1024, "worker RSS grew by \(workerGrowth) KiB")
        XCTAssertLessThan(selfGrowth, 32 * 1024, "orchestrator RSS grew by \(selfGrowth) KiB")
        try await shutdownAndCheckClean(supervisor, state, pids: [pid])
    }

    func testWorkerAllocationsAreAccountedAndReleased() async throws {
        let (supervisor, state) = try makeSupervisor()
        // Outside the prefix cache, which would otherwise keep the finished sequence (and its memory) for reuse.
        var request = GenerateRequest(promptTokens: [S.allocate, 64], maxTokens: 4, stopTokens: [S.eos])
        request.reusePrefix = false
        let outcome = await S.collect(supervisor.generate(model: "test", request: request))
        XCTAssertNil(outcome.error)
        XCTAssertEqual(outcome.tokens, [11])
        let pid = try await requirePID(supervisor)
        XCTAssertLessThan(S.residentKilobytes(pid), 64 * 1024, "the 64 MiB of a finished sequence were not freed")
        try await shutdownAndCheckClean(supervisor, state, pids: [pid])
    }

    /// Two models that do not fit the memory budget together: loading one unloads the other while it is idle,
    /// least recently used first; a model registered after start-up is served too.
    func testMemoryBudgetEvictsTheLeastRecentlyUsedIdleModel() async throws {
        let (supervisor, state) = try makeSupervisor { configuration in
            configuration.models[0].estimatedBytes = 100
            configuration.memoryBudgetBytes = 150
        }
        var second = try S.configuration(stateDirectory: state).models[0]
        second.id = "second"
        second.estimatedBytes = 100
        await supervisor.register(second)
        func pid(_ model: String) async -> Int32? { await supervisor.status().first { $0.id == model }?.workerPID }
        // A request's end reaches the supervisor just after its stream ends: wait until the model is idle again.
        func idle(_ model: String) async throws {
            var polls = 0
            while await supervisor.state(of: model) != .ready, polls < 200 {
                try await Task.sleep(nanoseconds: 10_000_000)
                polls += 1
            }
        }

        let one = await S.collect(supervisor.generate(model: "test", request: GenerateRequest(promptTokens: [S.echo, 3], maxTokens: 1)))
        XCTAssertNil(one.error)
        try await idle("test")
        let loadedFirst = await pid("test")
        let firstPID = try XCTUnwrap(loadedFirst)
        let two = await S.collect(supervisor.generate(model: "second", request: GenerateRequest(promptTokens: [S.echo, 4], maxTokens: 1)))
        XCTAssertNil(two.error)
        let nilPID = await pid("test")
        XCTAssertNil(nilPID, "the idle first model should have been unloaded to make room")
        XCTAssertFalse(S.isRunning(firstPID))
        let loadedSecond = await pid("second")
        let secondPID = try XCTUnwrap(loadedSecond)
        try await idle("second")
        let again = await S.collect(supervisor.generate(model: "test", request: GenerateRequest(promptTokens: [S.echo, 5], maxTokens: 1)))
        XCTAssertNil(again.error)
        let evicted = await pid("second")
        XCTAssertNil(evicted, "now the second model is the least recently used")
        let reloaded = await pid("test")
        let finalPID = try XCTUnwrap(reloaded)
        try await shutdownAndCheckClean(supervisor, state, pids: [firstPID, secondPID, finalPID])
    }

    /// A spec without an estimate is measured when its worker starts, once, and never for a request to the running
    /// worker, however often the spec is registered again (the backend registers it with every request); a new
    /// worker is measured again, since the files may have changed.
    func testTheMemoryEstimateIsMeasuredOncePerWorkerStartNotPerRequest() async throws {
        let measured = Counter()
        let (supervisor, state) = try makeSupervisor { configuration in
            configuration.memoryBudgetBytes = 1 << 40
            configuration.estimateWorkerBytes = { _ in
                measured.increment()
                return 100
            }
        }
        let spec = try S.configuration(stateDirectory: state).models[0]
        XCTAssertEqual(spec.estimatedBytes, 0)
        for token in Int32(3)..<Int32(8) {
            await supervisor.register(spec)
            let outcome = await S.collect(supervisor.generate(model: "test", request: GenerateRequest(
                promptTokens: [S.echo, token], maxTokens: 1)))
            XCTAssertNil(outcome.error)
        }
        XCTAssertEqual(measured.value, 1, "measured for each request instead of once when the worker started")
        let first = try await requirePID(supervisor)
        await supervisor.unload(model: "test")
        let again = await S.collect(supervisor.generate(model: "test", request: GenerateRequest(
            promptTokens: [S.echo, 9], maxTokens: 1)))
        XCTAssertNil(again.error)
        XCTAssertEqual(measured.value, 2, "a new worker is measured again")
        let second = try await requirePID(supervisor)
        try await shutdownAndCheckClean(supervisor, state, pids: [first, second])
    }

    /// `hasWorker`, which the backend asks on every request to skip re-registering a running model, follows the
    /// worker: not before it loads, from its load on, and no longer once it is unloaded or killed.
    func testHasWorkerFollowsTheWorkersLife() async throws {
        let (supervisor, state) = try makeSupervisor()
        XCTAssertFalse(supervisor.hasWorker("test"))
        XCTAssertFalse(supervisor.hasWorker("nope"))
        try await supervisor.load(model: "test")
        XCTAssertTrue(supervisor.hasWorker("test"))
        let first = try await requirePID(supervisor)
        await supervisor.unload(model: "test")
        XCTAssertFalse(supervisor.hasWorker("test"))
        try await supervisor.load(model: "test")
        let second = try await requirePID(supervisor)
        kill(second, SIGKILL)
        var polls = 0
        while supervisor.hasWorker("test"), polls < 300 {
            try await Task.sleep(nanoseconds: 10_000_000)
            polls += 1
        }
        XCTAssertFalse(supervisor.hasWorker("test"), "a killed worker still counts")
        try await shutdownAndCheckClean(supervisor, state, pids: [first, second])
    }

    func testASecondSupervisorOnTheSameStateDirectoryIsRefused() async throws {
        let (supervisor, state) = try makeSupervisor()
        XCTAssertThrowsError(try Supervisor(configuration: try S.configuration(stateDirectory: state))) { error in
            XCTAssertTrue("\(error)".contains("\(getpid())"), "the error should name the holder: \(error)")
        }
        await supervisor.shutdown(drainTimeout: 1)
    }
}

/// A thread-safe count, for closures the supervisor calls from its actor.
private final class Counter: @unchecked Sendable {
    private let lock = NSLock()
    private var count = 0

    func increment() { lock.withLock { count += 1 } }
    var value: Int { lock.withLock { count } }
}
