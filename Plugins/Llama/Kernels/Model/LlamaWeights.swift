/// The tensors of one transformer block, validated against the configuration.
struct LlamaLayer {
    let attentionNorm: [Float]
    let query: WeightMatrix
    let key: WeightMatrix
    let value: WeightMatrix
    let output: WeightMatrix
    /// Qwen2 adds biases to the q/k/v projections; nil for Llama and Mistral.
    let queryBias: [Float]?
    let keyBias: [Float]?
    let valueBias: [Float]?
    let ffnNorm: [Float]
    let gate: WeightMatrix
    let up: WeightMatrix
    let down: WeightMatrix

    init(index: Int, config c: LlamaConfig, source: WeightSource) throws {
        let p = "blk.\(index)."
        func tensor(_ name: String) throws -> WeightView { try source.required(p + name) }
        func bias(_ name: String, _ count: Int) throws -> [Float]? {
            guard let view = try source.optional(p + name) else { return nil }
            return try loadVector(view, count: count)
        }
        attentionNorm = try loadVector(tensor("attn_norm.weight"), count: c.embedding)
        query = try WeightMatrix(tensor("attn_q.weight"), rows: c.queryWidth, columns: c.embedding)
        key = try WeightMatrix(tensor("attn_k.weight"), rows: c.kvWidth, columns: c.embedding)
        value = try WeightMatrix(tensor("attn_v.weight"), rows: c.kvWidth, columns: c.embedding)
        output = try WeightMatrix(tensor("attn_output.weight"), rows: c.embedding, columns: c.queryWidth)
        queryBias = try bias("attn_q.bias", c.queryWidth)
        keyBias = try bias("attn_k.bias", c.kvWidth)
        valueBias = try bias("attn_v.bias", c.kvWidth)
        ffnNorm = try loadVector(tensor("ffn_norm.weight"), count: c.embedding)
        gate = try WeightMatrix(tensor("ffn_gate.weight"), rows: c.feedForward, columns: c.embedding)
        up = try WeightMatrix(tensor("ffn_up.weight"), rows: c.feedForward, columns: c.embedding)
        down = try WeightMatrix(tensor("ffn_down.weight"), rows: c.embedding, columns: c.feedForward)
    }

    private init(_ o: LlamaLayer, _ transform: (WeightMatrix) -> WeightMatrix) {
        attentionNorm = o.attentionNorm
        query = transform(o.query)
        key = transform(o.key)
        value = transform(o.value)
        output = transform(o.output)
        queryBias = o.queryBias
        keyBias = o.keyBias
        valueBias = o.valueBias
        ffnNorm = o.ffnNorm
        gate = transform(o.gate)
        up = transform(o.up)
        down = transform(o.down)
    }

    /// This layer with its matrices repacked for the 8-row kernels where the type allows (see `Interleaved8`).
    func packed(pool: ThreadPool) -> LlamaLayer {
        LlamaLayer(self) { Interleaved8.pack($0, pool: pool) }
    }
}

/// A grow-only Float32 buffer for activations; reused across `forward` calls so decode allocates nothing.
final class ScratchBuffer {
    private(set) var pointer: UnsafeMutablePointer<Float>
    private(set) var capacity: Int

    init() {
        capacity = 0
        pointer = .allocate(capacity: 1)
    }

    deinit { pointer.deallocate() }

    /// A pointer to at least `count` floats; previous contents are discarded when it grows.
    func reserve(_ count: Int) -> UnsafeMutablePointer<Float> {
        if count > capacity {
            pointer.deallocate()
            capacity = max(count, capacity * 2)
            pointer = .allocate(capacity: capacity)
        }
        return pointer
    }
}
