import LlamaKernelsC

/// How a sequence's keys and values are stored. `f32` keeps them exactly as computed (float32-class accuracy, the
/// default); `f16` and `bf16` halve the cache's memory and the bytes attention reads per position, at the cost of
/// rounding each stored value (f16: 11 significant bits, range ±65504; bf16: 8 bits, float32's range); `q8_0` keeps
/// each block of 32 values of a head as signed bytes with one Float32 scale (llama.cpp's Q8_0 rounding, the scale
/// unrounded): a little over a quarter of float32's memory. Attention always computes in Float32.
public enum KVCacheType: String, Sendable, CaseIterable {
    case f32, f16, bf16, q8_0

    /// Bytes per stored value (q8_0's scales come on top: 4 bytes per 32 values).
    public var elementSize: Int {
        switch self {
        case .f32: 4
        case .f16, .bf16: 2
        case .q8_0: 1
        }
    }

    /// Values per scale in a block-scaled type (q8_0); a head's dimension must be a multiple of it.
    public static let blockLength = 32

    /// Q8_0's quantization of one block (`values.count` ≤ 32): scale = max |x| / 127, each value rounded (half away
    /// from zero) to x / scale, as llama.cpp's `quantize_row_q8_0_ref` does (it then stores the scale as f16; here it
    /// stays Float32). The value a stored x reads back as is `Float(q) * scale`.
    public static func quantizeQ8(_ values: UnsafePointer<Float>, count: Int,
                                  into out: (Int, Int8) -> Void) -> Float {
        var amax: Float = 0
        for i in 0..<count { amax = max(amax, abs(values[i])) }
        let scale = amax / 127
        let inverse: Float = scale != 0 ? 1 / scale : 0
        for i in 0..<count { out(i, Int8(clamping: Int((values[i] * inverse).rounded()))) }
        return scale
    }
}

/// One storage type's loads, so that attention is written once and specialised per type.
protocol KVElement {
    static var size: Int { get }
    /// Whether blocks of `KVCacheType.blockLength` values share a scale that multiplies what `load8` returns.
    static var blockScaled: Bool { get }
    /// Eight consecutive stored values at `p`, widened to Float32 (before any block scale).
    static func load8(_ p: UnsafeRawPointer) -> SIMD8<Float>
}

/// An element type stored value by value: rounded to nearest, ties to even.
protocol KVRoundedElement: KVElement {
    static func store(_ value: Float, _ p: UnsafeMutableRawPointer)
}

enum F32Element: KVRoundedElement {
    static var size: Int { 4 }
    static var blockScaled: Bool { false }
    @inline(__always) static func load8(_ p: UnsafeRawPointer) -> SIMD8<Float> { p.loadUnaligned(as: SIMD8<Float>.self) }
    @inline(__always) static func store(_ value: Float, _ p: UnsafeMutableRawPointer) {
        p.storeBytes(of: value, as: Float.self)
    }
}

/// Eight values widened by one of LlamaKernelsC's inline helpers. Swift's generic SIMD conversions are emitted as a
/// call per eight values in the attention loop; the helpers inline to one or two instructions.
@inline(__always)
private func widened(_ p: UnsafeRawPointer,
                     _ convert: (UnsafeRawPointer?, UnsafeMutablePointer<Float>?) -> Void) -> SIMD8<Float> {
    var wide = SIMD8<Float>()
    withUnsafeMutablePointer(to: &wide) { convert(p, UnsafeMutableRawPointer($0).assumingMemoryBound(to: Float.self)) }
    return wide
}

/// IEEE half precision; F16C converts eight at a time (vcvtph2ps).
enum F16Element: KVRoundedElement {
    static var size: Int { 2 }
    static var blockScaled: Bool { false }
    @inline(__always) static func load8(_ p: UnsafeRawPointer) -> SIMD8<Float> {
        widened(p, llama_c_f16x8)
    }
    @inline(__always) static func store(_ value: Float, _ p: UnsafeMutableRawPointer) {
        p.storeBytes(of: Float16(value), as: Float16.self)
    }
}

/// bfloat16: the upper half of a Float32, rounded to nearest even (NaN stays NaN); widening is a 16-bit shift.
enum BF16Element: KVRoundedElement {
    static var size: Int { 2 }
    static var blockScaled: Bool { false }
    @inline(__always) static func load8(_ p: UnsafeRawPointer) -> SIMD8<Float> {
        widened(p, llama_c_bf16x8)
    }
    @inline(__always) static func store(_ value: Float, _ p: UnsafeMutableRawPointer) {
        p.storeBytes(of: bfloat16Bits(value), as: UInt16.self)
    }

    @inline(__always) static func bfloat16Bits(_ value: Float) -> UInt16 {
        let bits = value.bitPattern
        if value.isNaN { return UInt16(truncatingIfNeeded: bits >> 16) | 0x0040 }
        return UInt16(truncatingIfNeeded: (bits &+ 0x7FFF &+ ((bits >> 16) & 1)) >> 16)
    }
}

/// Q8_0: signed bytes, widened here; the block scale is applied by the caller.
enum Q8Element: KVElement {
    static var size: Int { 1 }
    static var blockScaled: Bool { true }
    @inline(__always) static func load8(_ p: UnsafeRawPointer) -> SIMD8<Float> {
        widened(p, llama_c_i8x8)
    }
}

extension KVCacheType {
    /// What `value` reads back as after it is stored in a cache of this type, for the types stored value by value
    /// (f32, f16, bf16); q8_0 quantizes whole blocks (`quantizeQ8`). For tests and accuracy estimates.
    public func stored(_ value: Float) -> Float {
        var buffer = SIMD8<Float>()
        return withUnsafeMutableBytes(of: &buffer) { raw in
            func roundTrip<E: KVRoundedElement>(_: E.Type) -> Float {
                E.store(value, raw.baseAddress!)
                return E.load8(raw.baseAddress!)[0]
            }
            switch self {
            case .f32: return roundTrip(F32Element.self)
            case .f16: return roundTrip(F16Element.self)
            case .bf16: return roundTrip(BF16Element.self)
            case .q8_0:
                return withUnsafePointer(to: value) { v in
                    var q: Int8 = 0
                    let scale = Self.quantizeQ8(v, count: 1) { _, stored in q = stored }
                    return Float(q) * scale
                }
            }
        }
    }
}
