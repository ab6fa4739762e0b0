import LlamaKernelsC

/// Matrix products of a weight matrix with Float32 activations: `y[t][r] = Σ_k W[r][k] · x[t][k]`.
///
/// Two strategies, chosen by the number of activation rows `n`:
/// - `n == 1` (decode): memory bound, so weights are expanded in registers inside the dot product and never written
///   out: Q4_1 and Q8_0 (and the formats repacked at load into their kernels or kernels of their own: Q4_0, Q5_0,
///   Q5_1, IQ4_NL, Q4_K, Q5_K, Q6_K, see `Interleaved8`), F16, BF16 and F32 in the file's rows. For Q4_1 (value =
///   d·q + m) the sum per 32-block is d·Σq·x + m·Σx, with Σx computed once per input vector and shared by every row. Repacked matrices (`Interleaved8`) use 8-rows-per-vector kernels; file
///   layout matrices use a row-pair kernel.
/// - `n > 1` (prefill, batched decode): compute bound, so a tile of rows is expanded exactly to Float32 once and
///   multiplied against all activation rows: on AVX2 (AVX-512 where present, same bits) for interleaved Q4_1/Q8_0
///   by the C kernels (`gemmRows` rows and more; 2–3 rows take the two-row matrix-vector kernels), elsewhere with a
///   register-blocked 2-row × 4-token Swift kernel.
/// All arithmetic stays in Float32 (no 8-bit activations): accuracy is the point of this engine.
public enum MatMul {
    /// Whether the AVX2 C kernel may run (checked once); otherwise the portable Swift kernels are used.
    public static let hasAVX2 = llama_c_has_avx2() != 0

    /// Rows expanded per tile in the `n > 1` path; 8 (one interleaved group), a multiple of the micro-kernel's 2.
    public static let tileRows = 8

    /// Up to this many activation rows (a batched decode step, a short prompt) go through the matrix-vector kernels,
    /// two rows at a time where a two-vector kernel exists, instead of the Swift expand-and-multiply path, whose
    /// fixed cost of expanding every weight to Float32 dominates below about 64 rows (measured on 2 threads: a
    /// 50-token prompt 99 ms this way, 159 ms expanded). Each row's result is bitwise the one it would get alone.
    /// On AVX2, interleaved Q4_1/Q8_0 products of `gemmRows` rows or more take the C expand-and-multiply kernels.
    public static let smallBatch = 64

    /// From this many activation rows on, interleaved Q4_1 and Q8_0 products on AVX2 expand each 8-row weight group
    /// to Float32 once per call and multiply every row against it (`llama_c_*_interleaved_gemm`), instead of
    /// converting the weights again for every row or pair of rows. Measured on one core, L2-resident Q4_1 1536×576:
    /// 2 rows 16 vs 22 multiply-adds/ns for the two-row kernel (expanding does not pay yet), 4 rows 29 vs 26,
    /// 8 rows 24–30 vs 16–26, 400 rows 32–37 vs 22. In the whole model on 2 threads (`llama-bench --batch 8`,
    /// medians of 6 interleaved runs): a 50-token prompt 410 vs 288 tok/s, eight 50-token prompts together 492 vs
    /// 472, eight sequences decoding together unchanged (the weights stream from memory either way).
    /// Multiplying two expanded groups per pass (each broadcast activation feeds two multiply-adds) then gave, on one
    /// core (`llama-bench --kernels`, Q4_1 1536×576 / 576×1536 / Q8_0 head): 4 rows 20.7–20.9 vs 15.5–16.7
    /// multiply-adds/ns, 8 rows 26.6–27.8 vs 22.1–22.2, 64 rows 38.7–39.1 vs 29.3–35.1, head 8 rows 22.8 vs 17.3.
    /// Every row's sums are formed in one order whatever the number of rows, so at or above this size a row's
    /// result does not depend on the rows it is batched with.
    public static let gemmRows = 4

    /// Whether the expand-and-multiply kernels use their AVX-512 code where the CPU has it (the default); returns
    /// whether they do afterwards. Both paths give bitwise identical results: this is for the test that checks it
    /// and for measuring one against the other. Call between products, not during one.
    @discardableResult
    public static func useAVX512(_ enabled: Bool) -> Bool { llama_c_use_avx512(enabled ? 1 : 0) != 0 }

    /// Whether the environment leaves AVX-512 to the kernels (`MODELHOST_NO_AVX512` unset, "" or "0"), read now;
    /// the kernels read it once, before their first product.
    public static var avx512WantedByEnvironment: Bool { llama_c_avx512_wanted() != 0 }

    /// Floats of per-thread scratch that `multiply` needs for matrices of `columns` columns: two expanded 8-row
    /// groups (the C kernels multiply two at a time; the Swift path uses one).
    public static func scratchCount(columns: Int) -> Int { 2 * tileRows * columns }

    /// 2^-s for each column of a block, s its nibble's bit position in the interleaved Q4_1 words.
    public static let nibbleScale: [Float] = (0..<32).map {
        Float(sign: .plus, exponent: -(8 * ($0 % 4) + ($0 >= 16 ? 4 : 0)), significand: 1)
    }

    /// Floats of prepared input that the `n == 1` Q4_1 path needs: the block sums, then scaled activations.
    public static func preparedInputCount(columns: Int) -> Int { columns / 32 + columns }

    /// Prepares one activation vector for `n == 1` Q4_1 products; call once per vector, share across rows.
    /// Writes `sums[b]` = Σ x[32b ..< 32b + 32] for each block, then x[j] · 2^-s for each column, s being the bit
    /// position of column j's nibble in the interleaved layout's 32-bit words (8·(j % 4), + 4 for the block's upper
    /// half); power-of-two scaling is exact, and it lets the AVX2 kernel skip one shift per nibble.
    @inlinable
    public static func prepareQ4_1Input(_ x: UnsafePointer<Float>, columns: Int,
                                        into prepared: UnsafeMutablePointer<Float>) {
        let blocks = columns / 32
        let scaled = prepared + blocks
        let f = nibbleScale
        let f0 = SIMD8<Float>(f[0..<8]), f1 = SIMD8<Float>(f[8..<16]), f2 = SIMD8<Float>(f[16..<24]), f3 = SIMD8<Float>(f[24..<32])
        for b in 0..<blocks {
            let p = x + 32 * b, o = UnsafeMutableRawPointer(scaled + 32 * b)
            let v0 = load8(p), v1 = load8(p + 8), v2 = load8(p + 16), v3 = load8(p + 24)
            prepared[b] = ((v0 + v1) + (v2 + v3)).sum()
            o.storeBytes(of: v0 * f0, as: SIMD8<Float>.self)
            o.storeBytes(of: v1 * f1, toByteOffset: 32, as: SIMD8<Float>.self)
            o.storeBytes(of: v2 * f2, toByteOffset: 64, as: SIMD8<Float>.self)
            o.storeBytes(of: v3 * f3, toByteOffset: 96, as: SIMD8<Float>.self)
        }
    }

    /// Computes rows `rowRange` of `y` (`y[t * ldy + r]`) for activations `x` (`n` rows of `w.columns`, contiguous).
    /// `scratch` holds `scratchCount(columns:)` floats; `sums` (from `prepareQ4_1Input`) is required when `n == 1` and `w.type == .q4_1`.
    /// For `1 < n <= smallBatch`, `sums` (when given) holds the prepared input of every row, `preparedInputCount`
    /// floats apart, and each row takes the `n == 1` path.
    /// `aheadGroups`: in the expand-and-multiply path, the weights of the two 8-row groups that many groups after the
    /// pair being multiplied are fetched meanwhile; 2 (the next pair) when one thread walks the matrix,
    /// (chunk rows / 8) × threads when the threads take chunks in turn (each thread's next pair is then that far on).
    @inlinable
    public static func multiply(_ w: WeightMatrix, _ x: UnsafePointer<Float>, n: Int,
                                _ y: UnsafeMutablePointer<Float>, ldy: Int, rowRange: Range<Int>,
                                scratch: UnsafeMutablePointer<Float>, sums: UnsafePointer<Float>?,
                                aheadGroups: Int = 2) {
        let groupAligned = w.layout == .interleaved8 && rowRange.lowerBound % 8 == 0 && rowRange.upperBound % 8 == 0
        if n >= gemmRows && hasAVX2 && groupAligned, let product = CKernels.expandAndMultiply(w.type) {
            return product(w.data, 8 * w.rowBytes, w.columns / 32, x, n, y, ldy, scratch,
                           rowRange.lowerBound / 8, rowRange.upperBound / 8, w.rows / 8, aheadGroups)
        }
        if n > 1 && n <= smallBatch, let sums {
            let stride = preparedInputCount(columns: w.columns), columns = w.columns
            var t = 0
            if hasAVX2 && groupAligned, let product = CKernels.vector2(w.type) {
                while t + 1 < n {
                    product(
                        w.data, 8 * w.rowBytes, columns / 32,
                        x + t * columns, sums + t * stride, y + t * ldy,
                        x + (t + 1) * columns, sums + (t + 1) * stride, y + (t + 1) * ldy,
                        rowRange.lowerBound / 8, rowRange.upperBound / 8)
                    t += 2
                }
            } else if w.layout == .interleaved8 && w.type == .q8_0
                        && rowRange.lowerBound % 8 == 0 && rowRange.upperBound % 8 == 0 {
                let groups = (rowRange.lowerBound / 8)..<(rowRange.upperBound / 8)
                while t + 1 < n {
                    Interleaved8.q8_0Vector2(w, x + t * columns, y + t * ldy, x + (t + 1) * columns,
                                             y + (t + 1) * ldy, groups: groups)
                    t += 2
                }
            }
            while t < n {
                multiply(w, x + t * columns, n: 1, y + t * ldy, ldy: ldy, rowRange: rowRange, scratch: scratch,
                         sums: sums + t * stride)
                t += 1
            }
            return
        }
        if w.layout == .interleaved8 && rowRange.lowerBound % 8 == 0 && rowRange.upperBound % 8 == 0 {
            let groups = (rowRange.lowerBound / 8)..<(rowRange.upperBound / 8)
            if n == 1 && w.type == .q8_0 { return Interleaved8.q8_0Vector(w, x, y, groups: groups) }
            if n == 1 && w.type == .affine8, let sums { return Interleaved8.affine8Vector(w, x, sums, y, groups: groups) }
            if n == 1 && hasAVX2, let sums, let product = CKernels.vector(w.type) {
                return product(w.data, 8 * w.rowBytes, w.columns / 32, x, sums, y, groups.lowerBound, groups.upperBound)
            }
            if n == 1 && w.type == .q4_1, let sums { return Interleaved8.q4_1Vector(w, x, sums, y, groups: groups) }
            for g in groups {
                Interleaved8.dequantizeGroup(w, g, into: scratch)
                tile(scratch, rows: 8, columns: w.columns, x, n: n, y + 8 * g, ldy: ldy)
            }
            return
        }
        if n == 1 && w.layout == .rows {
            switch w.type {
            case .f16, .bf16, .f32:
                if hasAVX2 {
                    return llama_c_half_rows_matvec(w.data, w.rowBytes, w.columns, x, y, rowRange.lowerBound,
                                                    rowRange.upperBound, w.type == .f16 ? 0 : w.type == .bf16 ? 1 : 2)
                }
            case .q4_1:
                if let sums { return q4_1Vector(w, x, sums, y, rowRange) }
            case .q8_0:
                return q8_0Vector(w, x, y, rowRange)
            default:
                break
            }
        }
        var r0 = rowRange.lowerBound
        while r0 < rowRange.upperBound {
            let count = min(tileRows, rowRange.upperBound - r0)
            for i in 0..<count { w.dequantizeRow(r0 + i, into: scratch + i * w.columns) }
            tile(scratch, rows: count, columns: w.columns, x, n: n, y + r0, ldy: ldy)
            r0 += count
        }
    }

    /// The C kernels for interleaved matrices of each block type (nil: none; the Swift or row-wise paths run).
    @usableFromInline
    enum CKernels {
        @usableFromInline typealias Vector = @convention(c) (UnsafeRawPointer?, Int, Int, UnsafePointer<Float>?, UnsafePointer<Float>?,
                                           UnsafeMutablePointer<Float>?, Int, Int) -> Void
        @usableFromInline typealias Vector2 = @convention(c) (UnsafeRawPointer?, Int, Int, UnsafePointer<Float>?, UnsafePointer<Float>?,
                                            UnsafeMutablePointer<Float>?, UnsafePointer<Float>?, UnsafePointer<Float>?,
                                            UnsafeMutablePointer<Float>?, Int, Int) -> Void
        @usableFromInline typealias Product = @convention(c) (UnsafeRawPointer?, Int, Int, UnsafePointer<Float>?, Int,
                                            UnsafeMutablePointer<Float>?, Int, UnsafeMutablePointer<Float>?, Int, Int,
                                            Int, Int) -> Void

        /// One activation vector (decode).
        @usableFromInline
        static func vector(_ type: WeightType) -> Vector? {
            switch type {
            case .q4_1: return llama_c_q4_1_interleaved_matvec
            case .q4_K: return llama_c_q4_k_interleaved_matvec
            case .q5_K: return llama_c_q5_k_interleaved_matvec
            case .q6_K: return llama_c_q6_k_interleaved_matvec
            default: return nil
            }
        }

        /// Two activation vectors reading the weights once (a batched decode step), each bitwise as `vector`'s.
        @usableFromInline
        static func vector2(_ type: WeightType) -> Vector2? {
            switch type {
            case .q4_1: return llama_c_q4_1_interleaved_matvec2
            case .q4_K: return llama_c_q4_k_interleaved_matvec2
            case .q5_K: return llama_c_q5_k_interleaved_matvec2
            case .q6_K: return llama_c_q6_k_interleaved_matvec2
            default: return nil
            }
        }

        /// Expand-and-multiply for `gemmRows` rows and more (AVX2, AVX-512 where present).
        @usableFromInline
        static func expandAndMultiply(_ type: WeightType) -> Product? {
            switch type {
            case .q4_1: return llama_c_q4_1_interleaved_gemm
            case .q8_0: return llama_c_q8_0_interleaved_gemm
            case .affine8: return llama_c_affine8_interleaved_gemm
            case .q4_K: return llama_c_q4_k_interleaved_gemm
            case .q5_K: return llama_c_q5_k_interleaved_gemm
            case .q6_K: return llama_c_q6_k_interleaved_gemm
            default: return nil
            }
        }
    }

    @inlinable @inline(__always)
    static func load8(_ p: UnsafePointer<Float>) -> SIMD8<Float> {
        UnsafeRawPointer(p).loadUnaligned(as: SIMD8<Float>.self)
    }

    // Lane-by-lane conversions written out so that they always inline: the standard library's generic SIMD
    // conversion initialisers are sometimes left as out-of-line calls in large kernels, which costs 3-5×.
    // LLVM turns these loops into vpmovzxbd/vpmovsxbd + vcvtdq2ps.
    @inlinable @inline(__always)
    static func float8(_ v: SIMD8<UInt8>) -> SIMD8<Float> {
        var r = SIMD8<Float>()
        for i in 0..<8 { r[i] = Float(v[i]) }
        return r
    }

    @inlinable @inline(__always)
    static func float8(_ v: SIMD8<Int8>) -> SIMD8<Float> {
        var r = SIMD8<Float>()
        for i in 0..<8 { r[i] = Float(v[i]) }
        return r
    }

    @inlinable @inline(__always)
    static func half(_ p: UnsafeRawPointer, _ offset: Int) -> Float {
        Float(p.loadUnaligned(fromByteOffset: offset, as: Float16.self))
    }

    /// Σ q·x over one Q4_1 block (q the 32 unsigned nibbles at `p + 4`), as 8 partial sums.
    @inlinable @inline(__always)
    static func q4Block(_ p: UnsafeRawPointer, _ x0: SIMD8<Float>, _ x1: SIMD8<Float>, _ x2: SIMD8<Float>,
                        _ x3: SIMD8<Float>) -> SIMD8<Float> {
        let q = p.loadUnaligned(fromByteOffset: 4, as: SIMD16<UInt8>.self)
        let lo = q & 0x0F, hi = q &>> 4
        var s = float8(lo.lowHalf) * x0
        s = s.addingProduct(float8(lo.highHalf), x1)
        s = s.addingProduct(float8(hi.lowHalf), x2)
        return s.addingProduct(float8(hi.highHalf), x3)
    }

    @inlinable
    static func q4_1Vector(_ w: WeightMatrix, _ x: UnsafePointer<Float>, _ sums: UnsafePointer<Float>,
                           _ y: UnsafeMutablePointer<Float>, _ rows: Range<Int>) {
        let blocks = w.columns / 32, stride = w.rowBytes
        var r = rows.lowerBound
        while r + 1 < rows.upperBound {
            let p0 = w.data + r * stride, p1 = p0 + stride
            var a0 = SIMD8<Float>(), a1 = SIMD8<Float>()
            var m0: Float = 0, m1: Float = 0
            for b in 0..<blocks {
                let xb = x + 32 * b
                let x0 = load8(xb), x1 = load8(xb + 8), x2 = load8(xb + 16), x3 = load8(xb + 24)
                let s = sums[b]
                let b0 = p0 + 20 * b, b1 = p1 + 20 * b
                a0 = a0.addingProduct(SIMD8(repeating: half(b0, 0)), q4Block(b0, x0, x1, x2, x3))
                a1 = a1.addingProduct(SIMD8(repeating: half(b1, 0)), q4Block(b1, x0, x1, x2, x3))
                m0 = m0.addingProduct(half(b0, 2), s)
                m1 = m1.addingProduct(half(b1, 2), s)
            }
            y[r] = a0.sum() + m0
            y[r + 1] = a1.sum() + m1
            r += 2
        }
        if r < rows.upperBound {
            let p0 = w.data + r * stride
            var a0 = SIMD8<Float>()
            var m0: Float = 0
            for b in 0..<blocks {
                let xb = x + 32 * b
                let b0 = p0 + 20 * b
                a0 = a0.addingProduct(SIMD8(repeating: half(b0, 0)),
                                      q4Block(b0, load8(xb), load8(xb + 8), load8(xb + 16), load8(xb + 24)))
                m0 = m0.addingProduct(half(b0, 2), sums[b])
            }
            y[r] = a0.sum() + m0
        }
    }

    /// Σ q·x over one Q8_0 block (32 signed bytes at `p + 2`), as 8 partial sums.
    @inlinable @inline(__always)
    static func q8Block(_ p: UnsafeRawPointer, _ x0: SIMD8<Float>, _ x1: SIMD8<Float>, _ x2: SIMD8<Float>,
                        _ x3: SIMD8<Float>) -> SIMD8<Float> {
        var s = float8(p.loadUnaligned(fromByteOffset: 2, as: SIMD8<Int8>.self)) * x0
        s = s.addingProduct(float8(p.loadUnaligned(fromByteOffset: 10, as: SIMD8<Int8>.self)), x1)
        s = s.addingProduct(float8(p.loadUnaligned(fromByteOffset: 18, as: SIMD8<Int8>.self)), x2)
        return s.addingProduct(float8(p.loadUnaligned(fromByteOffset: 26, as: SIMD8<Int8>.self)), x3)
    }

    @inlinable
    static func q8_0Vector(_ w: WeightMatrix, _ x: UnsafePointer<Float>, _ y: UnsafeMutablePointer<Float>,
                           _ rows: Range<Int>) {
        let blocks = w.columns / 32, stride = w.rowBytes
        var r = rows.lowerBound
        while r + 1 < rows.upperBound {
            let p0 = w.data + r * stride, p1 = p0 + stride
            var a0 = SIMD8<Float>(), a1 = SIMD8<Float>()
            for b in 0..<blocks {
                let xb = x + 32 * b
                let x0 = load8(xb), x1 = load8(xb + 8), x2 = load8(xb + 16), x3 = load8(xb + 24)
                let b0 = p0 + 34 * b, b1 = p1 + 34 * b
                a0 = a0.addingProduct(SIMD8(repeating: half(b0, 0)), q8Block(b0, x0, x1, x2, x3))
                a1 = a1.addingProduct(SIMD8(repeating: half(b1, 0)), q8Block(b1, x0, x1, x2, x3))
            }
            y[r] = a0.sum()
            y[r + 1] = a1.sum()
            r += 2
        }
        if r < rows.upperBound {
            let p0 = w.data + r * stride
            var a0 = SIMD8<Float>()
            for b in 0..<blocks {
                let xb = x + 32 * b, b0 = p0 + 34 * b
                a0 = a0.addingProduct(SIMD8(repeating: half(b0, 0)),
                                      q8Block(b0, load8(xb), load8(xb + 8), load8(xb + 16), load8(xb + 24)))
            }
            y[r] = a0.sum()
        }
    }

    /// Multiplies `rows` expanded weight rows (`w`, contiguous, `columns` each) with `n` activation rows, writing
    /// `y[t * ldy + r]` for r in 0..<rows.
    @inlinable
    static func tile(_ w: UnsafePointer<Float>, rows: Int, columns: Int, _ x: UnsafePointer<Float>, n: Int,
                     _ y: UnsafeMutablePointer<Float>, ldy: Int) {
        var t = 0
        while t + 4 <= n {
            var r = 0
            while r + 2 <= rows {
                kernel2x4(w + r * columns, columns: columns, x + t * columns, y + t * ldy + r, ldy: ldy)
                r += 2
            }
            if r < rows {
                for tt in t..<(t + 4) { y[tt * ldy + r] = dot(w + r * columns, x + tt * columns, columns) }
            }
            t += 4
        }
        while t < n {
            for r in 0..<rows { y[t * ldy + r] = dot(w + r * columns, x + t * columns, columns) }
            t += 1
        }
    }

    /// 2 weight rows × 4 activation rows: 8 accumulators, 6 loads per 8 FMAs.
    @inlinable @inline(__always)
    static func kernel2x4(_ w: UnsafePointer<Float>, columns: Int, _ x: UnsafePointer<Float>,
                          _ y: UnsafeMutablePointer<Float>, ldy: Int) {
        let w1 = w + columns
        let xa = x, xb = x + columns, xc = x + 2 * columns, xd = x + 3 * columns
        var a0 = SIMD8<Float>(), a1 = SIMD8<Float>(), a2 = SIMD8<Float>(), a3 = SIMD8<Float>()
        var c0 = SIMD8<Float>(), c1 = SIMD8<Float>(), c2 = SIMD8<Float>(), c3 = SIMD8<Float>()
        var k = 0
        while k < columns {
            let u = load8(w + k), v = load8(w1 + k)
            let p = load8(xa + k), q = load8(xb + k), s = load8(xc + k), t = load8(xd + k)
            a0 = a0.addingProduct(u, p); c0 = c0.addingProduct(v, p)
            a1 = a1.addingProduct(u, q); c1 = c1.addingProduct(v, q)
            a2 = a2.addingProduct(u, s); c2 = c2.addingProduct(v, s)
            a3 = a3.addingProduct(u, t); c3 = c3.addingProduct(v, t)
            k += 8
        }
        y[0] = a0.sum(); y[1] = c0.sum()
        y[ldy] = a1.sum(); y[ldy + 1] = c1.sum()
        y[2 * ldy] = a2.sum(); y[2 * ldy + 1] = c2.sum()
        y[3 * ldy] = a3.sum(); y[3 * ldy + 1] = c3.sum()
    }

    /// Float32 dot product of `count` (a multiple of 8) elements with two independent accumulators.
    @inlinable
    public static func dot(_ a: UnsafePointer<Float>, _ b: UnsafePointer<Float>, _ count: Int) -> Float {
        var s0 = SIMD8<Float>(), s1 = SIMD8<Float>()
        var k = 0
        while k + 16 <= count {
            s0 = s0.addingProduct(load8(a + k), load8(b + k))
            s1 = s1.addingProduct(load8(a + k + 8), load8(b + k + 8))
            k += 16
        }
        if k < count { s0 = s0.addingProduct(load8(a + k), load8(b + k)) }
        return (s0 + s1).sum()
    }
}
