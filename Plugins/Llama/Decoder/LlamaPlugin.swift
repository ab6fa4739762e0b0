import LlamaKernels
import ModelHostSDK

/// The Llama-family text decoder plugin (SmolLM2, Llama 2/3.x, Mistral, Qwen2/2.5): the ABI glue around the model in
/// LlamaKernels. It adapts the host's weights service to `WeightSource` and the SDK's batch to `LlamaModel.forward`;
/// everything numeric lives in the kernels module.
final class LlamaDecoder: TextDecoderPlugin {
    static let info = PluginInfo(
        id: "org.modelhost.llama",
        version: "0.1.0",
        buildInfo: "Swift SIMD kernels for x86-64-v3 (AVX2+FMA), float32 activations",
        capabilities: [.batchedDecode, .embeddingInput, .sequenceTruncate, .sequenceCopy, .logitsAll, .kvCacheF16,
                       .kvCacheBF16, .kvCacheQ8_0]
    )

    static func probe(_ query: ProbeQuery, host: Host) -> Int32 {
        guard query.kind == .textDecoder, LlamaConfig.architectures.contains(query.family.lowercased()) else { return 0 }
        // The kernels are compiled for AVX2+FMA; the manifest already keeps us off CPUs without them.
        guard host.cpuFeatures.contains([.avx2, .fma]) else { return 0 }
        return 100
    }

    let host: Host

    init(host: Host) throws { self.host = host }

    func openModel(_ source: ModelSource) throws -> LlamaDecoderModel {
        let adapter = WeightsAdapter(source.weights)
        do {
            // GGUF names and keys are what the model asks for; Hugging Face and MLX checkpoints are translated.
            let weights: WeightSource
            if let format = source.weights.format, format != .gguf {
                weights = try HuggingFaceSource(adapter)
            } else {
                weights = adapter
            }
            let config = try LlamaConfig(from: weights)
            let model = try LlamaModel(source: weights, config: config, threads: host.threads)
            for name in (weights as? HuggingFaceSource)?.expandedToFloat32 ?? [] {
                host.log(.warning, "llama: \(name) has MLX scales or biases that are not float16 values; expanded to float32")
            }
            let context = source.maxContext > 0 ? min(source.maxContext, config.contextLength) : config.contextLength
            let cacheType: KVCacheType
            switch source.kvCacheType {
            case .f32: cacheType = .f32
            case .f16: cacheType = .f16
            case .bf16: cacheType = .bf16
            case .q8_0:
                guard config.headDimension % KVCacheType.blockLength == 0 else {
                    throw PluginError.unsupported("\(source.path): a q8_0 KV cache needs a head dimension that is a "
                        + "multiple of 32; this model's is \(config.headDimension) (use f16 or bf16)")
                }
                cacheType = .q8_0
            }
            host.log(.info, "llama: \(config.layers) layers, d_model \(config.embedding), vocab \(config.vocabulary), "
                     + "\(host.threads) threads, \(cacheType.rawValue) KV cache")
            return LlamaDecoderModel(model: model, host: host, contextLength: context, cacheType: cacheType)
        } catch let error as PluginError {
            throw error
        } catch {
            throw PluginError.badModel("\(source.path): \(error)")
        }
    }
}

final class LlamaDecoderModel: DecoderModel {
    let model: LlamaModel
    let host: Host
    let info: DecoderInfo
    let cacheType: KVCacheType

    init(model: LlamaModel, host: Host, contextLength: Int, cacheType: KVCacheType) {
        self.model = model
        self.host = host
        self.cacheType = cacheType
        info = DecoderInfo(vocabularySize: model.config.vocabulary, embeddingLength: model.config.embedding,
                           contextLength: contextLength)
    }

    /// The key/value cache comes from the host's accounted allocator, so the worker counts it and a memory budget
    /// refuses a sequence cleanly instead of the process being OOM-killed.
    func makeSequence(capacity: Int) throws -> LlamaSequenceBox {
        let host = self.host
        let allocator = KVAllocator(allocate: { host.allocate(byteCount: $0, alignment: 64) },
                                    release: { host.deallocate($0) })
        do {
            return LlamaSequenceBox(try model.makeSequence(capacity: capacity, cacheType: cacheType, allocator: allocator))
        } catch LlamaModelError.outOfMemory(let bytes) {
            throw PluginError.outOfMemory("a sequence of \(capacity) positions needs \(bytes) bytes of KV cache beyond the worker's memory budget")
        } catch {
            throw PluginError.invalidArgument("\(error)")
        }
    }

    func forward(_ entries: [DecoderBatchEntry<LlamaSequenceBox>], cancellation: CancellationToken) throws {
        if host.isCancelled(cancellation) { throw PluginError.cancelled }
        let batch = entries.map { e -> LlamaBatchEntry in
            let input: LlamaInput
            switch e.input {
            case .tokens(let t): input = .tokens(Array(t))
            case .embeddings(let x, _): input = .embeddings(Array(x))
            }
            let logits: LlamaKernels.LogitsRequest
            switch e.logits {
            case .none: logits = .none
            case .last: logits = .last
            case .all: logits = .all
            }
            return LlamaBatchEntry(sequence: e.sequence.sequence, input: input, logits: logits)
        }
        let outputs: [[Float]]
        do {
            outputs = try model.forward(batch)
        } catch {
            throw PluginError.invalidArgument("\(error)")
        }
        for (entry, out) in zip(entries, outputs) {
            switch entry.logits {
            case .none: break
            case .last(let buffer), .all(let buffer):
                guard out.count == buffer.count else {
                    throw PluginError(.internal, "the model returned \(out.count) logits, the host expects \(buffer.count)")
                }
                _ = buffer.update(fromContentsOf: out)
            }
        }
    }
}

/// The SDK-facing sequence: LlamaSequence lives in the kernels module, which knows nothing of the SDK.
final class LlamaSequenceBox: DecoderSequence {
    let sequence: LlamaSequence
    init(_ sequence: LlamaSequence) { self.sequence = sequence }
    var length: Int { sequence.count }
    var capacity: Int { sequence.capacity }
    func truncate(to count: Int) throws { try sequence.truncate(to: count) }
    func copy(from source: LlamaSequenceBox, count: Int) throws { try sequence.copy(from: source.sequence, count: count) }
}

/// The host's weights service as the kernels' `WeightSource`: row-major SDK views become GGUF-order views (innermost
/// dimension first), dtypes map one to one, and metadata comes through typed lookups. Nothing is copied. For
/// safetensors and MLX models it is the raw `CheckpointSource` under `HuggingFaceSource`.
struct WeightsAdapter: WeightSource, CheckpointSource {
    let weights: WeightsService
    init(_ weights: WeightsService) { self.weights = weights }

    func tensor(_ name: String) -> WeightView? {
        guard let t = try? weights.tensor(name), let type = Self.weightType(t.dtype) else { return nil }
        return WeightView(name: name, type: type, dimensions: t.shape.reversed(), data: t.data, byteCount: t.byteCount)
    }

    func unusableReason(_ name: String) -> String? {
        do {
            guard let t = try weights.tensor(name), Self.weightType(t.dtype) == nil else { return nil }
            return "it is stored as \(String(describing: t.dtype).uppercased())"
        } catch {
            return "\(error)"  // the host's own words, e.g. a type ABI v1 cannot describe (the i-quants)
        }
    }

    static func weightType(_ d: DType) -> WeightType? {
        switch d {
        case .f32: return .f32
        case .f16: return .f16
        case .bf16: return .bf16
        case .q4_0: return .q4_0
        case .q4_1: return .q4_1
        case .q5_0: return .q5_0
        case .q5_1: return .q5_1
        case .q8_0: return .q8_0
        case .q4_K: return .q4_K
        case .q5_K: return .q5_K
        case .q6_K: return .q6_K
        case .iq4_nl: return .iq4_nl
        default: return nil
        }
    }

    var tensorNames: [String] { weights.tensorNames }

    func checkpointTensor(_ name: String) -> CheckpointTensor? {
        guard let t = try? weights.tensor(name) else { return nil }
        let dtype: CheckpointDType
        switch t.dtype {
        case .f32: dtype = .f32
        case .f16: dtype = .f16
        case .bf16: dtype = .bf16
        case .u32: dtype = .u32
        default: dtype = .other("\(t.dtype)")
        }
        return CheckpointTensor(name: name, dtype: dtype, shape: t.shape, data: t.data, byteCount: t.byteCount)
    }

    func bool(_ key: String) -> Bool? { weights.meta(key)?.boolValue }

    func int(_ key: String) -> Int? { weights.meta(key)?.intValue }
    func double(_ key: String) -> Double? { weights.meta(key)?.doubleValue }
    func string(_ key: String) -> String? { weights.meta(key)?.stringValue }
}

/// The plugin's one exported symbol.
@_cdecl("mh_plugin_entry_v1")
public func mh_plugin_entry_v1(_ host: HostTable, _ out: DescriptorOut, _ status: StatusOut) -> Int32 {
    PluginExport.textDecoder(LlamaDecoder.self, host, out, status)
}
