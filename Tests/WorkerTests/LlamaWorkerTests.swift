import Foundation
import ModelFormats
import PluginHost
import Supervisor
import WorkerProtocol
import XCTest

/// The real Llama plugin in a real worker: greedy decoding through the supervisor gives exactly the tokens that
/// calling the plugin in this process gives.
final class LlamaWorkerTests: XCTestCase {
    typealias S = WorkerTestSupport

    /// MODELHOST_TEST_MODEL, else the repository's models/, else /work/models/.
    static func defaultModelPath() throws -> String {
        let file = "SmolLM2-135M-Instruct.Q4_1.gguf"
        var candidates = [S.repoRoot.appendingPathComponent("models/\(file)").path, "/work/models/\(file)"]
        if let env = ProcessInfo.processInfo.environment["MODELHOST_TEST_MODEL"] { candidates.insert(env, at: 0) }
        guard let found = candidates.first(where: { FileManager.default.fileExists(atPath: $0) }) else {
            throw NSError(domain: "WorkerTests", code: 2, userInfo: [NSLocalizedDescriptionKey:
                "the default model is missing (looked at \(candidates)); run scripts/install-default-model or set "
                + "MODELHOST_TEST_MODEL"])
        }
        return found
    }

    /// libMHLlama.so from the build products, staged with its manifest in a directory of its own.
    static func stagedLlamaPlugin() throws -> String {
        let library = S.productsDirectory.appendingPathComponent("libMHLlama.so")
        guard FileManager.default.fileExists(atPath: library.path) else {
            throw NSError(domain: "WorkerTests", code: 4, userInfo: [NSLocalizedDescriptionKey:
                "libMHLlama.so is not in \(S.productsDirectory.path): build the package (scripts/build) first"])
        }
        let staged = try S.temporaryDirectory("llama")
        try FileManager.default.copyItem(at: library, to: staged.appendingPathComponent("libMHLlama.so"))
        try FileManager.default.copyItem(at: S.repoRoot.appendingPathComponent("Plugins/Llama/llama.plugin.json"),
                                         to: staged.appendingPathComponent("llama.plugin.json"))
        return staged.path
    }

    static let prompt: [Int32] = [1, 9690, 198, 4093, 314, 253, 1345, 30, 2, 198, 1, 4093, 198, 504, 3459, 282]

    func testGreedyGenerationInAWorkerEqualsInProcessDecoding() async throws {
        let model = try Self.defaultModelPath()
        let plugins = try Self.stagedLlamaPlugin()
        let count = 16

        // In this process, through the same plugin host the worker uses.
        let host = HostServices(threads: 2)
        let discovered = PluginDiscovery.discover(in: PluginSearchPath(directories: [plugins]))
        let (plugin, _) = try PluginSelector.select(PluginRequest(kind: .textDecoder, family: "llama"),
                                                    among: discovered, host: host)
        let context = try plugin.initialize()
        let client = try TextDecoderClient(context)
        let weights = WeightsService(GGUFWeights(try GGUFFile(path: model)))
        let handle = try client.openModel(weights: weights, path: model)
        let sequence = try handle.makeSequence(capacity: Self.prompt.count + count)
        var expected: [Int32] = []
        var input = Self.prompt
        for _ in 0..<count {
            let logits = try handle.forward([DecoderModelHandle.Entry(sequence: sequence, input: .tokens(input))])[0]
            var best = 0
            for i in logits.indices where logits[i] > logits[best] { best = i }
            expected.append(Int32(best))
            input = [Int32(best)]
        }
        sequence.destroy()
        handle.close()

        // In a worker, through the supervisor.
        let state = try S.temporaryDirectory()
        var configuration = SupervisorConfiguration(
            stateDirectory: state.path, workerExecutable: S.workerExecutable,
            models: [ModelSpec(id: "smol", path: model, pluginPaths: [plugins], threads: 2, maxSequences: 4)])
        configuration.loadTimeout = 60
        let supervisor = try Supervisor(configuration: configuration)
        let info = try await supervisor.load(model: "smol")
        XCTAssertEqual(info.pluginID, plugin.id)
        XCTAssertEqual(Int(info.vocabularySize), handle.vocabularySize)
        let outcome = await S.collect(supervisor.generate(model: "smol", request: GenerateRequest(
            promptTokens: Self.prompt, maxTokens: UInt32(count))))
        await supervisor.shutdown(drainTimeout: 5)
        XCTAssertNil(outcome.error)
        XCTAssertEqual(outcome.completion?.finishReason, .length)
        XCTAssertEqual(outcome.tokens, expected, "the worker's greedy tokens differ from in-process decoding")
    }
}
