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

    /// In-place softmax over `count` scores.
    @inlinable
    public static func softmax(_ x: UnsafeMutablePointer<Float>, count: Int) {
        var maximum = -Float.infinity
        for i in 0..<count { maximum = max(maximum, x[i]) }
        var sum: Float = 0
        for i in 0..<count {
            let e = expf(x[i] - maximum)
            x[i] = e
            sum += e
        }
        let inverse = 1 / sum
        for i in 0..<count { x[i] *= inverse }
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

    /// out[0 ..< width] = Σ_j weights[j] · rows[j · stride ..< j · stride + width], for `width` a multiple of 8.
    /// Blocks of 64 outputs stay in eight registers across all `count` rows.
    @inlinable
    public static func weightedSum(_ weights: UnsafePointer<Float>, count: Int, _ rows: UnsafePointer<Float>,
                                   stride: Int, width: Int, into out: UnsafeMutablePointer<Float>) {
        var d0 = 0
        while d0 + 64 <= width {
            var a0 = SIMD8<Float>(), a1 = SIMD8<Float>(), a2 = SIMD8<Float>(), a3 = SIMD8<Float>()
            var a4 = SIMD8<Float>(), a5 = SIMD8<Float>(), a6 = SIMD8<Float>(), a7 = SIMD8<Float>()
            for j in 0..<count {
                let w = SIMD8<Float>(repeating: weights[j]), r = rows + j * stride + d0
                a0 = a0.addingProduct(w, load8(r)); a1 = a1.addingProduct(w, load8(r + 8))
                a2 = a2.addingProduct(w, load8(r + 16)); a3 = a3.addingProduct(w, load8(r + 24))
                a4 = a4.addingProduct(w, load8(r + 32)); a5 = a5.addingProduct(w, load8(r + 40))
                a6 = a6.addingProduct(w, load8(r + 48)); a7 = a7.addingProduct(w, load8(r + 56))
            }
            let o = out + d0
            store8(a0, o); store8(a1, o + 8); store8(a2, o + 16); store8(a3, o + 24)
            store8(a4, o + 32); store8(a5, o + 40); store8(a6, o + 48); store8(a7, o + 56)
            d0 += 64
        }
        if d0 < width {
            (out + d0).initialize(repeating: 0, count: width - d0)
            for j in 0..<count { axpy(weights[j], rows + j * stride + d0, out + d0, count: width - d0) }
        }
    }
}
