import Foundation
import HTTPServer
import ModelCatalog
import ModelPull
import Presets
import Supervisor
import WorkerProtocol

/// The production `InferenceBackend`: every model runs in its own worker process under the `Supervisor`, which
/// loads it on first use, unloads it when idle or when the memory budget needs room, and restarts it after a crash.
/// This type only translates: HTTP-level requests into worker requests (one per choice, so `n` choices decode side by
/// side in the worker's batch), worker events into HTTP-level events, and supervisor failures into `BackendError`s.
public final class WorkerBackend: InferenceBackend, @unchecked Sendable {
    public let supervisor: Supervisor
    public let catalog: ModelCatalog
    private let template: ModelSpec
    private let isEncoderFamily: @Sendable (String) -> Bool
    private let presetLock = NSLock()
    private var presetCatalog = PresetCatalog()

    /// A model as served: the id clients and the supervisor use (a preset's name, else the catalog id), its weights,
    /// and its preset.
    private struct Served {
        let id: String
        let entry: CatalogEntry
        let preset: ModelPreset?
    }

    /// `template` supplies what every model's spec shares (threads, batch size, plugin paths and pin); id, path
    /// and memory estimate come from the catalog. `isEncoderFamily` tells embedding models from generation models
    /// by their family before they are loaded (the installed plugins' manifests say which kind runs which family).
    public init(catalog: ModelCatalog, supervisor: Supervisor, template: ModelSpec,
                isEncoderFamily: @escaping @Sendable (String) -> Bool = { _ in false }) {
        self.catalog = catalog
        self.supervisor = supervisor
        self.template = template
        self.isEncoderFamily = isEncoderFamily
    }

    /// The presets in force.
    public var presets: PresetCatalog { presetLock.withLock { presetCatalog } }

    /// Replaces the presets after checking that each names a model the catalog has. Models already running keep
    /// their settings until their worker next starts (their requests are not disturbed); names, aliases and
    /// sampling defaults apply to the next request.
    public func setPresets(_ presets: PresetCatalog) throws(PresetError) {
        for preset in presets.presets {
            do throws(BackendError) {
                _ = try catalog.entry(forBackend: preset.model)
            } catch {
                throw PresetError("\(presets.path ?? "presets"): preset '\(preset.name)' names model '\(preset.model)', "
                                  + "which the catalog cannot serve (\(error))")
            }
        }
        presetLock.withLock { presetCatalog = presets }
    }

    public func reloadPresets() async throws(BackendError) -> [String] {
        guard let path = presets.path else {
            throw .badRequest(param: nil, message: "no presets file is configured (serve --presets FILE)")
        }
        do throws(PresetError) {
            let fresh = try PresetCatalog.load(path: path)
            try setPresets(fresh)
            return fresh.presets.map(\.name)
        } catch {
            throw .badRequest(param: nil, message: error.message)
        }
    }

    public func pull(_ spec: String, progress: @escaping @Sendable (HubPull.Progress) -> Void) async throws(BackendError)
        -> HubPull.Result
    {
        guard let hub = catalog.huggingFaceHub else { throw .unavailable("no Hugging Face cache is configured") }
        let puller = HubPull(options: .init(environment: ProcessInfo.processInfo.environment, hubDirectory: hub))
        do {
            return try await puller.pull(spec, progress: progress)
        } catch let failure as HubPull.Failure {
            throw .badRequest(param: "model", message: failure.message)
        } catch {
            throw .unavailable("pull \(spec): \(error)")
        }
    }

    public func listModels() async -> [ModelInfo] {
        let running = await supervisor.status().filter { $0.workerPID != nil }
        var served = catalog.entries().map { Served(id: $0.id, entry: $0, preset: nil) }
        for preset in presets.presets {
            if let entry = try? catalog.entry(forBackend: preset.model) {
                served.append(Served(id: preset.name, entry: entry, preset: preset))
            }
        }
        return served.map { model in
            let worker = running.first { $0.id == model.id }
            var listed = info(model, running: worker != nil, loaded: worker?.info)
            // Sizes for listings only (stat calls): a request's model check does not need them.
            listed.sizeBytes = model.entry.weightBytes
            return listed
        }
    }

    /// Resolves just `id` (the `default` alias included) instead of listing the models directory and the Hugging
    /// Face cache; nil for an id that does not resolve (`generate` then reports why).
    public func model(_ id: String) async -> ModelInfo? {
        guard let served = try? resolve(id) else { return nil }
        let worker = await supervisor.status().first { $0.id == served.id && $0.workerPID != nil }
        return info(served, running: worker != nil, loaded: worker?.info)
    }

    /// What a loaded model's worker reported wins over what the catalog read from its files.
    private func info(_ served: Served, running: Bool, loaded: LoadedInfo?) -> ModelInfo {
        let entry = served.entry
        let embedding = loaded.map { $0.embeddingLength > 0 } ?? isEncoderFamily(entry.architecture ?? "")
        let dimension = loaded.flatMap { $0.embeddingLength > 0 ? Int($0.embeddingLength) : nil } ?? entry.hiddenSize
        var context = loaded.map { Int($0.contextLength) } ?? entry.contextLength
        if let limit = served.preset?.contextLength { context = min(context ?? limit, limit) }
        // A preset's sampling values come before the model files' recommendations.
        let sampling = (served.preset?.sampling ?? .init()).filled(from: entry.recommendedSampling)
        var info = ModelInfo(id: served.id, contextLength: context,
                             inputModalities: entry.inputModalities, loaded: running, created: entry.created,
                             recommendedSampling: sampling, kind: embedding ? .embedding : .generation,
                             embeddingDimension: embedding ? dimension : nil)
        info.format = entry.format.rawValue
        info.architecture = entry.architecture
        return info
    }

    public func generate(_ request: GenerationRequest) async throws(BackendError)
        -> AsyncThrowingStream<GenerationEvent, any Error>
    {
        let model = try await register(request.model)
        let workerRequests = try WorkerRequestBuilder.build(request)
        var timeout: Double?
        if let deadline = request.deadline {
            let left = ContinuousClock.now.duration(to: deadline)
            timeout = max(0.001, Double(left.components.seconds) + Double(left.components.attoseconds) * 1e-18)
        }
        var choices: [ChoiceStream] = []
        for workerRequest in workerRequests {
            choices.append(ChoiceStream(supervisor.generate(model: model, request: workerRequest,
                                                            options: GenerateOptions(timeout: timeout))))
        }
        // Wait until every choice is accepted by the worker, so that a request the worker refuses (prompt too long,
        // bad schema, overload) becomes an HTTP status instead of an error inside a 200 stream.
        for choice in choices {
            do {
                try await choice.awaitAccepted()
            } catch {
                // Dropping the streams ends them, which cancels the other choices in the worker.
                throw Self.backendError(error, model: model)
            }
        }
        return Self.merge(choices, model: model)
    }

    public func load(model: String) async throws(BackendError) {
        let id = try await register(model)
        do {
            try await supervisor.load(model: id)
        } catch {
            throw Self.backendError(error, model: id)
        }
    }

    public func unload(model: String) async throws(BackendError) {
        let served = try resolve(model)
        await supervisor.unload(model: served.id)
    }

    public func tokenizer(model: String, _ request: TokenizerRequest, timeout: Double?) async throws(BackendError)
        -> TokenizerReply
    {
        let id = try await register(model)
        do {
            for try await event in supervisor.submit(model: id, request: .tokenizer(request),
                                                     options: GenerateOptions(timeout: timeout)) {
                if case .tokenizerReply(let reply) = event { return reply }
            }
        } catch {
            throw Self.backendError(error, model: id)
        }
        throw BackendError.internal("the worker ended a tokenizer request without a reply")
    }

    public func embed(model: String, _ request: EmbedRequest, timeout: Double?) async throws(BackendError)
        -> [Embedding]
    {
        let id = try await register(model)
        var vectors: [Embedding?] = Array(repeating: nil, count: request.inputs.count)
        do {
            for try await event in supervisor.submit(model: id, request: .embed(request),
                                                     options: GenerateOptions(timeout: timeout)) {
                switch event {
                case .embedding(let embedding):
                    guard Int(embedding.index) < vectors.count else {
                        throw BackendError.internal("the worker sent input \(embedding.index) of \(vectors.count)")
                    }
                    vectors[Int(embedding.index)] = embedding
                case .done(let completion) where completion.finishReason == .cancelled:
                    throw CancellationError()
                case .done:
                    let complete = vectors.compactMap { $0 }
                    guard complete.count == vectors.count else {
                        throw BackendError.internal("the worker ended an embed request after \(complete.count) of \(vectors.count) inputs")
                    }
                    return complete
                default:
                    continue
                }
            }
        } catch let error as BackendError {
            throw error
        } catch {
            let mapped = Self.backendError(error, model: id)
            if case .badRequest(nil, let message) = mapped { throw .badRequest(param: "input", message: message) }
            throw mapped
        }
        throw BackendError.internal("the worker ended an embed request without finishing it")
    }

    public func status() async -> BackendStatus {
        let models = await supervisor.status().map { s in
            HTTPServer.ModelStatus(id: s.id, state: Self.stateName(s.state), pid: s.workerPID,
                                   rssBytes: s.workerPID.flatMap(ProcessMemory.residentBytes(pid:)),
                                   inFlight: s.state.inFlight, loadedSince: s.loadedSince,
                                   loadProgress: s.loadProgress, load: s.load,
                                   kvCacheType: s.workerPID == nil ? nil : s.info?.kvCacheType)
        }
        return BackendStatus(models: models, workerRestarts: await supervisor.workerRestarts, ready: true)
    }

    // MARK: Models

    /// A preset's name or alias first, else the catalog (the `default` alias included).
    private func resolve(_ id: String) throws(BackendError) -> Served {
        if let preset = presets.preset(named: id) {
            return Served(id: preset.name, entry: try catalog.entry(forBackend: preset.model), preset: preset)
        }
        let entry = try catalog.entry(forBackend: id)
        return Served(id: entry.id, entry: entry, preset: nil)
    }

    /// Resolves `id` and makes sure the supervisor knows the model (models may be added to the models directory
    /// while the server runs), with its preset's load settings; returns the id the supervisor knows it by. The spec
    /// carries no memory estimate: the supervisor measures one (`estimatedWorkerBytes`) only when it starts the
    /// worker, instead of every request paying a stat of every model file.
    ///
    /// A model whose worker runs needs none of it: the supervisor keeps the spec its worker started with until the
    /// worker ends, and the request's model check (`model(_:)`) has just resolved the id against the catalog. Only a
    /// preset alias and `default` name another id, and `default` needs the catalog to say which.
    private func register(_ id: String) async throws(BackendError) -> String {
        let named = presets.preset(named: id)?.name ?? id
        if named != ModelCatalog.defaultAlias, supervisor.hasWorker(named) { return named }
        let served = try resolve(id)
        let entry = served.entry
        var spec = template
        spec.id = served.id
        spec.path = entry.path
        spec.projectorPath = entry.projectorPath ?? ""
        if let preset = served.preset {
            if let threads = preset.threads { spec.threads = threads }
            if let plugin = preset.plugin { spec.pluginPin = plugin }
            spec.contextLength = preset.contextLength ?? 0
            spec.idleUnloadAfter = preset.idleTimeout
            if let mib = preset.prefixCacheMiB { spec.prefixCacheBytes = UInt64(mib) << 20 }
            if let type = preset.kvCacheType { spec.kvCacheType = type }
        }
        await supervisor.register(spec)
        return served.id
    }

    /// What a worker serving `spec` is expected to occupy: its weights (`CatalogEntry.weightBytes`) plus 30% for the
    /// KV cache and working buffers. `serve` hands it to the supervisor (`SupervisorConfiguration.estimateWorkerBytes`),
    /// which calls it when a worker is about to start.
    public static func estimatedWorkerBytes(_ spec: ModelSpec) -> UInt64 {
        let weights = CatalogEntry.weightBytes(path: spec.path,
                                               projectorPath: spec.projectorPath.isEmpty ? nil : spec.projectorPath)
        return weights + weights * 3 / 10
    }

    static func stateName(_ state: ModelState) -> String {
        switch state {
        case .absent: "unloaded"
        case .loading: "loading"
        case .ready: "ready"
        case .busy: "busy"
        case .unloading: "unloading"
        }
    }

    // MARK: Events and errors

    /// One stream of `GenerationEvent`s for all choices: text and prompt events carry their choice's index, each
    /// choice ends with `finished`, and one `usage` follows the last. The first failure ends the whole stream and
    /// cancels the other choices; so does the consumer going away.
    static func merge(_ choices: [ChoiceStream], model: String) -> AsyncThrowingStream<GenerationEvent, any Error> {
        let (stream, continuation) = AsyncThrowingStream<GenerationEvent, any Error>.makeStream()
        let producer = Task {
            do {
                let completions = try await withThrowingTaskGroup(of: Completion?.self) { group in
                    for (index, choice) in choices.enumerated() {
                        group.addTask { try await choice.forward(index: index, to: continuation) }
                    }
                    var all: [Completion] = []
                    for try await completion in group { if let completion { all.append(completion) } }
                    return all
                }
                let prompt = completions.map { Int($0.promptTokens) }.max() ?? 0
                let cached = completions.map { Int($0.cachedTokens) }.min() ?? 0
                let generated = completions.reduce(0) { $0 + Int($1.completionTokens) }
                continuation.yield(.usage(Usage(
                    prompt: prompt, completion: generated, cachedPrompt: cached,
                    imagePrompt: completions.map { Int($0.imageTokens) }.max() ?? 0,
                    imageCacheHits: completions.reduce(0) { $0 + Int($1.imageCacheHits) },
                    imageCacheMisses: completions.reduce(0) { $0 + Int($1.imageCacheMisses) })))
                continuation.finish()
            } catch is CancellationError {
                continuation.finish(throwing: CancellationError())
            } catch {
                continuation.finish(throwing: backendError(error, model: model))
            }
        }
        // Cancelling the producer cancels its child tasks' iteration of the supervisor streams, whose termination
        // cancels the requests in the worker (within one decode step).
        continuation.onTermination = { _ in producer.cancel() }
        return stream
    }

    static func backendError(_ error: any Error, model: String) -> BackendError {
        if let error = error as? BackendError { return error }
        guard let error = error as? SupervisorError else { return .internal(String(describing: error)) }
        switch error {
        case .unknownModel(let id):
            return .modelNotFound(id)
        case .workerCrashed:
            return .workerDied(reason: error.description)
        case .crashLoop(_, _, let retry, _):
            return .unavailable("the worker for model '\(model)' keeps crashing; retry in \(Int(retry.rounded(.up))) s")
        case .deadlineExceeded:
            return .timeout
        case .loadFailed(_, let failure):
            return .unavailable("model '\(model)' failed to load: \(failure.message)")
        case .requestFailed(let failure):
            switch failure.category {
            case .badRequest: return .badRequest(param: nil, message: failure.message)
            case .overloaded: return .overloaded(retryAfter: 1)
            case .timeout: return .timeout
            case .workerFailure, .cancelled: return .internal(failure.message)
            }
        case .shuttingDown:
            return .unavailable("the server is shutting down")
        case .unloaded:
            return .unavailable("model '\(model)' was unloaded while the request ran; retry")
        case .system(let message):
            return .internal(message)
        }
    }
}

/// One choice's worker stream, read first up to `accepted` (by `generate`), then to its end (by the merge task):
/// never by two tasks at once.
final class ChoiceStream: @unchecked Sendable {
    private let stream: AsyncThrowingStream<WorkerEvent, any Error>
    private var iterator: AsyncThrowingStream<WorkerEvent, any Error>.AsyncIterator
    private var early: [WorkerEvent] = []

    init(_ stream: AsyncThrowingStream<WorkerEvent, any Error>) {
        self.stream = stream
        iterator = stream.makeAsyncIterator()
    }

    /// Reads until the worker accepted the request; throws what ended it before that.
    func awaitAccepted() async throws {
        while let event = try await iterator.next() {
            if case .accepted = event { return }
            early.append(event)
            if event.isTerminal { return }
        }
        throw CancellationError()
    }

    /// Forwards this choice's events as choice `index` until `done`, which it returns.
    func forward(index: Int, to continuation: AsyncThrowingStream<GenerationEvent, any Error>.Continuation)
        async throws -> Completion?
    {
        var pending = early
        early.removeAll()
        while true {
            let event: WorkerEvent
            if !pending.isEmpty {
                event = pending.removeFirst()
            } else {
                try Task.checkCancellation()
                guard let next = try await iterator.next() else { throw CancellationError() }
                event = next
            }
            switch event {
            case .loaded, .accepted, .loadProgress, .pong, .tokenizerReply, .embedding:
                continue
            case .prompt(let echo):
                continuation.yield(.prompt(echo.text, index: index, logprobs: Self.logprobs(echo.logprobs)))
            case .delta(let delta):
                if !delta.reasoning.isEmpty { continuation.yield(.reasoning(delta.reasoning, index: index)) }
                if !delta.text.isEmpty || !delta.logprobs.isEmpty {
                    continuation.yield(.text(delta.text, index: index, logprobs: Self.logprobs(delta.logprobs)))
                }
                for call in delta.toolCalls { continuation.yield(.toolCall(call, index: index)) }
            case .done(let completion):
                switch completion.finishReason {
                case .stop: continuation.yield(.finished(index: index, reason: .stop))
                case .length: continuation.yield(.finished(index: index, reason: .length))
                case .toolCalls: continuation.yield(.finished(index: index, reason: .toolCalls))
                case .cancelled: throw CancellationError()
                }
                return completion
            case .error(let failure):
                throw SupervisorError.requestFailed(failure)
            }
        }
    }

    static func logprobs(_ positions: [PositionLogprobs]) -> [TokenLogprob]? {
        guard !positions.isEmpty else { return nil }
        return positions.map { p in
            TokenLogprob(token: p.chosen.text, logprob: p.chosen.logprob.isNaN ? nil : Double(p.chosen.logprob),
                         top: p.top.map { TopLogprob(token: $0.text, logprob: Double($0.logprob)) })
        }
    }
}
