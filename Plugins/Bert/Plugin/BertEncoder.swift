#if canImport(Glibc)
import Glibc
#endif
import Dispatch
import ModelHostSDK
import TransformerKernels

/// A BERT-family encoder over a batch of inputs: embeddings (token + position + type) → LayerNorm → `layers` ×
/// (self-attention, residual, LayerNorm; GELU MLP, residual, LayerNorm) → pooling → optional L2 normalisation.
///
/// The inputs of a call are not padded: their tokens are stacked into one `[total, hidden]` matrix, so every product
/// runs over real tokens only, and attention runs per input (each input sees only its own tokens, which is what an
/// attention mask does for a padded batch). Each row of each product is computed the same way whatever else is in
/// the call, so an input's vector is bitwise the same alone or batched.
final class BertEncoder: EncoderModel {
    let config: BertConfig
    let weights: BertWeights
    let host: Host
    /// The encoder's threads (host.threads of them); `encode` calls are serial, so one pool serves them all.
    let pool: ThreadPool
    let info: EncoderInfo

    init(_ source: ModelSource, host: Host) throws {
        config = try BertConfig(source.weights)
        weights = try BertWeights(source.weights, config)
        self.host = host
        pool = ThreadPool(threads: max(1, host.threads))
        info = EncoderInfo(embeddingLength: config.hidden, contextLength: config.contextLength,
                           maxBatchTokens: 16_384, vocabularySize: config.vocabularySize,
                           pooling: config.pooling, normalized: config.normalize)
    }

    func encode(_ inputs: [EncoderInput], into output: UnsafeMutableBufferPointer<Float>,
                cancellation: CancellationToken) throws {
        // Calls come one per batch of requests, not back to back: nothing for the pool's threads to spin for.
        defer { pool.rest() }
        let c = config, h = c.hidden
        var starts: [Int] = []
        var total = 0
        for input in inputs {
            starts.append(total)
            total += input.tokens.count
        }
        for (index, input) in inputs.enumerated() {
            if let types = input.tokenTypes, let bad = types.first(where: { $0 < 0 || Int($0) >= c.typeRows }) {
                throw PluginError.invalidArgument("input \(index) has token type \(bad); the model has \(c.typeRows)")
            }
        }
        var x = [Float](repeating: 0, count: total * h)
        x.withUnsafeMutableBufferPointer { out in
            for (index, input) in inputs.enumerated() {
                for (position, token) in input.tokens.enumerated() {
                    let row = out.baseAddress! + (starts[index] + position) * h
                    let type = Int(input.tokenTypes?[position] ?? 0)
                    let positionRow = position + c.positionOffset
                    for i in 0..<h {
                        row[i] = weights.tokens[Int(token) * h + i] + weights.positions[positionRow * h + i]
                            + weights.types[type * h + i]
                    }
                }
            }
        }
        var normed = [Float](repeating: 0, count: total * h)
        layerNorm(x, total, weights.embeddingNorm, into: &normed)
        swap(&x, &normed)

        var qkv = [Float](repeating: 0, count: total * 3 * h)
        var attended = [Float](repeating: 0, count: total * h)
        var projected = [Float](repeating: 0, count: total * h)
        var hidden = [Float](repeating: 0, count: total * c.intermediate)
        for layer in weights.layers {
            if host.isCancelled(cancellation) { throw PluginError.cancelled }
            linear(x, total, layer.qkv, into: &qkv)
            attention(qkv, inputs: inputs, starts: starts, into: &attended)
            linear(attended, total, layer.attentionOut, into: &projected)
            add(&projected, x)
            layerNorm(projected, total, layer.attentionNorm, into: &x)
            linear(x, total, layer.up, into: &hidden)
            activate(&hidden)
            linear(hidden, total, layer.down, into: &projected)
            add(&projected, x)
            layerNorm(projected, total, layer.outputNorm, into: &x)
        }
        for (index, input) in inputs.enumerated() {
            pool(x, start: starts[index], count: input.tokens.count, into: output.baseAddress! + index * h)
        }
    }

    /// Scaled dot-product attention of each input over its own tokens, all heads; `qkv` rows are [q | k | v].
    private func attention(_ qkv: [Float], inputs: [EncoderInput], starts: [Int], into out: inout [Float]) {
        let h = config.hidden, d = config.headDim, heads = config.heads
        let scale = 1 / Float(d).squareRoot()
        let jobs = inputs.count * heads
        let lengths = inputs.map(\.tokens.count)
        qkv.withUnsafeBufferPointer { qkvBuffer in out.withUnsafeMutableBufferPointer { outBuffer in
        let source = UnsafeSendable(qkvBuffer.baseAddress!), target = UnsafeSendable(outBuffer.baseAddress!)
        let run = { (job: Int) in
            let input = job / heads, head = job % heads
            let n = lengths[input], first = starts[input]
            var scores = [Float](repeating: 0, count: n)
            scores.withUnsafeMutableBufferPointer { s in
                for i in 0..<n {
                    let q = source.p + (first + i) * 3 * h + head * d
                    for j in 0..<n {
                        let k = source.p + (first + j) * 3 * h + h + head * d
                        s[j] = RowOps.dot(q, k, d) * scale
                    }
                    RowOps.softmax(s.baseAddress!, count: n)
                    let o = target.p + (first + i) * h + head * d
                    var acc = [Float](repeating: 0, count: d)
                    for j in 0..<n {
                        let v = source.p + (first + j) * 3 * h + 2 * h + head * d
                        let w = s[j]
                        for t in 0..<d { acc[t] += w * v[t] }
                    }
                    for t in 0..<d { o[t] = acc[t] }
                }
            }
        }
        pool.run(chunks: jobs) { job, _ in run(job) }
        } }
    }

    private func pool(_ x: [Float], start: Int, count n: Int, into out: UnsafeMutablePointer<Float>) {
        let h = config.hidden
        switch config.pooling {
        case .mean:
            for i in 0..<h {
                var sum: Float = 0
                for t in 0..<n { sum += x[(start + t) * h + i] }
                out[i] = sum / Float(n)
            }
        case .cls:
            for i in 0..<h { out[i] = x[start * h + i] }
        case .last:
            for i in 0..<h { out[i] = x[(start + n - 1) * h + i] }
        case .max:
            for i in 0..<h {
                var top = -Float.infinity
                for t in 0..<n { top = max(top, x[(start + t) * h + i]) }
                out[i] = top
            }
        }
        if config.normalize {
            // sentence-transformers' Normalize: x / max(‖x‖, 1e-12).
            var sum: Float = 0
            for i in 0..<h { sum += out[i] * out[i] }
            let inv = 1 / max(sum.squareRoot(), 1e-12)
            for i in 0..<h { out[i] *= inv }
        }
    }

    private func linear(_ x: [Float], _ rows: Int, _ l: BertWeights.Linear, into y: inout [Float]) {
        x.withUnsafeBufferPointer { xp in
            l.bias.withUnsafeBufferPointer { bp in
                y.withUnsafeMutableBufferPointer { yp in
                    MatMul.linear(xp.baseAddress!, rows: rows, l.weight, bias: bp.baseAddress, into: yp.baseAddress!,
                                  pool: pool)
                }
            }
        }
    }

    private func layerNorm(_ x: [Float], _ rows: Int, _ norm: BertWeights.Norm, into y: inout [Float]) {
        x.withUnsafeBufferPointer { xp in
            y.withUnsafeMutableBufferPointer { yp in
                RowOps.layerNorm(xp.baseAddress!, rows: rows, width: config.hidden, weight: norm.weight,
                                 bias: norm.bias, eps: config.layerNormEps, into: yp.baseAddress!)
            }
        }
    }

    /// GELU over the intermediate activations, split between the threads.
    private func activate(_ values: inout [Float]) {
        let activation = config.activation
        let count = values.count
        let chunks = count >= 16_384 ? pool.threadCount : 1
        values.withUnsafeMutableBufferPointer { buffer in
            let base = UnsafeSendable(buffer.baseAddress!)
            let run = { (chunk: Int) in
                let first = count * chunk / chunks & ~7
                let end = chunk == chunks - 1 ? count : count * (chunk + 1) / chunks & ~7
                switch activation {
                case .erf: RowOps.geluErf(base.p + first, count: end - first)
                case .tanh: RowOps.geluTanh(base.p + first, count: end - first)
                }
            }
            pool.run(chunks: chunks) { chunk, _ in run(chunk) }
        }
    }

    private func add(_ y: inout [Float], _ x: [Float]) {
        for i in 0..<y.count { y[i] += x[i] }
    }
}
