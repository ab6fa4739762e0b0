import CSupport
import Foundation
import IPC
import ProcessRegistry
import WorkerProtocol

/// One running worker process as the orchestrator sees it: its process, its segment, its channel, and the requests
/// in flight on it. A dedicated reader thread receives events and routes them by request id to each request's
/// stream, and is also how a death is noticed: the channel's wait checks the worker's pidfd every 100 ms, so a
/// crashed worker surfaces within about 100 ms, its process is reaped at once (no zombie), every in-flight request
/// ends with an error naming the signal, and `onExit` tells the supervisor.
final class WorkerConnection: @unchecked Sendable {
    typealias Continuation = AsyncThrowingStream<WorkerEvent, Error>.Continuation

    let modelID: String
    let process: SpawnedProcess
    let identity: ProcessIdentity
    let segmentName: String
    let channel: RingChannel
    var pid: Int32 { process.pid }

    /// How one ended process is reported to the supervisor.
    struct Exit: Sendable {
        let termination: SpawnedProcess.Termination
        /// True when the supervisor asked it to stop (unload, shutdown); false for a crash.
        let expected: Bool
        let description: String
        /// After a kill as hung: the requests that had produced nothing yet and were not past their deadline.
        /// Their streams are left open for the supervisor, which runs them again on a new worker (or fails them).
        var unstarted: [Unstarted] = []
    }

    /// A request the worker took but never started answering (no prompt echo, no tokens).
    struct Unstarted: Sendable {
        let requestID: UInt64
        let request: WorkerRequest
        let continuation: Continuation
    }

    private struct Pending {
        let continuation: Continuation
        let request: WorkerRequest
        /// Set once the deadline passed: a `done` still arriving is reported as a deadline error.
        var deadline: (seconds: Double, killing: Bool)?
        /// Whether the worker produced anything for it (prompt echo or tokens).
        var started = false
    }

    private let lock = NSLock()
    private var pending: [UInt64: Pending] = [:]
    private var loadWaiter: CheckedContinuation<LoadedInfo, Error>?
    private var loadResult: Result<LoadedInfo, Error>?
    private var onLoadProgress: (@Sendable (Float) -> Void)?
    private var exit: Exit?
    private var exitWaiters: [CheckedContinuation<Exit, Never>] = []
    private var stopping = false
    private var onExit: (@Sendable (Exit) -> Void)?
    private var completed = 0
    /// When the worker last answered on request id 0 (a pong, a load event).
    private var lastAnswer = ContinuousClock.now
    /// Set by `killAsHung`.
    private var hung = false
    /// What the worker's last pong reported; nil before its first.
    private var lastLoad: WorkerLoad?

    /// Requests this worker finished with `done`: a worker that served some is not part of a crash loop.
    var completedRequests: Int { lock.withLock { completed } }

    init(modelID: String, process: SpawnedProcess, identity: ProcessIdentity, segmentName: String,
         channel: RingChannel) {
        self.modelID = modelID
        self.process = process
        self.identity = identity
        self.segmentName = segmentName
        self.channel = channel
    }

    /// Starts the reader thread; `onExit` runs once, on that thread, after the process was reaped, its requests
    /// failed and its segment name unlinked.
    func start(onExit: @escaping @Sendable (Exit) -> Void) {
        lock.withLock { self.onExit = onExit }
        let thread = Thread { [self] in readLoop() }
        thread.name = "worker-\(process.pid)-events"
        thread.start()
    }

    // MARK: Requests

    /// Sends the load request and waits for `loaded`; kills the worker if it does not answer within `timeout`.
    /// `progress` receives the worker's load progress reports (0...1) on the reader thread.
    func load(_ request: LoadRequest, timeout: Double,
              progress: (@Sendable (Float) -> Void)? = nil) async throws -> LoadedInfo {
        lock.withLock { onLoadProgress = progress }
        try send(.load(request), requestID: 0, timeout: 5)
        let timer = Task { [weak self] in
            try await Task.sleep(nanoseconds: UInt64(timeout * 1e9))
            guard let self else { return }
            self.finishLoad(.failure(SupervisorError.loadFailed(model: self.modelID, WorkerFailure(
                .timeout, "the worker did not finish loading within \(timeout) s and was killed"))))
            self.kill()
        }
        defer { timer.cancel() }
        return try await withCheckedThrowingContinuation { continuation in
            lock.lock()
            if let result = loadResult {
                lock.unlock()
                continuation.resume(with: result)
            } else {
                loadWaiter = continuation
                lock.unlock()
            }
        }
    }

    /// Registers `continuation` for `requestID` and sends the request. Fails the continuation (not the caller) when
    /// the worker is already gone, so every path ends the stream exactly once.
    func submit(_ request: WorkerRequest, requestID: UInt64, continuation: Continuation) {
        lock.lock()
        if let exit {
            lock.unlock()
            continuation.finish(throwing: crashError(exit))
            return
        }
        pending[requestID] = Pending(continuation: continuation, request: request)
        lock.unlock()
        do {
            try send(request, requestID: requestID, timeout: 5)
        } catch {
            if let entry = lock.withLock({ pending.removeValue(forKey: requestID) }) {
                entry.continuation.finish(throwing: error)
            }
        }
    }

    /// How the process ended, once its reader thread has reaped it (the supervisor may not have heard yet).
    var exitStatus: Exit? { lock.withLock { exit } }

    func isInFlight(_ requestID: UInt64) -> Bool { lock.withLock { pending[requestID] != nil } }

    /// Asks the worker's request reader for a `pong` (a liveness probe); does nothing while the ring is full.
    func ping() {
        try? send(.ping, requestID: 0, timeout: 0.1)
    }

    /// The worker's load as of its last pong (at most `livenessInterval` old); nil before the first.
    var load: WorkerLoad? { lock.withLock { lastLoad } }

    /// How long since the worker last answered a ping (or reported on its load).
    var silence: Duration { ContinuousClock.now - lock.withLock { lastAnswer } }

    /// Asks the worker to stop `requestID` (it answers `done(.cancelled)` within one decode step).
    func cancel(_ requestID: UInt64) {
        guard isInFlight(requestID) else { return }
        try? send(.cancel, requestID: requestID, timeout: 1)
    }

    /// Marks `requestID` as past its deadline and cancels it; `killing` says whether the worker will be killed.
    func deadlinePassed(_ requestID: UInt64, seconds: Double, killing: Bool) {
        lock.withLock { pending[requestID]?.deadline = (seconds, killing) }
        cancel(requestID)
    }

    /// Asks the worker to exit, then SIGKILLs it if it has not exited within `grace` seconds. Returns its exit.
    func stop(grace: Double) async -> Exit {
        lock.withLock { stopping = true }
        try? send(.shutdown, requestID: 0, timeout: 1)
        let killer = Task { [weak self] in
            try await Task.sleep(nanoseconds: UInt64(grace * 1e9))
            self?.kill()
        }
        let exit = await waitForExit()
        killer.cancel()
        return exit
    }

    /// SIGKILLs the worker's process group (the worker and anything a plugin started); the reader thread then
    /// notices the death and cleans up.
    func kill() {
        guard lock.withLock({ exit == nil }) else { return }
        Glibc.kill(-process.pid, SIGKILL)
        process.signal(SIGKILL)
    }

    /// Kills a worker found hung (it ignored a cancel, or answers no ping). Unlike a crash, whose cause may be the
    /// very request it had just taken, a hang leaves the requests it had not started blameless: they are handed back
    /// (`Exit.unstarted`) to run on a new worker.
    func killAsHung() {
        lock.withLock { hung = true }
        kill()
    }

    func waitForExit() async -> Exit {
        await withCheckedContinuation { continuation in
            lock.lock()
            if let exit {
                lock.unlock()
                continuation.resume(returning: exit)
            } else {
                exitWaiters.append(continuation)
                lock.unlock()
            }
        }
    }

    private func send(_ request: WorkerRequest, requestID: UInt64, timeout: Double) throws {
        let (type, payload) = request.encoded()
        do {
            try channel.send(Frame(type: type, requestID: requestID, payload: payload),
                             deadline: .after(seconds: timeout))
        } catch {
            throw SupervisorError.system("cannot send to the worker of model \(modelID) (pid \(pid)): \(error)")
        }
    }

    // MARK: Events

    private func readLoop() {
        while true {
            let frame: Frame?
            do {
                frame = try channel.receive(deadline: .after(seconds: 5))
            } catch {
                handleExit(channelError: error)
                return
            }
            guard let frame else { continue }
            let event: WorkerEvent
            do {
                event = try WorkerEvent.decode(type: frame.type, payload: frame.payload)
            } catch {
                // A worker that speaks garbage cannot be trusted with the other requests either.
                FileHandle.standardError.write(Data("supervisor: worker \(pid) sent \(error); killing it\n".utf8))
                kill()
                continue
            }
            route(event, requestID: frame.requestID)
        }
    }

    private func route(_ event: WorkerEvent, requestID: UInt64) {
        if requestID == 0 {
            // Pongs (and load events) come on request id 0: the liveness clock needs nothing from the token path.
            lock.withLock { lastAnswer = .now }
            switch event {
            case .loaded(let info): finishLoad(.success(info))
            case .error(let failure): finishLoad(.failure(SupervisorError.loadFailed(model: modelID, failure)))
            case .loadProgress(let fraction): lock.withLock { onLoadProgress }?(fraction)
            case .pong(let load): lock.withLock { lastLoad = load }
            default: break
            }
            return
        }
        lock.lock()
        guard let entry = pending[requestID] else {
            lock.unlock()
            return  // a late frame of a request the client already abandoned
        }
        if event.isTerminal { pending.removeValue(forKey: requestID) }
        if case .done = event { completed += 1 }
        if !entry.started, event.isOutput { pending[requestID]?.started = true }
        lock.unlock()
        switch event {
        case .accepted, .prompt, .delta, .embedding:
            entry.continuation.yield(event)
        case .done(let completion):
            if let deadline = entry.deadline, completion.finishReason == .cancelled {
                entry.continuation.finish(throwing: SupervisorError.deadlineExceeded(
                    model: modelID, seconds: deadline.seconds, workerKilled: false))
            } else {
                entry.continuation.yield(event)
                entry.continuation.finish()
            }
        case .error(let failure):
            entry.continuation.finish(throwing: SupervisorError.requestFailed(failure))
        case .tokenizerReply:
            entry.continuation.yield(event)
            entry.continuation.finish()
        case .loaded, .loadProgress, .pong:
            break
        }
    }

    private func finishLoad(_ result: Result<LoadedInfo, Error>) {
        lock.lock()
        guard loadResult == nil else {
            lock.unlock()
            return
        }
        loadResult = result
        let waiter = loadWaiter
        loadWaiter = nil
        onLoadProgress = nil
        lock.unlock()
        waiter?.resume(with: result)
    }

    /// The channel failed: the worker died, closed its side, or corrupted the ring. Make sure the process is gone,
    /// reap it, fail what was in flight, unlink the segment and report.
    private func handleExit(channelError: Error) {
        let watch = ProcessWatch(pid: process.pid)
        if !watch.waitForExit(timeoutMilliseconds: 2000) {
            // Closed its side (or corrupted the ring) but still runs: it is of no further use.
            Glibc.kill(-process.pid, SIGKILL)
            process.signal(SIGKILL)
        }
        let termination = process.wait()
        // Anything left in the worker's process group (a plugin's helper) goes with it.
        Glibc.kill(-process.pid, SIGKILL)
        _ = try? SharedMemorySegment.unlink(name: segmentName)
        channel.close()
        lock.lock()
        let signal: Int32?
        if case .signaled(let s) = termination { signal = s } else { signal = nil }
        let expected = stopping && termination != .signaled(SIGSEGV) && termination != .signaled(SIGABRT)
        var exit = Exit(termination: termination, expected: expected,
                        description: describe(termination.description, signal: signal))
        var requests = pending
        pending.removeAll()
        if !expected && hung {
            for (id, entry) in requests where !entry.started && entry.deadline == nil {
                exit.unstarted.append(Unstarted(requestID: id, request: entry.request, continuation: entry.continuation))
                requests[id] = nil
            }
        }
        self.exit = exit
        let waiters = exitWaiters
        exitWaiters.removeAll()
        let callback = onExit
        lock.unlock()
        finishLoad(.failure(SupervisorError.loadFailed(model: modelID, WorkerFailure(
            .workerFailure, "the worker exited while loading (\(exit.description)); see its log"))))
        for (_, entry) in requests {
            if let deadline = entry.deadline {
                entry.continuation.finish(throwing: SupervisorError.deadlineExceeded(
                    model: modelID, seconds: deadline.seconds, workerKilled: true))
            } else if expected {
                entry.continuation.finish(throwing: SupervisorError.unloaded(model: modelID))
            } else {
                entry.continuation.finish(throwing: crashError(exit))
            }
        }
        waiters.forEach { $0.resume(returning: exit) }
        callback?(exit)
    }

    private func crashError(_ exit: Exit) -> SupervisorError {
        .workerCrashed(model: modelID, pid: pid, termination: exit.description)
    }
}
