import Foundation
import ModelFormats
import PluginHost

// modelhost-worker: one process per loaded model. Until the IPC work lands it runs a load check: it selects the
// decoder plugin for a model, opens the model through the plugin and reports what it found, then exits.
// Usage: modelhost-worker --model PATH [--plugin-path DIR]

func argument(_ name: String) -> String? {
    let args = CommandLine.arguments
    guard let i = args.firstIndex(of: name), i + 1 < args.count else { return nil }
    return args[i + 1]
}

guard let modelPath = argument("--model") else {
    FileHandle.standardError.write(Data("usage: modelhost-worker --model PATH [--plugin-path DIR]\n".utf8))
    exit(2)
}

do {
    let gguf = try GGUFFile(path: modelPath)
    let family = gguf.architecture ?? ""
    let host = HostServices(threads: ProcessInfo.processInfo.activeProcessorCount)
    let plugins = PluginDiscovery.discover(in: .standard(extra: argument("--plugin-path").map { [$0] } ?? []))
    let pin = ProcessInfo.processInfo.environment["MODELHOST_PLUGIN_PIN"]
    let (plugin, decisions) = try PluginSelector.select(PluginRequest(kind: .textDecoder, family: family, pin: pin),
                                                        among: plugins, host: host)
    decisions.forEach { print("selection: \($0)") }
    let context = try plugin.initialize()
    let decoder = try TextDecoderClient(context)
    let weights = WeightsService(GGUFWeights(gguf))
    let model = try decoder.openModel(weights: weights, path: modelPath)
    print("loaded \(modelPath) with \(plugin.id) \(plugin.version): vocab \(model.vocabularySize), context \(model.contextLength)")
    model.close()
    context.shutdown()
} catch {
    FileHandle.standardError.write(Data("modelhost-worker: \(error)\n".utf8))
    exit(1)
}
