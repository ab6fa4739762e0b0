import CSupport
import EngineCore
import Foundation
import PluginHost
import StructuredOutput
import WorkerProtocol

/// The worker's generation loop: admits requests up to `maxSequences`, advances every active sequence with ONE
/// forward call per step (prefill chunks and single-token decodes share the batch), samples, streams output in
/// batched frames and ends each request with `done` or `error`.
///
/// - Prompts are fed in chunks of at most `prefillChunk` tokens per step, so one long prompt does not stall the
///   streams already decoding beside it. 256 rather than 512: a 500-token prompt prefilled 540-576 tok/s against
///   457-472 (activations of 256 rows stay in cache), the other streams wait half as long per step, and the
///   worker's scratch buffers are half the size (peak RSS 160 vs 166 MB; `modelhost bench`, 2 threads).
/// - Finished sequences go to a prefix cache instead of being destroyed; a request whose prompt starts with a cached
///   sequence's tokens (the next turn of a conversation) truncates that sequence to the shared prefix and computes
///   only the rest (`cachedTokens` in its `done`). Needs the plugin's `seq_truncate` capability. A prompt that
///   shares only part of a cached sequence (a common system prompt) gets a copy of that part when the plugin can
///   copy sequences (ABI 1.1 `seq_copy`), so concurrent requests all start from it and the entry stays cached.
/// - Cancels take effect within one step: a cancel that arrives during a forward call fires the step's cancellation
///   token, the plugin abandons the call (all or nothing), and the survivors simply run the step again.
final class DecodeScheduler: @unchecked Sendable {
    /// A request whose prompt is built and checked.
    private struct Prepared {
        let id: UInt64
        let request: GenerateRequest
        let prompt: [Int32]
        let constraint: JSONConstraint?
        let images: PromptImages?
        let tools: PreparedTools?
        let reasoning: PreparedReasoning?
    }

    private struct Active {
        var generation: Generation
        let sequence: SequenceHandle
        /// The positions the sequence was created with.
        let capacity: Int
        let images: PromptImages?
    }

    /// Plugin status codes this loop reacts to (MH_ERR_OUT_OF_MEMORY and MH_ERR_CANCELLED of the ABI header).
    private static let outOfMemory: Int32 = -4
    private static let cancelled: Int32 = -5

    private let model: DecoderModelHandle
    private let engine: ModelEngine
    private let host: HostServices
    private let events: EventSink
    private let inbox: Inbox
    private let load: LoadBoard
    private let maxSequences: Int
    private let prefillChunk: Int
    /// Tokens after a sequence's first are held back at most this long (or until 64 are pending) to share a frame.
    private let flushIntervalNanoseconds: UInt64
    private var active: [Active] = []
    /// Accepted requests waiting for a free sequence, in arrival order.
    private var waiting: [Prepared] = []
    private var cache: PrefixCache<SequenceHandle>
    /// Requests whose images are being prepared on `visionQueue`; true once cancelled (the result is then dropped).
    private var encoding: [UInt64: Bool] = [:]
    /// Decoding and encoding images takes seconds per image on a real vision model: it runs here, one request at a
    /// time, so the streams already decoding keep going meanwhile.
    private let visionQueue = DispatchQueue(label: "modelhost.worker.vision")

    /// The step in flight, shared with the reader thread's cancel path.
    private let stepLock = NSLock()
    private var stepToken: UInt64 = 0
    private var stepIDs: Set<UInt64> = []
    private var nextToken: UInt64 = 1

    /// What one cached position's KV memory occupies (measured at start), for the prefix cache's byte budget; 0
    /// when the plugin keeps its caches outside the host's allocator (the cache is then bounded in entries only).
    private let bytesPerPosition: Int

    init(model: DecoderModelHandle, engine: ModelEngine, host: HostServices, events: EventSink, inbox: Inbox,
         load: LoadBoard, maxSequences: Int, prefixCacheBytes: Int, prefillChunk: Int = 256,
         flushIntervalNanoseconds: UInt64 = 2_000_000) {
        self.model = model
        self.engine = engine
        self.host = host
        self.events = events
        self.inbox = inbox
        self.load = load
        self.maxSequences = max(1, maxSequences)
        self.prefillChunk = max(1, prefillChunk)
        self.flushIntervalNanoseconds = flushIntervalNanoseconds
        bytesPerPosition = Self.measureBytesPerPosition(model, host, context: engine.contextLength)
        // Idle sequences cover the conversations in progress; each holds its KV memory until evicted. The byte
        // budget bounds their memory (0 turns the cache off); the count only keeps the idle sequences no more
        // numerous than the active ones may be.
        cache = PrefixCache(limit: model.canTruncate && prefixCacheBytes > 0 ? maxSequences : 0,
                            byteBudget: prefixCacheBytes)
    }

    /// The host-allocated bytes of a sequence of up to 256 positions, per position. Measured before any request
    /// (nothing else allocates through the host meanwhile); a sequence's KV memory grows linearly with its capacity.
    private static func measureBytesPerPosition(_ model: DecoderModelHandle, _ host: HostServices,
                                                context: Int) -> Int {
        let probe = max(1, min(256, context))
        let before = host.liveBytes
        guard let sequence = try? model.makeSequence(capacity: probe) else { return 0 }
        let bytes = Int(host.liveBytes &- before)
        sequence.destroy()
        return max(0, bytes / probe)
    }

    /// Called on the reader thread: interrupts the current forward call if it advances `requestID`.
    func interrupt(requestID: UInt64) {
        stepLock.lock()
        defer { stepLock.unlock() }
        if stepIDs.contains(requestID) { host.cancel(stepToken) }
    }

    /// Runs until a stop item arrives; returns its reason.
    func run() -> String {
        while true {
            // Before waiting (the state the last step left) and after admitting (the state the next step runs in).
            publishLoad()
            if let reason = absorb(inbox.drain(wait: active.isEmpty && waiting.isEmpty)) {
                finishAll(reason: reason)
                return reason
            }
            admit()
            publishLoad()
            if !active.isEmpty { step() }
        }
    }

    /// What the supervisor's next ping reports (see `WorkerLoad`).
    private func publishLoad() {
        load.publish(WorkerLoad(
            running: UInt32(clamping: active.count), waiting: UInt32(clamping: waiting.count + encoding.count),
            kvPositionsUsed: UInt64(active.reduce(0) { $0 + $1.generation.fed.count }),
            kvPositionsCapacity: UInt64(maxSequences) * UInt64(max(0, engine.contextLength)),
            kvPositionsCached: UInt64(cache.positions)))
    }

    // MARK: Requests in

    private func absorb(_ items: [InboxItem]) -> String? {
        for item in items {
            switch item {
            case .generate(let id, let request):
                if active.contains(where: { $0.generation.id == id }) || waiting.contains(where: { $0.id == id })
                    || encoding[id] != nil {
                    events.send(.error(WorkerFailure(.badRequest, "request id \(id) is already in flight")),
                                requestID: id)
                } else if let vision = engine.vision, !request.images.isEmpty {
                    encoding[id] = false
                    let inbox = self.inbox
                    visionQueue.async {
                        let result: Result<PreparedImages, WorkerFailure>
                        do throws(WorkerFailure) {
                            result = .success(try vision.prepare(request.images))
                        } catch {
                            result = .failure(error)
                        }
                        inbox.post(.imagesReady(requestID: id, request, result))
                    }
                } else {
                    accept(id, request, images: nil)
                }
            case .imagesReady(let id, let request, let result):
                guard let cancelled = encoding.removeValue(forKey: id), !cancelled else { continue }
                switch result {
                case .success(let images): accept(id, request, images: images)
                case .failure(let failure): events.send(.error(failure), requestID: id)
                }
            case .cancel(let id):
                if encoding[id] == false {
                    encoding[id] = true
                    events.send(.done(Completion(finishReason: .cancelled, promptTokens: 0, completionTokens: 0)),
                                requestID: id)
                    continue
                }
                if let index = active.firstIndex(where: { $0.generation.id == id }) {
                    finish(at: index, .cancelled)
                } else if let index = waiting.firstIndex(where: { $0.id == id }) {
                    waiting.remove(at: index)
                    events.send(.done(Completion(finishReason: .cancelled, promptTokens: 0, completionTokens: 0)),
                                requestID: id)
                }
            case .embed(let id, _):
                events.send(.error(WorkerFailure(.badRequest, "this is a text generation model; /v1/embeddings needs "
                    + "an embedding model (a text encoder)")), requestID: id)
            case .stop(let reason):
                return reason
            }
        }
        return nil
    }

    /// Builds and checks the prompt; an accepted request waits for a sequence.
    private func accept(_ id: UInt64, _ request: GenerateRequest, images: PreparedImages?) {
        do throws(WorkerFailure) {
            let prepared = try prepare(id, request, images: images)
            events.send(.accepted(promptTokens: UInt32(prepared.prompt.count)), requestID: id)
            waiting.append(prepared)
        } catch {
            events.send(.error(error), requestID: id)
        }
    }

    private func admit() {
        while active.count < maxSequences, !waiting.isEmpty {
            let prepared = waiting.removeFirst()
            do throws(WorkerFailure) {
                try start(prepared)
            } catch {
                events.send(.error(error), requestID: prepared.id)
            }
        }
    }

    /// Builds the prompt and checks the request against the model (on arrival, so failures come back at once).
    private func prepare(_ id: UInt64, _ request: GenerateRequest,
                         images prepared: PreparedImages?) throws(WorkerFailure) -> Prepared {
        var prompt: [Int32]
        var images: PromptImages?
        var tools: ToolCalling?
        var reasoning: PreparedReasoning?
        if let toolRequest = request.tools {
            guard case .chat = request.input, let prompts = engine.prompts else {
                throw WorkerFailure(.badRequest, "tools need a chat prompt and a model with a tokenizer")
            }
            guard engine.vision == nil else {
                throw WorkerFailure(.badRequest, "tools are not supported with vision models yet")
            }
            tools = prompts.toolCalling(toolRequest)
        }
        if !request.images.isEmpty && engine.vision == nil {
            throw WorkerFailure(.badRequest, "this model accepts text only; remove the image parts")
        }
        switch request.input {
        case .tokens(let ids):
            guard request.images.isEmpty else { throw WorkerFailure(.badRequest, "images need a chat prompt") }
            prompt = ids
        case .text:
            guard request.images.isEmpty else { throw WorkerFailure(.badRequest, "images need a chat prompt") }
            fallthrough
        case .chat:
            guard let prompts = engine.prompts else {
                throw WorkerFailure(.badRequest, "this model has no tokenizer; send token ids")
            }
            do {
                if let vision = engine.vision, case .chat(let messages) = request.input {
                    // Vision templates take content as a list of parts, with or without images.
                    let prepared = prepared ?? PreparedImages()
                    prompt = try prompts.imageChatTokens(
                        messagesJSON: messages, layout: vision.layout,
                        images: prepared.images.map { ($0.rows, $0.cols, $0.split) })
                    if !request.images.isEmpty {
                        images = try PromptImages(prompt: prompt, imageToken: vision.imageToken,
                                                  prepared: prepared.images, embeddingLength: vision.encoder.embeddingLength,
                                                  hits: prepared.hits, misses: prepared.misses)
                    }
                } else if case .chat(let messages) = request.input {
                    let text = try prompts.chatText(messagesJSON: messages, tools: tools,
                                                    templateArgumentsJSON: request.templateArgumentsJSON)
                    prompt = prompts.encode(text)
                    if let markers = prompts.reasoningMarkers {
                        reasoning = PreparedReasoning(markers: markers, startsInside: markers.opens(text))
                    }
                } else {
                    prompt = try prompts.tokens(for: request.input)
                }
            } catch let error as PromptError {
                throw WorkerFailure(.badRequest, error.message)
            } catch let failure as WorkerFailure {
                throw failure
            } catch {
                throw WorkerFailure(.workerFailure, "\(error)")
            }
        }
        try validate(prompt, request)
        var constraint: JSONConstraint?
        var preparedTools: PreparedTools?
        if let tools {
            guard let vocabulary = engine.constraintVocabulary(), let tokenizer = engine.tokenizer else {
                throw WorkerFailure(.badRequest, "this model has no tokenizer, so it cannot call tools")
            }
            do {
                let built = try tools.constraint(vocabulary: vocabulary, tokenizer: tokenizer,
                                                 reasoning: reasoning.map { ($0.markers, $0.startsInside) })
                constraint = built.constraint
                preparedTools = PreparedTools(calling: tools, triggerTokens: built.triggerTokens)
            } catch {
                throw WorkerFailure(.badRequest, error.message)
            }
        }
        switch request.format {
        case .text:
            break
        case .jsonObject, .jsonSchema:
            guard let vocabulary = engine.constraintVocabulary() else {
                throw WorkerFailure(.badRequest, "this model has no tokenizer, so its output cannot be constrained")
            }
            var schema: String?
            if case .jsonSchema(let text) = request.format { schema = text }
            do {
                constraint = try JSONConstraint(schemaJSON: schema, vocabulary: vocabulary)
            } catch {
                throw WorkerFailure(.badRequest, "response_format: \(error.message)")
            }
        }
        if request.echo && request.logprobs != nil && !model.canReturnAllLogits {
            throw WorkerFailure(.badRequest, "this model's decoder plugin cannot score prompts (echo with logprobs)")
        }
        return Prepared(id: id, request: request, prompt: prompt, constraint: constraint, images: images,
                        tools: preparedTools, reasoning: reasoning)
    }

    /// Makes (or reuses) the sequence of an accepted request and starts decoding it.
    private func start(_ prepared: Prepared) throws(WorkerFailure) {
        let (id, request, prompt) = (prepared.id, prepared.request, prepared.prompt)
        let scoresPrompt = request.echo && request.logprobs != nil
        if request.echo && !scoresPrompt { events.send(.prompt(PromptEcho(text: echoText(request, prompt))), requestID: id) }
        if request.maxTokens == 0 && !scoresPrompt {
            events.send(.done(Completion(finishReason: .length, promptTokens: UInt32(prompt.count),
                                         completionTokens: 0)), requestID: id)
            return
        }
        let budget = request.maxTokens == GenerateRequest.unlimited
            ? engine.contextLength - prompt.count : Int(request.maxTokens)
        // Rounded up so that a later turn of the same conversation fits the cached sequence.
        let capacity = min(engine.contextLength, (prompt.count + budget + 255) / 256 * 256)
        // Image positions hold the same placeholder token whatever the image, so the prefix cache cannot tell two
        // image prompts apart: they neither reuse nor keep a sequence.
        let (sequence, reuse) = try acquireSequence(prompt: prompt, capacity: capacity,
                                                    reuse: request.reusePrefix && !scoresPrompt && prepared.images == nil)
        let generation = Generation(id: id, request: request, prompt: prompt, cached: reuse, engine: engine,
                                    constraint: prepared.constraint, tools: prepared.tools,
                                    reasoning: prepared.reasoning, now: mh_monotonic_ns())
        active.append(Active(generation: generation, sequence: sequence, capacity: capacity, images: prepared.images))
    }

    private func validate(_ prompt: [Int32], _ request: GenerateRequest) throws(WorkerFailure) {
        let context = engine.contextLength
        if prompt.isEmpty { throw WorkerFailure(.badRequest, "the prompt has no tokens") }
        if prompt.count >= context {
            throw WorkerFailure(.badRequest, "the prompt has \(prompt.count) tokens; this model's context holds \(context)")
        }
        if request.maxTokens != GenerateRequest.unlimited, prompt.count + Int(request.maxTokens) > context {
            throw WorkerFailure(.badRequest, "the prompt (\(prompt.count) tokens) plus max_tokens (\(request.maxTokens)) "
                + "exceeds this model's context of \(context) tokens")
        }
        let vocabulary = engine.vocabularySize
        if let bad = prompt.first(where: { $0 < 0 || Int($0) >= vocabulary }) {
            throw WorkerFailure(.badRequest, "prompt token \(bad) is outside this model's vocabulary 0..<\(vocabulary)")
        }
        if let bad = request.stopTokens.first(where: { $0 < 0 || Int($0) >= vocabulary }) {
            throw WorkerFailure(.badRequest, "stop token \(bad) is outside this model's vocabulary 0..<\(vocabulary)")
        }
        if !request.stopStrings.isEmpty && engine.tokenizer == nil {
            throw WorkerFailure(.badRequest, "this model has no tokenizer, so stop strings cannot be matched")
        }
        let s = request.sampling
        if !(s.temperature >= 0 && s.temperature.isFinite) {
            throw WorkerFailure(.badRequest, "temperature must be a finite number >= 0, got \(s.temperature)")
        }
        if let bad = s.logitBias.keys.first(where: { $0 < 0 || Int($0) >= vocabulary }) {
            throw WorkerFailure(.badRequest, "logit_bias names token \(bad), outside this model's vocabulary")
        }
    }

    private func echoText(_ request: GenerateRequest, _ prompt: [Int32]) -> String {
        if case .text(let text) = request.input { return text }
        return engine.tokenizer?.decode(prompt, skipSpecial: false) ?? ""
    }

    /// A sequence for `prompt`: the cached one sharing the longest prefix, or a new one (evicting idle cached
    /// sequences while the memory budget refuses).
    private func acquireSequence(prompt: [Int32], capacity: Int,
                                 reuse: Bool) throws(WorkerFailure) -> (SequenceHandle, Int) {
        switch reuse ? cache.match(prompt, capacity: capacity, canCopy: model.canCopySequences) : nil {
        case .take(let handle, let shared)?:
            do {
                try handle.truncate(to: shared)
                return (handle, shared)
            } catch {
                WorkerLog.write("prefix cache: cannot truncate a cached sequence (\(error)); starting afresh")
                handle.destroy()
            }
        case .copy(let source, let shared)?:
            // The cached entry stays for other requests sharing the prefix. No eviction here: it could pick the
            // source; when memory is short, start afresh below, which may evict.
            if let handle = try? model.makeSequence(capacity: capacity) {
                do {
                    try handle.copy(from: source, count: shared)
                    return (handle, shared)
                } catch {
                    WorkerLog.write("prefix cache: cannot copy a cached prefix (\(error)); starting afresh")
                    handle.destroy()
                }
            }
        case nil:
            break
        }
        while true {
            do {
                return (try model.makeSequence(capacity: capacity), 0)
            } catch where error.code == Self.outOfMemory {
                guard let idle = cache.removeOldest() else {
                    throw WorkerFailure(.overloaded, "cannot create a sequence: \(error)")
                }
                idle.destroy()
            } catch {
                throw WorkerFailure(.workerFailure, "cannot create a sequence: \(error)")
            }
        }
    }

    // MARK: One decode step

    private func step() {
        var entries: [DecoderModelHandle.Entry] = []
        var inputs: [[Int32]] = []
        for item in active {
            let g = item.generation
            let input: [Int32]
            let mode: DecoderModelHandle.Entry.Logits
            if g.prefillDone {
                input = [g.nextInput]
                mode = .last
            } else {
                let start = g.fed.count
                var end = min(g.prompt.count, start + prefillChunk)
                var embeddings: [Float]?
                if let images = item.images {
                    // A chunk is all tokens or all image embeddings: it stops where the kind changes.
                    let piece = images.piece(from: start, limit: end)
                    end = piece.end
                    embeddings = piece.embeddings
                }
                input = Array(g.prompt[start..<end])
                mode = g.wantsPromptLogprobs ? .all : (end == g.prompt.count ? .last : .none)
                if let embeddings {
                    inputs.append(input)
                    entries.append(DecoderModelHandle.Entry(sequence: item.sequence,
                                                            input: .embeddings(embeddings, count: input.count),
                                                            logits: mode))
                    continue
                }
            }
            inputs.append(input)
            entries.append(DecoderModelHandle.Entry(sequence: item.sequence, input: .tokens(input), logits: mode))
        }
        let lengths = active.map { $0.generation.fed.count }
        let token = beginStep()
        defer { endStep(token) }
        var logits: [[Float]]
        do {
            logits = try model.forward(entries, cancelToken: token)
        } catch where error.code == Self.cancelled {
            // Abandoned for a cancel: nothing advanced (all or nothing); the cancel is in the inbox for the next turn.
            for (index, item) in active.enumerated() where item.sequence.length != lengths[index] {
                try? item.sequence.truncate(to: lengths[index])
            }
            return
        } catch {
            let failed = active
            active.removeAll()
            for item in failed {
                item.sequence.destroy()
                events.send(.error(WorkerFailure(.workerFailure, "the decoder failed: \(error)")),
                            requestID: item.generation.id)
            }
            return
        }
        let now = mh_monotonic_ns()
        let vocabulary = engine.vocabularySize
        var finished: [(Int, FinishReason?, String?)] = []
        for index in active.indices {
            let wasPrefilling = !active[index].generation.prefillDone
            let start = active[index].generation.fed.count
            active[index].generation.fed += inputs[index]
            if active[index].generation.wantsPromptLogprobs && wasPrefilling {
                collectPromptLogprobs(index, start: start, rows: logits[index])
            }
            guard active[index].generation.prefillDone else { continue }
            if wasPrefilling && active[index].generation.wantsPromptLogprobs {
                let g = active[index].generation
                events.send(.prompt(PromptEcho(text: echoText(g.request, g.prompt), logprobs: g.promptLogprobs)),
                            requestID: g.id)
                if g.request.maxTokens == 0 {
                    finished.append((index, .length, nil))
                    continue
                }
            }
            // The row that predicts the next token is the last one returned.
            var row = logits[index].count == vocabulary
                ? logits[index] : Array(logits[index][(logits[index].count - vocabulary)...])
            logits[index] = []
            switch active[index].generation.advance(logits: &row, engine: engine) {
            case .finished(let reason):
                finished.append((index, reason, nil))
            case .failed(let message):
                finished.append((index, nil, message))
            case .continue:
                let g = active[index].generation
                if g.fed.count + 1 > active[index].capacity {
                    finished.append((index, .length, nil))
                } else if g.generated == 1 || g.pending.tokens.count >= 64
                            || now &- g.lastFlush >= flushIntervalNanoseconds {
                    // The first token goes out at once (time to first token); later ones share frames.
                    flush(index, now: now)
                }
            }
        }
        for (index, reason, failure) in finished.reversed() {
            if let reason {
                finish(at: index, reason)
            } else {
                fail(at: index, WorkerFailure(.workerFailure, failure ?? "generation failed"))
            }
        }
    }

    /// Logprobs of prompt tokens from a prefill chunk's rows: row r predicts the token at position start + r + 1.
    private func collectPromptLogprobs(_ index: Int, start: Int, rows: [Float]) {
        let vocabulary = engine.vocabularySize
        let prompt = active[index].generation.prompt
        let top = Int(active[index].generation.request.logprobs ?? 0)
        if start == 0 {
            active[index].generation.promptLogprobs.append(PositionLogprobs(
                chosen: engine.probability(prompt[0], .nan), top: []))
        }
        let count = rows.count / vocabulary
        rows.withUnsafeBufferPointer { all in
            for r in 0..<count {
                let position = start + r + 1
                guard position < prompt.count else { break }
                let row = UnsafeBufferPointer(rebasing: all[(r * vocabulary)..<((r + 1) * vocabulary)])
                active[index].generation.promptLogprobs.append(
                    engine.positionLogprobs(row: row, chosen: prompt[position], top: top))
            }
        }
    }

    private func beginStep() -> UInt64 {
        stepLock.lock()
        defer { stepLock.unlock() }
        stepToken = nextToken
        nextToken &+= 1
        stepIDs = Set(active.map(\.generation.id))
        return stepToken
    }

    private func endStep(_ token: UInt64) {
        stepLock.lock()
        stepIDs.removeAll()
        stepLock.unlock()
        host.retire(token)
    }

    // MARK: Events out

    private func flush(_ index: Int, now: UInt64) {
        guard let delta = active[index].generation.takePending() else { return }
        events.send(.delta(delta), requestID: active[index].generation.id)
        active[index].generation.lastFlush = now
    }

    /// Ends a request normally and keeps its sequence for prefix reuse.
    private func finish(at index: Int, _ reason: FinishReason) {
        if reason != .cancelled { active[index].generation.finishText() }
        flush(index, now: mh_monotonic_ns())
        let item = active.remove(at: index)
        let g = item.generation
        if g.request.reusePrefix && item.images == nil {
            item.sequence.reachedPositions = max(item.sequence.reachedPositions, g.fed.count)
            for evicted in cache.put(item.sequence, tokens: g.fed, capacity: item.capacity,
                                     bytes: item.sequence.reachedPositions * bytesPerPosition) { evicted.destroy() }
        } else {
            item.sequence.destroy()
        }
        // An answer that ends in tool calls says so, as OpenAI's does.
        let reason = reason == .stop && g.toolCallCount > 0 ? .toolCalls : reason
        events.send(.done(Completion(finishReason: reason, promptTokens: UInt32(g.prompt.count),
                                     completionTokens: g.generated, cachedTokens: UInt32(g.cached),
                                     imageTokens: UInt32(item.images?.positions ?? 0),
                                     imageCacheHits: UInt32(item.images?.cacheHits ?? 0),
                                     imageCacheMisses: UInt32(item.images?.cacheMisses ?? 0))),
                    requestID: g.id)
    }

    private func fail(at index: Int, _ failure: WorkerFailure) {
        let item = active.remove(at: index)
        item.sequence.destroy()
        events.send(.error(failure), requestID: item.generation.id)
    }

    private func finishAll(reason: String) {
        let failure = WorkerFailure(.cancelled, "the worker is stopping (\(reason))")
        for item in active {
            item.sequence.destroy()
            events.send(.error(failure), requestID: item.generation.id)
        }
        for prepared in waiting { events.send(.error(failure), requestID: prepared.id) }
        for (id, cancelled) in encoding where !cancelled { events.send(.error(failure), requestID: id) }
        encoding.removeAll()
        for idle in cache.removeAll() { idle.destroy() }
        active.removeAll()
        waiting.removeAll()
    }
}
