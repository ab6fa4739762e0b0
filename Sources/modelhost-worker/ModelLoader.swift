import Foundation
import ModelFormats
import PluginHost
import WorkerProtocol

/// Everything a loaded model keeps alive for the rest of the worker's life (plugins are never unloaded: the worker's
/// exit is the unload).
struct LoadedModel {
    let host: HostServices
    let context: PluginContext
    let weights: WeightsService
    let model: DecoderModelHandle
    let info: LoadedInfo
}

/// Opens a model file through the decoder plugin its family selects, and nothing else.
enum ModelLoader {
    static func load(_ request: LoadRequest) throws(WorkerFailure) -> LoadedModel {
        let gguf: GGUFFile
        do {
            gguf = try GGUFFile(path: request.modelPath)
        } catch {
            throw WorkerFailure(.badRequest, "cannot read the model file \(request.modelPath): \(error)")
        }
        let family = request.family.isEmpty ? (gguf.architecture ?? "") : request.family
        guard !family.isEmpty else {
            throw WorkerFailure(.badRequest, "\(request.modelPath) declares no general.architecture; pass a family")
        }
        let host = HostServices(threads: Int(max(1, request.threads)))
        let plugins = PluginDiscovery.discover(in: .standard(extra: request.pluginPaths))
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
            let weights = WeightsService(GGUFWeights(gguf))
            let model = try decoder.openModel(weights: weights, path: request.modelPath,
                                              maxSequences: Int(max(1, request.maxSequences)))
            let eos = gguf.metadata["tokenizer.ggml.eos_token_id"]?.intValue.map { Int32(clamping: $0) } ?? -1
            let info = LoadedInfo(pluginID: plugin.id, pluginVersion: plugin.version,
                                  vocabularySize: UInt32(clamping: model.vocabularySize),
                                  contextLength: UInt32(clamping: model.contextLength), eosTokenID: eos)
            return LoadedModel(host: host, context: context, weights: weights, model: model, info: info)
        } catch {
            throw WorkerFailure(.workerFailure, "plugin \(plugin.id) cannot open \(request.modelPath): \(error)")
        }
    }
}
