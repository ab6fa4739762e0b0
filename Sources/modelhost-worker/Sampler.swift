import Foundation
import WorkerProtocol

/// Chooses the next token from one row of logits. The engine core's full sampler (top-p, penalties, grammars) will
/// replace this; the decode loop only depends on `next(from:)`.
struct Sampler {
    private let sampling: Sampling
    private var random: SplitMix64

    init(_ sampling: Sampling) {
        self.sampling = sampling
        if case .temperature(_, let seed) = sampling {
            random = SplitMix64(seed: seed)
        } else {
            random = SplitMix64(seed: 0)
        }
    }

    mutating func next(from logits: [Float]) -> Int32 {
        switch sampling {
        case .greedy:
            return Self.argmax(logits)
        case .temperature(let temperature, _):
            guard temperature > 0, temperature.isFinite else { return Self.argmax(logits) }
            let top = logits.max() ?? 0
            var weights = logits.map { Double(($0 - top) / temperature) }
            var total = 0.0
            for i in weights.indices {
                weights[i] = weights[i].isFinite ? exp(weights[i]) : 0
                total += weights[i]
            }
            guard total > 0 else { return Self.argmax(logits) }
            var target = random.nextUnit() * total
            for (i, weight) in weights.enumerated() {
                target -= weight
                if target < 0 { return Int32(i) }
            }
            return Self.argmax(logits)
        }
    }

    /// The index of the largest logit; the lowest index on ties, so greedy output is reproducible.
    static func argmax(_ logits: [Float]) -> Int32 {
        var best = 0
        var bestValue = -Float.infinity
        for (i, value) in logits.enumerated() where value > bestValue {
            best = i
            bestValue = value
        }
        return Int32(best)
    }
}

/// A tiny seeded generator (SplitMix64): the same seed gives the same draws in every process.
struct SplitMix64 {
    private var state: UInt64

    init(seed: UInt64) { state = seed }

    mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }

    /// Uniform in [0, 1).
    mutating func nextUnit() -> Double { Double(next() >> 11) / Double(1 << 53) }
}
