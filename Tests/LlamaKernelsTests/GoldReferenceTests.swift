import Foundation
import LlamaKernels
import XCTest

/// The forward pass on the default model against the float64 numpy gold reference
/// (scripts/fixtures/llama_gold.py): float32-class accuracy is the requirement, not closeness to llama.cpp.
final class GoldReferenceTests: XCTestCase {
    func testTeacherForcedTop1AndPerplexity() throws {
        let (_, model) = try TestModel.load()
        try GoldChecks.teacherForced(model, label: "gguf")
        if let peer = try? Fixture.json("llama_cpp_reference.json") {
            // For comparison only (scripts/fixtures/llama_cpp_reference.py): llama.cpp on the same tokens.
            print("gold check, llama.cpp: top-1 agreement \(peer["top1_agreement"] ?? "?"), perplexity \(peer["perplexity"] ?? "?"), "
                  + "greedy continuations identical \(peer["greedy_identical"] ?? "?") of \(peer["greedy_prompts"] ?? "?")")
        }
    }

    func testGreedyContinuations() throws {
        let (_, model) = try TestModel.load()
        try GoldChecks.greedyContinuations(model, label: "gguf")
    }

    /// Several sequences in one call (batched decode) give the same logits as running each alone.
    func testBatchedDecodeMatchesSeparateRuns() throws {
        let (_, model) = try TestModel.load()
        let prompts: [[Int32]] = [[1, 4093, 198, 1780, 314, 260], [504, 14434, 282], [28, 29, 30, 31, 32, 33, 34]]
        var alone: [[Float]] = []
        for p in prompts {
            let s = try model.makeSequence(capacity: 16)
            _ = try model.forward([LlamaBatchEntry(sequence: s, input: .tokens(p), logits: .none)])
            alone.append(try model.forward([LlamaBatchEntry(sequence: s, input: .tokens([42]), logits: .last)])[0])
        }
        let sequences = try prompts.map { _ in try model.makeSequence(capacity: 16) }
        _ = try model.forward(zip(sequences, prompts).map { LlamaBatchEntry(sequence: $0, input: .tokens($1), logits: .none) })
        let together = try model.forward(sequences.map { LlamaBatchEntry(sequence: $0, input: .tokens([42]), logits: .last) })
        for i in prompts.indices {
            XCTAssertEqual(sequences[i].count, prompts[i].count + 1)
            // Not bitwise: the prompts were prefilled apart (small rows) and together (one large matrix product).
            let diff = zip(alone[i], together[i]).map { abs($0 - $1) }.max()!
            XCTAssertLessThan(diff, 1e-3, "sequence \(i)")
            XCTAssertEqual(argmax(alone[i][...]), argmax(together[i][...]))
        }
    }

    /// Attention hands its work out by block for a few rows (decode steps) and by row for more; both compute the same
    /// 128-position blocks and combine them in the same order, so a row gets the same bits either way. Here the next
    /// token after 300 positions (three blocks) is computed beside 3 rows of another sequence (4 rows: by block),
    /// then beside 20 (21 rows: by row). From `MatMul.gemmRows` rows on, a row's products do not depend on the
    /// rows beside it, so the logits must be identical.
    func testAttentionGivesTheSameBitsHandedOutByBlockOrByRow() throws {
        let (_, model) = try TestModel.load()
        XCTAssertEqual(MatMul.gemmRows, 4, "the row counts below assume it")
        let context: [Int32] = (0..<300).map { Int32(256 + ($0 * 37) % 4000) }
        let s = try model.makeSequence(capacity: 320)
        _ = try model.forward([LlamaBatchEntry(sequence: s, input: .tokens(context), logits: .none)])
        var results: [[Float]] = []
        for besides in [3, 20] {
            try s.truncate(to: context.count)
            let other = try model.makeSequence(capacity: 32)
            results.append(try model.forward([
                LlamaBatchEntry(sequence: s, input: .tokens([42]), logits: .last),
                LlamaBatchEntry(sequence: other, input: .tokens(Array(context[0..<besides])), logits: .none),
            ])[0])
        }
        XCTAssertEqual(results[0].count, model.config.vocabulary)
        XCTAssertTrue(results[0] == results[1],
                      "max difference \(zip(results[0], results[1]).map { abs($0 - $1) }.max()!)")
    }

    func testTruncateReplaysTheSameLogits() throws {
        let (_, model) = try TestModel.load()
        let s = try model.makeSequence(capacity: 8)
        let first = try model.forward([LlamaBatchEntry(sequence: s, input: .tokens([504, 14434, 282]), logits: .last)])[0]
        _ = try model.forward([LlamaBatchEntry(sequence: s, input: .tokens([99, 100]), logits: .none)])
        try s.truncate(to: 2)
        let again = try model.forward([LlamaBatchEntry(sequence: s, input: .tokens([282]), logits: .last)])[0]
        XCTAssertEqual(s.count, 3)
        XCTAssertLessThan(zip(first, again).map { abs($0 - $1) }.max()!, 1e-3)
    }

    /// A copied prefix (a shared system prompt) continues exactly as the sequence it came from, whose state stays
    /// intact; the copy may be larger than the source and may cut inside a key tile.
    func testCopiedPrefixContinuesLikeItsSource() throws {
        let (_, model) = try TestModel.load()
        let prompt: [Int32] = [504, 14434, 282, 7, 1000, 2000, 3000, 4000, 5000, 6000, 7000, 8000, 9000]
        let source = try model.makeSequence(capacity: 16)
        let direct = try model.forward([LlamaBatchEntry(sequence: source, input: .tokens(prompt), logits: .last)])[0]
        for shared in [0, 3, 8, 9] {
            let copy = try model.makeSequence(capacity: 64)
            _ = try model.forward([LlamaBatchEntry(sequence: copy, input: .tokens([42, 43, 44]), logits: .none)])
            try copy.copy(from: source, count: shared)
            XCTAssertEqual(copy.count, shared)
            let continued = try model.forward([LlamaBatchEntry(sequence: copy, input: .tokens(Array(prompt[shared...])),
                                                               logits: .last)])[0]
            XCTAssertLessThan(zip(direct, continued).map { abs($0 - $1) }.max()!, 1e-3, "shared \(shared)")
        }
        XCTAssertEqual(source.count, prompt.count)
        let again = try model.forward([LlamaBatchEntry(sequence: source, input: .tokens([11]), logits: .last)])[0]
        XCTAssertTrue(again.allSatisfy(\.isFinite))
        XCTAssertThrowsError(try model.makeSequence(capacity: 8).copy(from: source, count: 9), "over the capacity")
        XCTAssertThrowsError(try source.copy(from: source, count: 2), "onto itself")
    }

    func testRejectsBadInputWithoutChangingState() throws {
        let (_, model) = try TestModel.load()
        let s = try model.makeSequence(capacity: 4)
        XCTAssertThrowsError(try model.forward([LlamaBatchEntry(sequence: s, input: .tokens([1, 49_152]), logits: .last)])) {
            XCTAssertEqual($0 as? LlamaModelError, .tokenOutOfRange(token: 49_152, vocabulary: 49_152))
        }
        XCTAssertThrowsError(try model.forward([LlamaBatchEntry(sequence: s, input: .tokens([1, 2, 3, 4, 5]), logits: .last)]))
        XCTAssertThrowsError(try model.forward([LlamaBatchEntry(sequence: s, input: .tokens([]), logits: .last)]))
        XCTAssertThrowsError(try model.forward([LlamaBatchEntry(sequence: s, input: .embeddings([1, 2, 3]), logits: .last)]))
        XCTAssertThrowsError(try model.makeSequence(capacity: 1_000_000))
        XCTAssertEqual(s.count, 0)
    }
}
