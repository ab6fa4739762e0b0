#if canImport(Glibc)
import Glibc
#endif

/// Row-wise operations of encoder transformers, on row-major `[rows, width]` Float32 buffers.
public enum RowOps {
    /// `y = (x - mean) / sqrt(variance + eps) * weight + bias` per row (PyTorch's LayerNorm: biased variance).
    public static func layerNorm(_ x: UnsafePointer<Float>, rows: Int, width w: Int, weight: [Float], bias: [Float],
                                 eps: Float, into y: UnsafeMutablePointer<Float>) {
        for r in 0..<rows {
            let row = x + r * w, out = y + r * w
            var mean: Float = 0
            for i in 0..<w { mean += row[i] }
            mean /= Float(w)
            var variance: Float = 0
            for i in 0..<w {
                let d = row[i] - mean
                variance += d * d
            }
            let inv = 1 / (variance / Float(w) + eps).squareRoot()
            for i in 0..<w { out[i] = (row[i] - mean) * inv * weight[i] + bias[i] }
        }
    }

    /// Exact GELU, `x · Φ(x) = 0.5 · x · (1 + erf(x / √2))` (BERT's "gelu"), eight lanes at a time with `erf8`.
    public static func geluErf(_ x: UnsafeMutablePointer<Float>, count: Int) {
        let k = SIMD8<Float>(repeating: 0.7071067811865476)
        var i = 0
        while i + 8 <= count {
            let v = UnsafeRawPointer(x + i).loadUnaligned(as: SIMD8<Float>.self)
            let y = 0.5 * v * (1 + erf8(v * k))
            UnsafeMutableRawPointer(x + i).storeBytes(of: y, as: SIMD8<Float>.self)
            i += 8
        }
        while i < count {
            x[i] = 0.5 * x[i] * (1 + erff(x[i] * 0.7071067811865476))
            i += 1
        }
    }

    /// erf in single precision as a rational function of x on [-4, 4] (erf is ±1 to float precision beyond): the
    /// odd-over-even minimax form XLA and Eigen use for float erf, within a few ulps of libm's erff and without its
    /// per-element call (erff was a fifth of BERT's time). `RowOpsTests` bounds its error against erff.
    @inline(__always)
    public static func erf8(_ input: SIMD8<Float>) -> SIMD8<Float> {
        // Clamped with explicit selects: SIMD's generic clamped(lowerBound:upperBound:) is not inlined here.
        var x = input
        x.replace(with: SIMD8(repeating: 4), where: x .> 4)
        x.replace(with: SIMD8(repeating: -4), where: x .< -4)
        let x2 = x * x
        var p = SIMD8<Float>(repeating: -2.72614225801306e-10)
        p = p * x2 + 2.77068142495902e-08
        p = p * x2 - 2.10102402082508e-06
        p = p * x2 - 5.69250639462346e-05
        p = p * x2 - 7.34990630326855e-04
        p = p * x2 - 2.95459980854025e-03
        p = p * x2 - 1.60960333262415e-02
        p *= x
        var q = SIMD8<Float>(repeating: -1.45660718464996e-05)
        q = q * x2 - 2.13374055278905e-04
        q = q * x2 - 1.68282697438203e-03
        q = q * x2 - 7.37332916720468e-03
        q = q * x2 - 1.42647390514189e-02
        return p / q
    }

    /// GELU's tanh approximation ("gelu_new", "gelu_pytorch_tanh").
    public static func geluTanh(_ x: UnsafeMutablePointer<Float>, count: Int) {
        let k: Float = 0.7978845608028654  // sqrt(2 / pi)
        for i in 0..<count {
            let v = x[i]
            x[i] = 0.5 * v * (1 + tanhf(k * (v + 0.044715 * v * v * v)))
        }
    }

    /// In-place softmax of `count` values.
    public static func softmax(_ x: UnsafeMutablePointer<Float>, count: Int) {
        var top = -Float.infinity
        for i in 0..<count { top = max(top, x[i]) }
        var sum: Float = 0
        for i in 0..<count {
            x[i] = expf(x[i] - top)
            sum += x[i]
        }
        let inv = 1 / sum
        for i in 0..<count { x[i] *= inv }
    }

    /// `a · b` over `count` floats, eight lanes at a time.
    @inline(__always)
    public static func dot(_ a: UnsafePointer<Float>, _ b: UnsafePointer<Float>, _ count: Int) -> Float {
        var acc = SIMD8<Float>()
        var i = 0
        while i + 8 <= count {
            acc.addProduct(UnsafeRawPointer(a + i).loadUnaligned(as: SIMD8<Float>.self),
                           UnsafeRawPointer(b + i).loadUnaligned(as: SIMD8<Float>.self))
            i += 8
        }
        var sum = acc.sum()
        while i < count {
            sum += a[i] * b[i]
            i += 1
        }
        return sum
    }
}
