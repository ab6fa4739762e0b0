import HTTPServer
import Sampling
import WorkerProtocol

/// HTTP-level generation requests → worker requests, one per choice. Choice i of a seeded request uses seed + i,
/// so `n` choices differ from each other and the whole response is still reproducible.
public enum WorkerRequestBuilder {
    public static func build(_ request: GenerationRequest) throws(BackendError) -> [GenerateRequest] {
        let input: PromptInput
        var images: [[UInt8]] = []
        switch request.input {
        case .tokens(let ids):
            input = .tokens(ids)
        case .text(let text):
            input = .text(text)
        case .chat(let messages):
            let chat = try chatPrompt(messages)
            input = .chat(messagesJSON: chat.json)
            images = chat.images
        }
        var sampling = Sampling.SamplingParameters()
        let s = request.sampling
        sampling.temperature = Float(s.temperature)
        sampling.topK = s.topK
        sampling.topP = Float(s.topP)
        sampling.minP = Float(s.minP)
        sampling.repetitionPenalty = Float(s.repetitionPenalty)
        sampling.presencePenalty = Float(s.presencePenalty)
        sampling.frequencyPenalty = Float(s.frequencyPenalty)
        sampling.logitBias = s.logitBias.mapValues { Float($0) }
        let seed = s.seed ?? UInt64.random(in: 0...UInt64.max)
        let format: OutputFormat
        switch request.responseFormat {
        case .text: format = .text
        case .jsonObject: format = .jsonObject
        case .jsonSchema(_, let schema, _): format = .jsonSchema(schema)
        }
        let maxTokens = request.maxTokens.map { UInt32(clamping: $0) } ?? GenerateRequest.unlimited
        return (0..<max(1, request.n)).map { index in
            var choice = sampling
            choice.seed = seed &+ UInt64(index)
            // A client that names a seed asks for reproducible output, which prefix reuse could break (see
            // `GenerateRequest.reusePrefix`); greedy decoding is not affected enough to matter.
            return GenerateRequest(input: input, maxTokens: maxTokens, stopStrings: request.stop, sampling: choice,
                                   logprobs: request.logprobs.map { UInt8(clamping: $0) }, echo: request.echo,
                                   format: format, reusePrefix: !(s.seed != nil && s.temperature > 0),
                                   images: images, tools: request.tools,
                                   templateArgumentsJSON: request.templateArgumentsJSON)
        }
    }

    /// The messages as the chat template receives them: role, name when given, and content as one string (text
    /// parts joined by a newline) or, for a message with images, the Hugging Face list of parts (`{"type": "text",
    /// "text": ...}`, `{"type": "image"}`) that vision templates iterate. The images' bytes travel beside the JSON, in
    /// the order of their parts. An assistant's `tool_calls` carry their arguments as JSON objects, not text, since
    /// templates print them with `tojson` (as `apply_chat_template` is given them); the client's text is spliced in
    /// unchanged so its key order survives. A `tool` message keeps its `tool_call_id`.
    public static func chatPrompt(_ messages: [ChatMessage]) throws(BackendError) -> (json: String, images: [[UInt8]]) {
        var array: [String] = []
        var images: [[UInt8]] = []
        for (index, message) in messages.enumerated() {
            let content: JSONValue
            if message.content.contains(where: \.isImage) {
                var parts: [JSONValue] = []
                for part in message.content {
                    switch part {
                    case .text(let text):
                        parts.append(["type": "text", "text": .string(text)])
                    case .image(let bytes, _):
                        parts.append(["type": "image"])
                        images.append(bytes)
                    case .imageURL:
                        throw .badRequest(param: "messages[\(index)].content",
                                          message: "image URLs must be resolved before they reach a worker")
                    }
                }
                content = .array(parts)
            } else {
                content = .string(message.content.compactMap { if case .text(let t) = $0 { t } else { nil } }
                    .joined(separator: "\n"))
            }
            var object = "{\"role\":" + JSONValue.string(message.role).serialized
            object += ",\"content\":" + (message.content.isEmpty && !message.toolCalls.isEmpty ? "null" : content.serialized)
            if let name = message.name { object += ",\"name\":" + JSONValue.string(name).serialized }
            if !message.toolCalls.isEmpty {
                let calls = message.toolCalls.map { call in
                    "{\"id\":" + JSONValue.string(call.id).serialized + ",\"type\":\"function\",\"function\":{\"name\":"
                        + JSONValue.string(call.name).serialized + ",\"arguments\":" + call.arguments + "}}"
                }
                object += ",\"tool_calls\":[" + calls.joined(separator: ",") + "]"
            }
            if let id = message.toolCallID { object += ",\"tool_call_id\":" + JSONValue.string(id).serialized }
            if let reasoning = message.reasoning {
                object += ",\"reasoning_content\":" + JSONValue.string(reasoning).serialized
            }
            array.append(object + "}")
        }
        return ("[" + array.joined(separator: ",") + "]", images)
    }
}
