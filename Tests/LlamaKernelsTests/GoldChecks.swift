import Foundation
import LlamaKernels
import XCTest

/// The gold-reference checks (scripts/fixtures/llama_gold.py), shared by every format that carries the default
/// model's weights: GGUF itself and its lossless safetensors and MLX conversions, whose gold is the same.
enum GoldChecks {
    static func gold(_ name: String = "llama_gold.json") throws -> [String: Any] { try Fixture.json(name) }

    static func ints(_ any: Any?) throws -> [Int] { try XCTUnwrap(any as? [NSNumber]).map(\.intValue) }

    /// ≥ 2,000 teacher-forced tokens: top-1 agreement with gold ≥ 99.5% and perplexity within 0.1% of gold's.
    @discardableResult
    static func teacherForced(_ model: LlamaModel, label: String, fixture name: String = "llama_gold.json",
                              cacheType: KVCacheType = .f32, minimumAgreement: Double = 0.995,
                              file: StaticString = #filePath, line: UInt = #line) throws -> (agreement: Double, perplexity: Double) {
        let fixture = try gold(name)
        let tokens = try ints(fixture["tokens"]).map(Int32.init)
        let goldTop1 = try ints(fixture["top1"])
        let goldNLL = try XCTUnwrap(fixture["nll"] as? [NSNumber]).map(\.doubleValue)
        XCTAssertGreaterThanOrEqual(tokens.count, 2000, file: file, line: line)
        let vocab = model.config.vocabulary
        let sequence = try model.makeSequence(capacity: tokens.count, cacheType: cacheType)
        var agree = 0, nll = 0.0
        var start = 0
        while start < tokens.count {
            let end = min(tokens.count, start + 300)
            let logits = try model.forward([LlamaBatchEntry(sequence: sequence, input: .tokens(Array(tokens[start..<end])), logits: .all)])[0]
            XCTAssertEqual(logits.count, (end - start) * vocab, file: file, line: line)
            for i in start..<end {
                let row = logits[((i - start) * vocab)..<((i - start + 1) * vocab)]
                if argmax(row) == goldTop1[i] { agree += 1 }
                if i + 1 < tokens.count { nll += logSumExp(row) - Double(row[row.startIndex + Int(tokens[i + 1])]) }
            }
            start = end
        }
        let positions = tokens.count - 1
        let agreement = Double(agree) / Double(tokens.count)
        let perplexity = exp(nll / Double(positions))
        let goldPerplexity = exp(goldNLL[0..<positions].reduce(0, +) / Double(positions))
        print("gold check (\(label)): top-1 agreement \(agreement) over \(tokens.count) tokens, perplexity \(perplexity) vs gold \(goldPerplexity)")
        XCTAssertGreaterThanOrEqual(agreement, minimumAgreement, "\(label): top-1 agreement with the float64 reference", file: file, line: line)
        XCTAssertEqual(perplexity, goldPerplexity, accuracy: goldPerplexity * 0.001, "\(label): perplexity within 0.1% of gold",
                       file: file, line: line)
        return (agreement, perplexity)
    }

    /// Greedy 32-token continuations of 8 prompts: at least 7 identical to gold's.
    static func greedyContinuations(_ model: LlamaModel, label: String, fixture name: String = "llama_gold.json",
                                    cacheType: KVCacheType = .f32, atLeast: Int = 7,
                                    file: StaticString = #filePath, line: UInt = #line) throws {
        let fixture = try gold(name)
        let prompts = try XCTUnwrap(fixture["prompts"] as? [[String: Any]])
        XCTAssertEqual(prompts.count, 8, file: file, line: line)
        var identical = 0
        for (index, prompt) in prompts.enumerated() {
            let ids = try ints(prompt["prompt"]).map(Int32.init)
            let expected = try ints(prompt["continuation"])
            let sequence = try model.makeSequence(capacity: ids.count + expected.count + 1, cacheType: cacheType)
            var logits = try model.forward([LlamaBatchEntry(sequence: sequence, input: .tokens(ids), logits: .last)])[0]
            if index == 0, cacheType == .f32, let first = fixture["logits0"] as? [NSNumber] {
                for (i, v) in first.enumerated() {
                    XCTAssertEqual(logits[i], v.floatValue, accuracy: 0.02, "\(label): logit \(i)", file: file, line: line)
                }
            }
            var produced: [Int] = []
            for _ in 0..<expected.count {
                let next = argmax(logits[...])
                produced.append(next)
                logits = try model.forward([LlamaBatchEntry(sequence: sequence, input: .tokens([Int32(next)]), logits: .last)])[0]
            }
            if produced == expected { identical += 1 } else { print("\(label): prompt \(index) diverges: \(produced) vs gold \(expected)") }
        }
        print("gold check (\(label)): \(identical) of \(prompts.count) greedy continuations identical")
        XCTAssertGreaterThanOrEqual(identical, atLeast, "\(label): greedy continuations identical to gold", file: file, line: line)
    }
}
