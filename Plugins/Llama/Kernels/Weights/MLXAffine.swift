/// Element types of Hugging Face / MLX checkpoint tensors, as the Llama plugin reads them.
public enum CheckpointDType: Equatable, Sendable {
    case f32, f16, bf16, u32
    case other(String)
}

/// One tensor of a Hugging Face checkpoint as stored: row-major, outermost dimension first, read in place.
public struct CheckpointTensor: @unchecked Sendable {
    public let name: String
    public let dtype: CheckpointDType
    public let shape: [Int]
    public let data: UnsafeRawPointer
    public let byteCount: Int

    public init(name: String, dtype: CheckpointDType, shape: [Int], data: UnsafeRawPointer, byteCount: Int) {
        self.name = name
        self.dtype = dtype
        self.shape = shape
        self.data = data
        self.byteCount = byteCount
    }
}

/// Why an MLX matrix could not be read. One line naming the tensor and what to check.
public struct CheckpointError: Error, Equatable, CustomStringConvertible {
    public let description: String
    public init(_ description: String) { self.description = description }
}

/// MLX affine quantization (mlx-community's 4- and 8-bit models): per group of `groupSize` consecutive values along
/// a row, value = scale·q + bias, with q packed little-endian into uint32 words (8 per word at 4 bits, 4 at 8 bits),
/// element e of a row in word e / (32 / bits) at bit bits·(e % (32 / bits)).
///
/// The kernels do not read this layout directly: `repack` turns it, exactly, into blocks they already have fast
/// paths for (4-bit → `q4_1`, 8-bit → `affine8`; see `WeightType`). Exactness needs each scale and bias to be a
/// float16 value, which mlx-community's float16 models are by construction and bfloat16 ones almost always are; when
/// one is not, the matrix is expanded to Float32 instead (correct, 4–8× the memory, logged by the caller).
public enum MLXAffine {
    /// Which blocks a matrix became.
    public enum Repacked: Equatable { case blocks, float32 }

    /// A validated quantized matrix: `rows` × `columns` values from `weight`, `scales` and `biases`.
    public struct Matrix {
        public let name: String
        public let weight: CheckpointTensor
        public let scales: CheckpointTensor
        public let biases: CheckpointTensor
        public let bits: Int
        public let groupSize: Int
        public let rows: Int
        public let columns: Int

        /// Checks types, shapes and byte counts so that `repack` reads nothing out of bounds.
        public init(weight: CheckpointTensor, scales: CheckpointTensor, biases: CheckpointTensor,
                    bits: Int, groupSize: Int) throws {
            let n = weight.name
            guard bits == 4 || bits == 8 else {
                throw CheckpointError("MLX tensor '\(n)': \(bits)-bit quantization is not supported (4 or 8)")
            }
            guard groupSize > 0, groupSize % 32 == 0, groupSize <= 1024 else {
                throw CheckpointError("MLX tensor '\(n)': group size \(groupSize) is not supported (32, 64 or 128)")
            }
            guard weight.dtype == .u32, weight.shape.count == 2 else {
                throw CheckpointError("MLX tensor '\(n)' must be a 2-D U32 tensor of packed values, found \(weight.dtype) \(weight.shape)")
            }
            let rows = weight.shape[0], packed = weight.shape[1]
            let (columns, o1) = packed.multipliedReportingOverflow(by: 32 / bits)
            guard rows > 0, packed > 0, !o1, columns % groupSize == 0 else {
                throw CheckpointError("MLX tensor '\(n)' has shape \(weight.shape), not rows × a whole number of \(groupSize)-value groups")
            }
            let (words, o2) = rows.multipliedReportingOverflow(by: packed)
            guard !o2, words <= weight.byteCount / 4 else {
                throw CheckpointError("MLX tensor '\(n)' has \(weight.byteCount) bytes, fewer than its shape \(weight.shape) needs")
            }
            let groups = columns / groupSize
            for t in [scales, biases] {
                guard t.shape == [rows, groups] else {
                    throw CheckpointError("MLX tensor '\(t.name)' has shape \(t.shape), expected [\(rows), \(groups)] for '\(n)' at group size \(groupSize)")
                }
                guard let size = MLXAffine.elementSize(t.dtype) else {
                    throw CheckpointError("MLX tensor '\(t.name)' has type \(t.dtype); scales and biases must be F16, BF16 or F32")
                }
                guard rows * groups <= t.byteCount / size else {
                    throw CheckpointError("MLX tensor '\(t.name)' has \(t.byteCount) bytes, fewer than its shape needs")
                }
            }
            self.name = n
            self.weight = weight
            self.scales = scales
            self.biases = biases
            self.bits = bits
            self.groupSize = groupSize
            self.rows = rows
            self.columns = columns
        }
    }

    static func elementSize(_ d: CheckpointDType) -> Int? {
        switch d {
        case .f32: return 4
        case .f16, .bf16: return 2
        default: return nil
        }
    }

    /// Element `i` of a float tensor (F32, F16 or BF16), exactly.
    @inline(__always)
    static func float(_ t: CheckpointTensor, _ i: Int) -> Float {
        switch t.dtype {
        case .f32: return t.data.loadUnaligned(fromByteOffset: 4 * i, as: Float.self)
        case .f16: return Float(t.data.loadUnaligned(fromByteOffset: 2 * i, as: Float16.self))
        default: return Float(bitPattern: UInt32(t.data.loadUnaligned(fromByteOffset: 2 * i, as: UInt16.self)) << 16)
        }
    }

    /// Whether every scale and bias is exactly a float16 value (so the block types can hold them).
    static func fitsFloat16(_ t: CheckpointTensor, count: Int) -> Bool {
        if t.dtype == .f16 { return true }
        for i in 0..<count {
            let v = float(t, i)
            guard Float(Float16(v)) == v else { return false }
        }
        return true
    }

    /// Owns memory built at load (repacked matrices): the `owner` of the views that point into it.
    public final class Storage: @unchecked Sendable {
        public let bytes: UnsafeMutableRawPointer
        public let count: Int
        init(count: Int) {
            self.count = count
            bytes = .allocate(byteCount: max(count, 1), alignment: 64)
        }
        deinit { bytes.deallocate() }
    }

    /// Element `e` of row `r` (unpacked q, before scale and bias), as the Python reference reads it.
    @inline(__always)
    static func q(_ m: Matrix, _ r: Int, _ e: Int) -> UInt32 {
        let perWord = 32 / m.bits, packed = m.columns / perWord
        let word = m.weight.data.loadUnaligned(fromByteOffset: 4 * (r * packed + e / perWord), as: UInt32.self)
        return (UInt32(littleEndian: word) >> UInt32(m.bits * (e % perWord))) & (m.bits == 4 ? 0xF : 0xFF)
    }

    /// Spreads the 8 nibbles of `w` into the low nibbles of 8 bytes (nibble k → byte k).
    @inline(__always)
    static func spreadNibbles(_ w: UInt32) -> UInt64 {
        var x = UInt64(w)
        x = (x | (x << 16)) & 0x0000_FFFF_0000_FFFF
        x = (x | (x << 8)) & 0x00FF_00FF_00FF_00FF
        x = (x | (x << 4)) & 0x0F0F_0F0F_0F0F_0F0F
        return x
    }

    /// The matrix as a `WeightView` the kernels take (GGUF dimension order `[columns, rows]`), in memory it owns.
    /// Values are unchanged: dequantizing the result gives Float(scale)·q + Float(bias) for every element, computed
    /// in Float32 without fusing, as the Python reference does. Afterwards the source pages are released from this
    /// process's resident set (the mapping stays valid), so the copy does not double memory.
    public static func repack(_ m: Matrix) -> (view: WeightView, kind: Repacked) {
        let groups = m.columns / m.groupSize
        let scaleCount = m.rows * groups
        guard fitsFloat16(m.scales, count: scaleCount), fitsFloat16(m.biases, count: scaleCount) else {
            return (expand(m), .float32)
        }
        let type: WeightType = m.bits == 4 ? .q4_1 : .affine8
        let blocks = m.columns / 32, blockBytes = type.blockBytes, rowBytes = blocks * blockBytes
        let storage = Storage(count: m.rows * rowBytes)
        let blocksPerGroup = m.groupSize / 32
        let wordsPerBlock = m.bits == 4 ? 4 : 8, packed = m.columns * m.bits / 32
        for r in 0..<m.rows {
            let rowOut = storage.bytes + r * rowBytes
            let rowIn = m.weight.data + 4 * r * packed
            for g in 0..<groups {
                let s = Float16(float(m.scales, r * groups + g)), b = Float16(float(m.biases, r * groups + g))
                for k in 0..<blocksPerGroup {
                    let block = g * blocksPerGroup + k
                    let out = rowOut + block * blockBytes
                    out.storeBytes(of: s.bitPattern.littleEndian, as: UInt16.self)
                    out.storeBytes(of: b.bitPattern.littleEndian, toByteOffset: 2, as: UInt16.self)
                    let words = rowIn + 4 * block * wordsPerBlock
                    if m.bits == 4 {
                        // Q4_1 byte i holds element i (low nibble) and element i + 16 (high nibble).
                        func w(_ i: Int) -> UInt32 { UInt32(littleEndian: words.loadUnaligned(fromByteOffset: 4 * i, as: UInt32.self)) }
                        let low = spreadNibbles(w(0)) | (spreadNibbles(w(2)) << 4)
                        let high = spreadNibbles(w(1)) | (spreadNibbles(w(3)) << 4)
                        out.storeBytes(of: low.littleEndian, toByteOffset: 4, as: UInt64.self)
                        out.storeBytes(of: high.littleEndian, toByteOffset: 12, as: UInt64.self)
                    } else {
                        // 8-bit values are already little-endian bytes in element order.
                        (out + 4).copyMemory(from: words, byteCount: 32)
                    }
                }
            }
        }
        Interleaved8.releaseResidentPages(m.weight.data, byteCount: 4 * m.rows * packed)
        let view = WeightView(name: m.name, type: type, dimensions: [m.columns, m.rows], data: storage.bytes,
                              byteCount: storage.count, owner: storage)
        return (view, .blocks)
    }

    /// Float32 expansion, for scales or biases a float16 cannot hold exactly.
    static func expand(_ m: Matrix) -> WeightView {
        let storage = Storage(count: 4 * m.rows * m.columns)
        let out = storage.bytes.assumingMemoryBound(to: Float.self)
        dequantize(m, into: out)
        return WeightView(name: m.name, type: .f32, dimensions: [m.columns, m.rows], data: storage.bytes,
                          byteCount: storage.count, owner: storage)
    }

    /// Reference dequantization straight from the MLX layout: out[r·columns + e] = scale·q + bias (Float32, unfused).
    public static func dequantize(_ m: Matrix, into out: UnsafeMutablePointer<Float>) {
        let groups = m.columns / m.groupSize
        for r in 0..<m.rows {
            for e in 0..<m.columns {
                let g = r * groups + e / m.groupSize
                let scaled = float(m.scales, g) * Float(q(m, r, e))
                out[r * m.columns + e] = scaled + float(m.biases, g)
            }
        }
    }
}
