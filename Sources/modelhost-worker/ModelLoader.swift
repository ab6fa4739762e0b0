import EngineCore
import Foundation
import ModelFormats
import ModelHostABI
import PluginHost
import Tokenizer
import WorkerProtocol

/// Everything a loaded model keeps alive for the rest of the worker's life (plugins are never unloaded: the worker's
/// exit is the unload).
struct LoadedModel {
    let host: HostServices
    let context: PluginContext
    let weights: WeightsService
    let model: DecoderModelHandle
    let engine: ModelEngine
    let info: LoadedInfo
    /// The image preprocessor and vision encoder, for a model with a projector.
    let vision: VisionStack?
}

/// A text encoder (embedding) model: its plugin, model and tokenizer, kept for the worker's life.
struct LoadedEncoder {
    let host: HostServices
    let context: PluginContext
    let weights: WeightsService
    let model: EncoderModelHandle
    /// nil for a model whose files carry no tokenizer: it embeds token ids only.
    let tokenizer: (any TextTokenizer)?
    let info: LoadedInfo
}

/// What a worker serves: a generation model (a text decoder, perhaps with a vision stack) or an embedding model.
enum LoadedWorker {
    case decoder(LoadedModel)
    case encoder(LoadedEncoder)

    var info: LoadedInfo {
        switch self {
        case .decoder(let model): model.info
        case .encoder(let encoder): encoder.info
        }
    }
}

/// Opens a model through the plugin its family selects (a text decoder, or a text encoder for a family only encoder
/// plugins claim), and nothing else.
enum ModelLoader {
    /// The model directory for a directory path or a file inside one.
    static func directoryOf(_ path: String) -> String {
        var isDirectory: ObjCBool = false
        if FileManager.default.fileExists(atPath: path, isDirectory: &isDirectory), isDirectory.boolValue { return path }
        return URL(fileURLWithPath: path).deletingLastPathComponent().path
    }

    /// `progress` receives the load's progress (0...1) while the plugin opens the model, on the plugin's thread.
    static func load(_ request: LoadRequest,
                     progress: (@Sendable (Float) -> Void)? = nil) throws(WorkerFailure) -> LoadedWorker {
        // A GGUF file, or a Hugging Face / MLX safetensors directory.
        let weights: any ModelWeights
        do {
            weights = try openModelWeights(path: request.modelPath)
        } catch {
            throw WorkerFailure(.badRequest, "cannot read the model \(request.modelPath): \(error)")
        }
        let gguf = (weights as? GGUFWeights)?.file
        // A Hugging Face vision-language folder (Idefics3) declares its decoder's family in text_config.
        let safetensors = weights as? SafetensorsWeights
        let declaredFamily = gguf?.architecture
            ?? safetensors?.metadata("text_config.model_type")?.stringValue ?? safetensors?.family
        let family = request.family.isEmpty ? (declaredFamily ?? "") : request.family
        guard !family.isEmpty else {
            throw WorkerFailure(.badRequest, "\(request.modelPath) declares no architecture "
                + "(general.architecture or config.json model_type); pass a family")
        }
        let host = HostServices(threads: Int(max(1, request.threads)))
        let plugins = PluginDiscovery.discover(in: .standard(extra: request.pluginPaths))
        if PluginSelector.isEncoderFamily(family, among: plugins) {
            return .encoder(try loadEncoder(request, family: family, weights: weights, host: host, plugins: plugins,
                                            progress: progress))
        }
        // The tokenizer and chat template come with the weights; a model without them still serves token prompts.
        var prompts: PromptBuilder?
        do {
            if let gguf {
                if gguf.metadata["tokenizer.ggml.model"] != nil { prompts = try PromptBuilder(gguf: gguf) }
            } else {
                prompts = try PromptBuilder(directory: directoryOf(request.modelPath))
            }
        } catch {
            throw WorkerFailure(.badRequest, "\(request.modelPath): \(error.message)")
        }
        if prompts?.usesFallbackTemplate == true {
            WorkerLog.write("\(request.modelPath) has no chat template; chat requests use the ChatML fallback")
        }
        let plugin: LoadedPlugin
        do {
            let pin = request.pluginPin.isEmpty ? nil : request.pluginPin
            let (selected, decisions) = try PluginSelector.select(
                PluginRequest(kind: .textDecoder, family: family, pin: pin), among: plugins, host: host)
            decisions.forEach { WorkerLog.write("plugin selection: \($0)") }
            plugin = selected
        } catch {
            throw WorkerFailure(.badRequest, "no decoder plugin for family \"\(family)\": \(error)")
        }
        do {
            let context = try plugin.initialize()
            let decoder = try TextDecoderClient(context)
            let service = WeightsService(weights)
            service.reportProgress(to: progress.map { report in { report(Float($0)) } })
            defer { service.reportProgress(to: nil) }
            let model = try decoder.openModel(weights: service, path: request.modelPath,
                                              maxSequences: Int(max(1, request.maxSequences)),
                                              kvCacheType: request.kvCacheType.abiValue)
            let eos = (gguf?.metadata["tokenizer.ggml.eos_token_id"] ?? weights.metadata("eos_token_id"))?.intValue
                .map { Int32(clamping: $0) }
            var vision: VisionStack?
            if !request.projectorPath.isEmpty {
                vision = try VisionStack.load(request, host: host, plugins: plugins, runtimeTag: plugin.runtimeTag,
                                              tokenizer: prompts?.tokenizer, decoderEmbedding: model.embeddingLength)
            }
            // A preset may serve less context than the model has (less KV memory per sequence), never more.
            let servedContext = request.contextLength > 0 ? min(model.contextLength, Int(request.contextLength))
                : model.contextLength
            let engine = ModelEngine(prompts: prompts, vocabularySize: model.vocabularySize,
                                     contextLength: servedContext, eosToken: eos, vision: vision)
            let info = LoadedInfo(pluginID: plugin.id, pluginVersion: plugin.version,
                                  vocabularySize: UInt32(clamping: model.vocabularySize),
                                  contextLength: UInt32(clamping: servedContext), eosTokenID: eos ?? -1,
                                  hasTokenizer: prompts != nil, acceptsImages: vision != nil,
                                  kvCacheType: request.kvCacheType)
            return .decoder(LoadedModel(host: host, context: context, weights: service, model: model, engine: engine,
                                        info: info, vision: vision))
        } catch let failure as WorkerFailure {
            throw failure
        } catch {
            throw WorkerFailure(.workerFailure, "plugin \(plugin.id) cannot open \(request.modelPath): \(error)")
        }
    }

    /// An embedding model: the text encoder plugin its family selects and the tokenizer its files carry (a GGUF's
    /// metadata, or the folder's tokenizer.json). No chat template: an encoder has no prompts.
    static func loadEncoder(_ request: LoadRequest, family: String, weights: any ModelWeights, host: HostServices,
                            plugins: [DiscoveredPlugin],
                            progress: (@Sendable (Float) -> Void)?) throws(WorkerFailure) -> LoadedEncoder {
        var tokenizer: (any TextTokenizer)?
        do {
            if let gguf = (weights as? GGUFWeights)?.file {
                if gguf.metadata["tokenizer.ggml.model"] != nil { tokenizer = try Tokenizers.load(gguf: gguf) }
            } else {
                let path = directoryOf(request.modelPath) + "/tokenizer.json"
                if FileManager.default.fileExists(atPath: path) { tokenizer = try Tokenizers.load(tokenizerJSON: path) }
            }
        } catch {
            throw WorkerFailure(.badRequest, "\(request.modelPath): \(error)")
        }
        let plugin: LoadedPlugin
        do {
            let pin = request.pluginPin.isEmpty ? nil : request.pluginPin
            let (selected, decisions) = try PluginSelector.select(
                PluginRequest(kind: .textEncoder, family: family, format: weights.format, pin: pin), among: plugins,
                host: host)
            decisions.forEach { WorkerLog.write("plugin selection: \($0)") }
            plugin = selected
        } catch {
            throw WorkerFailure(.badRequest, "no text encoder plugin for family \"\(family)\": \(error)")
        }
        do {
            let context = try plugin.initialize()
            let encoder = try TextEncoderClient(context)
            let service = WeightsService(weights)
            service.reportProgress(to: progress.map { report in { report(Float($0)) } })
            defer { service.reportProgress(to: nil) }
            let model = try encoder.openModel(weights: service, path: request.modelPath)
            if let tokenizer, tokenizer.vocabularySize > model.vocabularySize {
                throw WorkerFailure(.badRequest, "\(request.modelPath): the tokenizer has \(tokenizer.vocabularySize) "
                    + "tokens, the encoder's vocabulary only \(model.vocabularySize)")
            }
            let info = LoadedInfo(pluginID: plugin.id, pluginVersion: plugin.version,
                                  vocabularySize: UInt32(clamping: model.vocabularySize),
                                  contextLength: UInt32(clamping: model.contextLength), eosTokenID: -1,
                                  hasTokenizer: tokenizer != nil, acceptsImages: false,
                                  embeddingLength: UInt32(clamping: model.embeddingLength))
            WorkerLog.write("text encoder: \(model.embeddingLength)-dimensional \(model.pooling) vectors"
                + "\(model.normalized ? ", normalized" : ""), context \(model.contextLength)")
            return LoadedEncoder(host: host, context: context, weights: service, model: model, tokenizer: tokenizer,
                                 info: info)
        } catch let failure as WorkerFailure {
            throw failure
        } catch {
            throw WorkerFailure(.workerFailure, "plugin \(plugin.id) cannot open \(request.modelPath): \(error)")
        }
    }
}

extension KVCacheType {
    /// The ABI's name for this type (`enum mh_kv_cache_type`).
    var abiValue: mh_kv_cache_type {
        switch self {
        case .f32: MH_KV_F32
        case .f16: MH_KV_F16
        case .bf16: MH_KV_BF16
        case .q8_0: MH_KV_Q8_0
        }
    }
}
