import ArgumentParser
import Foundation
import HTTPServer
import ModelCatalog
import ServerConfig

/// `modelhost serve`: resolves the configuration (flags > environment > RAM tier), then runs the OpenAI API and the
/// admin API until SIGTERM/SIGINT. No inference backend is wired into this command yet, so generation, load and
/// unload answer 503 "no inference backend: …" while the model catalog is listed truthfully.
struct Serve: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Start the OpenAI-compatible API (default 127.0.0.1:11440) and the admin API (127.0.0.1:11441).")

    @Option(help: "API bind address (default 127.0.0.1; env MODELHOST_HOST).")
    var host: String?

    @Option(help: "API port (default 11440; env MODELHOST_PORT).")
    var port: Int?

    @Option(help: "Admin API bind address (default 127.0.0.1 whatever --host says; env MODELHOST_ADMIN_HOST).")
    var adminHost: String?

    @Option(help: "Admin API port (default 11441; env MODELHOST_ADMIN_PORT or MLX_ADMIN_PORT).")
    var adminPort: Int?

    @Option(help: "Directory of models: NAME.gguf is model id NAME (env MODELHOST_MODELS_DIR).")
    var modelsDir: String?

    @Option(help: "State directory for the process registry (env MODELHOST_STATE_DIR).")
    var stateDir: String?

    @Option(help: "Extra plugin directory (env MODELHOST_PLUGIN_PATH).")
    var pluginPath: String?

    func run() throws {
        let flags = ConfigFlags(host: host, port: port, adminHost: adminHost, adminPort: adminPort,
                                modelsDir: modelsDir, stateDir: stateDir, pluginPath: pluginPath)
        let config: ServerConfig
        do {
            config = try ServerConfig.resolve(flags: flags, environment: ProcessInfo.processInfo.environment,
                                              memory: SystemMemory.probe(LocalFileReader()))
        } catch {
            throw ValidationError("configuration: \(error.message)")
        }
        let catalog = ModelCatalog(modelsDir: config.modelsDir, hfHome: config.hfHome)
        let server = ModelHostServer(backend: BackendUnavailable(catalog: catalog), options: ServerOptions(config: config))
        try BlockingRunner.run {
            let running = try await server.start(handleSignals: true)
            print("modelhost: API on http://\(config.host):\(running.apiPort), admin on http://\(config.adminHost):\(running.adminPort) "
                  + "(\(config.tier.rawValue), \(config.totalRAMGiB) GiB from \(config.memorySource)); "
                  + "no inference backend is wired yet: generation answers 503")
            fflush(stdout)
            try await running.wait()
        }
    }
}

/// Runs async work from a synchronous command (the root command is synchronous) and returns its outcome.
enum BlockingRunner {
    private final class Outcome: @unchecked Sendable {
        var error: (any Error)?
    }

    static func run(_ work: @escaping @Sendable () async throws -> Void) throws {
        let outcome = Outcome()
        let done = DispatchSemaphore(value: 0)
        Task {
            do {
                try await work()
            } catch {
                outcome.error = error
            }
            done.signal()
        }
        done.wait()
        if let error = outcome.error { throw error }
    }
}
