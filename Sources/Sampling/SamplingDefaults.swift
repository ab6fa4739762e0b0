/// The sampling values a request may leave out, as one source states them: a model's own recommendation (a Hugging
/// Face folder's `generation_config.json`, a GGUF file's `general.sampling.*` keys), or the server's defaults. A nil
/// field means "this source says nothing"; `filled(from:)` layers sources, so a request's effective value is its own,
/// else the model's, else the server's.
///
/// Values are kept as written (decimal), as every source writes them; the worker's sampler receives them as Float.
public struct SamplingDefaults: Sendable, Equatable {
    public var temperature: Double?
    public var topK: Int?
    public var topP: Double?
    public var minP: Double?
    public var repetitionPenalty: Double?
    /// How many tokens an answer may have when the request names no `max_tokens`.
    public var maxTokens: Int?

    public init(
        temperature: Double? = nil, topK: Int? = nil, topP: Double? = nil, minP: Double? = nil,
        repetitionPenalty: Double? = nil, maxTokens: Int? = nil
    ) {
        self.temperature = temperature
        self.topK = topK
        self.topP = topP
        self.minP = minP
        self.repetitionPenalty = repetitionPenalty
        self.maxTokens = maxTokens
    }

    /// The server's defaults when nothing else is configured: llama-server's (temperature 0.8, top-k 40, top-p 0.95,
    /// min-p 0.05), which suit small local models far better than OpenAI's plain softmax at temperature 1, and an
    /// answer cap so a model that never emits its end token cannot run on to the end of its context.
    public static let server = SamplingDefaults(
        temperature: 0.8, topK: 40, topP: 0.95, minP: 0.05, repetitionPenalty: 1.0, maxTokens: 2048)

    /// Each field this source leaves unset, taken from `fallback`.
    public func filled(from fallback: SamplingDefaults) -> SamplingDefaults {
        SamplingDefaults(
            temperature: temperature ?? fallback.temperature, topK: topK ?? fallback.topK, topP: topP ?? fallback.topP,
            minP: minP ?? fallback.minP, repetitionPenalty: repetitionPenalty ?? fallback.repetitionPenalty,
            maxTokens: maxTokens ?? fallback.maxTokens)
    }

    /// The fields this source sets, by their request names (for `/v1/models/{id}`, logs and error messages).
    public var fields: [(name: String, value: Double)] {
        var result: [(String, Double)] = []
        if let temperature { result.append(("temperature", temperature)) }
        if let topK { result.append(("top_k", Double(topK))) }
        if let topP { result.append(("top_p", topP)) }
        if let minP { result.append(("min_p", minP)) }
        if let repetitionPenalty { result.append(("repetition_penalty", repetitionPenalty)) }
        if let maxTokens { result.append(("max_tokens", Double(maxTokens))) }
        return result
    }

    /// The first value outside the range a request may send, as `(field, allowed range)`; nil when all are valid.
    /// Model files and operators make mistakes too: a bad value is refused where it is read, never clamped silently.
    public var invalidField: (name: String, allowed: String)? {
        if let temperature, !(0...2).contains(temperature) { return ("temperature", "0 to 2") }
        if let topK, topK < 0 { return ("top_k", "0 (off) or more") }
        if let topP, !(0...1).contains(topP) { return ("top_p", "0 to 1") }
        if let minP, !(0...1).contains(minP) { return ("min_p", "0 to 1") }
        if let repetitionPenalty, !(repetitionPenalty > 0 && repetitionPenalty <= 10) {
            return ("repetition_penalty", "greater than 0 and at most 10")
        }
        if let maxTokens, maxTokens < 1 { return ("max_tokens", "1 or more") }
        return nil
    }

    /// This source with every out-of-range field removed (see `invalidField`), for values read from model files.
    public func withoutInvalidFields() -> SamplingDefaults {
        var result = self
        while let (name, _) = result.invalidField {
            switch name {
            case "temperature": result.temperature = nil
            case "top_k": result.topK = nil
            case "top_p": result.topP = nil
            case "min_p": result.minP = nil
            case "repetition_penalty": result.repetitionPenalty = nil
            default: result.maxTokens = nil
            }
        }
        return result
    }
}
