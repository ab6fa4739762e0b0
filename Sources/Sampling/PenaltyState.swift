/// What the repetition, presence and frequency penalties remember between tokens, and how they adjust a row.
///
/// Two different histories, on purpose: the repetition penalty (llama.cpp/CTRL) looks at a sliding window of the
/// last N tokens of prompt + output, while OpenAI's presence and frequency penalties count the output only. Each keeps
/// a count per distinct token, so applying them costs O(distinct tokens), never O(vocabulary).
struct PenaltyState: Sendable {
    private let repetitionPenalty: Float
    private let presencePenalty: Float
    private let frequencyPenalty: Float
    private let window: Int

    /// The last `window` tokens, oldest first from `windowStart` (a ring once full).
    private var windowTokens: [Int32] = []
    private var windowStart = 0
    private var windowCounts: [Int32: Int] = [:]
    private var outputCounts: [Int32: Int] = [:]

    private var repetitionActive: Bool { window > 0 && repetitionPenalty > 0 && repetitionPenalty != 1 }
    private var outputActive: Bool { presencePenalty != 0 || frequencyPenalty != 0 }

    init(parameters: SamplingParameters, promptTokens: [Int32]) {
        repetitionPenalty = parameters.repetitionPenalty.isFinite ? parameters.repetitionPenalty : 1
        presencePenalty = parameters.presencePenalty.isFinite ? parameters.presencePenalty : 0
        frequencyPenalty = parameters.frequencyPenalty.isFinite ? parameters.frequencyPenalty : 0
        window = max(0, parameters.repetitionWindow)
        if repetitionActive {
            windowTokens.reserveCapacity(window)
            for token in promptTokens.suffix(window) { remember(token) }
        }
    }

    /// Records an emitted token in both histories.
    mutating func accept(_ token: Int32) {
        if repetitionActive { remember(token) }
        if outputActive { outputCounts[token, default: 0] += 1 }
    }

    private mutating func remember(_ token: Int32) {
        if windowTokens.count < window {
            windowTokens.append(token)
        } else {
            let evicted = windowTokens[windowStart]
            windowTokens[windowStart] = token
            windowStart = (windowStart + 1) % window
            if let count = windowCounts[evicted], count > 1 {
                windowCounts[evicted] = count - 1
            } else {
                windowCounts[evicted] = nil
            }
        }
        windowCounts[token, default: 0] += 1
    }

    /// Applies the repetition penalty, then presence and frequency (llama.cpp's order). Each token is adjusted
    /// independently, so the dictionaries' iteration order cannot change the result. A masked (-infinity) logit
    /// stays masked: dividing, multiplying by a positive penalty or subtracting a finite amount keeps it -infinity.
    func apply(to logits: UnsafeMutableBufferPointer<Float>) {
        let n = logits.count
        if repetitionActive {
            for token in windowCounts.keys where token >= 0 && Int(token) < n {
                let logit = logits[Int(token)]
                logits[Int(token)] = logit > 0 ? logit / repetitionPenalty : logit * repetitionPenalty
            }
        }
        if outputActive {
            for (token, count) in outputCounts where token >= 0 && Int(token) < n {
                logits[Int(token)] -= Float(count) * frequencyPenalty + presencePenalty
            }
        }
    }
}
