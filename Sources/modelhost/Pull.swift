import ArgumentParser
import CommandLineSupport
import Foundation
import ModelCatalog
import ModelPull
import ServerConfig

/// `$HF_HOME` and the models directory as `serve` resolves them (MODELHOST_HF_HOME, HF_HOME, MODELHOST_MODELS_DIR).
private func catalogPlaces(modelsDir: String?) throws -> (hfHome: String, modelsDir: String) {
    let config = try ServerConfig.resolve(flags: ConfigFlags(modelsDir: modelsDir),
                                          environment: ProcessInfo.processInfo.environment,
                                          memory: SystemMemory.probe(LocalFileReader()))
    return (config.hfHome, config.modelsDir)
}

/// `modelhost pull ORG/NAME[:FILE-OR-QUANT]`.
struct Pull: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Download a model from a Hugging Face-compatible hub into the cache the server serves from.",
        discussion: """
            ORG/NAME:QUANT (or :FILE) takes one GGUF file of the repository (e.g. bartowski/SmolLM2-135M-Instruct-GGUF:Q4_K_M); \
            ORG/NAME alone takes its safetensors folder, or its only GGUF file. Files land in $HF_HOME/hub (MODELHOST_HF_HOME \
            or HF_HOME, default ~/.cache/huggingface); an interrupted pull resumes where it stopped, and every large file \
            is checked against the SHA-256 the hub lists. HF_ENDPOINT names another hub, HF_TOKEN authenticates.
            """)

    @Argument(help: "ORG/NAME or ORG/NAME:FILE-OR-QUANT.") var model: String

    func run() throws {
        let places = try catalogPlaces(modelsDir: nil)
        let pull = HubPull(options: .init(environment: ProcessInfo.processInfo.environment, hfHome: places.hfHome))
        let bar = ProgressLine(terminal: isatty(STDOUT_FILENO) == 1)
        let model = self.model
        try BlockingRunner.run {
            try await Self.pull(pull, model, bar)
        }
    }

    static func pull(_ pull: HubPull, _ model: String, _ bar: ProgressLine) async throws {
        do {
            let result = try await pull.pull(model) { bar.show($0) }
            bar.end()
            let mib = Double(result.bytesDownloaded) / 1_048_576
            print("pulled \(result.files.count) file(s), \(String(format: "%.1f", mib)) MiB downloaded"
                  + (result.resumedBytes > 0 ? " (resumed after \(result.resumedBytes) bytes)" : "")
                  + "; serve it as model \"\(result.modelID)\"")
        } catch {
            bar.end()
            throw RuntimeFailure("pull \(model): \(error)")
        }
    }
}

/// A progress bar on a terminal (one line, redrawn), else a plain line per file and every 25%.
final class ProgressLine: @unchecked Sendable {
    private let terminal: Bool
    private let lock = NSLock()
    private var lastFile = ""
    private var lastQuarter = -1
    private var drawn = false

    init(terminal: Bool) { self.terminal = terminal }

    func show(_ p: HubPull.Progress) {
        lock.withLock {
            let fraction = p.total > 0 ? Double(p.done) / Double(p.total) : 1
            let label = "[\(p.fileIndex + 1)/\(p.fileCount)] \(p.file)"
            let amounts = String(format: "%.1f/%.1f MiB", Double(p.done) / 1_048_576, Double(p.total) / 1_048_576)
            if terminal {
                let width = 30, filled = Int(fraction * Double(width))
                let bar = String(repeating: "#", count: filled) + String(repeating: " ", count: width - filled)
                print("\r\u{1B}[K\(label) [\(bar)] \(Int(fraction * 100))% \(amounts)", terminator: "")
                fflush(stdout)
                drawn = true
                if p.done == p.total, p.fileIndex + 1 < p.fileCount { print(""); drawn = false }
            } else {
                let quarter = Int(fraction * 4)
                if p.file != lastFile || quarter != lastQuarter {
                    print("\(label): \(Int(fraction * 100))% \(amounts)")
                    fflush(stdout)
                }
            }
            lastFile = p.file
            lastQuarter = Int(fraction * 4)
        }
    }

    func end() {
        lock.withLock { if drawn { print(""); drawn = false } }
    }
}

/// `modelhost list`: the models the server can serve.
struct ListModels: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "list", abstract: "List the models in the models directory and the Hugging Face cache.")

    @Option(help: "Directory of models (env MODELHOST_MODELS_DIR).") var modelsDir: String?

    func run() throws {
        let places = try catalogPlaces(modelsDir: modelsDir)
        let entries = ModelCatalog(modelsDir: places.modelsDir, hfHome: places.hfHome).entries()
        guard !entries.isEmpty else {
            print("no models in \(places.modelsDir) or \(places.hfHome)/hub (modelhost pull ORG/NAME:QUANT adds one)")
            return
        }
        let width = min(72, entries.map(\.id.count).max() ?? 10)
        for entry in entries {
            let size = entry.weightBytes
            print(entry.id.padding(toLength: max(width, entry.id.count), withPad: " ", startingAt: 0) + "  "
                  + entry.format.rawValue.padding(toLength: 11, withPad: " ", startingAt: 0)
                  + String(format: "%9.1f MiB", Double(size) / 1_048_576) + "  " + (entry.architecture ?? "?"))
        }
    }
}

/// `modelhost rm ID`: removes a pulled model from the Hugging Face cache.
struct RemoveModel: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "rm", abstract: "Remove a pulled model (org/name or org/name:QUANT) from the Hugging Face cache.")

    @Argument(help: "The model id as `modelhost list` shows it.") var model: String

    func run() throws {
        let places = try catalogPlaces(modelsDir: nil)
        do {
            let freed = try HubCache(hfHome: places.hfHome).remove(model)
            print("removed \(model) (\(String(format: "%.1f", Double(freed) / 1_048_576)) MiB freed)")
        } catch {
            throw RuntimeFailure("rm \(model): \(error)")
        }
    }
}
