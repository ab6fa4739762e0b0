import ModelHostABI

/// The host's typed view of a plugin's `mh.image_preprocessor.v1` table: configure one preprocessor per model, then
/// turn encoded image bytes into the normalized pixel tensors the vision encoder takes.
public final class ImagePreprocessorClient: @unchecked Sendable {
    public let context: PluginContext
    let table: UnsafePointer<mh_image_preprocessor_v1>

    public init(_ context: PluginContext) throws(PluginCallError) {
        guard let raw = context.interface(MH_IID_IMAGE_PREPROCESSOR_V1) else {
            throw PluginCallError(function: "get_interface", code: MH_ERR_UNSUPPORTED.rawValue,
                                  message: "plugin \(context.plugin.id) does not implement \(MH_IID_IMAGE_PREPROCESSOR_V1)")
        }
        let t = raw.assumingMemoryBound(to: mh_image_preprocessor_v1.self)
        guard t.pointee.struct_size >= UInt32(MH_IMAGE_PREPROCESSOR_V1_SIZE_1_0),
              t.pointee.create != nil, t.pointee.destroy != nil, t.pointee.inspect != nil, t.pointee.process != nil,
              t.pointee.pixels_view != nil, t.pointee.pixels_release != nil else {
            throw PluginCallError(function: "get_interface", code: MH_ERR_INCOMPATIBLE.rawValue,
                                  message: "the image preprocessor table is too small or has NULL functions")
        }
        self.context = context
        self.table = t
    }

    /// How a model wants its pixels.
    public struct Configuration: Sendable, Equatable {
        /// The auto-resize's longest side (0: off).
        public var maxDimension: Int
        /// The encoder's square input side.
        public var imageSize: Int
        /// 0: one image resized to `imageSize²`; otherwise the most tiles of a split image.
        public var maxTiles: Int
        public var mean: (Float, Float, Float)
        public var std: (Float, Float, Float)
        public var rescale: Float
        public var maxPixels: UInt64

        public init(maxDimension: Int, imageSize: Int, maxTiles: Int, mean: (Float, Float, Float),
                    std: (Float, Float, Float), rescale: Float = 1 / 255, maxPixels: UInt64 = 50_000_000) {
            self.maxDimension = maxDimension
            self.imageSize = imageSize
            self.maxTiles = maxTiles
            self.mean = mean
            self.std = std
            self.rescale = rescale
            self.maxPixels = maxPixels
        }

        public static func == (a: Configuration, b: Configuration) -> Bool {
            a.maxDimension == b.maxDimension && a.imageSize == b.imageSize && a.maxTiles == b.maxTiles
                && a.mean == b.mean && a.std == b.std && a.rescale == b.rescale && a.maxPixels == b.maxPixels
        }
    }

    public func makePreprocessor(_ configuration: Configuration) throws(PluginCallError) -> ImagePreprocessorHandle {
        var config = mh_preprocess_config()
        config.struct_size = UInt32(MemoryLayout<mh_preprocess_config>.size)
        config.max_dimension = UInt32(clamping: configuration.maxDimension)
        config.image_size = UInt32(clamping: configuration.imageSize)
        config.max_tiles = UInt32(clamping: configuration.maxTiles)
        config.image_mean = configuration.mean
        config.image_std = configuration.std
        config.rescale = configuration.rescale
        config.max_pixels = configuration.maxPixels
        var status = mh_status()
        mh_status_init(&status)
        var out: OpaquePointer?
        let rc = table.pointee.create(context.raw, &config, &out, &status)
        guard rc == 0, let out else {
            throw PluginCallError(function: "create", code: rc == 0 ? MH_ERR_INTERNAL.rawValue : rc,
                                  message: rc == 0 ? "returned OK without a preprocessor" : statusText(&status))
        }
        return ImagePreprocessorHandle(client: self, raw: out)
    }
}

/// One processed image: `count` planar RGB tensors of `side × side` floats (tiles in row-major order, then the
/// global image when the image was split).
public struct ProcessedImage: Sendable {
    public var pixels: [Float]
    public var count: Int
    public var side: Int
    public var tileRows: Int
    public var tileCols: Int
    /// Whether the image was split into tiles (then the last of `count` is the whole image).
    public var isSplit: Bool { count > 1 }
}

/// A preprocessor configured for one model. Calls on one handle are serial (`object-serial` in the header).
public final class ImagePreprocessorHandle: @unchecked Sendable {
    let client: ImagePreprocessorClient
    let raw: OpaquePointer

    init(client: ImagePreprocessorClient, raw: OpaquePointer) {
        self.client = client
        self.raw = raw
    }

    deinit { client.table.pointee.destroy(raw) }

    /// Decodes, resizes and normalizes one image. `MH_ERR_BAD_INPUT` (a corrupt, unsupported or oversized image) is
    /// the client's fault; anything else is the plugin's.
    public func process(_ bytes: [UInt8]) throws(PluginCallError) -> ProcessedImage {
        var status = mh_status()
        mh_status_init(&status)
        var pixels: OpaquePointer?
        let rc = bytes.withUnsafeBufferPointer { client.table.pointee.process(raw, $0.baseAddress, UInt64($0.count), &pixels, &status) }
        guard rc == 0, let pixels else {
            throw PluginCallError(function: "process", code: rc == 0 ? MH_ERR_INTERNAL.rawValue : rc,
                                  message: rc == 0 ? "returned OK without pixels" : statusText(&status))
        }
        defer { client.table.pointee.pixels_release(pixels) }
        var tensor = mh_tensor()
        tensor.struct_size = UInt32(MemoryLayout<mh_tensor>.size)
        var info = mh_pixels_info()
        info.struct_size = UInt32(MemoryLayout<mh_pixels_info>.size)
        let vrc = client.table.pointee.pixels_view(pixels, &tensor, &info, &status)
        guard vrc == 0 else { throw PluginCallError(function: "pixels_view", code: vrc, message: statusText(&status)) }
        let shape = tensor.shape
        guard tensor.dtype == UInt32(MH_DTYPE_F32.rawValue), tensor.ndim == 4, shape.1 == 3, shape.2 == shape.3,
              shape.0 >= 1, shape.0 == Int64(info.n_images), let data = tensor.data,
              tensor.nbytes == UInt64(shape.0 * 3 * shape.2 * shape.3 * 4) else {
            throw PluginCallError(function: "pixels_view", code: MH_ERR_INTERNAL.rawValue,
                                  message: "the pixels are not a contiguous F32 [n, 3, side, side] tensor matching n_images")
        }
        let count = Int(shape.0) * 3 * Int(shape.2) * Int(shape.3)
        let values = Array(UnsafeBufferPointer(start: data.assumingMemoryBound(to: Float.self), count: count))
        return ProcessedImage(pixels: values, count: Int(shape.0), side: Int(shape.2),
                              tileRows: Int(info.tile_rows), tileCols: Int(info.tile_cols))
    }
}
