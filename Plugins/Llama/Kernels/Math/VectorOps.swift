#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// Small element-wise operations of the forward pass, all in Float32.
public enum VectorOps {
    @inlinable @inline(__always)
    static func load8(_ p: UnsafePointer<Float>) -> SIMD8<Float> {
        UnsafeRawPointer(p).loadUnaligned(as: SIMD8<Float>.self)
    }

    @inlinable @inline(__always)
    static func store8(_ v: SIMD8<Float>, _ p: UnsafeMutablePointer<Float>) {
        UnsafeMutableRawPointer(p).storeBytes(of: v, as: SIMD8<Float>.self)
    }

    /// out = x / sqrt(mean(x²) + eps) * weight, for `count` (a multiple of 8) elements.
    @inlinable
    public static func rmsNorm(_ x: UnsafePointer<Float>, _ weight: UnsafePointer<Float>, count: Int,
                               epsilon: Float, into out: UnsafeMutablePointer<Float>) {
        var s = SIMD8<Float>()
        var k = 0
        while k < count {
            let v = load8(x + k)
            s = s.addingProduct(v, v)
            k += 8
        }
        let scale = SIMD8<Float>(repeating: 1 / (s.sum() / Float(count) + epsilon).squareRoot())
        k = 0
        while k < count {
            store8(load8(x + k) * scale * load8(weight + k), out + k)
            k += 8
        }
    }

    /// gate[i] = silu(gate[i]) * up[i] (SwiGLU), in place.
    @inlinable
    public static func swiGLU(_ gate: UnsafeMutablePointer<Float>, _ up: UnsafePointer<Float>, count: Int) {
        for i in 0..<count {
            let g = gate[i]
            gate[i] = g / (1 + expf(-g)) * up[i]
        }
    }

    /// Replaces `count` scores by exp(score - max) and returns that maximum and the sum of the exponentials: a
    /// softmax left unnormalised, so that blocks of one row's scores can be combined by their maxima afterwards.
    @inlinable
    public static func exponentiate(_ x: UnsafeMutablePointer<Float>, count: Int) -> (maximum: Float, sum: Float) {
        var maximum = -Float.infinity
        for i in 0..<count { maximum = max(maximum, x[i]) }
        var sum: Float = 0
        for i in 0..<count {
            let e = expf(x[i] - maximum)
            x[i] = e
            sum += e
        }
        return (maximum, sum)
    }

    /// y += a · x for `count` (a multiple of 8) elements.
    @inlinable @inline(__always)
    public static func axpy(_ a: Float, _ x: UnsafePointer<Float>, _ y: UnsafeMutablePointer<Float>, count: Int) {
        let av = SIMD8<Float>(repeating: a)
        var k = 0
        while k < count {
            store8(load8(y + k).addingProduct(av, load8(x + k)), y + k)
            k += 8
        }
    }

    /// For each of `heads` weight rows (`weightStride` floats apart): out_h = sum over j < count of w_h[j] times row j,
    /// where the `count` rows of `width` floats (a multiple of 8) lie one after another, and out_h starts at
    /// `out + h * width`. Heads go three at a time through 32-column bands of the rows, so each band of a row is
    /// loaded once for three heads (the query heads that share one key/value head read the same values).
    public static func valueSums(_ weights: UnsafePointer<Float>, weightStride: Int, heads: Int, count: Int,
                                 _ rows: UnsafePointer<Float>, width: Int, into out: UnsafeMutablePointer<Float>) {
        valueSums(F32Element.self, weights, weightStride: weightStride, heads: heads, count: count,
                  UnsafeRawPointer(rows), scales: nil, width: width, into: out)
    }

    /// The same over rows stored as `E` (a KV cache type), widened to Float32 as they are read. For a block-scaled
    /// type (q8_0) `scales` holds each row's `width / 32` block scales, and each row's weight is multiplied by its
    /// block's scale before the band's multiply-adds (the bands are the blocks; `width` is a multiple of 32).
    @inline(__always)
    static func valueSums<E: KVElement>(_: E.Type, _ weights: UnsafePointer<Float>, weightStride: Int, heads: Int,
                                         count: Int, _ rows: UnsafeRawPointer, scales: UnsafePointer<Float>?,
                                         width: Int, into out: UnsafeMutablePointer<Float>) {
        @inline(__always) func load8(_ p: UnsafeRawPointer) -> SIMD8<Float> { E.load8(p) }
        let size = E.size, blocks = width / 32
        var h0 = 0
        while h0 < heads {
            let k = min(3, heads - h0)
            let w0 = weights + h0 * weightStride
            let w1 = k > 1 ? w0 + weightStride : w0, w2 = k > 2 ? w0 + 2 * weightStride : w0
            let o0 = out + h0 * width
            var d0 = 0
            while d0 + 32 <= width {
                var a00 = SIMD8<Float>(), a01 = SIMD8<Float>(), a02 = SIMD8<Float>(), a03 = SIMD8<Float>()
                var a10 = SIMD8<Float>(), a11 = SIMD8<Float>(), a12 = SIMD8<Float>(), a13 = SIMD8<Float>()
                var a20 = SIMD8<Float>(), a21 = SIMD8<Float>(), a22 = SIMD8<Float>(), a23 = SIMD8<Float>()
                for j in 0..<count {
                    let r = rows + (j * width + d0) * size
                    var s0 = SIMD8<Float>(repeating: w0[j]), s1 = SIMD8<Float>(repeating: w1[j])
                    var s2 = SIMD8<Float>(repeating: w2[j])
                    if E.blockScaled {
                        let scale = SIMD8<Float>(repeating: scales![j * blocks + d0 / 32])
                        s0 *= scale
                        s1 *= scale
                        s2 *= scale
                    }
                    let v0 = load8(r)
                    a00 = a00.addingProduct(s0, v0); a10 = a10.addingProduct(s1, v0); a20 = a20.addingProduct(s2, v0)
                    let v1 = load8(r + 8 * size)
                    a01 = a01.addingProduct(s0, v1); a11 = a11.addingProduct(s1, v1); a21 = a21.addingProduct(s2, v1)
                    let v2 = load8(r + 16 * size)
                    a02 = a02.addingProduct(s0, v2); a12 = a12.addingProduct(s1, v2); a22 = a22.addingProduct(s2, v2)
                    let v3 = load8(r + 24 * size)
                    a03 = a03.addingProduct(s0, v3); a13 = a13.addingProduct(s1, v3); a23 = a23.addingProduct(s2, v3)
                }
                let o = o0 + d0
                store8(a00, o); store8(a01, o + 8); store8(a02, o + 16); store8(a03, o + 24)
                if k > 1 {
                    store8(a10, o + width); store8(a11, o + width + 8)
                    store8(a12, o + width + 16); store8(a13, o + width + 24)
                }
                if k > 2 {
                    store8(a20, o + 2 * width); store8(a21, o + 2 * width + 8)
                    store8(a22, o + 2 * width + 16); store8(a23, o + 2 * width + 24)
                }
                d0 += 32
            }
            while d0 < width {
                var a0 = SIMD8<Float>(), a1 = SIMD8<Float>(), a2 = SIMD8<Float>()
                for j in 0..<count {
                    let v = load8(rows + (j * width + d0) * size)
                    a0 = a0.addingProduct(SIMD8(repeating: w0[j]), v)
                    a1 = a1.addingProduct(SIMD8(repeating: w1[j]), v)
                    a2 = a2.addingProduct(SIMD8(repeating: w2[j]), v)
                }
                store8(a0, o0 + d0)
                if k > 1 { store8(a1, o0 + width + d0) }
                if k > 2 { store8(a2, o0 + 2 * width + d0) }
                d0 += 8
            }
            h0 += k
        }
    }
}
