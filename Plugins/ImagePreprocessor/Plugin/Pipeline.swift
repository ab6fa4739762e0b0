import ImagePreprocessorCodecs
import ModelHostSDK

/// One model's preprocessing, configured once by the host:
///
/// 1. Header first: format and size; over `maxPixels` → refused before any pixel memory (decompression bombs).
/// 2. Decode the first frame to RGB: EXIF orientation applied, alpha flattened onto white, grey expanded.
/// 3. The seed's auto-resize (`maxDimension`, chosen by the host from the RAM tier and `VISION_MAX_DIMENSION` /
///    `VISION_AUTO_RESIZE`): longest side capped, aspect kept, Lanczos-3. A JPEG is decoded at the smallest DCT scale
///    that still covers the target size (as Pillow's `draft` does), which is what makes large photos cheap.
/// 4. The model's own preprocessing (SmolVLM / Idefics3):
///    - `maxTiles == 0`: one image, resized to imageSize x imageSize (aspect not kept).
///    - `maxTiles > 0`: longest edge resized to n x imageSize (n = floor(sqrt(maxTiles))), then both sides to
///      multiples of imageSize; if that is more than one tile, rows x cols tiles in row-major order followed by the
///      whole image resized to imageSize x imageSize (the global image); otherwise the single imageSize square.
/// 5. value = (u8 * rescale - mean[c]) / std[c], float32 CHW per image.
///
/// Tile counts: with tiles, tile_rows/tile_cols give the grid and n_images = rows * cols + 1. Without a split (one
/// image) tile_rows = tile_cols = 1 and n_images = 1; Hugging Face reports rows = cols = 0 there, so the engine maps
/// n_images == 1 to Idefics3's single-image prompt.
final class Pipeline: ImagePreprocessor {
    let config: PreprocessConfig

    init(_ config: PreprocessConfig) throws {
        guard config.imageSize > 0, config.imageSize <= 4096 else {
            throw PluginError.invalidArgument("image_size must be between 1 and 4096 (got \(config.imageSize))")
        }
        guard config.rescale.isFinite, config.rescale > 0 else {
            throw PluginError.invalidArgument("rescale must be a positive number (usually 1/255)")
        }
        for s in [config.imageStd.0, config.imageStd.1, config.imageStd.2] where !(s.isFinite && s > 0) {
            throw PluginError.invalidArgument("image_std must be three positive numbers (got \(s))")
        }
        guard config.maxTiles >= 0, config.maxTiles <= 1024 else {
            throw PluginError.invalidArgument("max_tiles must be between 0 and 1024 (got \(config.maxTiles))")
        }
        self.config = config
    }

    func inspect(_ bytes: UnsafeRawBufferPointer) throws -> ImageHeader {
        let header = try mapped { try Self.header(bytes) }
        let swap = header.orientation >= 5
        return ImageHeader(width: Int(swap ? header.height : header.width), height: Int(swap ? header.width : header.height),
                           channels: Int(header.channels), format: String(cString: mhi_format_name(header.format)))
    }

    func process(_ bytes: UnsafeRawBufferPointer) throws -> ProcessedPixels {
        try mapped {
            let header = try Self.header(bytes)
            let pixels = UInt64(header.width) * UInt64(header.height)
            if config.maxPixels != 0 && pixels > config.maxPixels {
                throw PreprocessFailure.tooLarge(
                    "image of \(header.width)x\(header.height) exceeds the limit of \(config.maxPixels) pixels; send a smaller image")
            }
            let swap = header.orientation >= 5
            let shown = (Int(swap ? header.height : header.width), Int(swap ? header.width : header.height))
            let target = ResizePlan.autoResize(width: shown.0, height: shown.1, maxDimension: config.maxDimension)
            // The decoder works in stored orientation: a rotated image's hint is the target turned back.
            let hint = target.map { swap ? ($0.height, $0.width) : ($0.width, $0.height) } ?? (0, 0)
            var image = try RGBImage.decode(bytes, maxPixels: config.maxPixels, minimumSize: hint)
            if let target { image = try image.resized(width: target.width, height: target.height) }
            return try modelStage(image)
        }
    }

    /// Step 4 and 5: the model's resize, split and normalization.
    func modelStage(_ image: RGBImage) throws -> ProcessedPixels {
        let side = config.imageSize
        guard config.maxTiles > 0 else {
            let square = try image.resized(width: side, height: side)
            return ProcessedPixels(values: normalize([square]), imageSize: side, tileRows: 1, tileColumns: 1, imageCount: 1)
        }
        let longest = ResizePlan.patchesPerSide(maxTiles: config.maxTiles) * side
        let first = ResizePlan.toLongestEdge(width: image.width, height: image.height, longestEdge: longest)
        let scaled = try image.resized(width: first.width, height: first.height)
        let grid = ResizePlan.toPatchMultiples(width: scaled.width, height: scaled.height, patch: side)
        let gridded = try scaled.resized(width: grid.width, height: grid.height)
        let rows = gridded.height / side, cols = gridded.width / side
        if rows * cols == 1 {
            return ProcessedPixels(values: normalize([gridded]), imageSize: side, tileRows: 1, tileColumns: 1, imageCount: 1)
        }
        var images: [RGBImage] = []
        images.reserveCapacity(rows * cols + 1)
        for r in 0..<rows { for c in 0..<cols { images.append(gridded.tile(x: c * side, y: r * side, side: side)) } }
        images.append(try gridded.resized(width: side, height: side))
        return ProcessedPixels(values: normalize(images), imageSize: side, tileRows: rows, tileColumns: cols,
                               imageCount: images.count)
    }

    /// (u8 * rescale - mean) / std, folded into one multiply-add per value, written planar (CHW) image after image.
    func normalize(_ images: [RGBImage]) -> [Float] {
        let plane = config.imageSize * config.imageSize
        let means = [config.imageMean.0, config.imageMean.1, config.imageMean.2]
        let stds = [config.imageStd.0, config.imageStd.1, config.imageStd.2]
        let scale = (0..<3).map { config.rescale / stds[$0] }
        let offset = (0..<3).map { -means[$0] / stds[$0] }
        var values = [Float](repeating: 0, count: images.count * 3 * plane)
        values.withUnsafeMutableBufferPointer { out in
            for (n, image) in images.enumerated() {
                image.pixels.withUnsafeBufferPointer { px in
                    for c in 0..<3 {
                        let dst = out.baseAddress! + (n * 3 + c) * plane
                        let a = scale[c], b = offset[c]
                        for i in 0..<plane { dst[i] = Float(px[i * 3 + c]) * a + b }
                    }
                }
            }
        }
        return values
    }

    static func header(_ bytes: UnsafeRawBufferPointer) throws -> mhi_header {
        var header = mhi_header()
        var error = mhi_error()
        let rc = mhi_read_header(bytes.baseAddress!.assumingMemoryBound(to: UInt8.self), bytes.count, &header, &error)
        try CodecFailure.check(rc, &error)
        return header
    }

    /// Maps pipeline failures to the ABI's codes: corrupt and oversized images are the caller's (MH_ERR_BAD_INPUT).
    func mapped<T>(_ body: () throws -> T) throws -> T {
        do {
            return try body()
        } catch let failure as PreprocessFailure {
            switch failure {
            case .badInput(let m), .tooLarge(let m): throw PluginError.badInput(m)
            case .outOfMemory(let m): throw PluginError.outOfMemory(m)
            case .internalError(let m): throw PluginError(.internal, m)
            }
        }
    }
}
