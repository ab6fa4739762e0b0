import Foundation
import struct Sampling.SamplingDefaults
import struct WorkerProtocol.ToolCallDelta
import struct WorkerProtocol.ToolRequest

/// `POST /v1/responses` (OpenAI's Responses API) on the same engine as chat completions: `input` (text or items:
/// messages, `function_call`, `function_call_output`), `instructions`, function tools, `previous_response_id`
/// against the responses this server keeps (`ResponseStore`), and the response object or its event stream.
enum ResponsesAPI {
    static let unsupported: Set<String> = ["include", "background", "conversation", "prompt", "prompt_cache_key",
                                           "safety_identifier", "service_tier", "top_logprobs", "truncation",
                                           "max_tool_calls"]

    /// What a request asks beyond the chat request: what its response object echoes, and how it is kept.
    struct Options: Sendable {
        var instructions: String?
        var previousResponseID: String?
        var store: Bool
        var metadata: JSONValue
        var toolsJSON: JSONValue
        var toolChoice: JSONValue
        var parallelToolCalls: Bool
        var maxOutputTokens: Int?
        var temperature: Double?
        var topP: Double?
        /// The conversation this response continues: the earlier turns and this request's input.
        var conversation: [ChatMessage]
    }

    static func parse(_ body: JSONValue, raw: [UInt8], id: String, priority: Priority, store: ResponseStore)
        async throws -> (ParsedRequest, Options)
    {
        var fields = try RequestFields(body)
        let modelValue = try fields.require("model")
        guard case .string(let model) = modelValue, !model.isEmpty else {
            throw APIError.wrongType("model", expected: "a non-empty string", got: modelValue)
        }
        let instructions = try fields.string("instructions")
        let previous = try fields.string("previous_response_id")
        var history: [ChatMessage] = []
        if let previous {
            guard let earlier = await store.get(previous) else {
                throw APIError(status: 404, message: "no stored response '\(previous.prefix(80))' (responses are kept "
                               + "in memory, bounded, and only with store true)", type: "invalid_request_error",
                               param: "previous_response_id", code: "previous_response_not_found")
            }
            history = earlier.conversation
        }
        let rawBody = raw[...]
        let inputValue = try fields.require("input")
        let input = try items(inputValue)
        var sampling = SamplingParameters()
        var explicit = SamplingDefaults()
        let temperature = try fields.double("temperature", in: 0...2)
        if let temperature {
            sampling.temperature = temperature
            explicit.temperature = temperature
        }
        let topP = try fields.double("top_p", in: 0...1)
        if let topP {
            sampling.topP = topP
            explicit.topP = topP
        }
        let maxOutput = try fields.int("max_output_tokens", in: 1...16_777_216)
        explicit.maxTokens = maxOutput
        let stream = try fields.bool("stream") ?? false
        let keep = try fields.bool("store") ?? true
        let metadata = fields.take("metadata") ?? .object([:])
        guard case .object = metadata else { throw APIError.wrongType("metadata", expected: "an object", got: metadata) }
        _ = try fields.string("user")
        _ = try fields.string("prompt_cache_key")  // A balancer's routing key (see CommonOptions).
        var templateArguments = ""
        if let reasoning = fields.take("reasoning") {
            var r = try RequestFields(reasoning, name: "reasoning")
            switch try r.string("effort") {
            case "none"?, "minimal"?: templateArguments = #"{"enable_thinking":false}"#
            case "low"?, "medium"?, "high"?: templateArguments = #"{"enable_thinking":true}"#
            case nil: break
            case let other?: throw APIError.outOfRange("reasoning.effort", "none, minimal, low, medium or high (got '\(other.prefix(20))')")
            }
            _ = try r.string("summary")
            try r.finish()
        }
        var format = ResponseFormat.text
        if let text = fields.take("text") {
            var t = try RequestFields(text, name: "text")
            if let f = t.take("format") {
                var ff = try RequestFields(f, name: "text.format")
                switch try ff.string("type") {
                case "text"?: break
                case "json_object"?: format = .jsonObject
                case "json_schema"?:
                    let name = try ff.string("name") ?? "response"
                    _ = try ff.string("description")
                    let strict = try ff.bool("strict") ?? false
                    guard let schema = ff.take("schema"), case .object = schema else {
                        throw APIError.invalid("'text.format.schema' is required", param: "text.format.schema")
                    }
                    let rawSchema = RawJSON.member(rawBody, "text").flatMap { RawJSON.member($0, "format") }
                        .flatMap { RawJSON.member($0, "schema") }
                    format = .jsonSchema(name: name, schema: rawSchema.map { String(decoding: $0, as: UTF8.self) }
                                         ?? schema.serialized, strict: strict)
                default: throw APIError.outOfRange("text.format.type", "text, json_object or json_schema")
                }
                try ff.finish()
            }
            _ = try t.string("verbosity")
            try t.finish()
        }
        let toolsValue = fields.take("tools") ?? .array([])
        let choiceValue = fields.take("tool_choice") ?? .string("auto")
        let parallel = try fields.bool("parallel_tool_calls") ?? true
        let tools = try self.tools(toolsValue, choice: choiceValue, parallel: parallel, raw: rawBody)
        try fields.finish(unsupported: unsupported)
        if tools != nil, format != .text {
            throw APIError.invalid("'text.format' cannot be combined with 'tools'", param: "text.format")
        }

        var messages = history + input
        if let instructions {
            // Instructions apply to this response only (a previous response's are not carried over).
            messages.insert(ChatMessage(role: "system", content: [.text(instructions)]), at: 0)
        }
        guard !messages.isEmpty else { throw APIError.outOfRange("input", "at least one item") }
        var request = GenerationRequest(id: id, model: model, input: .chat(messages), sampling: sampling,
                                        maxTokens: maxOutput, responseFormat: format, priority: priority, tools: tools)
        request.templateArgumentsJSON = templateArguments
        let parsed = ParsedRequest(endpoint: .responses, requests: [request], stream: stream, includeUsage: true,
                                   explicitSampling: explicit)
        let options = Options(instructions: instructions, previousResponseID: previous, store: keep,
                              metadata: metadata, toolsJSON: toolsValue, toolChoice: choiceValue,
                              parallelToolCalls: parallel, maxOutputTokens: maxOutput, temperature: temperature,
                              topP: topP, conversation: history + input)
        return (parsed, options)
    }

    /// `input`: a string (one user message) or a list of items.
    private static func items(_ value: JSONValue) throws(APIError) -> [ChatMessage] {
        if case .string(let text) = value { return [ChatMessage(role: "user", content: [.text(text)])] }
        guard case .array(let list) = value else {
            throw APIError.wrongType("input", expected: "a string or an array of items", got: value)
        }
        var out: [ChatMessage] = []
        for (i, item) in list.enumerated() {
            let param = "input[\(i)]"
            var f = try RequestFields(item, name: param)
            let type = try f.string("type") ?? "message"
            switch type {
            case "message":
                let role = try f.string("role")
                guard let role, ["user", "assistant", "system", "developer"].contains(role) else {
                    throw APIError.outOfRange("\(param).role", "user, assistant, system or developer")
                }
                _ = try f.string("id")
                _ = try f.string("status")
                let content = try messageContent(try f.require("content"), param: "\(param).content")
                out.append(ChatMessage(role: role, content: content))
            case "function_call":
                guard let callID = try f.string("call_id"), let name = try f.string("name"),
                      let arguments = try f.string("arguments") else {
                    throw APIError.invalid("'\(param)' needs call_id, name and arguments", param: param)
                }
                guard JSONValue.parse(Array(arguments.utf8)) != nil else {
                    throw APIError.invalid("'\(param).arguments' is not valid JSON text", param: "\(param).arguments")
                }
                _ = try f.string("id")
                _ = try f.string("status")
                let call = ChatToolCall(id: callID, name: name, arguments: arguments)
                out.append(ChatMessage(role: "assistant", content: [], toolCalls: [call]))
            case "function_call_output":
                guard let callID = try f.string("call_id") else {
                    throw APIError.invalid("'\(param).call_id' is required", param: "\(param).call_id")
                }
                let output = try f.require("output")
                let text: String
                switch output {
                case .string(let s): text = s
                default: text = output.serialized
                }
                _ = try f.string("id")
                _ = try f.string("status")
                out.append(ChatMessage(role: "tool", content: [.text(text)], toolCallID: callID))
            case "reasoning":
                // A reasoning model's earlier thoughts: passed back to the template with the assistant turn.
                var thought = ""
                if case .array(let parts)? = f.take("content") {
                    for part in parts {
                        if case .object(let p) = part, case .string(let t)? = p["text"] { thought += t }
                    }
                }
                _ = f.take("summary")
                _ = try f.string("id")
                _ = f.take("encrypted_content")
                _ = try f.string("status")
                out.append(ChatMessage(role: "assistant", content: [], reasoning: thought))
            default:
                throw APIError.outOfRange("\(param).type", "message, function_call, function_call_output or reasoning")
            }
            try f.finish()
        }
        return mergeAssistantTurns(out)
    }

    /// A reasoning item, an assistant message and its calls arrive as separate items but are one chat turn.
    private static func mergeAssistantTurns(_ messages: [ChatMessage]) -> [ChatMessage] {
        var out: [ChatMessage] = []
        for message in messages {
            if message.role == "assistant", let last = out.last, last.role == "assistant" {
                var merged = last
                merged.content += message.content
                merged.toolCalls += message.toolCalls
                if let r = message.reasoning { merged.reasoning = (merged.reasoning ?? "") + r }
                out[out.count - 1] = merged
            } else {
                out.append(message)
            }
        }
        return out
    }

    private static func messageContent(_ value: JSONValue, param: String) throws(APIError) -> [ChatContentPart] {
        if case .string(let s) = value { return [.text(s)] }
        guard case .array(let parts) = value else {
            throw APIError.wrongType(param, expected: "a string or an array of content parts", got: value)
        }
        var out: [ChatContentPart] = []
        for (i, part) in parts.enumerated() {
            var f = try RequestFields(part, name: "\(param)[\(i)]")
            switch try f.string("type") {
            case "input_text"?, "output_text"?, "text"?:
                guard let t = try f.string("text") else {
                    throw APIError.invalid("'\(param)[\(i)].text' is required", param: "\(param)[\(i)].text")
                }
                _ = f.take("annotations")
                _ = f.take("logprobs")
                out.append(.text(t))
            case "input_image"?:
                guard let url = try f.string("image_url") else {
                    throw APIError.invalid("'\(param)[\(i)].image_url' is required (file ids are not supported)",
                                           param: "\(param)[\(i)].image_url")
                }
                let detail = try f.string("detail")
                out.append(.imageURL(url, detail: detail))
            case "refusal"?:
                out.append(.text(try f.string("refusal") ?? ""))
            default:
                throw APIError.outOfRange("\(param)[\(i)].type", "input_text, output_text or input_image")
            }
            try f.finish()
        }
        return out
    }

    /// Responses tools are flat (`{"type": "function", "name", "description", "parameters", "strict"}`); templates
    /// take the chat shape, so they are rewritten with their schemas cut from the body unchanged.
    private static func tools(_ value: JSONValue, choice: JSONValue, parallel: Bool, raw: ArraySlice<UInt8>)
        throws(APIError) -> ToolRequest?
    {
        guard case .array(let items) = value else { throw APIError.wrongType("tools", expected: "an array", got: value) }
        let rawItems = RawJSON.member(raw, "tools").map(RawJSON.elements) ?? []
        var functions: [ToolRequest.Function] = []
        var templateTools: [String] = []
        for (i, item) in items.enumerated() {
            var f = try RequestFields(item, name: "tools[\(i)]")
            guard try f.string("type") == "function" else {
                throw APIError.unsupported("tools[\(i)].type")  // hosted tools (web search, files) run nowhere here
            }
            guard let name = try f.string("name"), !name.isEmpty, name.count <= 64,
                  name.allSatisfy({ $0.isASCII && ($0.isLetter || $0.isNumber || $0 == "_" || $0 == "-") }) else {
                throw APIError.invalid("'tools[\(i)].name' is required: 1–64 of a-z, A-Z, 0-9, _ and -",
                                       param: "tools[\(i)].name")
            }
            let description = try f.string("description")
            _ = try f.bool("strict")
            var schema = #"{"type":"object"}"#
            if let parameters = f.take("parameters") {
                guard case .object = parameters else {
                    throw APIError.wrongType("tools[\(i)].parameters", expected: "a JSON Schema object", got: parameters)
                }
                schema = (i < rawItems.count ? RawJSON.member(rawItems[i], "parameters") : nil)
                    .map { String(decoding: $0, as: UTF8.self) } ?? parameters.serialized
            }
            try f.finish()
            guard !functions.contains(where: { $0.name == name }) else {
                throw APIError.invalid("'tools[\(i)].name' repeats '\(name)'", param: "tools[\(i)].name")
            }
            functions.append(ToolRequest.Function(name: name, parametersJSON: schema))
            var function = #"{"name":"# + JSONValue.string(name).serialized
            if let description { function += #","description":"# + JSONValue.string(description).serialized }
            templateTools.append(#"{"type":"function","function":"# + function + #","parameters":"# + schema + "}}")
        }
        let mode: ToolRequest.Choice
        switch choice {
        case .string("none"): return nil
        case .string("auto"): mode = .auto
        case .string("required"): mode = .required
        case .object:
            var c = try RequestFields(choice, name: "tool_choice")
            guard try c.string("type") == "function", let name = try c.string("name"),
                  functions.contains(where: { $0.name == name }) else {
                throw APIError.invalid("'tool_choice' must be none, auto, required or {\"type\": \"function\", "
                                       + "\"name\": <one of the tools>}", param: "tool_choice")
            }
            try c.finish()
            mode = .function(name)
        default:
            throw APIError.outOfRange("tool_choice", "none, auto, required or a function")
        }
        guard !functions.isEmpty else {
            if mode != .auto { throw APIError.invalid("'tool_choice' needs 'tools'", param: "tool_choice") }
            return nil
        }
        return ToolRequest(toolsJSON: "[" + templateTools.joined(separator: ",") + "]", functions: functions,
                           choice: mode, parallel: parallel)
    }

    // MARK: The response object

    /// The response object for a finished (or, while streaming, a running) answer.
    static func object(id: String, model: String, created: Int, options: Options, choice: ResponseRenderer.Choice?,
                       usage: UsageTotals?, status: String) -> JSONValue {
        var output: [JSONValue] = []
        if let choice { output = outputItems(id: id, choice) }
        var incomplete: JSONValue = .null
        if choice?.finishReason == .length { incomplete = ["reason": "max_output_tokens"] }
        let usageJSON: JSONValue = usage.map { u in
            ["input_tokens": JSONValue(u.prompt), "output_tokens": JSONValue(u.completion),
             "total_tokens": JSONValue(u.prompt + u.completion),
             "input_tokens_details": ["cached_tokens": JSONValue(u.cachedPrompt)],
             "output_tokens_details": ["reasoning_tokens": 0]]
        } ?? .null
        return ["id": .string(id), "object": "response", "created_at": JSONValue(created), "status": .string(status),
                "model": .string(model), "output": .array(output), "usage": usageJSON, "error": .null,
                "incomplete_details": incomplete, "instructions": JSONValue(options.instructions),
                "previous_response_id": JSONValue(options.previousResponseID), "metadata": options.metadata,
                "tools": options.toolsJSON, "tool_choice": options.toolChoice,
                "parallel_tool_calls": .bool(options.parallelToolCalls),
                "max_output_tokens": options.maxOutputTokens.map { JSONValue($0) } ?? .null,
                "temperature": options.temperature.map(JSONValue.number) ?? .null,
                "top_p": options.topP.map(JSONValue.number) ?? .null, "store": .bool(options.store),
                "text": ["format": ["type": "text"]], "reasoning": ["effort": .null, "summary": .null]]
    }

    static func status(_ reason: FinishReason?) -> String { reason == .length ? "incomplete" : "completed" }

    /// Output items in order: reasoning, the message, then each function call.
    static func outputItems(id: String, _ choice: ResponseRenderer.Choice) -> [JSONValue] {
        var items: [JSONValue] = []
        let suffix = id.dropFirst("resp_".count)
        if !choice.reasoning.isEmpty {
            items.append(["type": "reasoning", "id": .string("rs_\(suffix)"), "summary": [],
                          "content": [["type": "reasoning_text", "text": .string(choice.reasoning)]]])
        }
        if !choice.text.isEmpty || choice.toolCalls.isEmpty {
            items.append(messageItem(id: "msg_\(suffix)", text: choice.text, status: status(choice.finishReason)))
        }
        for (k, call) in choice.toolCalls.enumerated() {
            items.append(functionCallItem(id: "fc_\(suffix)_\(k)", callID: call.id, name: call.name,
                                          arguments: call.arguments, status: "completed"))
        }
        return items
    }

    static func messageItem(id: String, text: String?, status: String) -> JSONValue {
        ["type": "message", "id": .string(id), "status": .string(status), "role": "assistant",
         "content": text.map { [textPart($0)] } ?? []]
    }

    static func textPart(_ text: String) -> JSONValue {
        ["type": "output_text", "text": .string(text), "annotations": []]
    }

    static func functionCallItem(id: String, callID: String, name: String, arguments: String, status: String) -> JSONValue {
        ["type": "function_call", "id": .string(id), "call_id": .string(callID), "name": .string(name),
         "arguments": .string(arguments), "status": .string(status)]
    }

    /// The answer as a chat turn, for a later `previous_response_id`.
    static func assistantTurn(_ choice: ResponseRenderer.Choice) -> ChatMessage {
        ChatMessage(role: "assistant", content: choice.text.isEmpty ? [] : [.text(choice.text)],
                    toolCalls: choice.toolCalls.map { ChatToolCall(id: $0.id, name: $0.name, arguments: $0.arguments) },
                    reasoning: choice.reasoning.isEmpty ? nil : choice.reasoning)
    }
}

/// The responses kept for `previous_response_id` and `GET`/`DELETE /v1/responses/{id}`: in memory, at most
/// `capacity`, the oldest dropped first; a response made with `store: false` is never kept.
public actor ResponseStore {
    struct Entry: Sendable {
        var object: JSONValue
        var conversation: [ChatMessage]
    }

    private var entries: [String: Entry] = [:]
    private var order: [String] = []
    public let capacity: Int

    public init(capacity: Int = 1000) {
        self.capacity = max(1, capacity)
    }

    func put(_ id: String, _ entry: Entry) {
        if entries.updateValue(entry, forKey: id) == nil { order.append(id) }
        while order.count > capacity { entries[order.removeFirst()] = nil }
    }

    func get(_ id: String) -> Entry? { entries[id] }

    func delete(_ id: String) -> Bool {
        guard entries.removeValue(forKey: id) != nil else { return false }
        order.removeAll { $0 == id }
        return true
    }
}

/// The events of one streamed response, numbered: `response.created`, then per output item `added`, its deltas and
/// `done`, then `response.completed` with the whole object.
struct ResponsesStream {
    enum Item: Equatable { case reasoning, message, call(Int) }

    let id: String
    private(set) var sequence = 0
    private var open: Item?
    private var outputIndex = -1
    private var reasoning = ""
    private var text = ""
    private var calls: [Int: (id: String, name: String, arguments: String)] = [:]

    init(id: String) {
        self.id = id
    }

    private var suffix: Substring { id.dropFirst("resp_".count) }

    private mutating func event(_ type: String, _ fields: [String: JSONValue]) -> (String, JSONValue) {
        var object = fields
        object["type"] = .string(type)
        object["sequence_number"] = JSONValue(sequence)
        sequence += 1
        return (type, .object(object))
    }

    mutating func started(_ response: JSONValue) -> [(String, JSONValue)] {
        [event("response.created", ["response": response]), event("response.in_progress", ["response": response])]
    }

    private var itemID: String {
        switch open {
        case .reasoning?: "rs_\(suffix)"
        case .message?: "msg_\(suffix)"
        case .call(let k)?: "fc_\(suffix)_\(k)"
        case nil: ""
        }
    }

    /// Opens `item` (closing the one before) when the kind of output changes.
    private mutating func switchTo(_ item: Item, opening: JSONValue) -> [(String, JSONValue)] {
        guard open != item else { return [] }
        var out = close()
        open = item
        outputIndex += 1
        out.append(event("response.output_item.added", ["output_index": JSONValue(outputIndex), "item": opening]))
        if item == .message {
            out.append(event("response.content_part.added", ["item_id": .string(itemID),
                                                               "output_index": JSONValue(outputIndex),
                                                               "content_index": 0, "part": ResponsesAPI.textPart("")]))
        }
        return out
    }

    mutating func text(_ delta: String) -> [(String, JSONValue)] {
        var out = switchTo(.message, opening: ResponsesAPI.messageItem(id: "msg_\(suffix)", text: nil,
                                                                      status: "in_progress"))
        text += delta
        out.append(event("response.output_text.delta", ["item_id": .string(itemID), "output_index": JSONValue(outputIndex),
                                                         "content_index": 0, "delta": .string(delta), "logprobs": []]))
        return out
    }

    mutating func reasoning(_ delta: String) -> [(String, JSONValue)] {
        var out = switchTo(.reasoning, opening: ["type": "reasoning", "id": .string("rs_\(suffix)"), "summary": []])
        reasoning += delta
        out.append(event("response.reasoning_text.delta", ["item_id": .string(itemID),
                                                            "output_index": JSONValue(outputIndex),
                                                            "content_index": 0, "delta": .string(delta)]))
        return out
    }

    mutating func call(_ delta: ToolCallDelta) -> [(String, JSONValue)] {
        if calls[delta.index] == nil { calls[delta.index] = (delta.id ?? "", delta.name ?? "", "") }
        let c = calls[delta.index]!
        var out = switchTo(.call(delta.index), opening: ResponsesAPI.functionCallItem(
            id: "fc_\(suffix)_\(delta.index)", callID: c.id, name: c.name, arguments: "", status: "in_progress"))
        if !delta.arguments.isEmpty {
            calls[delta.index]!.arguments += delta.arguments
            out.append(event("response.function_call_arguments.delta", [
                "item_id": .string(itemID), "output_index": JSONValue(outputIndex), "delta": .string(delta.arguments)]))
        }
        return out
    }

    mutating func close() -> [(String, JSONValue)] {
        guard let item = open else { return [] }
        let index = JSONValue(outputIndex)
        let itemID = self.itemID
        open = nil
        switch item {
        case .message:
            return [
                event("response.output_text.done", ["item_id": .string(itemID), "output_index": index,
                                                    "content_index": 0, "text": .string(text), "logprobs": []]),
                event("response.content_part.done", ["item_id": .string(itemID), "output_index": index,
                                                     "content_index": 0, "part": ResponsesAPI.textPart(text)]),
                event("response.output_item.done", ["output_index": index, "item": ResponsesAPI.messageItem(
                    id: itemID, text: text, status: "completed")]),
            ]
        case .reasoning:
            return [
                event("response.reasoning_text.done", ["item_id": .string(itemID), "output_index": index,
                                                       "content_index": 0, "text": .string(reasoning)]),
                event("response.output_item.done", ["output_index": index, "item": [
                    "type": "reasoning", "id": .string(itemID), "summary": [],
                    "content": [["type": "reasoning_text", "text": .string(reasoning)]]]]),
            ]
        case .call(let k):
            let c = calls[k] ?? ("", "", "")
            return [
                event("response.function_call_arguments.done", ["item_id": .string(itemID), "output_index": index,
                                                                "arguments": .string(c.arguments)]),
                event("response.output_item.done", ["output_index": index, "item": ResponsesAPI.functionCallItem(
                    id: itemID, callID: c.id, name: c.name, arguments: c.arguments, status: "completed")]),
            ]
        }
    }

    mutating func finished(_ response: JSONValue, status: String) -> [(String, JSONValue)] {
        close() + [event(status == "incomplete" ? "response.incomplete" : "response.completed", ["response": response])]
    }

    mutating func failed(_ error: APIError) -> (String, JSONValue) {
        event("error", ["code": JSONValue(error.code), "message": .string(error.message), "param": JSONValue(error.param)])
    }
}
