import ModelHostSDK

/// The vision encoder plugin for SmolVLM / Idefics3: opens an mmproj GGUF or a Hugging Face folder's vision tower
/// and connector, and encodes normalized tiles into the decoder's embedding space (see `SigLIPEncoder`).
final class SigLIPPlugin: VisionEncoderPlugin {
    static let info = PluginInfo(
        id: "org.modelhost.siglip",
        version: "0.1.0",
        buildInfo: "SigLIP + Idefics3 connector, Float32 AVX2 kernels",
        capabilities: []
    )

    let host: Host

    /// Idefics3 projectors only: an mmproj declares its projector type, a Hugging Face folder its model type.
    static func probe(_ query: ProbeQuery, host: Host) -> Int32 { ["idefics3", "smolvlm"].contains(query.family) ? 1 : 0 }

    init(host: Host) throws { self.host = host }

    func openModel(_ source: ModelSource) throws -> SigLIPEncoder { try SigLIPEncoder(source, host: host) }
}

@_cdecl("mh_plugin_entry_v1")
public func mh_plugin_entry_v1(_ host: HostTable, _ out: DescriptorOut, _ status: StatusOut) -> Int32 {
    PluginExport.visionEncoder(SigLIPPlugin.self, host, out, status)
}
