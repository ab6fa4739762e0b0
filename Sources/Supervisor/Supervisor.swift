import CSupport
import Foundation
import IPC
import ProcessRegistry
import WorkerProtocol

/// The orchestrator's owner of worker processes: one lifecycle state machine per model (see `ModelState`), worker
/// spawning with a registry record for every process and IPC name, crash recovery, crash-loop back-off, deadlines
/// enforced from outside the worker, idle unload and graceful shutdown. All state lives in this actor; worker
/// processes talk to it through `WorkerConnection`s, whose reader threads report back with actor calls.
///
/// Start-up takes the state directory's single-instance lock and reaps whatever a dead predecessor left (workers
/// whose pid, start time and marker still match are killed; recorded IPC names are unlinked either way).
public actor Supervisor {
    public let configuration: SupervisorConfiguration
    /// What start-up reaping did.
    public nonisolated let reapReport: ReapReport

    private let registry: ProcessRegistry
    private let names: IPCNames
    /// Every shared-memory name of this run starts with this (as a file under /dev/shm): for diagnostics and for
    /// checks that nothing leaked.
    public nonisolated var sharedMemoryPrefix: String { names.fileNamePrefix }
    /// The registry file (workers.json) under the state directory.
    public nonisolated var registryPath: String { registry.path }
    private let spawner = SpawnThread()
    private var slots: [String: Slot] = [:]
    private var active: [UInt64: ActiveRequest] = [:]
    /// Requests whose client went away before they reached a worker.
    private var abandoned: Set<UInt64> = []
    private var accepting = true
    private var shutdownStarted = false
    private var workerCounter = 0
    private var drainWaiters: [CheckedContinuation<Void, Never>] = []
    /// Workers that ended unexpectedly since start-up.
    public private(set) var workerRestarts = 0
    private nonisolated let requestIDs = RequestIDs()
    /// The models whose slot holds a worker connection, readable without a hop onto this actor.
    private nonisolated let withWorker = ModelSet()

    private struct Slot {
        let spec: ModelSpec
        var state: ModelState = .absent
        var connection: WorkerConnection?
        var loading: Task<WorkerConnection, Error>?
        var crashes: CrashHistory
        var idleTimer: Task<Void, Never>?
        var info: LoadedInfo?
        var loadedSince: Date?
        /// While loading: the fraction done, as the worker last reported it.
        var loadProgress: Double?
        /// For least-recently-used eviction under the memory budget.
        var lastUsed = ContinuousClock.now
        /// What this model's worker counts against the memory budget, measured when it last started.
        var estimatedBytes: UInt64 = 0
    }

    private struct ActiveRequest {
        let model: String
        let connection: WorkerConnection
        var deadline: Task<Void, Never>?
        /// When its deadline passes (`GenerateOptions.timeout` from its first start); nil without one.
        let expires: ContinuousClock.Instant?
        /// Whether it already runs again after a worker died before starting it (once only).
        let retried: Bool
    }

    /// Opens the registry (failing with `RegistryError.alreadyRunning` if another orchestrator owns the state
    /// directory), reaps orphans and records this run's IPC name root.
    public init(configuration: SupervisorConfiguration) throws {
        self.configuration = configuration
        registry = try ProcessRegistry(stateDirectory: configuration.stateDirectory,
                                       sharedMemoryDirectory: configuration.sharedMemoryDirectory)
        reapReport = try registry.reapOrphans()
        names = IPCNames.random()
        try registry.addRoot(names.root)
        for spec in configuration.models {
            slots[spec.id] = Slot(spec: spec, crashes: CrashHistory(
                threshold: configuration.crashLoopThreshold, window: configuration.crashWindow,
                baseBackoff: configuration.crashBaseBackoff, maxBackoff: configuration.crashMaxBackoff))
        }
    }

    // MARK: Public API

    /// Streams `request`'s events: `tokens` as they are produced, then one `done`. Failures end the stream with a
    /// thrown `SupervisorError`. Cancelling the consuming task (or dropping the stream) cancels the request in the
    /// worker.
    public nonisolated func generate(model: String, request: GenerateRequest, options: GenerateOptions = .init())
        -> AsyncThrowingStream<WorkerEvent, Error>
    {
        submit(model: model, request: .generate(request), options: options)
    }

    /// Streams the events of any request that has an answer (`generate`, `tokenizer`): the same start-up, deadline,
    /// cancellation and crash handling as `generate`.
    public nonisolated func submit(model: String, request: WorkerRequest, options: GenerateOptions = .init())
        -> AsyncThrowingStream<WorkerEvent, Error>
    {
        let (stream, continuation) = AsyncThrowingStream<WorkerEvent, Error>.makeStream()
        let id = requestIDs.next()
        continuation.onTermination = { [weak self] termination in
            var clientGone = false
            if case .cancelled = termination { clientGone = true }
            Task { await self?.requestEnded(id, clientGone: clientGone) }
        }
        Task { await self.begin(id, model: model, request: request, options: options, continuation: continuation) }
        return stream
    }

    /// Starts the model's worker if it is absent and waits until it is ready.
    @discardableResult
    public func load(model: String) async throws -> LoadedInfo {
        _ = try await ensureWorker(model)
        guard let info = slots[model]?.info else { throw SupervisorError.unknownModel(model) }
        return info
    }

    /// Stops the model's worker (in-flight requests end with `.unloaded`) through the same cleanup as a crash.
    public func unload(model: String) async {
        if let loading = slots[model]?.loading { _ = try? await loading.value }
        guard var slot = slots[model], let connection = slot.connection else { return }
        switch slot.state {
        case .ready, .busy:
            slot.state = transition(slot.state, .startUnloading, model)
            slot.idleTimer?.cancel()
            slot.idleTimer = nil
            slots[model] = slot
            let exit = await connection.stop(grace: configuration.stopGrace)
            workerExited(model, connection, exit)
        case .unloading:
            let exit = await connection.waitForExit()
            workerExited(model, connection, exit)
        case .absent, .loading:
            return
        }
    }

    /// Graceful shutdown: refuse new requests, let in-flight ones finish for up to `drainTimeout` seconds, stop
    /// every worker, and leave the registry and /dev/shm clean. Only the first call acts; later ones return at once.
    public func shutdown(drainTimeout: Double) async {
        guard !shutdownStarted else { return }
        shutdownStarted = true
        accepting = false
        if totalInFlight > 0 {
            let timer = Task { [weak self] in
                try? await Task.sleep(nanoseconds: UInt64(max(0, drainTimeout) * 1e9))
                await self?.releaseDrainWaiters()
            }
            await withCheckedContinuation { drainWaiters.append($0) }
            timer.cancel()
        }
        for model in slots.keys.sorted() { await unload(model: model) }
        // Nothing of ours is left running; this empties the registry (records and this run's root).
        _ = try? registry.reapOrphans()
        registry.close()
        spawner.stop()
    }

    public func status() -> [ModelStatus] {
        slots.values.sorted { $0.spec.id < $1.spec.id }.map {
            ModelStatus(id: $0.spec.id, state: $0.state, workerPID: $0.connection?.pid,
                        recentCrashes: $0.crashes.recentCrashes, loadedSince: $0.loadedSince, info: $0.info,
                        loadProgress: $0.state == .loading ? ($0.loadProgress ?? 0) : nil, load: $0.connection?.load)
        }
    }

    private func recordLoadProgress(_ model: String, _ fraction: Double) {
        guard var slot = slots[model], slot.state == .loading else { return }
        slot.loadProgress = max(slot.loadProgress ?? 0, fraction)
        slots[model] = slot
    }

    /// Adds a model the supervisor may run (models can appear in the catalog after start-up). A known id keeps its
    /// slot; its spec is replaced only while no worker runs it.
    public func register(_ spec: ModelSpec) {
        if var slot = slots[spec.id] {
            if slot.state == .absent && slot.spec != spec {
                slot = Slot(spec: spec, crashes: slot.crashes)
                slots[spec.id] = slot
            }
            return
        }
        slots[spec.id] = Slot(spec: spec, crashes: CrashHistory(
            threshold: configuration.crashLoopThreshold, window: configuration.crashWindow,
            baseBackoff: configuration.crashBaseBackoff, maxBackoff: configuration.crashMaxBackoff))
    }

    public func state(of model: String) -> ModelState? { slots[model]?.state }

    /// Whether `model` has a worker (loaded, busy or unloading), without waiting for this actor: for a caller that
    /// can skip work which matters only before a worker starts (its spec is kept until the worker ends). A worker
    /// that died a moment ago may still count until its exit reaches the supervisor.
    public nonisolated func hasWorker(_ model: String) -> Bool { withWorker.contains(model) }

    // MARK: Requests

    private func begin(_ id: UInt64, model: String, request: WorkerRequest, options: GenerateOptions,
                       continuation: WorkerConnection.Continuation, retried: Bool = false) async {
        /// Every early end also forgets a client that left meanwhile, so `abandoned` never keeps stale ids.
        func fail(_ error: Error) {
            abandoned.remove(id)
            continuation.finish(throwing: error)
        }
        guard accepting else { return fail(SupervisorError.shuttingDown) }
        guard slots[model] != nil else { return fail(SupervisorError.unknownModel(model)) }
        var connection: WorkerConnection?
        // A worker may die between becoming ready and this request reaching it; one retry covers that window.
        for _ in 0..<2 where connection == nil {
            do {
                let candidate = try await ensureWorker(model)
                if slots[model]?.connection === candidate { connection = candidate }
            } catch {
                return fail(error)
            }
        }
        guard let connection, var slot = slots[model] else {
            return fail(SupervisorError.system("the worker for \(model) vanished twice while starting this request"))
        }
        if abandoned.remove(id) != nil { return }
        guard accepting else { return fail(SupervisorError.shuttingDown) }
        slot.state = transition(slot.state, .requestStarted, model)
        slot.lastUsed = .now
        slot.idleTimer?.cancel()
        slot.idleTimer = nil
        slots[model] = slot
        var entry = ActiveRequest(model: model, connection: connection, expires: options.timeout.map {
            .now + .milliseconds(Int64(max(0, $0) * 1000))
        }, retried: retried)
        if let timeout = options.timeout {
            entry.deadline = Task { [weak self] in
                try? await Task.sleep(nanoseconds: UInt64(max(0, timeout) * 1e9))
                guard !Task.isCancelled else { return }
                await self?.deadlinePassed(id, seconds: timeout)
            }
        }
        active[id] = entry
        connection.submit(request, requestID: id, continuation: continuation)
    }

    private func requestEnded(_ id: UInt64, clientGone: Bool) {
        guard let entry = active.removeValue(forKey: id) else {
            // Not started yet: a client that left before its worker was ready must not start it later. (A stream
            // that `begin` itself finished with an error ends here too, and needs nothing.)
            if clientGone { abandoned.insert(id) }
            return
        }
        entry.deadline?.cancel()
        if clientGone {
            // Whoever gave up first (the client, or the HTTP side at the request's deadline), a worker that does not
            // honour the cancel is hung: it is killed and replaced, so the next request does not queue behind it.
            entry.connection.cancel(id)
            watchCancel(id, on: entry.connection)
        }
        if var slot = slots[entry.model], slot.connection === entry.connection, case .busy = slot.state {
            slot.state = transition(slot.state, .requestEnded, entry.model)
            slot.lastUsed = .now
            slots[entry.model] = slot
            if slot.state == .ready { scheduleIdleUnload(entry.model) }
        }
        if totalInFlight == 0 { releaseDrainWaiters() }
    }

    private func deadlinePassed(_ id: UInt64, seconds: Double) async {
        guard let entry = active[id] else { return }
        entry.connection.deadlinePassed(id, seconds: seconds, killing: true)
        watchCancel(id, on: entry.connection)
    }

    /// Kills `connection`'s worker if request `id`, cancelled just now, is still in flight after the cancel grace.
    /// The grace runs in a detached task: the deadline task is itself cancelled when the request ends (the front end
    /// gives up at the same deadline), and a cancelled sleep would end the grace at once and kill a worker that was
    /// about to honour the cancel. Watching twice (deadline, then the client leaving) kills at most once.
    private func watchCancel(_ id: UInt64, on connection: WorkerConnection) {
        let grace = configuration.cancelGrace
        Task.detached {
            try? await Task.sleep(nanoseconds: UInt64(grace * 1e9))
            guard connection.isInFlight(id), connection.exitStatus == nil else { return }
            FileHandle.standardError.write(Data(("supervisor: request \(id) ignored its cancel for "
                + "\(grace) s; killing worker \(connection.pid)\n").utf8))
            connection.killAsHung()
        }
    }

    private var totalInFlight: Int { slots.values.reduce(0) { $0 + $1.state.inFlight } }

    private func releaseDrainWaiters() {
        let waiters = drainWaiters
        drainWaiters.removeAll()
        waiters.forEach { $0.resume() }
    }

    // MARK: Workers

    private func ensureWorker(_ model: String) async throws -> WorkerConnection {
        while true {
            guard var slot = slots[model] else { throw SupervisorError.unknownModel(model) }
            switch slot.state {
            case .ready, .busy:
                if let connection = slot.connection {
                    // Its exit report may still be on its way to this actor; never hand out a dead worker.
                    guard let exit = connection.exitStatus else { return connection }
                    workerExited(model, connection, exit)
                    continue
                }
            case .loading:
                if let loading = slot.loading { return try await loading.value }
            case .unloading:
                if let connection = slot.connection {
                    let exit = await connection.waitForExit()
                    workerExited(model, connection, exit)
                    continue
                }
            case .absent:
                break
            }
            guard slot.state == .absent else {
                throw SupervisorError.system("model \(model) is \(slot.state) without a worker (a supervisor bug)")
            }
            if let retry = slot.crashes.retryAfter() {
                throw SupervisorError.crashLoop(model: model, crashes: slot.crashes.recentCrashes,
                                                retryAfterSeconds: retry, lastTermination: slot.crashes.lastTermination)
            }
            // Unloading others suspends this actor call: re-read the slot, which another request may have started.
            let estimate = await makeRoom(for: model)
            guard let current = slots[model], current.state == .absent else { continue }
            slot = current
            slot.estimatedBytes = estimate
            slot.state = transition(slot.state, .startLoading, model)
            let spec = slot.spec
            let loading = Task { try await self.spawnAndLoad(spec) }
            slot.loading = loading
            slots[model] = slot
            do {
                return try await loading.value
            } catch {
                if var failed = slots[model], failed.state == .loading {
                    failed.state = transition(failed.state, .workerGone, model)
                    failed.loading = nil
                    failed.crashes.recordCrash("\(error)")
                    slots[model] = failed
                }
                throw error
            }
        }
    }

    private func spawnAndLoad(_ spec: ModelSpec) async throws -> WorkerConnection {
        workerCounter += 1
        let connection = try await spawn(spec, ordinal: workerCounter)
        let info: LoadedInfo
        let started = ContinuousClock.now
        let announce = LoadAnnouncer(model: spec.id, path: spec.path)
        announce.started(pid: connection.pid)
        do {
            info = try await connection.load(LoadRequest(
                modelPath: spec.path, family: spec.family, threads: UInt32(clamping: max(1, spec.threads)),
                pluginPin: spec.pluginPin, pluginPaths: spec.pluginPaths,
                maxSequences: UInt32(clamping: max(1, spec.maxSequences)), projectorPath: spec.projectorPath,
                vision: spec.vision, contextLength: UInt32(clamping: max(0, spec.contextLength)),
                prefixCacheBytes: spec.prefixCacheBytes, kvCacheType: spec.kvCacheType),
                timeout: configuration.loadTimeout
            ) { [weak self] fraction in
                announce.progress(fraction)
                Task { await self?.recordLoadProgress(spec.id, Double(fraction)) }
            }
            announce.finished(after: ContinuousClock.now - started, info: info)
        } catch {
            announce.failed(error)
            connection.kill()
            _ = await connection.waitForExit()
            try? registry.unregister(pid: connection.pid)
            throw error
        }
        guard var slot = slots[spec.id], slot.state == .loading else {
            connection.kill()
            throw SupervisorError.unloaded(model: spec.id)
        }
        watchLiveness(connection)
        slot.state = transition(slot.state, .loaded, spec.id)
        slot.connection = connection
        withWorker.insert(spec.id)
        slot.loading = nil
        slot.info = info
        slot.loadProgress = nil
        slot.loadedSince = Date()
        slot.lastUsed = .now
        slots[spec.id] = slot
        scheduleIdleUnload(spec.id)
        return connection
    }

    /// Creates the segment, starts the worker in its own process group with its output in a log file, and records
    /// it in the registry before anything else can go wrong.
    private func spawn(_ spec: ModelSpec, ordinal: Int) async throws -> WorkerConnection {
        let segmentName: String
        let segment: SharedMemorySegment
        do {
            segmentName = try names.segmentName(worker: "w\(ordinal)")
            segment = try SharedMemorySegment.create(name: segmentName,
                                                     requestRingCapacity: configuration.requestRingCapacity,
                                                     eventRingCapacity: configuration.eventRingCapacity)
        } catch {
            throw SupervisorError.system("cannot create the worker's shared memory: \(error)")
        }
        let logDirectory = configuration.stateDirectory + "/logs"
        try? FileManager.default.createDirectory(atPath: logDirectory, withIntermediateDirectories: true)
        let safeID = String(spec.id.map { $0.isLetter || $0.isNumber || $0 == "-" ? $0 : "_" })
        let logPath = "\(logDirectory)/worker-\(safeID)-\(ordinal).log"
        let logFD = open(logPath, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0o600)
        let nullFD = open("/dev/null", O_RDONLY | O_CLOEXEC)
        defer {
            if logFD >= 0 { close(logFD) }
            if nullFD >= 0 { close(nullFD) }
        }
        guard logFD >= 0, nullFD >= 0 else {
            _ = try? segment.unlink()
            throw SupervisorError.system("cannot open the worker log \(logPath): \(String(cString: strerror(errno)))")
        }
        let marker = ProcessIdentity.newMarker()
        var environment = WorkerEnvironment.inherited(from: ProcessInfo.processInfo.environment)
            .merging(configuration.workerEnvironment) { $1 }
        environment[ProcessIdentity.markerEnvironmentKey] = marker
        let executable = configuration.workerExecutable
        let arguments = ["--segment", segmentName, "--parent-pid", String(getpid())]
        let process: SpawnedProcess
        do {
            let env = environment
            process = try await spawner.run {
                try SpawnedProcess.spawn(executable: executable, arguments: arguments, environment: env,
                                         inheriting: [(nullFD, 0), (logFD, 1), (logFD, 2)], newProcessGroup: true)
            }
        } catch {
            _ = try? segment.unlink()
            throw SupervisorError.system("cannot start \(executable): \(error)")
        }
        do {
            let identity = try ProcessIdentity.capture(pid: process.pid, marker: marker)
            try registry.register(WorkerRecord(identity: identity, modelID: spec.id, sharedMemoryNames: [segmentName]))
            let channel = try RingChannel(segment: segment, peer: .pid(process.pid))
            let connection = WorkerConnection(modelID: spec.id, process: process, identity: identity,
                                              segmentName: segmentName, channel: channel)
            connection.start { [weak self] exit in
                Task { await self?.workerExited(spec.id, connection, exit) }
            }
            return connection
        } catch {
            process.signal(SIGKILL)
            process.wait()
            _ = try? segment.unlink()
            try? registry.unregister(pid: process.pid)
            throw SupervisorError.system("cannot set up worker \(process.pid): \(error)")
        }
    }

    /// Pings `connection`'s worker until it exits; kills it when it answers nothing for `livenessTimeout` (a stopped
    /// or wholly stuck process would otherwise hold every request sent to it until their deadlines).
    private nonisolated func watchLiveness(_ connection: WorkerConnection) {
        guard let timeout = configuration.livenessTimeout else { return }
        let interval = configuration.livenessInterval
        Task.detached { [weak connection] in
            while let connection, connection.exitStatus == nil {
                connection.ping()
                try? await Task.sleep(nanoseconds: UInt64(interval * 1e9))
                let silence = connection.silence
                if silence > .milliseconds(Int64(timeout * 1000)), connection.exitStatus == nil {
                    FileHandle.standardError.write(Data(("supervisor: worker \(connection.pid) for "
                        + "\(connection.modelID) answered nothing for \(silence); killing it as hung\n").utf8))
                    connection.killAsHung()
                    return
                }
            }
        }
    }

    /// The one cleanup path for every way a worker ends (crash, unload, idle unload, shutdown, deadline kill). The
    /// connection has already reaped the process, failed its requests and unlinked its segment; this forgets it.
    /// Idempotent: a second report for the same connection changes nothing.
    private func workerExited(_ model: String, _ connection: WorkerConnection, _ exit: WorkerConnection.Exit) {
        try? registry.unregister(pid: connection.pid)
        guard var slot = slots[model], slot.connection === connection else { return }
        slot.state = transition(slot.state, .workerGone, model)
        slot.connection = nil
        withWorker.remove(model)
        slot.info = nil
        slot.loadedSince = nil
        slot.loadProgress = nil
        slot.idleTimer?.cancel()
        slot.idleTimer = nil
        if !exit.expected {
            workerRestarts += 1
            if connection.completedRequests > 0 { slot.crashes.recordSuccess() }
            slot.crashes.recordCrash(exit.description)
            FileHandle.standardError.write(Data(
                "supervisor: worker \(connection.pid) for \(model) ended unexpectedly: \(exit.description)\n".utf8))
        }
        slots[model] = slot
        retry(exit.unstarted, model: model, crash: exit)
        if totalInFlight == 0 { releaseDrainWaiters() }
    }

    /// Runs the requests a dead worker had taken but not started on a new worker, once each: they lost nothing
    /// but time. A request already retried, or whose client left, ends as the crash says.
    private func retry(_ requests: [WorkerConnection.Unstarted], model: String, crash: WorkerConnection.Exit) {
        for item in requests {
            guard let entry = active.removeValue(forKey: item.requestID) else {
                item.continuation.finish(throwing: SupervisorError.workerCrashed(
                    model: model, pid: -1, termination: crash.description))
                continue
            }
            entry.deadline?.cancel()
            guard !entry.retried, accepting else {
                item.continuation.finish(throwing: SupervisorError.workerCrashed(
                    model: model, pid: entry.connection.pid, termination: crash.description))
                continue
            }
            var options = GenerateOptions()
            if let expires = entry.expires {
                let left = ContinuousClock.now.duration(to: expires)
                options.timeout = max(0.001, Double(left.components.seconds) + Double(left.components.attoseconds) * 1e-18)
            }
            FileHandle.standardError.write(Data(("supervisor: request \(item.requestID) had not started on worker "
                + "\(entry.connection.pid); running it on a new worker\n").utf8))
            Task {
                await self.begin(item.requestID, model: model, request: item.request, options: options,
                                 continuation: item.continuation, retried: true)
            }
        }
    }

    /// Unloads idle models, least recently used first, until `model` fits the memory budget beside the others. Busy
    /// models are never evicted; when only they remain, the load goes ahead and the budget is exceeded (refusing
    /// would fail the request for memory that the operating system may well have).
    /// Returns what `model` was counted at: its estimate is measured here (when its spec gives none), so once per
    /// worker start.
    private func makeRoom(for model: String) async -> UInt64 {
        guard let budget = configuration.memoryBudgetBytes, let spec = slots[model]?.spec else { return 0 }
        let needed = spec.estimatedBytes > 0 ? spec.estimatedBytes : configuration.estimateWorkerBytes(spec)
        while true {
            let resident = slots.values.filter { $0.spec.id != model && $0.state != .absent }
            let used = resident.reduce(UInt64(0)) { $0 + $1.estimatedBytes }
            guard used + needed > budget else { return needed }
            guard let victim = resident.filter({ $0.state == .ready }).min(by: { $0.lastUsed < $1.lastUsed }) else {
                FileHandle.standardError.write(Data(("supervisor: loading \(model) exceeds the memory budget of "
                    + "\(budget) bytes; every other loaded model is busy\n").utf8))
                return needed
            }
            FileHandle.standardError.write(Data(
                "supervisor: unloading idle model \(victim.spec.id) to make room for \(model)\n".utf8))
            await unload(model: victim.spec.id)
        }
    }

    private func scheduleIdleUnload(_ model: String) {
        guard var slot = slots[model], slot.state == .ready, let connection = slot.connection else { return }
        // A model's own setting wins (0: never), else the server's.
        let setting = slot.spec.idleUnloadAfter ?? configuration.idleUnloadAfter
        guard let after = setting, after > 0 else { return }
        slot.idleTimer?.cancel()
        slot.idleTimer = Task { [weak self] in
            try? await Task.sleep(nanoseconds: UInt64(max(0, after) * 1e9))
            guard !Task.isCancelled else { return }
            await self?.idleExpired(model, connection)
        }
        slots[model] = slot
    }

    private func idleExpired(_ model: String, _ connection: WorkerConnection) async {
        guard let slot = slots[model], slot.connection === connection, slot.state == .ready else { return }
        await unload(model: model)
    }

    /// Applies a lifecycle event; an impossible one is logged and leaves the state unchanged (it is a bug, and
    /// crashing the orchestrator over it would take every other model down).
    private func transition(_ state: ModelState, _ event: ModelEvent, _ model: String) -> ModelState {
        do {
            return try state.applying(event)
        } catch {
            FileHandle.standardError.write(Data("supervisor: model \(model): \(error)\n".utf8))
            return state
        }
    }
}

/// A locked set of model ids.
final class ModelSet: @unchecked Sendable {
    private let lock = NSLock()
    private var ids: Set<String> = []

    func insert(_ id: String) { _ = lock.withLock { ids.insert(id) } }
    func remove(_ id: String) { _ = lock.withLock { ids.remove(id) } }
    func contains(_ id: String) -> Bool { lock.withLock { ids.contains(id) } }
}

/// Request ids: unique per supervisor, never 0 (0 addresses the worker itself).
final class RequestIDs: @unchecked Sendable {
    private let lock = NSLock()
    private var last: UInt64 = 0

    func next() -> UInt64 {
        lock.withLock {
            last += 1
            return last
        }
    }
}
