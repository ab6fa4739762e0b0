/// Conversions between `Float` values and the few ggml block formats that tools and tests need to produce:
/// F32, F16 and Q8_0. (Inference kernels dequantize in their own optimised code; this is the plain reference.)
public enum GGMLEncoding {
    /// Types `encode` and `decode` support.
    public static let supportedTypes: Set<GGMLType> = [.f32, .f16, .q8_0]

    /// Packs `values` (a whole number of blocks) into `type`'s on-disk layout.
    public static func encode(_ values: [Float], as type: GGMLType) throws -> [UInt8] {
        guard values.count % type.blockElements == 0 else {
            throw ModelFormatError(
                "GGML: \(values.count) values are not a whole number of \(type.name) blocks of \(type.blockElements)")
        }
        var out: [UInt8] = []
        out.reserveCapacity(values.count / type.blockElements * type.blockBytes)
        switch type {
        case .f32:
            for value in values { appendLittleEndian(value.bitPattern, to: &out) }
        case .f16:
            for value in values { appendLittleEndian(Float16(value).bitPattern, to: &out) }
        case .q8_0:
            // ggml's quantize_row_q8_0_ref: scale = max|x| / 127, q = round(x / scale).
            var start = 0
            while start < values.count {
                let block = values[start..<(start + 32)]
                let maxMagnitude = block.reduce(Float(0)) { max($0, abs($1)) }
                let scale = maxMagnitude / 127
                let inverse: Float = scale != 0 ? 1 / scale : 0
                appendLittleEndian(Float16(scale).bitPattern, to: &out)
                for value in block {
                    out.append(UInt8(bitPattern: Int8((value * inverse).rounded(.toNearestOrAwayFromZero))))
                }
                start += 32
            }
        default:
            throw ModelFormatError("GGML: encoding to \(type.name) is not supported (only F32, F16 and Q8_0)")
        }
        return out
    }

    /// Unpacks `bytes` of `type` (a whole number of blocks) into floats.
    public static func decode(_ bytes: UnsafeRawBufferPointer, as type: GGMLType) throws -> [Float] {
        guard bytes.count % type.blockBytes == 0 else {
            throw ModelFormatError(
                "GGML: \(bytes.count) bytes are not a whole number of \(type.name) blocks of \(type.blockBytes)")
        }
        let blocks = bytes.count / type.blockBytes
        var out: [Float] = []
        out.reserveCapacity(blocks * type.blockElements)
        switch type {
        case .f32:
            for i in 0..<blocks {
                out.append(Float(bitPattern: UInt32(littleEndian: bytes.loadUnaligned(fromByteOffset: 4 * i, as: UInt32.self))))
            }
        case .f16:
            for i in 0..<blocks {
                out.append(Float(Float16(bitPattern: UInt16(littleEndian: bytes.loadUnaligned(fromByteOffset: 2 * i, as: UInt16.self)))))
            }
        case .q8_0:
            for block in 0..<blocks {
                let base = block * 34
                let scale = Float(Float16(bitPattern: UInt16(littleEndian: bytes.loadUnaligned(fromByteOffset: base, as: UInt16.self))))
                for j in 0..<32 {
                    out.append(scale * Float(Int8(bitPattern: bytes[base + 2 + j])))
                }
            }
        default:
            throw ModelFormatError("GGML: decoding \(type.name) is not supported here (only F32, F16 and Q8_0)")
        }
        return out
    }

    static func appendLittleEndian<T: FixedWidthInteger>(_ value: T, to out: inout [UInt8]) {
        withUnsafeBytes(of: value.littleEndian) { out.append(contentsOf: $0) }
    }
}
