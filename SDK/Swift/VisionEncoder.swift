/// A vision encoder plugin: normalized pixels in, embeddings in the decoder's space out. Implement this and a
/// `VisionModel`, and export it with `PluginExport.visionEncoder`.
public protocol VisionEncoderPlugin: AnyObject {
    associatedtype Model: VisionModel
    static var info: PluginInfo { get }
    static func probe(_ query: ProbeQuery, host: Host) -> Int32
    init(host: Host) throws
    func openModel(_ source: ModelSource) throws -> Model
}

public struct VisionInfo: Sendable {
    public var imageSize: Int
    public var tokensPerImage: Int
    public var embeddingLength: Int
    public var imageMean: (Float, Float, Float)
    public var imageStd: (Float, Float, Float)

    public init(imageSize: Int, tokensPerImage: Int, embeddingLength: Int,
                imageMean: (Float, Float, Float), imageStd: (Float, Float, Float)) {
        self.imageSize = imageSize
        self.tokensPerImage = tokensPerImage
        self.embeddingLength = embeddingLength
        self.imageMean = imageMean
        self.imageStd = imageStd
    }
}

public protocol VisionModel: AnyObject {
    var info: VisionInfo { get }
    /// `pixels`: `count` images of 3 × imageSize × imageSize floats (already checked). `output`: count ×
    /// tokensPerImage × embeddingLength floats, the host's buffer.
    func encode(pixels: UnsafeBufferPointer<Float>, count: Int, into output: UnsafeMutableBufferPointer<Float>,
                cancellation: CancellationToken) throws
}

final class VisionPluginBox {
    let open: (ModelSource) throws -> VisionModelBox
    init(open: @escaping (ModelSource) throws -> VisionModelBox) { self.open = open }
}

final class VisionModelBox {
    let model: any VisionModel
    init(_ model: any VisionModel) { self.model = model }
}

extension PluginExport {
    /// Exports a vision encoder plugin. Call it from your `@_cdecl("mh_plugin_entry_v1")` function.
    public static func visionEncoder<P: VisionEncoderPlugin>(_ plugin: P.Type, _ host: HostTable, _ out: DescriptorOut,
                                                           _ status: StatusOut) -> Int32 {
        let info = P.info
        guard let h = negotiate(host, out, status, info: info) else { return status?.pointee.code ?? -3 }
        out!.pointee = ExportState.shared.descriptor(kind: .visionEncoder, info: info, host: h) { state in
            state.probe = { P.probe($0, host: $1) }
            state.makeContext = { host in
                let instance = try P(host: host)
                return VisionPluginBox { VisionModelBox(try instance.openModel($0)) }
            }
            state.interfaces[MH_IID_VISION_ENCODER_V1] = UnsafeRawPointer(visionTable)
        }
        return 0
    }
}

private func visionModel(_ p: OpaquePointer?) -> VisionModelBox? {
    p.map { Unmanaged<VisionModelBox>.fromOpaque(UnsafeRawPointer($0)).takeUnretainedValue() }
}

let visionTable: UnsafeMutablePointer<mh_vision_encoder_v1> = {
    let t = UnsafeMutablePointer<mh_vision_encoder_v1>.allocate(capacity: 1)
    t.initialize(to: mh_vision_encoder_v1())
    t.pointee.struct_size = UInt32(MemoryLayout<mh_vision_encoder_v1>.size)
    t.pointee.model_open = { context, desc, out, status in
        guard let context, let desc, let out else {
            return writeStatus(status, .invalidArgument, "model_open: context, desc and out must not be NULL")
        }
        return guarded(status) {
            guard let plugin = Unmanaged<AnyObject>.fromOpaque(context).takeUnretainedValue() as? VisionPluginBox else {
                throw PluginError.invalidArgument("model_open: the context is not a vision encoder's")
            }
            out.pointee = OpaquePointer(Unmanaged.passRetained(try plugin.open(try ModelSource(desc))).toOpaque())
        }
    }
    t.pointee.model_close = { m in
        guard let m else { return }
        Unmanaged<VisionModelBox>.fromOpaque(UnsafeRawPointer(m)).release()
    }
    t.pointee.model_info = { m, out, status in
        guard let box = visionModel(m), let out,
              out.pointee.struct_size >= UInt32(MH_VISION_INFO_SIZE_1_0) else {
            return writeStatus(status, .invalidArgument, "model_info: model and a full-size out are required")
        }
        let i = box.model.info
        out.pointee.image_size = UInt32(clamping: i.imageSize)
        out.pointee.tokens_per_image = UInt32(clamping: i.tokensPerImage)
        out.pointee.embedding_length = UInt32(clamping: i.embeddingLength)
        out.pointee.image_mean = i.imageMean
        out.pointee.image_std = i.imageStd
        return 0
    }
    t.pointee.encode = { m, pixels, out, capacity, cancel, status in
        guard let box = visionModel(m), let pixels, let out else {
            return writeStatus(status, .invalidArgument, "encode: model, pixels and out must not be NULL")
        }
        let info = box.model.info
        let p = pixels.pointee
        let side = Int64(info.imageSize)
        guard p.struct_size >= UInt32(MH_TENSOR_SIZE_1_0), p.dtype == UInt32(MH_DTYPE_F32.rawValue),
              p.ndim == 4, p.data != nil else {
            return writeStatus(status, .invalidArgument, "encode: pixels must be an F32 tensor [n, 3, H, W]")
        }
        let shape = p.shape
        guard shape.0 >= 1, shape.1 == 3, shape.2 == side, shape.3 == side else {
            return writeStatus(status, .invalidArgument,
                               "encode: pixels must be [n, 3, \(side), \(side)], got [\(shape.0), \(shape.1), \(shape.2), \(shape.3)]")
        }
        let count = Int(shape.0)
        let values = count * 3 * info.imageSize * info.imageSize
        guard p.nbytes >= UInt64(values * 4), p.stride_bytes.3 == 4 else {
            return writeStatus(status, .invalidArgument, "encode: pixels must be contiguous and hold \(values) floats")
        }
        let needed = count * info.tokensPerImage * info.embeddingLength
        guard capacity >= UInt64(needed) else {
            return writeStatus(status, .invalidArgument, "encode: out holds \(capacity) floats, \(needed) are needed")
        }
        return guarded(status) {
            let input = UnsafeBufferPointer(start: p.data!.assumingMemoryBound(to: Float.self), count: values)
            try box.model.encode(pixels: input, count: count, into: UnsafeMutableBufferPointer(start: out, count: needed),
                                 cancellation: CancellationToken(cancel))
        }
    }
    return t
}()
