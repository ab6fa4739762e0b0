/// A text encoder plugin (ABI 1.2): tokenized inputs in, one embedding vector per input out (for /v1/embeddings).
/// Implement this and an `EncoderModel`, and export it with `PluginExport.textEncoder`; its `PluginInfo` needs
/// `minimumHostMinor: 2` (the export helper raises a lower value, since no older host has this kind).
public protocol TextEncoderPlugin: AnyObject {
    associatedtype Model: EncoderModel
    static var info: PluginInfo { get }
    static func probe(_ query: ProbeQuery, host: Host) -> Int32
    init(host: Host) throws
    func openModel(_ source: ModelSource) throws -> Model
}

/// How token states become one vector (`enum mh_pooling`).
public enum Pooling: UInt32, Sendable {
    case mean = 1, cls = 2, last = 3, max = 4
}

public struct EncoderInfo: Sendable {
    public var embeddingLength: Int
    public var contextLength: Int
    /// The most tokens one `encode` call may carry in total; 0 = no limit.
    public var maxBatchTokens: Int
    public var vocabularySize: Int
    public var pooling: Pooling
    /// Whether every output has unit L2 length.
    public var normalized: Bool

    public init(embeddingLength: Int, contextLength: Int, maxBatchTokens: Int = 0, vocabularySize: Int,
                pooling: Pooling, normalized: Bool) {
        self.embeddingLength = embeddingLength
        self.contextLength = contextLength
        self.maxBatchTokens = maxBatchTokens
        self.vocabularySize = vocabularySize
        self.pooling = pooling
        self.normalized = normalized
    }
}

/// One input of an encode call, already checked against the model's info (lengths, ids).
public struct EncoderInput {
    public let tokens: UnsafeBufferPointer<Int32>
    /// Segment ids, or nil for all 0.
    public let tokenTypes: UnsafeBufferPointer<Int32>?
}

public protocol EncoderModel: AnyObject {
    var info: EncoderInfo { get }
    /// Encodes every input into its row of `output` (inputs.count × embeddingLength floats, the host's buffer). A row
    /// must not depend on the other inputs of the call. Poll `host.isCancelled(cancellation)` between layers.
    func encode(_ inputs: [EncoderInput], into output: UnsafeMutableBufferPointer<Float>,
                cancellation: CancellationToken) throws
}

final class EncoderPluginBox {
    let open: (ModelSource) throws -> EncoderModelBox
    init(open: @escaping (ModelSource) throws -> EncoderModelBox) { self.open = open }
}

final class EncoderModelBox {
    let model: any EncoderModel
    init(_ model: any EncoderModel) { self.model = model }
}

extension PluginExport {
    /// Exports a text encoder plugin. Call it from your `@_cdecl("mh_plugin_entry_v1")` function.
    public static func textEncoder<P: TextEncoderPlugin>(_ plugin: P.Type, _ host: HostTable, _ out: DescriptorOut,
                                                        _ status: StatusOut) -> Int32 {
        var info = P.info
        info.minimumHostMinor = max(info.minimumHostMinor, 2)
        guard let h = negotiate(host, out, status, info: info) else { return status?.pointee.code ?? -3 }
        out!.pointee = ExportState.shared.descriptor(kind: .textEncoder, info: info, host: h) { state in
            state.probe = { P.probe($0, host: $1) }
            state.makeContext = { host in
                let instance = try P(host: host)
                return EncoderPluginBox { EncoderModelBox(try instance.openModel($0)) }
            }
            state.interfaces[MH_IID_TEXT_ENCODER_V1] = UnsafeRawPointer(encoderTable)
        }
        return 0
    }
}

private func encoderModel(_ p: OpaquePointer?) -> EncoderModelBox? {
    p.map { Unmanaged<EncoderModelBox>.fromOpaque(UnsafeRawPointer($0)).takeUnretainedValue() }
}

let encoderTable: UnsafeMutablePointer<mh_text_encoder_v1> = {
    let t = UnsafeMutablePointer<mh_text_encoder_v1>.allocate(capacity: 1)
    t.initialize(to: mh_text_encoder_v1())
    t.pointee.struct_size = UInt32(MemoryLayout<mh_text_encoder_v1>.size)
    t.pointee.model_open = { context, desc, out, status in
        guard let context, let desc, let out else {
            return writeStatus(status, .invalidArgument, "model_open: context, desc and out must not be NULL")
        }
        return guarded(status) {
            guard let plugin = Unmanaged<AnyObject>.fromOpaque(context).takeUnretainedValue() as? EncoderPluginBox else {
                throw PluginError.invalidArgument("model_open: the context is not a text encoder's")
            }
            out.pointee = OpaquePointer(Unmanaged.passRetained(try plugin.open(try ModelSource(desc))).toOpaque())
        }
    }
    t.pointee.model_close = { m in
        guard let m else { return }
        Unmanaged<EncoderModelBox>.fromOpaque(UnsafeRawPointer(m)).release()
    }
    t.pointee.model_info = { m, out, status in
        guard let box = encoderModel(m), let out, out.pointee.struct_size >= UInt32(MH_ENCODER_INFO_SIZE_1_2) else {
            return writeStatus(status, .invalidArgument, "model_info: model and a full-size out are required")
        }
        let i = box.model.info
        var filled = mh_encoder_info()
        filled.struct_size = UInt32(MemoryLayout<mh_encoder_info>.size)
        filled.embedding_length = UInt32(clamping: i.embeddingLength)
        filled.context_length = UInt32(clamping: i.contextLength)
        filled.max_batch_tokens = UInt32(clamping: i.maxBatchTokens)
        filled.vocab_size = UInt32(clamping: i.vocabularySize)
        filled.pooling = i.pooling.rawValue
        filled.normalized = i.normalized ? 1 : 0
        mh_copy_out(out, &filled, MemoryLayout<mh_encoder_info>.size)
        return 0
    }
    t.pointee.encode = { m, batch, status in
        guard let box = encoderModel(m), let batch else {
            return writeStatus(status, .invalidArgument, "encode: model and batch must not be NULL")
        }
        let b = batch.pointee
        guard b.struct_size >= UInt32(MH_ENCODER_BATCH_SIZE_1_2) else {
            return writeStatus(status, .invalidArgument, "encode: mh_encoder_batch.struct_size \(b.struct_size) is too small")
        }
        guard b.n_inputs >= 1, let inputs = b.inputs, let out = b.out else {
            return writeStatus(status, .invalidArgument, "encode: a batch needs n_inputs >= 1, inputs and out")
        }
        let stride = Int(inputs.pointee.struct_size)
        guard stride >= Int(MH_ENCODER_INPUT_SIZE_1_2) else {
            return writeStatus(status, .invalidArgument, "encode: mh_encoder_input.struct_size \(stride) is too small")
        }
        let info = box.model.info
        let needed = UInt64(b.n_inputs) * UInt64(info.embeddingLength)
        guard b.out_capacity >= needed else {
            return writeStatus(status, .invalidArgument, "encode: out holds \(b.out_capacity) floats, \(needed) are needed")
        }
        var list: [EncoderInput] = []
        list.reserveCapacity(Int(b.n_inputs))
        var total = 0
        for index in 0..<Int(b.n_inputs) {
            let input = (UnsafeRawPointer(inputs) + index * stride).assumingMemoryBound(to: mh_encoder_input.self).pointee
            let count = Int(input.n_tokens)
            guard count >= 1, count <= info.contextLength, let tokens = input.tokens else {
                return writeStatus(status, .invalidArgument,
                                   "encode: input \(index) has \(count) tokens; 1...\(info.contextLength) are allowed")
            }
            let ids = UnsafeBufferPointer(start: tokens, count: count)
            if let bad = ids.first(where: { $0 < 0 || Int($0) >= info.vocabularySize }) {
                return writeStatus(status, .invalidArgument,
                                   "encode: input \(index) holds token \(bad), outside the vocabulary of \(info.vocabularySize)")
            }
            total += count
            list.append(EncoderInput(tokens: ids, tokenTypes: input.token_types.map { UnsafeBufferPointer(start: $0, count: count) }))
        }
        if info.maxBatchTokens > 0, total > info.maxBatchTokens {
            return writeStatus(status, .invalidArgument,
                               "encode: the batch carries \(total) tokens, more than max_batch_tokens \(info.maxBatchTokens)")
        }
        return guarded(status) {
            try box.model.encode(list, into: UnsafeMutableBufferPointer(start: out, count: Int(needed)),
                                 cancellation: CancellationToken(b.cancel_token))
        }
    }
    return t
}()
