import Foundation
import struct Sampling.SamplingDefaults
import struct WorkerProtocol.ToolCallDelta
import struct WorkerProtocol.ToolRequest

/// Ollama's native API, for the clients that speak it (Open WebUI, Continue, editor plugins, the `ollama` Python and
/// JavaScript libraries), on the same engine as the OpenAI routes: `/api/chat` and `/api/generate` bodies become one
/// `GenerationRequest`, answered as one JSON object or, by default as Ollama does, as newline-delimited JSON objects
/// that end with `"done": true` and Ollama's counts and durations (nanoseconds). Errors on `/api/*` have Ollama's
/// shape, `{"error": "..."}`.
///
/// `options` that map onto ours are honoured (temperature, top_k, top_p, min_p, seed, num_predict, stop,
/// repeat_penalty, presence_penalty, frequency_penalty); Ollama's options that have no meaning here (GPU layers,
/// threads, memory mapping, a context size other than the model's) are accepted and named in the
/// `X-ModelHost-Ignored-Options` header, never dropped silently; anything else is a 400.
enum OllamaAPI {
    /// The Ollama API level these routes follow, as `/api/version` reports it.
    static let apiVersion = "0.12.0"
    static let ignoredHeader = "X-ModelHost-Ignored-Options"

    /// Ollama options with no effect here: the hardware and loading settings (the server chooses those per model),
    /// samplers this engine does not have, and `keep_alive`.
    static let ignoredOptions: Set<String> = [
        "num_ctx", "num_batch", "num_gpu", "main_gpu", "use_mmap", "use_mlock", "num_thread", "numa", "low_vram",
        "vocab_only", "f16_kv", "logits_all", "num_keep", "repeat_last_n", "typical_p", "tfs_z", "mirostat",
        "mirostat_tau", "mirostat_eta", "penalize_newline",
    ]

    /// Ollama names carry a tag (`smollm2:latest`); `:latest` names the model itself.
    static func modelID(_ name: String) -> String {
        name.hasSuffix(":latest") ? String(name.dropLast(7)) : name
    }

    /// A parsed `/api/chat` or `/api/generate` body.
    struct Parsed {
        var request: ParsedRequest
        /// Option and field names accepted without effect (the header lists them).
        var ignored: [String]
        /// The name as the client sent it, echoed in every answer.
        var name: String
        /// `/api/generate` with an empty prompt: load the model and answer at once (Ollama's preload).
        var loadOnly = false
    }

    // MARK: Requests

    static func chat(_ body: JSONValue, raw: [UInt8], id: String, priority: Priority) throws(APIError) -> Parsed {
        var fields = try RequestFields(body)
        let name = try modelName(&fields)
        let messageValue = try fields.require("messages")
        guard case .array(let items) = messageValue else {
            throw APIError.wrongType("messages", expected: "an array of messages", got: messageValue)
        }
        let rawMessages = RawJSON.member(raw[...], "messages").map(RawJSON.elements) ?? []
        var messages: [ChatMessage] = []
        var callIDs: [(name: String, id: String)] = []
        for (index, item) in items.enumerated() {
            messages.append(try message(item, raw: index < rawMessages.count ? rawMessages[index] : nil,
                                        param: "messages[\(index)]", callIDs: &callIDs))
        }
        guard !messages.isEmpty else {
            throw APIError.invalid("'messages' is empty: send at least one message", param: "messages")
        }
        let tools = try ToolFields.parse(&fields, raw: raw[...])
        let parsed = try common(&fields, raw: raw, name: name, id: id, priority: priority, input: .chat(messages),
                                tools: tools, endpoint: .ollamaChat)
        if tools != nil, parsed.request.requests[0].responseFormat != .text {
            throw APIError.invalid("'format' cannot be combined with 'tools'", param: "format")
        }
        try fields.finish()
        return parsed
    }

    static func generate(_ body: JSONValue, raw: [UInt8], id: String, priority: Priority) throws(APIError) -> Parsed {
        var fields = try RequestFields(body)
        let name = try modelName(&fields)
        for unsupported in ["suffix", "template", "context"] where fields.take(unsupported) != nil {
            throw APIError.invalid(unsupported == "context"
                ? "'context' (token ids of an earlier answer) is not supported; send the conversation to /api/chat"
                : "'\(unsupported)' is not supported: the model's own chat template is used", param: unsupported,
                code: "unsupported_parameter")
        }
        let prompt = try fields.string("prompt") ?? ""
        let system = try fields.string("system")
        let images = try self.images(fields.take("images"), param: "images")
        let rawMode = try fields.bool("raw") ?? false
        if rawMode, system != nil || !images.isEmpty {
            throw APIError.invalid("'raw' prompts take no 'system' or 'images'", param: "raw")
        }
        let input: GenerationInput
        if rawMode {
            input = .text(prompt)
        } else {
            var messages: [ChatMessage] = []
            if let system { messages.append(ChatMessage(role: "system", content: [.text(system)])) }
            messages.append(ChatMessage(role: "user", content: [.text(prompt)] + images))
            input = .chat(messages)
        }
        var parsed = try common(&fields, raw: raw, name: name, id: id, priority: priority, input: input, tools: nil,
                                endpoint: .ollamaGenerate)
        try fields.finish()
        parsed.loadOnly = prompt.isEmpty && images.isEmpty
        return parsed
    }

    private static func modelName(_ fields: inout RequestFields) throws(APIError) -> String {
        let value = try fields.require("model")
        guard case .string(let name) = value, !name.isEmpty else {
            throw APIError.wrongType("model", expected: "a model name", got: value)
        }
        return name
    }

    /// What `/api/chat` and `/api/generate` share: `format`, `options`, `think`, `stream`, `keep_alive`.
    private static func common(_ fields: inout RequestFields, raw: [UInt8], name: String, id: String,
                               priority: Priority, input: GenerationInput, tools: ToolRequest?,
                               endpoint: ParsedRequest.Endpoint) throws(APIError) -> Parsed
    {
        var format = ResponseFormat.text
        switch fields.take("format") {
        case nil, .null?, .string("")?: break
        case .string("json")?: format = .jsonObject
        case .object?:
            let schema = RawJSON.member(raw[...], "format").map { String(decoding: $0, as: UTF8.self) } ?? "{}"
            format = .jsonSchema(name: "format", schema: schema, strict: true)
        case let other?:
            throw APIError.wrongType("format", expected: "\"json\" or a JSON schema object", got: other)
        }
        var templateArguments = ""
        switch fields.take("think") {
        case nil, .null?: break
        case .bool(let on)?: templateArguments = on ? #"{"enable_thinking":true}"# : #"{"enable_thinking":false}"#
        case .string(let level)? where ["low", "medium", "high"].contains(level):
            templateArguments = #"{"enable_thinking":true}"#
        case let other?:
            throw APIError.wrongType("think", expected: "true, false, \"low\", \"medium\" or \"high\"", got: other)
        }
        let stream = try fields.bool("stream") ?? true
        var ignored: [String] = []
        if fields.take("keep_alive") != nil { ignored.append("keep_alive") }
        for unsupported in ["logprobs", "top_logprobs"] where fields.take(unsupported) != nil {
            throw APIError.unsupported(unsupported)
        }
        var sampling = SamplingParameters()
        var explicit = SamplingDefaults()
        var stop: [String] = []
        if let options = fields.take("options"), options != .null {
            var o = try RequestFields(options, name: "options")
            if let v = try o.double("temperature", in: 0...2) { explicit.temperature = v }
            if let v = try o.int("top_k", in: 0...1_000_000) { explicit.topK = v }
            if let v = try o.double("top_p", in: 0...1) { explicit.topP = v }
            if let v = try o.double("min_p", in: 0...1) { explicit.minP = v }
            if let v = try o.double("repeat_penalty", in: 0.01...10) { explicit.repetitionPenalty = v }
            if let v = try o.double("presence_penalty", in: -2...2) { sampling.presencePenalty = v }
            if let v = try o.double("frequency_penalty", in: -2...2) { sampling.frequencyPenalty = v }
            if let seed = try o.int("seed", in: Int64.min...Int64.max) { sampling.seed = UInt64(bitPattern: Int64(seed)) }
            // -1: no limit of the request's own (the server's answer cap applies, as for a request without one).
            if let n = try o.int("num_predict", in: -2...16_777_216) {
                if n == -2 || n == 0 {
                    throw APIError.outOfRange("options.num_predict", "-1 or a positive count (-2, fill the context, "
                                              + "is not supported)")
                }
                if n > 0 { explicit.maxTokens = n }
            }
            if let value = o.take("stop") {
                guard case .array(let list) = value, list.count <= RequestParser.maxStopSequences else {
                    throw APIError.wrongType("options.stop", expected: "an array of at most "
                                             + "\(RequestParser.maxStopSequences) strings", got: value)
                }
                for (i, item) in list.enumerated() {
                    guard case .string(let s) = item, !s.isEmpty else {
                        throw APIError.wrongType("options.stop[\(i)]", expected: "a non-empty string", got: item)
                    }
                    stop.append(s)
                }
            }
            for key in Self.ignoredOptions.sorted() where o.take(key) != nil { ignored.append(key) }
            do {
                try o.finish()
            } catch {
                throw APIError.invalid(error.message + "; Ollama's options that have no effect here ("
                    + "num_ctx, num_gpu, num_thread, ...) are accepted and listed in \(ignoredHeader)",
                    param: error.param, code: error.code ?? "unknown_parameter")
            }
        }
        // Neutral values until the model's and the server's defaults fill what the body left out.
        sampling.temperature = explicit.temperature ?? 1.0
        sampling.topP = explicit.topP ?? 1.0
        sampling.topK = explicit.topK ?? 0
        sampling.minP = explicit.minP ?? 0
        sampling.repetitionPenalty = explicit.repetitionPenalty ?? 1.0
        var request = GenerationRequest(id: id, model: modelID(name), input: input, sampling: sampling,
                                        maxTokens: explicit.maxTokens, stop: stop, responseFormat: format,
                                        priority: priority, tools: tools)
        request.templateArgumentsJSON = templateArguments
        let parsed = ParsedRequest(endpoint: endpoint, requests: [request], stream: stream, includeUsage: true,
                                   explicitSampling: explicit)
        return Parsed(request: parsed, ignored: ignored, name: name)
    }

    /// One Ollama chat message: `content` text, `images` (bare base64), an assistant's `tool_calls` (arguments as
    /// objects) and `thinking`, a tool result's `tool_name`.
    private static func message(_ value: JSONValue, raw: ArraySlice<UInt8>?, param: String,
                                callIDs: inout [(name: String, id: String)]) throws(APIError) -> ChatMessage {
        var fields = try RequestFields(value, name: param)
        guard let role = try fields.string("role"), ["system", "user", "assistant", "tool"].contains(role) else {
            throw APIError.outOfRange("\(param).role", "system, user, assistant or tool")
        }
        let content = try fields.string("content") ?? ""
        let images = try self.images(fields.take("images"), param: "\(param).images")
        if !images.isEmpty, role != "user" {
            throw APIError.invalid("'\(param).images' are for user messages", param: "\(param).images")
        }
        var message = ChatMessage(role: role, content: content.isEmpty && !images.isEmpty ? images
                                  : [.text(content)] + images)
        if let thinking = try fields.string("thinking"), role == "assistant" { message.reasoning = thinking }
        if let callsValue = fields.take("tool_calls") {
            guard role == "assistant", case .array(let calls) = callsValue else {
                throw APIError.invalid("'\(param).tool_calls' is an array, on assistant messages",
                                       param: "\(param).tool_calls")
            }
            let rawCalls = raw.flatMap { RawJSON.member($0, "tool_calls") }.map(RawJSON.elements) ?? []
            for (i, call) in calls.enumerated() {
                let name = "\(param).tool_calls[\(i)]"
                var c = try RequestFields(call, name: name)
                var f = try RequestFields(try c.require("function"), name: "\(name).function")
                guard let function = try f.string("name"), !function.isEmpty else {
                    throw APIError.invalid("'\(name).function.name' is required", param: "\(name).function.name")
                }
                let arguments = f.take("arguments") ?? .object([:])
                guard case .object = arguments else {
                    throw APIError.wrongType("\(name).function.arguments", expected: "an object", got: arguments)
                }
                _ = try f.int("index", in: 0...1_000_000)
                try f.finish()
                let callID = try c.string("id") ?? "call_\(callIDs.count)"
                _ = try c.string("type")
                try c.finish()
                let rawArguments = i < rawCalls.count
                    ? RawJSON.member(rawCalls[i], "function").flatMap { RawJSON.member($0, "arguments") } : nil
                message.toolCalls.append(ChatToolCall(
                    id: callID, name: function,
                    arguments: rawArguments.map { String(decoding: $0, as: UTF8.self) } ?? arguments.serialized))
                callIDs.append((function, callID))
            }
        }
        let name = try fields.string("name")
        if let name { message.name = name }
        if role == "tool" {
            // Ollama names the tool a result is for; templates want the call's id: the latest call of that tool.
            var tool = try fields.string("tool_name")
            if tool == nil { tool = name }
            let explicitID = try fields.string("tool_call_id")
            message.toolCallID = explicitID ?? callIDs.last(where: { tool == nil || $0.name == tool })?.id
                ?? "call_0"
            if let tool { message.name = tool }
        }
        try fields.finish()
        return message
    }

    /// Ollama's `images`: bare base64 (no data URL), the type read from the decoded bytes' signature.
    private static func images(_ value: JSONValue?, param: String) throws(APIError) -> [ChatContentPart] {
        guard let value, value != .null else { return [] }
        guard case .array(let items) = value else { throw APIError.wrongType(param, expected: "an array of base64 images", got: value) }
        var parts: [ChatContentPart] = []
        for (i, item) in items.enumerated() {
            guard case .string(let b64) = item, !b64.isEmpty else {
                throw APIError.wrongType("\(param)[\(i)]", expected: "a base64-encoded image", got: item)
            }
            let head = Data(base64Encoded: String(b64.prefix(16))).map(Array.init) ?? []
            let type: String
            if head.starts(with: [0x89, 0x50, 0x4E, 0x47]) { type = "png" }
            else if head.starts(with: [0xFF, 0xD8, 0xFF]) { type = "jpeg" }
            else if head.starts(with: Array("GIF8".utf8)) { type = "gif" }
            else if head.count >= 12, head.starts(with: Array("RIFF".utf8)), Array(head[8..<12]) == Array("WEBP".utf8) {
                type = "webp"
            } else {
                throw APIError.invalid("'\(param)[\(i)]' is not a base64 PNG, JPEG, WebP or GIF image",
                                       param: "\(param)[\(i)]", code: "invalid_image")
            }
            parts.append(.imageURL("data:image/\(type);base64,\(b64)", detail: nil))
        }
        return parts
    }

    // MARK: Answers

    /// ISO 8601 with fractional seconds, as Ollama writes `created_at`.
    static func timestamp(_ date: Date = Date()) -> JSONValue {
        let formatter = ISO8601DateFormatter()
        formatter.formatOptions = [.withInternetDateTime, .withFractionalSeconds]
        return .string(formatter.string(from: date))
    }

    /// Ollama's `done_reason`: `stop` (tool calls included), `length`.
    static func doneReason(_ reason: FinishReason?) -> JSONValue {
        reason == .length ? "length" : "stop"
    }

    /// Calls as Ollama sends them: whole, with the arguments as an object.
    static func toolCalls(_ calls: [(id: String, name: String, arguments: String)]) -> JSONValue {
        .array(calls.enumerated().map { index, call in
            ["id": .string(call.id),
             "function": ["index": JSONValue(index), "name": .string(call.name),
                          "arguments": JSONValue.parse(Array(call.arguments.utf8)) ?? .object([:])]]
        })
    }

    /// The closing object's counts and durations (nanoseconds): the prompt's evaluation is the time to the first
    /// output, the generation's the rest.
    static func closing(_ object: inout [String: JSONValue], reason: FinishReason?, usage: UsageTotals,
                        timing: GenerationTiming) {
        let (total, toFirst) = timing.elapsed()
        object["done"] = true
        object["done_reason"] = doneReason(reason)
        object["total_duration"] = .integer(total)
        object["load_duration"] = 0
        object["prompt_eval_count"] = JSONValue(usage.prompt)
        object["prompt_eval_duration"] = .integer(toFirst ?? total)
        object["eval_count"] = JSONValue(usage.completion)
        object["eval_duration"] = .integer(toFirst.map { total - $0 } ?? 0)
    }

    /// The whole answer of a request that did not stream.
    static func answer(_ parsed: Parsed, choice: ResponseRenderer.Choice, usage: UsageTotals,
                       timing: GenerationTiming) -> JSONValue {
        var object: [String: JSONValue] = ["model": .string(parsed.name), "created_at": timestamp()]
        if parsed.request.endpoint == .ollamaChat {
            var message: [String: JSONValue] = ["role": "assistant", "content": .string(choice.text)]
            if !choice.reasoning.isEmpty { message["thinking"] = .string(choice.reasoning) }
            if !choice.toolCalls.isEmpty { message["tool_calls"] = toolCalls(choice.toolCalls) }
            object["message"] = .object(message)
        } else {
            object["response"] = .string(choice.text)
            if !choice.reasoning.isEmpty { object["thinking"] = .string(choice.reasoning) }
        }
        closing(&object, reason: choice.finishReason, usage: usage, timing: timing)
        return .object(object)
    }

    /// One streamed piece: text or thoughts.
    static func piece(_ parsed: Parsed, text: String = "", thinking: String = "") -> JSONValue {
        var object: [String: JSONValue] = ["model": .string(parsed.name), "created_at": timestamp(), "done": false]
        if parsed.request.endpoint == .ollamaChat {
            var message: [String: JSONValue] = ["role": "assistant", "content": .string(text)]
            if !thinking.isEmpty { message["thinking"] = .string(thinking) }
            object["message"] = .object(message)
        } else {
            object["response"] = .string(text)
            if !thinking.isEmpty { object["thinking"] = .string(thinking) }
        }
        return .object(object)
    }
}

/// Ollama's error shape on `/api/*`.
enum OllamaError {
    static func body(_ error: APIError) -> JSONValue { ["error": .string(error.message)] }
    static func applies(to path: String) -> Bool { path.hasPrefix("/api/") }
}
