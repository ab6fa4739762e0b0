import ModelHostSDK

/// A test-only vision encoder written with the Swift SDK: splits each image into `tokens` horizontal bands and emits,
/// per band, the per-channel means repeated to fill the embedding. Simple enough to check by hand, real enough to
/// exercise the SDK's shape validation, output sizing and error statuses.
final class MeanPoolEncoderPlugin: VisionEncoderPlugin {
    static let info = PluginInfo(id: "org.modelhost.test.meanpool", version: "1.0.0")
    static func probe(_ query: ProbeQuery, host: Host) -> Int32 { query.family == "test-vision" ? 1 : 0 }
    init(host: Host) throws {}
    func openModel(_ source: ModelSource) throws -> MeanPoolModel {
        guard let size = source.weights.meta("test.image_size")?.intValue, size > 0,
              let tokens = source.weights.meta("test.tokens")?.intValue, tokens > 0, size % tokens == 0,
              let width = source.weights.meta("test.embedding_length")?.intValue, width >= 3 else {
            throw PluginError.badModel("test.image_size, test.tokens and test.embedding_length are required")
        }
        return MeanPoolModel(VisionInfo(imageSize: size, tokensPerImage: tokens, embeddingLength: width,
                                        imageMean: (0.5, 0.5, 0.5), imageStd: (0.5, 0.5, 0.5)))
    }
}

final class MeanPoolModel: VisionModel {
    let info: VisionInfo
    init(_ info: VisionInfo) { self.info = info }

    func encode(pixels: UnsafeBufferPointer<Float>, count: Int, into output: UnsafeMutableBufferPointer<Float>,
                cancellation: CancellationToken) throws {
        let s = info.imageSize, bands = info.tokensPerImage, rows = s / bands, width = info.embeddingLength
        for image in 0..<count {
            for band in 0..<bands {
                var means: [Float] = [0, 0, 0]
                for c in 0..<3 {
                    var sum: Float = 0
                    for y in band * rows..<(band + 1) * rows {
                        for x in 0..<s { sum += pixels[((image * 3 + c) * s + y) * s + x] }
                    }
                    means[c] = sum / Float(rows * s)
                }
                let base = (image * bands + band) * width
                for k in 0..<width { output[base + k] = means[k % 3] }
            }
        }
    }
}

@_cdecl("mh_plugin_entry_v1")
public func mh_plugin_entry_v1(_ host: HostTable, _ out: DescriptorOut, _ status: StatusOut) -> Int32 {
    PluginExport.visionEncoder(MeanPoolEncoderPlugin.self, host, out, status)
}
