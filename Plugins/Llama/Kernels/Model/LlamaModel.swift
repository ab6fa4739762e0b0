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

    private let buffers = (0..<13).map { _ in ScratchBuffer() }

    public init(source: WeightSource, config: LlamaConfig, threads: Int) throws {
        self.config = config
        guard let embd = source.tensor("token_embd.weight") else {
            throw LlamaModelError.missingTensor("token_embd.weight")
        }
        let pool = ThreadPool(threads: threads)
        self.pool = pool
        let fileEmbeddings = try WeightMatrix(embd, rows: config.vocabulary, columns: config.embedding)
        if let output = source.tensor("output.weight") {
            let fileHead = try WeightMatrix(output, rows: config.vocabulary, columns: config.embedding)
            head = Interleaved8.pack(fileHead, pool: pool)
            embeddings = fileEmbeddings // only single rows are read: the file layout is fine
        } else {
            // Tied embeddings: the packed head also serves the embedding lookups.
            head = Interleaved8.pack(fileEmbeddings, pool: pool)
            embeddings = head
        }
        guard let norm = source.tensor("output_norm.weight") else {
            throw LlamaModelError.missingTensor("output_norm.weight")
        }
        outputNorm = try loadVector(norm, count: config.embedding)
        ropeFactors = try source.tensor("rope_freqs.weight").map { try loadVector($0, count: config.headDimension / 2) }
        layers = try (0..<config.layers).map { try LlamaLayer(index: $0, config: config, source: source).packed(pool: pool) }
    }

    /// A new, empty sequence whose cache holds up to `capacity` positions (at most the model's context length).
    public func makeSequence(capacity: Int, allocator: KVAllocator = .system) throws -> LlamaSequence {
        guard capacity > 0, capacity <= config.contextLength else {
            throw LlamaModelError.contextFull(capacity: config.contextLength, requested: capacity)
        }
        return try LlamaSequence(layers: config.layers, kvHeads: config.kvHeads, headDimension: config.headDimension,
                                 capacity: capacity, allocator: allocator)
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
        var chunks: [(product: Int, rows: Range<Int>, step: Int)] = []
        for (i, p) in products.enumerated() {
            let step = chunkRows(p.weights.rows, n: n, batched: batchedChunkRows)
            var r = 0
            while r < p.weights.rows {
                let end = min(p.weights.rows, r + step)
                chunks.append((i, r..<end, step))
                r = end
            }
        }
        let maxColumns = products.map(\.weights.columns).max() ?? 0
        let scratchStride = MatMul.scratchCount(columns: maxColumns)
        let scratch = buffers[9].reserve(scratchStride * pool.threadCount)
        chunks.withUnsafeBufferPointer { list in
            pool.run(chunks: list.count) { chunk, thread in
                let (i, range, step) = list[chunk]
                let p = products[i]
                MatMul.multiply(p.weights, p.input, n: n, p.output, ldy: p.weights.rows, rowRange: range,
                                scratch: scratch + thread * scratchStride, sums: p.sums,
                                aheadGroups: aheadGroups(step))
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
                span.sequence.value(index, position).update(from: v + row * kvw, count: kvw)
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

    /// Causal grouped-query attention of every row against its own sequence's cache. A chunk handles all query heads
    /// that share one key/value head, position by position, so each cached key and value is read from memory once
    /// per chunk rather than once per query head.
    private func attend(layer: Int, q: UnsafeMutablePointer<Float>, out: UnsafeMutablePointer<Float>, spans: [Span]) {
        let c = config, hd = c.headDimension, qw = c.queryWidth, group = c.heads / c.kvHeads
        let queryBlock = 16
        var chunks: [(span: Int, kvHead: Int, rows: Range<Int>)] = []
        var longest = 0
        for (s, span) in spans.enumerated() {
            longest = max(longest, span.position + span.count)
            for kvHead in 0..<c.kvHeads {
                var r = 0
                while r < span.count {
                    chunks.append((s, kvHead, r..<min(span.count, r + queryBlock)))
                    r += queryBlock
                }
            }
        }
        let scoreStride = (longest + 7) & ~7
        let perThread = scoreStride * group
        let scores = buffers[12].reserve(perThread * pool.threadCount)
        let scale = 1 / Float(hd).squareRoot()
        chunks.withUnsafeBufferPointer { list in
            pool.run(chunks: list.count) { chunk, thread in
                let job = list[chunk]
                let span = spans[job.span], seq = span.sequence
                let kvOffset = job.kvHead * hd, firstHead = job.kvHead * group
                let w = scores + thread * perThread
                for r in job.rows {
                    let row = span.start + r
                    let query = q + row * qw + firstHead * hd
                    let o = out + row * qw + firstHead * hd
                    let visible = span.position + r + 1
                    let keys = seq.keyTiles(layer, job.kvHead)
                    var j0 = 0
                    while j0 < visible {
                        // Scores of positions j0 ..< j0 + 8 (lanes past `visible` are computed and ignored), for
                        // up to four query heads per pass so that each key load serves all of them.
                        var g0 = 0
                        while g0 < group {
                            let n = min(4, group - g0)
                            let q0 = query + g0 * hd
                            let q1 = n > 1 ? q0 + hd : q0, q2 = n > 2 ? q0 + 2 * hd : q0, q3 = n > 3 ? q0 + 3 * hd : q0
                            var a0 = SIMD8<Float>(), a1 = SIMD8<Float>(), a2 = SIMD8<Float>(), a3 = SIMD8<Float>()
                            for d in 0..<hd {
                                let k8 = UnsafeRawPointer(keys + j0 * hd + 8 * d).loadUnaligned(as: SIMD8<Float>.self)
                                a0 = a0.addingProduct(SIMD8(repeating: q0[d]), k8)
                                a1 = a1.addingProduct(SIMD8(repeating: q1[d]), k8)
                                a2 = a2.addingProduct(SIMD8(repeating: q2[d]), k8)
                                a3 = a3.addingProduct(SIMD8(repeating: q3[d]), k8)
                            }
                            let out = UnsafeMutableRawPointer(w + g0 * scoreStride + j0), step = 4 * scoreStride
                            out.storeBytes(of: a0 * scale, as: SIMD8<Float>.self)
                            if n > 1 { out.storeBytes(of: a1 * scale, toByteOffset: step, as: SIMD8<Float>.self) }
                            if n > 2 { out.storeBytes(of: a2 * scale, toByteOffset: 2 * step, as: SIMD8<Float>.self) }
                            if n > 3 { out.storeBytes(of: a3 * scale, toByteOffset: 3 * step, as: SIMD8<Float>.self) }
                            g0 += n
                        }
                        j0 += 8
                    }
                    for g in 0..<group { VectorOps.softmax(w + g * scoreStride, count: visible) }
                    for g in 0..<group {
                        VectorOps.weightedSum(w + g * scoreStride, count: visible, seq.value(layer, 0) + kvOffset,
                                              stride: seq.kvWidth, width: hd, into: o + g * hd)
                    }
                }
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
        var logits = [Float](repeating: 0, count: m * c.vocabulary)
        let hs = sums(normed, columns: dim, rows: m, buffer: 8)
        logits.withUnsafeMutableBufferPointer { out in
            parallelProducts([Product(weights: head, input: normed, sums: hs, output: out.baseAddress!)],
                             rows: m, batchedChunkRows: 64)
        }
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
            result.append(Array(logits[(offset * c.vocabulary)..<((offset + rows) * c.vocabulary)]))
            offset += rows
        }
        return result
    }
}
