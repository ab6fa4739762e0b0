import ChatTemplate
import StructuredOutput
import Tokenizer
import WorkerProtocol

/// The tool-call syntax a model writes, as its chat template teaches it. Read from the template's text, so no
/// operator flag is needed: a template that shows `<tool_call>` blocks trained its model to write them.
public enum ToolCallFormat: String, Sendable, CaseIterable {
    /// Hermes, Qwen2.5, Qwen3: `<tool_call>\n{"name": ..., "arguments": ...}\n</tool_call>`, one block per call.
    case hermes
    /// Llama 3.1/3.2: the answer is one `{"name": ..., "parameters": ...}` object (after `<|python_tag|>` or not).
    case llama3
    /// Mistral: `[TOOL_CALLS]` then a JSON array of `{"name": ..., "arguments": ...}`.
    case mistral
    /// A template with no tool syntax: the server describes the tools in a system message and the whole answer is
    /// JSON, `{"tool_calls": [...]}` or `{"response": "..."}` (llama.cpp's generic format).
    case generic

    public init(templateSource: String?) {
        guard let source = templateSource else {
            self = .generic
            return
        }
        if source.contains("<tool_call>") {
            self = .hermes
        } else if source.contains("[TOOL_CALLS]") {
            self = .mistral
        } else if source.contains("<|python_tag|>")
            || (source.contains("\"parameters\"") && source.contains("<|start_header_id|>"))
        {
            self = .llama3
        } else {
            self = .generic
        }
    }
}

/// One request's tools in the worker: the messages and tools the template renders, the grammar that holds each
/// call to its tool's schema, and the parser that takes the calls out of the output.
public struct ToolCalling: Sendable {
    public let format: ToolCallFormat
    public let request: ToolRequest
    /// Parallel calls per answer at most, when `parallel_tool_calls` allows several.
    public static let maxParallelCalls = 16

    public init(_ request: ToolRequest, templateSource: String?) {
        self.request = request
        format = ToolCallFormat(templateSource: templateSource)
    }

    /// The functions a call may name: all of them, or the one `tool_choice` names.
    var callable: [ToolRequest.Function] {
        if case .function(let name) = request.choice { return request.functions.filter { $0.name == name } }
        return request.functions
    }

    // MARK: Prompt

    /// The conversation and tools as the template takes them. A template with its own tool syntax gets them as
    /// they are; for the generic format the tools are described in the system message and earlier calls and their
    /// results are written as the JSON the model is asked to produce.
    public func prepare(messages: [JinjaValue]) throws(PromptError) -> (messages: [JinjaValue], tools: [JinjaValue]) {
        let parsed: JinjaValue
        do {
            parsed = try JinjaValue(jsonString: request.toolsJSON)
        } catch {
            throw PromptError("the tools are not valid JSON: \(error)")
        }
        guard case .array(let tools) = parsed else { throw PromptError("tools must be a JSON array") }
        guard format == .generic else { return (messages, tools) }
        var out: [JinjaValue] = []
        for message in messages {
            guard case .object(var fields) = message else {
                out.append(message)
                continue
            }
            let role = fields["role"].flatMap { if case .string(let r) = $0 { r } else { nil } } ?? ""
            if role == "assistant", case .array(let calls)? = fields["tool_calls"], !calls.isEmpty {
                var rendered: [String] = []
                for call in calls {
                    let function = call.member("function") ?? call
                    let name = function.member("name") ?? .string("")
                    let arguments = function.member("arguments") ?? .object(OrderedDict())
                    rendered.append(#"{"name": "# + (try json(name)) + #", "arguments": "# + (try json(arguments)) + "}")
                }
                fields["content"] = .string(#"{"tool_calls": ["# + rendered.joined(separator: ", ") + "]}")
                fields["tool_calls"] = nil
            } else if role == "tool" {
                let id = fields["tool_call_id"] ?? .string("")
                let content = fields["content"] ?? .string("")
                fields = OrderedDict([("role", .string("user")),
                                      ("content", .string(#"{"tool_response": {"tool_call_id": "# + (try json(id))
                                          + #", "content": "# + (try json(content)) + "}}"))])
            }
            out.append(.object(fields))
        }
        let instructions = genericInstructions()
        if case .object(var first)? = out.first, first["role"] == .string("system"),
           case .string(let text)? = first["content"] {
            first["content"] = .string(text + "\n\n" + instructions)
            out[0] = .object(first)
        } else {
            out.insert(.object(OrderedDict([("role", .string("system")), ("content", .string(instructions))])), at: 0)
        }
        return (out, [])
    }

    private func genericInstructions() -> String {
        var text = "You can call these tools (JSON Schema for each one's arguments):\n" + request.toolsJSON + "\n\n"
        switch request.choice {
        case .auto:
            text += #"Answer with JSON only. To call tools: {"tool_calls": [{"name": <tool name>, "arguments": "#
                + #"<arguments object>}]}. To answer the user directly: {"response": <your answer>}."#
        case .required, .function:
            text += #"Answer with JSON only, calling tools: {"tool_calls": [{"name": <tool name>, "arguments": "#
                + #"<arguments object>}]}."#
        }
        return text
    }

    /// A value as JSON text, the way the template's `tojson` writes it.
    private func json(_ value: JinjaValue) throws(PromptError) -> String {
        do {
            return try Self.jsonTemplate.render(context: ["value": value])
        } catch {
            throw PromptError("a tool call cannot be written as JSON: \(error)")
        }
    }

    private static let jsonTemplate: ChatTemplate = {
        // A constant template: it always parses.
        (try? ChatTemplate(source: "{{ value | tojson }}")) ?? ChatTemplate.fallbackChatML
    }()

    // MARK: Grammar

    /// The constraint that holds calls to their tools' schemas: lazily from the format's trigger under `auto`, from
    /// the first token under `required` or a named function. A reasoning model may think first (`reasoning`: its
    /// markers, and whether the prompt opened the thought): no call starts inside a thought, and a required one is
    /// due after it. Also returns the text of special trigger tokens, which the output's text leaves out but the
    /// parser needs to see.
    public func constraint(vocabulary: ConstraintVocabulary, tokenizer: any TextTokenizer,
                           reasoning: (markers: ReasoningMarkers, startsInside: Bool)? = nil)
        throws(PromptError) -> (constraint: JSONConstraint, triggerTokens: [Int32: String])
    {
        let required = request.choice != .auto
        let parallel = request.parallel ? Self.maxParallelCalls : 1
        var triggerTokens: [Int32: String] = [:]
        func trigger(_ text: String) -> ConstraintTrigger {
            let ids = tokenizer.encode(text, addSpecial: false, parseSpecial: true)
            if ids.count == 1, tokenizer.isSpecial(ids[0]) {
                triggerTokens[ids[0]] = text
                return ConstraintTrigger(token: ids[0])
            }
            return ConstraintTrigger(text: text)
        }
        let schema: String
        // Clients send tool schemas they did not write: what the grammar cannot enforce is dropped (the HTTP layer
        // reports it in a header), not refused.
        var options = ConstraintOptions(declaredPropertyOrder: true, ignoreUnenforceable: true)
        var triggers: [ConstraintTrigger] = []
        switch format {
        case .hermes:
            schema = anyCall(argumentsKey: "arguments")
            options.framing = ValueFraming(prefix: "\n", suffix: "\n</tool_call>", separator: "\n<tool_call>\n",
                                           maxValues: parallel)
            triggers = [trigger("<tool_call>")]
        case .mistral:
            schema = #"{"type":"array","items":"# + anyCall(argumentsKey: "arguments") + #","minItems":1,"maxItems":"#
                + String(parallel) + "}"
            triggers = [trigger("[TOOL_CALLS]")]
        case .llama3:
            schema = anyCall(argumentsKey: "parameters")
            triggers = [ConstraintTrigger(text: "{", isPartOfValue: true, anchored: true)]
            let tag = trigger("<|python_tag|>")
            if case .token = tag.kind { triggers.append(tag) }
        case .generic:
            let calls = #"{"type":"object","properties":{"tool_calls":{"type":"array","items":"#
                + anyCall(argumentsKey: "arguments") + #","minItems":1,"maxItems":"# + String(parallel)
                + #"}},"required":["tool_calls"]}"#
            schema = required ? calls
                : #"{"anyOf":["# + calls + #",{"type":"object","properties":{"response":{"type":"string"}},"#
                    + #""required":["response"]}]}"#
        }
        do {
            let constraint = triggers.isEmpty
                ? try JSONConstraint(schemaJSON: schema, vocabulary: vocabulary, options: options)
                : try JSONConstraint(schemaJSON: schema, vocabulary: vocabulary, options: options,
                                     trigger: TriggerPolicy(triggers: triggers, required: required, quiet: reasoning.map {
                                         QuietRegion(open: $0.markers.open, close: $0.markers.close,
                                                     startsInside: $0.startsInside)
                                     }))
            return (constraint, triggerTokens)
        } catch {
            throw PromptError("tools: \(error.message)\(culprit(vocabulary))")
        }
    }

    /// Which tool's schema a compile error comes from, when one alone fails (a 400 should name it).
    private func culprit(_ vocabulary: ConstraintVocabulary) -> String {
        for (index, function) in request.functions.enumerated() {
            do {
                _ = try JSONConstraint(schemaJSON: function.parametersJSON, vocabulary: vocabulary,
                                       options: ConstraintOptions(ignoreUnenforceable: true))
            } catch {
                return " (in tools[\(index)].function.parameters, '\(function.name)')"
            }
        }
        return ""
    }

    /// `{"name": <const>, "<argumentsKey>": <schema>}` for each callable function, as one `anyOf`.
    private func anyCall(argumentsKey: String) -> String {
        let calls = callable.map { f in
            #"{"type":"object","properties":{"name":{"const":"# + Self.quoted(f.name) + #"},"# + Self.quoted(argumentsKey)
                + ":" + f.parametersJSON + #"},"required":["name","# + Self.quoted(argumentsKey) + "]}"
        }
        return calls.count == 1 ? calls[0] : #"{"anyOf":["# + calls.joined(separator: ",") + "]}"
    }

    private static func quoted(_ s: String) -> String {
        var out = "\""
        for scalar in s.unicodeScalars {
            switch scalar {
            case "\"": out += "\\\""
            case "\\": out += "\\\\"
            case _ where scalar.value < 0x20:
                let hex = String(scalar.value, radix: 16)
                out += "\\u" + String(repeating: "0", count: 4 - hex.count) + hex
            default: out.unicodeScalars.append(scalar)
            }
        }
        return out + "\""
    }

    // MARK: Output

    /// A parser for this format, with call ids as OpenAI writes them (Mistral's templates insist on 9 letters and
    /// digits).
    public func parser() -> ToolCallParser {
        let format = self.format
        return ToolCallParser(format: format) {
            let alphabet = Array("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789")
            var generator = SystemRandomNumberGenerator()
            let length = format == .mistral ? 9 : 24
            let random = String((0..<length).map { _ in alphabet[Int(generator.next() % UInt64(alphabet.count))] })
            return format == .mistral ? random : "call_" + random
        }
    }
}

extension JinjaValue {
    /// An object's member, nil for anything else.
    fileprivate func member(_ key: String) -> JinjaValue? {
        guard case .object(let fields) = self else { return nil }
        return fields[key]
    }
}
