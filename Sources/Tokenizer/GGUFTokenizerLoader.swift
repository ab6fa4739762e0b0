import ModelFormats

/// Builds a tokenizer from a GGUF file's `tokenizer.ggml.*` metadata, following llama.cpp's rules for which
/// tokens are special, when BOS/EOS are added and which tokens end a turn. BERT vocabularies
/// (`tokenizer.ggml.model = bert`) are read by `wordPiece(_:tokens:types:)`.
enum GGUFTokenizerLoader {
    /// Control-token spellings that end a turn in the chat formats llama.cpp recognises.
    static let endOfTurnSpellings: Set<String> = [
        "<|eot_id|>", "<|im_end|>", "<|end|>", "<end_of_turn>", "<|endoftext|>", "<|eom_id|>", "<EOT>", "_<EOT>",
        "<|end_of_text|>", "</s>", "<|return|>", "<|call|>",
    ]

    static func load(_ file: GGUFFile) throws -> any TextTokenizer {
        let metadata = file.metadata
        guard let model = metadata["tokenizer.ggml.model"]?.stringValue else {
            throw TokenizerError("GGUF: '\(file.file.path)' has no tokenizer.ggml.model; it carries no tokenizer")
        }
        let tokens = try stringArray(metadata, "tokenizer.ggml.tokens", required: true)!
        guard !tokens.isEmpty, tokens.count <= Int(Int32.max) else {
            throw TokenizerError("GGUF: tokenizer.ggml.tokens has \(tokens.count) entries; a vocabulary needs 1 to 2^31")
        }
        let types = try tokenTypes(metadata, count: tokens.count)
        if model == "bert" { return try wordPiece(metadata, tokens: tokens, types: types) }
        var ids: [ExactString: Int32] = [:]
        ids.reserveCapacity(tokens.count)
        for (index, token) in tokens.enumerated() where ids[ExactString(token)] == nil {
            ids[ExactString(token)] = Int32(index)
        }

        let style: TokenizerStyle
        var merges = MergeTable()
        switch model {
        case "gpt2":
            guard let preName = metadata["tokenizer.ggml.pre"]?.stringValue else {
                throw TokenizerError(
                    "GGUF: the byte-level tokenizer has no tokenizer.ggml.pre; re-convert the model with a current "
                        + "llama.cpp so that its pre-tokenizer is named")
            }
            guard let pre = PreTokenizer(ggmlName: preName) else {
                throw TokenizerError(
                    "GGUF: pre-tokenizer '\(preName)' (tokenizer.ggml.pre) is not supported; supported: gpt-2, smollm, "
                        + "llama-bpe, qwen2 and the names llama.cpp groups with them")
            }
            style = .byteLevel(pre, ignoreMerges: pre == .llama3)
            let mergeStrings = try stringArray(metadata, "tokenizer.ggml.merges", required: true)!
            for (rank, merge) in mergeStrings.enumerated() {
                guard let (left, right) = splitMerge(merge) else {
                    throw TokenizerError("GGUF: merge #\(rank) '\(merge)' is not two tokens separated by a space")
                }
                if let l = ids[ExactString(left)], let r = ids[ExactString(right)], let m = ids[ExactString(left + right)] {
                    merges.add(left: l, right: r, merged: m, priority: Int32(rank))
                }
            }
        case "llama":
            let addSpacePrefix = metadata["tokenizer.ggml.add_space_prefix"]?.boolValue ?? true
            style = .sentencePiece(
                SentencePieceOptions(
                    prefix: addSpacePrefix ? .everySegment : .never, splitWords: false, byteFallback: true,
                    fuseUnknown: false, stripLeadingSpace: addSpacePrefix))
            let scores = try floatArray(metadata, "tokenizer.ggml.scores", count: tokens.count)
            merges = sentencePieceMerges(tokens: tokens, types: types, scores: scores, ids: ids)
        default:
            throw TokenizerError(
                "GGUF: tokenizer model '\(model)' (tokenizer.ggml.model) is not supported; supported: gpt2 (byte-level "
                    + "BPE), llama (SentencePiece) and bert (WordPiece)")
        }

        func tokenID(_ key: String, default fallback: Int32? = nil) throws -> Int32? {
            guard let value = metadata[key] else { return fallback }
            guard let id = value.intValue, id >= 0, id < tokens.count else {
                // llama.cpp stores "no token" as -1 (as uint32 0xFFFFFFFF) in some conversions.
                if let id = value.intValue, id == -1 || id == Int(UInt32.max) { return nil }
                throw TokenizerError("GGUF: \(key) = \(value) is not a token id below \(tokens.count)")
            }
            return Int32(id)
        }
        let isSentencePiece: Bool
        if case .sentencePiece = style { isSentencePiece = true } else { isSentencePiece = false }
        let bos = try tokenID("tokenizer.ggml.bos_token_id", default: isSentencePiece && tokens.count > 1 ? 1 : nil)
        let eos = try tokenID("tokenizer.ggml.eos_token_id", default: isSentencePiece && tokens.count > 2 ? 2 : nil)
        let unknown = try tokenID("tokenizer.ggml.unknown_token_id", default: isSentencePiece ? 0 : nil)
        // llama.cpp's defaults when the file does not say: SentencePiece and Llama 3 style vocabularies add BOS.
        var defaultAddsBOS = isSentencePiece
        if case .byteLevel(.llama3, _) = style { defaultAddsBOS = true }
        var endOfTurn = Set<Int32>()
        for key in ["tokenizer.ggml.eot_token_id", "tokenizer.ggml.eom_token_id"] {
            if let id = try tokenID(key) { endOfTurn.insert(id) }
        }
        if let eos { endOfTurn.insert(eos) }
        for (index, token) in tokens.enumerated()
        where endOfTurnSpellings.contains(token) && (types[index] == .control || types[index] == .userDefined) {
            endOfTurn.insert(Int32(index))
        }
        var specialStrings: [(String, SpecialTokenMatcher.Entry)] = []
        for (index, type) in types.enumerated() where type == .control || type == .userDefined || type == .unknown {
            specialStrings.append((tokens[index], .init(id: Int32(index), stripLeft: false, stripRight: false)))
        }
        return BPETokenizer(
            TokenizerDefinition(
                tokens: tokens, types: types, merges: merges, style: style, specialStrings: specialStrings, bos: bos,
                // llama.cpp drops bytes that have no byte-level token rather than emitting <unk> (SmolLM2 lacks
                // 0xF1, 0xF2 and a few control bytes); SentencePiece uses <unk> when byte fallback is impossible.
                eos: eos, unknown: isSentencePiece ? unknown : nil,
                addBOS: metadata["tokenizer.ggml.add_bos_token"]?.boolValue ?? defaultAddsBOS,
                addEOS: metadata["tokenizer.ggml.add_eos_token"]?.boolValue ?? false, endOfTurn: endOfTurn))
    }

    /// A BERT vocabulary as llama.cpp's convert_hf_to_gguf.py writes it (`BertModel.set_vocab`): control tokens
    /// as they are, continuation pieces without their "##", every other piece with "▁" in front. The spelling is
    /// undone here and the tokenizer is Hugging Face's (`WordPieceTokenizer`), so ids equal those of the model's
    /// tokenizer.json. The file does not say how the text was normalized; a vocabulary without upper-case ASCII
    /// letters is taken to be uncased (lowercase, strip accents: BERT's uncased models), any other as cased.
    ///
    /// llama.cpp's own WPM tokenizer differs from Hugging Face on some text (it keeps accents after NFD, always
    /// lowercases and has no 100-character word limit); this follows Hugging Face, which the model was trained with.
    static func wordPiece(_ metadata: [String: GGUFValue], tokens phantomTokens: [String], types: [TokenType]) throws
        -> WordPieceTokenizer
    {
        var tokens: [String] = []
        tokens.reserveCapacity(phantomTokens.count)
        var vocabulary: [(String, Int32)] = []
        vocabulary.reserveCapacity(phantomTokens.count)
        var addedTokens: [WordPieceDefinition.AddedToken] = []
        var cased = false
        for (index, (token, type)) in zip(phantomTokens, types).enumerated() {
            var original = token
            switch type {
            case .control, .unknown:
                addedTokens.append(
                    .init(
                        text: token, entry: .init(id: Int32(index), stripLeft: false, stripRight: false), special: true,
                        normalized: false))
            case .unused:
                original = ""  // the converter's "[PAD<id>]" fillers for ids the vocabulary lacks
            default:
                if token.utf8.starts(with: "\u{2581}".utf8) {
                    original = String(token.unicodeScalars.dropFirst())
                } else {
                    original = "##" + token
                }
                if type == .normal, token.utf8.contains(where: { (0x41...0x5A).contains($0) }) { cased = true }
            }
            tokens.append(original)
            if !original.isEmpty { vocabulary.append((original, Int32(index))) }
        }

        func id(_ key: String, default fallback: Int32?) throws -> Int32? {
            guard let value = metadata[key] else { return fallback }
            guard let id = value.intValue, id >= 0, id < tokens.count else {
                if let id = value.intValue, id == -1 || id == Int(UInt32.max) { return nil }
                throw TokenizerError("GGUF: \(key) = \(value) is not a token id below \(tokens.count)")
            }
            return Int32(id)
        }
        // llama.cpp's defaults for BERT: [CLS] 101 first, [SEP] 102 last, [UNK] 100.
        guard let unknown = try id("tokenizer.ggml.unknown_token_id", default: tokens.count > 100 ? 100 : nil) else {
            throw TokenizerError("GGUF: the BERT vocabulary has no tokenizer.ggml.unknown_token_id")
        }
        let cls = try id("tokenizer.ggml.bos_token_id", default: tokens.count > 101 ? 101 : nil)
        let sep = try id("tokenizer.ggml.seperator_token_id", default: nil)
            ?? id("tokenizer.ggml.eos_token_id", default: tokens.count > 102 ? 102 : nil)
        let addCLS = metadata["tokenizer.ggml.add_bos_token"]?.boolValue ?? true
        // add_sep_token is about the separator *between* the two texts of a pair (reranking); convert_hf_to_gguf.py
        // writes false for it on every BERT model. A single text ends with [SEP] as add_eos_token says (llama.cpp's
        // WPM tokenizer always closes a single text with it).
        let addSEP = metadata["tokenizer.ggml.add_eos_token"]?.boolValue ?? true
        return WordPieceTokenizer(
            WordPieceDefinition(
                tokens: tokens, vocabulary: vocabulary, addedTokens: addedTokens, unknown: unknown,
                continuingSubwordPrefix: "##", maxInputCharsPerWord: 100,
                normalizer: BertNormalizer(
                    cleanText: true, handleChineseChars: true, stripAccents: !cased, lowercase: !cased),
                prefixIDs: addCLS ? cls.map { [$0] } ?? [] : [], suffixIDs: addSEP ? sep.map { [$0] } ?? [] : [],
                decoder: WordPieceDecoder(prefix: "##", cleanup: true), cls: cls, sep: sep))
    }

    /// SentencePiece merging as llama.cpp does it: any two adjacent pieces whose concatenation is a vocabulary
    /// piece may merge, best score first. Precomputed as a pair table whose priority is the rank of the merged
    /// piece's score (equal scores share a rank, so ties go to the leftmost pair).
    static func sentencePieceMerges(tokens: [String], types: [TokenType], scores: [Float], ids: [ExactString: Int32])
        -> MergeTable
    {
        let distinctScores = Array(Set(scores)).sorted(by: >)
        var rankOfScore: [Float: Int32] = [:]
        for (rank, score) in distinctScores.enumerated() { rankOfScore[score] = Int32(rank) }
        func mergeable(_ id: Int32) -> Bool {
            let type = types[Int(id)]
            return type == .normal || type == .userDefined
        }
        var merges = MergeTable()
        for (index, token) in tokens.enumerated() where mergeable(Int32(index)) {
            let scalars = Array(token.unicodeScalars)
            guard scalars.count > 1 else { continue }
            let priority = rankOfScore[scores[index]] ?? Int32.max
            for split in 1..<scalars.count {
                var left = String.UnicodeScalarView()
                left.append(contentsOf: scalars[..<split])
                var right = String.UnicodeScalarView()
                right.append(contentsOf: scalars[split...])
                if let l = ids[ExactString(String(left))], let r = ids[ExactString(String(right))], mergeable(l),
                    mergeable(r)
                {
                    merges.add(left: l, right: r, merged: Int32(index), priority: priority)
                }
            }
        }
        return merges
    }

    /// "a b" → ("a", "b"), splitting at the first space after the first character (as llama.cpp does).
    static func splitMerge(_ merge: String) -> (String, String)? {
        let utf8 = Array(merge.utf8)
        guard utf8.count >= 3, let space = utf8[1...].firstIndex(of: 0x20), space + 1 < utf8.count else { return nil }
        return (String(decoding: utf8[..<space], as: UTF8.self), String(decoding: utf8[(space + 1)...], as: UTF8.self))
    }

    private static func stringArray(_ metadata: [String: GGUFValue], _ key: String, required: Bool) throws -> [String]? {
        guard let value = metadata[key] else {
            if required { throw TokenizerError("GGUF: the tokenizer needs \(key), which the file lacks") }
            return nil
        }
        guard let array = value.arrayValue else { throw TokenizerError("GGUF: \(key) is not an array") }
        var strings: [String] = []
        strings.reserveCapacity(array.count)
        for (index, element) in array.enumerated() {
            guard let string = element.stringValue else {
                throw TokenizerError("GGUF: \(key)[\(index)] is \(element.type.name), not a string")
            }
            strings.append(string)
        }
        return strings
    }

    private static func tokenTypes(_ metadata: [String: GGUFValue], count: Int) throws -> [TokenType] {
        guard let value = metadata["tokenizer.ggml.token_type"] else {
            return Array(repeating: .normal, count: count)
        }
        guard let array = value.arrayValue, array.count == count else {
            throw TokenizerError(
                "GGUF: tokenizer.ggml.token_type must be an array of \(count) integers, one per token")
        }
        return try array.enumerated().map { index, element in
            guard let raw = element.intValue, let type = TokenType(rawValue: Int32(clamping: raw)) else {
                throw TokenizerError("GGUF: tokenizer.ggml.token_type[\(index)] = \(element) is not a type 0...6")
            }
            return type
        }
    }

    private static func floatArray(_ metadata: [String: GGUFValue], _ key: String, count: Int) throws -> [Float] {
        guard let value = metadata[key] else { return Array(repeating: 0, count: count) }
        guard let array = value.arrayValue, array.count == count else {
            throw TokenizerError("GGUF: \(key) must be an array of \(count) numbers, one per token")
        }
        return try array.enumerated().map { index, element in
            guard let number = element.doubleValue else {
                throw TokenizerError("GGUF: \(key)[\(index)] is \(element.type.name), not a number")
            }
            return Float(number)
        }
    }
}
