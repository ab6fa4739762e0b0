import ModelFormats
import ModelHostABI
#if canImport(Glibc)
import Glibc
#endif

/// A model's weights as the host serves them, whatever the file format: tensors as read-only views of mapped files,
/// metadata as typed values.
public protocol ModelWeights: AnyObject, Sendable {
    var format: UInt32 { get }               // enum mh_model_format
    var tensorNames: [String] { get }
    /// Row-major view of a tensor, or nil if absent. Throws for a storage type the ABI cannot describe.
    func tensorView(named: String) throws(WeightsError) -> WeightsTensor?
    func metadata(_ key: String) -> GGUFValue?
}

public struct WeightsTensor: @unchecked Sendable {
    public let dtype: UInt32                 // enum mh_dtype
    public let shape: [Int]                  // outermost first
    public let data: UnsafeRawPointer
    public let byteCount: Int
}

public struct WeightsError: Error, CustomStringConvertible, Sendable {
    public let code: Int32
    public let message: String
    public var description: String { message }
}

/// GGUF weights: the mapped file is the storage; nothing is copied.
public final class GGUFWeights: ModelWeights, @unchecked Sendable {
    public let file: GGUFFile
    public var format: UInt32 { UInt32(MH_FORMAT_GGUF.rawValue) }
    public var tensorNames: [String] { file.tensors.map(\.name) }

    public init(_ file: GGUFFile) { self.file = file }

    /// GGML's storage types as ABI dtypes; nil for the types the ABI does not name (the i-quants but IQ4_NL).
    public static func dtype(_ t: GGMLType) -> UInt32? {
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
        case .q4_0: d = MH_DTYPE_Q4_0
        case .q4_1: d = MH_DTYPE_Q4_1
        case .q5_0: d = MH_DTYPE_Q5_0
        case .q5_1: d = MH_DTYPE_Q5_1
        case .q8_0: d = MH_DTYPE_Q8_0
        case .q2_K: d = MH_DTYPE_Q2_K
        case .q3_K: d = MH_DTYPE_Q3_K
        case .q4_K: d = MH_DTYPE_Q4_K
        case .q5_K: d = MH_DTYPE_Q5_K
        case .q6_K: d = MH_DTYPE_Q6_K
        case .q8_K: d = MH_DTYPE_Q8_K
        case .iq4_nl: d = MH_DTYPE_IQ4_NL
        default: return nil
        }
        return UInt32(d.rawValue)
    }

    public func tensorView(named name: String) throws(WeightsError) -> WeightsTensor? {
        guard let info = file.tensor(named: name) else { return nil }
        guard let dtype = Self.dtype(info.type) else {
            throw WeightsError(code: MH_ERR_UNSUPPORTED.rawValue,
                               message: "tensor '\(name)' has type \(info.type.name), which ABI v1 cannot describe")
        }
        let data = file.data(for: info)
        return WeightsTensor(dtype: dtype, shape: info.dimensions.reversed(), data: data.baseAddress!,
                             byteCount: data.count)
    }

    public func metadata(_ key: String) -> GGUFValue? { file.metadata[key] }
}

/// Serves `mh_weights_v1` for one model. The table and every string it hands out stay valid while this object lives;
/// the worker keeps it alive as long as the plugin's model object.
public final class WeightsService: @unchecked Sendable {
    public let weights: ModelWeights
    public private(set) var table: UnsafeMutablePointer<mh_weights_v1>
    private let names: [UnsafeMutablePointer<CChar>]
    private var lock = pthread_mutex_t()
    /// Strings handed out as borrowed `mh_value.str`: kept until deinit so the pointers stay valid.
    private var strings: [String: UnsafeMutablePointer<CChar>] = [:]
    /// Load progress as the host can see it without asking the plugin: the bytes of the distinct tensors handed out
    /// so far against the bytes of all tensors. Plugins fetch a tensor when they convert it (the Llama plugin does,
    /// layer by layer), so this tracks the real work; SDK/README.md asks plugins to fetch as they go.
    private var servedNames: Set<String> = []
    private var servedBytes = 0
    private lazy var totalBytes: Int = weights.tensorNames.reduce(0) { sum, name in
        sum + ((try? weights.tensorView(named: name))?.byteCount ?? 0)
    }

    private var reportedFraction = 0.0
    private var onProgress: (@Sendable (Double) -> Void)?

    /// `handler` is called (on the plugin's thread, outside the service's lock) each time the served fraction has
    /// grown by at least 1%; set it before opening the model, and nil afterwards.
    public func reportProgress(to handler: (@Sendable (Double) -> Void)?) {
        pthread_mutex_lock(&lock)
        onProgress = handler
        pthread_mutex_unlock(&lock)
    }

    /// The share (0...1) of the model's tensor bytes handed to the plugin so far. Thread-safe.
    public var servedFraction: Double {
        pthread_mutex_lock(&lock)
        defer { pthread_mutex_unlock(&lock) }
        return fractionLocked
    }

    private var fractionLocked: Double {
        let total = totalBytes
        return total > 0 ? min(1, Double(servedBytes) / Double(total)) : 0
    }

    public init(_ weights: ModelWeights) {
        self.weights = weights
        pthread_mutex_init(&lock, nil)
        names = weights.tensorNames.map { strdup($0)! }
        table = .allocate(capacity: 1)
        table.initialize(to: mh_weights_v1())
        table.pointee.struct_size = UInt32(MemoryLayout<mh_weights_v1>.size)
        table.pointee.format = weights.format
        table.pointee.ctx = Unmanaged.passUnretained(self).toOpaque()
        table.pointee.tensor_count = { ctx in
            guard let ctx else { return 0 }
            return UInt64(WeightsService.from(ctx).names.count)
        }
        table.pointee.tensor_name = { ctx, index in
            guard let ctx else { return nil }
            let service = WeightsService.from(ctx)
            guard index < UInt64(service.names.count) else { return nil }
            return UnsafePointer(service.names[Int(index)])
        }
        table.pointee.get_tensor = { ctx, name, out, status in
            guard let ctx, let name, let out else {
                return setStatus(status, MH_ERR_INVALID_ARG.rawValue, "get_tensor: ctx, name and out must not be NULL")
            }
            return WeightsService.from(ctx).fill(tensor: String(cString: name), out, status)
        }
        table.pointee.get_meta = { ctx, key, out, status in
            guard let ctx, let key, let out else {
                return setStatus(status, MH_ERR_INVALID_ARG.rawValue, "get_meta: ctx, key and out must not be NULL")
            }
            let service = WeightsService.from(ctx)
            let k = String(cString: key)
            guard let value = service.weights.metadata(k) else {
                return setStatus(status, MH_ERR_NOT_FOUND.rawValue, "no metadata key '\(k)'")
            }
            return service.fill(value: value, cacheKey: k, out, status)
        }
        table.pointee.get_meta_element = { ctx, key, index, out, status in
            guard let ctx, let key, let out else {
                return setStatus(status, MH_ERR_INVALID_ARG.rawValue, "get_meta_element: ctx, key and out must not be NULL")
            }
            let service = WeightsService.from(ctx)
            let k = String(cString: key)
            guard case .array(let items)? = service.weights.metadata(k) else {
                return setStatus(status, MH_ERR_NOT_FOUND.rawValue, "no array metadata key '\(k)'")
            }
            guard index < UInt64(items.count) else {
                return setStatus(status, MH_ERR_INVALID_ARG.rawValue, "'\(k)' has \(items.count) elements, not \(index + 1)")
            }
            return service.fill(value: items[Int(index)], cacheKey: "\(k)#\(index)", out, status)
        }
    }

    deinit {
        names.forEach { free($0) }
        strings.values.forEach { free($0) }
        table.deallocate()
    }

    static func from(_ ctx: UnsafeMutableRawPointer) -> WeightsService {
        Unmanaged<WeightsService>.fromOpaque(ctx).takeUnretainedValue()
    }

    private func fill(tensor name: String, _ out: UnsafeMutablePointer<mh_tensor>,
                      _ status: UnsafeMutablePointer<mh_status>?) -> Int32 {
        guard out.pointee.struct_size >= UInt32(MH_TENSOR_SIZE_1_0) else {
            return setStatus(status, MH_ERR_INVALID_ARG.rawValue, "get_tensor: mh_tensor.struct_size is too small")
        }
        let view: WeightsTensor
        do {
            guard let v = try weights.tensorView(named: name) else {
                return setStatus(status, MH_ERR_NOT_FOUND.rawValue, "the model has no tensor '\(name)'")
            }
            view = v
        } catch {
            return setStatus(status, error.code, error.message)
        }
        pthread_mutex_lock(&lock)
        var report: (handler: @Sendable (Double) -> Void, fraction: Double)?
        if servedNames.insert(name).inserted {
            servedBytes += view.byteCount
            if let onProgress, fractionLocked - reportedFraction >= 0.01 {
                reportedFraction = fractionLocked
                report = (onProgress, reportedFraction)
            }
        }
        pthread_mutex_unlock(&lock)
        if let report { report.handler(report.fraction) }
        var t = mh_tensor()
        t.struct_size = UInt32(MemoryLayout<mh_tensor>.size)
        t.dtype = view.dtype
        t.ndim = Int32(view.shape.count)
        t.flags = UInt32(MH_TENSOR_READ_ONLY.rawValue)
        let blockElements = Int(mh_dtype_block_elements(view.dtype))
        let blockBytes = Int(mh_dtype_block_bytes(view.dtype))
        withUnsafeMutableBytes(of: &t.shape) { raw in
            let shape = raw.bindMemory(to: Int64.self)
            for (i, d) in view.shape.enumerated() { shape[i] = Int64(d) }
        }
        withUnsafeMutableBytes(of: &t.stride_bytes) { raw in
            let strides = raw.bindMemory(to: Int64.self)
            guard let inner = view.shape.last else { return }
            // Innermost stride: element size for plain types, 0 for block types (no per-element size).
            strides[view.shape.count - 1] = blockElements == 1 ? Int64(blockBytes) : 0
            var step = Int64(inner / blockElements * blockBytes)
            for i in stride(from: view.shape.count - 2, through: 0, by: -1) {
                strides[i] = step
                step *= Int64(view.shape[i])
            }
        }
        t.data = UnsafeMutableRawPointer(mutating: view.data)
        t.nbytes = UInt64(view.byteCount)
        t.device_type = Int32(MH_DEVICE_CPU.rawValue)
        withUnsafeBytes(of: t) { mh_copy_out(out, $0.baseAddress, $0.count) }
        return 0
    }

    private func fill(value: GGUFValue, cacheKey: String, _ out: UnsafeMutablePointer<mh_value>,
                      _ status: UnsafeMutablePointer<mh_status>?) -> Int32 {
        guard out.pointee.struct_size >= UInt32(MH_VALUE_SIZE_1_0) else {
            return setStatus(status, MH_ERR_INVALID_ARG.rawValue, "get_meta: mh_value.struct_size is too small")
        }
        var v = mh_value()
        v.struct_size = UInt32(MemoryLayout<mh_value>.size)
        switch value {
        case .uint8(let x): v.type = UInt32(MH_VALUE_UINT.rawValue); v.u64 = UInt64(x); v.i64 = Int64(x)
        case .uint16(let x): v.type = UInt32(MH_VALUE_UINT.rawValue); v.u64 = UInt64(x); v.i64 = Int64(x)
        case .uint32(let x): v.type = UInt32(MH_VALUE_UINT.rawValue); v.u64 = UInt64(x); v.i64 = Int64(x)
        case .uint64(let x): v.type = UInt32(MH_VALUE_UINT.rawValue); v.u64 = x; v.i64 = Int64(truncatingIfNeeded: x)
        case .int8(let x): v.type = UInt32(MH_VALUE_INT.rawValue); v.i64 = Int64(x)
        case .int16(let x): v.type = UInt32(MH_VALUE_INT.rawValue); v.i64 = Int64(x)
        case .int32(let x): v.type = UInt32(MH_VALUE_INT.rawValue); v.i64 = Int64(x)
        case .int64(let x): v.type = UInt32(MH_VALUE_INT.rawValue); v.i64 = x
        case .float32(let x): v.type = UInt32(MH_VALUE_FLOAT.rawValue); v.f64 = Double(x)
        case .float64(let x): v.type = UInt32(MH_VALUE_FLOAT.rawValue); v.f64 = x
        case .bool(let x): v.type = UInt32(MH_VALUE_BOOL.rawValue); v.i64 = x ? 1 : 0
        case .string(let s):
            v.type = UInt32(MH_VALUE_STRING.rawValue)
            v.str = UnsafePointer(cString(s, key: cacheKey))
            v.length = UInt64(s.utf8.count)
        case .array(let items):
            v.type = UInt32(MH_VALUE_ARRAY.rawValue)
            v.length = UInt64(items.count)
            v.element_type = items.first.map { Self.valueType($0) } ?? UInt32(MH_VALUE_NONE.rawValue)
        }
        withUnsafeBytes(of: v) { mh_copy_out(out, $0.baseAddress, $0.count) }
        return 0
    }

    static func valueType(_ v: GGUFValue) -> UInt32 {
        switch v {
        case .uint8, .uint16, .uint32, .uint64: return UInt32(MH_VALUE_UINT.rawValue)
        case .int8, .int16, .int32, .int64: return UInt32(MH_VALUE_INT.rawValue)
        case .float32, .float64: return UInt32(MH_VALUE_FLOAT.rawValue)
        case .bool: return UInt32(MH_VALUE_BOOL.rawValue)
        case .string: return UInt32(MH_VALUE_STRING.rawValue)
        case .array: return UInt32(MH_VALUE_ARRAY.rawValue)
        }
    }

    private func cString(_ s: String, key: String) -> UnsafeMutablePointer<CChar> {
        pthread_mutex_lock(&lock)
        defer { pthread_mutex_unlock(&lock) }
        if let p = strings[key] { return p }
        let p = strdup(s)!
        strings[key] = p
        return p
    }
}

/// Writes a status from the host side (the mirror of the SDK's helper; the host does not import the SDK).
@discardableResult
func setStatus(_ status: UnsafeMutablePointer<mh_status>?, _ code: Int32, _ message: String) -> Int32 {
    guard let status else { return code }
    let offset = MemoryLayout<mh_status>.offset(of: \mh_status.message)!
    let size = Int(status.pointee.struct_size)
    guard size > offset else { return code }
    status.pointee.code = code
    let capacity = min(size - offset, Int(MH_STATUS_MESSAGE_CAPACITY))
    var bytes: [UInt8] = []
    for scalar in message.unicodeScalars {
        let e = Array(String(scalar).utf8)
        if bytes.count + e.count > capacity - 1 { break }
        bytes.append(contentsOf: e)
    }
    bytes.append(0)
    let raw = UnsafeMutableRawPointer(status) + offset
    bytes.withUnsafeBytes { raw.copyMemory(from: $0.baseAddress!, byteCount: $0.count) }
    return code
}

/// Reads a status's message.
func statusText(_ status: inout mh_status) -> String {
    withUnsafeBytes(of: &status.message) { raw in
        let bytes = raw.bindMemory(to: UInt8.self)
        let end = bytes.firstIndex(of: 0) ?? bytes.count
        return String(decoding: UnsafeBufferPointer(rebasing: bytes[..<end]), as: UTF8.self)
    }
}

