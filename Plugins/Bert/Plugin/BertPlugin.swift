import ModelHostSDK

/// The text encoder plugin for BERT-family sentence embedding models (all-MiniLM, BGE, E5, GTE and other
/// sentence-transformers BERT/RoBERTa/XLM-R checkpoints): see `BertEncoder`.
final class BertPlugin: TextEncoderPlugin {
    static let info = PluginInfo(
        id: "org.modelhost.bert",
        version: "0.1.0",
        buildInfo: "BERT-family encoder, Float32 AVX2 kernels, unpadded batches",
        capabilities: [],
        minimumHostMinor: 2
    )

    let host: Host

    static func probe(_ query: ProbeQuery, host: Host) -> Int32 {
        ["bert", "roberta", "xlm-roberta", "camembert"].contains(query.family) ? 1 : 0
    }

    init(host: Host) throws { self.host = host }

    func openModel(_ source: ModelSource) throws -> BertEncoder { try BertEncoder(source, host: host) }
}

@_cdecl("mh_plugin_entry_v1")
public func mh_plugin_entry_v1(_ host: HostTable, _ out: DescriptorOut, _ status: StatusOut) -> Int32 {
    PluginExport.textEncoder(BertPlugin.self, host, out, status)
}
