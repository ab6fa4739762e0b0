// TransformerKernels: the Float32 kernels the encoder plugins share (SigLIP's vision tower, the BERT text encoder):
// a packed GEMM, and the row-wise operations around it. Built for AVX2+FMA (-target-cpu haswell); every plugin that
// links it declares x86_64-v3 in its manifest. Parallel regions run on KernelThreads' pool.
@_exported import KernelThreads
import TransformerKernelsC

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

/// `y[r][o] = Σₖ x[r][k] · w[o][k] + bias[o]` with `w` packed, by `tk_gemm_f32` (TransformerKernelsC): a register
/// block of rows (6 rows × 16 outputs in twelve 8-lane accumulators on AVX2, 12 rows × 16 on AVX-512) broadcasts one
/// x value per row and k against one panel load. Panels are the outer loop, so one panel (16 × inputs floats) stays in
/// cache while every row block streams past it, and the next panel is fetched from memory meanwhile. Each output row is
/// computed with the same sequence of FMAs whatever rows share its block or its call and whichever path runs, so
/// results are bitwise invariant to batching.
public enum MatMul {
    /// The product on `pool`'s threads (nil: on the calling thread only).
    public static func linear(_ x: UnsafePointer<Float>, rows: Int, _ w: PackedMatrix, bias: UnsafePointer<Float>?,
                              into y: UnsafeMutablePointer<Float>, pool: ThreadPool?) {
        guard rows > 0 else { return }
        let xs = UnsafeSendable(x), ys = UnsafeSendable(y), bs = UnsafeSendable(bias)
        w.values.withUnsafeBufferPointer { packed in
            let ws = UnsafeSendable(packed.baseAddress!)
            let run = { (first: Int, end: Int) in
                tk_gemm_f32(xs.p, rows, w.inputs, ws.p, w.outputs, bs.p, ys.p, first, end)
            }
            if let pool, pool.threadCount > 1 {
                // Runs of contiguous panels, four per thread, claimed as threads come free: each run streams one
                // region of the weights front to back, prefetching each next panel (interleaved panels left the
                // prefetcher behind), and a thread held up elsewhere leaves fewer panels for the others to wait on
                // than with one run per thread (one MiniLM sentence: 3.0-3.2 ms per call against 3.3-3.5).
                let parts = min(pool.threadCount * 4, w.panels)
                pool.run(chunks: parts) { part, _ in
                    run(w.panels * part / parts, w.panels * (part + 1) / parts)
                }
            } else {
                run(0, w.panels)
            }
        }
    }

    /// Whether the product uses its AVX-512 code where the CPU has AVX-512F (the default) or only AVX2; returns
    /// whether AVX-512 is in use afterwards. Both paths give bitwise identical results.
    @discardableResult
    public static func useAVX512(_ enabled: Bool) -> Bool { tk_use_avx512(enabled ? 1 : 0) != 0 }
}

/// A pointer handed to Dispatch's workers, which write disjoint rows.
public struct UnsafeSendable<P>: @unchecked Sendable {
    public let p: P
    public init(_ p: P) { self.p = p }
}
