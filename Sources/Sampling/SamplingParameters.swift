/// How one sequence chooses its tokens: the knobs of OpenAI's and llama.cpp's request bodies, with their "off"
/// values as defaults so that `SamplingParameters()` samples the model's plain softmax at temperature 1.
///
/// The HTTP layer validates ranges; the sampler still behaves sensibly on odd values (documented per field) so that a
/// request the validator missed cannot crash a worker.
public struct SamplingParameters: Sendable, Equatable {
    /// Divides the logits of the surviving candidates before the draw. `0` (or less, or NaN) means greedy: the
    /// highest adjusted logit wins, the lowest token id on ties. `+infinity` draws uniformly among the candidates.
    public var temperature: Float = 1
    /// Keeps the `topK` most likely tokens (ties broken towards the lower id). `0` (or less) = off.
    public var topK: Int = 0
    /// Keeps the smallest set of most likely tokens whose probability reaches `topP`. `1` (or more) = off; `0` keeps
    /// only the most likely token.
    public var topP: Float = 1
    /// Keeps the tokens whose probability is at least `minP` × the most likely token's. `0` (or less) = off.
    public var minP: Float = 0
    /// llama.cpp/CTRL repetition penalty over the last `repetitionWindow` tokens of prompt + output: a positive
    /// logit is divided by it, a negative one multiplied, once per distinct token. `1` = off; values ≤ 0 are ignored.
    public var repetitionPenalty: Float = 1
    /// How many of the most recent prompt + output tokens `repetitionPenalty` looks at. `0` (or less) = off.
    public var repetitionWindow: Int = 64
    /// OpenAI presence penalty: subtracted once from every token that appeared in the output so far.
    public var presencePenalty: Float = 0
    /// OpenAI frequency penalty: subtracted `count` times from every token that appeared `count` times in the output.
    public var frequencyPenalty: Float = 0
    /// Added to the raw logit of a token id before anything else; `-100` effectively bans, `+100` forces. Ids outside
    /// the vocabulary are ignored.
    public var logitBias: [Int32: Float] = [:]
    /// Seeds the sampler's own generator: the same parameters, seed and logits give the same tokens on every machine.
    public var seed: UInt64 = 0

    public init() {}

    /// Greedy decoding and nothing else: reproducible across processes.
    public static let greedy: SamplingParameters = {
        var p = SamplingParameters()
        p.temperature = 0
        return p
    }()

    /// Softmax sampling at `temperature` with `seed`, nothing else.
    public static func temperature(_ temperature: Float, seed: UInt64) -> SamplingParameters {
        var p = SamplingParameters()
        p.temperature = temperature
        p.seed = seed
        return p
    }
}
