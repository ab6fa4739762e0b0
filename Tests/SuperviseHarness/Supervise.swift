import ArgumentParser
import CommandLineSupport
import Foundation
import Sampling
import Supervisor
import WorkerProtocol

/// `modelhost-supervise` (a test harness, not part of the product): runs the worker supervisor for one model and serves line-delimited JSON on
/// stdin/stdout, so integration tests can drive a real orchestrator process, kill it, and restart it before the
/// HTTP layer exists. SIGTERM/SIGINT or end of input start a graceful shutdown.
///
/// Input lines:  {"op":"generate","id":"r1","prompt":[1,2],"max_tokens":8,"stop":[2],"timeout_ms":5000,
///                "temperature":0.7,"seed":1}      {"op":"status"}   {"op":"load"}   {"op":"unload"}
///               {"op":"shutdown"}
/// Output lines: {"event":"ready",...}  {"id":"r1","event":"tokens","tokens":[...]}
///               {"id":"r1","event":"done","finish_reason":"stop","prompt_tokens":2,"completion_tokens":1}
///               {"id":"r1","event":"error","category":"workerFailure","code":"workerCrashed","message":"..."}
///               {"event":"status","models":[...],"rss_kb":N}   {"event":"stopped"}
@main
struct Supervise: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "modelhost-supervise",
        abstract: "Run the worker supervisor with a JSON-lines interface on stdin/stdout (for tests).")

    @Option(help: "State directory (registry, lock, worker logs).") var stateDir: String
    @Option(help: "Model file to serve.") var model: String
    @Option(help: "Model id requests use.") var modelID = "default"
    @Option(help: "Plugin directory searched first (repeatable).") var pluginPath: [String] = []
    @Option(help: "Model family (default: the file's general.architecture).") var family = ""
    @Option(help: "Compute threads for the worker.") var threads = ProcessInfo.processInfo.activeProcessorCount
    @Option(help: "Sequences decoded together.") var maxSequences = 16
    @Option(help: "Unload the worker after this many idle seconds.") var idleTimeout: Double?
    @Option(help: "Seconds in-flight requests may take to finish at shutdown.") var drainTimeout: Double = 10
    @Option(help: "Seconds a cancelled request may take before its worker is killed.") var cancelGrace: Double = 2
    @Option(help: "Crashes within the crash window that start a back-off.") var crashLoopThreshold = 3
    @Option(help: "Path of modelhost-worker (default: beside this executable).") var worker: String?

    func run() throws {
        let workerPath = worker ?? URL(fileURLWithPath: currentExecutable()).deletingLastPathComponent()
            .appendingPathComponent("modelhost-worker").path
        var configuration = SupervisorConfiguration(
            stateDirectory: stateDir, workerExecutable: workerPath,
            models: [ModelSpec(id: modelID, path: URL(fileURLWithPath: model).path, family: family,
                               pluginPaths: pluginPath, threads: threads, maxSequences: maxSequences)])
        configuration.idleUnloadAfter = idleTimeout
        configuration.cancelGrace = cancelGrace
        configuration.crashLoopThreshold = crashLoopThreshold
        // Signals first, so every thread started later already routes them to the signal sources.
        let shutdownHook = ShutdownHook()
        let signals = SignalHandling { signal in shutdownHook.fire(reason: "signal \(signal)") }
        let supervisor: Supervisor
        do {
            supervisor = try Supervisor(configuration: configuration)
        } catch {
            throw RuntimeFailure("cannot start the supervisor: \(error)")
        }
        let session = SuperviseSession(supervisor: supervisor, modelID: modelID, drainTimeout: drainTimeout)
        shutdownHook.install { session.requestShutdown(reason: $0) }
        session.announceReady()
        session.startReadingInput()
        let code = session.waitUntilStopped()
        signals.cancel()
        if code != 0 { throw ExitCode(code) }
    }
}

/// The running `supervise` process: input lines become supervisor calls, events become output lines.
final class SuperviseSession: @unchecked Sendable {
    private let supervisor: Supervisor
    private let modelID: String
    private let drainTimeout: Double
    private let output = JSONLineWriter()
    private let stopped = DispatchSemaphore(value: 0)
    private let lock = NSLock()
    private var shuttingDown = false
    private var requests: [String: Task<Void, Never>] = [:]

    init(supervisor: Supervisor, modelID: String, drainTimeout: Double) {
        self.supervisor = supervisor
        self.modelID = modelID
        self.drainTimeout = drainTimeout
    }

    func announceReady() {
        let report = supervisor.reapReport
        output.write(["event": "ready", "pid": Int(getpid()), "reaped": report.killed.map { Int($0) },
                      "unlinked": report.unlinkedNames])
    }

    func startReadingInput() {
        let thread = Thread { [self] in
            // Not Swift's readLine: it holds stdin's stdio lock while it waits, and glibc 2.41 (Debian 13) takes every
            // stream's lock in exit(), so the process hung at exit while the client kept its end of the pipe open.
            let reader = LineReader()
            while let line = reader.readLine() {
                if !line.trimmingCharacters(in: .whitespaces).isEmpty { handle(line) }
            }
            requestShutdown(reason: "end of input")
        }
        thread.name = "supervise-input"
        thread.start()
    }

    /// Blocks the calling thread until shutdown finished; returns the exit status.
    func waitUntilStopped() -> Int32 {
        stopped.wait()
        return 0
    }

    func requestShutdown(reason: String) {
        let first = lock.withLock { () -> Bool in
            defer { shuttingDown = true }
            return !shuttingDown
        }
        guard first else { return }
        FileHandle.standardError.write(Data("modelhost-supervise: shutting down (\(reason))\n".utf8))
        Task {
            await supervisor.shutdown(drainTimeout: drainTimeout)
            let pending = lock.withLock { Array(requests.values) }
            for task in pending { await task.value }
            output.write(["event": "stopped"])
            stopped.signal()
        }
    }

    private func handle(_ line: String) {
        guard let object = try? JSONSerialization.jsonObject(with: Data(line.utf8)) as? [String: Any],
              let op = object["op"] as? String else {
            return output.write(["event": "error", "category": "badRequest", "code": "badLine",
                                 "message": "each input line must be a JSON object with an \"op\" field"])
        }
        switch op {
        case "generate": startGenerate(object)
        case "status":
            Task {
                let models = await supervisor.status().map { status -> [String: Any] in
                    var item: [String: Any] = ["id": status.id, "state": status.state.description,
                                               "recent_crashes": status.recentCrashes]
                    if let pid = status.workerPID { item["pid"] = Int(pid) }
                    return item
                }
                output.write(["event": "status", "models": models, "rss_kb": residentKilobytes()])
            }
        case "load":
            Task {
                do {
                    let info = try await supervisor.load(model: modelID)
                    output.write(["event": "loaded", "plugin": info.pluginID, "vocab": Int(info.vocabularySize),
                                  "context": Int(info.contextLength), "eos": Int(info.eosTokenID)])
                } catch {
                    output.write(errorLine(nil, error))
                }
            }
        case "unload":
            Task {
                await supervisor.unload(model: modelID)
                output.write(["event": "unloaded"])
            }
        case "shutdown":
            requestShutdown(reason: "shutdown requested")
        default:
            output.write(["event": "error", "category": "badRequest", "code": "badLine",
                          "message": "unknown op \"\(op)\"; use generate, status, load, unload or shutdown"])
        }
    }

    private func startGenerate(_ object: [String: Any]) {
        let id = (object["id"] as? String) ?? UUID().uuidString
        guard let prompt = (object["prompt"] as? [NSNumber])?.map({ Int32(truncating: $0) }),
              let maxTokens = (object["max_tokens"] as? NSNumber)?.intValue, maxTokens >= 0 else {
            return output.write(["id": id, "event": "error", "category": "badRequest", "code": "badLine",
                                 "message": "generate needs \"prompt\" (token ids) and \"max_tokens\" (>= 0)"])
        }
        let stop = ((object["stop"] as? [NSNumber]) ?? []).map { Int32(truncating: $0) }
        var sampling = Sampling.SamplingParameters.greedy
        if let temperature = (object["temperature"] as? NSNumber)?.floatValue, temperature > 0 {
            sampling = .temperature(temperature, seed: (object["seed"] as? NSNumber)?.uint64Value ?? 0)
        }
        let timeout = (object["timeout_ms"] as? NSNumber).map { $0.doubleValue / 1000 }
        let request = GenerateRequest(promptTokens: prompt, maxTokens: UInt32(clamping: maxTokens), stopTokens: stop,
                                      sampling: sampling)
        let stream = supervisor.generate(model: modelID, request: request, options: GenerateOptions(timeout: timeout))
        let task = Task { [output] in
            do {
                for try await event in stream {
                    switch event {
                    case .delta(let delta):
                        output.write(["id": id, "event": "tokens", "tokens": delta.tokens.map { Int($0) }])
                    case .done(let c):
                        output.write(["id": id, "event": "done", "finish_reason": "\(c.finishReason)",
                                      "prompt_tokens": Int(c.promptTokens),
                                      "completion_tokens": Int(c.completionTokens)])
                    case .loaded, .accepted, .prompt, .error, .loadProgress, .pong, .tokenizerReply, .embedding:
                        break
                    }
                }
            } catch {
                output.write(self.errorLine(id, error))
            }
            self.lock.withLock { _ = self.requests.removeValue(forKey: id) }
        }
        lock.withLock { requests[id] = task }
    }

    private func errorLine(_ id: String?, _ error: Error) -> [String: Any] {
        var line: [String: Any] = ["event": "error", "message": "\(error)"]
        if let id { line["id"] = id }
        if let error = error as? SupervisorError {
            line["category"] = error.category.description
            line["code"] = error.code
        } else {
            line["category"] = ErrorCategory.workerFailure.description
            line["code"] = "internal"
        }
        return line
    }
}

/// Writes one JSON object per line to stdout with a single write(2), so lines from concurrent requests never
/// interleave; a vanished reader (EPIPE, SIGPIPE ignored) is not fatal.
final class JSONLineWriter: @unchecked Sendable {
    private let lock = NSLock()

    func write(_ object: [String: Any]) {
        guard var data = try? JSONSerialization.data(withJSONObject: object, options: [.sortedKeys]) else { return }
        data.append(0x0A)
        lock.withLock {
            data.withUnsafeBytes { raw in
                var offset = 0
                while offset < raw.count {
                    let n = Glibc.write(1, raw.baseAddress! + offset, raw.count - offset)
                    if n < 0 && errno == EINTR { continue }
                    if n <= 0 { return }
                    offset += n
                }
            }
        }
    }
}

/// This process's resident set size in KiB (VmRSS), or 0 when /proc is unreadable.
func residentKilobytes() -> Int {
    guard let status = try? String(contentsOfFile: "/proc/self/status", encoding: .utf8) else { return 0 }
    for line in status.split(separator: "\n") where line.hasPrefix("VmRSS:") {
        return Int(line.split(separator: " ").dropFirst().first ?? "") ?? 0
    }
    return 0
}
