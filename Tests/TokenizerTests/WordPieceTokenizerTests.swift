import Foundation
import ModelFormats
import Tokenizer
import XCTest

/// The WordPiece (BERT) tokenizer against Hugging Face `tokenizers` on all-MiniLM-L6-v2's tokenizer.json (fixture
/// from scripts/fixtures/wordpiece_reference.py), plus behaviour that needs no model: greedy longest match, special
/// tokens, loader errors.
final class WordPieceTokenizerTests: XCTestCase {
    // MARK: Against Hugging Face

    func testIDsMatchHuggingFaceOnEveryFixtureLine() throws {
        let tokenizer = try miniLM()
        let fixture = try WordPieceFixture.shared()
        XCTAssertGreaterThanOrEqual(fixture.lines.count, 2000, "fixture corpus")
        XCTAssertEqual(fixture.ids.count, fixture.lines.count)
        var mismatches = 0
        var report: [String] = []
        for (index, (text, expected)) in zip(fixture.lines, fixture.ids).enumerated() {
            let actual = tokenizer.encode(text, addSpecial: true, parseSpecial: true)
            guard actual != expected else { continue }
            mismatches += 1
            if report.count < 5 {
                report.append("line \(index) \(text.debugDescription)\n  got      \(actual)\n  expected \(expected)")
            }
        }
        XCTAssertEqual(
            mismatches, 0,
            "\(mismatches) of \(fixture.lines.count) lines differ from Hugging Face:\n"
                + report.joined(separator: "\n"))
    }

    func testDecodingMatchesHuggingFace() throws {
        let tokenizer = try miniLM()
        let fixture = try WordPieceFixture.shared()
        XCTAssertGreaterThanOrEqual(fixture.decoded.count, 500)
        var mismatches: [String] = []
        for (index, expected) in fixture.decoded {
            let actual = tokenizer.decode(fixture.ids[index], skipSpecial: true)
            if actual != expected {
                mismatches.append("line \(index): \(actual.debugDescription) != \(expected.debugDescription)")
            }
        }
        XCTAssertFalse(fixture.decodedWithSpecial.isEmpty)
        for (index, expected) in fixture.decodedWithSpecial {
            let actual = tokenizer.decode(fixture.ids[index], skipSpecial: false)
            if actual != expected {
                mismatches.append(
                    "line \(index) (specials kept): \(actual.debugDescription) != \(expected.debugDescription)")
            }
        }
        XCTAssertEqual(mismatches.count, 0, mismatches.prefix(5).joined(separator: "\n"))
    }

    func testSpecialTokenStringsAreParsedOnlyWhenAsked() throws {
        let tokenizer = try miniLM()
        let fixture = try WordPieceFixture.shared()
        XCTAssertFalse(fixture.idsSpecialsAsText.isEmpty)
        var mismatches: [String] = []
        for (index, expected) in fixture.idsSpecialsAsText.sorted(by: { $0.key < $1.key }) {
            let actual = tokenizer.encode(fixture.lines[index], addSpecial: true, parseSpecial: false)
            if actual != expected { mismatches.append("line \(index): got \(actual), expected \(expected)") }
        }
        XCTAssertEqual(mismatches.count, 0, mismatches.prefix(5).joined(separator: "\n"))

        let text = "x [CLS] y[MASK]z [cls]"
        let parsed = tokenizer.encode(text, addSpecial: false, parseSpecial: true)
        XCTAssertEqual(parsed.filter { $0 == 101 }.count, 1)
        XCTAssertTrue(parsed.contains(103))
        let plain = tokenizer.encode(text, addSpecial: false, parseSpecial: false)
        XCTAssertFalse(plain.contains(101))
        XCTAssertFalse(plain.contains(103))
        // Matched as written (normalized: false): the lowercased "[cls]" is text either way.
        XCTAssertEqual(Array(plain.suffix(4)), Array(parsed.suffix(4)))
    }

    /// Characters on which the standard library's Unicode data and Hugging Face's (older) tables disagree: assigned
    /// after Unicode 8.0 as marks, format characters or punctuation, or recategorized since. `tokenizers` treats them
    /// as its tables say, and so must the tokenizer.
    func testUnicodeVersionEdgesMatchHuggingFace() throws {
        let tokenizer = try miniLM()
        let fixture = try WordPieceFixture.shared()
        XCTAssertGreaterThanOrEqual(fixture.unicodeEdges.count, 600)
        var mismatches: [String] = []
        for (value, expected) in fixture.unicodeEdges.sorted(by: { $0.key < $1.key }) {
            let scalar = try XCTUnwrap(Unicode.Scalar(value))
            let actual = tokenizer.encode("a\(scalar)b", addSpecial: false)
            if actual != expected {
                mismatches.append("U+\(String(value, radix: 16, uppercase: true)): got \(actual), expected \(expected)")
            }
        }
        XCTAssertEqual(mismatches.count, 0, mismatches.prefix(10).joined(separator: "\n"))
    }

    func testSpecialTokensAndVocabulary() throws {
        let tokenizer = try miniLM()
        XCTAssertEqual(tokenizer.vocabularySize, 30522)
        XCTAssertEqual(tokenizer.bosToken, 101)
        XCTAssertEqual(tokenizer.eosToken, 102)
        XCTAssertEqual(tokenizer.endOfTurnTokens, [102])
        XCTAssertEqual(tokenizer.tokenText(101), "[CLS]")
        XCTAssertEqual(tokenizer.tokenID("[MASK]"), 103)
        XCTAssertEqual(tokenizer.tokenID("hello"), 7592)
        XCTAssertNotNil(tokenizer.tokenID("##ing"))
        XCTAssertNil(tokenizer.tokenText(30522))
        XCTAssertNil(tokenizer.tokenText(-1))
        for id: Int32 in [0, 100, 101, 102, 103] { XCTAssertTrue(tokenizer.isSpecial(id), "\(id)") }
        XCTAssertFalse(tokenizer.isSpecial(7592))

        XCTAssertEqual(tokenizer.encode("", addSpecial: true), [101, 102])
        XCTAssertEqual(tokenizer.encode("", addSpecial: false), [])
        let withSpecials = tokenizer.encode("Hello, world!", addSpecial: true)
        XCTAssertEqual(withSpecials, [101, 7592, 1010, 2088, 999, 102])
        XCTAssertEqual(Array(withSpecials.dropFirst().dropLast()), tokenizer.encode("Hello, world!", addSpecial: false))
        XCTAssertEqual(tokenizer.decode(withSpecials, skipSpecial: true), "hello, world!")
        XCTAssertEqual(tokenizer.decode(withSpecials, skipSpecial: false), "[CLS] hello, world! [SEP]")
    }

    func testWordsOverOneHundredCharactersAreUnknown() throws {
        let tokenizer = try miniLM()
        XCTAssertFalse(tokenizer.encode(String(repeating: "a", count: 100), addSpecial: false).contains(100))
        XCTAssertEqual(tokenizer.encode(String(repeating: "a", count: 101), addSpecial: false), [100])
        // Counted after normalization: 101 "é" are 101 characters once the accents are stripped; 60 "e" + U+0301
        // are 120 scalars of input but 60 characters after it.
        XCTAssertEqual(tokenizer.encode(String(repeating: "é", count: 101), addSpecial: false), [100])
        XCTAssertFalse(tokenizer.encode(String(repeating: "e\u{301}", count: 60), addSpecial: false).contains(100))
    }

    /// Streaming output, completed by `finish()`, equals the full decode of every prefix (Hugging Face's WordPiece
    /// decoder works token by token, so the two agree exactly).
    func testStreamingEqualsFullDecodeForEveryPrefix() throws {
        let tokenizer = try miniLM()
        let fixture = try WordPieceFixture.shared()
        var mismatches = 0
        for ids in fixture.ids.prefix(600) {
            for skipSpecial in [false, true] {
                var stream = StreamingDetokenizer(tokenizer: tokenizer, skipSpecial: skipSpecial)
                var streamed = ""
                for count in 1...max(ids.count, 1) where !ids.isEmpty {
                    streamed += stream.append(ids[count - 1])
                    var copy = stream
                    if streamed + copy.finish() != tokenizer.decode(Array(ids[..<count]), skipSpecial: skipSpecial) {
                        mismatches += 1
                    }
                }
            }
        }
        XCTAssertEqual(mismatches, 0)
    }

    /// The same vocabulary in a GGUF file, spelled as llama.cpp's convert_hf_to_gguf.py writes BERT vocabularies
    /// (`BertModel.set_vocab`: control tokens as they are, "##" dropped from continuations, "▁" before the rest),
    /// gives the same ids and text.
    func testGGUFBertVocabularyMatchesHuggingFace() throws {
        let fixture = try WordPieceFixture.shared()
        let tokenizer = try Tokenizers.load(gguf: GGUFFile(path: try miniLMGGUF()))
        XCTAssertEqual(tokenizer.vocabularySize, 30522)
        XCTAssertEqual(tokenizer.bosToken, 101)
        XCTAssertEqual(tokenizer.eosToken, 102)
        XCTAssertEqual(tokenizer.tokenText(7592), "hello", "vocabulary strings are Hugging Face's again")
        XCTAssertTrue(tokenizer.isSpecial(103))
        var mismatches: [String] = []
        for (index, (text, expected)) in zip(fixture.lines, fixture.ids).enumerated() {
            let actual = tokenizer.encode(text, addSpecial: true, parseSpecial: true)
            if actual != expected {
                mismatches.append("line \(index) \(text.debugDescription): \(actual) != \(expected)")
            }
        }
        for (index, expected) in fixture.decoded
        where tokenizer.decode(fixture.ids[index], skipSpecial: true) != expected {
            mismatches.append("decoded line \(index)")
        }
        XCTAssertEqual(mismatches.count, 0, mismatches.prefix(5).joined(separator: "\n"))
    }

    // MARK: Without the model

    func testGreedyLongestMatchAndUnknownWords() throws {
        let tokenizer = try load(Self.minimalJSON)
        // "unaffable": un + ##aff + ##able (longest first: "unaff" is not a piece, "un" is).
        XCTAssertEqual(tokenizer.encode("unaffable", addSpecial: false), [5, 6, 7])
        XCTAssertEqual(tokenizer.encode("UnAffable", addSpecial: false), [5, 6, 7], "lowercased")
        // One piece the vocabulary cannot cover makes the whole word unknown, not just that piece.
        XCTAssertEqual(tokenizer.encode("unaffx un", addSpecial: false), [0, 5])
        XCTAssertEqual(tokenizer.encode("un, aff!", addSpecial: true), [1, 5, 8, 0, 9, 2])
        XCTAssertEqual(tokenizer.decode([1, 5, 6, 7, 8, 5, 9, 2], skipSpecial: false), "[CLS] unaffable, un! [SEP]")
        XCTAssertEqual(tokenizer.decode([1, 5, 6, 7, 8, 5, 9, 2], skipSpecial: true), "unaffable, un!")
        // The first token keeps its prefix, as Hugging Face's decoder does.
        XCTAssertEqual(tokenizer.decode([6, 5]), "##aff un")
        // max_input_chars_per_word is 9 here: "unaffable" just fits, ten characters do not.
        XCTAssertEqual(tokenizer.encode("unununun ununununun", addSpecial: false), [5, 10, 10, 10, 0])
    }

    func testUnsupportedComponentsAreRefused() throws {
        func assertFails(replacing old: String, with new: String, _ fragment: String, line: UInt = #line) {
            let json = Self.minimalJSON.replacingOccurrences(of: old, with: new)
            XCTAssertNotEqual(json, Self.minimalJSON, "the replacement must apply", line: line)
            XCTAssertThrowsError(try load(json), line: line) { error in
                let message = (error as? TokenizerError)?.message ?? "\(error)"
                XCTAssertTrue(message.contains(fragment), "'\(message)' lacks '\(fragment)'", line: line)
            }
        }
        assertFails(
            replacing: #""normalizer": {"type": "BertNormalizer""#, with: #""normalizer": {"type": "Lowercase""#,
            "normalizer 'Lowercase' is not supported with WordPiece")
        assertFails(
            replacing: #"{"type": "BertPreTokenizer"}"#, with: #"{"type": "Whitespace"}"#,
            "pre-tokenizer 'Whitespace' is not supported with WordPiece")
        assertFails(
            replacing: #""pre_tokenizer": {"type": "BertPreTokenizer"}"#, with: #""pre_tokenizer": null"#,
            "pre-tokenizer 'none'")
        assertFails(
            replacing: #""type": "TemplateProcessing""#, with: #""type": "RobertaProcessing""#,
            "post-processor 'RobertaProcessing' is not supported with WordPiece")
        assertFails(
            replacing: #""decoder": {"type": "WordPiece""#, with: #""decoder": {"type": "ByteLevel""#,
            "decoder 'ByteLevel' is not supported with WordPiece")
        assertFails(replacing: #""unk_token": "[UNK]""#, with: #""unk_token": "<unk>""#, "unk_token '<unk>'")
    }

    // MARK: Helpers

    private func miniLM() throws -> any TextTokenizer {
        try WordPieceFixture.tokenizer()
    }

    /// A vocabulary-only GGUF of all-MiniLM-L6-v2's tokenizer, with the keys and token types convert_hf_to_gguf.py
    /// and gguf-py's SpecialVocab write for it.
    private func miniLMGGUF() throws -> String {
        let object = try JSONSerialization.jsonObject(
            with: Data(contentsOf: URL(fileURLWithPath: WordPieceFixture.tokenizerPath())))
        let root = try XCTUnwrap(object as? [String: Any])
        let vocab = try XCTUnwrap((root["model"] as? [String: Any])?["vocab"] as? [String: NSNumber])
        let added = try XCTUnwrap(root["added_tokens"] as? [[String: Any]])
        let special = Set(added.compactMap { $0["content"] as? String })
        var tokens = [String](repeating: "", count: vocab.count)
        for (token, id) in vocab { tokens[id.intValue] = token }
        var writer = try GGUFWriter()
        try writer.set("general.architecture", .string("bert"))
        try writer.set("tokenizer.ggml.model", .string("bert"))
        try writer.set(
            "tokenizer.ggml.tokens",
            .array(tokens.map { token in
                if special.contains(token) { return .string(token) }
                return .string(token.hasPrefix("##") ? String(token.dropFirst(2)) : "\u{2581}" + token)
            }))
        try writer.set("tokenizer.ggml.token_type", .array(tokens.map { .int32(special.contains($0) ? 3 : 1) }))
        for (key, id) in [
            ("bos_token_id", 101), ("eos_token_id", 102), ("unknown_token_id", 100), ("seperator_token_id", 102),
            ("padding_token_id", 0), ("mask_token_id", 103),
        ] {
            try writer.set("tokenizer.ggml.\(key)", .uint32(UInt32(id)))
        }
        try writer.set("tokenizer.ggml.add_bos_token", .bool(true))
        try writer.set("tokenizer.ggml.add_eos_token", .bool(true))
        let path = NSTemporaryDirectory() + "wordpiece-\(UUID().uuidString).gguf"
        addTeardownBlock { try? FileManager.default.removeItem(atPath: path) }
        try writer.write(to: path)
        return path
    }

    private func load(_ json: String) throws -> any TextTokenizer {
        let directory = NSTemporaryDirectory() + "wordpiece-\(UUID().uuidString)"
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        addTeardownBlock { try? FileManager.default.removeItem(atPath: directory) }
        let path = directory + "/tokenizer.json"
        try json.write(toFile: path, atomically: true, encoding: .utf8)
        return try Tokenizers.load(tokenizerJSON: path)
    }

    /// A BERT-layout tokenizer.json with a ten-piece vocabulary.
    private static let minimalJSON = #"""
        {"version": "1.0",
         "added_tokens": [
          {"id": 0, "content": "[UNK]", "single_word": false, "lstrip": false, "rstrip": false, "normalized": false, "special": true},
          {"id": 1, "content": "[CLS]", "single_word": false, "lstrip": false, "rstrip": false, "normalized": false, "special": true},
          {"id": 2, "content": "[SEP]", "single_word": false, "lstrip": false, "rstrip": false, "normalized": false, "special": true}],
         "normalizer": {"type": "BertNormalizer", "clean_text": true, "handle_chinese_chars": true, "strip_accents": null, "lowercase": true},
         "pre_tokenizer": {"type": "BertPreTokenizer"},
         "post_processor": {"type": "TemplateProcessing",
          "single": [{"SpecialToken": {"id": "[CLS]", "type_id": 0}}, {"Sequence": {"id": "A", "type_id": 0}}, {"SpecialToken": {"id": "[SEP]", "type_id": 0}}],
          "pair": [],
          "special_tokens": {"[CLS]": {"id": "[CLS]", "ids": [1], "tokens": ["[CLS]"]}, "[SEP]": {"id": "[SEP]", "ids": [2], "tokens": ["[SEP]"]}}},
         "decoder": {"type": "WordPiece", "prefix": "##", "cleanup": true},
         "model": {"type": "WordPiece", "unk_token": "[UNK]", "continuing_subword_prefix": "##", "max_input_chars_per_word": 9,
          "vocab": {"[UNK]": 0, "[CLS]": 1, "[SEP]": 2, "a": 3, "##a": 4, "un": 5, "##aff": 6, "##able": 7, ",": 8, "!": 9, "##un": 10}}}
        """#
}

/// Tests/TokenizerTests/Fixtures/wordpiece_minilm.json, read once, and the tokenizer it was made from.
struct WordPieceFixture {
    let lines: [String]
    let ids: [[Int32]]
    let decoded: [Int: String]
    let decodedWithSpecial: [Int: String]
    let idsSpecialsAsText: [Int: [Int32]]
    /// Code point → ids of "a" + that character + "b" (without [CLS]/[SEP]).
    let unicodeEdges: [UInt32: [Int32]]

    private static let lock = NSLock()
    nonisolated(unsafe) private static var loaded: WordPieceFixture?
    nonisolated(unsafe) private static var loadedTokenizer: (any TextTokenizer)?

    static func shared() throws -> WordPieceFixture {
        try lock.withLock {
            if let loaded { return loaded }
            let object = try JSONSerialization.jsonObject(with: Data(contentsOf: Fixtures.url("wordpiece_minilm.json")))
            let root = try XCTUnwrap(object as? [String: Any], "wordpiece_minilm.json is not an object")
            func idLists(_ value: Any?) throws -> [[Int32]] {
                try XCTUnwrap(value as? [[NSNumber]], "id lists").map { $0.map(\.int32Value) }
            }
            func byIndex<T>(_ value: Any?, _ transform: (Any) throws -> T) throws -> [Int: T] {
                let raw = try XCTUnwrap(value as? [String: Any], "index map")
                var result: [Int: T] = [:]
                for (key, element) in raw { result[try XCTUnwrap(Int(key), "index \(key)")] = try transform(element) }
                return result
            }
            let fixture = WordPieceFixture(
                lines: try XCTUnwrap(root["lines"] as? [String], "lines"),
                ids: try idLists(root["ids"]),
                decoded: try byIndex(root["decoded"]) { try XCTUnwrap($0 as? String) },
                decodedWithSpecial: try byIndex(root["decoded_with_special"]) { try XCTUnwrap($0 as? String) },
                idsSpecialsAsText: try byIndex(root["ids_specials_as_text"]) {
                    try XCTUnwrap($0 as? [NSNumber]).map(\.int32Value)
                },
                unicodeEdges: try Dictionary(
                    uniqueKeysWithValues: XCTUnwrap(root["unicode_edges"] as? [String: [NSNumber]], "edges").map {
                        (try XCTUnwrap(UInt32($0.key, radix: 16), "code point \($0.key)"), $0.value.map(\.int32Value))
                    }))
            loaded = fixture
            return fixture
        }
    }

    /// all-MiniLM-L6-v2's tokenizer, loaded once.
    static func tokenizer() throws -> any TextTokenizer {
        let path = try tokenizerPath()
        return try lock.withLock {
            if let loadedTokenizer { return loadedTokenizer }
            let tokenizer = try Tokenizers.load(tokenizerJSON: path)
            loadedTokenizer = tokenizer
            return tokenizer
        }
    }

    /// all-MiniLM-L6-v2's tokenizer.json: in `MODELHOST_MODELS_DIR`, else the repository's `models/`. Fails (never
    /// skips) when absent, as the default model does: CI installs both.
    static func tokenizerPath(file: StaticString = #filePath, line: UInt = #line) throws -> String {
        let relative = "sentence-transformers/all-MiniLM-L6-v2/tokenizer.json"
        var candidates: [String] = []
        if let directory = ProcessInfo.processInfo.environment["MODELHOST_MODELS_DIR"], !directory.isEmpty {
            candidates.append(directory + "/" + relative)
        }
        let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
            .deletingLastPathComponent()
        candidates.append(root.appendingPathComponent("models/" + relative).path)
        guard let path = candidates.first(where: { FileManager.default.fileExists(atPath: $0) }) else {
            XCTFail(
                "embedding model tokenizer not found (looked at \(candidates.joined(separator: ", "))); install it "
                    + "with scripts/install-default-model --embeddings or set MODELHOST_MODELS_DIR",
                file: file, line: line)
            throw TokenizerError("all-MiniLM-L6-v2 not found")
        }
        return path
    }
}
