import Foundation
import LlamaKernels
import XCTest

/// MLX affine dequantization against the numpy reference (scripts/fixtures/convert_mlx_reference.py), bit for bit:
/// 4 and 8 bits, group sizes 32/64/128, float16/bfloat16/float32 scales, through every layout the kernels use.
final class MLXAffineTests: XCTestCase {
    struct Case {
        let label: String
        let matrix: MLXAffine.Matrix
        let expected: [UInt32]
        let storage: [Buffer]
    }

    /// Bytes at a stable address for as long as the case lives (Data's inline storage has none).
    final class Buffer {
        let pointer: UnsafeMutableRawPointer
        let count: Int
        init(_ d: Data) {
            count = d.count
            pointer = .allocate(byteCount: max(count, 1), alignment: 64)
            d.copyBytes(to: pointer.assumingMemoryBound(to: UInt8.self), count: count)
        }
        deinit { pointer.deallocate() }
    }

    private func cases() throws -> [Case] {
        let data = try Data(contentsOf: Fixture.directory.appendingPathComponent("mlx_dequant.json"))
        let list = try XCTUnwrap(try JSONSerialization.jsonObject(with: data) as? [[String: Any]])
        XCTAssertEqual(list.count, 11)
        return try list.map { c in
            let bits = try XCTUnwrap(c["bits"] as? Int), group = try XCTUnwrap(c["group_size"] as? Int)
            let rows = try XCTUnwrap(c["rows"] as? Int), columns = try XCTUnwrap(c["columns"] as? Int)
            let dtypeName = try XCTUnwrap(c["scale_dtype"] as? String)
            let dtype: CheckpointDType = dtypeName == "F16" ? .f16 : dtypeName == "BF16" ? .bf16 : .f32
            func bytes(_ key: String) throws -> Data { try XCTUnwrap(Data(base64Encoded: try XCTUnwrap(c[key] as? String))) }
            let w = Buffer(try bytes("weight")), s = Buffer(try bytes("scales")), b = Buffer(try bytes("biases"))
            func tensor(_ d: Buffer, _ name: String, _ t: CheckpointDType, _ shape: [Int]) -> CheckpointTensor {
                CheckpointTensor(name: name, dtype: t, shape: shape, data: d.pointer, byteCount: d.count)
            }
            let m = try MLXAffine.Matrix(weight: tensor(w, "w.weight", .u32, [rows, columns * bits / 32]),
                                         scales: tensor(s, "w.scales", dtype, [rows, columns / group]),
                                         biases: tensor(b, "w.biases", dtype, [rows, columns / group]),
                                         bits: bits, groupSize: group)
            let expected = try XCTUnwrap(c["bits_out"] as? [NSNumber]).map(\.uint32Value)
            return Case(label: "\(bits)-bit g\(group) \(dtypeName)", matrix: m, expected: expected, storage: [w, s, b])
        }
    }

    private func assertBits(_ out: [Float], _ expected: [UInt32], _ label: String) {
        let bad = zip(out, expected).enumerated().filter { $0.element.0.bitPattern != $0.element.1 }
        XCTAssertEqual(out.count, expected.count, label)
        XCTAssertTrue(bad.isEmpty, "\(label): \(bad.count) of \(expected.count) values differ, first at "
                      + "\(bad.first.map { "\($0.offset): \($0.element.0) vs \(Float(bitPattern: $0.element.1))" } ?? "")")
    }

    func testReferenceDequantizationIsBitExact() throws {
        for c in try cases() {
            var out = [Float](repeating: .nan, count: c.expected.count)
            out.withUnsafeMutableBufferPointer { MLXAffine.dequantize(c.matrix, into: $0.baseAddress!) }
            assertBits(out, c.expected, c.label)
        }
    }

    /// Repacked into kernel blocks (q4_1 / affine8, or float32 for the case whose scales a float16 cannot hold),
    /// then expanded row by row in the file layout and in the interleaved-8 layout.
    func testRepackedBlocksDequantizeBitExact() throws {
        let pool = ThreadPool(threads: 2)
        var kinds: [(String, MLXAffine.Repacked)] = []
        for c in try cases() {
            let (view, kind) = MLXAffine.repack(c.matrix)
            kinds.append((c.label, kind))
            let rows = c.matrix.rows, columns = c.matrix.columns
            let w = try WeightMatrix(view, rows: rows, columns: columns)
            XCTAssertEqual(w.type, kind == .float32 ? .f32 : c.matrix.bits == 4 ? .q4_1 : .affine8, c.label)
            for matrix in [w, Interleaved8.pack(w, pool: pool)] {
                var out = [Float](repeating: .nan, count: rows * columns)
                out.withUnsafeMutableBufferPointer { p in
                    for r in 0..<rows { matrix.dequantizeRow(r, into: p.baseAddress! + r * columns) }
                }
                assertBits(out, c.expected, "\(c.label) \(matrix.layout)")
                if matrix.layout == .interleaved8 {
                    var group = [Float](repeating: .nan, count: 8 * columns)
                    group.withUnsafeMutableBufferPointer { Interleaved8.dequantizeGroup(matrix, 0, into: $0.baseAddress!) }
                    assertBits(group, Array(c.expected[0..<(8 * columns)]), "\(c.label) group")
                }
            }
        }
        // float16 scales always repack; random float32 ones cannot; of the bfloat16 cases only the tiny-scale one.
        XCTAssertTrue(kinds.filter { $0.0.hasSuffix("F16") && !$0.0.hasSuffix("BF16") }.allSatisfy { $0.1 == .blocks })
        XCTAssertTrue(kinds.filter { $0.0.hasSuffix("F32") }.allSatisfy { $0.1 == .float32 })
        XCTAssertEqual(kinds.filter { $0.0.hasSuffix("BF16") }.map(\.1), [.blocks, .blocks, .float32])
    }

    /// The decode (matrix-vector) kernels on repacked MLX matrices agree with a float64 product of the exact values.
    func testMatrixVectorProductsMatchExactValues() throws {
        let pool = ThreadPool(threads: 2)
        for c in try cases() {
            let rows = c.matrix.rows, columns = c.matrix.columns
            let w = Interleaved8.pack(try WeightMatrix(MLXAffine.repack(c.matrix).view, rows: rows, columns: columns), pool: pool)
            let x = (0..<columns).map { Float(sin(Double($0) * 0.37)) }
            var prepared = [Float](repeating: 0, count: MatMul.preparedInputCount(columns: columns))
            var scratch = [Float](repeating: 0, count: MatMul.scratchCount(columns: columns))
            var y = [Float](repeating: .nan, count: rows)
            x.withUnsafeBufferPointer { xp in
                prepared.withUnsafeMutableBufferPointer { MatMul.prepareQ4_1Input(xp.baseAddress!, columns: columns, into: $0.baseAddress!) }
                prepared.withUnsafeBufferPointer { sp in
                    MatMul.multiply(w, xp.baseAddress!, n: 1, &y, ldy: rows, rowRange: 0..<rows,
                                    scratch: &scratch, sums: sp.baseAddress!)
                }
            }
            for r in 0..<rows {
                var exact = 0.0
                for k in 0..<columns { exact += Double(Float(bitPattern: c.expected[r * columns + k])) * Double(x[k]) }
                XCTAssertEqual(Double(y[r]), exact, accuracy: 1e-4 * max(1, abs(exact)), "\(c.label) row \(r)")
            }
        }
    }

    func testRefusesInconsistentShapes() throws {
        let c = try XCTUnwrap(try cases().first)
        let m = c.matrix
        XCTAssertThrowsError(try MLXAffine.Matrix(weight: m.weight, scales: m.scales, biases: m.biases, bits: 8, groupSize: 32))
        XCTAssertThrowsError(try MLXAffine.Matrix(weight: m.weight, scales: m.scales, biases: m.biases, bits: 3, groupSize: 32))
        XCTAssertThrowsError(try MLXAffine.Matrix(weight: m.weight, scales: m.scales, biases: m.biases, bits: 4, groupSize: 48))
        let short = CheckpointTensor(name: m.weight.name, dtype: .u32, shape: m.weight.shape, data: m.weight.data,
                                     byteCount: m.weight.byteCount - 4)
        XCTAssertThrowsError(try MLXAffine.Matrix(weight: short, scales: m.scales, biases: m.biases, bits: 4, groupSize: 32)) {
            XCTAssertTrue("\($0)".contains("fewer than its shape"), "\($0)")
        }
        withExtendedLifetime(c.storage) {}
    }

    func testHuggingFaceNames() {
        XCTAssertEqual(HuggingFaceSource.huggingFaceName("blk.12.attn_q.weight"), "model.layers.12.self_attn.q_proj.weight")
        XCTAssertEqual(HuggingFaceSource.huggingFaceName("blk.0.attn_k.bias"), "model.layers.0.self_attn.k_proj.bias")
        XCTAssertEqual(HuggingFaceSource.huggingFaceName("blk.3.ffn_down.weight"), "model.layers.3.mlp.down_proj.weight")
        XCTAssertEqual(HuggingFaceSource.huggingFaceName("token_embd.weight"), "model.embed_tokens.weight")
        XCTAssertNil(HuggingFaceSource.huggingFaceName("blk.x.attn_q.weight"))
        XCTAssertNil(HuggingFaceSource.huggingFaceName("blk.1.attn_qq.weight"))
    }
}
