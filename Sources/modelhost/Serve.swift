import ArgumentParser
import Foundation
import PluginHost

/// `modelhost serve`: until the serving work lands, it checks that the default model and a decoder plugin for it are
/// installed and says so, instead of pretending to serve.
struct Serve: ParsableCommand {
    static let configuration = CommandConfiguration(abstract: "Start the API server (HTTP serving arrives with the serving work).")

    @Option(help: "Directory of models (NAME.gguf is model id NAME).")
    var modelsDir: String = ProcessInfo.processInfo.environment["MODELHOST_MODELS_DIR"] ?? "models"

    @Option(help: "Extra plugin directory searched before MODELHOST_PLUGIN_PATH and the installation's own.")
    var pluginPath: String?

    func run() throws {
        let models = ((try? FileManager.default.contentsOfDirectory(atPath: modelsDir)) ?? [])
            .filter { $0.hasSuffix(".gguf") }.sorted()
        let plugins = PluginDiscovery.discover(in: .standard(extra: pluginPath.map { [$0] } ?? []))
        print("modelhost: models in \(modelsDir): \(models.isEmpty ? "none" : models.joined(separator: ", "))")
        for p in plugins {
            print("modelhost: plugin \(p.manifest?.id ?? p.manifestPath): \(p.rejection?.description ?? "accepted")")
        }
        print("modelhost: the HTTP API (port 11440) is not implemented yet; see the open serving issue.")
        throw ExitCode(3)
    }
}
