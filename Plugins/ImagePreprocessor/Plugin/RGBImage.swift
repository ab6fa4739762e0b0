import ImagePreprocessorCodecs

/// An 8-bit interleaved RGB image owned by Swift. Every stage of the pipeline produces one, quantized to 8 bits as
/// Pillow (and therefore Hugging Face's processors) does between resizes, so the stages can be compared one by one
/// with a reference.
struct RGBImage {
    var width: Int
    var height: Int
    var pixels: [UInt8]

    /// Decodes the first frame (EXIF orientation applied, alpha flattened onto white). `minimumSize` lets a JPEG
    /// decode at a reduced DCT scale whose output still covers it.
    static func decode(_ bytes: UnsafeRawBufferPointer, maxPixels: UInt64, minimumSize: (Int, Int)) throws -> RGBImage {
        var image = mhi_image()
        var error = mhi_error()
        let rc = mhi_decode(bytes.baseAddress!.assumingMemoryBound(to: UInt8.self), bytes.count, maxPixels,
                            UInt32(clamping: minimumSize.0), UInt32(clamping: minimumSize.1), &image, &error)
        defer { mhi_image_free(&image) }
        try CodecFailure.check(rc, &error)
        let width = Int(image.width), height = Int(image.height)
        let pixels = [UInt8](UnsafeBufferPointer(start: image.rgb, count: width * height * 3))
        return RGBImage(width: width, height: height, pixels: pixels)
    }

    /// The Lanczos-3 resize of `mh_image_codecs.h` (exact kernel in lanczos.c); the same size returns a copy.
    func resized(width newWidth: Int, height newHeight: Int) throws -> RGBImage {
        if newWidth == width && newHeight == height { return self }
        var out = [UInt8](repeating: 0, count: newWidth * newHeight * 3)
        let rc = pixels.withUnsafeBufferPointer { src in
            out.withUnsafeMutableBufferPointer { dst in
                mhi_resize_lanczos3(src.baseAddress, UInt32(width), UInt32(height), dst.baseAddress,
                                    UInt32(newWidth), UInt32(newHeight))
            }
        }
        if rc == Int32(MHI_NO_MEMORY) {
            throw PreprocessFailure.outOfMemory("out of memory resizing \(width)x\(height) to \(newWidth)x\(newHeight)")
        }
        guard rc == Int32(MHI_OK) else {
            throw PreprocessFailure.internalError("resize \(width)x\(height) to \(newWidth)x\(newHeight) failed")
        }
        return RGBImage(width: newWidth, height: newHeight, pixels: out)
    }

    /// The `side` x `side` square whose top-left corner is (x, y); it must lie inside the image.
    func tile(x: Int, y: Int, side: Int) -> RGBImage {
        var out = [UInt8](repeating: 0, count: side * side * 3)
        pixels.withUnsafeBufferPointer { src in
            out.withUnsafeMutableBufferPointer { dst in
                for row in 0..<side {
                    let from = ((y + row) * width + x) * 3
                    (dst.baseAddress! + row * side * 3).update(from: src.baseAddress! + from, count: side * 3)
                }
            }
        }
        return RGBImage(width: side, height: side, pixels: out)
    }
}

/// Errors of the pipeline, before they become the SDK's `PluginError` at the ABI edge.
enum PreprocessFailure: Error {
    case badInput(String)
    case tooLarge(String)
    case outOfMemory(String)
    case internalError(String)
}

enum CodecFailure {
    /// Turns a codec result code and its message into a `PreprocessFailure`.
    static func check(_ rc: Int32, _ error: inout mhi_error) throws {
        guard rc != Int32(MHI_OK) else { return }
        let message = withUnsafeBytes(of: &error.message) { raw in
            String(decoding: raw.prefix(while: { $0 != 0 }), as: UTF8.self)
        }
        switch rc {
        case Int32(MHI_TOO_LARGE): throw PreprocessFailure.tooLarge(message)
        case Int32(MHI_NO_MEMORY): throw PreprocessFailure.outOfMemory(message)
        default: throw PreprocessFailure.badInput(message.isEmpty ? "the image cannot be decoded" : message)
        }
    }
}
