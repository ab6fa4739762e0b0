/// An image preprocessor plugin: encoded image bytes in, normalized pixel tensors out. Implement this and an
/// `ImagePreprocessor`, and export it with `PluginExport.imagePreprocessor`.
public protocol ImagePreprocessorPlugin: AnyObject {
    associatedtype Preprocessor: ImagePreprocessor
    static var info: PluginInfo { get }
    static func probe(_ query: ProbeQuery, host: Host) -> Int32
    init(host: Host) throws
    func makePreprocessor(_ config: PreprocessConfig) throws -> Preprocessor
}

public struct PreprocessConfig: Sendable {
    public let maxDimension: Int
    public let imageSize: Int
    public let maxTiles: Int
    public let imageMean: (Float, Float, Float)
    public let imageStd: (Float, Float, Float)
    public let rescale: Float
    public let maxPixels: UInt64
}

public struct ImageHeader: Sendable {
    public var width: Int
    public var height: Int
    public var channels: Int
    /// "png", "jpeg", "webp", "gif".
    public var format: String
    public init(width: Int, height: Int, channels: Int, format: String) {
        self.width = width
        self.height = height
        self.channels = channels
        self.format = format
    }
}

/// Processed pixels: F32 [images, 3, imageSize, imageSize]; with tiling, the global image comes last.
public struct ProcessedPixels: Sendable {
    public var values: [Float]
    public var imageSize: Int
    public var tileRows: Int
    public var tileColumns: Int
    public var imageCount: Int
    public init(values: [Float], imageSize: Int, tileRows: Int, tileColumns: Int, imageCount: Int) {
        self.values = values
        self.imageSize = imageSize
        self.tileRows = tileRows
        self.tileColumns = tileColumns
        self.imageCount = imageCount
    }
}

public protocol ImagePreprocessor: AnyObject {
    /// Header only: dimensions and format, in bounded time and memory. Throw `.badInput` for garbage.
    func inspect(_ bytes: UnsafeRawBufferPointer) throws -> ImageHeader
    /// Decode, orient, convert, resize and normalize. Throw `.badInput` for corrupt or oversized images.
    func process(_ bytes: UnsafeRawBufferPointer) throws -> ProcessedPixels
}

final class PreprocessorPluginBox {
    let make: (PreprocessConfig) throws -> PreprocessorBox
    init(make: @escaping (PreprocessConfig) throws -> PreprocessorBox) { self.make = make }
}

final class PreprocessorBox {
    let preprocessor: any ImagePreprocessor
    init(_ p: any ImagePreprocessor) { preprocessor = p }
}

/// Owns processed pixels until the host releases them, in a buffer whose address is stable for the tensor view.
final class PixelsBox {
    let pixels: ProcessedPixels
    let storage: UnsafeMutableBufferPointer<Float>
    init(_ p: ProcessedPixels) {
        pixels = ProcessedPixels(values: [], imageSize: p.imageSize, tileRows: p.tileRows, tileColumns: p.tileColumns,
                                 imageCount: p.imageCount)
        storage = .allocate(capacity: max(p.values.count, 1))
        _ = storage.initialize(from: p.values)
    }
    deinit { storage.deallocate() }
}

extension PluginExport {
    /// Exports an image preprocessor plugin. Call it from your `@_cdecl("mh_plugin_entry_v1")` function.
    public static func imagePreprocessor<P: ImagePreprocessorPlugin>(_ plugin: P.Type, _ host: HostTable,
                                                                   _ out: DescriptorOut, _ status: StatusOut) -> Int32 {
        let info = P.info
        guard let h = negotiate(host, out, status, info: info) else { return status?.pointee.code ?? -3 }
        out!.pointee = ExportState.shared.descriptor(kind: .imagePreprocessor, info: info, host: h) { state in
            state.probe = { P.probe($0, host: $1) }
            state.makeContext = { host in
                let instance = try P(host: host)
                return PreprocessorPluginBox { PreprocessorBox(try instance.makePreprocessor($0)) }
            }
            state.interfaces[MH_IID_IMAGE_PREPROCESSOR_V1] = UnsafeRawPointer(preprocessorTable)
        }
        return 0
    }
}

private func preprocessor(_ p: OpaquePointer?) -> PreprocessorBox? {
    p.map { Unmanaged<PreprocessorBox>.fromOpaque(UnsafeRawPointer($0)).takeUnretainedValue() }
}

private func bytes(_ pointer: UnsafePointer<UInt8>?, _ length: UInt64) -> UnsafeRawBufferPointer? {
    guard let pointer, length > 0, length < UInt64(Int.max) else { return nil }
    return UnsafeRawBufferPointer(start: pointer, count: Int(length))
}

let preprocessorTable: UnsafeMutablePointer<mh_image_preprocessor_v1> = {
    let t = UnsafeMutablePointer<mh_image_preprocessor_v1>.allocate(capacity: 1)
    t.initialize(to: mh_image_preprocessor_v1())
    t.pointee.struct_size = UInt32(MemoryLayout<mh_image_preprocessor_v1>.size)
    t.pointee.create = { context, config, out, status in
        guard let context, let config, let out,
              config.pointee.struct_size >= UInt32(MH_PREPROCESS_CONFIG_SIZE_1_0) else {
            return writeStatus(status, .invalidArgument, "create: context, a full-size config and out are required")
        }
        return guarded(status) {
            guard let plugin = Unmanaged<AnyObject>.fromOpaque(context).takeUnretainedValue() as? PreprocessorPluginBox else {
                throw PluginError.invalidArgument("create: the context is not an image preprocessor's")
            }
            let c = config.pointee
            let cfg = PreprocessConfig(maxDimension: Int(c.max_dimension), imageSize: Int(c.image_size),
                                       maxTiles: Int(c.max_tiles), imageMean: c.image_mean, imageStd: c.image_std,
                                       rescale: c.rescale, maxPixels: c.max_pixels)
            out.pointee = OpaquePointer(Unmanaged.passRetained(try plugin.make(cfg)).toOpaque())
        }
    }
    t.pointee.destroy = { p in
        guard let p else { return }
        Unmanaged<PreprocessorBox>.fromOpaque(UnsafeRawPointer(p)).release()
    }
    t.pointee.inspect = { p, data, length, out, status in
        guard let box = preprocessor(p), let out, out.pointee.struct_size >= UInt32(MH_IMAGE_INFO_SIZE_1_0) else {
            return writeStatus(status, .invalidArgument, "inspect: preprocessor and a full-size out are required")
        }
        guard let input = bytes(data, length) else { return writeStatus(status, .badInput, "inspect: the image is empty") }
        return guarded(status) {
            let header = try box.preprocessor.inspect(input)
            out.pointee.width = UInt32(clamping: header.width)
            out.pointee.height = UInt32(clamping: header.height)
            out.pointee.channels = UInt32(clamping: header.channels)
            withUnsafeMutableBytes(of: &out.pointee.format) { raw in
                raw.initializeMemory(as: UInt8.self, repeating: 0)
                let name = Array(header.format.utf8.prefix(raw.count - 1))
                raw.copyBytes(from: name)
            }
        }
    }
    t.pointee.process = { p, data, length, out, status in
        guard let box = preprocessor(p), let out else {
            return writeStatus(status, .invalidArgument, "process: preprocessor and out must not be NULL")
        }
        guard let input = bytes(data, length) else { return writeStatus(status, .badInput, "process: the image is empty") }
        return guarded(status) {
            let pixels = try box.preprocessor.process(input)
            let expected = pixels.imageCount * 3 * pixels.imageSize * pixels.imageSize
            guard pixels.values.count == expected else {
                throw PluginError(.internal, "process produced \(pixels.values.count) values, the layout needs \(expected)")
            }
            out.pointee = OpaquePointer(Unmanaged.passRetained(PixelsBox(pixels)).toOpaque())
        }
    }
    t.pointee.pixels_view = { px, tensor, info, status in
        guard let px, let tensor, tensor.pointee.struct_size >= UInt32(MH_TENSOR_SIZE_1_0) else {
            return writeStatus(status, .invalidArgument, "pixels_view: pixels and a full-size tensor are required")
        }
        let box = Unmanaged<PixelsBox>.fromOpaque(UnsafeRawPointer(px)).takeUnretainedValue()
        let p = box.pixels
        let side = Int64(p.imageSize)
        var t = mh_tensor()
        t.struct_size = UInt32(MemoryLayout<mh_tensor>.size)
        t.dtype = UInt32(MH_DTYPE_F32.rawValue)
        t.ndim = 4
        t.flags = UInt32(MH_TENSOR_READ_ONLY.rawValue)
        t.shape.0 = Int64(p.imageCount); t.shape.1 = 3; t.shape.2 = side; t.shape.3 = side
        t.stride_bytes.3 = 4; t.stride_bytes.2 = 4 * side; t.stride_bytes.1 = 4 * side * side
        t.stride_bytes.0 = 12 * side * side
        t.data = UnsafeMutableRawPointer(box.storage.baseAddress)
        t.nbytes = UInt64(p.imageCount * 3 * p.imageSize * p.imageSize * 4)
        t.device_type = Int32(MH_DEVICE_CPU.rawValue)
        withUnsafeBytes(of: t) { mh_copy_out(tensor, $0.baseAddress, $0.count) }
        if let info, info.pointee.struct_size >= UInt32(MH_PIXELS_INFO_SIZE_1_0) {
            info.pointee.tile_rows = UInt32(clamping: p.tileRows)
            info.pointee.tile_cols = UInt32(clamping: p.tileColumns)
            info.pointee.n_images = UInt32(clamping: p.imageCount)
        }
        return 0
    }
    t.pointee.pixels_release = { px in
        guard let px else { return }
        Unmanaged<PixelsBox>.fromOpaque(UnsafeRawPointer(px)).release()
    }
    return t
}()
