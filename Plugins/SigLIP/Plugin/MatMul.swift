import Dispatch

/// `y[r][o] = Σₖ x[r][k] · w[o][k] + bias[o]`: every product in the encoder is this shape (x row-major [rows, inner],
/// w row-major [outputs, inner], as PyTorch stores a Linear). Tiles of 2 rows × 4 outputs keep eight SIMD8
/// accumulators in registers; row blocks are spread over `threads` with Dispatch.
enum MatMul {
    static func linear(_ x: UnsafePointer<Float>, rows: Int, inner: Int, _ w: UnsafePointer<Float>, outputs: Int,
                       bias: UnsafePointer<Float>?, into y: UnsafeMutablePointer<Float>, threads: Int) {
        let blocks = (rows + 1) / 2
        let workers = max(1, min(threads, blocks))
        let x = UnsafeSendable(x), w = UnsafeSendable(w), y = UnsafeSendable(y), bias = bias.map(UnsafeSendable.init)
        DispatchQueue.concurrentPerform(iterations: workers) { worker in
            var block = worker
            while block < blocks {
                let r0 = block * 2
                let pair = r0 + 1 < rows
                var o = 0
                while o + 4 <= outputs {
                    tile(x.p + r0 * inner, pair ? x.p + (r0 + 1) * inner : nil, inner, w.p + o * inner,
                         y.p + r0 * outputs + o, pair ? y.p + (r0 + 1) * outputs + o : nil, bias?.p.advanced(by: o))
                    o += 4
                }
                while o < outputs {
                    for r in r0..<(pair ? r0 + 2 : r0 + 1) {
                        y.p[r * outputs + o] = dot(x.p + r * inner, w.p + o * inner, inner) + (bias?.p[o] ?? 0)
                    }
                    o += 1
                }
                block += workers
            }
        }
    }

    @inline(__always)
    static func dot(_ a: UnsafePointer<Float>, _ b: UnsafePointer<Float>, _ n: Int) -> Float {
        var acc = SIMD8<Float>()
        var k = 0
        while k + 8 <= n {
            acc.addProduct(load(a + k), load(b + k))
            k += 8
        }
        var sum = acc.sum()
        while k < n {
            sum += a[k] * b[k]
            k += 1
        }
        return sum
    }

    /// Two rows of x against four rows of w.
    @inline(__always)
    static func tile(_ x0: UnsafePointer<Float>, _ x1: UnsafePointer<Float>?, _ n: Int, _ w: UnsafePointer<Float>,
                     _ y0: UnsafeMutablePointer<Float>, _ y1: UnsafeMutablePointer<Float>?, _ bias: UnsafePointer<Float>?) {
        let w0 = w, w1 = w + n, w2 = w + 2 * n, w3 = w + 3 * n
        let x1p = x1 ?? x0
        var a0 = SIMD8<Float>(), a1 = SIMD8<Float>(), a2 = SIMD8<Float>(), a3 = SIMD8<Float>()
        var b0 = SIMD8<Float>(), b1 = SIMD8<Float>(), b2 = SIMD8<Float>(), b3 = SIMD8<Float>()
        var k = 0
        while k + 8 <= n {
            let u = load(x0 + k), v = load(x1p + k)
            let c0 = load(w0 + k), c1 = load(w1 + k), c2 = load(w2 + k), c3 = load(w3 + k)
            a0.addProduct(u, c0); a1.addProduct(u, c1); a2.addProduct(u, c2); a3.addProduct(u, c3)
            b0.addProduct(v, c0); b1.addProduct(v, c1); b2.addProduct(v, c2); b3.addProduct(v, c3)
            k += 8
        }
        var s0 = a0.sum(), s1 = a1.sum(), s2 = a2.sum(), s3 = a3.sum()
        var t0 = b0.sum(), t1 = b1.sum(), t2 = b2.sum(), t3 = b3.sum()
        while k < n {
            s0 += x0[k] * w0[k]; s1 += x0[k] * w1[k]; s2 += x0[k] * w2[k]; s3 += x0[k] * w3[k]
            t0 += x1p[k] * w0[k]; t1 += x1p[k] * w1[k]; t2 += x1p[k] * w2[k]; t3 += x1p[k] * w3[k]
            k += 1
        }
        let b = bias.map { ($0[0], $0[1], $0[2], $0[3]) } ?? (0, 0, 0, 0)
        y0[0] = s0 + b.0; y0[1] = s1 + b.1; y0[2] = s2 + b.2; y0[3] = s3 + b.3
        if let y1 {
            y1[0] = t0 + b.0; y1[1] = t1 + b.1; y1[2] = t2 + b.2; y1[3] = t3 + b.3
        }
    }

    @inline(__always)
    static func load(_ p: UnsafePointer<Float>) -> SIMD8<Float> {
        UnsafeRawPointer(p).loadUnaligned(as: SIMD8<Float>.self)
    }
}

/// A pointer handed to Dispatch's workers, which write disjoint rows.
struct UnsafeSendable<P>: @unchecked Sendable {
    let p: P
    init(_ p: P) { self.p = p }
}
