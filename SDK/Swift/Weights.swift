import ModelHostABI

/// Storage types (`enum mh_dtype`).
public enum DType: UInt32, Sendable, CaseIterable {
    case f32 = 1, f16 = 2, bf16 = 3, f64 = 4, i8 = 5, i16 = 6, i32 = 7, i64 = 8, u8 = 9, u32 = 10
    case q4_0 = 32, q4_1 = 33, q5_0 = 34, q5_1 = 35, q8_0 = 36
    case q2_K = 40, q3_K = 41, q4_K = 42, q5_K = 43, q6_K = 44, q8_K = 45
    case iq4_nl = 50

    /// Values per block (1 for plain types).
    public var blockElements: Int { Int(mh_dtype_block_elements(rawValue)) }
    /// Bytes per block.
    public var blockBytes: Int { Int(mh_dtype_block_bytes(rawValue)) }
}

/// A read-only view of one tensor. Row-major: `shape[0]` is the outermost dimension, the last one is contiguous.
/// For block-quantized types a row of the innermost dimension is stored as whole blocks.
public struct TensorView: @unchecked Sendable {
    public let name: String
    public let dtype: DType
    public let shape: [Int]
    public let strideBytes: [Int]
    public let data: UnsafeRawPointer
    public let byteCount: Int

    /// Number of values.
    public var elementCount: Int { shape.reduce(1, *) }
    /// Bytes of one innermost row.
    public var rowBytes: Int { (shape.last ?? 1) / dtype.blockElements * dtype.blockBytes }
}

extension TensorView {
    /// A float tensor (F32, F16 or BF16) widened to Float32 values, nil for any other storage type (the caller says
    /// what it reads instead). Throws when the view holds fewer bytes than its shape needs.
    public func floatValues() throws -> [Float]? {
        let n = elementCount
        let width: Int
        switch dtype {
        case .f32: width = 4
        case .f16, .bf16: width = 2
        default: return nil
        }
        guard byteCount >= n * width else { throw PluginError.badModel("\(name) is truncated") }
        switch dtype {
        case .f32:
            return Array(UnsafeBufferPointer(start: data.assumingMemoryBound(to: Float.self), count: n))
        case .f16:
            let bits = data.assumingMemoryBound(to: UInt16.self)
            return (0..<n).map { Float(Float16(bitPattern: bits[$0])) }
        default:
            let bits = data.assumingMemoryBound(to: UInt16.self)
            return (0..<n).map { Float(bitPattern: UInt32(bits[$0]) << 16) }
        }
    }
}

/// A metadata value.
public enum MetaValue: Sendable, Equatable {
    case int(Int64)
    case uint(UInt64)
    case float(Double)
    case bool(Bool)
    case string(String)
    /// An array: element count and element type (read elements with `WeightsService.element(_:at:)`).
    case array(count: Int, elementType: UInt32)

    public var intValue: Int? {
        switch self {
        case .int(let v): return Int(exactly: v)
        case .uint(let v): return Int(exactly: v)
        case .float(let v): return v.rounded() == v ? Int(exactly: v) : nil
        case .bool(let v): return v ? 1 : 0
        default: return nil
        }
    }

    public var doubleValue: Double? {
        switch self {
        case .int(let v): return Double(v)
        case .uint(let v): return Double(v)
        case .float(let v): return v
        default: return nil
        }
    }

    public var stringValue: String? {
        if case .string(let s) = self { return s }
        return nil
    }

    public var boolValue: Bool? {
        switch self {
        case .bool(let v): return v
        case .int(let v): return v != 0
        case .uint(let v): return v != 0
        default: return nil
        }
    }
}

/// The model's weights and metadata, served by the host from memory-mapped files. Views stay valid until the model
/// object that received the service is closed.
public struct WeightsService: @unchecked Sendable {
    let table: UnsafePointer<mh_weights_v1>

    init(_ table: UnsafePointer<mh_weights_v1>) { self.table = table }

    /// Which file format the weights came from (GGUF names tensors differently from safetensors).
    public enum Format: UInt32, Sendable { case gguf = 1, safetensors = 2, mlx = 3 }

    public var format: Format? { Format(rawValue: table.pointee.format) }

    /// Every tensor name, in file order.
    public var tensorNames: [String] {
        guard let count = table.pointee.tensor_count, let name = table.pointee.tensor_name else { return [] }
        let n = count(table.pointee.ctx)
        return (0..<n).compactMap { name(table.pointee.ctx, $0).map { String(cString: $0) } }
    }

    /// The named tensor, or nil if the model has none by that name.
    public func tensor(_ name: String) throws -> TensorView? {
        guard let get = table.pointee.get_tensor else { throw PluginError(.internal, "host has no get_tensor") }
        var tensor = mh_tensor()
        tensor.struct_size = UInt32(MemoryLayout<mh_tensor>.size)
        var status = mh_status()
        mh_status_init(&status)
        let rc = name.withCString { get(table.pointee.ctx, $0, &tensor, &status) }
        if rc == ResultCode.notFound.rawValue { return nil }
        guard rc == 0 else { throw PluginError(ResultCode(rawValue: rc) ?? .internal, statusMessage(&status)) }
        guard let dtype = DType(rawValue: tensor.dtype), let data = tensor.data else {
            throw PluginError.badModel("tensor '\(name)' has an unknown dtype \(tensor.dtype)")
        }
        let ndim = Int(tensor.ndim)
        guard (0...Int(MH_MAX_DIMS)).contains(ndim) else {
            throw PluginError.badModel("tensor '\(name)' has \(ndim) dimensions")
        }
        let shape = withUnsafeBytes(of: tensor.shape) { Array($0.bindMemory(to: Int64.self).prefix(ndim)) }
        let strides = withUnsafeBytes(of: tensor.stride_bytes) { Array($0.bindMemory(to: Int64.self).prefix(ndim)) }
        return TensorView(name: name, dtype: dtype, shape: shape.map(Int.init), strideBytes: strides.map(Int.init),
                          data: UnsafeRawPointer(data), byteCount: Int(tensor.nbytes))
    }

    /// The named tensor; throws a `badModel` error naming it when absent.
    public func require(_ name: String) throws -> TensorView {
        guard let t = try tensor(name) else { throw PluginError.badModel("the model has no tensor '\(name)'") }
        return t
    }

    /// A metadata value by key, or nil if absent.
    public func meta(_ key: String) -> MetaValue? {
        guard let get = table.pointee.get_meta else { return nil }
        var value = mh_value()
        value.struct_size = UInt32(MemoryLayout<mh_value>.size)
        var status = mh_status()
        mh_status_init(&status)
        guard key.withCString({ get(table.pointee.ctx, $0, &value, &status) }) == 0 else { return nil }
        return MetaValue(value)
    }

    /// Element `index` of an array-valued key.
    public func element(_ key: String, at index: Int) -> MetaValue? {
        guard let get = table.pointee.get_meta_element, index >= 0 else { return nil }
        var value = mh_value()
        value.struct_size = UInt32(MemoryLayout<mh_value>.size)
        var status = mh_status()
        mh_status_init(&status)
        guard key.withCString({ get(table.pointee.ctx, $0, UInt64(index), &value, &status) }) == 0 else { return nil }
        return MetaValue(value)
    }
}

extension MetaValue {
    init?(_ v: mh_value) {
        switch v.type {
        case UInt32(MH_VALUE_INT.rawValue): self = .int(v.i64)
        case UInt32(MH_VALUE_UINT.rawValue): self = .uint(v.u64)
        case UInt32(MH_VALUE_FLOAT.rawValue): self = .float(v.f64)
        case UInt32(MH_VALUE_BOOL.rawValue): self = .bool(v.i64 != 0)
        case UInt32(MH_VALUE_STRING.rawValue):
            guard let p = v.str else { self = .string(""); return }
            let bytes = UnsafeRawBufferPointer(start: p, count: Int(v.length))
            self = .string(String(decoding: bytes, as: UTF8.self))
        case UInt32(MH_VALUE_ARRAY.rawValue): self = .array(count: Int(v.length), elementType: v.element_type)
        default: return nil
        }
    }
}

func statusMessage(_ status: UnsafeMutablePointer<mh_status>) -> String {
    withUnsafeBytes(of: &status.pointee.message) { raw in
        let bytes = raw.bindMemory(to: UInt8.self)
        let end = bytes.firstIndex(of: 0) ?? bytes.count
        return String(decoding: UnsafeBufferPointer(rebasing: bytes[..<end]), as: UTF8.self)
    }
}
