import Foundation
import LlamaKernels
import XCTest

/// The fused matrix-vector kernels, the tiled matrix-matrix path and a plain Double reference must agree.
final class MatMulTests: XCTestCase {
    /// Random blocks with sane f16 scales, so products stay in a realistic range.
    private func randomMatrix(_ type: WeightType, rows: Int, columns: Int, seed: UInt64) -> [UInt8] {
        var state = seed
        func next() -> UInt64 {
            state = state &* 6_364_136_223_846_793_005 &+ 1_442_695_040_888_963_407
            return state >> 33
        }
        let blocks = rows * columns / type.blockElements
        var bytes = (0..<(blocks * type.blockBytes)).map { _ in UInt8(truncatingIfNeeded: next()) }
        let scaleOffsets: [Int]
        switch type {
        case .q4_1, .q5_1, .q4_K, .q5_K: scaleOffsets = [0, 2]
        case .q6_K: scaleOffsets = [208]
        default: scaleOffsets = [0]
        }
        if type == .f32 {
            for i in 0..<blocks {
                let v = Float(Int(next() % 2001) - 1000) / 40_000
                withUnsafeBytes(of: v.bitPattern.littleEndian) { for j in 0..<4 { bytes[4 * i + j] = $0[j] } }
            }
            return bytes
        }
        for b in 0..<blocks {
            for o in scaleOffsets {
                let v = Float16(Float(Int(next() % 2001) - 1000) / 40_000)
                withUnsafeBytes(of: v.bitPattern.littleEndian) { bytes[b * type.blockBytes + o] = $0[0]; bytes[b * type.blockBytes + o + 1] = $0[1] }
            }
        }
        return bytes
    }

    /// Checks `multiply` against a Double reference, on the file layout and (when `packed`) the interleaved one.
    /// `ranges` split the rows the way the model's parallel chunks do.
    private func check(_ type: WeightType, rows: Int, columns: Int, n: Int, packed: Bool = false,
                       ranges: [Range<Int>]? = nil) throws {
        let bytes = randomMatrix(type, rows: rows, columns: columns, seed: UInt64(rows * 31 + n))
        let x = (0..<(n * columns)).map { Float(($0 * 7919) % 2003) / 1001.5 - 1 }
        // Split the rows unevenly by default to exercise the odd-row and partial-tile tails.
        let ranges = ranges ?? [0..<3, 3..<(rows / 2), (rows / 2)..<rows]
        try bytes.withUnsafeBytes { raw in
            let view = WeightView(name: "w", type: type, dimensions: [columns, rows], data: raw.baseAddress!, byteCount: raw.count)
            let file = try WeightMatrix(view, rows: rows, columns: columns)
            let w = packed ? Interleaved8.pack(file, pool: ThreadPool(threads: 2)) : file
            if packed { XCTAssertEqual(w.layout, .interleaved8) }
            if packed && type == .q4_0 { XCTAssertEqual(w.type, .q4_1, "Q4_0 runs as Q4_1 with m = -8d") }
            if packed && type == .q5_0 { XCTAssertEqual(w.type, .q8_0, "Q5_0 runs as Q8_0") }
            if packed && type == .q5_1 { XCTAssertEqual(w.type, .affine8, "Q5_1 runs as affine8") }
            if packed && type == .iq4_nl { XCTAssertEqual(w.type, .q8_0, "IQ4_NL runs as Q8_0") }
            var dense = [Float](repeating: 0, count: rows * columns)
            dense.withUnsafeMutableBufferPointer { d in for r in 0..<rows { w.dequantizeRow(r, into: d.baseAddress! + r * columns) } }
            var y = [Float](repeating: .nan, count: n * rows)
            var scratch = [Float](repeating: 0, count: MatMul.scratchCount(columns: columns))
            // Prepared inputs for every row, as the model passes them to small batches (and only those).
            let stride = MatMul.preparedInputCount(columns: columns)
            var sums = [Float](repeating: 0, count: n * stride)
            x.withUnsafeBufferPointer { xp in
                sums.withUnsafeMutableBufferPointer { s in
                    for t in 0..<n { MatMul.prepareQ4_1Input(xp.baseAddress! + t * columns, columns: columns, into: s.baseAddress! + t * stride) }
                }
                y.withUnsafeMutableBufferPointer { yp in
                    for range in ranges {
                        MatMul.multiply(w, xp.baseAddress!, n: n, yp.baseAddress!, ldy: rows, rowRange: range,
                                        scratch: &scratch, sums: sums)
                    }
                }
            }
            for t in 0..<n {
                for r in 0..<rows {
                    var expected = 0.0, magnitude = 0.0
                    for k in 0..<columns {
                        let p = Double(dense[r * columns + k]) * Double(x[t * columns + k])
                        expected += p
                        magnitude += abs(p)
                    }
                    XCTAssertEqual(Double(y[t * rows + r]), expected, accuracy: 1e-5 * magnitude + 1e-6,
                                   "\(type) n=\(n) row \(r) token \(t)")
                }
            }
        }
    }

    func testQ4_1() throws {
        for n in [1, 2, 5] { try check(.q4_1, rows: 37, columns: 96, n: n) }
    }

    func testQ8_0() throws {
        for n in [1, 4, 7] { try check(.q8_0, rows: 21, columns: 64, n: n) }
    }

    func testInterleavedQ4_1() throws {
        for n in [1, 3, 4, 9, 70] { try check(.q4_1, rows: 48, columns: 96, n: n, packed: true, ranges: [0..<16, 16..<24, 24..<48]) }
        // Ranges that split an 8-row group fall back to row-wise expansion.
        try check(.q4_1, rows: 48, columns: 96, n: 1, packed: true)
    }

    /// Q4_0 is widened to Q4_1 (same values) and runs the Q4_1 kernels, single-row and batched.
    func testInterleavedQ4_0() throws {
        for n in [1, 3, 4, 9, 70] { try check(.q4_0, rows: 48, columns: 96, n: n, packed: true, ranges: [0..<16, 16..<24, 24..<48]) }
        try check(.q4_0, rows: 48, columns: 96, n: 1, packed: true)
    }

    /// Q5_0 and Q5_1 are widened to Q8_0 and affine8 (same values) and run those kernels; unpacked (a row count
    /// that does not fill 8-row groups) they run from the file layout.
    /// IQ4_NL is widened to Q8_0 (same values) the same way.
    func testQ5_0Q5_1AndIQ4_NL() throws {
        for type in [WeightType.q5_0, .q5_1, .iq4_nl] {
            for n in [1, 3, 9, 70] { try check(type, rows: 48, columns: 96, n: n, packed: true, ranges: [0..<16, 16..<48]) }
            try check(type, rows: 10, columns: 64, n: 1)
            try check(type, rows: 10, columns: 64, n: 4)
        }
    }

    /// Q4_K is repacked with its scales unpacked and its nibbles regrouped as Q4_1's, and runs the Q4_1 kernels
    /// with per-sub-block scales; unpacked (a row count that does not fill 8-row groups) it runs from the file.
    /// Q6_K and Q5_K are repacked with a byte per weight and run kernels of their own.
    func testKQuants() throws {
        for type in [WeightType.q4_K, .q5_K, .q6_K] {
            for n in [1, 2, 3, 4, 9, 70] {
                try check(type, rows: 48, columns: 512, n: n, packed: true, ranges: [0..<16, 16..<24, 24..<48])
            }
            try check(type, rows: 10, columns: 256, n: 1)
            try check(type, rows: 10, columns: 256, n: 5)
        }
    }

    /// F16, BF16 and F32 weights stay in the file's layout; one activation row takes the C kernel for them.
    func testFloatRows() throws {
        for type in [WeightType.f16, .bf16, .f32] {
            for n in [1, 3] { try check(type, rows: 13, columns: 72, n: n) }
        }
    }

    func testInterleavedQ8_0() throws {
        for n in [1, 2, 5, 9, 70] { try check(.q8_0, rows: 40, columns: 64, n: n, packed: true, ranges: [0..<8, 8..<40]) }
    }

    /// The portable Swift kernel and the AVX2 C kernel give the same sums (up to float reassociation).
    func testPortableQ4_1KernelMatchesDispatch() throws {
        let rows = 64, columns = 128
        let bytes = randomMatrix(.q4_1, rows: rows, columns: columns, seed: 99)
        let x = (0..<columns).map { Float(($0 * 31) % 97) / 48 - 1 }
        try bytes.withUnsafeBytes { raw in
            let view = WeightView(name: "w", type: .q4_1, dimensions: [columns, rows], data: raw.baseAddress!, byteCount: raw.count)
            let w = Interleaved8.pack(try WeightMatrix(view, rows: rows, columns: columns), pool: ThreadPool(threads: 1))
            var prepared = [Float](repeating: 0, count: MatMul.preparedInputCount(columns: columns))
            var scratch = [Float](repeating: 0, count: MatMul.scratchCount(columns: columns))
            var fast = [Float](repeating: .nan, count: rows), portable = [Float](repeating: .nan, count: rows)
            MatMul.prepareQ4_1Input(x, columns: columns, into: &prepared)
            MatMul.multiply(w, x, n: 1, &fast, ldy: rows, rowRange: 0..<rows, scratch: &scratch, sums: prepared)
            Interleaved8.q4_1Vector(w, x, prepared, &portable, groups: 0..<(rows / 8))
            for r in 0..<rows { XCTAssertEqual(fast[r], portable[r], accuracy: 1e-4 * max(1, abs(portable[r])), "row \(r)") }
        }
    }

    /// A small batch (a decode step of several sequences) gives every row bitwise the result it gets alone, on
    /// every layout and type the decoder streams: batching must not change a sequence's tokens.
    func testSmallBatchRowsAreBitwiseTheirSingleRowResults() throws {
        let rows = 48
        for (type, packed) in [(WeightType.q4_1, true), (.q8_0, true), (.q4_0, true), (.q5_0, true), (.q5_1, true),
                               (.iq4_nl, true), (.q4_K, true), (.q5_K, true), (.q6_K, true), (.q4_1, false),
                               (.q8_0, false), (.f16, false), (.bf16, false), (.f32, false)] {
            let columns = type.blockElements == 256 ? 512 : 128
            let bytes = randomMatrix(type, rows: rows, columns: columns, seed: 7)
            try bytes.withUnsafeBytes { raw in
                let view = WeightView(name: "w", type: type, dimensions: [columns, rows], data: raw.baseAddress!, byteCount: raw.count)
                let file = try WeightMatrix(view, rows: rows, columns: columns)
                let w = packed ? Interleaved8.pack(file, pool: ThreadPool(threads: 1)) : file
                for n in [2, 3, 5, MatMul.smallBatch] {
                    let x = (0..<(n * columns)).map { Float(($0 * 7919 + n) % 2003) / 1001.5 - 1 }
                    let stride = MatMul.preparedInputCount(columns: columns)
                    var prepared = [Float](repeating: 0, count: n * stride)
                    var scratch = [Float](repeating: 0, count: MatMul.scratchCount(columns: columns))
                    var batched = [Float](repeating: .nan, count: n * rows), alone = batched
                    x.withUnsafeBufferPointer { xp in
                        prepared.withUnsafeMutableBufferPointer { p in
                            for t in 0..<n { MatMul.prepareQ4_1Input(xp.baseAddress! + t * columns, columns: columns, into: p.baseAddress! + t * stride) }
                        }
                        prepared.withUnsafeBufferPointer { p in
                            batched.withUnsafeMutableBufferPointer { y in
                                for range in [0..<16, 16..<48] {
                                    MatMul.multiply(w, xp.baseAddress!, n: n, y.baseAddress!, ldy: rows, rowRange: range,
                                                    scratch: &scratch, sums: p.baseAddress!)
                                }
                            }
                            alone.withUnsafeMutableBufferPointer { y in
                                for t in 0..<n {
                                    MatMul.multiply(w, xp.baseAddress! + t * columns, n: 1, y.baseAddress! + t * rows, ldy: rows,
                                                    rowRange: 0..<rows, scratch: &scratch, sums: p.baseAddress! + t * stride)
                                }
                            }
                        }
                    }
                    // From `gemmRows` rows on, AVX2 builds expand the weights once per call instead (next test).
                    guard !(MatMul.hasAVX2 && packed && n >= MatMul.gemmRows) else { continue }
                    XCTAssertEqual(batched.map(\.bitPattern), alone.map(\.bitPattern), "\(type) packed=\(packed) n=\(n)")
                }
            }
        }
    }

    /// A random matrix repacked into the interleaved-8 layout (the repacked matrix owns its bytes).
    private func randomInterleaved(_ type: WeightType, rows: Int, columns: Int, seed: UInt64) throws -> WeightMatrix {
        try randomMatrix(type, rows: rows, columns: columns, seed: seed).withUnsafeBytes { raw in
            let view = WeightView(name: "w", type: type, dimensions: [columns, rows], data: raw.baseAddress!, byteCount: raw.count)
            return Interleaved8.pack(try WeightMatrix(view, rows: rows, columns: columns), pool: ThreadPool(threads: 1))
        }
    }

    /// The expand-and-multiply kernels (AVX2, `gemmRows` rows and more) form each row's sums in one order whatever
    /// the batch: a row gets bitwise the same result among any other rows, in any position, in any number.
    func testExpandedProductRowsDoNotDependOnTheirBatch() throws {
        try XCTSkipUnless(MatMul.hasAVX2, "the expand-and-multiply kernels need AVX2")
        let rows = 48
        for type in [WeightType.q4_1, .q8_0, .q4_0, .q5_0, .q5_1, .q4_K, .q5_K, .q6_K] {
            let columns = type.blockElements == 256 ? 512 : 192
            let w = try randomInterleaved(type, rows: rows, columns: columns, seed: 11)
            do {
                let total = 70
                let x = (0..<(total * columns)).map { Float(($0 * 7919) % 2003) / 1001.5 - 1 }
                var scratch = [Float](repeating: 0, count: MatMul.scratchCount(columns: columns))
                func product(_ picked: [Int]) -> [Float] {
                    let input = picked.flatMap { x[($0 * columns)..<(($0 + 1) * columns)] }
                    var y = [Float](repeating: .nan, count: picked.count * rows)
                    MatMul.multiply(w, input, n: picked.count, &y, ldy: rows, rowRange: 0..<rows, scratch: &scratch, sums: nil)
                    return y
                }
                let all = product(Array(0..<total))
                // Nor on the weight rows computed with it: the kernel pairs 8-row groups, and a range of an odd
                // number of groups leaves one alone (threads split a matrix at any group boundary).
                let six = Array(all[0..<(6 * rows)])
                for ranges in [[0..<8, 8..<rows], [0..<24, 24..<rows], [0..<16, 16..<40, 40..<rows]] {
                    var y = [Float](repeating: .nan, count: 6 * rows)
                    for range in ranges {
                        MatMul.multiply(w, x, n: 6, &y, ldy: rows, rowRange: range, scratch: &scratch, sums: nil)
                    }
                    XCTAssertEqual(y.map(\.bitPattern), six.map(\.bitPattern), "\(type) rows split at \(ranges)")
                }
                // Nor on how far ahead the kernel fetches weights (none, the next pair, past the matrix's end).
                for ahead in [0, 1, 2, 4, 5, 1000] {
                    var y = [Float](repeating: .nan, count: 6 * rows)
                    for range in [0..<16, 16..<24, 24..<rows] {
                        MatMul.multiply(w, x, n: 6, &y, ldy: rows, rowRange: range, scratch: &scratch, sums: nil,
                                        aheadGroups: ahead)
                    }
                    XCTAssertEqual(y.map(\.bitPattern), six.map(\.bitPattern), "\(type) fetching \(ahead) groups ahead")
                }
                for t in [0, 5, 6, 7, 12, 69] {
                    for batch in [[t, 1, 2, 3], [40, 41, t, 42, 43, 44, 45], [t] + Array(50..<62)] {
                        let y = product(batch), at = batch.firstIndex(of: t)!
                        XCTAssertEqual(y[(at * rows)..<((at + 1) * rows)].map(\.bitPattern),
                                       all[(t * rows)..<((t + 1) * rows)].map(\.bitPattern), "\(type) row \(t) in \(batch)")
                    }
                }
            }
        }
    }

    /// `MODELHOST_NO_AVX512` set to anything but "" or "0" keeps the kernels on their AVX2 code (for benchmarks).
    func testTheEnvironmentCanKeepTheKernelsOnAVX2() {
        let saved = ProcessInfo.processInfo.environment["MODELHOST_NO_AVX512"]
        defer { if let saved { setenv("MODELHOST_NO_AVX512", saved, 1) } else { unsetenv("MODELHOST_NO_AVX512") } }
        unsetenv("MODELHOST_NO_AVX512")
        XCTAssertTrue(MatMul.avx512WantedByEnvironment)
        for (value, wanted) in [("", true), ("0", true), ("1", false), ("yes", false), ("00", false)] {
            setenv("MODELHOST_NO_AVX512", value, 1)
            XCTAssertEqual(MatMul.avx512WantedByEnvironment, wanted, "MODELHOST_NO_AVX512=\(value)")
        }
    }

    /// On a CPU with AVX-512 the expand-and-multiply kernels run 16-lane code (two groups per vector, 8-row blocks);
    /// every row's sums must be the AVX2 code's to the bit, for any number of rows and any split of the matrix.
    func testAVX512ProductsEqualAVX2Bitwise() throws {
        try XCTSkipUnless(MatMul.hasAVX2, "the expand-and-multiply kernels need AVX2")
        guard MatMul.useAVX512(true) else { throw XCTSkip("this CPU has no AVX-512") }
        defer { MatMul.useAVX512(true) }
        let rows = 56
        for type in [WeightType.q4_1, .q8_0, .q4_0, .q5_0, .q5_1, .q4_K, .q5_K, .q6_K] {
            let columns = type.blockElements == 256 ? 256 : 160
            let w = try randomInterleaved(type, rows: rows, columns: columns, seed: 17)
            do {
                var scratch = [Float](repeating: 0, count: MatMul.scratchCount(columns: columns))
                for n in [4, 5, 8, 9, 13, 64] {
                    let x = (0..<(n * columns)).map { Float(($0 * 7919) % 2003) / 1001.5 - 1 }
                    func product(avx512: Bool, ranges: [Range<Int>]) -> [UInt32] {
                        MatMul.useAVX512(avx512)
                        var y = [Float](repeating: .nan, count: n * rows)
                        for range in ranges {
                            MatMul.multiply(w, x, n: n, &y, ldy: rows, rowRange: range, scratch: &scratch, sums: nil)
                        }
                        return y.map(\.bitPattern)
                    }
                    let reference = product(avx512: false, ranges: [0..<rows])
                    for ranges in [[0..<rows], [0..<8, 8..<rows], [0..<24, 24..<48, 48..<rows]] {
                        XCTAssertEqual(product(avx512: true, ranges: ranges), reference, "\(type), \(n) rows, \(ranges)")
                    }
                }
            }
        }
    }

    /// Repacking reorders bytes only (and Q4_0's widening to Q4_1 keeps every value): every row expands to exactly
    /// the same floats.
    func testInterleavedRowsDequantizeIdentically() throws {
        for type in [WeightType.q4_1, .q8_0, .q4_0, .q5_0, .q5_1, .iq4_nl, .q4_K, .q5_K, .q6_K] {
            let rows = 16, columns = type.blockElements == 256 ? 512 : 64
            let bytes = randomMatrix(type, rows: rows, columns: columns, seed: 5)
            try bytes.withUnsafeBytes { raw in
                let view = WeightView(name: "w", type: type, dimensions: [columns, rows], data: raw.baseAddress!, byteCount: raw.count)
                let file = try WeightMatrix(view, rows: rows, columns: columns)
                // The file's rows first: packing releases the pages it copied, which the kernel zeroes in memory
                // that is not a file mapping (this test's).
                var fileRows = [[Float]](repeating: [Float](repeating: 0, count: columns), count: rows)
                for r in 0..<rows { file.dequantizeRow(r, into: &fileRows[r]) }
                let packed = Interleaved8.pack(file, pool: ThreadPool(threads: 1))
                var b = [Float](repeating: 1, count: columns)
                var group = [Float](repeating: 2, count: 8 * columns)
                // Q4_0 widened to Q4_1 computes d·q − 8d, which gives +0 where gguf-py's d·(q − 8) gives −0 (d < 0,
                // q = 8): the same value, and no product changes; every other weight is bit for bit the same.
                func bits(_ v: [Float]) -> [UInt32] { v.map { (type == .q4_0 ? $0 + 0 : $0).bitPattern } }
                for r in 0..<rows {
                    let a = fileRows[r]
                    packed.dequantizeRow(r, into: &b)
                    XCTAssertEqual(bits(a), bits(b), "\(type) row \(r)")
                    if r % 8 == 0 {
                        Interleaved8.dequantizeGroup(packed, r / 8, into: &group)
                        XCTAssertEqual(bits(Array(group[0..<columns])), bits(a), "\(type) group \(r / 8)")
                    }
                }
            }
        }
    }

    func testOtherTypesUseTheTiledPath() throws {
        // Q4_0 with a row count that does not fill 8-row groups stays in the file layout.
        try check(.q4_0, rows: 10, columns: 64, n: 1)
        try check(.q4_0, rows: 10, columns: 64, n: 3)
    }

    /// A Q4_0 scale whose -8·d would overflow f16 keeps the matrix in the Q4_0 file layout (still exact).
    func testQ4_0WithAHugeScaleIsNotWidened() throws {
        var bytes = randomMatrix(.q4_0, rows: 8, columns: 32, seed: 3)
        withUnsafeBytes(of: Float16(9000).bitPattern.littleEndian) { bytes[18 * 5] = $0[0]; bytes[18 * 5 + 1] = $0[1] }
        try bytes.withUnsafeBytes { raw in
            let view = WeightView(name: "w", type: .q4_0, dimensions: [32, 8], data: raw.baseAddress!, byteCount: raw.count)
            let packed = Interleaved8.pack(try WeightMatrix(view, rows: 8, columns: 32), pool: ThreadPool(threads: 1))
            XCTAssertEqual(packed.type, .q4_0)
            XCTAssertEqual(packed.layout, .rows)
        }
    }

    func testRejectsTruncatedMatrix() throws {
        let bytes = [UInt8](repeating: 0, count: 39)
        try bytes.withUnsafeBytes { raw in
            let view = WeightView(name: "w", type: .q4_1, dimensions: [64, 1], data: raw.baseAddress!, byteCount: raw.count)
            XCTAssertThrowsError(try WeightMatrix(view, rows: 1, columns: 64)) { error in
                XCTAssertEqual(error as? LlamaModelError, .truncatedTensor(tensor: "w", needed: 40, available: 39))
            }
        }
    }
}

final class ThreadPoolTests: XCTestCase {
    func testEveryChunkRunsExactlyOnce() {
        let pool = ThreadPool(threads: 3)
        for chunks in [1, 2, 7, 100] {
            let counts = UnsafeMutablePointer<Int>.allocate(capacity: chunks)
            counts.initialize(repeating: 0, count: chunks)
            for _ in 0..<50 { pool.run(chunks: chunks) { c, thread in
                precondition(thread < 3)
                counts[c] += 1
            } }
            XCTAssertEqual(Array(UnsafeBufferPointer(start: counts, count: chunks)), Array(repeating: 50, count: chunks))
            counts.deallocate()
        }
    }
}
