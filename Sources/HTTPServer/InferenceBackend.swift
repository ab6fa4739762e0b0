import Foundation
import struct Sampling.SamplingDefaults
import enum WorkerProtocol.TokenizerRequest
import struct WorkerProtocol.TokenizerReply
import struct WorkerProtocol.EmbedRequest
import struct WorkerProtocol.Embedding
import enum WorkerProtocol.KVCacheType
import struct WorkerProtocol.ToolRequest
import struct WorkerProtocol.ToolCallDelta
import struct WorkerProtocol.WorkerLoad
import struct ModelPull.HubPull

/// The seam between the HTTP layer and whatever produces tokens (`WorkerBackend`, the worker supervisor, in
/// production; a scripted double in tests). The HTTP layer owns validation, admission, streaming and error mapping; a backend owns models.
///
/// Cancellation contract: when the consumer stops iterating the stream returned by `generate` (client gone, deadline
/// passed), the stream's `onTermination` fires; the backend must then stop the generation and free its resources.
public protocol InferenceBackend: Sendable {
    /// Every servable model, loaded or not.
    func listModels() async -> [ModelInfo]
    /// One servable model by id, or nil: what a request's model check needs, without listing every model (a
    /// directory scan per request otherwise). A backend may resolve aliases here (the returned `id` is then the
    /// model's own); the default implementation looks the id up in `listModels()`.
    func model(_ id: String) async -> ModelInfo?
    /// Starts a generation. Errors known before the first token (unknown model, overload) are thrown here; later
    /// failures end the stream with a `BackendError`.
    func generate(_ request: GenerationRequest) async throws(BackendError)
        -> AsyncThrowingStream<GenerationEvent, any Error>
    func load(model: String) async throws(BackendError)
    func unload(model: String) async throws(BackendError)
    func status() async -> BackendStatus
    /// `/tokenize` and `/detokenize`: the model's own tokenizer, as its prompts use it (the model is loaded if it
    /// is not). Throws `badRequest` for a model without a tokenizer or an id outside its vocabulary.
    func tokenizer(model: String, _ request: TokenizerRequest, timeout: Double?) async throws(BackendError)
        -> TokenizerReply
    /// `/v1/embeddings`: one vector per input, in input order, from an embedding model (loaded if it is not).
    /// Throws `badRequest` for a generation model, an input over the context (unless the request truncates) or an id
    /// outside the vocabulary. When the caller stops waiting (its task is cancelled), the work is cancelled.
    func embed(model: String, _ request: EmbedRequest, timeout: Double?) async throws(BackendError) -> [Embedding]
    /// Reads the presets file again (`POST /admin/reload`, SIGHUP); returns the preset names now in force. A file
    /// with an error changes nothing and is a `badRequest` naming file and line.
    func reloadPresets() async throws(BackendError) -> [String]
    /// `POST /admin/pull`: downloads a model from the hub into the cache the catalog serves from (see `HubPull`).
    func pull(_ spec: String, progress: @escaping @Sendable (HubPull.Progress) -> Void) async throws(BackendError)
        -> HubPull.Result
}

extension InferenceBackend {
    public func reloadPresets() async throws(BackendError) -> [String] {
        throw .badRequest(param: nil, message: "this server has no presets file")
    }

    public func pull(_ spec: String, progress: @escaping @Sendable (HubPull.Progress) -> Void) async throws(BackendError)
        -> HubPull.Result
    {
        throw .unavailable("this server cannot pull models")
    }

    public func model(_ id: String) async -> ModelInfo? {
        await listModels().first { $0.id == id }
    }
}

/// What a model does: generate text (chat, completions) or embed it (`/v1/embeddings`).
public enum ModelKind: String, Sendable, Equatable {
    case generation
    case embedding
}

/// A model as `/v1/models` shows it.
public struct ModelInfo: Sendable, Equatable {
    public var id: String
    public var kind: ModelKind
    /// An embedding model's vector length (from the loaded model, else from its files); nil for generation models.
    public var embeddingDimension: Int?
    public var contextLength: Int?
    public var inputModalities: [String]
    public var loaded: Bool
    public var created: Date
    public var ownedBy: String
    /// What the model's own files recommend for sampling (empty when they say nothing); the server's defaults fill
    /// the rest.
    public var recommendedSampling: SamplingDefaults
    /// Its files: "gguf" or "safetensors"; the architecture they name (`llama`, `bert`, ...); their size in bytes
    /// (set by `listModels` only).
    public var format: String?
    public var architecture: String?
    public var sizeBytes: Int64?

    public init(
        id: String, contextLength: Int?, inputModalities: [String] = ["text"], loaded: Bool = false,
        created: Date = Date(timeIntervalSince1970: 0), ownedBy: String = "modelhost",
        recommendedSampling: SamplingDefaults = SamplingDefaults(), kind: ModelKind = .generation,
        embeddingDimension: Int? = nil
    ) {
        self.id = id
        self.kind = kind
        self.embeddingDimension = embeddingDimension
        self.contextLength = contextLength
        self.inputModalities = inputModalities
        self.loaded = loaded
        self.created = created
        self.ownedBy = ownedBy
        self.recommendedSampling = recommendedSampling
    }
}

/// One part of a chat message's content.
public enum ChatContentPart: Sendable, Equatable {
    case text(String)
    /// An image by URL as the client sent it; `detail` is OpenAI's low/high/auto hint (accepted; the model's own
    /// preprocessing decides the resolution). `ImageInputs.resolve` turns these into `.image`.
    case imageURL(String, detail: String?)
    /// The image's encoded bytes (PNG, JPEG, WebP, GIF), decoded from a `data:` URL.
    case image([UInt8], detail: String?)

    public var isImage: Bool {
        switch self {
        case .text: false
        case .imageURL, .image: true
        }
    }
}

public struct ChatMessage: Sendable, Equatable {
    public var role: String
    /// Empty for an assistant message that only calls tools (its content is null).
    public var content: [ChatContentPart]
    public var name: String?
    /// An assistant message's calls.
    public var toolCalls: [ChatToolCall]
    /// A `tool` message: the call it answers.
    public var toolCallID: String?
    /// An assistant message's thoughts, passed back to templates that render them (`reasoning_content`).
    public var reasoning: String?

    public init(role: String, content: [ChatContentPart], name: String? = nil, toolCalls: [ChatToolCall] = [],
                toolCallID: String? = nil, reasoning: String? = nil) {
        self.reasoning = reasoning
        self.role = role
        self.content = content
        self.name = name
        self.toolCalls = toolCalls
        self.toolCallID = toolCallID
    }
}

/// What to continue: a chat (the worker applies the model's template), raw text, or token ids.
public enum GenerationInput: Sendable, Equatable {
    case chat([ChatMessage])
    case text(String)
    case tokens([Int32])
}

/// Constrained output.
public enum ResponseFormat: Sendable, Equatable {
    case text
    case jsonObject
    /// `schema` is the JSON Schema as compact JSON text.
    case jsonSchema(name: String, schema: String, strict: Bool)
}

/// Sampling knobs, already range-checked by the HTTP layer. Defaults are OpenAI's.
public struct SamplingParameters: Sendable, Equatable {
    public var temperature: Double = 1.0
    public var topP: Double = 1.0
    /// 0 disables top-k.
    public var topK: Int = 0
    public var minP: Double = 0
    public var presencePenalty: Double = 0
    public var frequencyPenalty: Double = 0
    /// 1 disables the multiplicative repetition penalty.
    public var repetitionPenalty: Double = 1.0
    public var logitBias: [Int32: Double] = [:]
    public var seed: UInt64?

    public init() {}
}

/// Queue priority from the `X-Priority` header.
public enum Priority: Int, Sendable, Comparable, CaseIterable {
    case high = 0
    case normal = 1
    case low = 2

    /// `high`/`low` (any case) or normal for anything else, as the original server does.
    public init(header: String?) {
        switch header?.lowercased() {
        case "high": self = .high
        case "low": self = .low
        default: self = .normal
        }
    }

    public var name: String {
        switch self {
        case .high: "high"
        case .normal: "normal"
        case .low: "low"
        }
    }

    public static func < (lhs: Priority, rhs: Priority) -> Bool { lhs.rawValue < rhs.rawValue }
}

public struct GenerationRequest: Sendable, Equatable {
    /// The request id also used in the response (`chatcmpl-…`/`cmpl-…`).
    public var id: String
    public var model: String
    public var input: GenerationInput
    public var sampling: SamplingParameters
    /// nil: until the context is full or a stop condition.
    public var maxTokens: Int?
    public var stop: [String]
    /// Choices to produce, indices 0..<n.
    public var n: Int
    /// nil: no logprobs; k: the chosen token's logprob plus the top k alternatives.
    public var logprobs: Int?
    /// Completions only: return the prompt (and, with `logprobs`, its tokens' logprobs) before the output.
    public var echo: Bool
    public var responseFormat: ResponseFormat
    public var deadline: ContinuousClock.Instant?
    public var priority: Priority
    /// Tools the model may call (chat only); nil for none.
    public var tools: ToolRequest?
    /// Extra chat-template variables (`chat_template_kwargs`; `reasoning_effort` maps onto `enable_thinking`), as
    /// a JSON object; empty for none.
    public var templateArgumentsJSON = ""

    public init(
        id: String, model: String, input: GenerationInput, sampling: SamplingParameters = SamplingParameters(),
        maxTokens: Int? = nil, stop: [String] = [], n: Int = 1, logprobs: Int? = nil, echo: Bool = false,
        responseFormat: ResponseFormat = .text, deadline: ContinuousClock.Instant? = nil, priority: Priority = .normal,
        tools: ToolRequest? = nil
    ) {
        self.id = id
        self.model = model
        self.input = input
        self.sampling = sampling
        self.maxTokens = maxTokens
        self.stop = stop
        self.n = n
        self.logprobs = logprobs
        self.echo = echo
        self.responseFormat = responseFormat
        self.deadline = deadline
        self.priority = priority
        self.tools = tools
    }
}

/// One alternative token and its log-probability.
public struct TopLogprob: Sendable, Equatable {
    public var token: String
    public var logprob: Double

    public init(token: String, logprob: Double) {
        self.token = token
        self.logprob = logprob
    }
}

/// A token of the output (or, with echo, of the prompt) with its log-probability and the top alternatives.
public struct TokenLogprob: Sendable, Equatable {
    public var token: String
    /// nil for the first prompt token, which has no preceding context.
    public var logprob: Double?
    public var top: [TopLogprob]

    public init(token: String, logprob: Double?, top: [TopLogprob] = []) {
        self.token = token
        self.logprob = logprob
        self.top = top
    }
}

public enum FinishReason: String, Sendable, Equatable {
    case stop
    case length
    case toolCalls = "tool_calls"
}

public enum GenerationEvent: Sendable, Equatable {
    /// Echoed prompt text for choice `index` (completions with `echo`), sent before its first `.text`.
    case prompt(String, index: Int, logprobs: [TokenLogprob]?)
    /// Newly generated text for choice `index`; `logprobs` has one entry per token in `delta` when requested.
    case text(String, index: Int, logprobs: [TokenLogprob]?)
    /// A piece of a tool call for choice `index` (see `ToolCallDelta`).
    case toolCall(ToolCallDelta, index: Int)
    /// Reasoning text for choice `index` (a reasoning model's thoughts, never part of `.text`).
    case reasoning(String, index: Int)
    case finished(index: Int, reason: FinishReason)
    /// Sent once, after every choice finished.
    case usage(Usage)
}

/// Token counts of a finished generation, all choices together.
public struct Usage: Sendable, Equatable {
    public var prompt: Int
    public var completion: Int
    /// Prompt tokens whose state came from the prefix cache.
    public var cachedPrompt: Int
    /// Prompt positions filled by image embeddings (included in `prompt`).
    public var imagePrompt: Int
    /// Images found in / added to the worker's image cache.
    public var imageCacheHits: Int
    public var imageCacheMisses: Int

    public init(prompt: Int, completion: Int, cachedPrompt: Int = 0, imagePrompt: Int = 0, imageCacheHits: Int = 0,
                imageCacheMisses: Int = 0) {
        self.prompt = prompt
        self.completion = completion
        self.cachedPrompt = cachedPrompt
        self.imagePrompt = imagePrompt
        self.imageCacheHits = imageCacheHits
        self.imageCacheMisses = imageCacheMisses
    }
}

/// Failures a backend reports; each maps to exactly one HTTP status (see `APIError.init(_: BackendError)`).
public enum BackendError: Error, Sendable, Equatable {
    case modelNotFound(String)
    case badRequest(param: String?, message: String)
    case overloaded(retryAfter: Int)
    /// The worker process died; `reason` is logged, not shown to the client.
    case workerDied(reason: String)
    case timeout
    /// `detail` is logged, not shown to the client.
    case `internal`(String)
    /// The model cannot be served right now (its worker keeps crashing, it fails to load, the server is shutting
    /// down); the message is for the client, who may retry later.
    case unavailable(String)
}

/// Per model, as `/admin/status` shows it.
public struct ModelStatus: Sendable, Equatable {
    public var id: String
    /// e.g. "loading", "ready", "busy", "unloading".
    public var state: String
    public var pid: Int32?
    public var rssBytes: UInt64?
    public var inFlight: Int
    public var loadedSince: Date?
    /// While loading: the fraction done (0...1); nil otherwise.
    public var loadProgress: Double?
    /// What its worker holds and owes (requests waiting for a sequence, KV cache positions); nil without a worker.
    public var load: WorkerLoad?
    /// How its loaded decoder stores keys and values; nil without a worker.
    public var kvCacheType: KVCacheType?

    public init(
        id: String, state: String, pid: Int32? = nil, rssBytes: UInt64? = nil, inFlight: Int = 0,
        loadedSince: Date? = nil, loadProgress: Double? = nil, load: WorkerLoad? = nil, kvCacheType: KVCacheType? = nil
    ) {
        self.load = load
        self.kvCacheType = kvCacheType
        self.id = id
        self.state = state
        self.pid = pid
        self.rssBytes = rssBytes
        self.inFlight = inFlight
        self.loadedSince = loadedSince
        self.loadProgress = loadProgress
    }
}

public struct BackendStatus: Sendable, Equatable {
    public var models: [ModelStatus]
    /// Workers restarted after a crash since start-up (monotonic).
    public var workerRestarts: Int
    /// Whether the backend can serve generations (readiness).
    public var ready: Bool

    public init(models: [ModelStatus] = [], workerRestarts: Int = 0, ready: Bool = true) {
        self.models = models
        self.workerRestarts = workerRestarts
        self.ready = ready
    }
}
