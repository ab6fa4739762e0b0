/// Reads the WordPiece part of Hugging Face `tokenizer.json` files (BERT and the sentence-embedding models built
/// on it): `BertNormalizer` (or none), `BertPreTokenizer`, a `TemplateProcessing` or `BertProcessing`
/// post-processor (or none) and a `WordPiece` decoder (or none). Anything else is refused by name, because an
/// approximation would silently change the ids an embedding model sees.
enum WordPieceJSONLoader {
    static func load(root: JSONValue, model: JSONValue, config: JSONValue?) throws -> WordPieceTokenizer {
        guard let vocab = model["vocab"]?.members else {
            throw TokenizerError("tokenizer.json: WordPiece model.vocab is missing or not an object")
        }
        var tokenForID: [Int: String] = [:]
        tokenForID.reserveCapacity(vocab.count)
        var vocabulary: [(String, Int32)] = []
        vocabulary.reserveCapacity(vocab.count)
        for (token, value) in vocab {
            guard let id = value.int, id >= 0, id < Int(Int32.max) else {
                throw TokenizerError("tokenizer.json: vocab entry '\(token)' has no non-negative integer id")
            }
            tokenForID[id] = token
            vocabulary.append((token, Int32(id)))
        }
        var addedTokens: [WordPieceDefinition.AddedToken] = []
        for entry in root["added_tokens"]?.array ?? [] {
            guard let id = entry["id"]?.int, id >= 0, id < Int(Int32.max), let content = entry["content"]?.string else {
                throw TokenizerError("tokenizer.json: an added_tokens entry lacks an id or content")
            }
            if entry["single_word"]?.bool == true {
                throw TokenizerError("tokenizer.json: added token '\(content)' has single_word, which is not supported")
            }
            tokenForID[id] = content
            let special = entry["special"]?.bool ?? false
            addedTokens.append(
                .init(
                    text: content,
                    entry: .init(
                        id: Int32(id), stripLeft: entry["lstrip"]?.bool ?? false,
                        stripRight: entry["rstrip"]?.bool ?? false),
                    special: special,
                    // Hugging Face's default: special tokens are matched as written, others after normalization.
                    normalized: entry["normalized"]?.bool ?? !special))
        }
        let size = (tokenForID.keys.max() ?? -1) + 1
        guard size > 0 else { throw TokenizerError("tokenizer.json: the vocabulary is empty") }
        guard size <= tokenForID.count * 2 + 1024 else {
            throw TokenizerError("tokenizer.json: token ids reach \(size - 1) but only \(tokenForID.count) are defined")
        }
        var tokens = [String](repeating: "", count: size)
        for (id, token) in tokenForID { tokens[id] = token }
        var ids: [ExactString: Int32] = [:]
        for (index, token) in tokens.enumerated() where !token.isEmpty && ids[ExactString(token)] == nil {
            ids[ExactString(token)] = Int32(index)
        }
        func id(_ text: String) -> Int32? { ids[ExactString(text)] }

        let unknownText = model["unk_token"]?.string ?? "[UNK]"
        guard let unknown = vocabulary.first(where: { $0.0.utf8.elementsEqual(unknownText.utf8) })?.1 else {
            throw TokenizerError("tokenizer.json: the WordPiece unk_token '\(unknownText)' is not in the vocabulary")
        }
        let maxChars = model["max_input_chars_per_word"]?.int ?? 100
        guard maxChars >= 0 else {
            throw TokenizerError("tokenizer.json: WordPiece max_input_chars_per_word \(maxChars) is negative")
        }

        let normalizer = try self.normalizer(root["normalizer"])
        try checkPreTokenizer(root["pre_tokenizer"])
        let (prefixIDs, suffixIDs) = try template(root["post_processor"], id: id)
        if let outside = (prefixIDs + suffixIDs).first(where: { Int($0) >= size }) {
            throw TokenizerError("tokenizer.json: the post-processor adds token id \(outside), outside the vocabulary")
        }
        let decoder = try self.decoder(root["decoder"])

        // [CLS] and [SEP] as the template places them, else as tokenizer_config.json names them, else BERT's own.
        func configured(_ key: String) -> Int32? {
            let value = config?[key]
            return (value?.string ?? value?["content"]?.string).flatMap(id)
        }
        let cls = prefixIDs.first ?? configured("cls_token") ?? id("[CLS]")
        let sep = suffixIDs.last ?? configured("sep_token") ?? id("[SEP]")

        return WordPieceTokenizer(
            WordPieceDefinition(
                tokens: tokens, vocabulary: vocabulary, addedTokens: addedTokens, unknown: unknown,
                continuingSubwordPrefix: model["continuing_subword_prefix"]?.string ?? "##",
                maxInputCharsPerWord: maxChars, normalizer: normalizer, prefixIDs: prefixIDs,
                suffixIDs: suffixIDs, decoder: decoder, cls: cls, sep: sep))
    }

    private static func typeName(_ component: JSONValue) -> String { component["type"]?.string ?? "?" }

    private static func normalizer(_ value: JSONValue?) throws -> BertNormalizer? {
        let normalizers = TokenizerJSONLoader.components(value, key: "normalizers")
        guard let normalizer = normalizers.first else { return nil }
        guard normalizers.count == 1, typeName(normalizer) == "BertNormalizer" else {
            let names = normalizers.map(typeName).joined(separator: ", ")
            throw TokenizerError(
                "tokenizer.json: normalizer '\(names)' is not supported with WordPiece (supported: BertNormalizer)")
        }
        let lowercase = normalizer["lowercase"]?.bool ?? true
        return BertNormalizer(
            cleanText: normalizer["clean_text"]?.bool ?? true,
            handleChineseChars: normalizer["handle_chinese_chars"]?.bool ?? true,
            // null: strip accents exactly when lowercasing (BERT's uncased models do both).
            stripAccents: normalizer["strip_accents"]?.bool ?? lowercase,
            lowercase: lowercase)
    }

    private static func checkPreTokenizer(_ value: JSONValue?) throws {
        let preTokenizers = TokenizerJSONLoader.components(value, key: "pretokenizers")
        guard preTokenizers.count == 1, typeName(preTokenizers[0]) == "BertPreTokenizer" else {
            let names = preTokenizers.isEmpty ? "none" : preTokenizers.map(typeName).joined(separator: ", ")
            throw TokenizerError(
                "tokenizer.json: pre-tokenizer '\(names)' is not supported with WordPiece (supported: "
                    + "BertPreTokenizer)")
        }
    }

    /// The ids the post-processor puts before and after a single sequence.
    private static func template(_ value: JSONValue?, id: (String) -> Int32?) throws -> ([Int32], [Int32]) {
        guard let processor = value, !processor.isNull else { return ([], []) }
        switch typeName(processor) {
        case "BertProcessing":
            // {"cls": ["[CLS]", 101], "sep": ["[SEP]", 102]}
            guard let cls = processor["cls"]?.array?.last?.int, let sep = processor["sep"]?.array?.last?.int,
                cls >= 0, sep >= 0, cls < Int(Int32.max), sep < Int(Int32.max)
            else {
                throw TokenizerError("tokenizer.json: BertProcessing needs cls and sep as [token, id]")
            }
            return ([Int32(cls)], [Int32(sep)])
        case "TemplateProcessing":
            guard let single = processor["single"]?.array else {
                throw TokenizerError("tokenizer.json: TemplateProcessing has no single template")
            }
            var before: [Int32] = []
            var after: [Int32] = []
            var sequences = 0
            for item in single {
                if item["Sequence"] != nil {
                    sequences += 1
                    continue
                }
                guard let name = item["SpecialToken"]?["id"]?.string else {
                    throw TokenizerError("tokenizer.json: TemplateProcessing item is neither Sequence nor SpecialToken")
                }
                // The processor's own table maps a name to one or more ids; a bare name is a vocabulary token.
                var itemIDs: [Int32] = []
                if let listed = processor["special_tokens"]?[name]?["ids"]?.array {
                    for element in listed {
                        guard let value = element.int, value >= 0, value < Int(Int32.max) else {
                            throw TokenizerError(
                                "tokenizer.json: TemplateProcessing special token '\(name)' has a bad id")
                        }
                        itemIDs.append(Int32(value))
                    }
                } else if let found = id(name) {
                    itemIDs = [found]
                } else {
                    throw TokenizerError(
                        "tokenizer.json: TemplateProcessing special token '\(name)' is not in the vocabulary")
                }
                if sequences == 0 { before += itemIDs } else { after += itemIDs }
            }
            guard sequences == 1 else {
                throw TokenizerError(
                    "tokenizer.json: TemplateProcessing single template has \(sequences) sequences, not 1")
            }
            return (before, after)
        default:
            throw TokenizerError(
                "tokenizer.json: post-processor '\(typeName(processor))' is not supported with WordPiece (supported: "
                    + "TemplateProcessing, BertProcessing)")
        }
    }

    private static func decoder(_ value: JSONValue?) throws -> WordPieceDecoder {
        guard let decoder = value, !decoder.isNull else { return WordPieceDecoder(prefix: nil, cleanup: false) }
        guard typeName(decoder) == "WordPiece" else {
            throw TokenizerError(
                "tokenizer.json: decoder '\(typeName(decoder))' is not supported with WordPiece (supported: WordPiece)")
        }
        return WordPieceDecoder(prefix: decoder["prefix"]?.string ?? "##", cleanup: decoder["cleanup"]?.bool ?? true)
    }
}
