import ArgumentParser
import CommandLineSupport
import Foundation
import Supervisor
import Tokenizer
import WorkerProtocol
import ModelFormats

/// `modelhost bench`: runs the model's decoder plugin inside a worker exactly as serving does (supervisor, shared-
/// memory rings, the worker's decode loop) and prints load time, prefill and decode speed and the worker's peak RSS.
struct Bench: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Measure load time, prefill and decode tokens/s and peak RSS of a model in a worker.")

    @OptionGroup var model: ModelArgument
    @Option(help: "Compute threads for the worker.") var threads = ProcessInfo.processInfo.activeProcessorCount
    @Option(help: "Prompt length in tokens.") var promptTokens = 500
    @Option(help: "Tokens to generate (greedy; end-of-text is not a stop here).") var genTokens = 128
    @Option(help: "Plugin directory searched first.") var pluginPath: String?
    @Flag(help: "Print one JSON object.") var json = false

    struct Report: Encodable {
        let model: String
        let plugin: String
        let threads: Int
        let prompt_tokens: Int
        let gen_tokens: Int
        let load_seconds: Double
        let prefill_tokens_per_second: Double
        let decode_tokens_per_second: Double
        let peak_rss_bytes: Int
        let model_file_bytes: Int
    }

    func validate() throws {
        guard threads >= 1, promptTokens >= 1, genTokens >= 2 else {
            throw ValidationError("--threads and --prompt-tokens must be ≥ 1, --gen-tokens ≥ 2")
        }
    }

    /// A realistic prompt: English prose tokenized by the model's own tokenizer, repeated to the requested length.
    static func prompt(_ path: String, count: Int) throws -> [Int32] {
        let text = """
        The history of the lighthouse is a history of people who kept a light burning through long winter nights, \
        trimming wicks, polishing lenses and writing the weather into a logbook, so that ships they would never see \
        could find their way past the rocks and into the harbour before dawn. 
        """
        let ids = try Tokenizers.load(gguf: GGUFFile(path: path)).encode(text, addSpecial: false, parseSpecial: false)
        return (0..<count).map { ids[$0 % ids.count] }
    }

    static func peakRSS(pid: Int32) -> Int {
        guard let status = try? String(contentsOfFile: "/proc/\(pid)/status", encoding: .utf8) else { return 0 }
        for line in status.split(separator: "\n") where line.hasPrefix("VmHWM:") {
            return (Int(line.split(separator: " ").dropFirst().first ?? "0") ?? 0) * 1024
        }
        return 0
    }

    func run() throws {
        let path = try model.path()
        let prompt = try Self.prompt(path, count: promptTokens)
        let state = FileManager.default.temporaryDirectory.appendingPathComponent("modelhost-bench-\(getpid())")
        try FileManager.default.createDirectory(at: state, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: state) }
        let worker = URL(fileURLWithPath: currentExecutable()).deletingLastPathComponent()
            .appendingPathComponent("modelhost-worker").path
        let supervisor = try Supervisor(configuration: SupervisorConfiguration(
            stateDirectory: state.path, workerExecutable: worker,
            models: [ModelSpec(id: "bench", path: path, pluginPaths: pluginPath.map { [$0] } ?? [], threads: threads,
                               maxSequences: 1)]))
        let genTokens = self.genTokens, promptCount = promptTokens, threads = self.threads
        final class Box: @unchecked Sendable { var report: Report? }
        let box = Box()
        try BlockingRunner.run {
          do {
            let start = Date()
            let loaded = try await supervisor.load(model: "bench")
            let loadSeconds = Date().timeIntervalSince(start)
            let request = GenerateRequest(promptTokens: prompt, maxTokens: UInt32(genTokens), stopTokens: [], sampling: .greedy)
            let begin = Date()
            var first: Date?
            var produced = 0
            for try await event in supervisor.generate(model: "bench", request: request) {
                if case .delta(let delta) = event {
                    if first == nil, !delta.tokens.isEmpty { first = Date() }
                    produced += delta.tokens.count
                }
            }
            let end = Date()
            guard let first, produced >= 2 else { throw RuntimeFailure("the worker produced \(produced) tokens") }
            let pid = await supervisor.status().first?.workerPID ?? 0
            // The first token arrives after the whole prompt was prefilled (plus one sampling step).
            box.report = Report(
                model: path, plugin: "\(loaded.pluginID) \(loaded.pluginVersion)", threads: threads,
                prompt_tokens: promptCount, gen_tokens: produced, load_seconds: loadSeconds,
                prefill_tokens_per_second: Double(promptCount) / first.timeIntervalSince(begin),
                decode_tokens_per_second: Double(produced - 1) / end.timeIntervalSince(first),
                peak_rss_bytes: Self.peakRSS(pid: pid),
                model_file_bytes: (try? FileManager.default.attributesOfItem(
                    atPath: URL(fileURLWithPath: path).resolvingSymlinksInPath().path)[.size] as? Int) ?? 0)
            await supervisor.shutdown(drainTimeout: 1)
          } catch {
            await supervisor.shutdown(drainTimeout: 1)
            throw error
          }
        }
        guard let r = box.report else { throw RuntimeFailure("no result") }
        if json {
            try printJSON(r)
        } else {
            print("""
            model      \(r.model) (\(r.plugin), \(r.threads) threads)
            load       \(String(format: "%.3f", r.load_seconds)) s (spawn worker, select plugin, open model)
            prefill    \(String(format: "%.1f", r.prefill_tokens_per_second)) tokens/s (\(r.prompt_tokens) tokens)
            decode     \(String(format: "%.1f", r.decode_tokens_per_second)) tokens/s (\(r.gen_tokens) tokens, greedy)
            peak RSS   \(r.peak_rss_bytes / 1_048_576) MiB (worker; model file \(r.model_file_bytes / 1_048_576) MiB)
            """)
        }
    }
}
