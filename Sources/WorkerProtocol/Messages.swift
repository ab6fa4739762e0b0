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

    case loaded = 100
    case tokens = 101
    case done = 102
    case error = 103
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

    public init(modelPath: String, family: String = "", threads: UInt32 = 1, pluginPin: String = "",
                pluginPaths: [String] = [], maxSequences: UInt32 = 16) {
        self.modelPath = modelPath
        self.family = family
        self.threads = threads
        self.pluginPin = pluginPin
        self.pluginPaths = pluginPaths
        self.maxSequences = maxSequences
    }
}

/// How the next token is chosen from the logits.
public enum Sampling: Equatable, Sendable {
    /// Always the highest logit (ties: the lowest token id), which makes output reproducible across processes.
    case greedy
    /// Softmax over `logits / temperature`, drawn with a generator seeded by `seed` (same seed, same output).
    case temperature(Float, seed: UInt64)
}

/// One completion to decode: the prompt is already tokenized (the engine core's tokenizer runs before this).
public struct GenerateRequest: Equatable, Sendable {
    public var promptTokens: [Int32]
    /// The most tokens to generate; reaching it finishes with `.length`.
    public var maxTokens: UInt32
    /// Generating any of these finishes with `.stop`; the stop token itself is not streamed.
    public var stopTokens: [Int32]
    public var sampling: Sampling

    public init(promptTokens: [Int32], maxTokens: UInt32, stopTokens: [Int32] = [], sampling: Sampling = .greedy) {
        self.promptTokens = promptTokens
        self.maxTokens = maxTokens
        self.stopTokens = stopTokens
        self.sampling = sampling
    }
}

/// Orchestrator → worker.
public enum WorkerRequest: Equatable, Sendable {
    case load(LoadRequest)
    case generate(GenerateRequest)
    /// Stop the request named by the frame's request id within one decode step; it ends with `done(.cancelled)`.
    case cancel
    /// Finish nothing further and exit; in-flight requests end with a `cancelled` error.
    case shutdown
}

/// What the worker reports once its model is open.
public struct LoadedInfo: Equatable, Sendable {
    public var pluginID: String
    public var pluginVersion: String
    public var vocabularySize: UInt32
    public var contextLength: UInt32
    /// `tokenizer.ggml.eos_token_id` from the model file, or -1 when it declares none.
    public var eosTokenID: Int32

    public init(pluginID: String, pluginVersion: String, vocabularySize: UInt32, contextLength: UInt32,
                eosTokenID: Int32) {
        self.pluginID = pluginID
        self.pluginVersion = pluginVersion
        self.vocabularySize = vocabularySize
        self.contextLength = contextLength
        self.eosTokenID = eosTokenID
    }
}

/// Why a generation ended normally.
public enum FinishReason: UInt8, Equatable, Sendable {
    case stop = 0
    case length = 1
    case cancelled = 2
}

/// The final frame of a successful generation.
public struct Completion: Equatable, Sendable {
    public var finishReason: FinishReason
    public var promptTokens: UInt32
    public var completionTokens: UInt32

    public init(finishReason: FinishReason, promptTokens: UInt32, completionTokens: UInt32) {
        self.finishReason = finishReason
        self.promptTokens = promptTokens
        self.completionTokens = completionTokens
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
    case loaded(LoadedInfo)
    /// Tokens produced since the previous `tokens` frame of the same request, in order.
    case tokens([Int32])
    case done(Completion)
    case error(WorkerFailure)
}

// MARK: Encoding

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
            return (MessageType.load.rawValue, w.bytes)
        case .generate(let r):
            w.tokens(r.promptTokens)
            w.u32(r.maxTokens)
            w.tokens(r.stopTokens)
            switch r.sampling {
            case .greedy:
                w.u8(0)
            case .temperature(let t, let seed):
                w.u8(1)
                w.f32(t)
                w.u64(seed)
            }
            return (MessageType.generate.rawValue, w.bytes)
        case .cancel:
            return (MessageType.cancel.rawValue, [])
        case .shutdown:
            return (MessageType.shutdown.rawValue, [])
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
                maxSequences: try r.u32("max sequences"))
            try r.finish()
            return .load(request)
        case .generate:
            var r = WireReader(payload, context: "generate request")
            let prompt = try r.tokens("prompt tokens")
            let maxTokens = try r.u32("max tokens")
            let stop = try r.tokens("stop tokens")
            let sampling: Sampling
            switch try r.u8("sampling kind") {
            case 0: sampling = .greedy
            case 1: sampling = .temperature(try r.f32("temperature"), seed: try r.u64("seed"))
            case let other: throw WireError("generate request: unknown sampling kind \(other)")
            }
            try r.finish()
            return .generate(GenerateRequest(promptTokens: prompt, maxTokens: maxTokens, stopTokens: stop,
                                             sampling: sampling))
        case .cancel, .shutdown:
            guard payload.isEmpty else { throw WireError("\(kind) request carries \(payload.count) unexpected bytes") }
            return kind == .cancel ? .cancel : .shutdown
        case .loaded, .tokens, .done, .error:
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
            return (MessageType.loaded.rawValue, w.bytes)
        case .tokens(let ids):
            w.tokens(ids)
            return (MessageType.tokens.rawValue, w.bytes)
        case .done(let c):
            w.u8(c.finishReason.rawValue)
            w.u32(c.promptTokens)
            w.u32(c.completionTokens)
            return (MessageType.done.rawValue, w.bytes)
        case .error(let failure):
            w.u8(failure.category.rawValue)
            w.string(failure.message)
            return (MessageType.error.rawValue, w.bytes)
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
                eosTokenID: try r.i32("eos token"))
            try r.finish()
            return .loaded(info)
        case .tokens:
            var r = WireReader(payload, context: "tokens event")
            let ids = try r.tokens("tokens")
            try r.finish()
            return .tokens(ids)
        case .done:
            var r = WireReader(payload, context: "done event")
            let raw = try r.u8("finish reason")
            guard let reason = FinishReason(rawValue: raw) else { throw WireError("done event: finish reason \(raw)") }
            let completion = Completion(finishReason: reason, promptTokens: try r.u32("prompt tokens"),
                                        completionTokens: try r.u32("completion tokens"))
            try r.finish()
            return .done(completion)
        case .error:
            var r = WireReader(payload, context: "error event")
            let raw = try r.u8("category")
            guard let category = ErrorCategory(rawValue: raw) else { throw WireError("error event: category \(raw)") }
            let message = try r.string("message")
            try r.finish()
            return .error(WorkerFailure(category, message))
        case .load, .generate, .cancel, .shutdown:
            throw WireError("frame type \(type) is a request, not an event")
        }
    }

    /// Whether this event ends its request (no further frames for that request id follow).
    public var isTerminal: Bool {
        switch self {
        case .done, .error: return true
        case .loaded, .tokens: return false
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
