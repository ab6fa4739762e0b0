import LlamaKernels
import ModelFormats

/// Adapts a parsed GGUF file to the model's `WeightSource`: tensors are views into the file's mapping. For the kernel
/// benchmark and tests, which run the model without the plugin ABI; the plugin itself gets its weights from the
/// host's weights service (`WeightsAdapter` in Plugins/Llama/Decoder) and never links this.
public final class GGUFWeightSource: WeightSource {
    public let file: GGUFFile

    public init(path: String) throws { file = try GGUFFile(path: path) }

    public func tensor(_ name: String) -> WeightView? {
        guard let info = file.tensor(named: name), let type = Self.weightType(info.type) else { return nil }
        let bytes = file.data(for: info)
        guard let base = bytes.baseAddress else { return nil }
        return WeightView(name: name, type: type, dimensions: info.dimensions, data: base, byteCount: bytes.count)
    }

    public func unusableReason(_ name: String) -> String? {
        guard let info = file.tensor(named: name), Self.weightType(info.type) == nil else { return nil }
        return "it is stored as \(info.type.name)"
    }

    public func int(_ key: String) -> Int? { file.metadata[key]?.intValue }
    public func double(_ key: String) -> Double? { file.metadata[key]?.doubleValue }
    public func string(_ key: String) -> String? { file.metadata[key]?.stringValue }

    public static func weightType(_ type: GGMLType) -> WeightType? {
        switch type {
        case .f32: return .f32
        case .f16: return .f16
        case .bf16: return .bf16
        case .q4_0: return .q4_0
        case .q4_1: return .q4_1
        case .q5_0: return .q5_0
        case .q5_1: return .q5_1
        case .q8_0: return .q8_0
        case .q4_K: return .q4_K
        case .q5_K: return .q5_K
        case .q6_K: return .q6_K
        case .iq4_nl: return .iq4_nl
        default: return nil
        }
    }
}
