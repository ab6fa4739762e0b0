import ChatTemplate
import Foundation
import HTTPServer
import ModelFormats
import Tokenizer

/// Text that arrives from clients or model files: JSON (every parser the server has), Jinja chat templates,
/// `tokenizer.json` files, and prompt text through real tokenizers.
enum TextTargets {
    /// Every JSON reader on the same bytes; what the HTTP layer accepts then goes through the chat and completions
    /// request parsers, which type-check each field by hand.
    static let json = FuzzTarget(
        name: "json", summary: "JSON text: the HTTP, safetensors and chat-template readers, then the request parsers",
        maxLength: 8 << 10
    ) { input in
        _ = try? JSONParser.parse(input, what: "fuzz input")
        _ = try? JinjaValue(jsonData: Data(input))
        guard let value = HTTPServer.JSONValue.parse(input) else { return }
        // What the server writes must read back as the same document.
        guard let again = HTTPServer.JSONValue.parse(Array(value.serialized.utf8)) else {
            FuzzFailure.report("json", "the serialized form does not parse: \(value.serialized.prefix(200))")
        }
        guard sameDocument(value, again) else {
            FuzzFailure.report("json", "the serialized form reads back differently: \(value.serialized.prefix(200))")
        }
        _ = try? RequestParser.chat(value, id: "chatcmpl-fuzz", priority: .normal)
        _ = try? RequestParser.completions(value, id: "cmpl-fuzz", priority: .normal)
        _ = try? EmbeddingRoutes.parse(value)
    }

    /// Equality that lets an integral number be written as an integer (the serializer does so).
    static func sameDocument(_ a: HTTPServer.JSONValue, _ b: HTTPServer.JSONValue) -> Bool {
        switch (a, b) {
        case let (.integer(x), .integer(y)): return x == y
        case let (.number(x), .number(y)): return x == y || (x.isNaN && y.isNaN)
        case let (.integer(x), .number(y)), let (.number(y), .integer(x)): return Double(x) == y
        case let (.number(x), .null): return !x.isFinite
        case let (.array(x), .array(y)): return x.count == y.count && zip(x, y).allSatisfy { sameDocument($0, $1) }
        case let (.object(x), .object(y)):
            return x.count == y.count && x.allSatisfy { key, value in y[key].map { sameDocument(value, $0) } ?? false }
        default: return a == b
        }
    }

    /// A conversation with every message kind the templates branch on.
    static let conversation: [JinjaValue] = {
        let json = """
            [{"role": "system", "content": "Be brief."},
             {"role": "user", "content": "What is 2+2? Also the weather in Paris."},
             {"role": "assistant", "content": "", "tool_calls": [{"id": "call_1", "type": "function",
               "function": {"name": "get_weather", "arguments": {"city": "Paris", "days": 2}}}]},
             {"role": "tool", "tool_call_id": "call_1", "content": "{\\"temp\\": 21.5}"},
             {"role": "assistant", "content": "<think>easy</think>4, and 21.5 C."},
             {"role": "user", "content": [{"type": "text", "text": "Thanks"}, {"type": "image"}]}]
            """
        guard case .array(let messages) = try! JinjaValue(jsonString: json) else { fatalError("fixture") }
        return messages
    }()

    static let tools: [JinjaValue] = {
        let json = """
            [{"type": "function", "function": {"name": "get_weather", "description": "Weather by city",
              "parameters": {"type": "object", "properties": {"city": {"type": "string"},
                "days": {"type": "integer", "minimum": 1}}, "required": ["city"]}}}]
            """
        guard case .array(let tools) = try! JinjaValue(jsonString: json) else { fatalError("fixture") }
        return tools
    }()

    /// Parts: the template source, then optionally the messages as JSON (read by the template engine's own JSON
    /// reader, as request messages are). Rendering runs with tools and extra variables set.
    static let jinja = FuzzTarget(
        name: "jinja", summary: "a chat template (Jinja) #~# optional messages JSON; parsed and rendered",
        maxLength: 16 << 10
    ) { input in
        let parts = InputParts.split(input, count: 2)
        guard let template = try? ChatTemplate(source: String(decoding: parts[0], as: UTF8.self)) else { return }
        var messages = conversation
        if !parts[1].isEmpty, case .array(let given)? = try? JinjaValue(jsonData: Data(parts[1])) { messages = given }
        let now = Date(timeIntervalSince1970: 1_760_000_000)
        for withTools in [false, true] {
            _ = try? template.renderChat(
                messages: messages, addGenerationPrompt: true, tools: withTools ? tools : nil,
                bosToken: "<s>", eosToken: "</s>",
                extra: ["enable_thinking": .bool(withTools), "date_string": "26 Jul 2024"], now: now)
        }
    }

    /// A `tokenizer.json` (with no tokenizer_config.json beside it), then text through whatever loaded.
    static let tokenizerJSON = FuzzTarget(
        name: "tokenizer-json", summary: "a tokenizer.json file; loaded, then used to encode and decode text",
        maxLength: 64 << 10
    ) { input in
        let folder = ScratchFolder.shared.reset("tokenizer")
        ScratchFolder.shared.write(input, to: folder + "/tokenizer.json")
        guard let tokenizer = try? Tokenizers.load(tokenizerJSON: folder + "/tokenizer.json") else { return }
        let ids = tokenizer.encode("Hello, <s> wörld 東京 🙂\n\n  x  yz123", addSpecial: true, parseSpecial: true)
        blackHole(tokenizer.decode(ids, skipSpecial: false))
        var streaming = StreamingDetokenizer(tokenizer: tokenizer)
        for id in ids + [-1, Int32.max, 0] { blackHole(streaming.append(id)) }
        blackHole(streaming.finish())
    }

    /// The committed test tokenizers: byte-level BPE (Llama 3 style, no normalizer) and SentencePiece-style BPE with
    /// byte fallback.
    static let tokenizers: (byteLevel: any TextTokenizer, sentencePiece: any TextTokenizer) = {
        do {
            return (try Tokenizers.load(tokenizerJSON: Fixtures.path("TokenizerTests/Fixtures/bpe-llama3.tokenizer.json")),
                    try Tokenizers.load(tokenizerJSON: Fixtures.path("TokenizerTests/Fixtures/spm.tokenizer.json")))
        } catch {
            fatalError("cannot load the test tokenizers: \(error)")
        }
    }()

    /// Prompt text (the first byte picks the tokenizer and whether special-token strings are parsed). Byte-level
    /// BPE is lossless, so its decoded text must equal the input; for both, streamed detokenization must equal the
    /// whole decode.
    static let tokenize = FuzzTarget(
        name: "tokenize", summary: "prompt text through the byte-level and SentencePiece BPE test tokenizers",
        maxLength: 4 << 10
    ) { input in
        guard let mode = input.first else { return }
        let text = String(decoding: input.dropFirst(), as: UTF8.self)
        let byteLevel = mode & 1 == 0
        let parseSpecial = mode & 2 != 0
        let tokenizer = byteLevel ? tokenizers.byteLevel : tokenizers.sentencePiece
        let ids = tokenizer.encode(text, addSpecial: false, parseSpecial: parseSpecial)
        let decoded = tokenizer.decode(ids, skipSpecial: false)
        if byteLevel, decoded != text {
            FuzzFailure.report("tokenize", "byte-level round trip changed \(text.debugDescription) into \(decoded.debugDescription)")
        }
        var streaming = StreamingDetokenizer(tokenizer: tokenizer)
        var streamed = ""
        for id in ids { streamed += streaming.append(id) }
        streamed += streaming.finish()
        if streamed != decoded {
            FuzzFailure.report("tokenize", "streamed \(streamed.debugDescription) but decoded \(decoded.debugDescription)")
        }
    }
}
