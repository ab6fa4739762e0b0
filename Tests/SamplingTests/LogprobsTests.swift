import Foundation
import Sampling
import XCTest

final class LogprobsTests: XCTestCase {
    typealias S = SamplerTestSupport

    /// Float64 log-softmax, the reference.
    private func referenceLogSoftmax(_ logits: [Float]) -> [Double] {
        let maximum = Double(logits.filter { $0.isFinite }.max()!)
        let total = logits.reduce(0.0) { $0 + ($1.isFinite ? Foundation.exp(Double($1) - maximum) : 0) }
        let logTotal = Foundation.log(total)
        return logits.map { $0.isFinite ? Double($0) - maximum - logTotal : -.infinity }
    }

    func testMatchesFloat64LogSoftmaxOnAFullRow() {
        for (seed, spread) in [(1, 3), (2, 0.2), (3, 12)] as [(UInt64, Float)] {
            var row = S.randomRow(count: 49_152, seed: seed, spread: spread)
            row[5] = -.infinity
            let reference = referenceLogSoftmax(row)
            for chosen in [0, 5, 1234, 49_151] as [Int32] {
                let result = row.withUnsafeBufferPointer { logprobs(of: $0, chosen: chosen, top: 5) }
                XCTAssertEqual(result.token, chosen)
                if chosen == 5 {
                    XCTAssertEqual(result.logprob, -.infinity)
                } else {
                    XCTAssertEqual(Double(result.logprob), reference[Int(chosen)], accuracy: 1e-4, "seed \(seed)")
                }
            }
            let result = row.withUnsafeBufferPointer { logprobs(of: $0, chosen: 0, top: 20) }
            let expectedIds = S.rankedIds(row).prefix(20).map(Int32.init)
            XCTAssertEqual(result.top.map(\.token), expectedIds)
            for entry in result.top {
                XCTAssertEqual(Double(entry.logprob), reference[Int(entry.token)], accuracy: 1e-4)
            }
        }
    }

    func testTopIsSortedDescendingWithTiesToTheLowerId() {
        let logits: [Float] = [1, 5, 3, 5, -.infinity, 3, 0, 5]
        let result = logits.withUnsafeBufferPointer { logprobs(of: $0, chosen: 6, top: 5) }
        XCTAssertEqual(result.top.map(\.token), [1, 3, 7, 2, 5])
        XCTAssertEqual(result.top[0].logprob, result.top[2].logprob)
        let reference = referenceLogSoftmax(logits)
        XCTAssertEqual(Double(result.logprob), reference[6], accuracy: 1e-5)
        // More alternatives asked than there are unmasked tokens: masked ones never appear.
        let all = logits.withUnsafeBufferPointer { logprobs(of: $0, chosen: 6, top: 10) }
        XCTAssertEqual(all.top.map(\.token), [1, 3, 7, 2, 5, 0, 6])
        let none = logits.withUnsafeBufferPointer { logprobs(of: $0, chosen: 6, top: 0) }
        XCTAssertEqual(none.top, [])
        XCTAssertEqual(none.logprob, result.logprob)
    }

    /// Logprobs describe the raw row: the sampler's transforms (which work on a scratch copy) must not leak in.
    func testDescribesTheRawRowNotTheSamplersTransforms() {
        let raw: [Float] = [2, 1, 0]
        var p = SamplingParameters(); p.logitBias = [0: -100]; p.temperature = 0
        var sampler = TokenSampler(parameters: p, vocabularySize: 3, promptTokens: [])
        let token = S.draw(&sampler, raw)
        XCTAssertEqual(token, 1)
        let result = raw.withUnsafeBufferPointer { logprobs(of: $0, chosen: token, top: 1) }
        XCTAssertEqual(result.top.first?.token, 0)
        XCTAssertEqual(Double(result.logprob), referenceLogSoftmax(raw)[1], accuracy: 1e-6)
    }
}

extension LogprobsTests {
    func testChosenOutsideTheRowReportsMinusInfinityInsteadOfTrapping() {
        let logits: [Float] = [1, 2, 3]
        let result = logits.withUnsafeBufferPointer { logprobs(of: $0, chosen: TokenSampler.noCandidate, top: 2) }
        XCTAssertEqual(result.logprob, -.infinity)
        XCTAssertEqual(result.top.map(\.token), [2, 1])
    }
}
