import Foundation
import ModelFormats

/// Reads Hugging Face `tokenizer.json` files whose model is BPE: byte-level (GPT-2, Llama 3, Qwen 2, SmolLM) or
/// SentencePiece-style with byte fallback (Llama 2, Mistral, Gemma); or WordPiece (BERT and the embedding models
/// built on it, read by `WordPieceJSONLoader`). Components outside that set are refused with their name rather
/// than approximated.
enum TokenizerJSONLoader {
    static func load(path: String) throws -> any TextTokenizer {
        let root = try readJSON(path, what: "tokenizer.json")
        let configPath = URL(fileURLWithPath: path).deletingLastPathComponent()
            .appendingPathComponent("tokenizer_config.json").path
        let config = FileManager.default.fileExists(atPath: configPath)
            ? try readJSON(configPath, what: "tokenizer_config.json") : nil
        return try load(root: root, config: config)
    }

    private static func readJSON(_ path: String, what: String) throws -> JSONValue {
        // Gemma's tokenizer.json is 33 MB; nothing real comes near this bound.
        guard let bytes = FileBytes.read(path, maxBytes: 512 << 20) else {
            throw TokenizerError("\(what): cannot read '\(path)' (missing, not a regular file, or over 512 MiB)")
        }
        do {
            return try JSONValue.parse(bytes)
        } catch let error as TokenizerError {
            throw TokenizerError("\(what) '\(path)': \(error.message)")
        }
    }

    static func load(root: JSONValue, config: JSONValue?) throws -> any TextTokenizer {
        guard let model = root["model"], model.members != nil else {
            throw TokenizerError("tokenizer.json: no \"model\" object")
        }
        let modelType = model["type"]?.string ?? "BPE"
        if modelType == "WordPiece" {
            return try WordPieceJSONLoader.load(root: root, model: model, config: config)
        }
        guard modelType == "BPE" else {
            throw TokenizerError(
                "tokenizer.json: model type '\(modelType)' is not supported (supported: BPE, WordPiece)")
        }
        for key in ["continuing_subword_prefix", "end_of_word_suffix"] {
            if let value = model[key]?.string, !value.isEmpty {
                throw TokenizerError("tokenizer.json: BPE \(key) '\(value)' is not supported")
            }
        }
        guard let vocab = model["vocab"]?.members else {
            throw TokenizerError("tokenizer.json: model.vocab is missing or not an object")
        }

        // Vocabulary and added tokens share one id space; added tokens may extend it.
        var tokenForID: [Int: String] = [:]
        tokenForID.reserveCapacity(vocab.count)
        for (token, value) in vocab {
            guard let id = value.int, id >= 0, id < Int(Int32.max) else {
                throw TokenizerError("tokenizer.json: vocab entry '\(token)' has no non-negative integer id")
            }
            tokenForID[id] = token
        }
        var addedEntries: [(text: String, entry: SpecialTokenMatcher.Entry, special: Bool)] = []
        for entry in root["added_tokens"]?.array ?? [] {
            guard let id = entry["id"]?.int, id >= 0, id < Int(Int32.max), let content = entry["content"]?.string else {
                throw TokenizerError("tokenizer.json: an added_tokens entry lacks an id or content")
            }
            tokenForID[id] = content
            addedEntries.append(
                (content,
                 .init(id: Int32(id), stripLeft: entry["lstrip"]?.bool ?? false, stripRight: entry["rstrip"]?.bool ?? false),
                 entry["special"]?.bool ?? false))
        }
        let size = (tokenForID.keys.max() ?? -1) + 1
        guard size > 0 else { throw TokenizerError("tokenizer.json: the vocabulary is empty") }
        guard size <= tokenForID.count * 2 + 1024 else {
            throw TokenizerError("tokenizer.json: token ids reach \(size - 1) but only \(tokenForID.count) are defined")
        }
        // Ids no entry names (holes) stay empty strings, which no text can produce.
        var tokens = [String](repeating: "", count: size)
        for (id, token) in tokenForID { tokens[id] = token }
        var ids: [ExactString: Int32] = [:]
        ids.reserveCapacity(size)
        for (index, token) in tokens.enumerated() where !token.isEmpty && ids[ExactString(token)] == nil {
            ids[ExactString(token)] = Int32(index)
        }
        func id(_ text: String) -> Int32? { ids[ExactString(text)] }

        let byteFallback = model["byte_fallback"]?.bool ?? false
        var types = [TokenType](repeating: .normal, count: size)
        if byteFallback {
            for (index, token) in tokens.enumerated() where BPETokenizer.parseByteToken(token) != nil {
                types[index] = .byte
            }
        }
        for added in addedEntries { types[Int(added.entry.id)] = added.special ? .control : .userDefined }
        let unknown = model["unk_token"]?.string.flatMap(id)
        if let unknown { types[Int(unknown)] = .unknown }

        let (style, normalizeNFC) = try self.style(root: root, model: model, byteFallback: byteFallback)
        var merges = MergeTable()
        for (rank, item) in (model["merges"]?.array ?? []).enumerated() {
            var pair: (String, String)?
            if let text = item.string {
                pair = GGUFTokenizerLoader.splitMerge(text)
            } else if let parts = item.array, parts.count == 2, let a = parts[0].string, let b = parts[1].string {
                pair = (a, b)
            }
            guard let (left, right) = pair else {
                throw TokenizerError("tokenizer.json: merge #\(rank) is neither \"a b\" nor [\"a\", \"b\"]")
            }
            if let l = id(left), let r = id(right), let m = id(left + right) {
                merges.add(left: l, right: r, merged: m, priority: Int32(rank))
            }
        }

        var (bos, eos, addBOS, addEOS) = specialsFromPostProcessor(root["post_processor"], id: id)
        if let config {
            if let text = tokenText(config["bos_token"]), let found = id(text) { bos = found }
            if let text = tokenText(config["eos_token"]), let found = id(text) { eos = found }
            if let flag = config["add_bos_token"]?.bool { addBOS = flag && bos != nil }
            if let flag = config["add_eos_token"]?.bool { addEOS = flag && eos != nil }
        }
        if eos == nil {
            eos = ["</s>", "<|endoftext|>", "<|end_of_text|>", "<eos>"].lazy.compactMap(id).first
        }
        var endOfTurn = Set<Int32>()
        if let eos { endOfTurn.insert(eos) }
        for added in addedEntries where GGUFTokenizerLoader.endOfTurnSpellings.contains(added.text) {
            endOfTurn.insert(added.entry.id)
        }

        return BPETokenizer(
            TokenizerDefinition(
                tokens: tokens, types: types, merges: merges, style: style,
                specialStrings: addedEntries.map { ($0.text, $0.entry) }, bos: bos, eos: eos, unknown: unknown,
                addBOS: addBOS, addEOS: addEOS, endOfTurn: endOfTurn, normalizeNFC: normalizeNFC))
    }

    // MARK: Components

    /// A component and, for `Sequence`, its flattened children.
    static func components(_ value: JSONValue?, key: String) -> [JSONValue] {
        guard let value, value.members != nil else { return [] }
        if value["type"]?.string == "Sequence" {
            return (value[key]?.array ?? []).flatMap { components($0, key: key) }
        }
        return [value]
    }

    /// The tokenizer style and whether segments are NFC-normalised first.
    private static func style(root: JSONValue, model: JSONValue, byteFallback: Bool) throws
        -> (TokenizerStyle, Bool)
    {
        var normalizers = components(root["normalizer"], key: "normalizers")
        let normalizeNFC = normalizers.contains { $0["type"]?.string == "NFC" }
        normalizers.removeAll { $0["type"]?.string == "NFC" }
        let preTokenizers = components(root["pre_tokenizer"], key: "pretokenizers")
        let decoders = components(root["decoder"], key: "decoders")
        let ignoreMerges = model["ignore_merges"]?.bool ?? false
        func typeName(_ component: JSONValue) -> String { component["type"]?.string ?? "?" }

        if preTokenizers.contains(where: { typeName($0) == "ByteLevel" }) {
            if let normalizer = normalizers.first {
                throw TokenizerError("tokenizer.json: normalizer '\(typeName(normalizer))' is not supported with ByteLevel")
            }
            var kind: PreTokenizer?
            var digits = false
            for component in preTokenizers {
                switch typeName(component) {
                case "ByteLevel":
                    if component["add_prefix_space"]?.bool == true {
                        throw TokenizerError("tokenizer.json: ByteLevel add_prefix_space is not supported")
                    }
                    if component["use_regex"]?.bool ?? true {
                        guard kind == nil else { throw TokenizerError("tokenizer.json: two pre-tokenizer regexes") }
                        kind = digits ? .smollm : .gpt2
                    }
                case "Digits":
                    guard component["individual_digits"]?.bool == true else {
                        throw TokenizerError("tokenizer.json: Digits without individual_digits is not supported")
                    }
                    digits = true
                case "Split":
                    let pattern = component["pattern"]?["Regex"]?.string ?? ""
                    guard let known = knownPatterns[ExactString(pattern)], component["invert"]?.bool != true,
                        (component["behavior"]?.string ?? "Isolated") == "Isolated", kind == nil
                    else {
                        throw TokenizerError(
                            "tokenizer.json: Split pre-tokenizer regex '\(pattern.prefix(80))' is not one of the "
                                + "supported ones (GPT-2, Llama 3, Qwen 2)")
                    }
                    kind = known
                default:
                    throw TokenizerError("tokenizer.json: pre-tokenizer '\(typeName(component))' is not supported")
                }
            }
            guard let kind else {
                throw TokenizerError("tokenizer.json: ByteLevel without a regex split is not supported")
            }
            return (.byteLevel(kind, ignoreMerges: ignoreMerges), normalizeNFC)
        }

        // SentencePiece style: `▁` for spaces via a Replace normalizer or a Metaspace pre-tokenizer.
        var options = SentencePieceOptions()
        options.byteFallback = byteFallback
        options.fuseUnknown = model["fuse_unk"]?.bool ?? false
        options.prefix = .never
        var replacesSpaces = false
        for normalizer in normalizers {
            if typeName(normalizer) == "Prepend", normalizer["prepend"]?.string == "▁" {
                options.prefix = .everySegment
            } else if typeName(normalizer) == "Replace", normalizer["pattern"]?["String"]?.string == " ",
                normalizer["content"]?.string == "▁"
            {
                replacesSpaces = true
            } else {
                throw TokenizerError("tokenizer.json: normalizer '\(typeName(normalizer))' is not supported")
            }
        }
        for component in preTokenizers {
            // Gemma: a Split on " " after the normalizer has replaced every space with ▁ never splits anything.
            if typeName(component) == "Split", component["pattern"]?["String"]?.string == " ", replacesSpaces {
                continue
            }
            guard typeName(component) == "Metaspace", (component["replacement"]?.string ?? "▁") == "▁" else {
                throw TokenizerError("tokenizer.json: pre-tokenizer '\(typeName(component))' is not supported")
            }
            replacesSpaces = true
            options.splitWords = component["split"]?.bool ?? true
            let scheme = component["prepend_scheme"]?.string
                ?? ((component["add_prefix_space"]?.bool ?? true) ? "always" : "never")
            switch scheme {
            case "always": options.prefix = .everySegment
            case "first": options.prefix = .firstSegment
            default: options.prefix = .never
            }
        }
        guard replacesSpaces else {
            throw TokenizerError(
                "tokenizer.json: neither a byte-level nor a SentencePiece (▁) tokenizer; this layout is not supported")
        }
        options.stripLeadingSpace = decoders.contains { decoder in
            switch typeName(decoder) {
            case "Strip": return decoder["content"]?.string == " " && (decoder["start"]?.int ?? 0) >= 1
            case "Metaspace": return (decoder["prepend_scheme"]?.string ?? "always") != "never"
            default: return false
            }
        }
        return (.sentencePiece(options), normalizeNFC)
    }

    private static let knownPatterns: [ExactString: PreTokenizer] = [
        ExactString(#"'s|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+"#): .gpt2,
        ExactString(
            #"(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,3}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+"#):
            .llama3,
        ExactString(
            #"(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+"#):
            .qwen2,
    ]

    /// BOS/EOS from a TemplateProcessing post-processor's single-sequence template.
    private static func specialsFromPostProcessor(_ value: JSONValue?, id: (String) -> Int32?)
        -> (bos: Int32?, eos: Int32?, addBOS: Bool, addEOS: Bool)
    {
        var result: (bos: Int32?, eos: Int32?, addBOS: Bool, addEOS: Bool) = (nil, nil, false, false)
        for processor in components(value, key: "processors") where processor["type"]?.string == "TemplateProcessing" {
            guard let single = processor["single"]?.array else { continue }
            let sequenceIndex = single.firstIndex { $0["Sequence"] != nil } ?? single.count
            for (index, item) in single.enumerated() {
                guard let name = item["SpecialToken"]?["id"]?.string, let found = id(name) else { continue }
                if index < sequenceIndex {
                    result.bos = found
                    result.addBOS = true
                } else {
                    result.eos = found
                    result.addEOS = true
                }
            }
        }
        return result
    }

    /// A tokenizer_config.json token field: a string or an AddedToken object with "content".
    private static func tokenText(_ value: JSONValue?) -> String? {
        value?.string ?? value?["content"]?.string
    }
}
