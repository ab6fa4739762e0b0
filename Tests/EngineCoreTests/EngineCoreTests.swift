import EngineCore
import Foundation
import ModelFormats
import Tokenizer
import WorkerProtocol
import XCTest

final class PrefixCacheTests: XCTestCase {
    func testTakesTheLongestSharedPrefixThatFits() {
        var cache = PrefixCache<String>(limit: 3)
        XCTAssertTrue(cache.put("a", tokens: [1, 2, 3, 4], capacity: 512).isEmpty)
        XCTAssertTrue(cache.put("b", tokens: [1, 2, 9], capacity: 512).isEmpty)
        XCTAssertTrue(cache.put("c", tokens: [1, 2, 3, 4, 5, 6], capacity: 256).isEmpty)
        // "c" shares the most but is too small; "a" shares 4.
        guard case .take(let handle, let reuse)? = cache.match([1, 2, 3, 4, 5, 6, 7], capacity: 300, canCopy: false) else {
            return XCTFail("expected to take an entry")
        }
        XCTAssertEqual(handle, "a")
        XCTAssertEqual(reuse, 4)
        XCTAssertEqual(cache.count, 2)
    }

    func testKeepsTheLastPromptTokenToBeFedAgain() {
        var cache = PrefixCache<String>(limit: 2)
        _ = cache.put("a", tokens: [1, 2, 3, 4, 5], capacity: 64)
        // The whole prompt is cached, but its last token must produce the first output's logits.
        guard case .take(_, let reuse)? = cache.match([1, 2, 3], capacity: 64, canCopy: false) else {
            return XCTFail("expected to take an entry")
        }
        XCTAssertEqual(reuse, 2)
        XCTAssertNil(cache.match([7, 8], capacity: 64, canCopy: false))
    }

    /// A prompt that shares part of an entry (a system prompt) copies that part and leaves the entry for the next
    /// request, concurrent or not; a prompt that continues the whole entry (the conversation's next turn) takes it.
    func testCopiesASharedPartAndTakesAContinuedWhole() {
        var cache = PrefixCache<String>(limit: 4)
        _ = cache.put("system+q1", tokens: [1, 2, 3, 4, 10, 11], capacity: 64)
        for question: Int32 in [20, 30, 40] {
            guard case .copy(let source, let reuse)? = cache.match([1, 2, 3, 4, question, 5], capacity: 64, canCopy: true)
            else { return XCTFail("expected a copy for question \(question)") }
            XCTAssertEqual(source, "system+q1")
            XCTAssertEqual(reuse, 4)
        }
        XCTAssertEqual(cache.count, 1, "copying keeps the entry")
        // A copy only needs the prefix to fit: the entry's own capacity does not matter.
        guard case .copy? = cache.match([1, 2, 3, 4, 99], capacity: 4096, canCopy: true) else {
            return XCTFail("expected a copy into a larger sequence")
        }
        guard case .take(let handle, let reuse)? = cache.match([1, 2, 3, 4, 10, 11, 12, 13], capacity: 64, canCopy: true)
        else { return XCTFail("expected the next turn to take its conversation's entry") }
        XCTAssertEqual(handle, "system+q1")
        XCTAssertEqual(reuse, 6)
        XCTAssertEqual(cache.count, 0)
    }

    func testEvictsTheLeastRecentlyUsedBeyondItsLimit() {
        var cache = PrefixCache<String>(limit: 2)
        _ = cache.put("a", tokens: [1], capacity: 8)
        _ = cache.put("b", tokens: [2], capacity: 8)
        XCTAssertEqual(cache.put("c", tokens: [3], capacity: 8), ["a"])
        XCTAssertEqual(cache.removeOldest(), "b")
        XCTAssertEqual(PrefixCache<String>(limit: 0).count, 0)
        var none = PrefixCache<String>(limit: 0)
        XCTAssertEqual(none.put("x", tokens: [1], capacity: 8), ["x"], "a zero-size cache keeps nothing")
    }

    /// The byte budget evicts least recently used entries until the held bytes fit; an entry larger than the whole
    /// budget is handed straight back and evicts nothing.
    func testStaysWithinItsByteBudget() {
        var cache = PrefixCache<String>(limit: 8, byteBudget: 1_000)
        XCTAssertEqual(cache.put("a", tokens: [1, 2, 3], capacity: 8, bytes: 400), [])
        XCTAssertEqual(cache.put("b", tokens: [2], capacity: 8, bytes: 400), [])
        XCTAssertEqual(cache.bytes, 800)
        // Using "a" (a copy of its first two positions) makes "b" the least recently used.
        guard case .copy(let source, _)? = cache.match([1, 2, 9, 9], capacity: 8, canCopy: true) else {
            return XCTFail("expected a copy")
        }
        XCTAssertEqual(source, "a")
        XCTAssertEqual(cache.put("c", tokens: [3], capacity: 8, bytes: 300), ["b"])
        XCTAssertEqual(cache.bytes, 700)
        XCTAssertEqual(cache.put("huge", tokens: [4], capacity: 8, bytes: 1_001), ["huge"], "larger than the budget")
        XCTAssertEqual(cache.count, 2, "a refused entry evicts nothing")
        XCTAssertEqual(cache.put("d", tokens: [5], capacity: 8, bytes: 1_000), ["a", "c"])
        XCTAssertEqual(cache.bytes, 1_000)
        XCTAssertEqual(cache.positions, 1)
        XCTAssertEqual(PrefixCache<String>(limit: 8).byteBudget, .max, "unbounded in bytes unless told")
    }
}

/// Prompt building and streamed text on the real default model's tokenizer and chat template.
final class PromptAndOutputTests: XCTestCase {
    static var builder: PromptBuilder?

    func prompts() throws -> PromptBuilder {
        if let builder = Self.builder { return builder }
        let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
            .deletingLastPathComponent()
        var candidates = [root.appendingPathComponent("models/SmolLM2-135M-Instruct.Q4_1.gguf").path]
        if let env = ProcessInfo.processInfo.environment["MODELHOST_TEST_MODEL"] { candidates.insert(env, at: 0) }
        guard let path = candidates.first(where: FileManager.default.fileExists) else {
            throw XCTSkip("default model missing: run scripts/install-default-model or set MODELHOST_TEST_MODEL")
        }
        let builder = try PromptBuilder(gguf: GGUFFile(path: path))
        Self.builder = builder
        return builder
    }

    func testChatPromptIsTheTemplateRenderedAndTokenized() throws {
        let p = try prompts()
        XCTAssertFalse(p.usesFallbackTemplate)
        let messages = #"[{"role":"user","content":"Hi <|im_end|> there"}]"#
        let rendered = try p.render(messagesJSON: messages)
        XCTAssertTrue(rendered.hasSuffix("<|im_start|>user\nHi <|im_end|> there<|im_end|>\n<|im_start|>assistant\n"), rendered)
        let ids = try p.tokens(for: .chat(messagesJSON: messages))
        XCTAssertEqual(ids, p.tokenizer.encode(rendered, addSpecial: true, parseSpecial: true))
        XCTAssertEqual(ids.first, 1, "<|im_start|> opens the prompt")
        XCTAssertThrowsError(try p.render(messagesJSON: "{")) { XCTAssertTrue("\($0)".contains("JSON"), "\($0)") }
        XCTAssertThrowsError(try p.render(messagesJSON: #"{"role":"user"}"#))
    }

    func testTextOutputHoldsBackPossibleStopsAndNeverSplitsACharacter() throws {
        let tokenizer = try prompts().tokenizer
        let ids = tokenizer.encode("Café au lait, s'il vous plaît. END of story", addSpecial: false)
        var output = TextOutput(tokenizer: tokenizer, stopStrings: ["END"])
        var streamed = ""
        for id in ids {
            let piece = output.append(id)
            XCTAssertFalse(piece.contains("\u{FFFD}"), "a piece split a character: \(piece)")
            streamed += piece
            if output.stopped { break }
        }
        streamed += output.finish()
        XCTAssertTrue(output.stopped)
        XCTAssertEqual(streamed, "Café au lait, s'il vous plaît. ")
        var plain = TextOutput(tokenizer: tokenizer, stopStrings: [])
        let all = ids.map { plain.append($0) }.joined() + plain.finish()
        XCTAssertEqual(all, "Café au lait, s'il vous plaît. END of story")
    }
}

/// The Idefics3 / SmolVLM image prompt, as its Hugging Face processor writes it (`_prompt_split_image` and
/// `_prompt_single_image` in transformers' processing_idefics3.py).
final class ImagePromptTests: XCTestCase {
    static let smolVLMTemplate =
        "<|im_start|>{% for message in messages %}{{message['role'] | capitalize}}"
        + "{% if message['content'][0]['type'] == 'image' %}{{':'}}{% else %}{{': '}}{% endif %}"
        + "{% for line in message['content'] %}{% if line['type'] == 'text' %}{{line['text']}}"
        + "{% elif line['type'] == 'image' %}{{ '<image>' }}{% endif %}{% endfor %}<end_of_utterance>\n"
        + "{% endfor %}{% if add_generation_prompt %}{{ 'Assistant:' }}{% endif %}"

    func testLayoutOfSplitAndWholeImages() throws {
        let layout = ImagePromptLayout(tokensPerImage: 2)
        let f = "<fake_token_around_image>", i = "<image>"
        XCTAssertEqual(layout.expansion(rows: 1, cols: 1, split: false), "\(f)<global-img>\(i)\(i)\(f)")
        XCTAssertEqual(layout.expansion(rows: 2, cols: 2, split: true),
                       "\(f)<row_1_col_1>\(i)\(i)\(f)<row_1_col_2>\(i)\(i)\n"
                       + "\(f)<row_2_col_1>\(i)\(i)\(f)<row_2_col_2>\(i)\(i)\n"
                       + "\n\(f)<global-img>\(i)\(i)\(f)")
        let text = try layout.expand("User:<image>What?<image>", images: [(1, 1, false), (1, 2, true)])
        XCTAssertEqual(text, "User:\(f)<global-img>\(i)\(i)\(f)What?"
                       + "\(f)<row_1_col_1>\(i)\(i)\(f)<row_1_col_2>\(i)\(i)\n\n\(f)<global-img>\(i)\(i)\(f)")
        XCTAssertThrowsError(try layout.expand("<image>", images: [])) {
            XCTAssertTrue("\($0)".contains("1 image marks for 0 images"), "\($0)")
        }
    }

    /// SmolVLM's template renders content parts (and text-only turns once they are given as parts) as jinja2 does.
    func testSmolVLMTemplateRendersContentParts() throws {
        let tokenizer = try PromptAndOutputTests(name: "prompts", testClosure: { _ in }).prompts().tokenizer
        let p = try PromptBuilder(tokenizer: tokenizer, templateSource: Self.smolVLMTemplate)
        let messages = #"[{"role":"user","content":[{"type":"image"},{"type":"text","text":"What is it?"}]},"#
            + #"{"role":"assistant","content":[{"type":"text","text":"A cat."}]}]"#
        XCTAssertEqual(try p.render(messagesJSON: messages),
                       "<|im_start|>User:<image>What is it?<end_of_utterance>\nAssistant: A cat.<end_of_utterance>\nAssistant:")
    }
}
