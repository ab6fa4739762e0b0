import LlamaKernelsC

/// Exact expansion of stored weights to Float32, matching gguf-py's `gguf.quants.dequantize` bit for bit (same
/// operations in the same order, no fused multiply-add), so that the float64 gold reference and the Swift forward
/// pass start from identical weights.
public enum Dequantize {
    /// Expands `count` elements starting at `source` (which must hold `count / type.blockElements` whole blocks)
    /// into `destination`. Callers validate sizes against the tensor's byte count before calling.
    @inlinable
    public static func run(_ type: WeightType, _ source: UnsafeRawPointer, count: Int,
                           into destination: UnsafeMutablePointer<Float>) {
        let blocks = count / type.blockElements
        switch type {
        case .f32:
            destination.update(from: source.assumingMemoryBound(to: Float.self), count: count)
        case .f16:
            // Eight at a time through the C helper (vcvtph2ps): Swift's element-wise conversion stays scalar.
            let whole = count / 8 * 8
            for i in stride(from: 0, to: whole, by: 8) { llama_c_f16x8(source + 2 * i, destination + i) }
            for i in whole..<count {
                destination[i] = Float(source.loadUnaligned(fromByteOffset: 2 * i, as: Float16.self))
            }
        case .bf16:
            let whole = count / 8 * 8
            for i in stride(from: 0, to: whole, by: 8) { llama_c_bf16x8(source + 2 * i, destination + i) }
            for i in whole..<count {
                let bits = UInt32(source.loadUnaligned(fromByteOffset: 2 * i, as: UInt16.self)) << 16
                destination[i] = Float(bitPattern: bits)
            }
        case .q4_0:
            for b in 0..<blocks { q4_0Block(source + b * 18, destination + b * 32) }
        case .q4_1:
            for b in 0..<blocks { q4_1Block(source + b * 20, destination + b * 32) }
        case .q8_0:
            for b in 0..<blocks { q8_0Block(source + b * 34, destination + b * 32) }
        case .affine8:
            for b in 0..<blocks { affine8Block(source + b * 36, destination + b * 32) }
        case .q4_K:
            for b in 0..<blocks { q4_KBlock(source + b * 144, destination + b * 256) }
        case .q5_K:
            for b in 0..<blocks { q5_KBlock(source + b * 176, destination + b * 256) }
        case .q6_K:
            for b in 0..<blocks { q6_KBlock(source + b * 210, destination + b * 256) }
        case .iq4_nl:
            for b in 0..<blocks { iq4_nlBlock(source + b * 18, destination + b * 32) }
        case .q5_0:
            for b in 0..<blocks { q5Block(source + b * 22, destination + b * 32, hasMin: false) }
        case .q5_1:
            for b in 0..<blocks { q5Block(source + b * 24, destination + b * 32, hasMin: true) }
        }
    }

    @inlinable @inline(__always)
    static func half(_ p: UnsafeRawPointer, _ offset: Int) -> Float {
        Float(p.loadUnaligned(fromByteOffset: offset, as: Float16.self))
    }

    @inlinable @inline(__always)
    static func store(_ v: SIMD16<Float>, _ p: UnsafeMutablePointer<Float>) {
        UnsafeMutableRawPointer(p).storeBytes(of: v, as: SIMD16<Float>.self)
    }

    /// Q4_0: d (f16), 16 bytes of nibbles; element i < 16 is the low nibble of byte i, element 16 + i the high one.
    @inlinable @inline(__always)
    static func q4_0Block(_ p: UnsafeRawPointer, _ out: UnsafeMutablePointer<Float>) {
        let d = SIMD16<Float>(repeating: half(p, 0))
        let q = p.loadUnaligned(fromByteOffset: 2, as: SIMD16<UInt8>.self)
        let lo = SIMD16<Int32>(truncatingIfNeeded: q & 0x0F) &- 8
        let hi = SIMD16<Int32>(truncatingIfNeeded: q &>> 4) &- 8
        store(d * SIMD16<Float>(lo), out)
        store(d * SIMD16<Float>(hi), out + 16)
    }

    /// Q4_1: d, m (f16), 16 bytes of nibbles; value = d * q + m (rounded twice, as gguf-py does).
    @inlinable @inline(__always)
    static func q4_1Block(_ p: UnsafeRawPointer, _ out: UnsafeMutablePointer<Float>) {
        let d = SIMD16<Float>(repeating: half(p, 0))
        let m = SIMD16<Float>(repeating: half(p, 2))
        let q = p.loadUnaligned(fromByteOffset: 4, as: SIMD16<UInt8>.self)
        let lo = SIMD16<Float>(SIMD16<Int32>(truncatingIfNeeded: q & 0x0F))
        let hi = SIMD16<Float>(SIMD16<Int32>(truncatingIfNeeded: q &>> 4))
        store(d * lo + m, out)
        store(d * hi + m, out + 16)
    }

    /// Q8_0: d (f16), 32 signed bytes; value = q * d.
    @inlinable @inline(__always)
    static func q8_0Block(_ p: UnsafeRawPointer, _ out: UnsafeMutablePointer<Float>) {
        let d = SIMD16<Float>(repeating: half(p, 0))
        let a = p.loadUnaligned(fromByteOffset: 2, as: SIMD16<Int8>.self)
        let b = p.loadUnaligned(fromByteOffset: 18, as: SIMD16<Int8>.self)
        store(SIMD16<Float>(SIMD16<Int32>(truncatingIfNeeded: a)) * d, out)
        store(SIMD16<Float>(SIMD16<Int32>(truncatingIfNeeded: b)) * d, out + 16)
    }

    /// The 5-bit values of a Q5_0/Q5_1 block (after its scales at `p`): value j takes its low 4 bits from byte j % 16
    /// of `qs` (low nibble for j < 16, high for j >= 16) and its fifth from bit j of the 32-bit `qh`.
    @inlinable @inline(__always)
    static func q5Values(_ qh: UInt32, _ qs: UnsafeRawPointer, _ j: Int) -> UInt8 {
        let byte = qs.load(fromByteOffset: j % 16, as: UInt8.self)
        let low = j < 16 ? byte & 0x0F : byte >> 4
        return low | UInt8(truncatingIfNeeded: (qh >> UInt32(j)) & 1) << 4
    }

    /// Q5_0: d (f16), qh (4 bytes), 16 bytes of nibbles; value = d * (q - 16). Q5_1: d, m (f16), qh, nibbles; value
    /// = d * q + m (rounded twice). As gguf-py computes them.
    @inlinable
    static func q5Block(_ p: UnsafeRawPointer, _ out: UnsafeMutablePointer<Float>, hasMin: Bool) {
        let d = half(p, 0)
        let m: Float = hasMin ? half(p, 2) : 0
        let header = hasMin ? 4 : 2
        let qh = p.loadUnaligned(fromByteOffset: header, as: UInt32.self)
        let qs = p + header + 4
        for j in 0..<32 {
            let q = q5Values(qh, qs, j)
            out[j] = hasMin ? d * Float(q) + m : d * Float(Int(q) - 16)
        }
    }

    /// Affine 8-bit (MLX 8-bit, repacked): d, m (f16), 32 unsigned bytes; value = d * q + m, rounded twice like
    /// Q4_1 (the Python reference computes scale·q + bias in float32 without fusing).
    @inlinable @inline(__always)
    static func affine8Block(_ p: UnsafeRawPointer, _ out: UnsafeMutablePointer<Float>) {
        let d = SIMD16<Float>(repeating: half(p, 0))
        let m = SIMD16<Float>(repeating: half(p, 2))
        let a = p.loadUnaligned(fromByteOffset: 4, as: SIMD16<UInt8>.self)
        let b = p.loadUnaligned(fromByteOffset: 20, as: SIMD16<UInt8>.self)
        store(d * SIMD16<Float>(SIMD16<Int32>(truncatingIfNeeded: a)) + m, out)
        store(d * SIMD16<Float>(SIMD16<Int32>(truncatingIfNeeded: b)) + m, out + 16)
    }

    /// Sub-block `j`'s 6-bit scale and minimum from a Q4_K/Q5_K super-block's 12 packed bytes at `s`: bytes 0-3 hold
    /// the scales of sub-blocks 0-3 (low 6 bits) and bytes 4-7 their minimums; sub-blocks 4-7 take their low 4 bits
    /// from the nibbles of bytes 8-11 and their top 2 bits from the spare top bits of bytes 0-7.
    @inlinable @inline(__always)
    public static func kScaleMin(_ s: UnsafeRawPointer, _ j: Int) -> (scale: UInt8, minimum: UInt8) {
        if j < 4 {
            return (s.load(fromByteOffset: j, as: UInt8.self) & 0x3F, s.load(fromByteOffset: j + 4, as: UInt8.self) & 0x3F)
        }
        let md = s.load(fromByteOffset: j + 4, as: UInt8.self)
        return ((md & 0x0F) | ((s.load(fromByteOffset: j - 4, as: UInt8.self) >> 2) & 0x30),
                (md >> 4) | ((s.load(fromByteOffset: j, as: UInt8.self) >> 2) & 0x30))
    }

    /// Q4_K super-block: d, dmin (f16), 12 bytes of packed 6-bit scales and mins for 8 sub-blocks of 32, then 128
    /// bytes of nibbles (each 32-byte run holds sub-block 2j in its low and 2j + 1 in its high nibbles).
    @inlinable
    static func q4_KBlock(_ p: UnsafeRawPointer, _ out: UnsafeMutablePointer<Float>) {
        kBlock(p, nibbles: p + 16, fifthBits: nil, out)
    }

    /// Q5_K super-block: d, dmin (f16), 12 bytes of scales and mins packed as in Q4_K, 32 bytes `qh` of fifth bits,
    /// 128 bytes of nibbles laid out as in Q4_K. Element i of sub-block j takes its fifth bit from bit j of qh[i].
    @inlinable
    static func q5_KBlock(_ p: UnsafeRawPointer, _ out: UnsafeMutablePointer<Float>) {
        kBlock(p, nibbles: p + 48, fifthBits: p + 16, out)
    }

    /// Q4_K's and Q5_K's values: (d * scale) * q - dmin * min per sub-block of 32, as gguf-py computes them.
    @inlinable @inline(__always)
    static func kBlock(_ p: UnsafeRawPointer, nibbles: UnsafeRawPointer, fifthBits: UnsafeRawPointer?,
                       _ out: UnsafeMutablePointer<Float>) {
        let d = half(p, 0), dmin = half(p, 2)
        for j in 0..<8 {
            let (sc, mn) = kScaleMin(p + 4, j)
            let scale = d * Float(sc), minimum = dmin * Float(mn)
            let q = nibbles + (j / 2) * 32
            let shift: UInt8 = j % 2 == 0 ? 0 : 4
            for i in 0..<32 {
                var v = (q.load(fromByteOffset: i, as: UInt8.self) >> shift) & 0x0F
                if let fifthBits { v |= ((fifthBits.load(fromByteOffset: i, as: UInt8.self) >> UInt8(j)) & 1) << 4 }
                out[j * 32 + i] = scale * Float(v) - minimum
            }
        }
    }

    /// IQ4_NL's 16 levels (llama.cpp's `kvalues_iq4nl`): a nibble q stands for `iq4nlValues[q]`.
    public static let iq4nlValues: [Int8] = [-127, -104, -83, -65, -49, -35, -22, -10, 1, 13, 25, 38, 53, 69, 89, 113]

    /// IQ4_NL: d (f16), 16 bytes of nibbles (element i < 16 the low nibble of byte i, 16 + i the high one);
    /// value = d * iq4nlValues[q].
    @inlinable
    static func iq4_nlBlock(_ p: UnsafeRawPointer, _ out: UnsafeMutablePointer<Float>) {
        let d = half(p, 0)
        for i in 0..<16 {
            let byte = p.load(fromByteOffset: 2 + i, as: UInt8.self)
            out[i] = d * Float(iq4nlValues[Int(byte & 0x0F)])
            out[i + 16] = d * Float(iq4nlValues[Int(byte >> 4)])
        }
    }

    /// Q6_K super-block: 128 bytes of low nibbles, 64 bytes of 2-bit high parts, 16 signed scales, d (f16).
    /// Element e: half h = e / 128, r = e % 128; low nibble from ql[64h + r % 64] (shift 4 when r >= 64), high bits
    /// from qh[32h + r % 32] >> (2 * (r / 32)); value = (d * scale[e / 16]) * (q - 32).
    @inlinable
    static func q6_KBlock(_ p: UnsafeRawPointer, _ out: UnsafeMutablePointer<Float>) {
        let d = half(p, 208)
        for e in 0..<256 {
            let h = e / 128, r = e % 128
            let lowByte = p.load(fromByteOffset: 64 * h + r % 64, as: UInt8.self)
            let low = (r >= 64 ? lowByte >> 4 : lowByte) & 0x0F
            let highByte = p.load(fromByteOffset: 128 + 32 * h + r % 32, as: UInt8.self)
            let high = (highByte >> UInt8(2 * (r / 32))) & 0x03
            let q = Int32(low | (high << 4)) - 32
            let scale = Float(p.load(fromByteOffset: 192 + e / 16, as: Int8.self))
            out[e] = (d * scale) * Float(q)
        }
    }
}
