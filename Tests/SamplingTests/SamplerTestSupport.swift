import Foundation
import Sampling
import XCTest

/// Helpers shared by the sampling tests: rows of logits, repeated draws, and float64 references.
enum SamplerTestSupport {
    /// Runs `sample` on a scratch copy of `logits` (as the worker will), so the caller's row stays intact.
    static func draw(_ sampler: inout TokenSampler, _ logits: [Float]) -> Int32 {
        var scratch = logits
        return scratch.withUnsafeMutableBufferPointer { sampler.sample($0) }
    }

    /// Draws `count` tokens from fresh samplers over the same row, one seed each (so the draws are independent).
    static func drawMany(_ parameters: SamplingParameters, _ logits: [Float], count: Int,
                         firstSeed: UInt64 = 1) -> [Int32] {
        (0..<count).map { index in
            var p = parameters
            p.seed = firstSeed &+ UInt64(index)
            var sampler = TokenSampler(parameters: p, vocabularySize: logits.count, promptTokens: [])
            return draw(&sampler, logits)
        }
    }

    /// Draws `count` tokens from one sampler over the same row (its generator advances each time; no accept).
    static func drawSequence(_ parameters: SamplingParameters, _ logits: [Float], count: Int) -> [Int32] {
        var sampler = TokenSampler(parameters: parameters, vocabularySize: logits.count, promptTokens: [])
        return (0..<count).map { _ in draw(&sampler, logits) }
    }

    /// A row of `count` roughly Gaussian logits (Irwin–Hall of 4 uniforms, scaled), from a fixed seed.
    static func randomRow(count: Int, seed: UInt64, spread: Float = 3) -> [Float] {
        var random = Xoshiro256StarStar(seed: seed)
        return (0..<count).map { _ in
            var s = 0.0
            for _ in 0..<4 { s += random.nextUnit() }
            return Float((s - 2) * 1.732) * spread
        }
    }

    /// Logits whose softmax is exactly `probabilities` (log p).
    static func logits(forProbabilities probabilities: [Double]) -> [Float] {
        probabilities.map { Float(Foundation.log($0)) }
    }

    /// Float64 softmax of `logits` at `temperature` (masked entries get 0).
    static func softmax(_ logits: [Float], temperature: Double = 1) -> [Double] {
        let finite = logits.filter { $0.isFinite }
        let maximum = Double(finite.max() ?? 0)
        let weights = logits.map { $0.isFinite ? Foundation.exp((Double($0) - maximum) / temperature) : 0 }
        let total = weights.reduce(0, +)
        return weights.map { $0 / total }
    }

    static func histogram(_ tokens: [Int32], size: Int) -> [Int] {
        var counts = [Int](repeating: 0, count: size)
        for token in tokens { counts[Int(token)] += 1 }
        return counts
    }

    /// Pearson's chi-square statistic of observed counts against expected probabilities.
    static func chiSquare(_ observed: [Int], _ expected: [Double]) -> Double {
        let total = Double(observed.reduce(0, +))
        var statistic = 0.0
        for (count, p) in zip(observed, expected) where p > 0 {
            let e = p * total
            statistic += (Double(count) - e) * (Double(count) - e) / e
        }
        return statistic
    }

    /// Token ids sorted by descending logit, ties by lower id (the sampler's order), in float64.
    static func rankedIds(_ logits: [Float]) -> [Int] {
        logits.indices.filter { logits[$0].isFinite }
            .sorted { logits[$0] > logits[$1] || (logits[$0] == logits[$1] && $0 < $1) }
    }

    /// The set the llama.cpp order allows: top_k, then top_p on the renormalised survivors, then min_p, in float64.
    static func referenceAllowedSet(_ logits: [Float], topK: Int, topP: Double, minP: Double) -> Set<Int> {
        var ranked = rankedIds(logits)
        if topK > 0 { ranked = Array(ranked.prefix(topK)) }
        let maximum = Double(logits[ranked[0]])
        let weights = ranked.map { Foundation.exp(Double(logits[$0]) - maximum) }
        if topP < 1 {
            // Without top_k the mass is the whole row's.
            let total = topK > 0 ? weights.reduce(0, +)
                : logits.filter { $0.isFinite }.map { Foundation.exp(Double($0) - maximum) }.reduce(0, +)
            var cumulative = 0.0
            var keep = ranked.count
            for (i, w) in weights.enumerated() {
                cumulative += w
                if cumulative >= topP * total { keep = i + 1; break }
            }
            ranked = Array(ranked.prefix(keep))
        }
        if minP > 0 {
            ranked = Array(ranked.prefix { Foundation.exp(Double(logits[$0]) - maximum) >= minP })
            if ranked.isEmpty { ranked = [rankedIds(logits)[0]] }
        }
        return Set(ranked)
    }
}
