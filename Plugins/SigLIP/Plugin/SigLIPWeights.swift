import ModelHostSDK
import TransformerKernels

/// The encoder's tensors in Float32, found under llama.cpp's mmproj names (`v.blk.N.attn_q.weight`, …) or Hugging
/// Face's (`model.vision_model.encoder.layers.N.self_attn.q_proj.weight`, …). F16 and BF16 files are widened once at
/// open: the vision tower is small next to the decoder, and one Float32 kernel keeps the math easy to check.
struct SigLIPWeights {
    struct Layer {
        let norm1: (weight: [Float], bias: [Float])
        let norm2: (weight: [Float], bias: [Float])
        let q: Linear, k: Linear, v: Linear, out: Linear
        let fc1: Linear, fc2: Linear
    }

    /// A Linear layer: the weight ([outputs, inputs] in the file) packed for `MatMul`, and its bias.
    struct Linear {
        let weight: PackedMatrix
        let bias: [Float]?
        var outputs: Int { weight.outputs }
        var inputs: Int { weight.inputs }

        init(weight: [Float], bias: [Float]?, outputs: Int, inputs: Int) {
            self.weight = PackedMatrix(weight, outputs: outputs, inputs: inputs)
            self.bias = bias
        }
    }

    let patch: Linear             // the patch conv as [hidden, 3 · patch · patch]
    let positions: [Float]        // [patches, hidden]
    let layers: [Layer]
    let postNorm: (weight: [Float], bias: [Float])
    let projection: Linear        // [text hidden, hidden · scale²], no bias

    init(_ weights: WeightsService, _ c: SigLIPConfig) throws {
        let gguf = weights.format == .gguf
        func name(_ g: String, _ hf: String) -> String { gguf ? g : hf }
        func load(_ name: String, _ shape: [Int]) throws -> [Float] {
            let t = try weights.require(name)
            guard t.shape == shape else {
                throw PluginError.badModel("\(name) has shape \(t.shape), expected \(shape)")
            }
            return try Self.floats(t)
        }
        func linear(_ name: String, outputs: Int, inputs: Int, bias: Bool = true) throws -> Linear {
            Linear(weight: try load(name + ".weight", [outputs, inputs]),
                   bias: bias ? try load(name + ".bias", [outputs]) : nil, outputs: outputs, inputs: inputs)
        }
        func norm(_ name: String) throws -> (weight: [Float], bias: [Float]) {
            (try load(name + ".weight", [c.hidden]), try load(name + ".bias", [c.hidden]))
        }
        let v = "model.vision_model."
        let h = c.hidden, p = c.patchSize
        patch = Linear(weight: try load(name("v.patch_embd.weight", v + "embeddings.patch_embedding.weight"), [h, 3, p, p]),
                       bias: try load(name("v.patch_embd.bias", v + "embeddings.patch_embedding.bias"), [h]),
                       outputs: h, inputs: 3 * p * p)
        positions = try load(name("v.position_embd.weight", v + "embeddings.position_embedding.weight"), [c.patches, h])
        layers = try (0..<c.layers).map { i in
            let g = "v.blk.\(i).", f = v + "encoder.layers.\(i)."
            return Layer(
                norm1: try norm(name(g + "ln1", f + "layer_norm1")), norm2: try norm(name(g + "ln2", f + "layer_norm2")),
                q: try linear(name(g + "attn_q", f + "self_attn.q_proj"), outputs: h, inputs: h),
                k: try linear(name(g + "attn_k", f + "self_attn.k_proj"), outputs: h, inputs: h),
                v: try linear(name(g + "attn_v", f + "self_attn.v_proj"), outputs: h, inputs: h),
                out: try linear(name(g + "attn_out", f + "self_attn.out_proj"), outputs: h, inputs: h),
                fc1: try linear(name(g + "ffn_up", f + "mlp.fc1"), outputs: c.intermediate, inputs: h),
                fc2: try linear(name(g + "ffn_down", f + "mlp.fc2"), outputs: h, inputs: c.intermediate))
        }
        postNorm = try norm(name("v.post_ln", v + "post_layernorm"))
        let projectionName = name("mm.model.fc.weight", "model.connector.modality_projection.proj.weight")
        let t = try weights.require(projectionName)
        guard t.shape.count == 2, t.shape[1] == h * c.scale * c.scale else {
            throw PluginError.badModel("\(projectionName) has shape \(t.shape), expected [text hidden, \(h * c.scale * c.scale)]")
        }
        projection = Linear(weight: try Self.floats(t), bias: nil, outputs: t.shape[0], inputs: t.shape[1])
    }

    /// A contiguous F32, F16 or BF16 tensor as Float32 values.
    static func floats(_ t: TensorView) throws -> [Float] {
        guard let values = try t.floatValues() else {
            throw PluginError.unsupported("\(t.name) is \(t.dtype); this encoder reads F32, F16 and BF16 projectors "
                + "(use llama.cpp's f16 mmproj)")
        }
        return values
    }
}
