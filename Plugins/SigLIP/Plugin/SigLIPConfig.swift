import ModelHostSDK

/// The encoder's shape, from an mmproj GGUF's `clip.vision.*` keys or a Hugging Face config.json's `vision_config`
/// (the host flattens it to dotted keys). Everything else in this plugin is derived from it.
struct SigLIPConfig: Sendable {
    let imageSize: Int
    let patchSize: Int
    let hidden: Int
    let intermediate: Int
    let layers: Int
    let heads: Int
    let layerNormEps: Float
    /// The connector's pixel-shuffle factor: each output token gathers a scale × scale block of patches.
    let scale: Int
    let mean: (Float, Float, Float)
    let std: (Float, Float, Float)

    var patchesPerSide: Int { imageSize / patchSize }
    var patches: Int { patchesPerSide * patchesPerSide }
    var tokensPerImage: Int { patches / (scale * scale) }
    var headDim: Int { hidden / heads }

    init(_ weights: WeightsService) throws {
        let gguf = weights.format == .gguf
        func int(_ ggufKey: String, _ hfKey: String) throws -> Int {
            let value = (gguf ? weights.meta("clip.vision." + ggufKey) : weights.meta("vision_config." + hfKey))?.intValue
            guard let value, value > 0 else {
                throw PluginError.badModel(gguf ? "the mmproj has no clip.vision.\(ggufKey)"
                                                : "config.json has no vision_config.\(hfKey)")
            }
            return value
        }
        if gguf {
            let type = weights.meta("clip.projector_type")?.stringValue ?? "(none)"
            guard type == "idefics3" else {
                throw PluginError.unsupported("this encoder serves the idefics3 projector (SmolVLM); the mmproj's "
                    + "clip.projector_type is \(type)")
            }
        }
        imageSize = try int("image_size", "image_size")
        patchSize = try int("patch_size", "patch_size")
        hidden = try int("embedding_length", "hidden_size")
        intermediate = try int("feed_forward_length", "intermediate_size")
        layers = try int("block_count", "num_hidden_layers")
        heads = try int("attention.head_count", "num_attention_heads")
        let eps = gguf ? weights.meta("clip.vision.attention.layer_norm_epsilon")?.doubleValue
                       : weights.meta("vision_config.layer_norm_eps")?.doubleValue
        layerNormEps = Float(eps ?? 1e-6)
        scale = (gguf ? weights.meta("clip.vision.projector.scale_factor")?.intValue
                      : weights.meta("scale_factor")?.intValue) ?? 2
        if gguf, weights.meta("clip.vision.image_mean") != nil {
            func three(_ key: String) -> (Float, Float, Float) {
                let v = (0..<3).map { Float(weights.element(key, at: $0)?.doubleValue ?? 0.5) }
                return (v[0], v[1], v[2])
            }
            mean = three("clip.vision.image_mean")
            std = three("clip.vision.image_std")
        } else {
            // SmolVLM's processor normalizes with mean = std = 0.5 (preprocessor_config.json).
            mean = (0.5, 0.5, 0.5)
            std = (0.5, 0.5, 0.5)
        }
        guard imageSize % patchSize == 0, hidden % heads == 0, patchesPerSide % scale == 0 else {
            throw PluginError.badModel("inconsistent shape: image \(imageSize), patch \(patchSize), hidden \(hidden), "
                + "heads \(heads), scale factor \(scale)")
        }
    }
}
