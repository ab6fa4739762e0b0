#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// What a Hugging Face (or MLX) checkpoint offers: tensors under their own names, and `config.json` under dotted
/// keys (`rope_scaling.factor`), as the host's weights service exposes them.
public protocol CheckpointSource {
    var tensorNames: [String] { get }
    func checkpointTensor(_ name: String) -> CheckpointTensor?
    func int(_ key: String) -> Int?
    func double(_ key: String) -> Double?
    func string(_ key: String) -> String?
    func bool(_ key: String) -> Bool?
}

/// A Hugging Face or MLX checkpoint seen through the GGUF names and keys the model code asks for, so that
/// `LlamaConfig` and `LlamaModel` stay format-agnostic:
/// - tensors: `blk.N.attn_q.weight` → `model.layers.N.self_attn.q_proj.weight`, …; `output.weight` → `lm_head.weight`
///   unless `tie_word_embeddings`; MLX-quantized matrices are repacked exactly (`MLXAffine`);
/// - hyper-parameters: `<arch>.block_count` → `num_hidden_layers`, …, `general.architecture` → `model_type`;
/// - RoPE: Hugging Face keeps q/k rows in their natural order, so heads rotate halves (`RopeStyle.halves`) whatever
///   the architecture; Llama 3.1 scaling (`rope_scaling.rope_type = llama3`) becomes the per-frequency divisors that
///   GGUF stores as `rope_freqs.weight`, computed as llama.cpp's converter does.
public final class HuggingFaceSource: WeightSource {
    public let checkpoint: CheckpointSource
    /// Matrices that had to be expanded to Float32 (MLX scales or biases that are not float16 values).
    public private(set) var expandedToFloat32: [String] = []
    /// The token embedding, which is asked for twice (configuration, then model); kept so it is repacked once.
    private var embeddingCache: WeightView?

    /// Validates every MLX-quantized matrix's shapes and types up front, so a bad checkpoint fails here with the
    /// tensor's name rather than later as a "missing tensor".
    public init(_ checkpoint: CheckpointSource) throws {
        // A vision-language checkpoint (Idefics3 / SmolVLM) holds the decoder as its text tower.
        self.checkpoint = checkpoint.string("text_config.model_type") != nil ? TextTower(checkpoint) : checkpoint
        for name in checkpoint.tensorNames where name.hasSuffix(".scales") {
            let weight = String(name.dropLast(".scales".count)) + ".weight"
            _ = try mlxMatrix(weight)
        }
    }

    public var ropeStyle: RopeStyle? { .halves }

    /// The Hugging Face name of a GGUF-named Llama tensor, or nil when it has none.
    public static func huggingFaceName(_ name: String) -> String? {
        switch name {
        case "token_embd.weight": return "model.embed_tokens.weight"
        case "output_norm.weight": return "model.norm.weight"
        case "output.weight": return "lm_head.weight"
        default: break
        }
        let parts = name.split(separator: ".", omittingEmptySubsequences: false)
        guard parts.count == 4, parts[0] == "blk", let layer = Int(parts[1]), layer >= 0,
              parts[3] == "weight" || parts[3] == "bias" else { return nil }
        let module: String
        switch parts[2] {
        case "attn_norm": module = "input_layernorm"
        case "ffn_norm": module = "post_attention_layernorm"
        case "attn_q": module = "self_attn.q_proj"
        case "attn_k": module = "self_attn.k_proj"
        case "attn_v": module = "self_attn.v_proj"
        case "attn_output": module = "self_attn.o_proj"
        case "ffn_gate": module = "mlp.gate_proj"
        case "ffn_up": module = "mlp.up_proj"
        case "ffn_down": module = "mlp.down_proj"
        default: return nil
        }
        return "model.layers.\(layer).\(module).\(parts[3])"
    }

    /// The MLX triple behind `name` (`.weight` beside `.scales` and `.biases`), validated; nil if not quantized.
    func mlxMatrix(_ name: String) throws -> MLXAffine.Matrix? {
        let module = String(name.dropLast(".weight".count))
        guard name.hasSuffix(".weight"), let scales = checkpoint.checkpointTensor(module + ".scales") else { return nil }
        guard let weight = checkpoint.checkpointTensor(name) else {
            throw CheckpointError("MLX checkpoint has '\(module).scales' but no '\(name)'")
        }
        guard let biases = checkpoint.checkpointTensor(module + ".biases") else {
            throw CheckpointError("MLX checkpoint has '\(module).scales' but no '\(module).biases'")
        }
        // Per-module settings (mlx_lm's mixed quantization) override the model-wide ones.
        let q = checkpoint.int("quantization.\(module).bits") != nil ? "quantization.\(module)" : "quantization"
        guard let bits = checkpoint.int("\(q).bits"), let groupSize = checkpoint.int("\(q).group_size") else {
            throw CheckpointError("'\(name)' is MLX-quantized but config.json has no quantization.bits and quantization.group_size")
        }
        return try MLXAffine.Matrix(weight: weight, scales: scales, biases: biases, bits: bits, groupSize: groupSize)
    }

    public func tensor(_ name: String) -> WeightView? {
        if name == "rope_freqs.weight" { return llama3RopeFactors() }
        if name == "output.weight" && checkpoint.bool("tie_word_embeddings") == true { return nil }
        if name == "token_embd.weight", let cached = embeddingCache { return cached }
        guard let hf = Self.huggingFaceName(name) else { return nil }
        let view: WeightView
        if let matrix = try? mlxMatrix(hf) {
            let (v, kind) = MLXAffine.repack(matrix)
            if kind == .float32 { expandedToFloat32.append(hf) }
            view = WeightView(name: name, type: v.type, dimensions: v.dimensions, data: v.data,
                              byteCount: v.byteCount, owner: v.owner)
        } else {
            guard let t = checkpoint.checkpointTensor(hf) else { return nil }
            let type: WeightType
            switch t.dtype {
            case .f32: type = .f32
            case .f16: type = .f16
            case .bf16: type = .bf16
            default: return nil
            }
            view = WeightView(name: name, type: type, dimensions: t.shape.reversed(), data: t.data, byteCount: t.byteCount)
        }
        if name == "token_embd.weight" { embeddingCache = view }
        return view
    }

    public func string(_ key: String) -> String? {
        if key == "general.architecture" { return checkpoint.string("model_type") }
        guard let k = configKey(key) else { return nil }
        if k == "rope_scaling.type" { return checkpoint.string("rope_scaling.rope_type") ?? checkpoint.string(k) }
        return checkpoint.string(k)
    }

    public func int(_ key: String) -> Int? { configKey(key).flatMap { checkpoint.int($0) } }
    public func double(_ key: String) -> Double? { configKey(key).flatMap { checkpoint.double($0) } }

    /// The config.json key behind a GGUF key `<arch>.<name>`.
    func configKey(_ key: String) -> String? {
        guard let arch = checkpoint.string("model_type"), key.hasPrefix(arch + ".") else { return nil }
        switch key.dropFirst(arch.count + 1) {
        case "block_count": return "num_hidden_layers"
        case "embedding_length": return "hidden_size"
        case "feed_forward_length": return "intermediate_size"
        case "attention.head_count": return "num_attention_heads"
        case "attention.head_count_kv": return "num_key_value_heads"
        case "attention.key_length": return "head_dim"
        case "context_length": return "max_position_embeddings"
        case "rope.freq_base": return "rope_theta"
        case "attention.layer_norm_rms_epsilon": return "rms_norm_eps"
        case "rope.scaling.type": return "rope_scaling.type"
        case "rope.scaling.factor": return "rope_scaling.factor"
        default: return nil
        }
    }

    /// Llama 3.1 RoPE scaling as per-frequency divisors (llama.cpp's `rope_freqs.weight`): wavelengths shorter than
    /// `original / high_freq_factor` keep their frequency, longer than `original / low_freq_factor` are divided by
    /// `factor`, and the band between is interpolated smoothly.
    func llama3RopeFactors() -> WeightView? {
        let type = checkpoint.string("rope_scaling.rope_type") ?? checkpoint.string("rope_scaling.type")
        guard type == "llama3", let hidden = checkpoint.int("hidden_size"), let heads = checkpoint.int("num_attention_heads"),
              heads > 0 else { return nil }
        let dim = checkpoint.int("head_dim") ?? hidden / heads
        guard dim > 0, dim % 2 == 0, dim <= 1 << 16 else { return nil }
        let base = checkpoint.double("rope_theta") ?? 10_000
        let factor = checkpoint.double("rope_scaling.factor") ?? 8
        let low = checkpoint.double("rope_scaling.low_freq_factor") ?? 1
        let high = checkpoint.double("rope_scaling.high_freq_factor") ?? 4
        let original = checkpoint.double("rope_scaling.original_max_position_embeddings") ?? 8192
        let lowWavelength = original / low, highWavelength = original / high
        let storage = MLXAffine.Storage(count: 4 * dim / 2)
        let out = storage.bytes.assumingMemoryBound(to: Float.self)
        for i in 0..<(dim / 2) {
            let frequency = 1 / pow(base, Double(2 * i) / Double(dim))
            let wavelength = 2 * Double.pi / frequency
            let f: Double
            if wavelength < highWavelength {
                f = 1
            } else if wavelength > lowWavelength {
                f = factor
            } else {
                let smooth = (original / wavelength - low) / (high - low)
                f = 1 / ((1 - smooth) / factor + smooth)
            }
            out[i] = Float(f)
        }
        return WeightView(name: "rope_freqs.weight", type: .f32, dimensions: [dim / 2], data: storage.bytes,
                          byteCount: storage.count, owner: storage)
    }
}

/// The decoder inside a vision-language checkpoint (Idefics3 / SmolVLM): tensors under `model.text_model.` instead of
/// `model.` (`lm_head.weight` stays), hyper-parameters under `text_config.` (falling back to the top level, where
/// Idefics3 keeps `tie_word_embeddings`). The vision tower's tensors are the vision encoder plugin's business.
struct TextTower: CheckpointSource {
    let inner: CheckpointSource

    init(_ inner: CheckpointSource) { self.inner = inner }

    private func tensorName(_ name: String) -> String {
        name.hasPrefix("model.") ? "model.text_model." + name.dropFirst("model.".count) : name
    }

    var tensorNames: [String] {
        inner.tensorNames.compactMap { name in
            if name.hasPrefix("model.text_model.") { return "model." + name.dropFirst("model.text_model.".count) }
            return name.hasPrefix("model.") ? nil : name
        }
    }

    func checkpointTensor(_ name: String) -> CheckpointTensor? { inner.checkpointTensor(tensorName(name)) }
    func int(_ key: String) -> Int? { inner.int("text_config." + key) ?? inner.int(key) }
    func double(_ key: String) -> Double? { inner.double("text_config." + key) ?? inner.double(key) }
    func string(_ key: String) -> String? { inner.string("text_config." + key) ?? inner.string(key) }
    func bool(_ key: String) -> Bool? { inner.bool("text_config." + key) ?? inner.bool(key) }
}
