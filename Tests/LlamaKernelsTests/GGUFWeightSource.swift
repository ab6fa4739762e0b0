import LlamaKernels
import ModelFormats

/// Adapts a parsed GGUF file to the model's `WeightSource`: tensors are views into the file's mapping.
final class GGUFWeightSource: WeightSource {
    let file: GGUFFile

    init(path: String) throws { file = try GGUFFile(path: path) }

    func tensor(_ name: String) -> WeightView? {
        guard let info = file.tensor(named: name), let type = Self.weightType(info.type) else { return nil }
        let bytes = file.data(for: info)
        guard let base = bytes.baseAddress else { return nil }
        return WeightView(name: name, type: type, dimensions: info.dimensions, data: base, byteCount: bytes.count)
    }

    func int(_ key: String) -> Int? { file.metadata[key]?.intValue }
    func double(_ key: String) -> Double? { file.metadata[key]?.doubleValue }
    func string(_ key: String) -> String? { file.metadata[key]?.stringValue }

    static func weightType(_ type: GGMLType) -> WeightType? {
        switch type {
        case .f32: return .f32
        case .f16: return .f16
        case .bf16: return .bf16
        case .q4_0: return .q4_0
        case .q4_1: return .q4_1
        case .q8_0: return .q8_0
        case .q4_K: return .q4_K
        case .q6_K: return .q6_K
        default: return nil
        }
    }
}
