import LlamaKernelsC

/// How a sequence's keys and values are stored. `f32` keeps them exactly as computed (float32-class accuracy, the
/// default); `f16` and `bf16` halve the cache's memory and the bytes attention reads per position, at the cost of
/// rounding each stored value (f16: 11 significant bits, range ±65504; bf16: 8 bits, float32's range). Attention
/// always computes in Float32.
public enum KVCacheType: String, Sendable, CaseIterable {
    case f32, f16, bf16

    /// Bytes per stored value.
    public var elementSize: Int { self == .f32 ? 4 : 2 }
}

/// One storage type's loads and stores, so that attention is written once and specialised per type.
protocol KVElement {
    static var size: Int { get }
    /// Eight consecutive stored values at `p`, widened to Float32.
    static func load8(_ p: UnsafeRawPointer) -> SIMD8<Float>
    /// Stores `value` at `p`, rounded to nearest, ties to even.
    static func store(_ value: Float, _ p: UnsafeMutableRawPointer)
}

enum F32Element: KVElement {
    static var size: Int { 4 }
    @inline(__always) static func load8(_ p: UnsafeRawPointer) -> SIMD8<Float> { p.loadUnaligned(as: SIMD8<Float>.self) }
    @inline(__always) static func store(_ value: Float, _ p: UnsafeMutableRawPointer) {
        p.storeBytes(of: value, as: Float.self)
    }
}

/// IEEE half precision; F16C converts eight at a time (vcvtph2ps).
enum F16Element: KVElement {
    static var size: Int { 2 }
    @inline(__always) static func load8(_ p: UnsafeRawPointer) -> SIMD8<Float> {
        var wide = SIMD8<Float>()
        withUnsafeMutablePointer(to: &wide) { llama_c_f16x8(p, UnsafeMutableRawPointer($0).assumingMemoryBound(to: Float.self)) }
        return wide
    }
    @inline(__always) static func store(_ value: Float, _ p: UnsafeMutableRawPointer) {
        p.storeBytes(of: Float16(value), as: Float16.self)
    }
}

/// bfloat16: the upper half of a Float32, rounded to nearest even (NaN stays NaN); widening is a 16-bit shift.
enum BF16Element: KVElement {
    static var size: Int { 2 }
    @inline(__always) static func load8(_ p: UnsafeRawPointer) -> SIMD8<Float> {
        var wide = SIMD8<Float>()
        withUnsafeMutablePointer(to: &wide) { llama_c_bf16x8(p, UnsafeMutableRawPointer($0).assumingMemoryBound(to: Float.self)) }
        return wide
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

extension KVCacheType {
    /// What `value` reads back as after it is stored in a cache of this type (for tests and accuracy estimates).
    public func stored(_ value: Float) -> Float {
        var buffer = SIMD8<Float>()
        return withUnsafeMutableBytes(of: &buffer) { raw in
            switch self {
            case .f32:
                F32Element.store(value, raw.baseAddress!)
                return F32Element.load8(raw.baseAddress!)[0]
            case .f16:
                F16Element.store(value, raw.baseAddress!)
                return F16Element.load8(raw.baseAddress!)[0]
            case .bf16:
                BF16Element.store(value, raw.baseAddress!)
                return BF16Element.load8(raw.baseAddress!)[0]
            }
        }
    }
}
