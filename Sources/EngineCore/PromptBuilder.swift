import ChatTemplate
import Foundation
import ModelFormats
import Tokenizer
import WorkerProtocol

/// Turns what a client sent (token ids, raw text, or chat messages) into the token ids a model continues, with the
/// model's own tokenizer and chat template: the one place both the worker and the `modelhost template`/`tokenize`
/// debugging commands get a prompt from, so what you debug is what is served.
public final class PromptBuilder: @unchecked Sendable {
    public let tokenizer: any TextTokenizer
    public let template: ChatTemplate
    /// True when the model ships no chat template and ChatML is used instead (a guess worth logging).
    public let usesFallbackTemplate: Bool

    public init(tokenizer: any TextTokenizer, templateSource: String?) throws(PromptError) {
        self.tokenizer = tokenizer
        do {
            if let templateSource {
                template = try ChatTemplate(source: templateSource)
                usesFallbackTemplate = false
            } else {
                template = ChatTemplate.fallbackChatML
                usesFallbackTemplate = true
            }
        } catch {
            throw PromptError("the model's chat template cannot be parsed: \(error)")
        }
    }

    /// The tokenizer and chat template stored in a GGUF file's metadata.
    public convenience init(gguf: GGUFFile) throws(PromptError) {
        let tokenizer: any TextTokenizer
        do {
            tokenizer = try Tokenizers.load(gguf: gguf)
        } catch {
            throw PromptError("the model's tokenizer cannot be loaded: \(error)")
        }
        try self.init(tokenizer: tokenizer, templateSource: gguf.metadata["tokenizer.chat_template"]?.stringValue)
    }

    /// The tokenizer and chat template of a Hugging Face model directory: `tokenizer.json`, and the template from
    /// `chat_template.jinja` or `tokenizer_config.json`'s `chat_template` (a string, or a list of named templates of
    /// which `default` is used). nil when the directory has no `tokenizer.json`.
    public convenience init?(directory: String) throws(PromptError) {
        let tokenizerPath = directory + "/tokenizer.json"
        guard FileManager.default.fileExists(atPath: tokenizerPath) else { return nil }
        let tokenizer: any TextTokenizer
        do {
            tokenizer = try Tokenizers.load(tokenizerJSON: tokenizerPath)
        } catch {
            throw PromptError("the model's tokenizer.json cannot be loaded: \(error)")
        }
        try self.init(tokenizer: tokenizer, templateSource: try Self.templateSource(directory: directory))
    }

    static func templateSource(directory: String) throws(PromptError) -> String? {
        if let text = try? String(contentsOfFile: directory + "/chat_template.jinja", encoding: .utf8) { return text }
        guard let data = (FileBytes.read(directory + "/tokenizer_config.json").map { Data($0) }) else { return nil }
        guard let config = (try? JSONSerialization.jsonObject(with: data)) as? [String: Any] else {
            throw PromptError("tokenizer_config.json is not a JSON object")
        }
        switch config["chat_template"] {
        case let text as String:
            return text
        case let named as [[String: Any]]:
            let pick = named.first { $0["name"] as? String == "default" } ?? named.first
            return pick?["template"] as? String
        default:
            return nil
        }
    }

    /// Renders `messages` (a JSON array of `{"role", "content", ...}` objects) with the generation prompt appended,
    /// as `apply_chat_template(messages, add_generation_prompt=True)` does.
    public func render(messagesJSON: String, addGenerationPrompt: Bool = true,
                       tools: [JinjaValue]? = nil) throws(PromptError) -> String {
        let parsed: JinjaValue
        do {
            parsed = try JinjaValue(jsonString: messagesJSON)
        } catch {
            throw PromptError("the messages are not valid JSON: \(error)")
        }
        guard case .array(let messages) = parsed else { throw PromptError("the messages must be a JSON array") }
        return try render(messages: messages, addGenerationPrompt: addGenerationPrompt, tools: tools)
    }

    public func render(messages: [JinjaValue], addGenerationPrompt: Bool,
                       tools: [JinjaValue]?, extra: [String: JinjaValue] = [:]) throws(PromptError) -> String {
        do {
            return try template.renderChat(
                messages: messages, addGenerationPrompt: addGenerationPrompt, tools: tools,
                bosToken: tokenizer.bosToken.flatMap { tokenizer.tokenText($0) } ?? "",
                eosToken: tokenizer.eosToken.flatMap { tokenizer.tokenText($0) } ?? "", extra: extra)
        } catch {
            // Templates reject conversations they cannot express (raise_exception: "roles must alternate").
            throw PromptError("the model's chat template rejected the conversation: \(error)")
        }
    }

    /// The prompt's token ids. Text (and a rendered chat, which carries the template's special-token strings) is
    /// tokenized with special tokens recognised; the model's BOS is added when its tokenizer asks for one, once.
    public func tokens(for input: PromptInput) throws(PromptError) -> [Int32] {
        switch input {
        case .tokens(let ids):
            return ids
        case .text(let text):
            return encode(text)
        case .chat(let messagesJSON):
            return encode(try render(messagesJSON: messagesJSON))
        }
    }

    /// A chat prompt's text: the messages rendered with the generation prompt, the tools as the tool-call format
    /// needs them, and the template variables a request adds (`chat_template_kwargs`, a JSON object).
    public func chatText(messagesJSON: String, tools: ToolCalling?, templateArgumentsJSON: String)
        throws(PromptError) -> String
    {
        var extra: [String: JinjaValue] = [:]
        if !templateArgumentsJSON.isEmpty {
            guard case .object(let arguments)? = try? JinjaValue(jsonString: templateArgumentsJSON) else {
                throw PromptError("chat_template_kwargs must be a JSON object")
            }
            for (key, value) in arguments { extra[key] = value }
        }
        let parsed: JinjaValue
        do {
            parsed = try JinjaValue(jsonString: messagesJSON)
        } catch {
            throw PromptError("the messages are not valid JSON: \(error)")
        }
        guard case .array(var messages) = parsed else { throw PromptError("the messages must be a JSON array") }
        var toolValues: [JinjaValue]?
        if let tools {
            let prepared = try tools.prepare(messages: messages)
            messages = prepared.messages
            toolValues = prepared.tools.isEmpty ? nil : prepared.tools
        }
        return try render(messages: messages, addGenerationPrompt: true, tools: toolValues, extra: extra)
    }

    /// Where this model writes its thoughts, if it is a reasoning model.
    public var reasoningMarkers: ReasoningMarkers? {
        usesFallbackTemplate ? nil : ReasoningMarkers(templateSource: template.source)
    }

    /// The tool calling of a request, with this model's template.
    public func toolCalling(_ request: ToolRequest) -> ToolCalling {
        ToolCalling(request, templateSource: usesFallbackTemplate ? nil : template.source)
    }

    /// Text as prompt tokens: special-token strings recognised, the model's BOS added once where it asks for one.
    public func encode(_ text: String) -> [Int32] {
        var ids = tokenizer.encode(text, addSpecial: true, parseSpecial: true)
        // A template that writes `{{ bos_token }}` itself plus a tokenizer that adds BOS gives two; the model was
        // trained on one (llama.cpp warns about the same thing).
        if let bos = tokenizer.bosToken, ids.count >= 2, ids[0] == bos, ids[1] == bos { ids.removeFirst() }
        return ids
    }
}

/// Why a prompt could not be built: one line for the client (a 400).
public struct PromptError: Error, CustomStringConvertible, Equatable, Sendable {
    public let message: String
    public init(_ message: String) { self.message = message }
    public var description: String { message }
}
