import ModelHostSDK

// Test-only plugins written with the Swift SDK, one library per kind, so the tests can drive the SDK's C thunks
// for the vision encoder and image preprocessor kinds through the host. Never installed.

/// An image preprocessor for binary PPM (P6) images: enough of a real format to exercise header inspection, size
/// limits, decoding errors and the pixel layout without a codec library.
final class PPMPreprocessorPlugin: ImagePreprocessorPlugin {
    static let info = PluginInfo(id: "org.modelhost.test.ppm", version: "1.0.0")
    static func probe(_ query: ProbeQuery, host: Host) -> Int32 { query.family == "test-vision" ? 1 : 0 }
    init(host: Host) throws {}
    func makePreprocessor(_ config: PreprocessConfig) throws -> PPMPreprocessor {
        guard config.imageSize > 0 else { throw PluginError.invalidArgument("image_size must be positive") }
        return PPMPreprocessor(config)
    }
}

final class PPMPreprocessor: ImagePreprocessor {
    let config: PreprocessConfig
    init(_ config: PreprocessConfig) { self.config = config }

    /// Parses "P6 <w> <h> 255\n": returns width, height and the offset of the pixel data.
    func header(_ bytes: UnsafeRawBufferPointer) throws -> (Int, Int, Int) {
        var fields: [Int] = []
        var i = 2
        guard bytes.count > 2, bytes[0] == UInt8(ascii: "P"), bytes[1] == UInt8(ascii: "6") else {
            throw PluginError.badInput("not a binary PPM image")
        }
        while fields.count < 3 {
            while i < bytes.count, bytes[i] == 32 || bytes[i] == 10 { i += 1 }
            var value = 0
            let start = i
            while i < bytes.count, (48...57).contains(bytes[i]), value < 1 << 20 { value = value * 10 + Int(bytes[i] - 48); i += 1 }
            guard i > start, i < bytes.count else { throw PluginError.badInput("truncated PPM header") }
            fields.append(value)
        }
        guard fields[2] == 255, fields[0] > 0, fields[1] > 0 else { throw PluginError.badInput("unsupported PPM header") }
        return (fields[0], fields[1], i + 1)
    }

    func inspect(_ bytes: UnsafeRawBufferPointer) throws -> ImageHeader {
        let (w, h, _) = try header(bytes)
        return ImageHeader(width: w, height: h, channels: 3, format: "ppm")
    }

    /// Nearest-neighbour resize to imageSize², then (x·rescale − mean)/std per channel, planar CHW.
    func process(_ bytes: UnsafeRawBufferPointer) throws -> ProcessedPixels {
        let (w, h, offset) = try header(bytes)
        guard config.maxPixels == 0 || UInt64(w * h) <= config.maxPixels else {
            throw PluginError.badInput("image of \(w)x\(h) exceeds \(config.maxPixels) pixels")
        }
        guard bytes.count - offset >= w * h * 3 else { throw PluginError.badInput("truncated PPM data") }
        let s = config.imageSize
        var values = [Float](repeating: 0, count: 3 * s * s)
        let mean = [config.imageMean.0, config.imageMean.1, config.imageMean.2]
        let std = [config.imageStd.0, config.imageStd.1, config.imageStd.2]
        for c in 0..<3 {
            for y in 0..<s {
                for x in 0..<s {
                    let sx = x * w / s, sy = y * h / s
                    let v = Float(bytes[offset + (sy * w + sx) * 3 + c]) * config.rescale
                    values[(c * s + y) * s + x] = (v - mean[c]) / std[c]
                }
            }
        }
        return ProcessedPixels(values: values, imageSize: s, tileRows: 1, tileColumns: 1, imageCount: 1)
    }
}

@_cdecl("mh_plugin_entry_v1")
public func mh_plugin_entry_v1(_ host: HostTable, _ out: DescriptorOut, _ status: StatusOut) -> Int32 {
    PluginExport.imagePreprocessor(PPMPreprocessorPlugin.self, host, out, status)
}
