#if canImport(Glibc)
import Glibc
#endif
import Dispatch
import TransformerKernels
import ModelHostSDK

/// The SigLIP vision transformer and the Idefics3 connector for one image at a time (math in README.md):
/// patches → embeddings + positions → `layers` × (attention, MLP) with pre-LayerNorm residuals → post-LayerNorm →
/// pixel shuffle → projection into the decoder's embedding space.
final class SigLIPEncoder: VisionModel {
    let config: SigLIPConfig
    let weights: SigLIPWeights
    /// The encoder's threads (host.threads of them); one `encode` at a time uses it.
    let pool: ThreadPool
    let host: Host
    let info: VisionInfo

    init(_ source: ModelSource, host: Host) throws {
        config = try SigLIPConfig(source.weights)
        weights = try SigLIPWeights(source.weights, config)
        pool = ThreadPool(threads: host.threads)
        self.host = host
        info = VisionInfo(imageSize: config.imageSize, tokensPerImage: config.tokensPerImage,
                          embeddingLength: weights.projection.outputs, imageMean: config.mean, imageStd: config.std)
    }

    func encode(pixels: UnsafeBufferPointer<Float>, count: Int, into output: UnsafeMutableBufferPointer<Float>,
                cancellation: CancellationToken) throws {
        let side = config.imageSize
        let perImage = info.tokensPerImage * info.embeddingLength
        for image in 0..<count {
            if host.isCancelled(cancellation) { throw PluginError.cancelled }
            let encoded = try encodeOne(pixels.baseAddress! + image * 3 * side * side, cancellation)
            for i in 0..<perImage { output[image * perImage + i] = encoded[i] }
        }
    }

    private func encodeOne(_ pixels: UnsafePointer<Float>, _ cancellation: CancellationToken) throws -> [Float] {
        let c = config, n = c.patches, h = c.hidden
        var x = embedPatches(pixels)
        for layer in weights.layers {
            if host.isCancelled(cancellation) { throw PluginError.cancelled }
            var y = layerNorm(x, rows: n, layer.norm1)
            x.add(attention(y, layer))
            y = layerNorm(x, rows: n, layer.norm2)
            var hiddenMLP = linear(y, rows: n, layer.fc1)
            geluTanh(&hiddenMLP)
            x.add(linear(hiddenMLP, rows: n, layer.fc2))
        }
        x = layerNorm(x, rows: n, weights.postNorm)
        let shuffled = pixelShuffle(x, side: c.patchesPerSide, width: h, scale: c.scale)
        return linear(shuffled, rows: c.tokensPerImage, weights.projection)
    }

    /// The conv with kernel = stride = patch as a product: each patch flattened in (channel, row, column) order.
    private func embedPatches(_ pixels: UnsafePointer<Float>) -> [Float] {
        let c = config, p = c.patchSize, side = c.imageSize, per = c.patchesPerSide
        let patchLength = 3 * p * p
        var patches = [Float](repeating: 0, count: c.patches * patchLength)
        for py in 0..<per {
            for px in 0..<per {
                let base = (py * per + px) * patchLength
                for channel in 0..<3 {
                    for ky in 0..<p {
                        let row = pixels + channel * side * side + (py * p + ky) * side + px * p
                        for kx in 0..<p { patches[base + (channel * p + ky) * p + kx] = row[kx] }
                    }
                }
            }
        }
        var x = linear(patches, rows: c.patches, weights.patch)
        x.add(weights.positions)
        return x
    }

    private func attention(_ y: [Float], _ layer: SigLIPWeights.Layer) -> [Float] {
        let n = config.patches, h = config.hidden, heads = config.heads, d = config.headDim
        let q = linear(y, rows: n, layer.q), k = linear(y, rows: n, layer.k), v = linear(y, rows: n, layer.v)
        var attended = [Float](repeating: 0, count: n * h)
        let scale = 1 / Float(d).squareRoot()
        let out = UnsafeSendable(attended.withUnsafeMutableBufferPointer { $0.baseAddress! })
        q.withUnsafeBufferPointer { qp in k.withUnsafeBufferPointer { kp in v.withUnsafeBufferPointer { vp in
            let qs = UnsafeSendable(qp.baseAddress!), ks = UnsafeSendable(kp.baseAddress!), vs = UnsafeSendable(vp.baseAddress!)
            pool.run(chunks: heads) { head, _ in
                // This head's q, k rows and v columns (transposed, so scores · v is the same product shape).
                var qh = [Float](repeating: 0, count: n * d), kh = qh, vt = qh
                for i in 0..<n {
                    for j in 0..<d {
                        qh[i * d + j] = qs.p[i * h + head * d + j] * scale
                        kh[i * d + j] = ks.p[i * h + head * d + j]
                        vt[j * n + i] = vs.p[i * h + head * d + j]
                    }
                }
                var scores = [Float](repeating: 0, count: n * n)
                MatMul.linear(qh, rows: n, PackedMatrix(kh, outputs: n, inputs: d), bias: nil, into: &scores, pool: nil)
                for i in 0..<n { softmax(&scores, offset: i * n, count: n) }
                var oh = [Float](repeating: 0, count: n * d)
                MatMul.linear(scores, rows: n, PackedMatrix(vt, outputs: d, inputs: n), bias: nil, into: &oh, pool: nil)
                for i in 0..<n {
                    for j in 0..<d { out.p[i * h + head * d + j] = oh[i * d + j] }
                }
            }
        } } }
        return linear(attended, rows: n, layer.out)
    }

    /// transformers' Idefics3Connector.pixel_shuffle: output token (r, c) of the (side/s)² grid concatenates the
    /// s × s block of patch vectors at rows r·s…, columns c·s…, row by row.
    private func pixelShuffle(_ x: [Float], side: Int, width: Int, scale s: Int) -> [Float] {
        let grid = side / s
        var out = [Float](repeating: 0, count: x.count)
        let tokenWidth = width * s * s
        for r in 0..<grid {
            for c in 0..<grid {
                for a in 0..<s {
                    for b in 0..<s {
                        let source = ((r * s + a) * side + (c * s + b)) * width
                        let target = (r * grid + c) * tokenWidth + (a * s + b) * width
                        for i in 0..<width { out[target + i] = x[source + i] }
                    }
                }
            }
        }
        return out
    }

    private func linear(_ x: [Float], rows: Int, _ l: SigLIPWeights.Linear) -> [Float] {
        var y = [Float](repeating: 0, count: rows * l.outputs)
        if let bias = l.bias {
            bias.withUnsafeBufferPointer {
                MatMul.linear(x, rows: rows, l.weight, bias: $0.baseAddress, into: &y, pool: pool)
            }
        } else {
            MatMul.linear(x, rows: rows, l.weight, bias: nil, into: &y, pool: pool)
        }
        return y
    }

    private func layerNorm(_ x: [Float], rows: Int, _ norm: (weight: [Float], bias: [Float])) -> [Float] {
        var y = [Float](repeating: 0, count: x.count)
        x.withUnsafeBufferPointer { xp in
            y.withUnsafeMutableBufferPointer { yp in
                RowOps.layerNorm(xp.baseAddress!, rows: rows, width: norm.weight.count, weight: norm.weight,
                                 bias: norm.bias, eps: config.layerNormEps, into: yp.baseAddress!)
            }
        }
        return y
    }

    private func geluTanh(_ x: inout [Float]) {
        x.withUnsafeMutableBufferPointer { RowOps.geluTanh($0.baseAddress!, count: $0.count) }
    }

    private func softmax(_ x: inout [Float], offset: Int, count: Int) {
        x.withUnsafeMutableBufferPointer { RowOps.softmax($0.baseAddress! + offset, count: count) }
    }
}

extension Array where Element == Float {
    mutating func add(_ other: [Float]) {
        for i in indices { self[i] += other[i] }
    }
}
