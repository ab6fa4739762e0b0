import LlamaKernelsC
#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// What one batch entry feeds into its sequence.
public enum LlamaInput {
    case tokens([Int32])
    /// Row-major `count × embedding` floats, used in place of token embeddings (for multimodal front ends).
    case embeddings([Float])
}

/// Which logits a batch entry wants back.
public enum LogitsRequest: Sendable {
    case none
    case last
    case all
}

/// One sequence's share of a `forward` call.
public struct LlamaBatchEntry {
    public let sequence: LlamaSequence
    public let input: LlamaInput
    public let logits: LogitsRequest

    public init(sequence: LlamaSequence, input: LlamaInput, logits: LogitsRequest) {
        self.sequence = sequence
        self.input = input
        self.logits = logits
    }
}

/// A Llama-family decoder (Llama 2/3, SmolLM2, Mistral, Qwen2) running on weights read in place.
///
/// All rows of a `forward` call (every token of every entry) go through the projections together, so prefill is
/// matrix-matrix work, a lone decode step is matrix-vector work, and concurrent sequences share each weight read.
/// Only attention looks at each sequence separately. `forward` is not re-entrant: call it from one thread at a time.
public final class LlamaModel {
    public let config: LlamaConfig
    let layers: [LlamaLayer]
    let embeddings: WeightMatrix
    let outputNorm: [Float]
    /// The output head; the token embedding matrix itself when the model ties them (no `output.weight`).
    let head: WeightMatrix
    /// Per-pair divisors of the RoPE frequencies (Llama 3.1 scaling, `rope_freqs.weight`); nil when absent.
    let ropeFactors: [Float]?
    public let pool: ThreadPool

    private let buffers = (0..<15).map { _ in ScratchBuffer() }

    public init(source: WeightSource, config: LlamaConfig, threads: Int) throws {
        self.config = config
        let embd = try source.required("token_embd.weight")
        let pool = ThreadPool(threads: threads)
        self.pool = pool
        let fileEmbeddings = try WeightMatrix(embd, rows: config.vocabulary, columns: config.embedding)
        if let output = try source.optional("output.weight") {
            let fileHead = try WeightMatrix(output, rows: config.vocabulary, columns: config.embedding)
            head = Interleaved8.pack(fileHead, pool: pool)
            embeddings = fileEmbeddings // only single rows are read: the file layout is fine
        } else {
            // Tied embeddings: the packed head also serves the embedding lookups.
            head = Interleaved8.pack(fileEmbeddings, pool: pool)
            embeddings = head
        }
        outputNorm = try loadVector(try source.required("output_norm.weight"), count: config.embedding)
        ropeFactors = try source.optional("rope_freqs.weight").map { try loadVector($0, count: config.headDimension / 2) }
        layers = try (0..<config.layers).map { try LlamaLayer(index: $0, config: config, source: source).packed(pool: pool) }
    }

    /// A new, empty sequence whose cache holds up to `capacity` positions (at most the model's context length).
    public func makeSequence(capacity: Int, cacheType: KVCacheType = .f32,
                             allocator: KVAllocator = .system) throws -> LlamaSequence {
        guard capacity > 0, capacity <= config.contextLength else {
            throw LlamaModelError.contextFull(capacity: config.contextLength, requested: capacity)
        }
        return try LlamaSequence(layers: config.layers, kvHeads: config.kvHeads, headDimension: config.headDimension,
                                 capacity: capacity, cacheType: cacheType, allocator: allocator)
    }

    /// One entry's rows inside the batch.
    private struct Span {
        let sequence: LlamaSequence
        let start: Int       // first row in the batch
        let count: Int       // rows
        let position: Int    // position of the first row in the sequence
    }

    /// Advances every entry's sequence by its input and returns, per entry, the requested logits (`vocabulary`
    /// floats per returned row: the last row, every row, or none). Validates the whole batch before touching any
    /// state, so a thrown error leaves all sequences unchanged.
    public func forward(_ batch: [LlamaBatchEntry]) throws -> [[Float]] {
        let c = config
        var spans: [Span] = []
        var total = 0
        for entry in batch {
            let rows: Int
            switch entry.input {
            case .tokens(let tokens):
                for t in tokens where t < 0 || Int(t) >= c.vocabulary {
                    throw LlamaModelError.tokenOutOfRange(token: t, vocabulary: c.vocabulary)
                }
                rows = tokens.count
            case .embeddings(let values):
                guard values.count % c.embedding == 0 else {
                    throw LlamaModelError.badEmbedding(expected: c.embedding, found: values.count)
                }
                rows = values.count / c.embedding
            }
            guard rows > 0 else { throw LlamaModelError.emptyInput }
            let seq = entry.sequence
            guard seq.layers == c.layers, seq.kvWidth == c.kvWidth,
                  !spans.contains(where: { $0.sequence === seq }) else {
                throw LlamaModelError.invalidValue(key: "batch", value: "a sequence of another model or listed twice")
            }
            guard seq.count + rows <= seq.capacity else {
                throw LlamaModelError.contextFull(capacity: seq.capacity, requested: seq.count + rows)
            }
            spans.append(Span(sequence: seq, start: total, count: rows, position: seq.count))
            total += rows
        }
        guard total > 0 else { return batch.map { _ in [] } }

        // Activations, row-major [rows][width].
        let x = buffers[0].reserve(total * c.embedding)
        for (entry, span) in zip(batch, spans) {
            switch entry.input {
            case .tokens(let tokens):
                for (i, t) in tokens.enumerated() {
                    embeddings.dequantizeRow(Int(t), into: x + (span.start + i) * c.embedding)
                }
            case .embeddings(let values):
                values.withUnsafeBufferPointer { (x + span.start * c.embedding).update(from: $0.baseAddress!, count: $0.count) }
            }
        }
        for span in spans { span.sequence.prepareKeyTiles(adding: span.count) }
        let rope = ropeTable(spans: spans, rows: total)
        for layer in 0..<c.layers {
            runLayer(layer, x: x, rows: total, spans: spans, rope: rope)
        }
        for span in spans { span.sequence.count += span.count }
        return outputLogits(batch: batch, spans: spans, x: x)
    }

    /// cos/sin of every row's rotation angles: `[rows][headDimension / 2]` each, computed in Double.
    private func ropeTable(spans: [Span], rows: Int) -> (cos: UnsafeMutablePointer<Float>, sin: UnsafeMutablePointer<Float>) {
        let half = config.headDimension / 2
        let cosines = buffers[10].reserve(rows * half), sines = buffers[11].reserve(rows * half)
        var inverse = [Double](repeating: 0, count: half)
        for i in 0..<half {
            inverse[i] = pow(config.ropeBase, -2 * Double(i) / Double(config.headDimension)) / config.ropeLinearScale
            if let f = ropeFactors { inverse[i] /= Double(f[i]) }
        }
        for span in spans {
            for r in 0..<span.count {
                let position = Double(span.position + r)
                let row = (span.start + r) * half
                for i in 0..<half {
                    let angle = position * inverse[i]
                    cosines[row + i] = Float(cos(angle))
                    sines[row + i] = Float(sin(angle))
                }
            }
        }
        return (cosines, sines)
    }

    /// Rotates one head vector in place.
    @inline(__always)
    private func rotate(_ v: UnsafeMutablePointer<Float>, _ cosines: UnsafePointer<Float>, _ sines: UnsafePointer<Float>) {
        let half = config.headDimension / 2
        switch config.ropeStyle {
        case .adjacentPairs:
            for i in 0..<half {
                let a = v[2 * i], b = v[2 * i + 1]
                v[2 * i] = a * cosines[i] - b * sines[i]
                v[2 * i + 1] = a * sines[i] + b * cosines[i]
            }
        case .halves:
            for i in 0..<half {
                let a = v[i], b = v[i + half]
                v[i] = a * cosines[i] - b * sines[i]
                v[i + half] = a * sines[i] + b * cosines[i]
            }
        }
    }

    /// A product `y = x · Wᵀ` to run inside a shared parallel region.
    private struct Product {
        let weights: WeightMatrix
        let input: UnsafePointer<Float>
        let sums: UnsafePointer<Float>?
        let output: UnsafeMutablePointer<Float>
    }

    /// Runs several products over the pool as one region; `after(product, rows)` runs in the same chunk right after
    /// rows `rows` of product `product` are written (for fused element-wise work on those rows). Chunks have
    /// `chunkRows(_:n:batched:)` rows.
    private func parallelProducts(_ products: [Product], rows n: Int, batchedChunkRows: Int = 16,
                                  after: ((Int, Range<Int>) -> Void)? = nil) {
        var chunks: [(product: Int, rows: Range<Int>)] = []
        var ahead: [Int] = []
        for (i, p) in products.enumerated() {
            let step = chunkRows(p.weights.rows, n: n, batched: batchedChunkRows)
            ahead.append(aheadGroups(step))
            var r = 0
            while r < p.weights.rows {
                let end = min(p.weights.rows, r + step)
                chunks.append((i, r..<end))
                r = end
            }
        }
        let maxColumns = products.map(\.weights.columns).max() ?? 0
        let scratchStride = MatMul.scratchCount(columns: maxColumns)
        let scratch = buffers[9].reserve(scratchStride * pool.threadCount)
        chunks.withUnsafeBufferPointer { list in
            pool.run(chunks: list.count) { chunk, thread in
                let (i, range) = list[chunk]
                let p = products[i]
                MatMul.multiply(p.weights, p.input, n: n, p.output, ldy: p.weights.rows, rowRange: range,
                                scratch: scratch + thread * scratchStride, sums: p.sums,
                                aheadGroups: ahead[i])
                after?(i, range)
            }
        }
    }

    /// How far ahead the expand-and-multiply kernels fetch weights in a region of `chunkRows`-row chunks: threads
    /// claim chunks in turn, so a thread's next chunk usually starts `threads` chunks after its current one.
    private func aheadGroups(_ chunkRows: Int) -> Int { chunkRows / 8 * pool.threadCount }

    /// Rows per parallel chunk of a `rows`-row product over `n` activation rows.
    ///
    /// One activation row (a lone sequence's decode step): two chunks per thread. A chunk costs more than its
    /// multiply-adds: claiming it is an atomic update of a cache line every thread writes, and its weight stream
    /// starts cold. Fixed 16- and 32-row chunks (~5,000 per token) cost SmolLM2-135M on 2 threads 30% of a decode
    /// step at 8 positions (176 tok/s; 249 with two chunks per thread) and 15% at 500 (128; 151, and 156 with one
    /// chunk per thread). Two rather than one let a thread take over a chunk when the other is descheduled.
    /// Several rows: `batched` rows (16 by default: two 8-row groups, which the expand-and-multiply kernels take
    /// as a pair), where each chunk carries enough work to amortise the claim and the balance matters more.
    private func chunkRows(_ rows: Int, n: Int, batched: Int = 16) -> Int {
        guard n == 1 else { return batched }
        let perChunk = (rows + 2 * pool.threadCount - 1) / (2 * pool.threadCount)
        return max(16, (perChunk + 15) / 16 * 16)
    }

    /// Prepared inputs (block sums, scaled copy) for the matrix-vector paths, one per row, when the rows are few
    /// enough to take them (a decode step: `MatMul.smallBatch`).
    private func sums(_ input: UnsafePointer<Float>, columns: Int, rows: Int, buffer: Int) -> UnsafePointer<Float>? {
        guard rows <= MatMul.smallBatch else { return nil }
        let stride = MatMul.preparedInputCount(columns: columns)
        let s = buffers[buffer].reserve(rows * stride)
        for r in 0..<rows { MatMul.prepareQ4_1Input(input + r * columns, columns: columns, into: s + r * stride) }
        return UnsafePointer(s)
    }

    private func runLayer(_ index: Int, x: UnsafeMutablePointer<Float>, rows n: Int, spans: [Span],
                          rope: (cos: UnsafeMutablePointer<Float>, sin: UnsafeMutablePointer<Float>)) {
        let c = config, L = layers[index]
        let dim = c.embedding, qw = c.queryWidth, kvw = c.kvWidth, hd = c.headDimension, ff = c.feedForward
        let h = buffers[1].reserve(n * dim)
        let q = buffers[2].reserve(n * qw)
        let k = buffers[3].reserve(n * kvw)
        let v = buffers[4].reserve(n * kvw)
        let attention = buffers[5].reserve(n * qw)
        let gate = buffers[6].reserve(n * ff)
        let up = buffers[7].reserve(n * ff)
        let residual = buffers[1].pointer // h is free again by the time a projection's output is added back

        // Attention block.
        L.attentionNorm.withUnsafeBufferPointer { w in
            for r in 0..<n { VectorOps.rmsNorm(x + r * dim, w.baseAddress!, count: dim, epsilon: c.rmsEpsilon, into: h + r * dim) }
        }
        let hs = sums(h, columns: dim, rows: n, buffer: 8)
        parallelProducts([Product(weights: L.query, input: h, sums: hs, output: q),
                          Product(weights: L.key, input: h, sums: hs, output: k),
                          Product(weights: L.value, input: h, sums: hs, output: v)],
                         rows: n)
        let half = hd / 2
        for span in spans {
            for r in 0..<span.count {
                let row = span.start + r
                if let b = L.queryBias { for i in 0..<qw { q[row * qw + i] += b[i] } }
                if let b = L.keyBias { for i in 0..<kvw { k[row * kvw + i] += b[i] } }
                if let b = L.valueBias { for i in 0..<kvw { v[row * kvw + i] += b[i] } }
                for head in 0..<c.heads { rotate(q + row * qw + head * hd, rope.cos + row * half, rope.sin + row * half) }
                for head in 0..<c.kvHeads { rotate(k + row * kvw + head * hd, rope.cos + row * half, rope.sin + row * half) }
                let position = span.position + r
                span.sequence.storeKey(index, position, k + row * kvw)
                span.sequence.storeValue(index, position, v + row * kvw)
            }
        }
        attend(layer: index, q: q, out: attention, spans: spans)
        let outputSums = sums(attention, columns: qw, rows: n, buffer: 8)
        parallelProducts([Product(weights: L.output, input: attention, sums: outputSums, output: residual)],
                         rows: n) { _, range in
            for t in 0..<n { for r in range { x[t * dim + r] += residual[t * dim + r] } }
        }

        // Feed-forward block (SwiGLU), with the activation fused into the gate/up region.
        L.ffnNorm.withUnsafeBufferPointer { w in
            for r in 0..<n { VectorOps.rmsNorm(x + r * dim, w.baseAddress!, count: dim, epsilon: c.rmsEpsilon, into: h + r * dim) }
        }
        let fs = sums(h, columns: dim, rows: n, buffer: 8)
        parallelGatedProducts(gate: L.gate, up: L.up, input: h, sums: fs, gateOut: gate, upOut: up, rows: n)
        let downSums = sums(gate, columns: ff, rows: n, buffer: 8)
        parallelProducts([Product(weights: L.down, input: gate, sums: downSums, output: residual)],
                         rows: n) { _, range in
            for t in 0..<n { for r in range { x[t * dim + r] += residual[t * dim + r] } }
        }
    }

    /// Gate and up projections in one region; each chunk computes the same row range of both and then applies
    /// SwiGLU to it, so no separate pass over the activations is needed.
    private func parallelGatedProducts(gate: WeightMatrix, up: WeightMatrix, input: UnsafePointer<Float>,
                                       sums: UnsafePointer<Float>?, gateOut: UnsafeMutablePointer<Float>,
                                       upOut: UnsafeMutablePointer<Float>, rows n: Int) {
        // Each chunk takes the same rows of both matrices (see `chunkRows` for how many).
        let ff = gate.rows, step = chunkRows(ff, n: n)
        let chunks = (ff + step - 1) / step
        let scratchStride = MatMul.scratchCount(columns: gate.columns)
        let scratch = buffers[9].reserve(scratchStride * pool.threadCount)
        let ahead = aheadGroups(step)
        pool.run(chunks: chunks) { chunk, thread in
            let range = (chunk * step)..<min(ff, chunk * step + step)
            let s = scratch + thread * scratchStride
            MatMul.multiply(gate, input, n: n, gateOut, ldy: ff, rowRange: range, scratch: s, sums: sums,
                            aheadGroups: ahead)
            MatMul.multiply(up, input, n: n, upOut, ldy: ff, rowRange: range, scratch: s, sums: sums,
                            aheadGroups: ahead)
            for t in 0..<n {
                VectorOps.swiGLU(gateOut + t * ff + range.lowerBound, upOut + t * ff + range.lowerBound,
                                 count: range.count)
            }
        }
    }

    /// Positions per attention block. Attention runs block by block (scores, exponentials, value sums) and a row
    /// combines its blocks by their maxima afterwards, so one row's attention can be spread over threads. A
    /// constant, so that a row's result depends neither on the batch nor on the thread count.
    static let attentionBlock = 128

    /// Up to this many rows in a call (decode steps), attention is handed out by block, so that a lone sequence's
    /// few key/value heads still keep every thread busy; beyond it, by rows, each row's blocks in turn.
    static let blockParallelRows = 16

    /// Calls returning up to this many rows of logits (decode steps) write them into a buffer kept across calls.
    static let keptLogitRows = 16

    /// Causal grouped-query attention of every row against its own sequence's cache. Every piece of work handles all
    /// query heads that share one key/value head, so each cached key and value is read from memory once per row
    /// rather than once per query head. Both ways of handing out the work compute the same blocks and combine them
    /// in the same order, so a row's result is the same whichever is used.
    private func attend(layer: Int, q: UnsafeMutablePointer<Float>, out: UnsafeMutablePointer<Float>, spans: [Span]) {
        let c = config, hd = c.headDimension, qw = c.queryWidth, group = c.heads / c.kvHeads
        let block = Self.attentionBlock
        // One block's result: per head, the maximum score and the sum of exponentials, then the value sum.
        let partialStride = group * (2 + hd)
        let scoreFloats = group * block
        var rows = 0, longest = 0
        for span in spans {
            rows += span.count
            longest = max(longest, span.position + span.count)
        }
        @inline(__always) func blockCount(visible: Int) -> Int { (visible + block - 1) / block }
        /// The positions of block `b` of a row that sees `visible` positions.
        @inline(__always) func blockRange(_ b: Int, visible: Int) -> Range<Int> { (b * block)..<min(visible, b * block + block) }

        if rows <= Self.blockParallelRows {
            // Chunks are (row, key/value head, block); chunk i writes its partial result to slot i, so the blocks of
            // one row and head lie one after another from the slot of their first.
            var chunks: [(span: Int, row: Int, kvHead: Int, block: Int)] = []
            for (s, span) in spans.enumerated() {
                for r in 0..<span.count {
                    for kvHead in 0..<c.kvHeads {
                        for b in 0..<blockCount(visible: span.position + r + 1) { chunks.append((s, r, kvHead, b)) }
                    }
                }
            }
            let partials = buffers[13].reserve(chunks.count * partialStride)
            let scores = buffers[12].reserve(scoreFloats * pool.threadCount)
            chunks.withUnsafeBufferPointer { list in
                pool.run(chunks: list.count) { chunk, thread in
                    let job = list[chunk], span = spans[job.span]
                    let row = span.start + job.row
                    attendBlockOfType(layer: layer, sequence: span.sequence, kvHead: job.kvHead,
                                      query: q + row * qw + job.kvHead * group * hd,
                                      positions: blockRange(job.block, visible: span.position + job.row + 1),
                                      scores: scores + thread * scoreFloats, into: partials + chunk * partialStride)
                }
            }
            var slot = 0
            for span in spans {
                for r in 0..<span.count {
                    let blocks = blockCount(visible: span.position + r + 1)
                    for kvHead in 0..<c.kvHeads {
                        combine(partials + slot * partialStride, blocks: blocks,
                                into: out + (span.start + r) * qw + kvHead * group * hd)
                        slot += blocks
                    }
                }
            }
            return
        }

        let queryBlock = 16
        var chunks: [(span: Int, kvHead: Int, rows: Range<Int>)] = []
        for (s, span) in spans.enumerated() {
            for kvHead in 0..<c.kvHeads {
                var r = 0
                while r < span.count {
                    chunks.append((s, kvHead, r..<min(span.count, r + queryBlock)))
                    r += queryBlock
                }
            }
        }
        let perThread = scoreFloats + blockCount(visible: longest) * partialStride
        let scratch = buffers[12].reserve(perThread * pool.threadCount)
        chunks.withUnsafeBufferPointer { list in
            pool.run(chunks: list.count) { chunk, thread in
                let job = list[chunk], span = spans[job.span]
                let scores = scratch + thread * perThread, partials = scores + scoreFloats
                for r in job.rows {
                    let row = span.start + r, visible = span.position + r + 1
                    let blocks = blockCount(visible: visible)
                    for b in 0..<blocks {
                        attendBlockOfType(layer: layer, sequence: span.sequence, kvHead: job.kvHead,
                                          query: q + row * qw + job.kvHead * group * hd,
                                          positions: blockRange(b, visible: visible), scores: scores,
                                          into: partials + b * partialStride)
                    }
                    combine(partials, blocks: blocks, into: out + row * qw + job.kvHead * group * hd)
                }
            }
        }
    }

    /// One block of positions of one row's attention, for the `group` query heads that share `kvHead` (their
    /// vectors one after another from `query`): writes `[maximum score per head][sum of exp(score - maximum) per
    /// head][per head, the values summed with weights exp(score - maximum)]`. `scores` holds `group` ×
    /// `attentionBlock` floats.
    @inline(__always)
    private func attendBlockOfType(layer: Int, sequence seq: LlamaSequence, kvHead: Int, query: UnsafePointer<Float>,
                                   positions: Range<Int>, scores: UnsafeMutablePointer<Float>,
                                   into partial: UnsafeMutablePointer<Float>) {
        switch seq.cacheType {
        case .f32:
            attendBlock(F32Element.self, layer: layer, sequence: seq, kvHead: kvHead, query: query,
                        positions: positions, scores: scores, into: partial)
        case .f16:
            attendBlock(F16Element.self, layer: layer, sequence: seq, kvHead: kvHead, query: query,
                        positions: positions, scores: scores, into: partial)
        case .bf16:
            attendBlock(BF16Element.self, layer: layer, sequence: seq, kvHead: kvHead, query: query,
                        positions: positions, scores: scores, into: partial)
        case .q8_0:
            attendBlock(Q8Element.self, layer: layer, sequence: seq, kvHead: kvHead, query: query,
                        positions: positions, scores: scores, into: partial)
        }
    }

    /// The block of `attendBlockOfType` for one cache type `E` (keys and values widened to Float32 as they are read).
    @inline(__always)
    private func attendBlock<E: KVElement>(_: E.Type, layer: Int, sequence seq: LlamaSequence, kvHead: Int,
                                           query: UnsafePointer<Float>, positions: Range<Int>,
                                           scores: UnsafeMutablePointer<Float>,
                                           into partial: UnsafeMutablePointer<Float>) {
        let hd = config.headDimension, group = config.heads / config.kvHeads, block = Self.attentionBlock
        let scale = 1 / Float(hd).squareRoot()
        let keys = seq.keyTiles(layer, kvHead), values = seq.valueRows(layer, kvHead), size = E.size
        let first = positions.lowerBound, count = positions.count
        // Scores of 8 positions at a time (lanes past the block's end are computed and ignored), for up to four
        // query heads per pass so that each key load serves all of them.
        var j = 0
        while j < count {
            var g0 = 0
            while g0 < group {
                let n = min(4, group - g0)
                let q0 = query + g0 * hd
                let q1 = n > 1 ? q0 + hd : q0, q2 = n > 2 ? q0 + 2 * hd : q0, q3 = n > 3 ? q0 + 3 * hd : q0
                var a0 = SIMD8<Float>(), a1 = SIMD8<Float>(), a2 = SIMD8<Float>(), a3 = SIMD8<Float>()
                let tile = keys + (first + j) * hd * size
                // The cache streams from memory (it is rewritten every step and the weights evict it), and the
                // hardware prefetcher alone left this loop latency-bound: one line is requested every other
                // dimension, alternately of the key tile two tiles on and of these 8 positions' values, which the
                // value sums read after the block's scores (+7% decode at 1 thread, +10-16% at 2, 500 positions).
                let keysAhead = tile + 16 * hd * size, valuesHere = values + (first + j) * hd * size
                if E.blockScaled {
                    // q8_0: each block of 32 dimensions is summed on its own, then scaled by the 8 positions'
                    // scales of that block (one multiply-add per block instead of one multiply per value).
                    let scaleTile = seq.keyScaleTiles(layer, kvHead) + ((first + j) / 8) * 8 * seq.blocks
                    for b in 0..<seq.blocks {
                        var t0 = SIMD8<Float>(), t1 = SIMD8<Float>(), t2 = SIMD8<Float>(), t3 = SIMD8<Float>()
                        for d in (b * KVCacheType.blockLength)..<((b + 1) * KVCacheType.blockLength) {
                            if g0 == 0 && d & 7 == 0 {
                                llama_c_prefetch(keysAhead + 8 * d * size)
                                llama_c_prefetch(valuesHere + 8 * d * size)
                            }
                            let k8 = E.load8(tile + 8 * d * size)
                            t0 = t0.addingProduct(SIMD8(repeating: q0[d]), k8)
                            t1 = t1.addingProduct(SIMD8(repeating: q1[d]), k8)
                            t2 = t2.addingProduct(SIMD8(repeating: q2[d]), k8)
                            t3 = t3.addingProduct(SIMD8(repeating: q3[d]), k8)
                        }
                        let s8 = UnsafeRawPointer(scaleTile + 8 * b).loadUnaligned(as: SIMD8<Float>.self)
                        a0 = a0.addingProduct(t0, s8); a1 = a1.addingProduct(t1, s8)
                        a2 = a2.addingProduct(t2, s8); a3 = a3.addingProduct(t3, s8)
                    }
                } else {
                    for d in 0..<hd {
                        if g0 == 0 {
                            if d & 1 == 0 {
                                llama_c_prefetch(keysAhead + 8 * d * size)
                            } else {
                                llama_c_prefetch(valuesHere + 8 * (d - 1) * size)
                            }
                        }
                        let k8 = E.load8(tile + 8 * d * size)
                        a0 = a0.addingProduct(SIMD8(repeating: q0[d]), k8)
                        a1 = a1.addingProduct(SIMD8(repeating: q1[d]), k8)
                        a2 = a2.addingProduct(SIMD8(repeating: q2[d]), k8)
                        a3 = a3.addingProduct(SIMD8(repeating: q3[d]), k8)
                    }
                }
                let out = UnsafeMutableRawPointer(scores + g0 * block + j), step = 4 * block
                out.storeBytes(of: a0 * scale, as: SIMD8<Float>.self)
                if n > 1 { out.storeBytes(of: a1 * scale, toByteOffset: step, as: SIMD8<Float>.self) }
                if n > 2 { out.storeBytes(of: a2 * scale, toByteOffset: 2 * step, as: SIMD8<Float>.self) }
                if n > 3 { out.storeBytes(of: a3 * scale, toByteOffset: 3 * step, as: SIMD8<Float>.self) }
                g0 += n
            }
            j += 8
        }
        for g in 0..<group {
            let (maximum, sum) = VectorOps.exponentiate(scores + g * block, count: count)
            partial[g] = maximum
            partial[group + g] = sum
        }
        if E.blockScaled {
            VectorOps.valueSums(E.self, scores, weightStride: block, heads: group, count: count,
                                values + first * hd * size, scales: seq.valueScaleRows(layer, kvHead) + first * seq.blocks,
                                width: hd, into: partial + 2 * group)
        } else {
            VectorOps.valueSums(E.self, scores, weightStride: block, heads: group, count: count,
                                values + first * hd * size, scales: nil, width: hd, into: partial + 2 * group)
        }
    }

    /// Combines a row's `blocks` partial results (from `attendBlock`, one after another) into the attention output
    /// of its `group` query heads: each block's sums are scaled by exp(its maximum - the row's maximum).
    @inline(__always)
    private func combine(_ partials: UnsafePointer<Float>, blocks: Int, into out: UnsafeMutablePointer<Float>) {
        let hd = config.headDimension, group = config.heads / config.kvHeads
        let stride = group * (2 + hd)
        for g in 0..<group {
            let o = out + g * hd
            if blocks == 1 {
                let inverse = 1 / partials[group + g]
                for d in 0..<hd { o[d] = partials[2 * group + g * hd + d] * inverse }
                continue
            }
            var maximum = -Float.infinity
            for b in 0..<blocks { maximum = max(maximum, partials[b * stride + g]) }
            var total: Float = 0
            for b in 0..<blocks { total += expf(partials[b * stride + g] - maximum) * partials[b * stride + group + g] }
            let inverse = 1 / total
            for d in 0..<hd { o[d] = 0 }
            for b in 0..<blocks {
                let weight = expf(partials[b * stride + g] - maximum) * inverse
                VectorOps.axpy(weight, partials + b * stride + 2 * group + g * hd, o, count: hd)
            }
        }
    }

    /// Final norm and output head for the rows whose logits were requested.
    private func outputLogits(batch: [LlamaBatchEntry], spans: [Span], x: UnsafeMutablePointer<Float>) -> [[Float]] {
        let c = config, dim = c.embedding
        var wanted: [Int] = []
        for (entry, span) in zip(batch, spans) {
            switch entry.logits {
            case .none: break
            case .last: wanted.append(span.start + span.count - 1)
            case .all: wanted.append(contentsOf: span.start..<(span.start + span.count))
            }
        }
        guard !wanted.isEmpty else { return batch.map { _ in [] } }
        let m = wanted.count
        let normed = buffers[1].reserve(m * dim)
        outputNorm.withUnsafeBufferPointer { w in
            for (i, row) in wanted.enumerated() {
                VectorOps.rmsNorm(x + row * dim, w.baseAddress!, count: dim, epsilon: c.rmsEpsilon, into: normed + i * dim)
            }
        }
        let hs = sums(normed, columns: dim, rows: m, buffer: 8)
        // Decode steps (a few rows) write into a buffer kept across calls: a fresh m x vocabulary array each step
        // (1.5 MB for 8 rows of SmolLM2) was page-faulted and zeroed every time, 8% of a batched decode step. The
        // logits of a whole prompt chunk go to a temporary allocation, so that one such request leaves nothing held.
        let kept = m <= Self.keptLogitRows
        let logits = kept ? buffers[14].reserve(m * c.vocabulary) : .allocate(capacity: m * c.vocabulary)
        defer { if !kept { logits.deallocate() } }
        parallelProducts([Product(weights: head, input: normed, sums: hs, output: logits)],
                         rows: m, batchedChunkRows: 64)
        var result: [[Float]] = []
        var offset = 0
        for entry in batch {
            let rows: Int
            switch entry.logits {
            case .none: rows = 0
            case .last: rows = 1
            case .all:
                switch entry.input {
                case .tokens(let t): rows = t.count
                case .embeddings(let e): rows = e.count / dim
                }
            }
            result.append(Array(UnsafeBufferPointer(start: logits + offset * c.vocabulary, count: rows * c.vocabulary)))
            offset += rows
        }
        return result
    }
}
