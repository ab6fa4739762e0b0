// TransformerKernels: the Float32 kernels the encoder plugins share (SigLIP's vision tower, the BERT text encoder):
// a packed GEMM, and the row-wise operations around it. Built for AVX2+FMA (-target-cpu haswell); every plugin that
// links it declares x86_64-v3 in its manifest. Parallel regions run on KernelThreads' pool.
@_exported import KernelThreads

/// A weight matrix `w[o][k]` (PyTorch's Linear layout, [outputs, inputs]) repacked for `MatMul`: panels of 16 outputs,
/// each stored k-major (`panel[k][0..<16]`), the last panel zero-padded. One pass over a panel serves six rows of
/// the input with two SIMD8 loads per k.
public struct PackedMatrix: @unchecked Sendable {
    public let outputs: Int
    public let inputs: Int
    let panels: Int
    let values: [Float]

    static let width = 16

    public init(_ w: UnsafePointer<Float>, outputs: Int, inputs: Int) {
        self.outputs = outputs
        self.inputs = inputs
        panels = (outputs + Self.width - 1) / Self.width
        var packed = [Float](repeating: 0, count: panels * inputs * Self.width)
        for o in 0..<outputs {
            let panel = o / Self.width, lane = o % Self.width
            let base = panel * inputs * Self.width + lane
            for k in 0..<inputs { packed[base + k * Self.width] = w[o * inputs + k] }
        }
        values = packed
    }

    public init(_ w: [Float], outputs: Int, inputs: Int) {
        self = w.withUnsafeBufferPointer { PackedMatrix($0.baseAddress!, outputs: outputs, inputs: inputs) }
    }
}

/// `y[r][o] = Σₖ x[r][k] · w[o][k] + bias[o]` with `w` packed: a 6-row × 16-output microkernel keeps twelve SIMD8
/// accumulators in registers and broadcasts one x value per row and k (the classic AVX2 GEMM shape: 12 FMAs per two
/// panel loads and six broadcasts). Panels are the outer loop, so one panel (16 × inputs floats) stays in cache while
/// every row block streams past it; each of the pool's threads takes a contiguous run of panels. Each output row is computed with
/// the same sequence of FMAs whatever rows share its block or its call, so results are bitwise invariant to batching.
public enum MatMul {
    static let blockRows = 6

    /// The product on `pool`'s threads (nil: on the calling thread only). Panels are claimed one at a time.
    public static func linear(_ x: UnsafePointer<Float>, rows: Int, _ w: PackedMatrix, bias: UnsafePointer<Float>?,
                              into y: UnsafeMutablePointer<Float>, pool: ThreadPool?) {
        guard rows > 0 else { return }
        let xs = UnsafeSendable(x), ys = UnsafeSendable(y), bs = bias.map(UnsafeSendable.init)
        w.values.withUnsafeBufferPointer { packed in
            let ws = UnsafeSendable(packed.baseAddress!)
            let run = { (panel: Int) in
                let p = ws.p + panel * w.inputs * PackedMatrix.width
                var r0 = 0
                while r0 < rows {
                    kernel(xs.p, r0: r0, count: min(blockRows, rows - r0), w, p, o0: panel * PackedMatrix.width,
                           bias: bs?.p, y: ys.p)
                    r0 += blockRows
                }
            }
            if let pool, pool.threadCount > 1 {
                // Each thread takes a contiguous run of panels: it streams one region of the weights front to back,
                // which the hardware prefetcher follows (interleaved panels left it behind when rows are few and
                // the product is bound by memory).
                let parts = min(pool.threadCount, w.panels)
                pool.run(chunks: parts) { part, _ in
                    for panel in (w.panels * part / parts)..<(w.panels * (part + 1) / parts) { run(panel) }
                }
            } else {
                for panel in 0..<w.panels { run(panel) }
            }
        }
    }

    @inline(__always)
    static func kernel(_ x: UnsafePointer<Float>, r0: Int, count: Int, _ w: PackedMatrix, _ panel: UnsafePointer<Float>,
                       o0: Int, bias: UnsafePointer<Float>?, y: UnsafeMutablePointer<Float>) {
        let n = w.inputs
        // Rows past the end read the block's last real row again; their results are not stored.
        let x0 = x + r0 * n, x1 = x + (r0 + min(1, count - 1)) * n, x2 = x + (r0 + min(2, count - 1)) * n
        let x3 = x + (r0 + min(3, count - 1)) * n, x4 = x + (r0 + min(4, count - 1)) * n
        let x5 = x + (r0 + min(5, count - 1)) * n
        var c00 = SIMD8<Float>(), c01 = SIMD8<Float>(), c10 = SIMD8<Float>(), c11 = SIMD8<Float>()
        var c20 = SIMD8<Float>(), c21 = SIMD8<Float>(), c30 = SIMD8<Float>(), c31 = SIMD8<Float>()
        var c40 = SIMD8<Float>(), c41 = SIMD8<Float>(), c50 = SIMD8<Float>(), c51 = SIMD8<Float>()
        var p = panel
        for k in 0..<n {
            let b0 = load(p), b1 = load(p + 8)
            var a = SIMD8<Float>(repeating: x0[k])
            c00.addProduct(a, b0); c01.addProduct(a, b1)
            a = SIMD8<Float>(repeating: x1[k])
            c10.addProduct(a, b0); c11.addProduct(a, b1)
            a = SIMD8<Float>(repeating: x2[k])
            c20.addProduct(a, b0); c21.addProduct(a, b1)
            a = SIMD8<Float>(repeating: x3[k])
            c30.addProduct(a, b0); c31.addProduct(a, b1)
            a = SIMD8<Float>(repeating: x4[k])
            c40.addProduct(a, b0); c41.addProduct(a, b1)
            a = SIMD8<Float>(repeating: x5[k])
            c50.addProduct(a, b0); c51.addProduct(a, b1)
            p += PackedMatrix.width
        }
        let lanes = min(PackedMatrix.width, w.outputs - o0)
        let outputs = w.outputs
        func store(_ row: Int, _ lo: SIMD8<Float>, _ hi: SIMD8<Float>) {
            let out = y + (r0 + row) * outputs + o0
            if lanes == PackedMatrix.width {
                var l = lo, h = hi
                if let bias {
                    l += load(bias + o0)
                    h += load(bias + o0 + 8)
                }
                UnsafeMutableRawPointer(out).storeBytes(of: l, as: SIMD8<Float>.self)
                UnsafeMutableRawPointer(out + 8).storeBytes(of: h, as: SIMD8<Float>.self)
                return
            }
            for i in 0..<lanes {
                let v = i < 8 ? lo[i] : hi[i - 8]
                out[i] = v + (bias?[o0 + i] ?? 0)
            }
        }
        store(0, c00, c01)
        if count > 1 { store(1, c10, c11) }
        if count > 2 { store(2, c20, c21) }
        if count > 3 { store(3, c30, c31) }
        if count > 4 { store(4, c40, c41) }
        if count > 5 { store(5, c50, c51) }
    }

    @inline(__always)
    static func load(_ p: UnsafePointer<Float>) -> SIMD8<Float> {
        UnsafeRawPointer(p).loadUnaligned(as: SIMD8<Float>.self)
    }
}

/// A pointer handed to Dispatch's workers, which write disjoint rows.
public struct UnsafeSendable<P>: @unchecked Sendable {
    public let p: P
    public init(_ p: P) { self.p = p }
}
