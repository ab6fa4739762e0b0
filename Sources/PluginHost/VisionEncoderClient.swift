import ModelHostABI

/// The host's typed view of a plugin's `mh.vision_encoder.v1` table: open the encoder and connector from a weights
/// service, then turn normalized pixel tensors into embeddings in the decoder's space.
public final class VisionEncoderClient: @unchecked Sendable {
    public let context: PluginContext
    let table: UnsafePointer<mh_vision_encoder_v1>

    public init(_ context: PluginContext) throws(PluginCallError) {
        guard let raw = context.interface(MH_IID_VISION_ENCODER_V1) else {
            throw PluginCallError(function: "get_interface", code: MH_ERR_UNSUPPORTED.rawValue,
                                  message: "plugin \(context.plugin.id) does not implement \(MH_IID_VISION_ENCODER_V1)")
        }
        let t = raw.assumingMemoryBound(to: mh_vision_encoder_v1.self)
        guard t.pointee.struct_size >= UInt32(MH_VISION_ENCODER_V1_SIZE_1_0), t.pointee.model_open != nil,
              t.pointee.model_close != nil, t.pointee.model_info != nil, t.pointee.encode != nil else {
            throw PluginCallError(function: "get_interface", code: MH_ERR_INCOMPATIBLE.rawValue,
                                  message: "the vision encoder table is too small or has NULL functions")
        }
        self.context = context
        self.table = t
    }

    /// Opens the encoder. `weights` must outlive the returned model; the handle keeps a reference.
    public func openModel(weights: WeightsService, path: String,
                          cancelToken: UInt64 = 0) throws(PluginCallError) -> VisionModelHandle {
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
        return try VisionModelHandle(client: self, raw: model, weights: weights)
    }
}

/// An open vision encoder (SigLIP + connector for SmolVLM). `encode` calls are serial.
public final class VisionModelHandle: @unchecked Sendable {
    public let client: VisionEncoderClient
    let raw: OpaquePointer
    let weights: WeightsService
    /// The square input side.
    public let imageSize: Int
    /// Embeddings per input image (after the connector).
    public let tokensPerImage: Int
    /// Length of one embedding; must equal the decoder's input embedding length.
    public let embeddingLength: Int
    public let mean: (Float, Float, Float)
    public let std: (Float, Float, Float)

    init(client: VisionEncoderClient, raw: OpaquePointer, weights: WeightsService) throws(PluginCallError) {
        var info = mh_vision_info()
        info.struct_size = UInt32(MemoryLayout<mh_vision_info>.size)
        var status = mh_status()
        mh_status_init(&status)
        let rc = client.table.pointee.model_info(raw, &info, &status)
        guard rc == 0 else {
            client.table.pointee.model_close(raw)
            throw PluginCallError(function: "model_info", code: rc, message: statusText(&status))
        }
        guard info.image_size > 0, info.tokens_per_image > 0, info.embedding_length > 0 else {
            client.table.pointee.model_close(raw)
            throw PluginCallError(function: "model_info", code: MH_ERR_INTERNAL.rawValue,
                                  message: "image_size, tokens_per_image and embedding_length must be positive")
        }
        self.client = client
        self.raw = raw
        self.weights = weights
        imageSize = Int(info.image_size)
        tokensPerImage = Int(info.tokens_per_image)
        embeddingLength = Int(info.embedding_length)
        mean = info.image_mean
        std = info.image_std
    }

    deinit { client.table.pointee.model_close(raw) }

    /// `count` images of 3 × imageSize × imageSize normalized floats → count × tokensPerImage × embeddingLength floats.
    public func encode(_ pixels: [Float], count: Int, cancelToken: UInt64 = 0) throws(PluginCallError) -> [Float] {
        let side = imageSize
        guard count >= 1, pixels.count == count * 3 * side * side else {
            throw PluginCallError(function: "encode", code: MH_ERR_INVALID_ARG.rawValue,
                                  message: "expected \(count) images of 3 x \(side) x \(side) floats, got \(pixels.count) floats")
        }
        let needed = count * tokensPerImage * embeddingLength
        var output = [Float](repeating: 0, count: needed)
        var status = mh_status()
        mh_status_init(&status)
        let rc = pixels.withUnsafeBufferPointer { input in
            output.withUnsafeMutableBufferPointer { out in
                var tensor = mh_tensor()
                tensor.struct_size = UInt32(MemoryLayout<mh_tensor>.size)
                tensor.dtype = UInt32(MH_DTYPE_F32.rawValue)
                tensor.ndim = 4
                tensor.shape.0 = Int64(count)
                tensor.shape.1 = 3
                tensor.shape.2 = Int64(side)
                tensor.shape.3 = Int64(side)
                tensor.stride_bytes.3 = 4
                tensor.stride_bytes.2 = Int64(side * 4)
                tensor.stride_bytes.1 = Int64(side * side * 4)
                tensor.stride_bytes.0 = Int64(3 * side * side * 4)
                tensor.data = UnsafeMutableRawPointer(mutating: input.baseAddress)
                tensor.nbytes = UInt64(input.count * 4)
                return client.table.pointee.encode(raw, &tensor, out.baseAddress, UInt64(needed), cancelToken, &status)
            }
        }
        guard rc == 0 else { throw PluginCallError(function: "encode", code: rc, message: statusText(&status)) }
        return output
    }
}
