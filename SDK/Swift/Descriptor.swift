@_exported import ModelHostABI

/// Plugin kinds (`enum mh_kind`).
public enum PluginKind: UInt16, Sendable {
    case textDecoder = 1, visionEncoder = 2, imagePreprocessor = 3
    /// ABI 1.2.
    case textEncoder = 4
}

/// Capability flags (`enum mh_capability`).
public struct Capabilities: OptionSet, Sendable {
    public let rawValue: UInt64
    public init(rawValue: UInt64) { self.rawValue = rawValue }
    public static let batchedDecode = Capabilities(rawValue: UInt64(MH_CAP_BATCHED_DECODE.rawValue))
    public static let embeddingInput = Capabilities(rawValue: UInt64(MH_CAP_EMBEDDING_INPUT.rawValue))
    public static let sequenceTruncate = Capabilities(rawValue: UInt64(MH_CAP_SEQ_TRUNCATE.rawValue))
    public static let logitsAll = Capabilities(rawValue: UInt64(MH_CAP_LOGITS_ALL.rawValue))
    public static let concurrentObjects = Capabilities(rawValue: UInt64(MH_CAP_CONCURRENT_OBJECTS.rawValue))
    /// ABI 1.1: `DecoderSequence.copy(from:count:)` is implemented (prefix sharing across concurrent requests).
    public static let sequenceCopy = Capabilities(rawValue: UInt64(MH_CAP_SEQ_COPY.rawValue))
}

/// What the plugin says about itself. `id` and `version` must equal the manifest's; the host checks.
public struct PluginInfo: Sendable {
    public var id: String
    public var version: String
    public var buildInfo: String
    public var capabilities: Capabilities
    /// The oldest host ABI minor whose fields this plugin uses. Raise it only when you actually use a newer field.
    public var minimumHostMinor: UInt16

    public init(id: String, version: String, buildInfo: String = "", capabilities: Capabilities = [],
                minimumHostMinor: UInt16 = 0) {
        self.id = id
        self.version = version
        self.buildInfo = buildInfo
        self.capabilities = capabilities
        self.minimumHostMinor = minimumHostMinor
    }
}

/// What the host wants run, passed to `probe`.
public struct ProbeQuery: Sendable {
    public let kind: PluginKind?
    /// GGUF `general.architecture` or Hugging Face `model_type` ("llama", "qwen2").
    public let family: String
    /// Hugging Face `architectures[0]` ("LlamaForCausalLM"), or empty.
    public let architecture: String
    /// Canonical name of the dominant weight type ("q4_1", "f16", "mlx4").
    public let quantization: String
    public let format: WeightsService.Format?
}

extension ProbeQuery {
    init(_ q: UnsafePointer<mh_probe_query>) {
        func str(_ p: UnsafePointer<CChar>?) -> String { p.map { String(cString: $0) } ?? "" }
        kind = PluginKind(rawValue: UInt16(truncatingIfNeeded: q.pointee.kind))
        family = str(q.pointee.family)
        architecture = str(q.pointee.architecture)
        quantization = str(q.pointee.quantization)
        format = WeightsService.Format(rawValue: q.pointee.format)
    }
}

/// What a model object is opened from.
public struct ModelSource: @unchecked Sendable {
    public let weights: WeightsService
    /// The model's file or directory, for messages only.
    public let path: String
    public let maxSequences: Int
    /// 0 means the model's trained context.
    public let maxContext: Int
    public let cancellation: CancellationToken
}

extension ModelSource {
    init(_ d: UnsafePointer<mh_model_desc>) throws {
        guard d.pointee.struct_size >= UInt32(MH_MODEL_DESC_SIZE_1_0) else {
            throw PluginError.invalidArgument("mh_model_desc.struct_size \(d.pointee.struct_size) is too small")
        }
        guard let weights = d.pointee.weights else { throw PluginError.invalidArgument("mh_model_desc.weights is NULL") }
        guard weights.pointee.struct_size >= UInt32(MH_WEIGHTS_V1_SIZE_1_0) else {
            throw PluginError.invalidArgument("mh_weights_v1.struct_size \(weights.pointee.struct_size) is too small")
        }
        self.weights = WeightsService(weights)
        path = d.pointee.path.map { String(cString: $0) } ?? ""
        maxSequences = Int(d.pointee.max_sequences)
        maxContext = Int(d.pointee.max_context)
        cancellation = CancellationToken(d.pointee.cancel_token)
    }
}
