import LlamaKernelsC
#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// How a matrix's blocks are laid out in memory.
public enum WeightLayout: Sendable, Equatable {
    /// As in the file: each row's blocks one after another.
    case rows
    /// Groups of 8 rows, block by block, with the 8 rows' bytes interleaved so that one vector lane holds one row
    /// (see `Interleaved8`). Same byte count as `.rows`.
    case interleaved8
}

/// Heap memory holding a repacked matrix; freed with the last `WeightMatrix` that refers to it.
final class PackedStorage: @unchecked Sendable {
    let bytes: UnsafeMutableRawPointer
    let count: Int
    init(count: Int) {
        self.count = count
        bytes = .allocate(byteCount: max(count, 1), alignment: 64)
    }
    deinit { bytes.deallocate() }
}

/// The 8-row interleaved layout of Q4_1 and Q8_0 matrices, and the kernels that use it.
///
/// Why: in the file layout a matrix-vector product needs a horizontal sum per row and per-block scalar work for the
/// scales, and those, not memory, bounded decode speed. Interleaving 8 rows lets one SIMD8 lane accumulate one row:
/// each column's activation is broadcast once and multiplied into 8 rows, the 8 rows' scales convert with one
/// instruction, and the 8 results are stored without any horizontal reduction. Values are unchanged (same blocks,
/// same bytes, reordered), so dequantization stays bit-exact and all products stay in Float32.
///
/// Group g (rows 8g ..< 8g + 8), block b starts at `(g * 8 * rowBytes) + b * 8 * blockBytes`:
/// - Q4_1 (160 bytes): d[8] (f16), m[8] (f16), then 4 chunks of 32 bytes; lane r (4 bytes) of chunk c is the 32-bit
///   word c of row r's nibbles. Its byte t holds column 4c + t (low nibble) and 4c + t + 16 (high nibble), so the
///   kernel extracts a column for 8 rows with one shift and one mask on 32-bit lanes.
/// - Q8_0 (272 bytes): d[8] (f16), then 32 chunks of 8 bytes; byte r of chunk i is row r's value at column 32b + i.
/// - AFFINE8 (288 bytes): d[8], m[8] (f16), then 32 chunks of 8 unsigned bytes laid out as for Q8_0.
/// - Q4_K, per super-block of 256 columns (1184 bytes, 148 per row against the file's 144): d[8] and −dmin[8] (f16),
///   the 8 sub-blocks' 6-bit scales unpacked to bytes, `scale[j][r]` (64 bytes), then their mins likewise (64),
///   then per sub-block of 32 columns the 128 bytes of a Q4_1 block's nibble chunks. So the Q4_1 kernels run it,
///   with sub-block j's d·q + m formed from d·scale[j] and −dmin·min[j] (`packQ4_K`).
/// - Q6_K, per super-block (2192 bytes, 274 per row against 210): d[8] (f16), the 16 sub-blocks' scales
///   `scale[j][r]` (signed bytes, 128), then 256 chunks of 8 signed bytes q − 32, laid out as Q8_0's (`packK8`).
/// - Q5_K, per super-block (2208 bytes, 276 per row against 176): d[8] and −dmin[8] (f16), scale[8][8] and
///   min[8][8] unpacked as for Q4_K, then 256 chunks of 8 unsigned bytes q (`packK8`).
public enum Interleaved8 {
    /// Whether `matrix` can be repacked (type and row count). Q4_0 is repacked as Q4_1 (see `widenQ4_0`).
    public static func supports(_ matrix: WeightMatrix) -> Bool {
        (matrix.type == .q4_1 || matrix.type == .q8_0 || matrix.type == .affine8 || matrix.type == .q4_0
            || matrix.type == .q5_0 || matrix.type == .q5_1 || matrix.type == .iq4_nl || matrix.type == .q4_K
            || matrix.type == .q5_K || matrix.type == .q6_K)
            && matrix.rows % 8 == 0
            && matrix.layout == .rows
    }

    /// A Q4_0 matrix rewritten as Q4_1 with the same values, so that it runs the Q4_1 kernels: a Q4_0 block holds
    /// d and 32 nibbles q with value d·(q − 8); the Q4_1 block gets the same d and nibbles and m = −8·d. Multiplying
    /// an f16 by 8 is exact (a change of exponent), and d·q − 8d equals d·(q − 8) exactly in Float32 (both products
    /// need at most 15 significant bits), so every weight dequantizes to gguf-py's Q4_0 value (bit for bit, except
    /// that a zero weight is +0 where d·(q − 8) gives −0 for d < 0: no product changes). Costs 2 bytes per 32
    /// weights (20 instead of 18). Nil when some −8·d overflows f16 (|d| > 8188; no real file).
    static func widenQ4_0(_ matrix: WeightMatrix, pool: ThreadPool) -> WeightMatrix? {
        guard matrix.type == .q4_0, matrix.layout == .rows else { return nil }
        let blocks = matrix.columns / 32
        let rowBytes = blocks * WeightType.q4_1.blockBytes
        let source = matrix.data, sourceRowBytes = matrix.rowBytes
        for block in 0..<(matrix.rows * blocks) {
            let d = source.loadUnaligned(fromByteOffset: (block / blocks) * sourceRowBytes + (block % blocks) * 18,
                                         as: Float16.self)
            if d.isFinite && !(8 * Float(d)).magnitude.isLess(than: 65520) { return nil }
        }
        let storage = PackedStorage(count: matrix.rows * rowBytes)
        let destination = storage.bytes
        pool.run(chunks: (matrix.rows + 63) / 64) { chunk, _ in
            for row in (chunk * 64)..<min(matrix.rows, chunk * 64 + 64) {
                for b in 0..<blocks {
                    let from = source + row * sourceRowBytes + b * 18, to = destination + row * rowBytes + b * 20
                    let d = from.loadUnaligned(as: Float16.self)
                    to.storeBytes(of: d, as: Float16.self)
                    to.storeBytes(of: Float16(-8 * Float(d)), toByteOffset: 2, as: Float16.self)
                    (to + 4).copyMemory(from: from + 2, byteCount: 16)
                }
            }
        }
        return WeightMatrix(widened: matrix, type: .q4_1, rowBytes: rowBytes, storage: storage)
    }

    /// Where payload byte `j` (after the scales) of row `lane`'s block lands inside the group's block.
    @inlinable @inline(__always)
    static func payloadOffset(_ type: WeightType, _ j: Int, lane: Int) -> Int {
        switch type {
        case .q4_1: return 32 + 32 * (j / 4) + 4 * lane + j % 4
        case .affine8: return 32 + 8 * j + lane
        default: return 16 + 8 * j + lane
        }
    }

    /// A Q5_0 or Q5_1 matrix rewritten, with the same values bit for bit, in a block type the kernels run: Q5_0 (d,
    /// q in 0...31, value d·(q − 16)) becomes Q8_0 with the same d and the signed byte q − 16 (value d·q, the same
    /// product); Q5_1 (d, m, value d·q + m) becomes `affine8` with the same d and m and q as an unsigned byte. Costs
    /// 12 bytes per 32 weights (34 or 36 instead of 22 or 24): llama.cpp writes these types only for the few matrices
    /// whose rows are not a multiple of 256 (Q4_K_M, Q5_K_M), so speed and exactness win over memory here.
    static func widenQ5(_ matrix: WeightMatrix, pool: ThreadPool) -> WeightMatrix? {
        guard matrix.type == .q5_0 || matrix.type == .q5_1, matrix.layout == .rows else { return nil }
        let hasMin = matrix.type == .q5_1
        let target: WeightType = hasMin ? .affine8 : .q8_0
        let blocks = matrix.columns / 32
        let rowBytes = blocks * target.blockBytes, sourceBlockBytes = matrix.type.blockBytes
        let header = hasMin ? 4 : 2
        let storage = PackedStorage(count: matrix.rows * rowBytes)
        let source = matrix.data, destination = storage.bytes, sourceRowBytes = matrix.rowBytes
        pool.run(chunks: (matrix.rows + 63) / 64) { chunk, _ in
            for row in (chunk * 64)..<min(matrix.rows, chunk * 64 + 64) {
                for b in 0..<blocks {
                    let from = source + row * sourceRowBytes + b * sourceBlockBytes
                    let to = destination + row * rowBytes + b * target.blockBytes
                    (to).copyMemory(from: from, byteCount: header)   // d (and m)
                    let qh = from.loadUnaligned(fromByteOffset: header, as: UInt32.self)
                    let qs = from + header + 4
                    for j in 0..<32 {
                        let q = Dequantize.q5Values(qh, qs, j)
                        to.storeBytes(of: hasMin ? q : UInt8(bitPattern: Int8(Int(q) - 16)), toByteOffset: header + j,
                                      as: UInt8.self)
                    }
                }
            }
        }
        return WeightMatrix(widened: matrix, type: target, rowBytes: rowBytes, storage: storage)
    }

    /// An IQ4_NL matrix rewritten as Q8_0 with the same values bit for bit: an IQ4_NL block holds d and 32 nibbles
    /// q with value d·table[q] (`Dequantize.iq4nlValues`, signed bytes); the Q8_0 block gets the same d and the
    /// signed byte table[q], whose value d·table[q] is the same single Float32 product. Costs 16 bytes per 32
    /// weights (34 instead of 18): llama.cpp writes IQ4_NL for the matrices whose rows are not a multiple of 256 in
    /// some K-quant files and for all of them in IQ4_NL files; the Q8_0 kernels then run them at Q8_0's speed.
    static func widenIQ4_NL(_ matrix: WeightMatrix, pool: ThreadPool) -> WeightMatrix? {
        guard matrix.type == .iq4_nl, matrix.layout == .rows else { return nil }
        let blocks = matrix.columns / 32
        let rowBytes = blocks * WeightType.q8_0.blockBytes
        let storage = PackedStorage(count: matrix.rows * rowBytes)
        let source = matrix.data, destination = storage.bytes, sourceRowBytes = matrix.rowBytes
        let table = Dequantize.iq4nlValues
        pool.run(chunks: (matrix.rows + 63) / 64) { chunk, _ in
            table.withUnsafeBufferPointer { levels in
                for row in (chunk * 64)..<min(matrix.rows, chunk * 64 + 64) {
                    for b in 0..<blocks {
                        let from = source + row * sourceRowBytes + b * 18, to = destination + row * rowBytes + b * 34
                        to.copyMemory(from: from, byteCount: 2)   // d
                        for i in 0..<16 {
                            let byte = from.load(fromByteOffset: 2 + i, as: UInt8.self)
                            to.storeBytes(of: levels[Int(byte & 0x0F)], toByteOffset: 2 + i, as: Int8.self)
                            to.storeBytes(of: levels[Int(byte >> 4)], toByteOffset: 18 + i, as: Int8.self)
                        }
                    }
                }
            }
        }
        return WeightMatrix(widened: matrix, type: .q8_0, rowBytes: rowBytes, storage: storage)
    }

    /// Bytes of one Q4_K super-block's 8 rows in the interleaved layout.
    public static let q4_KGroupBytes = Int(LLAMA_Q4K_GROUP_BYTES)

    /// A Q4_K matrix in the interleaved layout above. Values stay gguf-py's bit for bit: the file's block holds d,
    /// dmin (f16), eight 6-bit scales and mins packed in 12 bytes, and 4-bit q with value (d·scale)·q − dmin·min;
    /// here d·scale and (−dmin)·min are formed at run time as the same single Float32 products (negating an f16 is
    /// exact), and (d·scale)·q is exact (at most 21 significant bits), so d·q + m rounds once where gguf-py rounds
    /// (d·scale)·q exactly and the subtraction once: the same value. The nibbles of sub-block j (the low or high
    /// halves of a 32-byte run in the file) are regrouped as a Q4_1 block's: byte t of the block's 16 holds columns
    /// t and t + 16. Why not Q4_1 with Float32 scales: 24 bytes per 32 weights instead of 18.5.
    static func packQ4_K(_ matrix: WeightMatrix, pool: ThreadPool) -> WeightMatrix {
        packSuperBlocks(matrix, groupBytes: q4_KGroupBytes, pool: pool) { out, block, r in
            storeKScales(block, into: out, row: r)
            for j in 0..<8 {
                let q = block + 16 + (j / 2) * 32, shift: UInt8 = j % 2 == 0 ? 0 : 4
                for t in 0..<16 {
                    let low = (q.load(fromByteOffset: t, as: UInt8.self) >> shift) & 0x0F
                    let high = (q.load(fromByteOffset: t + 16, as: UInt8.self) >> shift) & 0x0F
                    out.storeBytes(of: low | high << 4, toByteOffset: 160 + 128 * j + 32 * (t / 4) + 4 * r + t % 4,
                                   as: UInt8.self)
                }
            }
        }
    }

    /// Bytes of one Q6_K and one Q5_K super-block's 8 rows in the interleaved layout.
    public static let q6_KGroupBytes = Int(LLAMA_Q6K_GROUP_BYTES), q5_KGroupBytes = Int(LLAMA_Q5K_GROUP_BYTES)

    /// A Q6_K or Q5_K matrix in the interleaved layout above, one byte per weight. Values stay gguf-py's bit for
    /// bit: Q6_K's (d·scale)·q is formed from the same d, scale and q (q − 32 as a signed byte); Q5_K's as Q4_K's
    /// (`packQ4_K`), with the fifth bit joined to the nibble. Why bytes: the file spreads a weight over two or three
    /// bit planes, which cost more to take apart in every product than the extra bytes cost to read (Q6_K 34.25
    /// bytes per 32 weights here against 26.25, Q5_K 34.5 against 22); llama.cpp writes Q6_K for a few matrices of
    /// a Q4_K_M or Q5_K_M file and Q5_K for most of a Q5_K_M one.
    static func packK8(_ matrix: WeightMatrix, pool: ThreadPool) -> WeightMatrix {
        let q5 = matrix.type == .q5_K, payload = q5 ? 160 : 144
        return packSuperBlocks(matrix, groupBytes: q5 ? q5_KGroupBytes : q6_KGroupBytes, pool: pool) { out, p, r in
            if q5 {
                storeKScales(p, into: out, row: r)
                for j in 0..<8 {
                    let shift: UInt8 = j % 2 == 0 ? 0 : 4
                    for i in 0..<32 {
                        let low = (p.load(fromByteOffset: 48 + (j / 2) * 32 + i, as: UInt8.self) >> shift) & 0x0F
                        let high = (p.load(fromByteOffset: 16 + i, as: UInt8.self) >> UInt8(j)) & 1
                        out.storeBytes(of: low | high << 4, toByteOffset: payload + 8 * (32 * j + i) + r, as: UInt8.self)
                    }
                }
            } else {
                out.storeBytes(of: p.loadUnaligned(fromByteOffset: 208, as: UInt16.self), toByteOffset: 2 * r,
                               as: UInt16.self)
                for j in 0..<16 {
                    out.storeBytes(of: p.load(fromByteOffset: 192 + j, as: UInt8.self), toByteOffset: 16 + 8 * j + r,
                                   as: UInt8.self)
                }
                for e in 0..<256 {
                    let h = e / 128, k = e % 128
                    let lowByte = p.load(fromByteOffset: 64 * h + k % 64, as: UInt8.self)
                    let low = (k >= 64 ? lowByte >> 4 : lowByte) & 0x0F
                    let high = (p.load(fromByteOffset: 128 + 32 * h + k % 32, as: UInt8.self) >> UInt8(2 * (k / 32))) & 0x03
                    out.storeBytes(of: Int8(Int(low | high << 4) - 32), toByteOffset: payload + 8 * e + r, as: Int8.self)
                }
            }
        }
    }

    /// Row r's d, −dmin (f16) and 8 unpacked scales and mins of a Q4_K/Q5_K file block, at their places in the
    /// group's super-block (bytes 2r, 16 + 2r, 32 + 8j + r, 96 + 8j + r).
    static func storeKScales(_ block: UnsafeRawPointer, into out: UnsafeMutableRawPointer, row r: Int) {
        out.storeBytes(of: block.loadUnaligned(as: UInt16.self), toByteOffset: 2 * r, as: UInt16.self)
        out.storeBytes(of: block.loadUnaligned(fromByteOffset: 2, as: UInt16.self) ^ 0x8000, toByteOffset: 16 + 2 * r,
                       as: UInt16.self)
        for j in 0..<8 {
            let (scale, minimum) = Dequantize.kScaleMin(block + 4, j)
            out.storeBytes(of: scale, toByteOffset: 32 + 8 * j + r, as: UInt8.self)
            out.storeBytes(of: minimum, toByteOffset: 96 + 8 * j + r, as: UInt8.self)
        }
    }

    /// The walk the K-quant repackings share: for each 8-row group and super-block of 256 columns, `fill(out, block,
    /// r)` writes row r's file block `block` into the group's `groupBytes` at `out`; in parallel on `pool`. The file's
    /// pages are released afterwards.
    static func packSuperBlocks(_ matrix: WeightMatrix, groupBytes: Int, pool: ThreadPool,
                                fill: (UnsafeMutableRawPointer, UnsafeRawPointer, Int) -> Void) -> WeightMatrix {
        let supers = matrix.columns / 256, groups = matrix.rows / 8
        let rowBytes = supers * (groupBytes / 8), sourceRowBytes = matrix.rowBytes, blockBytes = matrix.type.blockBytes
        let storage = PackedStorage(count: matrix.rows * rowBytes)
        let source = matrix.data, destination = storage.bytes
        pool.run(chunks: (groups + 15) / 16) { chunk, _ in
            for g in (chunk * 16)..<min(groups, chunk * 16 + 16) {
                for s in 0..<supers {
                    for r in 0..<8 {
                        fill(destination + g * 8 * rowBytes + s * groupBytes,
                             source + (8 * g + r) * sourceRowBytes + s * blockBytes, r)
                    }
                }
            }
        }
        releaseFilePages(of: matrix)
        return WeightMatrix(matrix, layout: .interleaved8, storage: storage, rowBytes: rowBytes)
    }

    /// A repacked copy of `matrix` (or `matrix` itself when unsupported), built in parallel on `pool`.
    public static func pack(_ matrix: WeightMatrix, pool: ThreadPool) -> WeightMatrix {
        guard supports(matrix) else { return matrix }
        if matrix.type == .q4_K { return packQ4_K(matrix, pool: pool) }
        if matrix.type == .q5_K || matrix.type == .q6_K { return packK8(matrix, pool: pool) }
        if matrix.type == .q4_0 || matrix.type == .q5_0 || matrix.type == .q5_1 || matrix.type == .iq4_nl {
            let widened = matrix.type == .q4_0 ? widenQ4_0(matrix, pool: pool)
                : matrix.type == .iq4_nl ? widenIQ4_NL(matrix, pool: pool) : widenQ5(matrix, pool: pool)
            guard let widened else { return matrix }
            releaseFilePages(of: matrix)
            return pack(widened, pool: pool)
        }
        let storage = PackedStorage(count: matrix.rows * matrix.rowBytes)
        let type = matrix.type, groups = matrix.rows / 8, blocks = matrix.columns / 32
        let blockBytes = type.blockBytes, rowBytes = matrix.rowBytes
        let source = matrix.data, destination = storage.bytes
        let scales = type == .q8_0 ? 1 : 2 // f16 fields at the start of a block
        let payload = blockBytes - 2 * scales
        // Whole words where the layout allows (load time is mostly this copy): Q4_1 moves each row's four 32-bit
        // words of nibbles as they are; Q8_0/AFFINE8 gather byte j of the 8 rows into one 64-bit word.
        pool.run(chunks: (groups + 15) / 16) { chunk, _ in
            for g in (chunk * 16)..<min(groups, chunk * 16 + 16) {
                let groupIn = source + g * 8 * rowBytes, groupOut = destination + g * 8 * rowBytes
                for b in 0..<blocks {
                    let out = groupOut + b * 8 * blockBytes
                    for r in 0..<8 {
                        let block = groupIn + r * rowBytes + b * blockBytes
                        for f in 0..<scales {
                            out.storeBytes(of: block.loadUnaligned(fromByteOffset: 2 * f, as: UInt16.self),
                                           toByteOffset: 16 * f + 2 * r, as: UInt16.self)
                        }
                        if type == .q4_1 {
                            for c in 0..<4 {
                                out.storeBytes(of: block.loadUnaligned(fromByteOffset: 4 + 4 * c, as: UInt32.self),
                                               toByteOffset: payloadOffset(type, 4 * c, lane: r), as: UInt32.self)
                            }
                        }
                    }
                    if type != .q4_1 {
                        let first = groupIn + b * blockBytes + 2 * scales
                        @inline(__always) func byte(_ r: Int, _ j: Int) -> UInt64 {
                            UInt64(first.load(fromByteOffset: r * rowBytes + j, as: UInt8.self)) &<< UInt64(8 * r)
                        }
                        for j in 0..<payload {
                            let word = (byte(0, j) | byte(1, j) | byte(2, j) | byte(3, j))
                                | (byte(4, j) | byte(5, j) | byte(6, j) | byte(7, j))
                            out.storeBytes(of: word.littleEndian, toByteOffset: payloadOffset(type, j, lane: 0),
                                           as: UInt64.self)
                        }
                    }
                }
            }
        }
        releaseFilePages(of: matrix)
        return WeightMatrix(matrix, layout: .interleaved8, storage: storage)
    }

    /// `releaseResidentPages` for a matrix read in place from the model file; nothing for bytes a source or a
    /// widening built in memory (dropping those pages would zero them, not return them to the page cache).
    static func releaseFilePages(of matrix: WeightMatrix) {
        guard matrix.storage == nil, matrix.owner == nil, matrix.layout == .rows else { return }
        releaseResidentPages(matrix.data, byteCount: matrix.rows * matrix.rowBytes)
    }

    /// Tells the kernel that this process no longer needs the file pages it just copied, so the repacked copy does
    /// not double the resident size. The mapping stays valid: a later read simply faults the pages back in from the
    /// page cache. Only whole pages strictly inside the range are released.
    static func releaseResidentPages(_ start: UnsafeRawPointer, byteCount: Int) {
        let page = Int(sysconf(Int32(_SC_PAGESIZE)))
        guard page > 0 else { return }
        let begin = (Int(bitPattern: start) + page - 1) / page * page
        let end = (Int(bitPattern: start) + byteCount) / page * page
        guard end > begin, let pointer = UnsafeMutableRawPointer(bitPattern: begin) else { return }
        _ = madvise(pointer, end - begin, Int32(MADV_DONTNEED))
    }

    @inlinable @inline(__always)
    static func halves8(_ p: UnsafeRawPointer) -> SIMD8<Float> {
        SIMD8<Float>(p.loadUnaligned(as: SIMD8<Float16>.self))
    }

    @inlinable @inline(__always)
    static func splat(_ p: UnsafePointer<Float>, _ i: Int) -> SIMD8<Float> { SIMD8<Float>(repeating: p[i]) }

    /// The 4-bit field at bit `shift` of each lane, as an exact float: the field is placed in the mantissa of 2²³
    /// and 2²³ subtracted, which avoids the standard library's generic integer-to-float conversion.
    @inlinable @inline(__always)
    static func nibble(_ v: SIMD8<UInt32>, _ shift: UInt32) -> SIMD8<Float> {
        let bits = ((v &>> SIMD8<UInt32>(repeating: shift)) & SIMD8<UInt32>(repeating: 0x0F))
            | SIMD8<UInt32>(repeating: 0x4B00_0000)
        return unsafeBitCast(bits, to: SIMD8<Float>.self) - SIMD8<Float>(repeating: 8_388_608)
    }

    /// Row `row` expanded exactly (d·q + m for Q4_1, q·d for Q8_0, as gguf-py).
    @inlinable
    static func dequantizeRow(_ w: WeightMatrix, _ row: Int, into out: UnsafeMutablePointer<Float>) {
        let lane = row % 8, group = w.data + (row / 8) * 8 * w.rowBytes
        if w.type == .q4_K {
            for b in 0..<(w.columns / 32) {
                let s = group + (b / 8) * q4_KGroupBytes, j = b % 8
                let d = Float(s.loadUnaligned(fromByteOffset: 2 * lane, as: Float16.self))
                    * Float(s.load(fromByteOffset: 32 + 8 * j + lane, as: UInt8.self))
                let m = Float(s.loadUnaligned(fromByteOffset: 16 + 2 * lane, as: Float16.self))
                    * Float(s.load(fromByteOffset: 96 + 8 * j + lane, as: UInt8.self))
                let o = out + 32 * b
                for t in 0..<16 {
                    let byte = s.load(fromByteOffset: 160 + 128 * j + 32 * (t / 4) + 4 * lane + t % 4, as: UInt8.self)
                    o[t] = d * Float(byte & 0x0F) + m
                    o[t + 16] = d * Float(byte >> 4) + m
                }
            }
            return
        }
        if w.type == .q6_K || w.type == .q5_K {
            let q5 = w.type == .q5_K, groupBytes = q5 ? q5_KGroupBytes : q6_KGroupBytes, payload = q5 ? 160 : 144
            for s in 0..<(w.columns / 256) {
                let p = group + s * groupBytes, o = out + 256 * s
                let d = Float(p.loadUnaligned(fromByteOffset: 2 * lane, as: Float16.self))
                if q5 {
                    let dmin = Float(p.loadUnaligned(fromByteOffset: 16 + 2 * lane, as: Float16.self))
                    for j in 0..<8 {
                        let scale = d * Float(p.load(fromByteOffset: 32 + 8 * j + lane, as: UInt8.self))
                        let m = dmin * Float(p.load(fromByteOffset: 96 + 8 * j + lane, as: UInt8.self))
                        for i in 0..<32 {
                            let q = p.load(fromByteOffset: payload + 8 * (32 * j + i) + lane, as: UInt8.self)
                            o[32 * j + i] = scale * Float(q) + m
                        }
                    }
                } else {
                    for e in 0..<256 {
                        let scale = d * Float(p.load(fromByteOffset: 16 + 8 * (e / 16) + lane, as: Int8.self))
                        o[e] = scale * Float(p.load(fromByteOffset: payload + 8 * e + lane, as: Int8.self))
                    }
                }
            }
            return
        }
        let type = w.type, blockBytes = type.blockBytes
        for b in 0..<(w.columns / 32) {
            let p = group + b * 8 * blockBytes
            let o = out + 32 * b
            let d = Float(p.loadUnaligned(fromByteOffset: 2 * lane, as: Float16.self))
            if type == .q4_1 {
                let m = Float(p.loadUnaligned(fromByteOffset: 16 + 2 * lane, as: Float16.self))
                for j in 0..<16 {
                    let byte = p.load(fromByteOffset: payloadOffset(type, j, lane: lane), as: UInt8.self)
                    o[j] = d * Float(byte & 0x0F) + m
                    o[j + 16] = d * Float(byte >> 4) + m
                }
            } else if type == .affine8 {
                let m = Float(p.loadUnaligned(fromByteOffset: 16 + 2 * lane, as: Float16.self))
                for i in 0..<32 {
                    o[i] = d * Float(p.load(fromByteOffset: payloadOffset(type, i, lane: lane), as: UInt8.self)) + m
                }
            } else {
                for i in 0..<32 {
                    o[i] = Float(p.load(fromByteOffset: payloadOffset(type, i, lane: lane), as: Int8.self)) * d
                }
            }
        }
    }

    /// The 8 rows of `group` expanded exactly into `out` (`[8][columns]`), for the matrix-matrix path.
    @inlinable
    public static func dequantizeGroup(_ w: WeightMatrix, _ group: Int, into out: UnsafeMutablePointer<Float>) {
        if w.type == .q4_K || w.type == .q5_K || w.type == .q6_K {   // only where the C kernels cannot run: by rows
            for r in 0..<8 { dequantizeRow(w, 8 * group + r, into: out + r * w.columns) }
            return
        }
        let base = w.data + group * 8 * w.rowBytes, columns = w.columns
        let blockBytes = w.type.blockBytes
        for b in 0..<(columns / 32) {
            let p = base + b * 8 * blockBytes
            let o = out + 32 * b
            let d = halves8(p)
            if w.type == .q4_1 {
                let m = halves8(p + 16)
                for c in 0..<4 {
                    let v = p.loadUnaligned(fromByteOffset: 32 + 32 * c, as: SIMD8<UInt32>.self)
                    for t in 0..<4 {
                        let lo = d * nibble(v, UInt32(8 * t)) + m
                        let hi = d * nibble(v, UInt32(8 * t + 4)) + m
                        for r in 0..<8 {
                            o[r * columns + 4 * c + t] = lo[r]
                            o[r * columns + 4 * c + t + 16] = hi[r]
                        }
                    }
                }
            } else if w.type == .affine8 {
                let m = halves8(p + 16)
                for i in 0..<32 {
                    let v = d * MatMul.float8(p.loadUnaligned(fromByteOffset: 32 + 8 * i, as: SIMD8<UInt8>.self)) + m
                    for r in 0..<8 { o[r * columns + i] = v[r] }
                }
            } else {
                for i in 0..<32 {
                    let q = MatMul.float8(p.loadUnaligned(fromByteOffset: 16 + 8 * i, as: SIMD8<Int8>.self)) * d
                    for r in 0..<8 { o[r * columns + i] = q[r] }
                }
            }
        }
    }

    /// One 32-byte chunk of an interleaved Q4_1 block: columns 4c ..< 4c + 4 and their +16 partners, 8 rows.
    @inlinable @inline(__always)
    static func q4Chunk(_ p: UnsafeRawPointer, _ xb: UnsafePointer<Float>, _ c: Int,
                        _ a0: inout SIMD8<Float>, _ a1: inout SIMD8<Float>) {
        let v = p.loadUnaligned(fromByteOffset: 32 + 32 * c, as: SIMD8<UInt32>.self)
        a0 = a0.addingProduct(nibble(v, 0), splat(xb, 4 * c))
        a1 = a1.addingProduct(nibble(v, 4), splat(xb, 4 * c + 16))
        a0 = a0.addingProduct(nibble(v, 8), splat(xb, 4 * c + 1))
        a1 = a1.addingProduct(nibble(v, 12), splat(xb, 4 * c + 17))
        a0 = a0.addingProduct(nibble(v, 16), splat(xb, 4 * c + 2))
        a1 = a1.addingProduct(nibble(v, 20), splat(xb, 4 * c + 18))
        a0 = a0.addingProduct(nibble(v, 24), splat(xb, 4 * c + 3))
        a1 = a1.addingProduct(nibble(v, 28), splat(xb, 4 * c + 19))
    }

    /// y[8g ..< 8g + 8] for the groups in `groups`: Q4_1 matrix times one activation vector. Per block and row the
    /// sum is d·Σq·x + m·Σx, with Σx per block (`sums`) shared by all rows. This is the portable kernel, used when
    /// the CPU lacks AVX2: the Swift compiler turns it into partly scalar code (about 10× slower than the C kernel
    /// `llama_c_q4_1_interleaved_matvec` that `MatMul.multiply` prefers), so it is correct but not fast.
    @inlinable
    public static func q4_1Vector(_ w: WeightMatrix, _ x: UnsafePointer<Float>, _ sums: UnsafePointer<Float>,
                           _ y: UnsafeMutablePointer<Float>, groups: Range<Int>) {
        let blocks = w.columns / 32, groupBytes = 8 * w.rowBytes
        for g in groups {
            let base = w.data + g * groupBytes
            var total = SIMD8<Float>(), minimum = SIMD8<Float>()
            for b in 0..<blocks {
                let p = base + b * 160
                let xb = x + 32 * b
                var a0 = SIMD8<Float>(), a1 = SIMD8<Float>(), a2 = SIMD8<Float>(), a3 = SIMD8<Float>()
                // Written out, not looped: four independent accumulator chains hide the FMA latency.
                q4Chunk(p, xb, 0, &a0, &a1)
                q4Chunk(p, xb, 1, &a2, &a3)
                q4Chunk(p, xb, 2, &a0, &a1)
                q4Chunk(p, xb, 3, &a2, &a3)
                total = total.addingProduct(halves8(p), (a0 + a1) + (a2 + a3))
                minimum = minimum.addingProduct(halves8(p + 16), SIMD8<Float>(repeating: sums[b]))
            }
            UnsafeMutableRawPointer(y + 8 * g).storeBytes(of: total + minimum, as: SIMD8<Float>.self)
        }
    }

    /// y[8g ..< 8g + 8] for the groups in `groups`: Q8_0 matrix times one activation vector.
    @inlinable
    public static func q8_0Vector(_ w: WeightMatrix, _ x: UnsafePointer<Float>, _ y: UnsafeMutablePointer<Float>,
                           groups: Range<Int>) {
        let blocks = w.columns / 32, groupBytes = 8 * w.rowBytes
        for g in groups {
            let base = w.data + g * groupBytes
            var total = SIMD8<Float>()
            for b in 0..<blocks {
                let p = base + b * 272, q = p + 16
                let xb = x + 32 * b
                var a0 = SIMD8<Float>(), a1 = SIMD8<Float>(), a2 = SIMD8<Float>(), a3 = SIMD8<Float>()
                var i = 0
                while i < 32 {
                    a0 = a0.addingProduct(MatMul.float8(q.loadUnaligned(fromByteOffset: 8 * i, as: SIMD8<Int8>.self)), splat(xb, i))
                    a1 = a1.addingProduct(MatMul.float8(q.loadUnaligned(fromByteOffset: 8 * i + 8, as: SIMD8<Int8>.self)), splat(xb, i + 1))
                    a2 = a2.addingProduct(MatMul.float8(q.loadUnaligned(fromByteOffset: 8 * i + 16, as: SIMD8<Int8>.self)), splat(xb, i + 2))
                    a3 = a3.addingProduct(MatMul.float8(q.loadUnaligned(fromByteOffset: 8 * i + 24, as: SIMD8<Int8>.self)), splat(xb, i + 3))
                    i += 4
                }
                total = total.addingProduct(halves8(p), (a0 + a1) + (a2 + a3))
            }
            UnsafeMutableRawPointer(y + 8 * g).storeBytes(of: total, as: SIMD8<Float>.self)
        }
    }

    /// `q8_0Vector` for two activation vectors, loading each weight vector once for both (batched decode through the
    /// Q8_0 output head); each output is bitwise what `q8_0Vector` gives for its vector alone.
    @inlinable
    public static func q8_0Vector2(_ w: WeightMatrix, _ x0: UnsafePointer<Float>, _ y0: UnsafeMutablePointer<Float>,
                                   _ x1: UnsafePointer<Float>, _ y1: UnsafeMutablePointer<Float>, groups: Range<Int>) {
        let blocks = w.columns / 32, groupBytes = 8 * w.rowBytes
        for g in groups {
            let base = w.data + g * groupBytes
            var total0 = SIMD8<Float>(), total1 = SIMD8<Float>()
            for b in 0..<blocks {
                let p = base + b * 272, q = p + 16
                let xb0 = x0 + 32 * b, xb1 = x1 + 32 * b
                var a0 = SIMD8<Float>(), a1 = SIMD8<Float>(), a2 = SIMD8<Float>(), a3 = SIMD8<Float>()
                var c0 = SIMD8<Float>(), c1 = SIMD8<Float>(), c2 = SIMD8<Float>(), c3 = SIMD8<Float>()
                var i = 0
                while i < 32 {
                    let w0 = MatMul.float8(q.loadUnaligned(fromByteOffset: 8 * i, as: SIMD8<Int8>.self))
                    let w1 = MatMul.float8(q.loadUnaligned(fromByteOffset: 8 * i + 8, as: SIMD8<Int8>.self))
                    let w2 = MatMul.float8(q.loadUnaligned(fromByteOffset: 8 * i + 16, as: SIMD8<Int8>.self))
                    let w3 = MatMul.float8(q.loadUnaligned(fromByteOffset: 8 * i + 24, as: SIMD8<Int8>.self))
                    a0 = a0.addingProduct(w0, splat(xb0, i))
                    a1 = a1.addingProduct(w1, splat(xb0, i + 1))
                    a2 = a2.addingProduct(w2, splat(xb0, i + 2))
                    a3 = a3.addingProduct(w3, splat(xb0, i + 3))
                    c0 = c0.addingProduct(w0, splat(xb1, i))
                    c1 = c1.addingProduct(w1, splat(xb1, i + 1))
                    c2 = c2.addingProduct(w2, splat(xb1, i + 2))
                    c3 = c3.addingProduct(w3, splat(xb1, i + 3))
                    i += 4
                }
                let d = halves8(p)
                total0 = total0.addingProduct(d, (a0 + a1) + (a2 + a3))
                total1 = total1.addingProduct(d, (c0 + c1) + (c2 + c3))
            }
            UnsafeMutableRawPointer(y0 + 8 * g).storeBytes(of: total0, as: SIMD8<Float>.self)
            UnsafeMutableRawPointer(y1 + 8 * g).storeBytes(of: total1, as: SIMD8<Float>.self)
        }
    }

    /// y[8g ..< 8g + 8] for the groups in `groups`: AFFINE8 matrix times one activation vector. As for Q4_1, each
    /// block contributes d·Σq·x + m·Σx, with Σx per block (`sums`, from `MatMul.prepareQ4_1Input`) shared by all rows.
    @inlinable
    public static func affine8Vector(_ w: WeightMatrix, _ x: UnsafePointer<Float>, _ sums: UnsafePointer<Float>,
                                     _ y: UnsafeMutablePointer<Float>, groups: Range<Int>) {
        let blocks = w.columns / 32, groupBytes = 8 * w.rowBytes
        for g in groups {
            let base = w.data + g * groupBytes
            var total = SIMD8<Float>(), minimum = SIMD8<Float>()
            for b in 0..<blocks {
                let p = base + b * 288, q = p + 32
                let xb = x + 32 * b
                var a0 = SIMD8<Float>(), a1 = SIMD8<Float>(), a2 = SIMD8<Float>(), a3 = SIMD8<Float>()
                var i = 0
                while i < 32 {
                    a0 = a0.addingProduct(MatMul.float8(q.loadUnaligned(fromByteOffset: 8 * i, as: SIMD8<UInt8>.self)), splat(xb, i))
                    a1 = a1.addingProduct(MatMul.float8(q.loadUnaligned(fromByteOffset: 8 * i + 8, as: SIMD8<UInt8>.self)), splat(xb, i + 1))
                    a2 = a2.addingProduct(MatMul.float8(q.loadUnaligned(fromByteOffset: 8 * i + 16, as: SIMD8<UInt8>.self)), splat(xb, i + 2))
                    a3 = a3.addingProduct(MatMul.float8(q.loadUnaligned(fromByteOffset: 8 * i + 24, as: SIMD8<UInt8>.self)), splat(xb, i + 3))
                    i += 4
                }
                total = total.addingProduct(halves8(p), (a0 + a1) + (a2 + a3))
                minimum = minimum.addingProduct(halves8(p + 16), SIMD8<Float>(repeating: sums[b]))
            }
            UnsafeMutableRawPointer(y + 8 * g).storeBytes(of: total + minimum, as: SIMD8<Float>.self)
        }
    }
}
