import Foundation
import ModelFormats
import Tokenizer
import XCTest

/// Special tokens, BOS/EOS rules, streaming edge cases and loader errors.
final class BehaviourTests: XCTestCase {
    private func smollm() throws -> any TextTokenizer {
        try Tokenizers.load(gguf: GGUFFile(path: defaultModelPath()))
    }

    func testDefaultModelSpecialTokens() throws {
        let tokenizer = try smollm()
        XCTAssertEqual(tokenizer.vocabularySize, 49152)
        XCTAssertEqual(tokenizer.bosToken, 1)
        XCTAssertEqual(tokenizer.eosToken, 2)
        XCTAssertEqual(tokenizer.tokenText(2), "<|im_end|>")
        XCTAssertEqual(tokenizer.tokenID("<|im_start|>"), 1)
        XCTAssertTrue(tokenizer.endOfTurnTokens.isSuperset(of: [0, 2]))
        XCTAssertTrue(tokenizer.isSpecial(2))
        XCTAssertFalse(tokenizer.isSpecial(tokenizer.tokenID("Ġthe")!))
        XCTAssertNil(tokenizer.tokenText(49152))
        XCTAssertNil(tokenizer.tokenText(-1))
        // add_bos_token is false for SmolLM2: addSpecial adds nothing.
        XCTAssertEqual(tokenizer.encode("Hi", addSpecial: true), tokenizer.encode("Hi", addSpecial: false))
    }

    func testSpecialTokenStringsAreParsedOnlyWhenAsked() throws {
        let tokenizer = try smollm()
        let text = "<|im_start|>user\nHi<|im_end|>"
        let parsed = tokenizer.encode(text, addSpecial: false, parseSpecial: true)
        XCTAssertEqual(parsed.first, 1)
        XCTAssertEqual(parsed.last, 2)
        let plain = tokenizer.encode(text, addSpecial: false, parseSpecial: false)
        XCTAssertFalse(plain.contains(1))
        XCTAssertFalse(plain.contains(2))
        XCTAssertEqual(tokenizer.decode(plain), text)
        XCTAssertEqual(tokenizer.decode(parsed, skipSpecial: true), "user\nHi")
    }

    func testSentencePieceAddsBOSAndStripsPrefixSpace() throws {
        let tokenizer = try Tokenizers.load(gguf: GGUFFile(path: Fixtures.spmGGUF()))
        let ids = tokenizer.encode("Hello world", addSpecial: true)
        XCTAssertEqual(ids.first, 1)
        XCTAssertEqual(tokenizer.tokenText(ids[1])?.hasPrefix("▁"), true, "SentencePiece prepends ▁")
        XCTAssertEqual(tokenizer.decode(ids, skipSpecial: true), "Hello world")
        // As Hugging Face's Strip decoder: only a space at the very start of the output is dropped.
        XCTAssertEqual(tokenizer.decode(ids, skipSpecial: false), "<s> Hello world")
        XCTAssertEqual(tokenizer.encode("", addSpecial: true), [1])
        XCTAssertEqual(tokenizer.encode("", addSpecial: false), [])
        // Characters outside the vocabulary fall back to byte tokens and decode back exactly.
        let rare = "𝔘𐍈"
        let rareIDs = tokenizer.encode(rare, addSpecial: false)
        XCTAssertTrue(rareIDs.dropFirst().allSatisfy { tokenizer.tokenText($0)?.hasPrefix("<0x") == true })
        XCTAssertEqual(tokenizer.decode(rareIDs), rare)
    }

    /// "é" and "e\u{301}" are equal as Swift Strings but distinct tokens: lookups must be byte-exact.
    func testCanonicallyEquivalentTokensStayDistinct() throws {
        var writer = try GGUFWriter()
        let tokens = ["<unk>", "<s>", "</s>", "▁", "e", "\u{301}", "é", "▁é", "▁e", "▁e\u{301}"]
        try writer.set("tokenizer.ggml.model", .string("llama"))
        try writer.set("tokenizer.ggml.tokens", .array(tokens.map { .string($0) }))
        try writer.set("tokenizer.ggml.scores", .array(tokens.indices.map { .float32(-Float($0)) }))
        try writer.set("tokenizer.ggml.token_type", .array([2, 3, 3, 1, 1, 1, 1, 1, 1, 1].map { .int32($0) }))
        let path = NSTemporaryDirectory() + "spm-nfc-\(UUID().uuidString).gguf"
        addTeardownBlock { try? FileManager.default.removeItem(atPath: path) }
        try writer.write(to: path)
        let tokenizer = try Tokenizers.load(gguf: GGUFFile(path: path))
        XCTAssertEqual(tokenizer.encode("é", addSpecial: false), [7])
        XCTAssertEqual(tokenizer.encode("e\u{301}", addSpecial: false), [9])
        XCTAssertNil(tokenizer.tokenID("e\u{301}"), "a String-keyed vocabulary would answer 6 (\"é\")")
        XCTAssertEqual(tokenizer.tokenID("é"), 6)
        XCTAssertEqual(tokenizer.decode([9]), "e\u{301}")
        XCTAssertTrue(tokenizer.decode([9]).unicodeScalars.elementsEqual("e\u{301}".unicodeScalars))
    }

    func testStreamingHoldsSplitCharactersBack() throws {
        let tokenizer = try smollm()
        let text = "🤖 says 你好"
        let ids = tokenizer.encode(text, addSpecial: false)
        var stream = StreamingDetokenizer(tokenizer: tokenizer)
        var pieces: [String] = []
        for id in ids { pieces.append(stream.append(id)) }
        pieces.append(stream.finish())
        XCTAssertEqual(pieces.joined(), text)
        XCTAssertTrue(pieces.contains(""), "the robot emoji spans several byte tokens, so some appends emit nothing")
        XCTAssertFalse(pieces.joined().contains("\u{FFFD}"))

        // A stream cut mid-character renders the tail as U+FFFD only at finish().
        var cut = StreamingDetokenizer(tokenizer: tokenizer)
        let robot = tokenizer.encode("🤖", addSpecial: false)
        XCTAssertGreaterThan(robot.count, 1)
        XCTAssertEqual(cut.append(robot[0]), "")
        XCTAssertGreaterThan(cut.pendingByteCount, 0)
        XCTAssertEqual(cut.finish(), tokenizer.decode([robot[0]]))
    }

    func testStreamingSkipsSpecialTokensWhenAsked() throws {
        let tokenizer = try smollm()
        let ids = tokenizer.encode("<|im_start|>assistant\nHello<|im_end|>", addSpecial: false)
        var stream = StreamingDetokenizer(tokenizer: tokenizer, skipSpecial: true)
        let text = ids.map { stream.append($0) }.joined() + stream.finish()
        XCTAssertEqual(text, "assistant\nHello")
    }

    // MARK: Loader errors

    private func ggufTokenizer(_ edit: (inout [String: GGUFValue]) -> Void) throws -> any TextTokenizer {
        let source = try GGUFFile(path: defaultModelPath())
        var metadata = source.metadata
        edit(&metadata)
        var writer = try GGUFWriter()
        for key in source.metadataKeys where key.hasPrefix("tokenizer.ggml.") {
            if let value = metadata[key] { try writer.set(key, value) }
        }
        for (key, value) in metadata where !source.metadataKeys.contains(key) { try writer.set(key, value) }
        let path = NSTemporaryDirectory() + "tok-\(UUID().uuidString).gguf"
        addTeardownBlock { try? FileManager.default.removeItem(atPath: path) }
        try writer.write(to: path)
        return try Tokenizers.load(gguf: GGUFFile(path: path))
    }

    private func assertLoadFails(
        containing fragment: String, file: StaticString = #filePath, line: UInt = #line,
        _ edit: (inout [String: GGUFValue]) -> Void
    ) {
        XCTAssertThrowsError(try ggufTokenizer(edit), file: file, line: line) { error in
            let message = (error as? TokenizerError)?.message ?? "\(error)"
            XCTAssertTrue(message.contains(fragment), "'\(message)' lacks '\(fragment)'", file: file, line: line)
        }
    }

    func testGGUFLoaderRejectsBadMetadata() {
        assertLoadFails(containing: "has no tokenizer.ggml.model") { $0["tokenizer.ggml.model"] = nil }
        assertLoadFails(containing: "tokenizer model 't5'") { $0["tokenizer.ggml.model"] = .string("t5") }
        assertLoadFails(containing: "pre-tokenizer 'chatglm-bpe'") { $0["tokenizer.ggml.pre"] = .string("chatglm-bpe") }
        assertLoadFails(containing: "has no tokenizer.ggml.pre") { $0["tokenizer.ggml.pre"] = nil }
        assertLoadFails(containing: "needs tokenizer.ggml.merges") { $0["tokenizer.ggml.merges"] = nil }
        assertLoadFails(containing: "merge #0 'nospace'") {
            $0["tokenizer.ggml.merges"] = .array([.string("nospace")])
        }
        assertLoadFails(containing: "token_type must be an array of 49152") {
            $0["tokenizer.ggml.token_type"] = .array([.int32(1)])
        }
        assertLoadFails(containing: "token_type[0] = int32(9)") {
            $0["tokenizer.ggml.token_type"] = .array(Array(repeating: .int32(9), count: 49152))
        }
        assertLoadFails(containing: "bos_token_id = uint32(50000)") {
            $0["tokenizer.ggml.bos_token_id"] = .uint32(50000)
        }
        assertLoadFails(containing: "tokenizer.ggml.tokens[0] is int32") {
            $0["tokenizer.ggml.tokens"] = .array([.int32(1)])
        }
    }

    func testTokenizerJSONLoaderRejectsUnsupportedComponents() throws {
        func load(_ json: String) throws -> any TextTokenizer {
            let directory = NSTemporaryDirectory() + "tokjson-\(UUID().uuidString)"
            try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
            addTeardownBlock { try? FileManager.default.removeItem(atPath: directory) }
            let path = directory + "/tokenizer.json"
            try json.write(toFile: path, atomically: true, encoding: .utf8)
            return try Tokenizers.load(tokenizerJSON: path)
        }
        func assertFails(_ json: String, _ fragment: String, line: UInt = #line) {
            XCTAssertThrowsError(try load(json), line: line) { error in
                let message = (error as? TokenizerError)?.message ?? "\(error)"
                XCTAssertTrue(message.contains(fragment), "'\(message)' lacks '\(fragment)'", line: line)
            }
        }
        assertFails(#"{"model": {"type": "Unigram", "vocab": []}}"#, "model type 'Unigram'")
        assertFails(#"{"model": {"type": "BPE", "vocab": {"a": 0}, "merges": []}, "pre_tokenizer": {"type": "Sequence", "pretokenizers": [{"type": "Split", "pattern": {"Regex": "\\w+"}}, {"type": "ByteLevel", "use_regex": false}]}}"#, "regex '\\w+'")
        assertFails(#"{"model": {"type": "BPE", "vocab": {"a": 0}}, "pre_tokenizer": {"type": "Whitespace"}}"#, "pre-tokenizer 'Whitespace' is not supported")
        assertFails(#"{"model": {"type": "BPE", "vocab": {"a": 0}, "merges": [1]}, "pre_tokenizer": {"type": "ByteLevel"}}"#, "merge #0")
        assertFails(#"{"model": {"type": "BPE", "vocab": {"a": 0}"#, "JSON: unterminated object")
        assertFails(#"{"model": {"type": "BPE", "vocab": {"a": "x"}}}"#, "vocab entry 'a'")

        // A minimal valid byte-level tokenizer.json with a BOS post-processor and a tokenizer_config.json EOS.
        let minimal = #"""
            {"added_tokens": [{"id": 4, "content": "<bos>", "special": true}, {"id": 5, "content": "<eot>", "special": true}],
             "model": {"type": "BPE", "vocab": {"a": 0, "b": 1, "ab": 2, "Ġ": 3}, "merges": ["a b"]},
             "pre_tokenizer": {"type": "ByteLevel", "add_prefix_space": false, "use_regex": true},
             "post_processor": {"type": "TemplateProcessing", "single": [{"SpecialToken": {"id": "<bos>", "type_id": 0}}, {"Sequence": {"id": "A", "type_id": 0}}]},
             "decoder": {"type": "ByteLevel"}}
            """#
        let tokenizer = try load(minimal)
        XCTAssertEqual(tokenizer.encode("ab ab<eot>", addSpecial: true), [4, 2, 3, 2, 5])
        XCTAssertEqual(tokenizer.bosToken, 4)
        XCTAssertEqual(tokenizer.decode([4, 2, 3, 2], skipSpecial: true), "ab ab")
        // Special tokens become text when parsing is off; user-defined added tokens are matched regardless.
        let withUserToken = minimal.replacingOccurrences(
            of: #"{"id": 5, "content": "<eot>", "special": true}"#,
            with: #"{"id": 5, "content": "<eot>", "special": true}, {"id": 11, "content": "abab", "special": false}"#)
        let userDefined = try load(withUserToken)
        XCTAssertEqual(userDefined.encode("ababab<eot>", addSpecial: false, parseSpecial: false).prefix(2), [11, 2])
        XCTAssertFalse(userDefined.encode("<eot>", addSpecial: false, parseSpecial: false).contains(5))
        XCTAssertEqual(userDefined.encode("<eot>", addSpecial: false, parseSpecial: true), [5])
        XCTAssertEqual(tokenizer.endOfTurnTokens, [], "no EOS is declared and <eot> is not a known end marker")

        // An NFC normalizer (Qwen 2) makes "e" + U+0301 and the precomposed "é" the same tokens.
        let nfc = minimal.replacingOccurrences(
            of: #""decoder""#, with: #""normalizer": {"type": "NFC"}, "decoder""#)
            .replacingOccurrences(of: #""Ġ": 3}"#, with: #""Ġ": 3, "Ã": 6, "©": 7, "e": 8, "Ì": 9, "ģ": 10}"#)
        let normalizing = try load(nfc)
        XCTAssertEqual(normalizing.encode("e\u{301}", addSpecial: false), [6, 7])
        XCTAssertEqual(normalizing.encode("é", addSpecial: false), [6, 7])
        XCTAssertEqual(tokenizer.encode("e\u{301}", addSpecial: false), [], "without NFC: bytes absent from the vocabulary")
    }
}

/// Seeded random text (any scalar, special-token fragments, long runs): encoding never crashes, byte-level
/// decoding is lossless, and the scan and heap merge paths agree with each other through round trips.
final class RandomTextTests: XCTestCase {
    private static func randomText(_ generator: inout SplitMix64) -> String {
        let fragments = ["<|im_end|>", "<|im_", "<s>", " ", "  ", "\n", "\r\n", "\t", "'s", "'LL", "é", "e\u{301}",
                         "🤖", "👨‍👩‍👧", "123456", "½", "\u{2028}", "\u{00A0}", "▁", "ab"]
        var text = ""
        for _ in 0..<Int.random(in: 0...40, using: &generator) {
            switch Int.random(in: 0..<4, using: &generator) {
            case 0:
                text += fragments[Int.random(in: 0..<fragments.count, using: &generator)]
            case 1:
                let run = Int.random(in: 1...120, using: &generator)
                text += String(repeating: ["a", " ", "7", "\n", "."][Int.random(in: 0..<5, using: &generator)], count: run)
            default:
                // Printable scalars up to plane 3, weighted towards the BMP (surrogates are not scalars). SmolLM2 has
                // no token for a few control bytes nor for the lead bytes of planes 4-12 (0xF1, 0xF2): those
                // characters are dropped, as llama.cpp and HF do (see testBytesWithoutTokensAreDropped).
                let limit: UInt32 = Bool.random(using: &generator) ? 0x3000 : 0x3FFFF
                if let scalar = Unicode.Scalar(UInt32.random(in: 0x20...limit, using: &generator)) {
                    text.unicodeScalars.append(scalar)
                }
            }
        }
        return text
    }

    func testRandomTextRoundTripsAndStreams() throws {
        let tokenizers: [any TextTokenizer] = [
            try Tokenizers.load(gguf: GGUFFile(path: defaultModelPath())),
            try Tokenizers.load(tokenizerJSON: Fixtures.path("bpe-llama3.tokenizer.json")),
        ]
        var generator = SplitMix64(state: 0x70CE_0001)
        for _ in 0..<400 {
            let text = Self.randomText(&generator)
            for tokenizer in tokenizers {
                let ids = tokenizer.encode(text, addSpecial: true)
                XCTAssertTrue(ids.allSatisfy { $0 >= 0 && Int($0) < tokenizer.vocabularySize })
                XCTAssertEqual(tokenizer.decode(ids, skipSpecial: false).utf8.count >= text.utf8.count, true)
                XCTAssertEqual(tokenizer.decode(tokenizer.encode(text, addSpecial: false)), text)
                var stream = StreamingDetokenizer(tokenizer: tokenizer)
                let streamed = ids.map { stream.append($0) }.joined() + stream.finish()
                XCTAssertEqual(streamed, tokenizer.decode(ids))
            }
        }
    }

    func testBytesWithoutTokensAreDropped() throws {
        let tokenizer = try Tokenizers.load(gguf: GGUFFile(path: defaultModelPath()))
        XCTAssertEqual(tokenizer.encode("\u{4}", addSpecial: false), [])
        // U+40000 is F1 80 80 80: the lead byte has no token, the continuation bytes do.
        let ids = tokenizer.encode("a\u{40000}b", addSpecial: false)
        XCTAssertFalse(ids.contains(0), "no <|endoftext|> (the declared unknown token) in place of missing bytes")
        XCTAssertEqual(ids, [81, 218, 218, 218, 82], "Hugging Face tokenizers' ids for the same text")
        // The three continuation bytes decode as three U+FFFD, as in a full decode by either reference.
        XCTAssertEqual(tokenizer.decode(ids), "a\u{FFFD}\u{FFFD}\u{FFFD}b")
    }

    func testSentencePieceSurvivesRandomText() throws {
        let tokenizers: [any TextTokenizer] = [
            try Tokenizers.load(gguf: GGUFFile(path: Fixtures.spmGGUF())),
            try Tokenizers.load(tokenizerJSON: Fixtures.path("spm.tokenizer.json")),
        ]
        var generator = SplitMix64(state: 0x70CE_0002)
        for _ in 0..<400 {
            let text = Self.randomText(&generator)
            for tokenizer in tokenizers {
                let ids = tokenizer.encode(text, addSpecial: false, parseSpecial: false)
                XCTAssertTrue(ids.allSatisfy { $0 >= 0 && Int($0) < tokenizer.vocabularySize })
                // Byte fallback makes SentencePiece lossless too, except that a literal ▁ in the input is the
                // space marker and decodes as a space (as in SentencePiece itself).
                var expected = String.UnicodeScalarView()
                expected.append(contentsOf: text.unicodeScalars.map { $0 == "\u{2581}" ? " " : $0 })
                XCTAssertEqual(tokenizer.decode(ids), String(expected))
            }
        }
    }
}

/// SplitMix64: a tiny seeded generator so that failures reproduce.
struct SplitMix64: RandomNumberGenerator {
    var state: UInt64
    mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }
}

/// One tokenizer instance serves every request of a worker: concurrent encodes (sharing the word cache) must give
/// the same ids as serial ones.
final class ConcurrencyTests: XCTestCase {
    func testConcurrentEncodingMatchesSerial() throws {
        let tokenizer = try Tokenizers.load(gguf: GGUFFile(path: defaultModelPath()))
        let lines = Array(Fixtures.corpus.prefix(600))
        let expected = try Fixtures.ids("smollm2-smollm.ids").prefix(600)
        let results = UnsafeMutableBufferPointer<[Int32]>.allocate(capacity: lines.count * 4)
        results.initialize(repeating: [])
        defer { results.deallocate() }
        DispatchQueue.concurrentPerform(iterations: 4) { worker in
            for (index, line) in lines.enumerated() {
                results[worker * lines.count + index] = tokenizer.encode(line, addSpecial: false)
            }
        }
        for worker in 0..<4 {
            XCTAssertEqual(Array(results[(worker * lines.count)..<((worker + 1) * lines.count)]), Array(expected))
        }
    }
}
