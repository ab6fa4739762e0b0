import struct Sampling.SamplingDefaults

/// A validated `/v1/chat/completions` or `/v1/completions` body: one generation request per prompt (completions
/// accept a batch of prompts) plus the response options the HTTP layer itself honours.
public struct ParsedRequest: Sendable, Equatable {
    public enum Endpoint: String, Sendable {
        case chat = "/v1/chat/completions"
        case completions = "/v1/completions"
        /// Anthropic's Messages API.
        case messages = "/v1/messages"
        case countTokens = "/v1/messages/count_tokens"
        /// OpenAI's Responses API.
        case responses = "/v1/responses"
        /// Ollama's native API.
        case ollamaChat = "/api/chat"
        case ollamaGenerate = "/api/generate"
    }

    public var endpoint: Endpoint
    /// Requests in prompt order; choice indices of prompt `p` are offset by `p * n`.
    public var requests: [GenerationRequest]
    public var stream: Bool
    public var includeUsage: Bool
    /// The sampling values and answer limit the body set itself; nil fields are filled by `applyDefaults`.
    public var explicitSampling = SamplingDefaults()

    public var model: String { requests[0].model }
    public var n: Int { requests[0].n }

    /// Fills the sampling values the body left out, and a chat's missing `max_tokens`, from `defaults` (the model's
    /// recommendations layered over the server's defaults). Called once the model is known; a value neither the body
    /// nor `defaults` sets keeps the parser's neutral one.
    public mutating func applyDefaults(_ defaults: SamplingDefaults) {
        let values = explicitSampling.filled(from: defaults)
        for index in requests.indices {
            if let v = values.temperature { requests[index].sampling.temperature = v }
            if let v = values.topK { requests[index].sampling.topK = v }
            if let v = values.topP { requests[index].sampling.topP = v }
            if let v = values.minP { requests[index].sampling.minP = v }
            if let v = values.repetitionPenalty { requests[index].sampling.repetitionPenalty = v }
            if requests[index].maxTokens == nil { requests[index].maxTokens = values.maxTokens }
        }
    }
}

/// Parses and range-checks request bodies. Ranges follow OpenAI's documentation; parameters OpenAI defines but this
/// server cannot honour yet are rejected by name instead of being dropped.
public enum RequestParser {
    public static let maxChoices: Int64 = 16
    public static let maxStopSequences = 4
    public static let maxSchemaBytes = 64 * 1024
    public static let maxSchemaDepth = 20
    public static let maxTopLogprobsChat: Int64 = 20
    public static let maxLogprobsCompletions: Int64 = 5
    /// OpenAI's default `max_tokens` for `/v1/completions`.
    public static let completionsDefaultMaxTokens = 16

    static let unsupportedChat: Set<String> = [
        "functions", "function_call", "audio", "modalities",
        "prediction", "service_tier", "store", "metadata", "web_search_options",
    ]
    static let unsupportedCompletions: Set<String> = ["suffix", "best_of"]

    /// `raw`: the body's text, from which tool definitions are cut as the client wrote them (nil: from `body`, with
    /// sorted keys).
    public static func chat(_ body: JSONValue, raw: [UInt8]? = nil, id: String, priority: Priority)
        throws(APIError) -> ParsedRequest
    {
        var fields = try RequestFields(body)
        let model = try modelID(&fields)
        let messages = try chatMessages(try fields.require("messages"))
        let tools = try ToolFields.parse(&fields, raw: raw.map { $0[...] } ?? Array(body.serialized.utf8)[...])
        let templateArguments = try templateArguments(&fields)
        var common = try CommonOptions(&fields, endpoint: .chat)
        if let logprobs = try fields.bool("logprobs"), logprobs {
            common.logprobs = try fields.int("top_logprobs", in: 0...maxTopLogprobsChat) ?? 0
        } else if try fields.int("top_logprobs", in: 0...maxTopLogprobsChat) != nil {
            throw APIError.invalid("'top_logprobs' requires 'logprobs': true", param: "top_logprobs")
        }
        try consumeHarmlessFields(&fields)
        try fields.finish(unsupported: unsupportedChat)
        if tools != nil, common.responseFormat != .text {
            throw APIError.invalid("'response_format' cannot be combined with 'tools'; use one or the other",
                                   param: "response_format")
        }
        var request = common.request(id: id, model: model, input: .chat(messages), priority: priority)
        request.tools = tools
        request.templateArgumentsJSON = templateArguments
        return ParsedRequest(endpoint: .chat, requests: [request], stream: common.stream,
                             includeUsage: common.includeUsage, explicitSampling: common.explicit)
    }

    public static func completions(_ body: JSONValue, id: String, priority: Priority) throws(APIError) -> ParsedRequest {
        var fields = try RequestFields(body)
        let model = try modelID(&fields)
        let prompts = try completionPrompts(try fields.require("prompt"))
        var common = try CommonOptions(&fields, endpoint: .completions)
        common.logprobs = try fields.int("logprobs", in: 0...maxLogprobsCompletions)
        common.echo = try fields.bool("echo") ?? false
        if let bestOf = fields.take("best_of") {
            // best_of equal to n asks for nothing beyond n; any other value needs server-side ranking.
            guard try RequestFields.integer(bestOf, param: "best_of", in: 1...maxChoices) == common.n else {
                throw APIError.unsupported("best_of")
            }
        }
        try fields.finish(unsupported: unsupportedCompletions)
        let requests = prompts.map { common.request(id: id, model: model, input: $0, priority: priority) }
        return ParsedRequest(endpoint: .completions, requests: requests, stream: common.stream,
                             includeUsage: common.includeUsage, explicitSampling: common.explicit)
    }

    // MARK: - Fields

    private static func modelID(_ fields: inout RequestFields) throws(APIError) -> String {
        let value = try fields.require("model")
        guard case let .string(model) = value, !model.isEmpty else {
            throw APIError.wrongType("model", expected: "a non-empty string", got: value)
        }
        return model
    }

    /// Accepts the values that request nothing (`store: false`, `service_tier: auto/default`) so that clients
    /// sending them by default still work.
    private static func consumeHarmlessFields(_ fields: inout RequestFields) throws(APIError) {
        var copy = fields
        if case .bool(false)? = copy.take("store") { _ = fields.take("store") }
        if case .string(let tier)? = copy.take("service_tier"), tier == "auto" || tier == "default" {
            _ = fields.take("service_tier")
        }
    }

    /// `chat_template_kwargs` (variables for the model's chat template) and `reasoning_effort`, which maps onto the
    /// `enable_thinking` switch reasoning templates read: `none` and `minimal` turn thinking off, the other efforts
    /// leave it on. An explicit `enable_thinking` in the kwargs wins.
    private static func templateArguments(_ fields: inout RequestFields) throws(APIError) -> String {
        var arguments: [String: JSONValue] = [:]
        if let value = fields.take("chat_template_kwargs") {
            guard case .object(let object) = value else {
                throw APIError.wrongType("chat_template_kwargs", expected: "an object", got: value)
            }
            guard value.serialized.utf8.count <= maxSchemaBytes else {
                throw APIError.outOfRange("chat_template_kwargs", "at most \(maxSchemaBytes) bytes of JSON")
            }
            arguments = object
        }
        if let effort = try fields.string("reasoning_effort") {
            switch effort {
            case "none", "minimal":
                if arguments["enable_thinking"] == nil { arguments["enable_thinking"] = .bool(false) }
            case "low", "medium", "high":
                if arguments["enable_thinking"] == nil { arguments["enable_thinking"] = .bool(true) }
            default:
                throw APIError.outOfRange("reasoning_effort", "one of none, minimal, low, medium, high")
            }
        }
        return arguments.isEmpty ? "" : JSONValue.object(arguments).serialized
    }

    static func chatMessages(_ value: JSONValue) throws(APIError) -> [ChatMessage] {
        guard case let .array(items) = value else {
            throw APIError.wrongType("messages", expected: "an array", got: value)
        }
        guard !items.isEmpty else { throw APIError.outOfRange("messages", "a non-empty array") }
        var messages: [ChatMessage] = []
        for (index, item) in items.enumerated() {
            let name = "messages[\(index)]"
            var fields = try RequestFields(item, name: name)
            let roleValue = try fields.require("role")
            guard case let .string(role) = roleValue else {
                throw APIError.wrongType("\(name).role", expected: "a string", got: roleValue)
            }
            switch role {
            case "system", "developer", "user", "assistant", "tool": break
            case "function": throw APIError.unsupported("\(name).role")
            default:
                throw APIError.outOfRange("\(name).role", "one of system, developer, user, assistant, tool")
            }
            var toolCalls: [ChatToolCall] = []
            if role == "assistant", let calls = fields.take("tool_calls") {
                toolCalls = try ToolFields.calls(calls, param: "\(name).tool_calls")
            }
            var toolCallID: String?
            if role == "tool" {
                guard let id = try fields.string("tool_call_id") else {
                    throw APIError.invalid("'\(name).tool_call_id' is required for a tool message",
                                           param: "\(name).tool_call_id")
                }
                toolCallID = id
            }
            // An assistant message that calls tools may have no content (OpenAI sends null).
            let content = toolCalls.isEmpty
                ? try chatContent(try fields.require("content"), param: "\(name).content")
                : try fields.take("content").map { v throws(APIError) in try chatContent(v, param: "\(name).content") } ?? []
            let author = try fields.string("name")
            let reasoning = role == "assistant" ? try fields.string("reasoning_content") : nil
            try fields.finish(unsupported: ["function_call", "audio"])
            messages.append(ChatMessage(role: role, content: content, name: author, toolCalls: toolCalls,
                                        toolCallID: toolCallID, reasoning: reasoning))
        }
        return messages
    }

    private static func chatContent(_ value: JSONValue, param: String) throws(APIError) -> [ChatContentPart] {
        switch value {
        case let .string(text):
            return [.text(text)]
        case let .array(parts):
            var result: [ChatContentPart] = []
            for (index, part) in parts.enumerated() {
                let name = "\(param)[\(index)]"
                var fields = try RequestFields(part, name: name)
                switch try fields.string("type") {
                case "text":
                    guard let text = try fields.string("text") else {
                        throw APIError.invalid("'\(name).text' is required", param: "\(name).text")
                    }
                    result.append(.text(text))
                case "image_url":
                    var image = try RequestFields(try fields.require("image_url"), name: "\(name).image_url")
                    guard let url = try image.string("url"), !url.isEmpty else {
                        throw APIError.invalid("'\(name).image_url.url' is required", param: "\(name).image_url.url")
                    }
                    let detail = try image.string("detail")
                    if let detail, !["auto", "low", "high"].contains(detail) {
                        throw APIError.outOfRange("\(name).image_url.detail", "one of auto, low, high")
                    }
                    try image.finish()
                    result.append(.imageURL(url, detail: detail))
                case let other?:
                    guard ["input_audio", "file", "refusal"].contains(other) else {
                        throw APIError.outOfRange("\(name).type", "one of text, image_url")
                    }
                    throw APIError.unsupported("\(name).type")
                case nil:
                    throw APIError.invalid("'\(name).type' is required", param: "\(name).type")
                }
                try fields.finish()
            }
            return result
        default:
            throw APIError.wrongType(param, expected: "a string or an array of content parts", got: value)
        }
    }

    static func completionPrompts(_ value: JSONValue) throws(APIError) -> [GenerationInput] {
        switch value {
        case let .string(text):
            return [.text(text)]
        case let .array(items) where items.isEmpty:
            throw APIError.outOfRange("prompt", "a string, an array of strings, or an array of token ids")
        case let .array(items):
            if items.allSatisfy({ if case .string = $0 { true } else { false } }) {
                return items.map { if case let .string(text) = $0 { .text(text) } else { .text("") } }
            }
            if items.allSatisfy({ if case .array = $0 { true } else { false } }) {
                var prompts: [GenerationInput] = []
                for (index, item) in items.enumerated() {
                    guard case let .array(tokens) = item else { continue }
                    prompts.append(.tokens(try tokenIDs(tokens, param: "prompt[\(index)]")))
                }
                return prompts
            }
            return [.tokens(try tokenIDs(items, param: "prompt"))]
        default:
            throw APIError.wrongType("prompt", expected: "a string, an array of strings, or an array of token ids",
                                     got: value)
        }
    }

    private static func tokenIDs(_ items: [JSONValue], param: String) throws(APIError) -> [Int32] {
        guard !items.isEmpty else { throw APIError.outOfRange(param, "a non-empty array of token ids") }
        var tokens: [Int32] = []
        tokens.reserveCapacity(items.count)
        for (index, item) in items.enumerated() {
            tokens.append(Int32(try RequestFields.integer(item, param: "\(param)[\(index)]", in: 0...Int64(Int32.max))))
        }
        return tokens
    }
}
