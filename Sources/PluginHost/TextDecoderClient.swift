import ModelHostABI

/// The host's typed view of a plugin's `mh.text_decoder.v1` table. Checks the table once, then forwards calls and
/// turns error statuses into thrown `PluginCallError`s.
public final class TextDecoderClient: @unchecked Sendable {
    public let context: PluginContext
    let table: UnsafePointer<mh_text_decoder_v1>

    public init(_ context: PluginContext) throws(PluginCallError) {
        guard let raw = context.interface(MH_IID_TEXT_DECODER_V1) else {
            throw PluginCallError(function: "get_interface", code: MH_ERR_UNSUPPORTED.rawValue,
                                  message: "plugin \(context.plugin.id) does not implement \(MH_IID_TEXT_DECODER_V1)")
        }
        let t = raw.assumingMemoryBound(to: mh_text_decoder_v1.self)
        // A 1.0 table ends where 1.1 appended seq_copy; newer fields are read only when the table holds them.
        guard Int(t.pointee.struct_size) >= MemoryLayout<mh_text_decoder_v1>.offset(of: \.seq_copy)!,
              t.pointee.model_open != nil, t.pointee.model_close != nil, t.pointee.model_info != nil,
              t.pointee.seq_create != nil, t.pointee.seq_destroy != nil, t.pointee.seq_length != nil,
              t.pointee.seq_truncate != nil, t.pointee.forward != nil else {
            throw PluginCallError(function: "get_interface", code: MH_ERR_INCOMPATIBLE.rawValue,
                                  message: "the text decoder table is too small or has NULL functions")
        }
        self.context = context
        self.table = t
        let copyEnd = MemoryLayout<mh_text_decoder_v1>.offset(of: \.seq_copy)! + MemoryLayout<UnsafeRawPointer>.size
        copySequence = Int(t.pointee.struct_size) >= copyEnd
            && context.plugin.capabilities & UInt64(MH_CAP_SEQ_COPY.rawValue) != 0 ? t.pointee.seq_copy : nil
    }

    /// Every KV cache type the ABI names, with its name and the capability a plugin declares it with (none: f32).
    static let allCacheTypes: [(type: mh_kv_cache_type, name: String, capability: UInt32)] = [
        (MH_KV_F32, "f32", 0), (MH_KV_F16, "f16", MH_CAP_KV_F16.rawValue), (MH_KV_BF16, "bf16", MH_CAP_KV_BF16.rawValue),
        (MH_KV_Q8_0, "q8_0", MH_CAP_KV_Q8_0.rawValue),
    ]

    /// The KV cache types a decoder plugin with `capabilities` implements: f32 always, the others by their bits.
    public static func cacheTypes(capabilities: UInt64) -> [(type: mh_kv_cache_type, name: String)] {
        allCacheTypes.filter { capabilities & UInt64($0.capability) == UInt64($0.capability) }.map { ($0.type, $0.name) }
    }

    /// Whether sequences of this plugin's models can copy a prefix from one another (ABI 1.1 `seq_copy`).
    public var canCopySequences: Bool { copySequence != nil }

    /// The plugin's `seq_copy` (ABI 1.1) when its table has one and it declares `MH_CAP_SEQ_COPY`.
    let copySequence: (@convention(c) (OpaquePointer?, OpaquePointer?, UInt32, UnsafeMutablePointer<mh_status>?) -> Int32)?

    /// Opens a model. `weights` must outlive the returned model; the handle keeps a reference.
    /// `kvCacheType` other than `MH_KV_F32` needs the plugin's capability for it (ABI 1.3); without it the model is
    /// refused here, naming the types the plugin has.
    public func openModel(weights: WeightsService, path: String, maxSequences: Int = 16, maxContext: Int = 0,
                          kvCacheType: mh_kv_cache_type = MH_KV_F32,
                          cancelToken: UInt64 = 0) throws(PluginCallError) -> DecoderModelHandle {
        let offered = Self.cacheTypes(capabilities: context.plugin.capabilities)
        guard offered.contains(where: { $0.type == kvCacheType }) else {
            throw PluginCallError(function: "model_open", code: MH_ERR_UNSUPPORTED.rawValue,
                                  message: "plugin \(context.plugin.id) cannot store the KV cache as "
                                    + (Self.allCacheTypes.first { $0.type == kvCacheType }?.name
                                        ?? "type \(kvCacheType.rawValue)") + "; it offers "
                                    + offered.map(\.name).joined(separator: ", "))
        }
        var status = mh_status()
        mh_status_init(&status)
        var model: OpaquePointer?
        let rc = path.withCString { p in
            var desc = mh_model_desc(struct_size: UInt32(MemoryLayout<mh_model_desc>.size), reserved: 0,
                                     weights: UnsafePointer(weights.table), path: p,
                                     max_sequences: UInt32(clamping: maxSequences),
                                     max_context: UInt32(clamping: maxContext), cancel_token: cancelToken,
                                     kv_cache_type: kvCacheType.rawValue, reserved2: 0)
            return table.pointee.model_open(context.raw, &desc, &model, &status)
        }
        guard rc == 0, let model else {
            throw PluginCallError(function: "model_open", code: rc == 0 ? MH_ERR_INTERNAL.rawValue : rc,
                                  message: rc == 0 ? "returned OK without a model" : statusText(&status))
        }
        return try DecoderModelHandle(client: self, raw: model, weights: weights)
    }
}

/// An open decoder model. Close it explicitly (or let it deinit) after its sequences.
public final class DecoderModelHandle: @unchecked Sendable {
    public let client: TextDecoderClient
    let raw: OpaquePointer
    let weights: WeightsService
    public let vocabularySize: Int
    public let embeddingLength: Int
    public let contextLength: Int
    public let maxBatchTokens: Int
    private var closed = false

    init(client: TextDecoderClient, raw: OpaquePointer, weights: WeightsService) throws(PluginCallError) {
        self.client = client
        self.raw = raw
        self.weights = weights
        var info = mh_decoder_info()
        info.struct_size = UInt32(MemoryLayout<mh_decoder_info>.size)
        var status = mh_status()
        mh_status_init(&status)
        let rc = client.table.pointee.model_info(raw, &info, &status)
        guard rc == 0 else {
            client.table.pointee.model_close(raw)
            throw PluginCallError(function: "model_info", code: rc, message: statusText(&status))
        }
        vocabularySize = Int(info.vocab_size)
        embeddingLength = Int(info.embedding_length)
        contextLength = Int(info.context_length)
        maxBatchTokens = Int(info.max_batch_tokens)
    }

    deinit { close() }

    /// The plugin's `mh_capability` bits: what the engine may ask of this model beyond the basics.
    public var capabilities: UInt64 { client.context.plugin.capabilities }
    public var canTruncate: Bool { capabilities & UInt64(MH_CAP_SEQ_TRUNCATE.rawValue) != 0 }
    /// Whether a sequence's prefix can be copied into another (`SequenceHandle.copy`, ABI 1.1).
    public var canCopySequences: Bool { client.canCopySequences }
    public var canReturnAllLogits: Bool { capabilities & UInt64(MH_CAP_LOGITS_ALL.rawValue) != 0 }

    public func close() {
        guard !closed else { return }
        closed = true
        client.table.pointee.model_close(raw)
    }

    public func makeSequence(capacity: Int) throws(PluginCallError) -> SequenceHandle {
        var status = mh_status()
        mh_status_init(&status)
        var seq: OpaquePointer?
        let rc = client.table.pointee.seq_create(raw, UInt32(clamping: capacity), &seq, &status)
        guard rc == 0, let seq else {
            throw PluginCallError(function: "seq_create", code: rc == 0 ? MH_ERR_INTERNAL.rawValue : rc,
                                  message: statusText(&status))
        }
        return SequenceHandle(model: self, raw: seq)
    }

    /// What one sequence contributes to a forward call.
    public struct Entry {
        public enum Input { case tokens([Int32]), embeddings([Float], count: Int) }
        public enum Logits: UInt32 { case last = 0, all = 1, none = 2 }
        public let sequence: SequenceHandle
        public let input: Input
        public let logits: Logits
        public init(sequence: SequenceHandle, input: Input, logits: Logits = .last) {
            self.sequence = sequence
            self.input = input
            self.logits = logits
        }
        var count: Int {
            switch input {
            case .tokens(let t): return t.count
            case .embeddings(_, let n): return n
            }
        }
    }

    /// Runs one forward call and returns each entry's logits (empty for `.none`).
    public func forward(_ entries: [Entry], cancelToken: UInt64 = 0) throws(PluginCallError) -> [[Float]] {
        // Flatten inputs and outputs so one pinned buffer of each kind serves every entry.
        var tokens: [Int32] = []
        var embeddings: [Float] = []
        var inputOffsets: [Int] = []
        var outputOffsets: [Int] = []
        var outputCounts: [Int] = []
        var outputTotal = 0
        for e in entries {
            switch e.input {
            case .tokens(let t): inputOffsets.append(tokens.count); tokens += t
            case .embeddings(let x, _): inputOffsets.append(embeddings.count); embeddings += x
            }
            let n = e.logits == .none ? 0 : (e.logits == .last ? vocabularySize : vocabularySize * e.count)
            outputOffsets.append(outputTotal)
            outputCounts.append(n)
            outputTotal += n
        }
        var logits = [Float](repeating: 0, count: max(outputTotal, 1))
        var status = mh_status()
        mh_status_init(&status)
        let table = client.table
        let model = raw
        let rc = tokens.withUnsafeBufferPointer { tok in
            embeddings.withUnsafeBufferPointer { emb in
                logits.withUnsafeMutableBufferPointer { out in
                    var rawEntries: [mh_batch_entry] = []
                    for (i, e) in entries.enumerated() {
                        var b = mh_batch_entry()
                        b.struct_size = UInt32(MemoryLayout<mh_batch_entry>.size)
                        b.n_tokens = UInt32(clamping: e.count)
                        b.seq = e.sequence.raw
                        if case .tokens = e.input {
                            b.tokens = tok.baseAddress.map { $0 + inputOffsets[i] }
                        } else {
                            b.embeddings = emb.baseAddress.map { $0 + inputOffsets[i] }
                        }
                        b.logits_mode = e.logits.rawValue
                        b.logits = e.logits == .none ? nil : out.baseAddress! + outputOffsets[i]
                        rawEntries.append(b)
                    }
                    return rawEntries.withUnsafeBufferPointer { buffer in
                        var batch = mh_batch(struct_size: UInt32(MemoryLayout<mh_batch>.size),
                                             n_entries: UInt32(buffer.count), entries: buffer.baseAddress,
                                             cancel_token: cancelToken)
                        return table.pointee.forward(model, &batch, &status)
                    }
                }
            }
        }
        guard rc == 0 else { throw PluginCallError(function: "forward", code: rc, message: statusText(&status)) }
        return entries.indices.map { Array(logits[outputOffsets[$0]..<outputOffsets[$0] + outputCounts[$0]]) }
    }
}

/// One sequence (KV state) of an open model.
public final class SequenceHandle: @unchecked Sendable {
    public let model: DecoderModelHandle
    let raw: OpaquePointer
    private var destroyed = false
    /// The most positions this sequence has held: how far its KV memory has been touched, which a later truncation
    /// does not give back. Kept by whoever feeds the sequence (the decode loop), for the prefix cache's byte budget.
    public var reachedPositions = 0

    init(model: DecoderModelHandle, raw: OpaquePointer) {
        self.model = model
        self.raw = raw
    }

    deinit { destroy() }

    public func destroy() {
        guard !destroyed else { return }
        destroyed = true
        model.client.table.pointee.seq_destroy(raw)
    }

    public var length: Int { Int(model.client.table.pointee.seq_length(raw)) }

    /// Makes this sequence hold exactly the first `count` positions of `source` (same model); `canCopySequences`.
    public func copy(from source: SequenceHandle, count: Int) throws(PluginCallError) {
        guard let copy = model.client.copySequence else {
            throw PluginCallError(function: "seq_copy", code: MH_ERR_UNSUPPORTED.rawValue,
                                  message: "plugin \(model.client.context.plugin.id) cannot copy sequences")
        }
        var status = mh_status()
        mh_status_init(&status)
        let rc = copy(raw, source.raw, UInt32(clamping: count), &status)
        guard rc == 0 else { throw PluginCallError(function: "seq_copy", code: rc, message: statusText(&status)) }
    }

    public func truncate(to count: Int) throws(PluginCallError) {
        var status = mh_status()
        mh_status_init(&status)
        let rc = model.client.table.pointee.seq_truncate(raw, UInt32(clamping: count), &status)
        guard rc == 0 else { throw PluginCallError(function: "seq_truncate", code: rc, message: statusText(&status)) }
    }
}
