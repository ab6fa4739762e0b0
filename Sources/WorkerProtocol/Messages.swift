import Sampling

/// The messages an orchestrator and a worker exchange over the worker's two rings. Both sides import this module and
/// nothing else of each other's. Each message is one transport frame: the frame's `type` says which message it is
/// (`MessageType`), the frame's request id correlates it (0 for worker-wide messages such as `load` and `shutdown`),
/// and the payload is the binary encoding below.

/// Frame type codes. Requests (orchestrator → worker) are below 100, events (worker → orchestrator) from 100.
public enum MessageType: UInt32, Sendable {
    case load = 1
    case generate = 2
    case cancel = 3
    case shutdown = 4
    case ping = 5
    case tokenizer = 6
    case embed = 7

    case loaded = 100
    case delta = 101
    case done = 102
    case error = 103
    case prompt = 104
    case accepted = 105
    case loadProgress = 106
    case pong = 107
    case tokenizerReply = 108
    case embedding = 109
}

/// How a decoder stores its sequences' keys and values: `f32` as computed (the default); `f16` and `bf16` in half
/// the memory, each value rounded; `q8_0` in blocks of 32 bytes with a scale (the plugin must declare the type; see
/// `mh_kv_cache_type` in the SDK).
public enum KVCacheType: String, Sendable, CaseIterable {
    case f32, f16, bf16, q8_0

    /// The names, for messages: "f32, f16, bf16".
    public static let names = allCases.map(\.rawValue).joined(separator: ", ")
}

/// What the worker should load: the model file, how to choose its decoder plugin, and its resource budget.
public struct LoadRequest: Equatable, Sendable {
    /// Absolute path of the model file (GGUF).
    public var modelPath: String
    /// The model family to select a plugin for; empty means "read `general.architecture` from the file".
    public var family: String
    /// Compute threads the plugin may use.
    public var threads: UInt32
    /// A plugin id to use instead of automatic selection; empty for none.
    public var pluginPin: String
    /// Extra plugin directories, searched before the standard ones.
    public var pluginPaths: [String]
    /// The most sequences decoded together; further requests wait in the worker for a free slot.
    public var maxSequences: UInt32
    /// The vision projector that makes the model accept images: an `mmproj` GGUF, or the model's own Hugging Face
    /// folder. Empty for a text-only model, whose worker then never loads a vision plugin.
    public var projectorPath: String
    public var vision: VisionSettings
    /// The context the worker serves, at most the model's own; 0 for the model's own (a preset's `context_length`).
    public var contextLength: UInt32
    /// The most KV memory idle sequences kept for prefix reuse may hold together; 0 keeps none.
    public var prefixCacheBytes: UInt64
    /// How the decoder stores keys and values.
    public var kvCacheType: KVCacheType

    /// What a load request that names no prefix-cache budget gets (tools and tests; `modelhost serve` always sends
    /// its configured one).
    public static let defaultPrefixCacheBytes: UInt64 = 1 << 30

    public init(modelPath: String, family: String = "", threads: UInt32 = 1, pluginPin: String = "",
                pluginPaths: [String] = [], maxSequences: UInt32 = 16, projectorPath: String = "",
                vision: VisionSettings = VisionSettings(), contextLength: UInt32 = 0,
                prefixCacheBytes: UInt64 = LoadRequest.defaultPrefixCacheBytes, kvCacheType: KVCacheType = .f32) {
        self.contextLength = contextLength
        self.prefixCacheBytes = prefixCacheBytes
        self.kvCacheType = kvCacheType
        self.modelPath = modelPath
        self.family = family
        self.threads = threads
        self.pluginPin = pluginPin
        self.pluginPaths = pluginPaths
        self.maxSequences = maxSequences
        self.projectorPath = projectorPath
        self.vision = vision
    }
}

/// How a vision worker prepares images (the orchestrator's `VISION_*` settings).
public struct VisionSettings: Equatable, Sendable {
    /// The auto-resize's longest side before the model's own preprocessing; 0 turns the auto-resize off.
    public var maxDimension: UInt32
    /// Images with more pixels are refused from their header, before any decoding (decompression bombs).
    public var maxPixels: UInt64
    /// Entries of the worker's image cache (0 disables it) and how long one lives.
    public var cacheEntries: UInt32
    public var cacheTTLSeconds: UInt32

    public init(maxDimension: UInt32 = 512, maxPixels: UInt64 = 50_000_000, cacheEntries: UInt32 = 20,
                cacheTTLSeconds: UInt32 = 3600) {
        self.maxDimension = maxDimension
        self.maxPixels = maxPixels
        self.cacheEntries = cacheEntries
        self.cacheTTLSeconds = cacheTTLSeconds
    }
}

/// What to continue. Text and chat are tokenized by the worker's engine core with the model's own tokenizer and
/// chat template, so the orchestrator never needs either.
public enum PromptInput: Equatable, Sendable {
    case tokens([Int32])
    /// Raw text; the model's BOS is added when its tokenizer asks for it.
    case text(String)
    /// OpenAI-style messages as a JSON array (`[{"role": ..., "content": ...}]`), rendered with the model's chat
    /// template and `add_generation_prompt`. Content is a string, or (when the message has images) a list of parts in
    /// the Hugging Face form, `{"type": "text", "text": ...}` and `{"type": "image"}`.
    case chat(messagesJSON: String)
}

/// Constrained output.
public enum OutputFormat: Equatable, Sendable {
    case text
    /// Any JSON object.
    case jsonObject
    /// A value valid under this JSON Schema (JSON text).
    case jsonSchema(String)
}

/// Tools the model may call (`tools`, `tool_choice`, `parallel_tool_calls`). The worker renders them with the
/// model's chat template, recognises the template's call syntax, constrains each call to its tool's schema and
/// parses the calls out of the output; a `tool_choice` of `none` sends no tools.
public struct ToolRequest: Equatable, Sendable {
    public enum Choice: Equatable, Sendable {
        /// Text or calls, as the model likes; a call, once begun, follows its schema.
        case auto
        /// At least one call, from the first token.
        case required
        /// A call of this function, from the first token.
        case function(String)
    }

    /// A function's name and its parameters' JSON Schema (JSON text), what the call grammar is built from.
    public struct Function: Equatable, Sendable {
        public var name: String
        public var parametersJSON: String

        public init(name: String, parametersJSON: String) {
            self.name = name
            self.parametersJSON = parametersJSON
        }
    }

    /// The tools as the client sent them, which is how chat templates print them: a JSON array of
    /// `{"type": "function", "function": {"name": ..., "description": ..., "parameters": {...}}}`.
    public var toolsJSON: String
    /// The same tools' names and schemas, in order.
    public var functions: [Function]
    public var choice: Choice
    /// Whether several calls may come in one answer.
    public var parallel: Bool

    public init(toolsJSON: String, functions: [Function], choice: Choice = .auto, parallel: Bool = true) {
        self.toolsJSON = toolsJSON
        self.functions = functions
        self.choice = choice
        self.parallel = parallel
    }
}

/// One streamed piece of a tool call: the first piece of call `index` carries `id` and `name` (arguments empty),
/// later pieces only argument text. A call's argument pieces concatenate to its arguments JSON exactly as the model
/// wrote it.
public struct ToolCallDelta: Equatable, Sendable {
    public var index: Int
    public var id: String?
    public var name: String?
    public var arguments: String

    public init(index: Int, id: String? = nil, name: String? = nil, arguments: String = "") {
        self.index = index
        self.id = id
        self.name = name
        self.arguments = arguments
    }
}

/// One completion to decode.
public struct GenerateRequest: Equatable, Sendable {
    public var input: PromptInput
    /// The most tokens to generate; reaching it finishes with `.length`. `unlimited`: until the context is full.
    public var maxTokens: UInt32
    /// Generating any of these finishes with `.stop`; the stop token itself is not streamed. The model's own end
    /// tokens (EOS, EOT) always stop unless `ignoreEndTokens` is set.
    public var stopTokens: [Int32]
    /// Text that ends the output when it appears (it may span tokens); it is not part of the output.
    public var stopStrings: [String]
    public var sampling: SamplingParameters
    /// nil: no logprobs; k: the chosen token's logprob plus the k most likely alternatives (k ≤ 20).
    public var logprobs: UInt8?
    /// Send the prompt back first (`.prompt` event), with its tokens' logprobs when `logprobs` is set.
    public var echo: Bool
    public var format: OutputFormat
    public var ignoreEndTokens: Bool
    /// Whether the request takes part in the worker's prefix cache: its prompt may start from a cached sequence
    /// sharing its prefix, and its own sequence is kept for later requests when it ends. Reuse changes the logits by
    /// float rounding (a prefix computed token by token vs. as one matrix), which can flip a sampled token; requests
    /// that ask for a reproducible seed turn it off.
    public var reusePrefix: Bool
    /// Encoded images (PNG, JPEG, WebP, GIF bytes as the client sent them), in the order of the `{"type": "image"}`
    /// parts of a chat prompt. They travel as raw bytes: a message of any size is chunked by the transport.
    public var images: [[UInt8]]
    /// Tools the model may call (chat prompts only); nil for none.
    public var tools: ToolRequest?
    /// Extra variables for the chat template (`chat_template_kwargs`, e.g. `{"enable_thinking": false}`), as a JSON
    /// object; empty for none.
    public var templateArgumentsJSON: String

    public static let unlimited = UInt32.max

    public init(input: PromptInput, maxTokens: UInt32, stopTokens: [Int32] = [], stopStrings: [String] = [],
                sampling: SamplingParameters = .greedy, logprobs: UInt8? = nil, echo: Bool = false,
                format: OutputFormat = .text, ignoreEndTokens: Bool = false, reusePrefix: Bool = true,
                images: [[UInt8]] = [], tools: ToolRequest? = nil, templateArgumentsJSON: String = "") {
        self.input = input
        self.maxTokens = maxTokens
        self.stopTokens = stopTokens
        self.stopStrings = stopStrings
        self.sampling = sampling
        self.logprobs = logprobs
        self.echo = echo
        self.format = format
        self.ignoreEndTokens = ignoreEndTokens
        self.reusePrefix = reusePrefix
        self.images = images
        self.tools = tools
        self.templateArgumentsJSON = templateArgumentsJSON
    }

    /// A token prompt decoded with nothing but the given stop tokens (the model's end tokens are not added).
    public init(promptTokens: [Int32], maxTokens: UInt32, stopTokens: [Int32] = [], sampling: SamplingParameters = .greedy) {
        self.init(input: .tokens(promptTokens), maxTokens: maxTokens, stopTokens: stopTokens, sampling: sampling,
                  ignoreEndTokens: true)
    }
}

/// Orchestrator → worker.
/// `/tokenize` and `/detokenize`: the model's own tokenizer, the one its prompts go through. The worker's request
/// reader answers at once with `tokenizerReply`, without waiting for the decode loop.
public enum TokenizerRequest: Equatable, Sendable {
    /// `addSpecial`: the model's BOS/EOS as its metadata asks; `parseSpecial`: special-token strings in the text
    /// become their tokens.
    case tokenize(text: String, addSpecial: Bool, parseSpecial: Bool)
    case detokenize(tokens: [Int32])
}

/// The tokens, each token's bytes as it adds them to decoded text (a piece can be part of a UTF-8 character), and
/// the text the tokens decode to.
public struct TokenizerReply: Equatable, Sendable {
    public var tokens: [Int32]
    public var pieces: [[UInt8]]
    public var text: String

    public init(tokens: [Int32], pieces: [[UInt8]], text: String) {
        self.tokens = tokens
        self.pieces = pieces
        self.text = text
    }
}

/// One input of an embedding request: text the worker tokenizes with the model's tokenizer (special tokens such as
/// [CLS] ... [SEP] added as the model's files say), or token ids passed to the encoder as they are.
public enum EmbeddingInput: Equatable, Sendable {
    case text(String)
    case tokens([Int32])
}

/// `/v1/embeddings`: one vector per input, from a text encoder model's worker. The worker batches the inputs of
/// every request it holds into the encoder's calls.
public struct EmbedRequest: Equatable, Sendable {
    public var inputs: [EmbeddingInput]
    /// An input longer than the model's context is cut to fit (its final special token kept) instead of refused.
    public var truncate: Bool

    public init(inputs: [EmbeddingInput], truncate: Bool = false) {
        self.inputs = inputs
        self.truncate = truncate
    }
}

/// One input's vector, sent as soon as its batch is done; the request ends with `done` (prompt tokens summed).
public struct Embedding: Equatable, Sendable {
    /// The input's position in the request.
    public var index: UInt32
    /// Tokens the encoder read for this input (after truncation).
    public var promptTokens: UInt32
    public var vector: [Float]

    public init(index: UInt32, promptTokens: UInt32, vector: [Float]) {
        self.index = index
        self.promptTokens = promptTokens
        self.vector = vector
    }
}

public enum WorkerRequest: Equatable, Sendable {
    case load(LoadRequest)
    case generate(GenerateRequest)
    /// Stop the request named by the frame's request id within one decode step; it ends with `done(.cancelled)`.
    case cancel
    /// Finish nothing further and exit; in-flight requests end with a `cancelled` error.
    case shutdown
    /// Answer `pong` with the same request id. The worker's request reader answers, whatever the decode loop is
    /// doing, so a missing answer means the process itself is not running (stopped, or stuck as a whole).
    case ping
    /// Tokenize or detokenize with the model's tokenizer; answered with `tokenizerReply` or `error`.
    case tokenizer(TokenizerRequest)
    /// Embed every input (a text encoder model only); answered with one `embedding` per input, then `done`.
    case embed(EmbedRequest)
}

/// What the worker reports once its model is open.
public struct LoadedInfo: Equatable, Sendable {
    public var pluginID: String
    public var pluginVersion: String
    public var vocabularySize: UInt32
    public var contextLength: UInt32
    /// `tokenizer.ggml.eos_token_id` from the model file, or -1 when it declares none.
    public var eosTokenID: Int32
    /// Whether the model has a tokenizer, so text and chat prompts work (token prompts always do).
    public var hasTokenizer: Bool
    /// Whether a vision encoder is loaded, so chat prompts may carry images.
    public var acceptsImages: Bool
    /// For a text encoder (embedding) model, the length of its vectors; 0 for a generation model.
    public var embeddingLength: UInt32
    /// How the decoder stores keys and values (`f32` for an encoder, which keeps none).
    public var kvCacheType: KVCacheType

    public init(pluginID: String, pluginVersion: String, vocabularySize: UInt32, contextLength: UInt32,
                eosTokenID: Int32, hasTokenizer: Bool = false, acceptsImages: Bool = false, embeddingLength: UInt32 = 0,
                kvCacheType: KVCacheType = .f32) {
        self.kvCacheType = kvCacheType
        self.pluginID = pluginID
        self.pluginVersion = pluginVersion
        self.vocabularySize = vocabularySize
        self.contextLength = contextLength
        self.eosTokenID = eosTokenID
        self.hasTokenizer = hasTokenizer
        self.acceptsImages = acceptsImages
        self.embeddingLength = embeddingLength
    }
}

/// What a worker holds and owes, as its `pong` reports it (the supervisor pings every second): the per-model gauges
/// a balancer or an autoscaler reads in `/metrics` and `/admin/status`.
public struct WorkerLoad: Equatable, Sendable {
    /// Requests holding a sequence (being prefilled or decoded).
    public var running: UInt32
    /// Requests the worker accepted that wait for a free sequence (or for their images to be encoded).
    public var waiting: UInt32
    /// KV cache positions holding the tokens of running requests.
    public var kvPositionsUsed: UInt64
    /// The positions running requests may fill together: sequences × context length. Free = capacity − used.
    public var kvPositionsCapacity: UInt64
    /// Positions held by idle sequences in the prefix cache: memory given back first when a new sequence needs it.
    public var kvPositionsCached: UInt64

    public init(running: UInt32 = 0, waiting: UInt32 = 0, kvPositionsUsed: UInt64 = 0, kvPositionsCapacity: UInt64 = 0,
                kvPositionsCached: UInt64 = 0) {
        self.running = running
        self.waiting = waiting
        self.kvPositionsUsed = kvPositionsUsed
        self.kvPositionsCapacity = kvPositionsCapacity
        self.kvPositionsCached = kvPositionsCached
    }

    /// Positions running requests can still fill.
    public var kvPositionsFree: UInt64 { kvPositionsCapacity > kvPositionsUsed ? kvPositionsCapacity - kvPositionsUsed : 0 }
}

/// Why a generation ended normally.
public enum FinishReason: UInt8, Equatable, Sendable {
    case stop = 0
    case length = 1
    case cancelled = 2
    /// The model ended its answer with tool calls.
    case toolCalls = 3
}

/// The final frame of a successful generation.
public struct Completion: Equatable, Sendable {
    public var finishReason: FinishReason
    public var promptTokens: UInt32
    public var completionTokens: UInt32
    /// Prompt tokens whose state was reused from an earlier request (prefix cache) instead of computed.
    public var cachedTokens: UInt32
    /// Prompt positions filled by image embeddings (part of `promptTokens`).
    public var imageTokens: UInt32
    /// Images of this request found in, or added to, the worker's image cache.
    public var imageCacheHits: UInt32
    public var imageCacheMisses: UInt32

    public init(finishReason: FinishReason, promptTokens: UInt32, completionTokens: UInt32, cachedTokens: UInt32 = 0,
                imageTokens: UInt32 = 0, imageCacheHits: UInt32 = 0, imageCacheMisses: UInt32 = 0) {
        self.finishReason = finishReason
        self.promptTokens = promptTokens
        self.completionTokens = completionTokens
        self.cachedTokens = cachedTokens
        self.imageTokens = imageTokens
        self.imageCacheHits = imageCacheHits
        self.imageCacheMisses = imageCacheMisses
    }
}

/// A token as the client sees it: its id, the bytes it adds to the output (which may be part of a UTF-8 sequence)
/// and its log-probability under the model's raw distribution.
public struct TokenProbability: Equatable, Sendable {
    public var token: Int32
    public var bytes: [UInt8]
    public var logprob: Float

    public init(token: Int32, bytes: [UInt8], logprob: Float) {
        self.token = token
        self.bytes = bytes
        self.logprob = logprob
    }

    /// The bytes as text (a partial UTF-8 sequence shows as U+FFFD, as OpenAI's API does).
    public var text: String { String(decoding: bytes, as: UTF8.self) }
}

/// One position's logprobs: the token there and the most likely alternatives, most likely first.
public struct PositionLogprobs: Equatable, Sendable {
    /// The token's logprob is NaN for the first prompt token, which has no context to predict it.
    public var chosen: TokenProbability
    public var top: [TokenProbability]

    public init(chosen: TokenProbability, top: [TokenProbability]) {
        self.chosen = chosen
        self.top = top
    }
}

/// New output since the previous delta of the same request.
public struct OutputDelta: Equatable, Sendable {
    public var tokens: [Int32]
    /// The text those tokens complete (held-back bytes of an unfinished character or a possible stop string are
    /// sent later); empty for models without a tokenizer.
    public var text: String
    /// One entry per token when logprobs were requested, else empty.
    public var logprobs: [PositionLogprobs]
    /// Tool-call pieces parsed out of the output (their text is not in `text`).
    public var toolCalls: [ToolCallDelta]
    /// The model's reasoning (text between its think markers), kept out of `text`.
    public var reasoning: String

    public init(tokens: [Int32], text: String = "", logprobs: [PositionLogprobs] = [], toolCalls: [ToolCallDelta] = [],
                reasoning: String = "") {
        self.tokens = tokens
        self.text = text
        self.logprobs = logprobs
        self.toolCalls = toolCalls
        self.reasoning = reasoning
    }
}

/// The prompt sent back for `echo`.
public struct PromptEcho: Equatable, Sendable {
    public var text: String
    /// One entry per prompt token when logprobs were requested, else empty.
    public var logprobs: [PositionLogprobs]

    public init(text: String, logprobs: [PositionLogprobs] = []) {
        self.text = text
        self.logprobs = logprobs
    }
}

/// The error classes a front end maps to a status code (400, 503, 500, 504, 499).
public enum ErrorCategory: UInt8, Equatable, Sendable, CustomStringConvertible {
    case badRequest = 0
    case overloaded = 1
    case workerFailure = 2
    case timeout = 3
    case cancelled = 4

    public var description: String {
        switch self {
        case .badRequest: return "badRequest"
        case .overloaded: return "overloaded"
        case .workerFailure: return "workerFailure"
        case .timeout: return "timeout"
        case .cancelled: return "cancelled"
        }
    }

    public init?(name: String) {
        guard let match = [ErrorCategory.badRequest, .overloaded, .workerFailure, .timeout, .cancelled]
            .first(where: { $0.description == name }) else { return nil }
        self = match
    }
}

/// An error event: a category for the status code and one actionable message.
public struct WorkerFailure: Error, Equatable, Sendable, CustomStringConvertible {
    public var category: ErrorCategory
    public var message: String

    public init(_ category: ErrorCategory, _ message: String) {
        self.category = category
        self.message = message
    }

    public var description: String { "\(category): \(message)" }
}

/// Worker → orchestrator.
public enum WorkerEvent: Equatable, Sendable {
    /// How far the load has got (0...1): the share of the model's weight bytes the plugin has taken so far. Sent
    /// while loading, before `loaded`, at most every few percent.
    case loadProgress(Float)
    case loaded(LoadedInfo)
    /// The answer to `ping`, with what the worker holds and owes right now.
    case pong(WorkerLoad)
    /// The request passed the worker's checks (its prompt was built and fits the model); it may still wait for a
    /// free sequence. Every request that does not fail at once gets this first, so a front end can turn early
    /// failures into status codes before it starts streaming.
    case accepted(promptTokens: UInt32)
    /// The prompt, for requests with `echo`; sent before the first delta.
    case prompt(PromptEcho)
    /// Output produced since the previous delta of the same request, in order.
    case delta(OutputDelta)
    case done(Completion)
    case error(WorkerFailure)
    /// The answer to a `tokenizer` request (and its end).
    case tokenizerReply(TokenizerReply)
    /// One input's vector of an `embed` request.
    case embedding(Embedding)
}

// MARK: Encoding

extension WireWriter {
    mutating func sampling(_ o: SamplingParameters) {
        f32(o.temperature)
        i32(Int32(clamping: o.topK))
        f32(o.topP)
        f32(o.minP)
        f32(o.repetitionPenalty)
        i32(Int32(clamping: o.repetitionWindow))
        f32(o.presencePenalty)
        f32(o.frequencyPenalty)
        let bias = o.logitBias.sorted { $0.key < $1.key }
        u32(UInt32(bias.count))
        for (token, value) in bias {
            i32(token)
            f32(value)
        }
        u64(o.seed)
    }

    mutating func probability(_ p: TokenProbability) {
        i32(p.token)
        byteArray(p.bytes)
        f32(p.logprob)
    }

    mutating func logprobs(_ positions: [PositionLogprobs]) {
        u32(UInt32(positions.count))
        for position in positions {
            probability(position.chosen)
            u32(UInt32(position.top.count))
            for alternative in position.top { probability(alternative) }
        }
    }
}

extension WireReader {
    mutating func sampling() throws(WireError) -> SamplingParameters {
        var o = SamplingParameters()
        o.temperature = try f32("temperature")
        o.topK = Int(try i32("top_k"))
        o.topP = try f32("top_p")
        o.minP = try f32("min_p")
        o.repetitionPenalty = try f32("repetition penalty")
        o.repetitionWindow = Int(try i32("repetition window"))
        o.presencePenalty = try f32("presence penalty")
        o.frequencyPenalty = try f32("frequency penalty")
        let entries = try count("logit bias", minimumSize: 8)
        for _ in 0..<entries {
            let token = try i32("logit bias token")
            o.logitBias[token] = try f32("logit bias value")
        }
        o.seed = try u64("seed")
        return o
    }

    mutating func probability() throws(WireError) -> TokenProbability {
        TokenProbability(token: try i32("token"), bytes: try byteArray("token bytes"), logprob: try f32("logprob"))
    }

    mutating func logprobs() throws(WireError) -> [PositionLogprobs] {
        let entries = try count("logprobs", minimumSize: 16)
        var positions: [PositionLogprobs] = []
        positions.reserveCapacity(entries)
        for _ in 0..<entries {
            let chosen = try probability()
            let alternatives = try self.count("top logprobs", minimumSize: 12)
            var top: [TokenProbability] = []
            for _ in 0..<alternatives { top.append(try probability()) }
            positions.append(PositionLogprobs(chosen: chosen, top: top))
        }
        return positions
    }
}

extension WorkerRequest {
    /// The frame type and payload of this request.
    public func encoded() -> (type: UInt32, payload: [UInt8]) {
        var w = WireWriter()
        switch self {
        case .load(let r):
            w.string(r.modelPath)
            w.string(r.family)
            w.u32(r.threads)
            w.string(r.pluginPin)
            w.strings(r.pluginPaths)
            w.u32(r.maxSequences)
            w.string(r.projectorPath)
            w.u32(r.vision.maxDimension)
            w.u64(r.vision.maxPixels)
            w.u32(r.vision.cacheEntries)
            w.u32(r.vision.cacheTTLSeconds)
            w.u32(r.contextLength)
            w.u64(r.prefixCacheBytes)
            w.string(r.kvCacheType.rawValue)
            return (MessageType.load.rawValue, w.bytes)
        case .generate(let r):
            switch r.input {
            case .tokens(let ids):
                w.u8(0)
                w.tokens(ids)
            case .text(let text):
                w.u8(1)
                w.string(text)
            case .chat(let messages):
                w.u8(2)
                w.string(messages)
            }
            w.u32(r.maxTokens)
            w.tokens(r.stopTokens)
            w.strings(r.stopStrings)
            w.sampling(r.sampling)
            w.u8(r.logprobs.map { $0 &+ 1 } ?? 0)
            w.bool(r.echo)
            switch r.format {
            case .text: w.u8(0)
            case .jsonObject: w.u8(1)
            case .jsonSchema(let schema):
                w.u8(2)
                w.string(schema)
            }
            w.bool(r.ignoreEndTokens)
            w.bool(r.reusePrefix)
            w.u32(UInt32(r.images.count))
            for image in r.images { w.byteArray(image) }
            w.bool(r.tools != nil)
            if let tools = r.tools {
                w.string(tools.toolsJSON)
                w.u32(UInt32(tools.functions.count))
                for function in tools.functions {
                    w.string(function.name)
                    w.string(function.parametersJSON)
                }
                switch tools.choice {
                case .auto: w.u8(0)
                case .required: w.u8(1)
                case .function(let name):
                    w.u8(2)
                    w.string(name)
                }
                w.bool(tools.parallel)
            }
            w.string(r.templateArgumentsJSON)
            return (MessageType.generate.rawValue, w.bytes)
        case .cancel:
            return (MessageType.cancel.rawValue, [])
        case .shutdown:
            return (MessageType.shutdown.rawValue, [])
        case .ping:
            return (MessageType.ping.rawValue, [])
        case .tokenizer(.tokenize(let text, let addSpecial, let parseSpecial)):
            w.u8(0)
            w.string(text)
            w.bool(addSpecial)
            w.bool(parseSpecial)
            return (MessageType.tokenizer.rawValue, w.bytes)
        case .tokenizer(.detokenize(let tokens)):
            w.u8(1)
            w.tokens(tokens)
            return (MessageType.tokenizer.rawValue, w.bytes)
        case .embed(let r):
            w.bool(r.truncate)
            w.u32(UInt32(r.inputs.count))
            for input in r.inputs {
                switch input {
                case .text(let text):
                    w.u8(0)
                    w.string(text)
                case .tokens(let ids):
                    w.u8(1)
                    w.tokens(ids)
                }
            }
            return (MessageType.embed.rawValue, w.bytes)
        }
    }

    /// Decodes a request frame; throws for an event type, an unknown type or a malformed payload.
    public static func decode(type: UInt32, payload: UnsafeRawBufferPointer) throws(WireError) -> WorkerRequest {
        guard let kind = MessageType(rawValue: type) else { throw WireError("unknown request frame type \(type)") }
        switch kind {
        case .load:
            var r = WireReader(payload, context: "load request")
            let request = LoadRequest(
                modelPath: try r.string("model path"), family: try r.string("family"), threads: try r.u32("threads"),
                pluginPin: try r.string("plugin pin"), pluginPaths: try r.strings("plugin paths"),
                maxSequences: try r.u32("max sequences"), projectorPath: try r.string("projector path"),
                vision: VisionSettings(maxDimension: try r.u32("vision max dimension"),
                                       maxPixels: try r.u64("vision max pixels"),
                                       cacheEntries: try r.u32("vision cache entries"),
                                       cacheTTLSeconds: try r.u32("vision cache ttl")),
                contextLength: try r.u32("context length"), prefixCacheBytes: try r.u64("prefix cache bytes"),
                kvCacheType: try r.kvCacheType())
            try r.finish()
            return .load(request)
        case .generate:
            var r = WireReader(payload, context: "generate request")
            let input: PromptInput
            switch try r.u8("input kind") {
            case 0: input = .tokens(try r.tokens("prompt tokens"))
            case 1: input = .text(try r.string("prompt text"))
            case 2: input = .chat(messagesJSON: try r.string("messages"))
            case let other: throw WireError("generate request: unknown input kind \(other)")
            }
            let maxTokens = try r.u32("max tokens")
            let stopTokens = try r.tokens("stop tokens")
            let stopStrings = try r.strings("stop strings")
            let sampling = try r.sampling()
            let logprobs = try r.u8("logprobs")
            let echo = try r.bool("echo")
            let format: OutputFormat
            switch try r.u8("format kind") {
            case 0: format = .text
            case 1: format = .jsonObject
            case 2: format = .jsonSchema(try r.string("schema"))
            case let other: throw WireError("generate request: unknown output format \(other)")
            }
            let ignoreEnd = try r.bool("ignore end tokens")
            let reusePrefix = try r.bool("reuse prefix")
            let imageCount = try r.count("images", minimumSize: 4)
            var images: [[UInt8]] = []
            for _ in 0..<imageCount { images.append(try r.byteArray("image")) }
            var tools: ToolRequest?
            if try r.bool("has tools") {
                let json = try r.string("tools")
                var functions: [ToolRequest.Function] = []
                for _ in 0..<(try r.count("tool functions", minimumSize: 8)) {
                    functions.append(ToolRequest.Function(name: try r.string("tool name"),
                                                          parametersJSON: try r.string("tool parameters")))
                }
                let choice: ToolRequest.Choice
                switch try r.u8("tool choice") {
                case 0: choice = .auto
                case 1: choice = .required
                case 2: choice = .function(try r.string("tool choice name"))
                case let other: throw WireError("generate request: unknown tool choice \(other)")
                }
                tools = ToolRequest(toolsJSON: json, functions: functions, choice: choice,
                                    parallel: try r.bool("parallel tool calls"))
            }
            let templateArguments = try r.string("template arguments")
            try r.finish()
            return .generate(GenerateRequest(
                input: input, maxTokens: maxTokens, stopTokens: stopTokens, stopStrings: stopStrings,
                sampling: sampling, logprobs: logprobs == 0 ? nil : logprobs - 1, echo: echo, format: format,
                ignoreEndTokens: ignoreEnd, reusePrefix: reusePrefix, images: images, tools: tools,
                templateArgumentsJSON: templateArguments))
        case .cancel, .shutdown, .ping:
            guard payload.isEmpty else { throw WireError("\(kind) request carries \(payload.count) unexpected bytes") }
            return kind == .cancel ? .cancel : kind == .ping ? .ping : .shutdown
        case .tokenizer:
            var r = WireReader(payload, context: "tokenizer request")
            let request: TokenizerRequest
            switch try r.u8("tokenizer request kind") {
            case 0:
                request = .tokenize(text: try r.string("text"), addSpecial: try r.bool("add special"),
                                    parseSpecial: try r.bool("parse special"))
            case 1: request = .detokenize(tokens: try r.tokens("tokens"))
            case let other: throw WireError("tokenizer request: unknown kind \(other)")
            }
            try r.finish()
            return .tokenizer(request)
        case .embed:
            var r = WireReader(payload, context: "embed request")
            let truncate = try r.bool("truncate")
            let count = try r.count("inputs", minimumSize: 5)
            var inputs: [EmbeddingInput] = []
            inputs.reserveCapacity(count)
            for _ in 0..<count {
                switch try r.u8("input kind") {
                case 0: inputs.append(.text(try r.string("input text")))
                case 1: inputs.append(.tokens(try r.tokens("input tokens")))
                case let other: throw WireError("embed request: unknown input kind \(other)")
                }
            }
            try r.finish()
            return .embed(EmbedRequest(inputs: inputs, truncate: truncate))
        case .loaded, .accepted, .delta, .done, .error, .prompt, .loadProgress, .pong, .tokenizerReply, .embedding:
            throw WireError("frame type \(type) is an event, not a request")
        }
    }
}

extension WorkerEvent {
    /// The frame type and payload of this event.
    public func encoded() -> (type: UInt32, payload: [UInt8]) {
        var w = WireWriter()
        switch self {
        case .loaded(let info):
            w.string(info.pluginID)
            w.string(info.pluginVersion)
            w.u32(info.vocabularySize)
            w.u32(info.contextLength)
            w.i32(info.eosTokenID)
            w.bool(info.hasTokenizer)
            w.bool(info.acceptsImages)
            w.u32(info.embeddingLength)
            w.string(info.kvCacheType.rawValue)
            return (MessageType.loaded.rawValue, w.bytes)
        case .accepted(let promptTokens):
            w.u32(promptTokens)
            return (MessageType.accepted.rawValue, w.bytes)
        case .loadProgress(let fraction):
            w.f32(fraction)
            return (MessageType.loadProgress.rawValue, w.bytes)
        case .pong(let load):
            w.u32(load.running)
            w.u32(load.waiting)
            w.u64(load.kvPositionsUsed)
            w.u64(load.kvPositionsCapacity)
            w.u64(load.kvPositionsCached)
            return (MessageType.pong.rawValue, w.bytes)
        case .prompt(let echo):
            w.string(echo.text)
            w.logprobs(echo.logprobs)
            return (MessageType.prompt.rawValue, w.bytes)
        case .delta(let delta):
            w.tokens(delta.tokens)
            w.string(delta.text)
            w.logprobs(delta.logprobs)
            w.u32(UInt32(delta.toolCalls.count))
            for call in delta.toolCalls {
                w.u32(UInt32(call.index))
                w.bool(call.id != nil)
                if let id = call.id { w.string(id) }
                w.bool(call.name != nil)
                if let name = call.name { w.string(name) }
                w.string(call.arguments)
            }
            w.string(delta.reasoning)
            return (MessageType.delta.rawValue, w.bytes)
        case .done(let c):
            w.u8(c.finishReason.rawValue)
            w.u32(c.promptTokens)
            w.u32(c.completionTokens)
            w.u32(c.cachedTokens)
            w.u32(c.imageTokens)
            w.u32(c.imageCacheHits)
            w.u32(c.imageCacheMisses)
            return (MessageType.done.rawValue, w.bytes)
        case .error(let failure):
            w.u8(failure.category.rawValue)
            w.string(failure.message)
            return (MessageType.error.rawValue, w.bytes)
        case .tokenizerReply(let reply):
            w.tokens(reply.tokens)
            w.u32(UInt32(reply.pieces.count))
            for piece in reply.pieces { w.byteArray(piece) }
            w.string(reply.text)
            return (MessageType.tokenizerReply.rawValue, w.bytes)
        case .embedding(let e):
            w.u32(e.index)
            w.u32(e.promptTokens)
            w.u32(UInt32(e.vector.count))
            for value in e.vector { w.f32(value) }
            return (MessageType.embedding.rawValue, w.bytes)
        }
    }

    /// Decodes an event frame; throws for a request type, an unknown type or a malformed payload.
    public static func decode(type: UInt32, payload: UnsafeRawBufferPointer) throws(WireError) -> WorkerEvent {
        guard let kind = MessageType(rawValue: type) else { throw WireError("unknown event frame type \(type)") }
        switch kind {
        case .loaded:
            var r = WireReader(payload, context: "loaded event")
            let info = LoadedInfo(
                pluginID: try r.string("plugin id"), pluginVersion: try r.string("plugin version"),
                vocabularySize: try r.u32("vocabulary size"), contextLength: try r.u32("context length"),
                eosTokenID: try r.i32("eos token"), hasTokenizer: try r.bool("has tokenizer"),
                acceptsImages: try r.bool("accepts images"), embeddingLength: try r.u32("embedding length"),
                kvCacheType: try r.kvCacheType())
            try r.finish()
            return .loaded(info)
        case .pong:
            var r = WireReader(payload, context: "pong event")
            let load = WorkerLoad(running: try r.u32("running"), waiting: try r.u32("waiting"),
                                  kvPositionsUsed: try r.u64("kv positions used"),
                                  kvPositionsCapacity: try r.u64("kv positions capacity"),
                                  kvPositionsCached: try r.u64("kv positions cached"))
            try r.finish()
            return .pong(load)
        case .loadProgress:
            var r = WireReader(payload, context: "load progress event")
            let fraction = try r.f32("fraction")
            try r.finish()
            guard fraction.isFinite, (0...1).contains(fraction) else {
                throw WireError("load progress event: fraction \(fraction) is outside 0...1")
            }
            return .loadProgress(fraction)
        case .accepted:
            var r = WireReader(payload, context: "accepted event")
            let count = try r.u32("prompt tokens")
            try r.finish()
            return .accepted(promptTokens: count)
        case .prompt:
            var r = WireReader(payload, context: "prompt event")
            let echo = PromptEcho(text: try r.string("text"), logprobs: try r.logprobs())
            try r.finish()
            return .prompt(echo)
        case .delta:
            var r = WireReader(payload, context: "delta event")
            var delta = OutputDelta(tokens: try r.tokens("tokens"), text: try r.string("text"),
                                    logprobs: try r.logprobs())
            let callCount = try r.count("tool calls", minimumSize: 10)
            for _ in 0..<callCount {
                let index = Int(try r.u32("tool call index"))
                let id = try r.bool("has tool call id") ? try r.string("tool call id") : nil
                let name = try r.bool("has tool call name") ? try r.string("tool call name") : nil
                delta.toolCalls.append(ToolCallDelta(index: index, id: id, name: name,
                                                     arguments: try r.string("tool call arguments")))
            }
            delta.reasoning = try r.string("reasoning")
            try r.finish()
            return .delta(delta)
        case .done:
            var r = WireReader(payload, context: "done event")
            let raw = try r.u8("finish reason")
            guard let reason = FinishReason(rawValue: raw) else { throw WireError("done event: finish reason \(raw)") }
            let completion = Completion(finishReason: reason, promptTokens: try r.u32("prompt tokens"),
                                        completionTokens: try r.u32("completion tokens"),
                                        cachedTokens: try r.u32("cached tokens"),
                                        imageTokens: try r.u32("image tokens"),
                                        imageCacheHits: try r.u32("image cache hits"),
                                        imageCacheMisses: try r.u32("image cache misses"))
            try r.finish()
            return .done(completion)
        case .error:
            var r = WireReader(payload, context: "error event")
            let raw = try r.u8("category")
            guard let category = ErrorCategory(rawValue: raw) else { throw WireError("error event: category \(raw)") }
            let message = try r.string("message")
            try r.finish()
            return .error(WorkerFailure(category, message))
        case .tokenizerReply:
            var r = WireReader(payload, context: "tokenizer reply")
            let tokens = try r.tokens("tokens")
            let pieceCount = try r.count("pieces", minimumSize: 4)
            var pieces: [[UInt8]] = []
            pieces.reserveCapacity(pieceCount)
            for _ in 0..<pieceCount { pieces.append(try r.byteArray("piece")) }
            let reply = TokenizerReply(tokens: tokens, pieces: pieces, text: try r.string("text"))
            try r.finish()
            return .tokenizerReply(reply)
        case .embedding:
            var r = WireReader(payload, context: "embedding event")
            let index = try r.u32("index")
            let tokens = try r.u32("prompt tokens")
            let count = try r.count("vector", minimumSize: 4)
            var vector: [Float] = []
            vector.reserveCapacity(count)
            for _ in 0..<count { vector.append(try r.f32("value")) }
            try r.finish()
            return .embedding(Embedding(index: index, promptTokens: tokens, vector: vector))
        case .load, .generate, .cancel, .shutdown, .ping, .tokenizer, .embed:
            throw WireError("frame type \(type) is a request, not an event")
        }
    }

    /// Whether this event is part of a request's answer (its prompt echo or tokens).
    public var isOutput: Bool {
        switch self {
        case .prompt, .delta, .embedding: return true
        default: return false
        }
    }

    /// Whether this event ends its request (no further frames for that request id follow).
    public var isTerminal: Bool {
        switch self {
        case .done, .error, .tokenizerReply: return true
        case .loaded, .accepted, .prompt, .delta, .loadProgress, .pong, .embedding: return false
        }
    }
}

extension WorkerRequest {
    public static func decode(type: UInt32, payload: [UInt8]) throws(WireError) -> WorkerRequest {
        let result: Result<WorkerRequest, WireError> = payload.withUnsafeBytes { bytes in
            do throws(WireError) {
                return .success(try decode(type: type, payload: bytes))
            } catch {
                return .failure(error)
            }
        }
        return try result.get()
    }
}

extension WorkerEvent {
    public static func decode(type: UInt32, payload: [UInt8]) throws(WireError) -> WorkerEvent {
        let result: Result<WorkerEvent, WireError> = payload.withUnsafeBytes { bytes in
            do throws(WireError) {
                return .success(try decode(type: type, payload: bytes))
            } catch {
                return .failure(error)
            }
        }
        return try result.get()
    }
}

extension WireReader {
    /// A `KVCacheType` written as its name.
    mutating func kvCacheType() throws(WireError) -> KVCacheType {
        let name = try string("kv cache type")
        guard let type = KVCacheType(rawValue: name) else {
            throw WireError("unknown KV cache type '\(name)' (expected \(KVCacheType.names))")
        }
        return type
    }
}
