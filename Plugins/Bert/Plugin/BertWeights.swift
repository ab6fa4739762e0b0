import ModelHostSDK
import TransformerKernels

/// The encoder's tensors in Float32, under Hugging Face names (`encoder.layer.N.attention.self.query.weight`, with
/// the checkpoint's prefix) or llama.cpp's (`blk.N.attn_q.weight`). F16 and BF16 are widened once at open: BERT-size
/// encoders are small, and one Float32 kernel keeps results close to the float64 reference.
struct BertWeights {
    struct Norm {
        let weight: [Float]
        let bias: [Float]
    }

    struct Linear {
        let weight: PackedMatrix
        let bias: [Float]
        var outputs: Int { weight.outputs }
    }

    struct Layer {
        /// Query, key and value stacked into one [3 · hidden, hidden] product.
        let qkv: Linear
        let attentionOut: Linear
        let attentionNorm: Norm
        let up: Linear
        let down: Linear
        let outputNorm: Norm
    }

    let tokens: [Float]        // [vocab, hidden]
    let positions: [Float]     // [positionRows, hidden]
    let types: [Float]         // [typeRows, hidden]
    let embeddingNorm: Norm
    let layers: [Layer]

    init(_ w: WeightsService, _ c: BertConfig) throws {
        let gguf = w.format == .gguf
        let p = c.prefix
        func load(_ name: String, _ shape: [Int]) throws -> [Float] {
            let t = try w.require(name)
            guard t.shape == shape else { throw PluginError.badModel("\(name) has shape \(t.shape), expected \(shape)") }
            return try Self.floats(t)
        }
        func norm(_ name: String) throws -> Norm {
            Norm(weight: try load(name + ".weight", [c.hidden]), bias: try load(name + ".bias", [c.hidden]))
        }
        func linear(_ names: [String], outputs: Int, inputs: Int) throws -> Linear {
            var weight: [Float] = [], bias: [Float] = []
            for name in names {
                weight += try load(name + ".weight", [outputs, inputs])
                bias += try load(name + ".bias", [outputs])
            }
            return Linear(weight: PackedMatrix(weight, outputs: outputs * names.count, inputs: inputs), bias: bias)
        }
        let h = c.hidden
        tokens = try load(gguf ? "token_embd.weight" : p + "embeddings.word_embeddings.weight", [c.vocabularySize, h])
        positions = try load(gguf ? "position_embd.weight" : p + "embeddings.position_embeddings.weight", [c.positionRows, h])
        if gguf, try w.tensor("token_types.weight") == nil {
            types = [Float](repeating: 0, count: h)
        } else {
            types = try load(gguf ? "token_types.weight" : p + "embeddings.token_type_embeddings.weight", [c.typeRows, h])
        }
        embeddingNorm = try norm(gguf ? "token_embd_norm" : p + "embeddings.LayerNorm")
        layers = try (0..<c.layers).map { i in
            if gguf {
                let b = "blk.\(i)."
                return Layer(
                    qkv: try linear([b + "attn_q", b + "attn_k", b + "attn_v"], outputs: h, inputs: h),
                    attentionOut: try linear([b + "attn_output"], outputs: h, inputs: h),
                    attentionNorm: try norm(b + "attn_output_norm"),
                    up: try linear([b + "ffn_up"], outputs: c.intermediate, inputs: h),
                    down: try linear([b + "ffn_down"], outputs: h, inputs: c.intermediate),
                    outputNorm: try norm(b + "layer_output_norm"))
            }
            let b = p + "encoder.layer.\(i)."
            let s = b + "attention.self."
            return Layer(
                qkv: try linear([s + "query", s + "key", s + "value"], outputs: h, inputs: h),
                attentionOut: try linear([b + "attention.output.dense"], outputs: h, inputs: h),
                attentionNorm: try norm(b + "attention.output.LayerNorm"),
                up: try linear([b + "intermediate.dense"], outputs: c.intermediate, inputs: h),
                down: try linear([b + "output.dense"], outputs: h, inputs: c.intermediate),
                outputNorm: try norm(b + "output.LayerNorm"))
        }
    }

    /// A contiguous F32, F16 or BF16 tensor as Float32 values.
    static func floats(_ t: TensorView) throws -> [Float] {
        guard let values = try t.floatValues() else {
            throw PluginError.unsupported("tensor \(t.name) is \(t.dtype); this encoder reads F32, F16 and BF16 "
                + "(convert the model with --outtype f16 or f32)")
        }
        return values
    }
}
