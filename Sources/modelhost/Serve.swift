import ArgumentParser
import CommandLineSupport
import Foundation
import HTTPServer
import ModelCatalog
import PluginHost
import Presets
import ServerConfig
import struct Sampling.SamplingDefaults
import Supervisor
import WorkerBackend
import WorkerProtocol

/// `modelhost serve`: resolves the configuration (flags > environment > RAM tier), starts the worker supervisor
/// (which reaps whatever a crashed predecessor left), then runs the OpenAI API and the admin API until
/// SIGTERM/SIGINT, and finally drains in-flight requests and stops every worker.
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

    @Option(help: ArgumentHelp(
        "Model presets file (YAML: names, aliases and per-model settings; env MODELHOST_PRESETS; default "
            + "presets.yaml in the models directory when it exists). Reloaded on SIGHUP and POST /admin/reload.",
        valueName: "file"))
    var presets: String?

    @OptionGroup(title: "Defaults for requests that leave a value out (a model's own recommendations come first)")
    var defaults: SamplingDefaultOptions

    @Option(help: ArgumentHelp(
        "Browser origins allowed to call the API port, comma-separated, or * for any (default none; "
            + "env MODELHOST_CORS_ORIGINS). Never applies to the admin port.",
        valueName: "origins"))
    var corsOrigins: String?

    @Option(help: ArgumentHelp(
        "Seconds requests in flight at SIGTERM/SIGINT may still run before they are ended (default 30; env "
            + "MODELHOST_SHUTDOWN_GRACE). A second signal ends them at once.", valueName: "seconds"))
    var shutdownGrace: Double?

    @Option(name: .customLong("prefix-cache-mib"), help: ArgumentHelp(
        "The most memory, in MiB, each model's idle conversations may keep for prefix reuse (their KV caches, so "
            + "the next turn computes only what is new); least recently used go first, 0 keeps none (default: an "
            + "eighth of the memory budget; env MODELHOST_PREFIX_CACHE_MIB).", valueName: "MiB"))
    var prefixCacheMiB: Int?

    @Option(name: .customLong("kv-cache-type"), help: ArgumentHelp(
        "How models store their KV caches: f32 (default: float32-class accuracy), f16, bf16 (half the memory) or "
            + "q8_0 (about a quarter): faster decoding at long contexts, slightly less accurate; env "
            + "MODELHOST_KV_CACHE_TYPE; a preset's kv_cache_type wins for its model).", valueName: "type"))
    var kvCacheType: String?

    @Flag(name: .customLong("no-chat-page"),
          help: "Do not serve the browser chat page at / on the API port (env MODELHOST_CHAT_PAGE=false).")
    var noChatPage = false

    func run() throws {
        // Signals first, before any thread starts, so that every thread leaves them to the signal sources.
        let shutdown = ShutdownHook()
        let reload = ReloadHook()
        let signals = SignalHandling(signals: [SIGTERM, SIGINT, SIGHUP]) { signal in
            if signal == SIGHUP { reload.fire() } else { shutdown.fire(reason: signal == SIGINT ? "SIGINT" : "SIGTERM") }
        }
        defer { signals.cancel() }
        let flags = ConfigFlags(host: host, port: port, adminHost: adminHost, adminPort: adminPort,
                                modelsDir: modelsDir, stateDir: stateDir, pluginPath: pluginPath,
                                sampling: defaults.values, corsOrigins: corsOrigins.map(CORSOriginList.parse),
                                shutdownGraceSeconds: shutdownGrace, chatPage: noChatPage ? false : nil,
                                prefixCacheMiB: prefixCacheMiB, kvCacheType: kvCacheType)
        let config: ServerConfig
        do {
            config = try ServerConfig.resolve(flags: flags, environment: ProcessInfo.processInfo.environment,
                                              memory: SystemMemory.probe(LocalFileReader()))
        } catch {
            throw RuntimeFailure("configuration: \(error.message)")
        }
        let catalog = ModelCatalog(modelsDir: config.modelsDir, hfHome: config.hfHome)
        let supervisor: Supervisor
        do {
            supervisor = try Supervisor(configuration: Self.supervisorConfiguration(config))
        } catch {
            throw RuntimeFailure("cannot start the worker supervisor in \(config.stateDir): \(error)")
        }
        let reaped = supervisor.reapReport
        if !reaped.killed.isEmpty || !reaped.unlinkedNames.isEmpty {
            print("modelhost: cleaned up after a previous run: \(reaped.killed.count) orphaned worker(s) stopped, "
                  + "\(reaped.unlinkedNames.count) shared-memory name(s) removed")
        }
        var template = ModelSpec(id: "", path: "", pluginPaths: config.pluginPath.map { [$0] } ?? [])
        template.pluginPin = ProcessInfo.processInfo.environment["MODELHOST_PLUGIN_PIN"] ?? ""
        template.maxSequences = min(16, config.maxConcurrentRequests)
        template.prefixCacheBytes = UInt64(config.prefixCacheMiB) << 20
        template.kvCacheType = config.kvCacheType
        template.vision = VisionSettings(
            maxDimension: UInt32(config.vision.effectiveMaxDimension), maxPixels: UInt64(config.vision.maxPixels),
            cacheEntries: UInt32(config.vision.effectiveCacheEntries),
            cacheTTLSeconds: UInt32(config.vision.resizeCacheTTLSeconds))
        // Which families are embedding models, from the installed plugins' manifests (read once, never loaded here).
        let plugins = PluginDiscovery.discover(in: .standard(extra: template.pluginPaths))
        let backend = WorkerBackend(catalog: catalog, supervisor: supervisor, template: template,
                                    isEncoderFamily: { PluginSelector.isEncoderFamily($0, among: plugins) })
        let presetsPath = presets ?? ProcessInfo.processInfo.environment["MODELHOST_PRESETS"]
            ?? { let p = config.modelsDir + "/presets.yaml"; return FileManager.default.fileExists(atPath: p) ? p : nil }()
        if let presetsPath {
            do throws(PresetError) {
                try backend.setPresets(try PresetCatalog.load(path: presetsPath))
            } catch {
                throw RuntimeFailure(error.message)
            }
            Self.log("presets from \(presetsPath): \(backend.presets.presets.map(\.name).joined(separator: ", "))")
        }
        reload.install {
            Task {
                do throws(BackendError) {
                    let names = try await backend.reloadPresets()
                    Self.log("SIGHUP: presets reloaded (\(names.joined(separator: ", ")))")
                } catch {
                    Self.log("SIGHUP: presets not reloaded, the ones in force stay: \(error)")
                }
            }
        }
        let server = ModelHostServer(backend: backend, options: ServerOptions(config: config))
        let grace = Duration.milliseconds(Int64(config.shutdownGraceSeconds * 1000))
        try BlockingRunner.run {
            do {
                let running = try await server.start(handleSignals: false)
                shutdown.install { signal in
                    Self.log("\(signal): shutting down (grace \(config.shutdownGraceSeconds) s; a second signal ends "
                             + "the requests still running at once)")
                    server.beginShutdown(running, grace: grace)
                }
                for preset in backend.presets.presets where preset.loadAtStart {
                    Task {
                        do throws(BackendError) {
                            try await backend.load(model: preset.name)
                            Self.log("loaded \(preset.name) at start (load_at_start)")
                        } catch {
                            Self.log("could not load \(preset.name) at start: \(error)")
                        }
                    }
                }
                print("modelhost: API on http://\(config.host):\(running.apiPort), admin on "
                      + "http://\(config.adminHost):\(running.adminPort) (\(config.tier.rawValue), "
                      + "\(config.totalRAMGiB) GiB from \(config.memorySource)); models from \(config.modelsDir)")
                fflush(stdout)
                try await running.wait()
            } catch {
                await supervisor.shutdown(drainTimeout: 0)
                throw error
            }
            // The HTTP servers ended their requests (within the grace time); now stop the workers, clean the registry.
            Self.log("HTTP servers stopped; stopping the workers")
            await supervisor.shutdown(drainTimeout: 5)
            Self.log("workers stopped, shared memory and registry cleaned; exiting")
        }
    }

    static func log(_ line: String) {
        print("modelhost: \(line)")
        fflush(stdout)
    }

    static func supervisorConfiguration(_ config: ServerConfig) -> SupervisorConfiguration {
        let worker = URL(fileURLWithPath: currentExecutable()).deletingLastPathComponent()
            .appendingPathComponent("modelhost-worker").path
        var configuration = SupervisorConfiguration(stateDirectory: config.stateDir, workerExecutable: worker,
                                                    models: [])
        configuration.idleUnloadAfter = config.idleTimeoutSeconds > 0 ? Double(config.idleTimeoutSeconds) : nil
        configuration.loadTimeout = Double(config.modelLoadTimeoutSeconds)
        configuration.memoryBudgetBytes = UInt64(config.memoryBudgetGiB) << 30
        configuration.estimateWorkerBytes = { WorkerBackend.estimatedWorkerBytes($0) }
        return configuration
    }
}

/// `serve`'s flags for the server-wide sampling defaults; each wins over its environment variable.
struct SamplingDefaultOptions: ParsableArguments {
    @Option(help: "Sampling temperature (default 0.8; env MODELHOST_TEMPERATURE).")
    var temperature: Double?

    @Option(help: "Top-k, 0 = off (default 40; env MODELHOST_TOP_K).")
    var topK: Int?

    @Option(help: "Top-p (default 0.95; env MODELHOST_TOP_P).")
    var topP: Double?

    @Option(help: "Min-p (default 0.05; env MODELHOST_MIN_P).")
    var minP: Double?

    @Option(help: "Repetition penalty, 1 = off (default 1; env MODELHOST_REPETITION_PENALTY).")
    var repetitionPenalty: Double?

    @Option(help: ArgumentHelp("Longest chat answer in tokens when a request names no max_tokens (default 2048; "
                               + "env MODELHOST_MAX_TOKENS). /v1/completions keeps OpenAI's default of 16."))
    var maxTokens: Int?

    var values: SamplingDefaults {
        SamplingDefaults(temperature: temperature, topK: topK, topP: topP, minP: minP,
                         repetitionPenalty: repetitionPenalty, maxTokens: maxTokens)
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
