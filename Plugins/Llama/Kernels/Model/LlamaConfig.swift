/// Hyper-parameters of a Llama-family decoder, read from the weight source's metadata (GGUF keys, which the
/// safetensors and MLX adapters also use). Qwen2 uses the same architecture plus q/k/v biases.
public struct LlamaConfig: Equatable, Sendable {
    public var layers: Int
    public var embedding: Int
    public var feedForward: Int
    public var heads: Int
    public var kvHeads: Int
    public var headDimension: Int
    public var vocabulary: Int
    public var contextLength: Int
    public var ropeBase: Double
    /// Positions are divided by this before rotation (`rope.scaling.type = linear`); 1 otherwise.
    public var ropeLinearScale: Double
    public var rmsEpsilon: Float
    /// Which elements RoPE rotates together; the format and architecture dictate it (see `RopeStyle`).
    public var ropeStyle: RopeStyle

    public init(layers: Int, embedding: Int, feedForward: Int, heads: Int, kvHeads: Int, headDimension: Int,
                vocabulary: Int, contextLength: Int, ropeBase: Double, ropeLinearScale: Double = 1,
                rmsEpsilon: Float, ropeStyle: RopeStyle = .adjacentPairs) {
        self.layers = layers
        self.embedding = embedding
        self.feedForward = feedForward
        self.heads = heads
        self.kvHeads = kvHeads
        self.headDimension = headDimension
        self.vocabulary = vocabulary
        self.contextLength = contextLength
        self.ropeBase = ropeBase
        self.ropeLinearScale = ropeLinearScale
        self.rmsEpsilon = rmsEpsilon
        self.ropeStyle = ropeStyle
    }

    /// Architectures whose metadata prefix this reader understands.
    public static let architectures = ["llama", "qwen2", "mistral"]

    /// Reads `<arch>.*` keys, where `<arch>` is `general.architecture`. The vocabulary size comes from the
    /// token embedding's shape, which is what the weights actually provide.
    public init(from source: WeightSource) throws {
        let arch = source.string("general.architecture") ?? "llama"
        guard Self.architectures.contains(arch) else {
            throw LlamaModelError.invalidValue(key: "general.architecture", value: "'\(arch)'")
        }
        func int(_ key: String) throws -> Int {
            guard let v = source.int("\(arch).\(key)") else { throw LlamaModelError.missingKey("\(arch).\(key)") }
            guard v > 0, v < 1 << 24 else { throw LlamaModelError.invalidValue(key: "\(arch).\(key)", value: "\(v)") }
            return v
        }
        layers = try int("block_count")
        embedding = try int("embedding_length")
        feedForward = try int("feed_forward_length")
        heads = try int("attention.head_count")
        kvHeads = source.int("\(arch).attention.head_count_kv") ?? heads
        contextLength = try int("context_length")
        guard kvHeads > 0, heads % kvHeads == 0 else {
            throw LlamaModelError.invalidValue(key: "\(arch).attention.head_count_kv", value: "\(kvHeads)")
        }
        guard embedding % heads == 0 else {
            throw LlamaModelError.invalidValue(key: "\(arch).attention.head_count", value: "\(heads)")
        }
        headDimension = source.int("\(arch).attention.key_length") ?? embedding / heads
        guard headDimension > 0, headDimension % 8 == 0 else {
            throw LlamaModelError.invalidValue(key: "\(arch).attention.key_length", value: "\(headDimension)")
        }
        ropeBase = source.double("\(arch).rope.freq_base") ?? 10_000
        guard ropeBase > 1, ropeBase.isFinite else {
            throw LlamaModelError.invalidValue(key: "\(arch).rope.freq_base", value: "\(ropeBase)")
        }
        ropeLinearScale = 1
        if source.string("\(arch).rope.scaling.type") == "linear" {
            let factor = source.double("\(arch).rope.scaling.factor") ?? 1
            guard factor >= 1, factor.isFinite else {
                throw LlamaModelError.invalidValue(key: "\(arch).rope.scaling.factor", value: "\(factor)")
            }
            ropeLinearScale = factor
        }
        let eps = source.double("\(arch).attention.layer_norm_rms_epsilon") ?? 1e-5
        guard eps > 0, eps < 1 else {
            throw LlamaModelError.invalidValue(key: "\(arch).attention.layer_norm_rms_epsilon", value: "\(eps)")
        }
        rmsEpsilon = Float(eps)
        let embd = try source.required("token_embd.weight")
        guard embd.dimensions.count == 2, embd.dimensions[0] == embedding, embd.dimensions[1] > 0 else {
            throw LlamaModelError.badShape(tensor: embd.name, expected: [embedding, -1], found: embd.dimensions)
        }
        vocabulary = embd.dimensions[1]
        // llama.cpp's converter permutes Llama/Mistral q/k rows for adjacent-pair rotation; Qwen2 keeps HF order.
        ropeStyle = source.ropeStyle ?? (arch == "qwen2" ? .halves : .adjacentPairs)
    }

    public var queryWidth: Int { heads * headDimension }
    public var kvWidth: Int { kvHeads * headDimension }
}

/// RoPE element pairing. GGUF Llama weights (q/k rows permuted by llama.cpp's converter) rotate adjacent pairs
/// (2i, 2i + 1); Hugging Face layouts (and GGUF Qwen2) rotate element i with element i + headDimension / 2.
public enum RopeStyle: Equatable, Sendable {
    case adjacentPairs
    case halves
}
