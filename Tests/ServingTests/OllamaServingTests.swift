import Foundation
import TestScratch
import XCTest

/// Ollama's native API end to end with the official `ollama` Python client (Tests/ServingTests/ollama_checks.py):
/// the real chat model and the real embedding model, API keys on.
final class OllamaServingTests: XCTestCase {
    func testOfficialOllamaClient() throws {
        let key = "sk-test-ollama"
        let server = try EmbeddingServingTests.startServer(["MODELHOST_API_KEYS": key])
        defer { server.stop() }
        let script = ServerProcess.root.appendingPathComponent("Tests/ServingTests/ollama_checks.py").path
        let (status, output) = try TestPython.run([script, "--base-url", server.baseURL, "--api-key", key,
                                                   "--embedding-model", EmbeddingServingTests.modelID])
        print(output)
        XCTAssertEqual(status, 0, "ollama checks failed:\n\(output)\nserver log:\n\(server.logText.suffix(4000))")
    }
}
