import Foundation

/// A model's chat template (the Jinja text in GGUF `tokenizer.chat_template` or `tokenizer_config.json`), parsed
/// once and rendered for every request.
///
/// Rendering matches Python `jinja2` as Hugging Face `transformers` configures it for `apply_chat_template`
/// (`trim_blocks`, `lstrip_blocks`, loop controls, `raise_exception`, `strftime_now`, its own `tojson`), byte for
/// byte, because the prompt a model sees must be the one it was trained on.
public struct ChatTemplate: Sendable {
    /// The template text as given.
    public let source: String
    private let nodes: [Node]

    /// Parses `source`. Throws a `TemplateError` naming the line and construct for invalid or unsupported syntax.
    public init(source: String) throws(TemplateError) {
        self.source = source
        var lexer = Lexer(source: source)
        var parser = Parser(tokens: try lexer.tokenize())
        nodes = try parser.parseTemplate()
    }

    /// Renders with the given variables. `now` is what `strftime_now()` formats (Llama 3.x prints today's date).
    public func render(context: [String: JinjaValue], now: Date = Date()) throws(TemplateError) -> String {
        try Interpreter(now: now).run(nodes, context: context)
    }

    /// Renders a chat the way `tokenizer.apply_chat_template(messages, tools=..., add_generation_prompt=...)`
    /// does: `messages`, `tools` (`none` when absent, as Hugging Face passes it), `documents` (`none`),
    /// `add_generation_prompt`, `bos_token`, `eos_token`, then `extra` (e.g. `date_string`, `enable_thinking`),
    /// which may override any of them.
    public func renderChat(messages: [JinjaValue], addGenerationPrompt: Bool, tools: [JinjaValue]?,
                           bosToken: String, eosToken: String, extra: [String: JinjaValue] = [:],
                           now: Date = Date()) throws(TemplateError) -> String
    {
        var context: [String: JinjaValue] = [
            "messages": .array(messages),
            "tools": tools.map { .array($0) } ?? .none,
            "documents": .none,
            "add_generation_prompt": .bool(addGenerationPrompt),
            "bos_token": .string(bosToken),
            "eos_token": .string(eosToken),
        ]
        for (key, value) in extra { context[key] = value }
        return try render(context: context, now: now)
    }

    /// The template to use for a model that ships none: ChatML (`<|im_start|>role\ncontent<|im_end|>\n`), the
    /// format of Hugging Face's former default chat template and the one llama.cpp falls back to. It is a guess:
    /// a model trained on another format will see an unfamiliar prompt, so the server should log that it used it.
    public static let fallbackChatMLSource = """
        {%- for message in messages -%}
        {{- '<|im_start|>' + message['role'] + '\\n' + message['content'] + '<|im_end|>\\n' -}}
        {%- endfor -%}
        {%- if add_generation_prompt -%}
        {{- '<|im_start|>assistant\\n' -}}
        {%- endif -%}
        """

    /// `fallbackChatMLSource`, parsed.
    public static let fallbackChatML: ChatTemplate = {
        do {
            return try ChatTemplate(source: fallbackChatMLSource)
        } catch {
            // The source is a constant checked by the unit tests; failing here is a programming error.
            preconditionFailure("built-in ChatML template does not parse: \(error)")
        }
    }()
}
