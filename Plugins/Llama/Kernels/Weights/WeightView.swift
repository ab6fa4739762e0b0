/// The element encodings the Llama kernels understand. GGUF block types keep llama.cpp's names so that a reader of
/// the format spec recognises them.
///
/// MLX affine-quantized weights (value = scale·q + bias per group) are repacked at load into two of these: 4-bit
/// groups become `q4_1` blocks exactly (d = scale, m = bias, the same d·q + m in Float32), and 8-bit groups become
/// `affine8` blocks. Groups of 64 or 128 split into blocks of 32 that repeat the group's scale and bias.
public enum WeightType: Equatable, Sendable, CustomStringConvertible {
    case f32, f16, bf16, q4_0, q4_1, q8_0, q4_K, q5_K, q6_K
    /// 4-bit non-linear blocks of 32: d (f16) and 16 bytes of nibbles indexing a fixed table of 16 signed values.
    /// They run as Q8_0, widened exactly at load (`Interleaved8.widenIQ4_NL`).
    case iq4_nl
    /// 5-bit blocks of 32 (Q4_K_M files hold them where a row is not a multiple of 256). They run as Q8_0 and
    /// `affine8`, widened exactly at load (`Interleaved8.widenQ5`).
    case q5_0, q5_1
    /// 8-bit affine block of 32 (MLX 8-bit): d (f16), m (f16), 32 unsigned bytes q; value = d·q + m. Not a GGML type.
    case affine8

    /// Number of elements one block encodes (1 for plain float types).
    public var blockElements: Int {
        switch self {
        case .f32, .f16, .bf16: return 1
        case .q4_0, .q4_1, .q8_0, .affine8, .q5_0, .q5_1, .iq4_nl: return 32
        case .q4_K, .q5_K, .q6_K: return 256
        }
    }

    /// Bytes one block occupies in the file.
    public var blockBytes: Int {
        switch self {
        case .f32: return 4
        case .f16, .bf16: return 2
        case .q4_0, .iq4_nl: return 18
        case .q4_1: return 20
        case .q5_0: return 22
        case .q5_1: return 24
        case .q8_0: return 34
        case .affine8: return 36
        case .q4_K: return 144
        case .q5_K: return 176
        case .q6_K: return 210
        }
    }

    /// Bytes of one row of `elements` values, or nil when `elements` is not a whole number of blocks.
    public func rowBytes(elements: Int) -> Int? {
        guard elements >= 0, elements % blockElements == 0 else { return nil }
        let (bytes, overflow) = (elements / blockElements).multipliedReportingOverflow(by: blockBytes)
        return overflow ? nil : bytes
    }

    public var description: String {
        switch self {
        case .f32: return "F32"
        case .f16: return "F16"
        case .bf16: return "BF16"
        case .q4_0: return "Q4_0"
        case .q4_1: return "Q4_1"
        case .q8_0: return "Q8_0"
        case .q4_K: return "Q4_K"
        case .q5_K: return "Q5_K"
        case .q6_K: return "Q6_K"
        case .iq4_nl: return "IQ4_NL"
        case .q5_0: return "Q5_0"
        case .q5_1: return "Q5_1"
        case .affine8: return "AFFINE8"
        }
    }

    /// The GGML storage types the kernels run (MLX's affine 8-bit is not a file type of its own).
    public static let fileTypes: [WeightType] = [.f32, .f16, .bf16, .q4_0, .q4_1, .q5_0, .q5_1, .q8_0, .q4_K, .q5_K,
                                                  .q6_K, .iq4_nl]
}

/// One tensor as the host hands it over: a read-only view into the mapped model file. The kernels read weights in
/// place through `data`; nothing here owns or copies the bytes, so the mapping must outlive every user of the view.
public struct WeightView: @unchecked Sendable {
    public let name: String
    public let type: WeightType
    /// Extents, innermost (contiguous) first, in GGUF order: a matrix of `rows` rows of `columns` is `[columns, rows]`.
    public let dimensions: [Int]
    public let data: UnsafeRawPointer
    public let byteCount: Int
    /// Keeps `data` alive when it is not the model file's mapping but memory the source built (MLX weights
    /// repacked at load, synthesized RoPE factors); nil for views into a mapping.
    public let owner: AnyObject?

    public init(name: String, type: WeightType, dimensions: [Int], data: UnsafeRawPointer, byteCount: Int,
                owner: AnyObject? = nil) {
        self.name = name
        self.type = type
        self.dimensions = dimensions
        self.data = data
        self.byteCount = byteCount
        self.owner = owner
    }

    /// Total number of elements, or nil if a dimension is negative or the product overflows.
    public var elementCount: Int? {
        var total = 1
        for d in dimensions {
            guard d >= 0 else { return nil }
            let (p, overflow) = total.multipliedReportingOverflow(by: d)
            if overflow { return nil }
            total = p
        }
        return total
    }
}

/// Where the model reads its tensors and hyper-parameters from. The host adapts its file formats (GGUF, safetensors,
/// MLX) to this, so the model code never learns about files or the plugin ABI.
public protocol WeightSource {
    func tensor(_ name: String) -> WeightView?
    func int(_ key: String) -> Int?
    func double(_ key: String) -> Double?
    func string(_ key: String) -> String?
    /// The RoPE pairing the q/k rows were written for when the format fixes it (Hugging Face checkpoints rotate
    /// halves); nil lets the architecture decide, as for GGUF, where llama.cpp permuted Llama's rows.
    var ropeStyle: RopeStyle? { get }
    /// Why a tensor that exists cannot be handed out by `tensor(_:)` ("it is stored as Q5_0", a type these kernels
    /// do not run); nil when it is absent or usable. Lets a load say "unsupported type" instead of "missing".
    func unusableReason(_ name: String) -> String?
}

extension WeightSource {
    public var ropeStyle: RopeStyle? { nil }
    public func unusableReason(_ name: String) -> String? { nil }

    /// The tensor; throws `missingTensor` when absent and `unusableTensor` when stored in a type the kernels lack.
    public func required(_ name: String) throws(LlamaModelError) -> WeightView {
        guard let view = try optional(name) else { throw .missingTensor(name) }
        return view
    }

    /// The tensor, nil when absent; throws `unusableTensor` when it exists in a type the kernels lack (an optional
    /// tensor must not be silently skipped: an untied output head would be replaced by the embeddings).
    public func optional(_ name: String) throws(LlamaModelError) -> WeightView? {
        if let view = tensor(name) { return view }
        if let reason = unusableReason(name) { throw .unusableTensor(tensor: name, reason: reason) }
        return nil
    }
}

/// Why a model could not be built from a weight source. Each message names the tensor or key at fault.
public enum LlamaModelError: Error, Equatable, CustomStringConvertible {
    case missingKey(String)
    case invalidValue(key: String, value: String)
    case missingTensor(String)
    /// The tensor exists in a storage type these kernels do not run.
    case unusableTensor(tensor: String, reason: String)
    case badShape(tensor: String, expected: [Int], found: [Int])
    case truncatedTensor(tensor: String, needed: Int, available: Int)
    case unsupportedType(tensor: String, type: WeightType)
    case tokenOutOfRange(token: Int32, vocabulary: Int)
    case contextFull(capacity: Int, requested: Int)
    case badTruncation(length: Int, requested: Int)
    case badCopy(String)
    case badEmbedding(expected: Int, found: Int)
    case emptyInput
    case outOfMemory(bytes: Int)
    /// The model's shape does not fit the KV cache type asked for.
    case unsupportedCacheType(String)

    public var description: String {
        switch self {
        case .missingKey(let k): return "model metadata lacks the key '\(k)'"
        case .invalidValue(let k, let v): return "model metadata key '\(k)' has an invalid value \(v)"
        case .missingTensor(let t): return "model lacks the tensor '\(t)'"
        case .unusableTensor(let t, let reason):
            return "tensor '\(t)' cannot be used: \(reason); this plugin runs "
                + WeightType.fileTypes.map(\.description).joined(separator: ", ")
        case .badShape(let t, let e, let f): return "tensor '\(t)' has shape \(f), expected \(e)"
        case .truncatedTensor(let t, let n, let a): return "tensor '\(t)' needs \(n) bytes but only \(a) are available"
        case .unsupportedType(let t, let ty): return "tensor '\(t)' has type \(ty), which this operation does not support"
        case .tokenOutOfRange(let tok, let v): return "token id \(tok) is outside the vocabulary of \(v) tokens"
        case .contextFull(let c, let r): return "sequence would hold \(r) positions but its capacity is \(c)"
        case .badTruncation(let l, let r):
            return "cannot truncate a sequence of \(l) positions to \(r): the length must be between 0 and \(l)"
        case .badCopy(let why): return "cannot copy the sequence: \(why)"
        case .badEmbedding(let e, let f): return "input embeddings have \(f) values, expected a multiple of \(e)"
        case .emptyInput: return "a batch entry has no tokens or embeddings"
        case .outOfMemory(let b): return "the key/value cache needs \(b) bytes, which the allocator refused (memory budget)"
        case .unsupportedCacheType(let why): return why
        }
    }
}
