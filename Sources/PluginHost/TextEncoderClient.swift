import ModelHostABI

/// The host's typed view of a plugin's `mh.text_encoder.v1` table (ABI 1.2): open an encoder model from a weights
/// service, then turn batches of tokenized inputs into one vector each.
public final class TextEncoderClient: @unchecked Sendable {
    public let context: PluginContext
    let table: UnsafePointer<mh_text_encoder_v1>

    public init(_ context: PluginContext) throws(PluginCallError) {
        guard let raw = context.interface(MH_IID_TEXT_ENCODER_V1) else {
            throw PluginCallError(function: "get_interface", code: MH_ERR_UNSUPPORTED.rawValue,
                                  message: "plugin \(context.plugin.id) does not implement \(MH_IID_TEXT_ENCODER_V1)")
        }
        let t = raw.assumingMemoryBound(to: mh_text_encoder_v1.self)
        guard t.pointee.struct_size >= UInt32(MH_TEXT_ENCODER_V1_SIZE_1_2), t.pointee.model_open != nil,
              t.pointee.model_close != nil, t.pointee.model_info != nil, t.pointee.encode != nil else {
            throw PluginCallError(function: "get_interface", code: MH_ERR_INCOMPATIBLE.rawValue,
                                  message: "the text encoder table is too small or has NULL functions")
        }
        self.context = context
        self.table = t
    }

    /// Opens the encoder. `weights` must outlive the returned model; the handle keeps a reference.
    public func openModel(weights: WeightsService, path: String,
                          cancelToken: UInt64 = 0) throws(PluginCallError) -> EncoderModelHandle {
        var status = mh_status()
        mh_status_init(&status)
        var model: OpaquePointer?
        let rc = path.withCString { p in
            var desc = mh_model_desc(struct_size: UInt32(MemoryLayout<mh_model_desc>.size), reserved: 0,
                                     weights: UnsafePointer(weights.table), path: p, max_sequences: 0,
                                     max_context: 0, cancel_token: cancelToken,
                                     kv_cache_type: MH_KV_F32.rawValue, reserved2: 0)
            return table.pointee.model_open(context.raw, &desc, &model, &status)
        }
        guard rc == 0, let model else {
            throw PluginCallError(function: "model_open", code: rc == 0 ? MH_ERR_INTERNAL.rawValue : rc,
                                  message: rc == 0 ? "returned OK without a model" : statusText(&status))
        }
        return try EncoderModelHandle(client: self, raw: model, weights: weights)
    }
}

/// How an encoder reduces token states to one vector (`enum mh_pooling`).
public enum EncoderPooling: UInt32, Sendable, CustomStringConvertible {
    case mean = 1, cls = 2, last = 3, max = 4

    public var description: String {
        switch self {
        case .mean: "mean"
        case .cls: "cls"
        case .last: "last"
        case .max: "max"
        }
    }
}

/// An open text encoder. `encode` calls are serial (the worker's one encode loop makes them).
public final class EncoderModelHandle: @unchecked Sendable {
    public let client: TextEncoderClient
    let raw: OpaquePointer
    let weights: WeightsService
    public let embeddingLength: Int
    public let contextLength: Int
    /// 0 = no limit.
    public let maxBatchTokens: Int
    public let vocabularySize: Int
    public let pooling: EncoderPooling
    public let normalized: Bool

    init(client: TextEncoderClient, raw: OpaquePointer, weights: WeightsService) throws(PluginCallError) {
        var info = mh_encoder_info()
        info.struct_size = UInt32(MemoryLayout<mh_encoder_info>.size)
        var status = mh_status()
        mh_status_init(&status)
        let rc = client.table.pointee.model_info(raw, &info, &status)
        func refuse(_ message: String) -> PluginCallError {
            client.table.pointee.model_close(raw)
            return PluginCallError(function: "model_info", code: MH_ERR_INTERNAL.rawValue, message: message)
        }
        guard rc == 0 else {
            client.table.pointee.model_close(raw)
            throw PluginCallError(function: "model_info", code: rc, message: statusText(&status))
        }
        guard info.struct_size >= UInt32(MH_ENCODER_INFO_SIZE_1_2) else {
            throw refuse("wrote \(info.struct_size) bytes of mh_encoder_info, \(MH_ENCODER_INFO_SIZE_1_2) are required")
        }
        guard info.embedding_length > 0, info.context_length > 0, info.vocab_size > 0 else {
            throw refuse("embedding_length, context_length and vocab_size must be positive")
        }
        guard let pooling = EncoderPooling(rawValue: info.pooling) else {
            throw refuse("pooling \(info.pooling) is not an mh_pooling value")
        }
        self.client = client
        self.raw = raw
        self.weights = weights
        embeddingLength = Int(info.embedding_length)
        contextLength = Int(info.context_length)
        maxBatchTokens = Int(info.max_batch_tokens)
        vocabularySize = Int(info.vocab_size)
        self.pooling = pooling
        normalized = info.normalized != 0
    }

    deinit { client.table.pointee.model_close(raw) }

    /// One vector per input (`inputs.count × embeddingLength` floats, row-major). Each input holds 1 ...
    /// contextLength ids below vocabularySize; the caller keeps a batch within maxBatchTokens.
    public func encode(_ inputs: [[Int32]], cancelToken: UInt64 = 0) throws(PluginCallError) -> [Float] {
        guard !inputs.isEmpty else { return [] }
        for (index, tokens) in inputs.enumerated() where tokens.isEmpty || tokens.count > contextLength {
            throw PluginCallError(function: "encode", code: MH_ERR_INVALID_ARG.rawValue,
                                  message: "input \(index) has \(tokens.count) tokens; 1...\(contextLength) are allowed")
        }
        let needed = inputs.count * embeddingLength
        var output = [Float](repeating: 0, count: needed)
        var status = mh_status()
        mh_status_init(&status)
        // The token arrays are pinned for the call: one flat copy, with each input pointing into it.
        let flat = inputs.flatMap { $0 }
        let rc = flat.withUnsafeBufferPointer { ids in
            var entries: [mh_encoder_input] = []
            entries.reserveCapacity(inputs.count)
            var offset = 0
            for tokens in inputs {
                entries.append(mh_encoder_input(struct_size: UInt32(MemoryLayout<mh_encoder_input>.stride),
                                                n_tokens: UInt32(tokens.count), tokens: ids.baseAddress! + offset,
                                                token_types: nil))
                offset += tokens.count
            }
            return entries.withUnsafeBufferPointer { list in
                output.withUnsafeMutableBufferPointer { out in
                    var batch = mh_encoder_batch(struct_size: UInt32(MemoryLayout<mh_encoder_batch>.size),
                                                 n_inputs: UInt32(inputs.count), inputs: list.baseAddress,
                                                 out: out.baseAddress, out_capacity: UInt64(needed),
                                                 cancel_token: cancelToken)
                    return client.table.pointee.encode(raw, &batch, &status)
                }
            }
        }
        guard rc == 0 else { throw PluginCallError(function: "encode", code: rc, message: statusText(&status)) }
        return output
    }
}
