import EngineCore
import PluginHost
import Sampling
import StructuredOutput
import Tokenizer
import WorkerProtocol

/// What the worker knows about its model beyond the plugin: the prompt builder (absent for a model without a
/// tokenizer, which then takes token prompts only), the tokens that end generation, and the vocabulary as bytes for
/// constrained decoding (built on first use).
final class ModelEngine: @unchecked Sendable {
    let prompts: PromptBuilder?
    let vocabularySize: Int
    let contextLength: Int
    /// EOS, EOT and the other end-of-turn markers: sampling one ends the output with `stop`.
    let endTokens: Set<Int32>
    private var constraintVocabularyCache: ConstraintVocabulary?

    /// The image half, for a model with a vision projector.
    let vision: VisionStack?

    init(prompts: PromptBuilder?, vocabularySize: Int, contextLength: Int, eosToken: Int32?, vision: VisionStack? = nil) {
        self.prompts = prompts
        self.vision = vision
        self.vocabularySize = vocabularySize
        self.contextLength = contextLength
        var end = prompts?.tokenizer.endOfTurnTokens ?? []
        if let eos = eosToken ?? prompts?.tokenizer.eosToken { end.insert(eos) }
        endTokens = end
    }

    var tokenizer: (any TextTokenizer)? { prompts?.tokenizer }

    /// The vocabulary as the bytes each token adds to the output (nil for special tokens), shared by every
    /// constrained request.
    func constraintVocabulary() -> ConstraintVocabulary? {
        if let cached = constraintVocabularyCache { return cached }
        guard let tokenizer else { return nil }
        let bytes: [[UInt8]?] = (0..<vocabularySize).map { id in
            let token = Int32(id)
            if tokenizer.isSpecial(token) { return nil }
            let b = tokenizer.decodedBytes(of: token, isFirst: false, skipSpecial: true)
            return b.isEmpty ? nil : b
        }
        let vocabulary = ConstraintVocabulary(tokenBytes: bytes, endTokens: endTokens)
        constraintVocabularyCache = vocabulary
        return vocabulary
    }

    /// The token as logprobs report it.
    func probability(_ token: Int32, _ logprob: Float) -> TokenProbability {
        let bytes = tokenizer?.decodedBytes(of: token, isFirst: false, skipSpecial: false) ?? []
        return TokenProbability(token: token, bytes: bytes, logprob: logprob)
    }

    func positionLogprobs(row: UnsafeBufferPointer<Float>, chosen: Int32, top: Int) -> PositionLogprobs {
        let lp = logprobs(of: row, chosen: chosen, top: top)
        return PositionLogprobs(chosen: probability(chosen, lp.logprob),
                                top: lp.top.map { probability($0.token, $0.logprob) })
    }
}

/// A request's tool calling, ready to decode: the format's parser input, and the special tokens that trigger calls
/// (the output's text leaves special tokens out, but the parser must see these).
struct PreparedTools {
    let calling: ToolCalling
    let triggerTokens: [Int32: String]
}

/// A reasoning model's markers, and whether the prompt already opened a thought.
struct PreparedReasoning {
    let markers: ReasoningMarkers
    let startsInside: Bool
}

/// One request's decoding state apart from its KV sequence: prompt progress, the sampler, the grammar, the text
/// assembly and what is waiting to be sent.
struct Generation {
    let id: UInt64
    let request: GenerateRequest
    let prompt: [Int32]
    /// Prompt tokens whose state came from the prefix cache.
    let cached: Int
    /// Tokens whose state the sequence holds, in order (prompt, then fed outputs): what the prefix cache keeps.
    var fed: [Int32]
    var sampler: TokenSampler
    var constraint: JSONConstraint?
    var output: TextOutput?
    /// Splits the output into content and tool calls, when the request has tools.
    var toolParser: ToolCallParser?
    /// Takes a reasoning model's thoughts out of the output first, so they reach neither content nor a tool call.
    var reasoningSplitter: ReasoningSplitter?
    let triggerTokens: [Int32: String]
    let stopTokens: Set<Int32>
    /// The token the next decode step feeds.
    var nextInput: Int32 = 0
    var generated: UInt32 = 0
    /// Prompt logprobs for echo, gathered over the prefill chunks.
    var promptLogprobs: [PositionLogprobs] = []
    var pending = OutputDelta(tokens: [])
    var lastFlush: UInt64

    var prefillDone: Bool { fed.count >= prompt.count }
    var wantsPromptLogprobs: Bool { request.echo && request.logprobs != nil }

    var toolCallCount: Int { toolParser?.callCount ?? 0 }

    init(id: UInt64, request: GenerateRequest, prompt: [Int32], cached: Int, engine: ModelEngine,
         constraint: JSONConstraint?, tools: PreparedTools? = nil, reasoning: PreparedReasoning? = nil,
         now: UInt64) {
        self.id = id
        self.request = request
        self.prompt = prompt
        self.cached = cached
        fed = Array(prompt[..<cached])
        sampler = TokenSampler(parameters: request.sampling, vocabularySize: engine.vocabularySize, promptTokens: prompt)
        self.constraint = constraint
        output = engine.tokenizer.map { TextOutput(tokenizer: $0, stopStrings: request.stopStrings) }
        toolParser = tools?.calling.parser()
        reasoningSplitter = reasoning.map { ReasoningSplitter(markers: $0.markers, startsInside: $0.startsInside) }
        triggerTokens = tools?.triggerTokens ?? [:]
        var stops = Set(request.stopTokens)
        if !request.ignoreEndTokens { stops.formUnion(engine.endTokens) }
        stopTokens = stops
        lastFlush = now
    }

    /// What happened to the output after one token was chosen.
    enum TokenOutcome {
        case `continue`
        case finished(FinishReason)
        case failed(String)
    }

    /// Chooses the next token from `logits` (the model's row, modified in place) and appends it to the output.
    mutating func advance(logits: inout [Float], engine: ModelEngine) -> TokenOutcome {
        // Logprobs describe the model's own distribution, so they come from the row before the grammar and the
        // sampler reshape it (a copy, made only when asked for).
        let raw: [Float]? = request.logprobs != nil ? Array(logits) : nil
        let token = logits.withUnsafeMutableBufferPointer { row -> Int32 in
            constraint?.mask(row)
            if let closing = closingToken(row) { return closing }
            let sampled = sampler.sample(row)
            return fitsBudget(sampled) ? sampled : closingToken(row, force: true) ?? sampled
        }
        guard token != TokenSampler.noCandidate else {
            return .failed("no token is allowed here (the output grammar and the sampler left nothing to choose)")
        }
        var entry: PositionLogprobs?
        if let raw, let top = request.logprobs {
            entry = raw.withUnsafeBufferPointer { engine.positionLogprobs(row: $0, chosen: token, top: Int(top)) }
        }
        return accept(token, logprobs: entry)
    }

    /// Near the end of its token budget, a constrained output must still be a complete value: once the tokens left
    /// barely cover the shortest completion, pick (among the model's 64 likeliest allowed tokens) the one that
    /// shortens it most, so `max_tokens` never cuts a JSON value in half.
    private mutating func closingToken(_ row: UnsafeMutableBufferPointer<Float>, force: Bool = false) -> Int32? {
        guard let constraint, constraint.constrainsOutput, request.maxTokens != GenerateRequest.unlimited else {
            return nil
        }
        let left = Int(request.maxTokens) - Int(generated)
        let needed = constraint.minimumBytesToComplete
        guard force || left <= needed + 2 else { return nil }
        if constraint.isComplete,
           let end = stopTokens.first(where: { $0 >= 0 && Int($0) < row.count && row[Int($0)] > -Float.infinity }) {
            return end
        }
        var candidates: [(token: Int32, logit: Float)] = []
        for i in 0..<row.count where row[i] > -Float.infinity { candidates.append((Int32(i), row[i])) }
        candidates.sort { $0.logit > $1.logit }
        var best: (token: Int32, remaining: Int, logit: Float)?
        for candidate in candidates.prefix(64) {
            var trial = constraint
            guard trial.accept(candidate.token) else { continue }
            let remaining = trial.minimumBytesToComplete
            if best == nil || remaining < best!.remaining { best = (candidate.token, remaining, candidate.logit) }
        }
        // None of the likeliest fits what is left: look through every allowed token (rare, near the limit only).
        if let found = best, found.remaining >= left, candidates.count > 64 {
            for candidate in candidates.dropFirst(64) {
                var trial = constraint
                guard trial.accept(candidate.token) else { continue }
                let remaining = trial.minimumBytesToComplete
                if remaining < best!.remaining { best = (candidate.token, remaining, candidate.logit) }
                if best!.remaining < left - 1 { break }
            }
        }
        return best?.token
    }

    /// Whether the output can still be completed within the token budget after `token`: every byte of the shortest
    /// completion can be written as a token of its own, so a completion of at most as many bytes as tokens are left
    /// always fits. A token that breaks this (starting another parallel call or array item too close to the limit)
    /// is replaced by the closing choice.
    private func fitsBudget(_ token: Int32) -> Bool {
        guard var trial = constraint, trial.constrainsOutput, request.maxTokens != GenerateRequest.unlimited,
              !stopTokens.contains(token) else { return true }
        let leftAfter = Int(request.maxTokens) - Int(generated) - 1
        guard leftAfter < 1 << 20, trial.accept(token) else { return true }
        return trial.minimumBytesToComplete <= leftAfter
    }

    /// Appends `token` (already chosen) and its logprobs to the output.
    mutating func accept(_ token: Int32, logprobs: PositionLogprobs?) -> TokenOutcome {
        if stopTokens.contains(token) { return .finished(.stop) }
        if constraint != nil, !constraint!.accept(token) {
            return .failed("constrained decoding chose token \(token), which the grammar does not allow")
        }
        sampler.accept(token)
        generated += 1
        nextInput = token
        pending.tokens.append(token)
        if let logprobs { pending.logprobs.append(logprobs) }
        if var text = output {
            var piece = text.append(token)
            if let trigger = triggerTokens[token] { piece += trigger }
            emit(piece)
            output = text
            if text.stopped { return .finished(.stop) }
        }
        if generated >= request.maxTokens { return .finished(.length) }
        return .continue
    }

    /// Output text to send: reasoning split off first, then content as it is or through the tool-call parser.
    private mutating func emit(_ text: String, final: Bool = false) {
        var answer = text
        if var splitter = reasoningSplitter {
            var pieces = text.isEmpty ? [] : splitter.feed(text)
            if final { pieces += splitter.finish() }
            reasoningSplitter = splitter
            answer = ""
            for piece in pieces {
                switch piece {
                case .reasoning(let thought): pending.reasoning += thought
                case .content(let content): answer += content
                }
            }
        }
        guard var parser = toolParser else {
            pending.text += answer
            return
        }
        var parsed = answer.isEmpty ? [] : parser.feed(answer)
        if final { parsed += parser.finish() }
        toolParser = parser
        for item in parsed {
            switch item {
            case .content(let content): pending.text += content
            case .toolCall(let call): pending.toolCalls.append(call)
            }
        }
    }

    /// Everything the output still holds back, once the request ends.
    mutating func finishText() {
        if var text = output {
            emit(text.finish(), final: true)
            output = text
        }
    }

    mutating func takePending() -> OutputDelta? {
        guard !pending.tokens.isEmpty || !pending.text.isEmpty || !pending.toolCalls.isEmpty
            || !pending.reasoning.isEmpty else { return nil }
        defer { pending = OutputDelta(tokens: []) }
        return pending
    }
}
