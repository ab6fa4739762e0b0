import Foundation
import ModelFormats
import Tokenizer
import XCTest

/// Token ids identical to Hugging Face `tokenizers` over the committed corpus (fixtures from
/// scripts/fixtures/tokenizer_reference.py).
final class ReferenceTests: XCTestCase {
    func testDefaultModelMatchesHuggingFace() throws {
        let tokenizer = try Tokenizers.load(gguf: GGUFFile(path: defaultModelPath()))
        assertMatchesReference(tokenizer, ids: try Fixtures.ids("smollm2-smollm.ids"), label: "smollm")
    }

    func testLlama3PreTokenizerMatchesHuggingFace() throws {
        let tokenizer = try defaultModelTokenizer(pre: "llama-bpe", testCase: self)
        assertMatchesReference(tokenizer, ids: try Fixtures.ids("smollm2-llama-bpe.ids"), label: "llama-bpe")
    }

    func testQwen2PreTokenizerMatchesHuggingFace() throws {
        let tokenizer = try defaultModelTokenizer(pre: "qwen2", testCase: self)
        assertMatchesReference(tokenizer, ids: try Fixtures.ids("smollm2-qwen2.ids"), label: "qwen2")
    }

    func testGPT2PreTokenizerMatchesHuggingFace() throws {
        let tokenizer = try defaultModelTokenizer(pre: "gpt-2", testCase: self)
        assertMatchesReference(tokenizer, ids: try Fixtures.ids("smollm2-gpt2.ids"), label: "gpt2")
    }

    func testLlama3StyleTokenizerJSONMatchesHuggingFace() throws {
        let tokenizer = try Tokenizers.load(tokenizerJSON: Fixtures.path("bpe-llama3.tokenizer.json"))
        assertMatchesReference(tokenizer, ids: try Fixtures.ids("bpe-llama3.ids"), label: "bpe-llama3")
    }

    func testQwen2StyleTokenizerJSONMatchesHuggingFace() throws {
        let tokenizer = try Tokenizers.load(tokenizerJSON: Fixtures.path("bpe-qwen2.tokenizer.json"))
        let reference = try Fixtures.ids("bpe-qwen2.ids")
        XCTAssertNotEqual(reference, try Fixtures.ids("bpe-llama3.ids"), "the fixture must tell Qwen 2 from Llama 3")
        assertMatchesReference(tokenizer, ids: reference, label: "bpe-qwen2")
    }

    func testSentencePieceTokenizerJSONMatchesHuggingFace() throws {
        let tokenizer = try Tokenizers.load(tokenizerJSON: Fixtures.path("spm.tokenizer.json"))
        assertMatchesReference(tokenizer, ids: try Fixtures.ids("spm.ids"), label: "spm tokenizer.json")
    }

    func testSentencePieceGGUFMatchesHuggingFace() throws {
        let tokenizer = try Tokenizers.load(gguf: GGUFFile(path: Fixtures.spmGGUF()))
        assertMatchesReference(tokenizer, ids: try Fixtures.ids("spm.ids"), label: "spm GGUF")
    }

    func testAddSpecialMatchesHuggingFacePostProcessors() throws {
        let special = try Fixtures.special()
        let cases: [(String, any TextTokenizer)] = [
            ("spm", try Tokenizers.load(tokenizerJSON: Fixtures.path("spm.tokenizer.json"))),
            ("spm", try Tokenizers.load(gguf: GGUFFile(path: Fixtures.spmGGUF()))),
            ("bpe-llama3", try Tokenizers.load(tokenizerJSON: Fixtures.path("bpe-llama3.tokenizer.json"))),
        ]
        for (name, tokenizer) in cases {
            let expected = try XCTUnwrap(special[name])
            XCTAssertFalse(expected.isEmpty)
            for (text, ids) in expected {
                XCTAssertEqual(tokenizer.encode(text, addSpecial: true), ids, "\(name): \(text.debugDescription)")
            }
        }
    }

    // MARK: Decoding

    func testByteLevelDecodingRoundTrips() throws {
        let tokenizers: [any TextTokenizer] = [
            try Tokenizers.load(gguf: GGUFFile(path: defaultModelPath())),
            try Tokenizers.load(tokenizerJSON: Fixtures.path("bpe-llama3.tokenizer.json")),
        ]
        for tokenizer in tokenizers {
            for text in Fixtures.corpus {
                XCTAssertEqual(tokenizer.decode(tokenizer.encode(text, addSpecial: false)), text)
            }
        }
    }

    func testSentencePieceDecodingMatchesHuggingFace() throws {
        let expected = try Fixtures.jsonLines("spm.decoded.jsonl")
        let ids = try Fixtures.ids("spm.ids")
        XCTAssertEqual(expected.count, ids.count)
        for tokenizer in [
            try Tokenizers.load(tokenizerJSON: Fixtures.path("spm.tokenizer.json")),
            try Tokenizers.load(gguf: GGUFFile(path: Fixtures.spmGGUF())),
        ] {
            for (line, text) in zip(ids, expected) {
                XCTAssertEqual(tokenizer.decode(line), text)
            }
        }
    }

    /// Streaming output, completed by `finish()`, equals the full decode of every prefix of every corpus line, and
    /// never contains U+FFFD where the full text has none (no broken character is ever emitted).
    func testStreamingEqualsFullDecodeForEveryPrefix() throws {
        let cases: [(any TextTokenizer, [[Int32]])] = [
            (try Tokenizers.load(gguf: GGUFFile(path: defaultModelPath())), try Fixtures.ids("smollm2-smollm.ids")),
            (try Tokenizers.load(gguf: GGUFFile(path: Fixtures.spmGGUF())), try Fixtures.ids("spm.ids")),
        ]
        for (tokenizer, corpusIDs) in cases {
            for ids in corpusIDs {
                var stream = StreamingDetokenizer(tokenizer: tokenizer)
                var streamed = ""
                for count in 1...max(ids.count, 1) where !ids.isEmpty {
                    let piece = stream.append(ids[count - 1])
                    streamed += piece
                    var copy = stream
                    let full = tokenizer.decode(Array(ids[..<count]))
                    XCTAssertEqual(streamed + copy.finish(), full)
                    if !full.contains("\u{FFFD}") { XCTAssertFalse(piece.contains("\u{FFFD}")) }
                }
            }
        }
    }
}
