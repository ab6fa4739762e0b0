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
    /// ABI 1.3: the decoder stores keys and values as IEEE half precision when `ModelSource.kvCacheType` asks.
    public static let kvCacheF16 = Capabilities(rawValue: UInt64(MH_CAP_KV_F16.rawValue))
    /// ABI 1.3: the same for bfloat16.
    public static let kvCacheBF16 = Capabilities(rawValue: UInt64(MH_CAP_KV_BF16.rawValue))
    /// ABI 1.3: the same for Q8_0 blocks.
    public static let kvCacheQ8_0 = Capabilities(rawValue: UInt64(MH_CAP_KV_Q8_0.rawValue))
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
    /// How the decoder is asked to store keys and values (ABI 1.3; `.f32` from an older host, and always `.f32` for
    /// the other kinds, which ignore the field). The host asks only for types the plugin declares
    /// (`Capabilities.kvCacheF16`, `.kvCacheBF16`, `.kvCacheQ8_0`).
    public let kvCacheType: KVCacheStorage
}

/// `enum mh_kv_cache_type`.
public enum KVCacheStorage: UInt32, Sendable {
    case f32 = 0, f16 = 1, bf16 = 2, q8_0 = 3
}

extension ModelSource {
    /// `decoder`: whether the desc's `kv_cache_type` is read (decoders) or ignored (every other kind).
    init(_ d: UnsafePointer<mh_model_desc>, decoder: Bool = false) throws {
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
        let kvField = MemoryLayout<mh_model_desc>.offset(of: \mh_model_desc.kv_cache_type)!
        if decoder && Int(d.pointee.struct_size) >= kvField + MemoryLayout<UInt32>.size {
            guard let type = KVCacheStorage(rawValue: d.pointee.kv_cache_type) else {
                throw PluginError.unsupported("KV cache type \(d.pointee.kv_cache_type) (this plugin's SDK knows f32, "
                    + "f16, bf16 and q8_0)")
            }
            kvCacheType = type
        } else {
            kvCacheType = .f32
        }
    }
}
