#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#elseif canImport(Darwin)
import Darwin
#endif

/// One token and its log-probability (a struct rather than a tuple so that `TokenLogprobs` can be Equatable).
public struct TokenLogprob: Sendable, Equatable {
    public var token: Int32
    public var logprob: Float

    public init(token: Int32, logprob: Float) {
        self.token = token
        self.logprob = logprob
    }
}

/// Log-probabilities of the model's raw distribution (log-softmax of the raw logits, before any sampler transform),
/// as OpenAI's `logprobs` reports them: the chosen token's logprob and the `top` most likely alternatives (sorted,
/// descending; ties by lower id).
public struct TokenLogprobs: Sendable, Equatable {
    public var token: Int32
    public var logprob: Float
    public var top: [TokenLogprob]

    public init(token: Int32, logprob: Float, top: [TokenLogprob]) {
        self.token = token
        self.logprob = logprob
        self.top = top
    }
}

/// Computes `TokenLogprobs` for one raw row: a SIMD pass for the maximum, one for Σ exp (in Double per 512-entry
/// block), and a `top`-entry heap; nothing is sorted but the `top` results. Masked (-infinity) and NaN entries have
/// logprob -infinity and never appear in `top`. A +infinity logit takes all the mass (shared among such tokens).
///
/// A `chosen` id outside the row (e.g. `TokenSampler.noCandidate`) gets logprob -infinity rather than a trap: a
/// worker must not die over a report.
public func logprobs(of logits: UnsafeBufferPointer<Float>, chosen: Int32, top: Int) -> TokenLogprobs {
    let maximum = RowMath.maximum(logits)
    var best = CandidateList()
    if top > 0 { CandidateSelection.top(top, of: logits, into: &best) }

    let logprob: (Float) -> Float
    if maximum == .infinity {
        var count = 0
        for value in logits where value == .infinity { count += 1 }
        let shared = -Float(log(Double(count)))
        logprob = { $0 == .infinity ? shared : -.infinity }
    } else if maximum == -.infinity {
        logprob = { _ in -.infinity }
    } else {
        let logTotal = Float(log(RowMath.sumOfExponentials(logits, shift: maximum)))
        logprob = { $0.isNaN ? -.infinity : ($0 - maximum) - logTotal }
    }
    let chosenLogit = chosen >= 0 && Int(chosen) < logits.count ? logits[Int(chosen)] : -.infinity
    return TokenLogprobs(token: chosen, logprob: logprob(chosenLogit),
                         top: best.withActive { $0.map { TokenLogprob(token: $0.id, logprob: logprob($0.logit)) } })
}
