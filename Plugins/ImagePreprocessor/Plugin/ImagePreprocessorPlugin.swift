import ModelHostSDK

/// The image preprocessor plugin: PNG, JPEG, WebP and GIF bytes in, normalized float32 tiles out (see `Pipeline`).
/// It is model-agnostic: everything model-specific (input size, tiling budget, mean/std, rescale, the auto-resize
/// cap and the pixel limit) arrives in the config, so any family's worker may load it.
final class ImagePreprocessorPluginMain: ImagePreprocessorPlugin {
    static let info = PluginInfo(
        id: "org.modelhost.image-preprocessor",
        version: "0.1.0",
        buildInfo: "libjpeg-turbo, libpng, libwebp, giflib; Lanczos-3 resize; Idefics3 splitting",
        capabilities: [.concurrentObjects]
    )

    static func probe(_ query: ProbeQuery, host: Host) -> Int32 { 1 }

    init(host: Host) throws {}

    func makePreprocessor(_ config: PreprocessConfig) throws -> Pipeline { try Pipeline(config) }
}

@_cdecl("mh_plugin_entry_v1")
public func mh_plugin_entry_v1(_ host: HostTable, _ out: DescriptorOut, _ status: StatusOut) -> Int32 {
    PluginExport.imagePreprocessor(ImagePreprocessorPluginMain.self, host, out, status)
}
