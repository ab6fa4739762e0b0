import Dispatch

/// A weight matrix `w[o][k]` (PyTorch's Linear layout, [outputs, inputs]) repacked for `MatMul`: panels of 16 outputs,
/// each stored k-major (`panel[k][0..<16]`), the last panel zero-padded. One pass over a panel serves four rows of
/// the input with two SIMD8 loads per k.
struct PackedMatrix: @unchecked Sendable {
    let outputs: Int
    let inputs: Int
    let panels: Int
    let values: [Float]

    static let width = 16

    init(_ w: UnsafePointer<Float>, outputs: Int, inputs: Int) {
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

    init(_ w: [Float], outputs: Int, inputs: Int) {
        self = w.withUnsafeBufferPointer { PackedMatrix($0.baseAddress!, outputs: outputs, inputs: inputs) }
    }
}

/// `y[r][o] = Σₖ x[r][k] · w[o][k] + bias[o]` with `w` packed: a 4-row × 16-output microkernel keeps eight SIMD8
/// accumulators in registers and broadcasts one x value per row and k (the usual GEMM shape: 8 FMAs per 2 loads).
/// Row blocks are spread over `threads` with Dispatch.
enum MatMul {
    static func linear(_ x: UnsafePointer<Float>, rows: Int, _ w: PackedMatrix, bias: UnsafePointer<Float>?,
                       into y: UnsafeMutablePointer<Float>, threads: Int) {
        let blocks = (rows + 3) / 4
        let workers = max(1, min(threads, blocks))
        let xs = UnsafeSendable(x), ys = UnsafeSendable(y), bs = bias.map(UnsafeSendable.init)
        w.values.withUnsafeBufferPointer { packed in
            let ws = UnsafeSendable(packed.baseAddress!)
            let run = { (worker: Int) in
                var block = worker
                while block < blocks {
                    let r0 = block * 4
                    for panel in 0..<w.panels {
                        kernel(xs.p, r0: r0, count: min(4, rows - r0), w, ws.p + panel * w.inputs * PackedMatrix.width,
                               o0: panel * PackedMatrix.width, bias: bs?.p, y: ys.p)
                    }
                    block += workers
                }
            }
            if workers == 1 { run(0) } else { DispatchQueue.concurrentPerform(iterations: workers, execute: run) }
        }
    }

    @inline(__always)
    static func kernel(_ x: UnsafePointer<Float>, r0: Int, count: Int, _ w: PackedMatrix, _ panel: UnsafePointer<Float>,
                       o0: Int, bias: UnsafePointer<Float>?, y: UnsafeMutablePointer<Float>) {
        let n = w.inputs
        // Rows past the end read row r0 again; their results are not stored.
        let x0 = x + r0 * n, x1 = x + (r0 + min(1, count - 1)) * n
        let x2 = x + (r0 + min(2, count - 1)) * n, x3 = x + (r0 + min(3, count - 1)) * n
        var c00 = SIMD8<Float>(), c01 = SIMD8<Float>(), c10 = SIMD8<Float>(), c11 = SIMD8<Float>()
        var c20 = SIMD8<Float>(), c21 = SIMD8<Float>(), c30 = SIMD8<Float>(), c31 = SIMD8<Float>()
        var p = panel
        for k in 0..<n {
            let b0 = load(p), b1 = load(p + 8)
            let a0 = SIMD8<Float>(repeating: x0[k]), a1 = SIMD8<Float>(repeating: x1[k])
            c00.addProduct(a0, b0); c01.addProduct(a0, b1)
            c10.addProduct(a1, b0); c11.addProduct(a1, b1)
            let a2 = SIMD8<Float>(repeating: x2[k]), a3 = SIMD8<Float>(repeating: x3[k])
            c20.addProduct(a2, b0); c21.addProduct(a2, b1)
            c30.addProduct(a3, b0); c31.addProduct(a3, b1)
            p += PackedMatrix.width
        }
        let lanes = min(PackedMatrix.width, w.outputs - o0)
        let outputs = w.outputs
        func store(_ row: Int, _ lo: SIMD8<Float>, _ hi: SIMD8<Float>) {
            let out = y + (r0 + row) * outputs + o0
            for i in 0..<lanes {
                let v = i < 8 ? lo[i] : hi[i - 8]
                out[i] = v + (bias?[o0 + i] ?? 0)
            }
        }
        store(0, c00, c01)
        if count > 1 { store(1, c10, c11) }
        if count > 2 { store(2, c20, c21) }
        if count > 3 { store(3, c30, c31) }
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
