/// Chooses each next token of one sequence from the model's logits, and remembers what the penalties need.
///
/// The order is llama.cpp's default chain: logit_bias → repetition penalty → presence/frequency penalties → top_k →
/// top_p → min_p → temperature → draw. So top_p and min_p are computed on the distribution at temperature 1 (after
/// penalties and top_k), and temperature only reshapes what survived the cuts; vLLM instead applies temperature first,
/// which lets a high temperature widen the top_p set. We follow llama.cpp because its users' settings (and the GGUF
/// models we serve) were tuned against it, and because a cut that does not move with temperature is easier to
/// reason about. Details of each step:
/// - top_k keeps the k highest logits, ties to the lower id; top_p keeps the smallest prefix (by probability, then
///   id) whose probability renormalised over the top_k survivors (or over the whole row without top_k) reaches p,
///   always at least one token; min_p keeps tokens with probability ≥ min_p × the most likely one's.
/// - temperature 0 is greedy: the highest logit after bias and penalties, the lowest id on ties; no random draw.
/// - Masked tokens (logit -infinity, e.g. from a grammar) are never chosen, whatever the penalties and biases; a NaN
///   logit counts as masked. If every token is masked, `sample` returns `TokenSampler.noCandidate`.
///
/// Determinism: each non-greedy `sample` consumes exactly one 53-bit draw from a xoshiro256** seeded with `seed`,
/// and every probability goes through `RowMath.exp`, built from IEEE basic operations, so the same parameters, seed
/// and logits give the same tokens on every machine.
///
/// Cost: bias and penalties touch only the tokens they name; greedy is two SIMD passes; top_k is one SIMD pass with
/// a k-entry heap (then top_p/min_p on those k); top_p without top_k is one SIMD pass that bounds the candidate set
/// with eight weight floors, a gather of that set and a weighted quickselect in it; plain sampling is one SIMD pass
/// plus a scan of one 512-entry block. The vocabulary is never sorted.
public struct TokenSampler: Sendable {
    /// What `sample` returns when every logit is masked (-infinity or NaN): there is nothing it may choose, and the
    /// caller (a grammar that allowed nothing) must end the sequence instead of feeding this to the model.
    public static let noCandidate: Int32 = -1

    public let parameters: SamplingParameters
    public let vocabularySize: Int
    private var penalties: PenaltyState
    private var random: Xoshiro256StarStar
    private var candidates = CandidateList()
    private var blockSums: [Double] = []

    /// `promptTokens` seed the repetition penalty's window (only the last `repetitionWindow` matter); presence and
    /// frequency penalties start empty because OpenAI counts the output only.
    public init(parameters: SamplingParameters, vocabularySize: Int, promptTokens: [Int32]) {
        precondition(vocabularySize > 0, "TokenSampler needs a vocabulary size above 0 (got \(vocabularySize))")
        self.parameters = parameters
        self.vocabularySize = vocabularySize
        penalties = PenaltyState(parameters: parameters, promptTokens: promptTokens)
        random = Xoshiro256StarStar(seed: parameters.seed)
    }

    /// Records a token chosen by someone else or by `sample` (call after every emitted token: updates penalties' state).
    public mutating func accept(_ token: Int32) {
        penalties.accept(token)
    }

    /// Chooses the next token. `logits` is the model's row (vocabularySize floats); the sampler may modify it in
    /// place (the caller passes a scratch copy). Tokens whose logit is -infinity (masked by a grammar) are never chosen.
    public mutating func sample(_ logits: UnsafeMutableBufferPointer<Float>) -> Int32 {
        precondition(logits.count == vocabularySize,
                     "TokenSampler.sample got \(logits.count) logits for a vocabulary of \(vocabularySize); pass one full row")
        applyLogitBias(logits)
        penalties.apply(to: logits)

        var maximum = RowMath.maximum(UnsafeBufferPointer(logits))
        if maximum == -.infinity { return Self.noCandidate }
        if maximum == .infinity {
            keepOnlyInfinite(logits)
            maximum = 0
        }
        let row = UnsafeBufferPointer(logits)

        let temperature = parameters.temperature
        let inverseTemperature = 1 / temperature
        guard temperature > 0, inverseTemperature.isFinite else {
            return Int32(truncatingIfNeeded: RowMath.firstIndex(of: maximum, in: row) ?? 0)
        }

        let topK = parameters.topK
        let topP = parameters.topP
        let minP = parameters.minP
        if topK > 0 && topK < vocabularySize {
            CandidateSelection.top(topK, of: row, into: &candidates)
            let total = candidates.withActive { c -> Double in
                var total = 0.0
                for i in c.indices {
                    c[i].weight = RowMath.exp(c[i].logit - c[0].logit)
                    total += Double(c[i].weight)
                }
                return total
            }
            cutSorted(total: total)
        } else if topP < 1 {
            gatherForTopP(row, maximum: maximum)
        } else if minP > 0 {
            CandidateSelection.gather(row, maximum: maximum, minimumWeight: Swift.min(minP, 1), into: &candidates)
        } else {
            return drawFromRow(logits, maximum: maximum, inverseTemperature: inverseTemperature)
        }
        return drawFromCandidates(inverseTemperature: inverseTemperature)
    }

    private func applyLogitBias(_ logits: UnsafeMutableBufferPointer<Float>) {
        for (token, bias) in parameters.logitBias where token >= 0 && Int(token) < logits.count {
            logits[Int(token)] += bias
        }
    }

    /// A +infinity logit (a model bug, or a +infinity bias) outranks everything: those tokens share the draw equally.
    private func keepOnlyInfinite(_ logits: UnsafeMutableBufferPointer<Float>) {
        for i in logits.indices { logits[i] = logits[i] == .infinity ? 0 : -.infinity }
    }

    /// Weight floors tried for top_p without top_k: exp(-gap) of the best token's weight, for logit gaps from 1 to 16
    /// (finer where typical rows put their cut, so that few more entries than needed are gathered).
    private static let topPFloors = SIMD8<Float>(RowMath.exp(-1), RowMath.exp(-2), RowMath.exp(-3), RowMath.exp(-4.5),
                                                 RowMath.exp(-6), RowMath.exp(-8), RowMath.exp(-11), RowMath.exp(-16))

    /// top_p (then min_p) over the whole row: one pass measures how much mass lies above each floor; the highest
    /// floor that already holds p of the mass (with a margin for summation order) bounds the set that is gathered,
    /// and a weighted quickselect finds the cut inside it. min_p only ever shortens the kept prefix, so its floor can
    /// be applied while gathering (if it cuts first, the whole gathered set is kept).
    private mutating func gatherForTopP(_ row: UnsafeBufferPointer<Float>, maximum: Float) {
        let topP = parameters.topP
        let (total, above) = RowMath.massesAboveFloors(row, maximum: maximum, floors: Self.topPFloors)
        let needed = Double(topP) * total * (1 + 1e-5)
        var floor = Float.leastNonzeroMagnitude
        for j in 0..<8 where above[j] >= needed {
            floor = Self.topPFloors[j]
            break
        }
        if parameters.minP > 0 { floor = Swift.min(Swift.max(floor, parameters.minP), 1) }
        CandidateSelection.gather(row, maximum: maximum, minimumWeight: floor, into: &candidates)
        CandidateSelection.keepMostLikely(&candidates, mass: Double(topP) * total)
    }

    /// Applies top_p then min_p to `candidates` (sorted, weights relative to the best = 1, `total` = the mass they
    /// are measured against). Both keep a prefix; at least one token always survives.
    private mutating func cutSorted(total: Double) {
        let topP = parameters.topP
        let minP = parameters.minP
        let kept = candidates.withActive { c -> Int in
            var keep = c.count
            if topP < 1 {
                let needed = Double(topP) * total
                var cumulative = 0.0
                for i in c.indices {
                    cumulative += Double(c[i].weight)
                    if cumulative >= needed { keep = i + 1; break }
                }
            }
            if minP > 0 {
                var minKeep = 1
                while minKeep < keep && c[minKeep].weight >= minP { minKeep += 1 }
                keep = minKeep
            }
            return keep
        }
        candidates.truncate(to: kept)
    }

    /// Temperature, then one draw over the surviving candidates (any order; the draw is deterministic in it).
    private mutating func drawFromCandidates(inverseTemperature: Float) -> Int32 {
        let u = random.nextUnit()
        return candidates.withActive { c -> Int32 in
            var best = -Float.infinity
            for candidate in c where candidate.logit > best { best = candidate.logit }
            var total = 0.0
            for i in c.indices {
                c[i].weight = RowMath.exp((c[i].logit - best) * inverseTemperature)
                total += Double(c[i].weight)
            }
            let target = u * total
            var cumulative = 0.0
            var fallback = c[0].id
            for candidate in c where candidate.weight > 0 {
                cumulative += Double(candidate.weight)
                if cumulative > target { return candidate.id }
                fallback = candidate.id
            }
            return fallback
        }
    }

    /// No cut at all: weights for the whole row in place (block sums on the side), then find the block holding the
    /// draw and scan only that block.
    private mutating func drawFromRow(_ logits: UnsafeMutableBufferPointer<Float>, maximum: Float,
                                      inverseTemperature: Float) -> Int32 {
        let total = RowMath.exponentiateInPlace(logits, shift: maximum, scale: inverseTemperature,
                                                blockSums: &blockSums)
        let target = random.nextUnit() * total
        var cumulative = 0.0
        for (block, sum) in blockSums.enumerated() {
            guard cumulative + sum > target else { cumulative += sum; continue }
            let start = block * RowMath.block
            for i in start..<Swift.min(logits.count, start + RowMath.block) where logits[i] > 0 {
                cumulative += Double(logits[i])
                if cumulative > target { return Int32(truncatingIfNeeded: i) }
            }
        }
        // Rounding left the target beyond the last cumulative sum: the last token with any weight takes it.
        var fallback = logits.count - 1
        while fallback > 0 && !(logits[fallback] > 0) { fallback -= 1 }
        return Int32(truncatingIfNeeded: fallback)
    }
}
