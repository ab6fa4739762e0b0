import ModelFormats
import ModelHostABI

/// A Hugging Face or MLX safetensors directory served through `mh_weights_v1`: tensors are views of the mapped
/// files under their Hugging Face names, metadata is `config.json` flattened to dotted keys (`rope_scaling.factor`,
/// `quantization.group_size`). MLX affine-quantized matrices arrive as they are stored: a U32 tensor of packed values
/// beside `<name>.scales` and `<name>.biases` (see the header's `mh_dtype` note); the plugin combines them.
public final class SafetensorsWeights: ModelWeights, @unchecked Sendable {
    public let model: SafetensorsModel
    public let format: UInt32
    public var tensorNames: [String] { model.tensorNames }
    private let meta: [String: GGUFValue]

    public convenience init(directory: String) throws {
        try self.init(SafetensorsModel(directory: directory))
    }

    public init(_ model: SafetensorsModel) {
        self.model = model
        format = UInt32(model.isMLXQuantized ? MH_FORMAT_MLX.rawValue : MH_FORMAT_SAFETENSORS.rawValue)
        var meta: [String: GGUFValue] = [:]
        for (key, value) in model.config.flattened() + model.sentenceTransformers {
            if let v = Self.value(value) { meta[key] = v }
        }
        self.meta = meta
    }

    /// The model family as the plugin selector's `family` (config.json's `model_type`, e.g. "llama", "qwen2").
    public var family: String? { model.config["model_type"]?.stringValue }

    /// JSON leaves as metadata values; nulls and arrays holding objects have no GGUF-shaped equivalent and are left out.
    static func value(_ v: JSONValue) -> GGUFValue? {
        switch v {
        case .null, .object: return nil
        case .bool(let b): return .bool(b)
        case .int(let i): return .int64(i)
        case .double(let d): return .float64(d)
        case .string(let s): return .string(s)
        case .array(let items):
            var out: [GGUFValue] = []
            for item in items {
                guard let e = value(item), e.type != .array else { return nil }
                out.append(e)
            }
            return .array(out)
        }
    }

    public static func dtype(_ t: SafetensorsDType) -> UInt32? {
        let d: mh_dtype
        switch t {
        case .f32: d = MH_DTYPE_F32
        case .f16: d = MH_DTYPE_F16
        case .bf16: d = MH_DTYPE_BF16
        case .f64: d = MH_DTYPE_F64
        case .i8: d = MH_DTYPE_I8
        case .i16: d = MH_DTYPE_I16
        case .i32: d = MH_DTYPE_I32
        case .i64: d = MH_DTYPE_I64
        case .u8: d = MH_DTYPE_U8
        case .u32: d = MH_DTYPE_U32
        case .bool, .u16, .u64, .f8e5m2, .f8e4m3: return nil
        }
        return UInt32(d.rawValue)
    }

    public func tensorView(named name: String) throws(WeightsError) -> WeightsTensor? {
        guard let (file, info) = model.tensor(named: name) else { return nil }
        guard let dtype = Self.dtype(info.dtype) else {
            throw WeightsError(code: MH_ERR_UNSUPPORTED.rawValue,
                               message: "tensor '\(name)' has type \(info.dtype.rawValue), which ABI v1 cannot describe")
        }
        guard info.shape.count <= Int(MH_MAX_DIMS) else {
            throw WeightsError(code: MH_ERR_UNSUPPORTED.rawValue,
                               message: "tensor '\(name)' has \(info.shape.count) dimensions; ABI v1 allows \(MH_MAX_DIMS)")
        }
        let data = file.data(for: info)
        // An empty tensor still needs a valid pointer: point at the start of the file's data section.
        let base = data.baseAddress ?? UnsafeRawPointer(file.file.bytes.baseAddress!)
        return WeightsTensor(dtype: dtype, shape: info.shape, data: base, byteCount: data.count)
    }

    public func metadata(_ key: String) -> GGUFValue? { meta[key] }
}

/// Opens the weights at `path` in whichever format it holds: a directory (or a `.safetensors`/`config.json` file
/// inside one) is a Hugging Face or MLX safetensors model; anything else is read as GGUF. The format the service
/// reports (`MH_FORMAT_*`) follows what was found, so plugins learn which tensor names to ask for.
public func openModelWeights(path: String) throws -> any ModelWeights {
    if SafetensorsModel.isDirectory(path) { return try SafetensorsWeights(directory: path) }
    if path.hasSuffix(".safetensors") || path.hasSuffix("/config.json") {
        let slash = path.lastIndex(of: "/")
        let directory = slash.map { String(path[..<$0]) } ?? "."
        return try SafetensorsWeights(directory: directory.isEmpty ? "/" : directory)
    }
    return GGUFWeights(try GGUFFile(path: path))
}
