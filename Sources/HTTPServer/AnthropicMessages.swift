import Foundation
import struct Sampling.SamplingDefaults
import struct WorkerProtocol.ToolRequest
import struct WorkerProtocol.ToolCallDelta

/// `POST /v1/messages` (Anthropic's Messages API) on the same engine as chat completions: the body becomes one chat
/// `GenerationRequest` (system prompt, content blocks, `tool_use`/`tool_result` turns, tools), and the events render
/// as Anthropic's message or its stream of `message_start` ... `message_stop` events. Errors keep Anthropic's shape
/// on this route (`AnthropicError`).
enum AnthropicMessages {
    /// Anthropic platform features with no local meaning: refused by name rather than ignored.
    static let unsupported: Set<String> = ["container", "mcp_servers", "service_tier", "context_management",
                                           "inference_geo", "speed", "workspace_id", "diagnostics", "user_profile_id",
                                           "cache_control"]

    /// The body as a chat request with `n` 1. `raw` is the body's text: tool schemas and `tool_use` inputs are
    /// cut from it in the client's key order.
    /// `countOnly`: `/v1/messages/count_tokens`, which takes no `max_tokens` and generates nothing.
    static func parse(_ body: JSONValue, raw: [UInt8], id: String, priority: Priority, countOnly: Bool = false)
        throws(APIError) -> ParsedRequest
    {
        var fields = try RequestFields(body)
        let modelValue = try fields.require("model")
        guard case .string(let model) = modelValue, !model.isEmpty else {
            throw APIError.wrongType("model", expected: "a non-empty string", got: modelValue)
        }
        let maxTokens = countOnly ? 0 : try fields.int("max_tokens", in: 1...16_777_216)
        guard let maxTokens else {
            throw APIError.invalid("'max_tokens' is required", param: "max_tokens", code: "missing_required_parameter")
        }
        let rawBody = raw[...]
        var messages: [ChatMessage] = []
        if let system = fields.take("system") {
            messages.append(ChatMessage(role: "system", content: [.text(try text(system, param: "system"))]))
        }
        let rawMessages = RawJSON.member(rawBody, "messages").map(RawJSON.elements) ?? []
        let messageValue = try fields.require("messages")
        guard case .array(let items) = messageValue, !items.isEmpty else {
            throw APIError.wrongType("messages", expected: "a non-empty array of messages", got: messageValue)
        }
        for (index, item) in items.enumerated() {
            messages += try message(item, raw: index < rawMessages.count ? rawMessages[index] : nil,
                                    param: "messages[\(index)]")
        }

        var sampling = SamplingParameters()
        var explicit = SamplingDefaults()
        if let t = try fields.double("temperature", in: 0...1) {
            sampling.temperature = t
            explicit.temperature = t
        }
        if let p = try fields.double("top_p", in: 0...1) {
            sampling.topP = p
            explicit.topP = p
        }
        if let k = try fields.int("top_k", in: 0...1_000_000) {
            sampling.topK = k
            explicit.topK = k
        }
        var stops: [String] = []
        if let value = fields.take("stop_sequences") {
            guard case .array(let list) = value else {
                throw APIError.wrongType("stop_sequences", expected: "an array of strings", got: value)
            }
            for (i, item) in list.enumerated() {
                guard case .string(let s) = item, !s.isEmpty else {
                    throw APIError.wrongType("stop_sequences[\(i)]", expected: "a non-empty string", got: item)
                }
                stops.append(s)
            }
        }
        let stream = try fields.bool("stream") ?? false
        if let metadata = fields.take("metadata") {
            var meta = try RequestFields(metadata, name: "metadata")
            _ = try meta.string("user_id")
            try meta.finish()
        }
        let tools = try self.tools(&fields, raw: rawBody)
        var templateArguments = ""
        if let thinking = fields.take("thinking") {
            var t = try RequestFields(thinking, name: "thinking")
            switch try t.string("type") {
            case "enabled"?:
                _ = try t.int("budget_tokens", in: 1...16_777_216)
                templateArguments = #"{"enable_thinking":true}"#
            case "adaptive"?: templateArguments = #"{"enable_thinking":true}"#
            case "disabled"?: templateArguments = #"{"enable_thinking":false}"#
            default: throw APIError.outOfRange("thinking.type", "enabled, adaptive or disabled")
            }
            if let display = try t.string("display"), display != "summarized" {
                // Thoughts are returned as the model wrote them; hiding them is not offered.
                throw APIError.outOfRange("thinking.display", "summarized (thoughts are returned in full)")
            }
            try t.finish()
        }
        var format = ResponseFormat.text
        if let config = fields.take("output_config") {
            var c = try RequestFields(config, name: "output_config")
            if let effort = try c.string("effort") {
                // Effort maps onto the one switch reasoning templates have: thinking on.
                guard ["low", "medium", "high", "xhigh", "max"].contains(effort) else {
                    throw APIError.outOfRange("output_config.effort", "low, medium, high, xhigh or max")
                }
                if templateArguments.isEmpty { templateArguments = #"{"enable_thinking":true}"# }
            }
            if let f = c.take("format") {
                var ff = try RequestFields(f, name: "output_config.format")
                guard try ff.string("type") == "json_schema", let schema = ff.take("schema"), case .object = schema else {
                    throw APIError.invalid("'output_config.format' must be {\"type\": \"json_schema\", \"schema\": {...}}",
                                           param: "output_config.format")
                }
                try ff.finish()
                let rawSchema = RawJSON.member(rawBody, "output_config").flatMap { RawJSON.member($0, "format") }
                    .flatMap { RawJSON.member($0, "schema") }
                format = .jsonSchema(name: "output", schema: rawSchema.map { String(decoding: $0, as: UTF8.self) }
                                     ?? schema.serialized, strict: true)
            }
            try c.finish()
        }
        try fields.finish(unsupported: unsupported)
        if tools != nil, format != .text {
            throw APIError.invalid("'output_config.format' cannot be combined with 'tools'", param: "output_config.format")
        }

        var request = GenerationRequest(id: id, model: model, input: .chat(messages), sampling: sampling,
                                        maxTokens: maxTokens, stop: stops, responseFormat: format, priority: priority,
                                        tools: tools)
        request.templateArgumentsJSON = templateArguments
        return ParsedRequest(endpoint: countOnly ? .countTokens : .messages, requests: [request],
                             stream: countOnly ? false : stream, includeUsage: true, explicitSampling: explicit)
    }

    /// A string, or a list of text blocks joined (what `system` and `tool_result.content` take).
    private static func text(_ value: JSONValue, param: String) throws(APIError) -> String {
        switch value {
        case .string(let s): return s
        case .array(let blocks):
            var parts: [String] = []
            for (i, block) in blocks.enumerated() {
                var f = try RequestFields(block, name: "\(param)[\(i)]")
                guard try f.string("type") == "text", let t = try f.string("text") else {
                    throw APIError.invalid("'\(param)[\(i)]' must be a text block", param: "\(param)[\(i)]")
                }
                _ = f.take("cache_control")
                _ = f.take("citations")
                try f.finish()
                parts.append(t)
            }
            return parts.joined(separator: "\n")
        default:
            throw APIError.wrongType(param, expected: "a string or an array of text blocks", got: value)
        }
    }

    /// One Anthropic message as chat messages: a user turn's `tool_result` blocks become `tool` messages (before its
    /// text), an assistant turn's `tool_use` blocks its tool calls and `thinking` its reasoning.
    private static func message(_ value: JSONValue, raw: ArraySlice<UInt8>?, param: String)
        throws(APIError) -> [ChatMessage]
    {
        var fields = try RequestFields(value, name: param)
        let role = try fields.string("role")
        guard role == "user" || role == "assistant" else {
            throw APIError.outOfRange("\(param).role", "user or assistant")
        }
        let contentValue = try fields.require("content")
        try fields.finish()
        if case .string(let s) = contentValue { return [ChatMessage(role: role!, content: [.text(s)])] }
        guard case .array(let blocks) = contentValue else {
            throw APIError.wrongType("\(param).content", expected: "a string or an array of content blocks",
                                     got: contentValue)
        }
        let rawBlocks = raw.flatMap { RawJSON.member($0, "content") }.map(RawJSON.elements) ?? []
        var out: [ChatMessage] = []
        var parts: [ChatContentPart] = []
        var calls: [ChatToolCall] = []
        var reasoning: String?
        for (i, block) in blocks.enumerated() {
            let name = "\(param).content[\(i)]"
            var f = try RequestFields(block, name: name)
            _ = f.take("cache_control")
            switch try f.string("type") {
            case "text":
                guard let t = try f.string("text") else { throw APIError.invalid("'\(name).text' is required", param: "\(name).text") }
                _ = f.take("citations")
                parts.append(.text(t))
            case "image":
                var source = try RequestFields(try f.require("source"), name: "\(name).source")
                switch try source.string("type") {
                case "base64":
                    guard let media = try source.string("media_type"), let data = try source.string("data") else {
                        throw APIError.invalid("'\(name).source' needs media_type and data", param: "\(name).source")
                    }
                    parts.append(.imageURL("data:\(media);base64,\(data)", detail: nil))
                case "url":
                    guard let url = try source.string("url") else {
                        throw APIError.invalid("'\(name).source.url' is required", param: "\(name).source.url")
                    }
                    parts.append(.imageURL(url, detail: nil))
                default:
                    throw APIError.outOfRange("\(name).source.type", "base64 or url")
                }
                try source.finish()
            case "tool_use" where role == "assistant":
                guard let id = try f.string("id"), let tool = try f.string("name") else {
                    throw APIError.invalid("'\(name)' needs id and name", param: name)
                }
                let input = try f.require("input")
                guard case .object = input else { throw APIError.wrongType("\(name).input", expected: "an object", got: input) }
                let rawInput = i < rawBlocks.count ? RawJSON.member(rawBlocks[i], "input") : nil
                calls.append(ChatToolCall(id: id, name: tool,
                                          arguments: rawInput.map { String(decoding: $0, as: UTF8.self) } ?? input.serialized))
            case "tool_result" where role == "user":
                guard let id = try f.string("tool_use_id") else {
                    throw APIError.invalid("'\(name).tool_use_id' is required", param: "\(name).tool_use_id")
                }
                let content = try f.take("content").map { v throws(APIError) in try text(v, param: "\(name).content") } ?? ""
                let isError = try f.bool("is_error") ?? false
                out.append(ChatMessage(role: "tool", content: [.text(isError ? "Error: " + content : content)],
                                       toolCallID: id))
            case "thinking" where role == "assistant":
                reasoning = (reasoning ?? "") + (try f.string("thinking") ?? "")
                _ = try f.string("signature")
            case "redacted_thinking" where role == "assistant":
                _ = try f.string("data")
            case let other?:
                throw APIError.outOfRange("\(name).type", "text, image, tool_use (assistant), tool_result (user) or "
                                          + "thinking (assistant); got '\(other.prefix(40))'")
            case nil:
                throw APIError.invalid("'\(name).type' is required", param: "\(name).type")
            }
            try f.finish()
        }
        if !parts.isEmpty || !calls.isEmpty || out.isEmpty {
            out.append(ChatMessage(role: role!, content: parts, toolCalls: calls, reasoning: reasoning))
        }
        return out
    }

    /// `tools` and `tool_choice` as the chat route's `ToolRequest`: Anthropic's `{name, description, input_schema}`
    /// rewritten as OpenAI function tools (what chat templates print), schemas cut from the body unchanged.
    private static func tools(_ fields: inout RequestFields, raw: ArraySlice<UInt8>) throws(APIError) -> ToolRequest? {
        let toolsValue = fields.take("tools")
        let choiceValue = fields.take("tool_choice")
        guard let toolsValue else {
            if choiceValue != nil { throw APIError.invalid("'tool_choice' needs 'tools'", param: "tool_choice") }
            return nil
        }
        guard case .array(let items) = toolsValue else {
            throw APIError.wrongType("tools", expected: "an array of tools", got: toolsValue)
        }
        let rawItems = RawJSON.member(raw, "tools").map(RawJSON.elements) ?? []
        var functions: [ToolRequest.Function] = []
        var templateTools: [String] = []
        for (i, item) in items.enumerated() {
            var f = try RequestFields(item, name: "tools[\(i)]")
            if let type = try f.string("type"), type != "custom" {
                throw APIError.unsupported("tools[\(i)].type")  // server tools (web search, bash, ...) run nowhere here
            }
            guard let name = try f.string("name"), !name.isEmpty, name.count <= 128 else {
                throw APIError.invalid("'tools[\(i)].name' is required", param: "tools[\(i)].name")
            }
            let description = try f.string("description")
            let schema = try f.require("input_schema")
            guard case .object = schema else {
                throw APIError.wrongType("tools[\(i)].input_schema", expected: "a JSON Schema object", got: schema)
            }
            _ = f.take("cache_control")
            try f.finish()
            let rawSchema = i < rawItems.count ? RawJSON.member(rawItems[i], "input_schema") : nil
            let schemaText = rawSchema.map { String(decoding: $0, as: UTF8.self) } ?? schema.serialized
            guard !functions.contains(where: { $0.name == name }) else {
                throw APIError.invalid("'tools[\(i)].name' repeats '\(name)'", param: "tools[\(i)].name")
            }
            functions.append(ToolRequest.Function(name: name, parametersJSON: schemaText))
            var function = #"{"name":"# + JSONValue.string(name).serialized
            if let description { function += #","description":"# + JSONValue.string(description).serialized }
            templateTools.append(#"{"type":"function","function":"# + function + #","parameters":"# + schemaText + "}}")
        }
        var choice = ToolRequest.Choice.auto
        var parallel = true
        if let choiceValue {
            var c = try RequestFields(choiceValue, name: "tool_choice")
            switch try c.string("type") {
            case "auto"?: choice = .auto
            case "any"?: choice = .required
            case "tool"?:
                guard let name = try c.string("name"), functions.contains(where: { $0.name == name }) else {
                    throw APIError.invalid("'tool_choice.name' must name one of the tools", param: "tool_choice.name")
                }
                choice = .function(name)
            case "none"?:
                _ = try c.bool("disable_parallel_tool_use")
                try c.finish()
                return nil
            default:
                throw APIError.outOfRange("tool_choice.type", "auto, any, tool or none")
            }
            parallel = !(try c.bool("disable_parallel_tool_use") ?? false)
            try c.finish()
        }
        guard !functions.isEmpty else { return nil }
        return ToolRequest(toolsJSON: "[" + templateTools.joined(separator: ",") + "]", functions: functions,
                           choice: choice, parallel: parallel)
    }

    // MARK: Responses

    static func stopReason(_ reason: FinishReason?) -> JSONValue {
        switch reason {
        case .stop?: "end_turn"
        case .length?: "max_tokens"
        case .toolCalls?: "tool_use"
        case nil: .null
        }
    }

    /// A tool call's id as Anthropic writes them.
    static func toolUseID(_ id: String) -> String { id.hasPrefix("call_") ? "toolu_" + id.dropFirst(5) : id }

    /// A call's arguments as the `input` object (`{}` if the model's text is not an object, which the grammar
    /// prevents).
    static func input(_ arguments: String) -> JSONValue {
        if let value = JSONValue.parse(Array(arguments.utf8)), case .object = value { return value }
        return .object([:])
    }

    static func message(id: String, model: String, choice: ResponseRenderer.Choice, usage: UsageTotals) -> JSONValue {
        var content: [JSONValue] = []
        if !choice.reasoning.isEmpty {
            content.append(["type": "thinking", "thinking": .string(choice.reasoning), "signature": ""])
        }
        if !choice.text.isEmpty { content.append(["type": "text", "text": .string(choice.text)]) }
        for call in choice.toolCalls {
            content.append(["type": "tool_use", "id": .string(toolUseID(call.id)), "name": .string(call.name),
                            "input": input(call.arguments)])
        }
        return ["id": .string(id), "type": "message", "role": "assistant", "model": .string(model),
                "content": .array(content), "stop_reason": stopReason(choice.finishReason), "stop_sequence": .null,
                "usage": usageJSON(usage)]
    }

    static func usageJSON(_ usage: UsageTotals) -> JSONValue {
        ["input_tokens": JSONValue(usage.prompt), "output_tokens": JSONValue(usage.completion),
         "cache_read_input_tokens": JSONValue(usage.cachedPrompt), "cache_creation_input_tokens": 0]
    }
}

/// The events of one streamed message: content blocks open and close as the kind of output changes (thinking,
/// text, each tool call), `message_delta` carries the stop reason and usage, `message_stop` ends it.
struct AnthropicStream {
    enum Block: Equatable { case thinking, text, tool(Int) }

    let id: String
    let model: String
    private var open: Block?
    private var index = -1

    init(id: String, model: String) {
        self.id = id
        self.model = model
    }

    func start() -> [(String, JSONValue)] {
        [("message_start", ["type": "message_start", "message": [
            "id": .string(id), "type": "message", "role": "assistant", "model": .string(model), "content": [],
            "stop_reason": .null, "stop_sequence": .null,
            "usage": ["input_tokens": 0, "output_tokens": 0]]]),
         ("ping", ["type": "ping"])]
    }

    /// Events for a piece of output of one kind, opening its block first when the kind changes.
    mutating func piece(_ block: Block, _ payload: JSONValue, opening: JSONValue) -> [(String, JSONValue)] {
        var events: [(String, JSONValue)] = []
        if open != block {
            events += close()
            index += 1
            open = block
            events.append(("content_block_start", ["type": "content_block_start", "index": JSONValue(index),
                                                   "content_block": opening]))
        }
        if payload != .null {
            events.append(("content_block_delta", ["type": "content_block_delta", "index": JSONValue(index),
                                                   "delta": payload]))
        }
        return events
    }

    mutating func text(_ text: String) -> [(String, JSONValue)] {
        piece(.text, ["type": "text_delta", "text": .string(text)], opening: ["type": "text", "text": ""])
    }

    mutating func thinking(_ text: String) -> [(String, JSONValue)] {
        piece(.thinking, ["type": "thinking_delta", "thinking": .string(text)],
              opening: ["type": "thinking", "thinking": "", "signature": ""])
    }

    mutating func tool(_ call: ToolCallDelta) -> [(String, JSONValue)] {
        let opening: JSONValue = ["type": "tool_use", "id": .string(AnthropicMessages.toolUseID(call.id ?? "")),
                                  "name": .string(call.name ?? ""), "input": [:]]
        let payload: JSONValue = call.arguments.isEmpty
            ? .null : ["type": "input_json_delta", "partial_json": .string(call.arguments)]
        return piece(.tool(call.index), payload, opening: opening)
    }

    mutating func close() -> [(String, JSONValue)] {
        guard open != nil else { return [] }
        open = nil
        return [("content_block_stop", ["type": "content_block_stop", "index": JSONValue(index)])]
    }

    mutating func finish(_ reason: FinishReason?, usage: UsageTotals) -> [(String, JSONValue)] {
        close() + [
            ("message_delta", ["type": "message_delta",
                               "delta": ["stop_reason": AnthropicMessages.stopReason(reason), "stop_sequence": .null],
                               "usage": AnthropicMessages.usageJSON(usage)]),
            ("message_stop", ["type": "message_stop"]),
        ]
    }
}

/// Anthropic's error shape, `{"type": "error", "error": {"type", "message"}}`, with its error types by status.
enum AnthropicError {
    static func body(_ error: APIError) -> JSONValue {
        let type: String
        switch error.status {
        case 400, 405, 415, 422: type = "invalid_request_error"
        case 401: type = "authentication_error"
        case 403: type = "permission_error"
        case 404: type = "not_found_error"
        case 413: type = "request_too_large"
        case 429: type = "rate_limit_error"
        case 503, 529: type = "overloaded_error"
        case 504: type = "timeout_error"
        default: type = "api_error"
        }
        return ["type": "error", "error": ["type": .string(type), "message": .string(error.message)]]
    }

    /// Whether a path speaks Anthropic's API.
    static func applies(to path: String) -> Bool { path == "/v1/messages" || path.hasPrefix("/v1/messages/") }
}
