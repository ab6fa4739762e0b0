import Foundation
import struct WorkerProtocol.ToolCallDelta

/// Builds OpenAI response bodies for one request: whole responses (from accumulated choices) and stream chunks.
struct ResponseRenderer {
    let endpoint: ParsedRequest.Endpoint
    let id: String
    let model: String
    let created: Int
    /// Requested logprobs (nil: the `logprobs` field is null).
    let logprobs: Int?
    let includeUsage: Bool

    /// One choice being accumulated for a non-streamed response.
    struct Choice {
        var text = ""
        var logprobs: [TokenLogprob] = []
        /// Character offsets of each logprob token in `text` (completions' `text_offset`).
        var offsets: [Int] = []
        var finishReason: FinishReason?
        /// The model's thoughts (reasoning models), apart from `text`.
        var reasoning = ""
        /// Tool calls by index: id, name and the arguments so far.
        var toolCalls: [(id: String, name: String, arguments: String)] = []

        /// Calls arrive in index order, each opening with its id and name.
        mutating func append(_ call: ToolCallDelta) {
            if call.index == toolCalls.count { toolCalls.append((call.id ?? "", call.name ?? "", "")) }
            guard call.index < toolCalls.count else { return }
            toolCalls[call.index].arguments += call.arguments
        }

        mutating func append(_ delta: String, _ tokens: [TokenLogprob]?) {
            if let tokens {
                var offset = text.count
                for token in tokens {
                    offsets.append(offset)
                    offset += token.token.count
                }
                logprobs += tokens
            }
            text += delta
        }
    }

    private var object: String {
        endpoint == .chat ? "chat.completion" : "text_completion"
    }

    private var chunkObject: String {
        endpoint == .chat ? "chat.completion.chunk" : "text_completion"
    }

    // MARK: - Whole responses

    func response(choices: [Int: Choice], usage: UsageTotals) -> JSONValue {
        let rendered: [JSONValue] = choices.keys.sorted().map { index in
            let choice = choices[index]!
            var fields: [String: JSONValue] = [
                "index": JSONValue(index),
                "finish_reason": JSONValue(choice.finishReason?.rawValue),
                "logprobs": logprobs == nil ? .null : logprobsJSON(choice.logprobs, offsets: choice.offsets),
            ]
            if endpoint == .chat {
                var message: [String: JSONValue] = ["role": "assistant", "content": .string(choice.text)]
                if !choice.reasoning.isEmpty { message["reasoning_content"] = .string(choice.reasoning) }
                if !choice.toolCalls.isEmpty {
                    // OpenAI sends null content when the answer is only calls.
                    if choice.text.isEmpty { message["content"] = .null }
                    message["tool_calls"] = .array(choice.toolCalls.map { call in
                        ["id": .string(call.id), "type": "function",
                         "function": ["name": .string(call.name), "arguments": .string(call.arguments)]]
                    })
                }
                fields["message"] = .object(message)
            } else {
                fields["text"] = .string(choice.text)
            }
            return .object(fields)
        }
        return ["id": .string(id), "object": .string(object), "created": JSONValue(created), "model": .string(model),
                "system_fingerprint": .null, "choices": .array(rendered), "usage": usage.json]
    }

    // MARK: - Stream chunks

    /// Chat's first chunk for a choice: the role, with empty content.
    func roleChunk(index: Int) -> JSONValue {
        chunk(choice: ["index": JSONValue(index), "delta": ["role": "assistant", "content": ""],
                       "logprobs": .null, "finish_reason": .null])
    }

    func textChunk(index: Int, text: String, tokens: [TokenLogprob]?, offset: Int) -> JSONValue {
        var offsets: [Int] = []
        var position = offset
        for token in tokens ?? [] {
            offsets.append(position)
            position += token.token.count
        }
        let logprobs: JSONValue = (self.logprobs == nil || tokens == nil)
            ? .null : logprobsJSON(tokens ?? [], offsets: offsets)
        if endpoint == .chat {
            return chunk(choice: ["index": JSONValue(index), "delta": ["content": .string(text)],
                                  "logprobs": logprobs, "finish_reason": .null])
        }
        return chunk(choice: ["index": JSONValue(index), "text": .string(text), "logprobs": logprobs,
                              "finish_reason": .null])
    }

    /// A piece of a tool call: the first carries `id`, `type` and `function.name` (arguments ""), later ones only
    /// `function.arguments` fragments, as OpenAI streams them.
    func toolCallChunk(index: Int, call: ToolCallDelta) -> JSONValue {
        var function: [String: JSONValue] = ["arguments": .string(call.arguments)]
        var fields: [String: JSONValue] = ["index": JSONValue(call.index)]
        if let id = call.id {
            fields["id"] = .string(id)
            fields["type"] = "function"
        }
        if let name = call.name { function["name"] = .string(name) }
        fields["function"] = .object(function)
        return chunk(choice: ["index": JSONValue(index), "delta": ["tool_calls": [.object(fields)]],
                              "logprobs": .null, "finish_reason": .null])
    }

    /// Reasoning text (`delta.reasoning_content`, as vLLM and llama-server stream it).
    func reasoningChunk(index: Int, text: String) -> JSONValue {
        chunk(choice: ["index": JSONValue(index), "delta": ["reasoning_content": .string(text)],
                       "logprobs": .null, "finish_reason": .null])
    }

    func finishChunk(index: Int, reason: FinishReason) -> JSONValue {
        if endpoint == .chat {
            return chunk(choice: ["index": JSONValue(index), "delta": [:], "logprobs": .null,
                                  "finish_reason": .string(reason.rawValue)])
        }
        return chunk(choice: ["index": JSONValue(index), "text": "", "logprobs": .null,
                              "finish_reason": .string(reason.rawValue)])
    }

    /// The final usage chunk (only with `stream_options.include_usage`): empty `choices`.
    func usageChunk(_ usage: UsageTotals) -> JSONValue {
        ["id": .string(id), "object": .string(chunkObject), "created": JSONValue(created), "model": .string(model),
         "system_fingerprint": .null, "choices": [], "usage": usage.json]
    }

    private func chunk(choice: JSONValue) -> JSONValue {
        var fields: [String: JSONValue] = [
            "id": .string(id), "object": .string(chunkObject), "created": JSONValue(created), "model": .string(model),
            "system_fingerprint": .null, "choices": [choice],
        ]
        // With include_usage, OpenAI sends `usage: null` on every chunk before the usage chunk.
        if includeUsage { fields["usage"] = .null }
        return .object(fields)
    }

    // MARK: - Logprobs

    private func logprobsJSON(_ tokens: [TokenLogprob], offsets: [Int]) -> JSONValue {
        if endpoint == .chat {
            return ["content": .array(tokens.map { token in
                ["token": .string(token.token), "logprob": Self.number(token.logprob),
                 "bytes": .array(token.token.utf8.map { JSONValue(Int($0)) }),
                 "top_logprobs": .array(token.top.map { top in
                     ["token": .string(top.token), "logprob": .number(top.logprob),
                      "bytes": .array(top.token.utf8.map { JSONValue(Int($0)) })]
                 })]
            })]
        }
        return [
            "tokens": .array(tokens.map { .string($0.token) }),
            "token_logprobs": .array(tokens.map { Self.number($0.logprob) }),
            "top_logprobs": .array(tokens.map { token in
                token.logprob == nil && token.top.isEmpty
                    ? .null
                    : .object(Dictionary(token.top.map { ($0.token, JSONValue.number($0.logprob)) },
                                         uniquingKeysWith: { first, _ in first }))
            }),
            "text_offset": .array(offsets.map { JSONValue($0) }),
        ]
    }

    private static func number(_ value: Double?) -> JSONValue {
        value.map(JSONValue.number) ?? .null
    }
}
