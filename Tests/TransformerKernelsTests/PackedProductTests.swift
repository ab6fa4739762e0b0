import Foundation
import TransformerKernels
import XCTest

/// The encoders' packed Float32 product (TransformerKernelsC's `tk_gemm_f32` behind `MatMul.linear`): what it promises
/// is exact, so these tests compare bit patterns, not tolerances. Every output must be the chain
/// `acc = fma(x[k], w[k], acc)` over k in order from zero, plus the bias: the same whatever rows share the call, however
/// the panels are split between threads, and on the AVX2 and AVX-512 paths alike.
final class PackedProductTests: XCTestCase {
    /// A deterministic generator (SplitMix64) of values in [-1, 1).
    struct Values {
        var state: UInt64
        mutating func next() -> Float {
            state &+= 0x9E37_79B9_7F4A_7C15
            var z = state
            z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
            z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
            z ^= z >> 31
            return Float(z >> 40) / Float(1 << 23) - 1
        }
        mutating func array(_ count: Int) -> [Float] { (0..<count).map { _ in next() } }
    }

    /// The contract, written out: one fused multiply-add chain per output.
    static func reference(_ x: [Float], rows: Int, _ w: [Float], outputs: Int, inputs: Int, bias: [Float]?) -> [Float] {
        var y = [Float](repeating: 0, count: rows * outputs)
        for r in 0..<rows {
            for o in 0..<outputs {
                var acc: Float = 0
                for k in 0..<inputs { acc.addProduct(x[r * inputs + k], w[o * inputs + k]) }
                y[r * outputs + o] = bias.map { acc + $0[o] } ?? acc
            }
        }
        return y
    }

    static func product(_ x: [Float], rows: Int, _ packed: PackedMatrix, bias: [Float]?, pool: ThreadPool?) -> [Float] {
        var y = [Float](repeating: .nan, count: rows * packed.outputs)
        x.withUnsafeBufferPointer { xp in
            y.withUnsafeMutableBufferPointer { yp in
                if let bias {
                    bias.withUnsafeBufferPointer { bp in
                        MatMul.linear(xp.baseAddress!, rows: rows, packed, bias: bp.baseAddress, into: yp.baseAddress!,
                                      pool: pool)
                    }
                } else {
                    MatMul.linear(xp.baseAddress!, rows: rows, packed, bias: nil, into: yp.baseAddress!, pool: pool)
                }
            }
        }
        return y
    }

    static func bits(_ values: [Float]) -> [UInt32] { values.map(\.bitPattern) }

    /// Paths to try: AVX2 always, AVX-512 where the CPU has it.
    static func paths() -> [Bool] {
        let avx512 = MatMul.useAVX512(true)
        return avx512 ? [false, true] : [false]
    }

    override func tearDown() {
        MatMul.useAVX512(true)
    }

    func testEveryOutputIsOneFusedChainOnEveryPath() {
        var values = Values(state: 1)
        let pool = ThreadPool(threads: 2)
        // Shapes: whole panels and a partial last panel; an inner size that is not a multiple of anything.
        for (outputs, inputs) in [(48, 64), (37, 29), (16, 384), (5, 3)] {
            let w = values.array(outputs * inputs), bias = values.array(outputs)
            let packed = PackedMatrix(w, outputs: outputs, inputs: inputs)
            for rows in [1, 2, 5, 6, 7, 12, 13, 17, 25] {
                let x = values.array(rows * inputs)
                for withBias in [false, true] {
                    let want = Self.bits(Self.reference(x, rows: rows, w, outputs: outputs, inputs: inputs,
                                                        bias: withBias ? bias : nil))
                    for avx512 in Self.paths() {
                        MatMul.useAVX512(avx512)
                        for threads in [nil, pool] as [ThreadPool?] {
                            let got = Self.bits(Self.product(x, rows: rows, packed, bias: withBias ? bias : nil,
                                                             pool: threads))
                            XCTAssertEqual(got, want, "\(rows)x\(inputs) · \(outputs), bias \(withBias), "
                                + "AVX-512 \(avx512), threads \(threads?.threadCount ?? 1)")
                        }
                    }
                }
            }
        }
    }

    /// A row's result does not depend on the rows it shares a call with (the row blocks are sized by the call's row
    /// count), so an input's embedding is the same alone or batched.
    func testRowsAreBitwiseTheSameAloneOrBatched() {
        var values = Values(state: 7)
        let outputs = 96, inputs = 128
        let packed = PackedMatrix(values.array(outputs * inputs), outputs: outputs, inputs: inputs)
        let bias = values.array(outputs)
        let rows = 31
        let x = values.array(rows * inputs)
        let pool = ThreadPool(threads: 2)
        for avx512 in Self.paths() {
            MatMul.useAVX512(avx512)
            let batched = Self.product(x, rows: rows, packed, bias: bias, pool: pool)
            for r in 0..<rows {
                let alone = Self.product(Array(x[(r * inputs)..<((r + 1) * inputs)]), rows: 1, packed, bias: bias,
                                         pool: nil)
                XCTAssertEqual(Self.bits(alone), Self.bits(Array(batched[(r * outputs)..<((r + 1) * outputs)])),
                               "row \(r), AVX-512 \(avx512)")
            }
        }
    }

    /// Against float64: the products are right, not only consistent.
    func testCloseToFloat64() {
        var values = Values(state: 11)
        let outputs = 70, inputs = 300, rows = 9
        let w = values.array(outputs * inputs), x = values.array(rows * inputs)
        let got = Self.product(x, rows: rows, PackedMatrix(w, outputs: outputs, inputs: inputs), bias: nil,
                               pool: ThreadPool(threads: 2))
        for r in 0..<rows {
            for o in 0..<outputs {
                var exact = 0.0
                for k in 0..<inputs { exact += Double(x[r * inputs + k]) * Double(w[o * inputs + k]) }
                XCTAssertEqual(Double(got[r * outputs + o]), exact, accuracy: 1e-4)
            }
        }
    }
}
