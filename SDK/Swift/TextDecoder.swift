/// A text decoder plugin: turns tokens (or embeddings) into logits. Implement this, a `DecoderModel` and a
/// `DecoderSequence`, and export it with `PluginExport.textDecoder`. The SDK validates every argument the host passes
/// (NULLs, sizes, token ranges, duplicate sequences) before your code runs, and turns thrown `PluginError`s into
/// status codes, so your implementation deals only with well-formed work.
public protocol TextDecoderPlugin: AnyObject {
    associatedtype Model: DecoderModel

    static var info: PluginInfo { get }
    /// 0 = cannot run `query` here; higher = better. Pure: no threads, no files.
    static func probe(_ query: ProbeQuery, host: Host) -> Int32
    /// Plugin-wide set-up (thread pools, tables). Called at most once per process.
    init(host: Host) throws
    /// Opens a model from the host's weights service. Throw `.badModel` naming the tensor for unusable weights.
    func openModel(_ source: ModelSource) throws -> Model
}

public struct DecoderInfo: Sendable {
    public var vocabularySize: Int
    public var embeddingLength: Int
    public var contextLength: Int
    /// The most tokens one forward call may carry in total (0 = no limit).
    public var maxBatchTokens: Int

    public init(vocabularySize: Int, embeddingLength: Int, contextLength: Int, maxBatchTokens: Int = 0) {
        self.vocabularySize = vocabularySize
        self.embeddingLength = embeddingLength
        self.contextLength = contextLength
        self.maxBatchTokens = maxBatchTokens
    }
}

public protocol DecoderModel: AnyObject {
    associatedtype Sequence: DecoderSequence
    var info: DecoderInfo { get }
    /// An empty sequence able to hold `capacity` tokens (already checked ≤ contextLength).
    func makeSequence(capacity: Int) throws -> Sequence
    /// Advances every entry's sequence. All or nothing: on a throw, no sequence may have changed length.
    /// Check `host.isCancelled(cancellation)` between layers of long work.
    func forward(_ entries: [DecoderBatchEntry<Sequence>], cancellation: CancellationToken) throws
}

public protocol DecoderSequence: AnyObject {
    /// Positions held.
    var length: Int { get }
    /// The most positions this sequence can hold.
    var capacity: Int { get }
    /// Keeps the first `count` positions (already checked ≤ length).
    func truncate(to count: Int) throws
    /// Replaces this sequence's state with the first `count` positions of `source`, a distinct sequence of the same
    /// model (already checked: `count` ≤ `source.length` and ≤ `capacity`). Called only when the plugin declares
    /// `.sequenceCopy`; the default implementation refuses. If it throws, leave this sequence empty.
    func copy(from source: Self, count: Int) throws
}

extension DecoderSequence {
    public func copy(from source: Self, count: Int) throws {
        throw PluginError.unsupported("seq_copy: this plugin cannot copy sequences")
    }
}

/// The input of one batch entry. The buffers are borrowed for the duration of `forward`.
public enum DecoderInput {
    case tokens(UnsafeBufferPointer<Int32>)
    /// `count` rows of `DecoderInfo.embeddingLength` floats.
    case embeddings(UnsafeBufferPointer<Float>, count: Int)

    public var count: Int {
        switch self {
        case .tokens(let t): return t.count
        case .embeddings(_, let n): return n
        }
    }
}

/// Where logits go. The buffers are the host's, sized by the SDK's checks: `vocabularySize` floats for `.last`,
/// `count × vocabularySize` for `.all`.
public enum LogitsRequest {
    case none
    case last(UnsafeMutableBufferPointer<Float>)
    case all(UnsafeMutableBufferPointer<Float>)
}

public struct DecoderBatchEntry<Sequence: DecoderSequence> {
    public let sequence: Sequence
    public let input: DecoderInput
    public let logits: LogitsRequest
}

// MARK: - Type-erased boxes behind the opaque handles

final class DecoderPluginBox {
    let open: (ModelSource) throws -> DecoderModelBox
    init(open: @escaping (ModelSource) throws -> DecoderModelBox) { self.open = open }
}

final class DecoderModelBox {
    let info: DecoderInfo
    let capabilities: Capabilities
    var makeSequence: ((DecoderModelBox, Int) throws -> SequenceBox)!
    var forward: (([RawEntry], CancellationToken) throws -> Void)!
    /// Kept alive until close: the weights views must outlive the model object.
    let object: AnyObject

    init(object: AnyObject, info: DecoderInfo, capabilities: Capabilities) {
        self.object = object
        self.info = info
        self.capabilities = capabilities
    }
}

final class SequenceBox {
    let model: DecoderModelBox
    let object: AnyObject
    let length: () -> Int
    let capacity: Int
    let truncate: (Int) throws -> Void
    let copy: (SequenceBox, Int) throws -> Void
    init(model: DecoderModelBox, object: AnyObject, capacity: Int, length: @escaping () -> Int,
         truncate: @escaping (Int) throws -> Void, copy: @escaping (SequenceBox, Int) throws -> Void) {
        self.model = model
        self.object = object
        self.capacity = capacity
        self.length = length
        self.truncate = truncate
        self.copy = copy
    }
}

struct RawEntry {
    let sequence: SequenceBox
    let input: DecoderInput
    let logits: LogitsRequest
}

extension PluginExport {
    /// Exports a text decoder plugin. Call it from your `@_cdecl("mh_plugin_entry_v1")` function.
    public static func textDecoder<P: TextDecoderPlugin>(_ plugin: P.Type, _ host: HostTable, _ out: DescriptorOut,
                                                       _ status: StatusOut) -> Int32 {
        let info = P.info
        guard let h = negotiate(host, out, status, info: info) else { return status?.pointee.code ?? -3 }
        let descriptor = ExportState.shared.descriptor(kind: .textDecoder, info: info, host: h) { state in
            state.probe = { P.probe($0, host: $1) }
            state.makeContext = { host in
                let instance = try P(host: host)
                return DecoderPluginBox { source in try makeModelBox(instance.openModel(source), info.capabilities) }
            }
            state.interfaces[MH_IID_TEXT_DECODER_V1] = UnsafeRawPointer(decoderTable)
        }
        out!.pointee = descriptor
        return 0
    }

    static func makeModelBox<M: DecoderModel>(_ model: M, _ capabilities: Capabilities) -> DecoderModelBox {
        let box = DecoderModelBox(object: model, info: model.info, capabilities: capabilities)
        box.makeSequence = { [unowned model] owner, capacity in
            let seq = try model.makeSequence(capacity: capacity)
            return SequenceBox(model: owner, object: seq, capacity: seq.capacity,
                               length: { [unowned seq] in seq.length },
                               truncate: { [unowned seq] n in try seq.truncate(to: n) },
                               copy: { [unowned seq] source, n in
                                   try seq.copy(from: unsafeDowncast(source.object, to: M.Sequence.self), count: n)
                               })
        }
        box.forward = { [unowned model] raw, cancel in
            let entries = raw.map {
                DecoderBatchEntry(sequence: unsafeDowncast($0.sequence.object, to: M.Sequence.self),
                                  input: $0.input, logits: $0.logits)
            }
            try model.forward(entries, cancellation: cancel)
        }
        return box
    }
}

// MARK: - The C table

private func model(_ p: OpaquePointer?) -> DecoderModelBox? {
    p.map { Unmanaged<DecoderModelBox>.fromOpaque(UnsafeRawPointer($0)).takeUnretainedValue() }
}

private func sequence(_ p: OpaquePointer?) -> SequenceBox? {
    p.map { Unmanaged<SequenceBox>.fromOpaque(UnsafeRawPointer($0)).takeUnretainedValue() }
}

let decoderTable: UnsafeMutablePointer<mh_text_decoder_v1> = {
    let t = UnsafeMutablePointer<mh_text_decoder_v1>.allocate(capacity: 1)
    t.initialize(to: mh_text_decoder_v1())
    t.pointee.struct_size = UInt32(MemoryLayout<mh_text_decoder_v1>.size)
    t.pointee.model_open = { context, desc, out, status in
        guard let context, let desc, let out else {
            return writeStatus(status, .invalidArgument, "model_open: context, desc and out must not be NULL")
        }
        return guarded(status) {
            let plugin = Unmanaged<AnyObject>.fromOpaque(context).takeUnretainedValue()
            guard let decoder = plugin as? DecoderPluginBox else {
                throw PluginError.invalidArgument("model_open: the context is not a text decoder's")
            }
            let box = try decoder.open(try ModelSource(desc, decoder: true))
            out.pointee = OpaquePointer(Unmanaged.passRetained(box).toOpaque())
        }
    }
    t.pointee.model_close = { m in
        guard let m else { return }
        Unmanaged<DecoderModelBox>.fromOpaque(UnsafeRawPointer(m)).release()
    }
    t.pointee.model_info = { m, out, status in
        guard let box = model(m), let out else {
            return writeStatus(status, .invalidArgument, "model_info: model and out must not be NULL")
        }
        guard out.pointee.struct_size >= UInt32(MH_DECODER_INFO_SIZE_1_0) else {
            return writeStatus(status, .invalidArgument, "model_info: mh_decoder_info.struct_size is too small")
        }
        let i = box.info
        out.pointee.vocab_size = UInt32(clamping: i.vocabularySize)
        out.pointee.embedding_length = UInt32(clamping: i.embeddingLength)
        out.pointee.context_length = UInt32(clamping: i.contextLength)
        out.pointee.max_batch_tokens = UInt32(clamping: i.maxBatchTokens)
        return 0
    }
    t.pointee.seq_create = { m, capacity, out, status in
        guard let box = model(m), let out else {
            return writeStatus(status, .invalidArgument, "seq_create: model and out must not be NULL")
        }
        guard capacity >= 1, Int(capacity) <= box.info.contextLength else {
            return writeStatus(status, .invalidArgument,
                               "seq_create: capacity \(capacity) is outside 1...\(box.info.contextLength)")
        }
        return guarded(status) {
            let seq = try box.makeSequence(box, Int(capacity))
            out.pointee = OpaquePointer(Unmanaged.passRetained(seq).toOpaque())
        }
    }
    t.pointee.seq_destroy = { s in
        guard let s else { return }
        Unmanaged<SequenceBox>.fromOpaque(UnsafeRawPointer(s)).release()
    }
    t.pointee.seq_length = { s in
        guard let seq = sequence(s) else { return 0 }
        return UInt32(clamping: seq.length())
    }
    t.pointee.seq_truncate = { s, keep, status in
        guard let seq = sequence(s) else {
            return writeStatus(status, .invalidArgument, "seq_truncate: sequence must not be NULL")
        }
        guard seq.model.capabilities.contains(.sequenceTruncate) else {
            return writeStatus(status, .unsupported, "seq_truncate: this plugin cannot truncate sequences")
        }
        let length = seq.length()
        guard Int(keep) <= length else {
            return writeStatus(status, .invalidArgument, "seq_truncate: cannot keep \(keep) of \(length) positions")
        }
        return guarded(status) { try seq.truncate(Int(keep)) }
    }
    t.pointee.seq_copy = { d, s, n, status in
        guard let destination = sequence(d), let source = sequence(s) else {
            return writeStatus(status, .invalidArgument, "seq_copy: dst and src must not be NULL")
        }
        guard destination !== source, destination.model === source.model else {
            return writeStatus(status, .invalidArgument, "seq_copy: dst and src must be distinct sequences of one model")
        }
        guard destination.model.capabilities.contains(.sequenceCopy) else {
            return writeStatus(status, .unsupported, "seq_copy: this plugin cannot copy sequences")
        }
        let length = source.length()
        guard Int(n) <= length, Int(n) <= destination.capacity else {
            return writeStatus(status, .invalidArgument,
                               "seq_copy: cannot copy \(n) positions (src holds \(length), dst can hold \(destination.capacity))")
        }
        return guarded(status) { try destination.copy(source, Int(n)) }
    }
    t.pointee.forward = { m, batch, status in
        guard let box = model(m), let batch else {
            return writeStatus(status, .invalidArgument, "forward: model and batch must not be NULL")
        }
        return guarded(status) {
            let entries = try validate(batch, for: box)
            try box.forward(entries, CancellationToken(batch.pointee.cancel_token))
        }
    }
    return t
}()

/// Checks everything the header promises the plugin about a batch, so implementations see only valid work.
private func validate(_ batch: UnsafePointer<mh_batch>, for box: DecoderModelBox) throws -> [RawEntry] {
    let b = batch.pointee
    guard b.struct_size >= UInt32(MH_BATCH_SIZE_1_0) else {
        throw PluginError.invalidArgument("forward: mh_batch.struct_size \(b.struct_size) is too small")
    }
    guard b.n_entries >= 1, let raw = b.entries else {
        throw PluginError.invalidArgument("forward: the batch has no entries")
    }
    if b.n_entries > 1 && !box.capabilities.contains(.batchedDecode) {
        throw PluginError.unsupported("forward: this plugin advances one sequence per call")
    }
    let info = box.info
    var seen = Set<ObjectIdentifier>()
    var total = 0
    var result: [RawEntry] = []
    result.reserveCapacity(Int(b.n_entries))
    // Entries lie the host's sizeof(mh_batch_entry) apart (entries[0].struct_size), which need not be this SDK's.
    let stride = Int(raw.pointee.struct_size)
    guard stride >= Int(MH_BATCH_ENTRY_SIZE_1_0) else {
        throw PluginError.invalidArgument("forward: entry 0 has struct_size \(stride)")
    }
    for i in 0..<Int(b.n_entries) {
        let e: mh_batch_entry = readCallerStruct(UnsafeRawPointer(raw) + i * stride)
        guard e.struct_size >= UInt32(MH_BATCH_ENTRY_SIZE_1_0) else {
            throw PluginError.invalidArgument("forward: entry \(i) has struct_size \(e.struct_size)")
        }
        guard let seq = sequence(e.seq) else { throw PluginError.invalidArgument("forward: entry \(i) has no sequence") }
        guard seq.model === box else {
            throw PluginError.invalidArgument("forward: entry \(i)'s sequence belongs to another model")
        }
        guard seen.insert(ObjectIdentifier(seq)).inserted else {
            throw PluginError.invalidArgument("forward: a sequence appears twice in one batch (entry \(i))")
        }
        let n = Int(e.n_tokens)
        guard n >= 1 else { throw PluginError.invalidArgument("forward: entry \(i) has no tokens") }
        guard seq.length() + n <= seq.capacity else {
            throw PluginError.invalidArgument(
                "forward: entry \(i) needs \(seq.length() + n) positions, the sequence holds \(seq.capacity)")
        }
        total += n
        let input: DecoderInput
        switch (e.tokens, e.embeddings) {
        case (let tokens?, nil):
            let buffer = UnsafeBufferPointer(start: tokens, count: n)
            if let bad = buffer.first(where: { $0 < 0 || Int($0) >= info.vocabularySize }) {
                throw PluginError.invalidArgument("forward: token id \(bad) is outside 0..<\(info.vocabularySize)")
            }
            input = .tokens(buffer)
        case (nil, let embeddings?):
            guard box.capabilities.contains(.embeddingInput) else {
                throw PluginError.unsupported("forward: this plugin does not accept embeddings")
            }
            input = .embeddings(UnsafeBufferPointer(start: embeddings, count: n * info.embeddingLength), count: n)
        default:
            throw PluginError.invalidArgument("forward: entry \(i) must set exactly one of tokens and embeddings")
        }
        let logits: LogitsRequest
        switch e.logits_mode {
        case UInt32(MH_LOGITS_NONE.rawValue): logits = .none
        case UInt32(MH_LOGITS_LAST.rawValue):
            guard let out = e.logits else { throw PluginError.invalidArgument("forward: entry \(i) has no logits buffer") }
            logits = .last(UnsafeMutableBufferPointer(start: out, count: info.vocabularySize))
        case UInt32(MH_LOGITS_ALL.rawValue):
            guard box.capabilities.contains(.logitsAll) else {
                throw PluginError.unsupported("forward: this plugin does not return logits for every position")
            }
            guard let out = e.logits else { throw PluginError.invalidArgument("forward: entry \(i) has no logits buffer") }
            logits = .all(UnsafeMutableBufferPointer(start: out, count: n * info.vocabularySize))
        default:
            throw PluginError.invalidArgument("forward: entry \(i) has unknown logits_mode \(e.logits_mode)")
        }
        result.append(RawEntry(sequence: seq, input: input, logits: logits))
    }
    if info.maxBatchTokens > 0 && total > info.maxBatchTokens {
        throw PluginError.invalidArgument("forward: \(total) tokens exceed the plugin's max_batch_tokens \(info.maxBatchTokens)")
    }
    return result
}
