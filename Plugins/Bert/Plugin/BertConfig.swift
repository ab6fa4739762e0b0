import ModelHostSDK

/// A BERT-family encoder's shape and its sentence-embedding recipe, from a Hugging Face config.json (flattened by the
/// host) plus the sentence-transformers keys the host adds, or from a llama.cpp GGUF's `bert.*` keys.
///
/// RoBERTa and XLM-R differ from BERT here only in where positions start: their position ids count from
/// `pad_token_id + 1` (fairseq's convention), so a 514-row table serves 512 tokens. MPNet, DistilBERT and
/// ModernBERT change the layer itself and are refused by name.
struct BertConfig: Sendable {
    let hidden: Int
    let layers: Int
    let heads: Int
    let intermediate: Int
    let layerNormEps: Float
    let vocabularySize: Int
    /// Rows of the position table and of the token-type table.
    let positionRows: Int
    let typeRows: Int
    /// The first position id (0 for BERT, pad_token_id + 1 for RoBERTa/XLM-R).
    let positionOffset: Int
    /// The most tokens one input may have.
    let contextLength: Int
    let activation: Activation
    let pooling: Pooling
    let normalize: Bool
    /// Tensor-name prefix of a Hugging Face checkpoint ("", "bert.", "roberta.").
    let prefix: String

    enum Activation { case erf, tanh }

    var headDim: Int { hidden / heads }

    init(_ weights: WeightsService) throws {
        if weights.format == .gguf {
            try self.init(gguf: weights)
        } else {
            try self.init(huggingFace: weights)
        }
        guard hidden > 0, heads > 0, hidden % heads == 0, layers > 0, intermediate > 0 else {
            throw PluginError.badModel("hidden size \(hidden) must be a positive multiple of the \(heads) heads, with layers and an intermediate size")
        }
    }

    private init(huggingFace w: WeightsService) throws {
        let modelType = w.meta("model_type")?.stringValue ?? "(none)"
        guard ["bert", "roberta", "xlm-roberta", "camembert"].contains(modelType) else {
            throw PluginError.unsupported("model_type '\(modelType)' is not a BERT-family encoder this plugin runs "
                + "(bert, roberta, xlm-roberta)")
        }
        func int(_ key: String) throws -> Int {
            guard let v = w.meta(key)?.intValue, v > 0 else { throw PluginError.badModel("config.json has no positive \(key)") }
            return v
        }
        hidden = try int("hidden_size")
        layers = try int("num_hidden_layers")
        heads = try int("num_attention_heads")
        intermediate = try int("intermediate_size")
        vocabularySize = try int("vocab_size")
        positionRows = try int("max_position_embeddings")
        typeRows = w.meta("type_vocab_size")?.intValue ?? 2
        layerNormEps = Float(w.meta("layer_norm_eps")?.doubleValue ?? 1e-12)
        let positionType = w.meta("position_embedding_type")?.stringValue ?? "absolute"
        guard positionType == "absolute" else {
            throw PluginError.unsupported("position_embedding_type '\(positionType)' is not supported (only absolute)")
        }
        positionOffset = modelType == "bert" ? 0 : (w.meta("pad_token_id")?.intValue ?? 1) + 1
        activation = try Self.activation(w.meta("hidden_act")?.stringValue ?? "gelu")
        var context = positionRows - positionOffset
        if let limit = w.meta("sentence_transformers.max_seq_length")?.intValue, limit > 0 { context = min(context, limit) }
        guard context > 0 else { throw PluginError.badModel("max_position_embeddings \(positionRows) leaves no positions") }
        contextLength = context
        (pooling, normalize) = try Self.sentenceTransformersPooling(w)
        let names = w.tensorNames
        prefix = ["", "bert.", "roberta.", "model."].first { names.contains($0 + "embeddings.word_embeddings.weight") } ?? ""
    }

    private init(gguf w: WeightsService) throws {
        let arch = w.meta("general.architecture")?.stringValue ?? "(none)"
        guard arch == "bert" else {
            throw PluginError.unsupported("GGUF architecture '\(arch)' is not one this plugin runs (bert)")
        }
        func int(_ key: String) throws -> Int {
            guard let v = w.meta("bert." + key)?.intValue, v > 0 else { throw PluginError.badModel("the GGUF has no positive bert.\(key)") }
            return v
        }
        hidden = try int("embedding_length")
        layers = try int("block_count")
        heads = try int("attention.head_count")
        intermediate = try int("feed_forward_length")
        contextLength = try int("context_length")
        layerNormEps = Float(w.meta("bert.attention.layer_norm_epsilon")?.doubleValue ?? 1e-12)
        let embeddings = try w.require("token_embd.weight")
        vocabularySize = embeddings.shape.first ?? 0
        positionRows = try w.require("position_embd.weight").shape.first ?? 0
        typeRows = (try w.tensor("token_types.weight"))?.shape.first ?? 1
        positionOffset = 0
        activation = .erf
        // llama.cpp's LLAMA_POOLING_TYPE_*: 1 mean, 2 cls, 3 last; llama-server normalises embeddings by default.
        switch w.meta("bert.pooling_type")?.intValue ?? 1 {
        case 1: pooling = .mean
        case 2: pooling = .cls
        case 3: pooling = .last
        case let other: throw PluginError.unsupported("bert.pooling_type \(other) is not mean (1), cls (2) or last (3)")
        }
        normalize = true
        prefix = ""
        guard positionRows >= contextLength else {
            throw PluginError.badModel("position_embd.weight has \(positionRows) rows for a context of \(contextLength)")
        }
    }

    static func activation(_ name: String) throws -> Activation {
        switch name {
        case "gelu": return .erf
        case "gelu_new", "gelu_pytorch_tanh", "gelu_fast": return .tanh
        default: throw PluginError.unsupported("hidden_act '\(name)' is not supported (gelu, gelu_new, gelu_pytorch_tanh)")
        }
    }

    /// sentence-transformers' Pooling module (one mode) and whether a Normalize module follows. A plain Hugging Face
    /// folder gets what sentence-transformers itself gives one: mean pooling, not normalised.
    static func sentenceTransformersPooling(_ w: WeightsService) throws -> (Pooling, Bool) {
        // The pipeline must be Transformer → Pooling → (Normalize): a Dense projection or another module would
        // change the vectors, and returning the Transformer's pooled states instead would be silently wrong.
        if case .array(let count, _)? = w.meta("sentence_transformers.modules") {
            for index in 0..<count {
                let type = w.element("sentence_transformers.modules", at: index)?.stringValue ?? "?"
                let known = ["Transformer", "Pooling", "Normalize"].contains { type.hasSuffix("." + $0) || type == $0 }
                guard known else {
                    throw PluginError.unsupported("modules.json lists a '\(type)' module; this plugin runs "
                        + "Transformer, Pooling and Normalize only")
                }
            }
        }
        let normalize = w.meta("sentence_transformers.normalize")?.boolValue ?? false
        let key = "sentence_transformers.pooling.pooling_mode_"
        let modes: [(String, Pooling?)] = [
            ("mean_tokens", .mean), ("cls_token", .cls), ("lasttoken", .last), ("max_tokens", .max),
            ("mean_sqrt_len_tokens", nil), ("weightedmean_tokens", nil),
        ]
        let chosen = modes.filter { w.meta(key + $0.0)?.boolValue == true }
        if chosen.isEmpty { return (.mean, normalize) }
        guard chosen.count == 1 else {
            throw PluginError.unsupported("the Pooling module combines \(chosen.map(\.0).joined(separator: " + ")); "
                + "one mode is supported")
        }
        guard let pooling = chosen[0].1 else {
            throw PluginError.unsupported("pooling mode \(chosen[0].0) is not supported (mean, cls, lasttoken, max)")
        }
        return (pooling, normalize)
    }
}
