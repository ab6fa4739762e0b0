import Foundation
import HTTPServer
import ModelCatalog
import XCTest

/// What `modelhost serve` does today: lists the catalog truthfully and refuses generation with a clear 503.
final class BackendUnavailableTests: XCTestCase {
    func testListsCatalogAndRefusesGenerationClearly() async throws {
        let root = FileManager.default.temporaryDirectory.appendingPathComponent("unavailable-\(UUID().uuidString)").path
        defer { try? FileManager.default.removeItem(atPath: root) }
        let model = "\(root)/models/acme/small"
        try FileManager.default.createDirectory(atPath: model, withIntermediateDirectories: true)
        try #"{"model_type":"llama","max_position_embeddings":4096}"#.write(
            toFile: "\(model)/config.json", atomically: true, encoding: .utf8)
        try Data([0]).write(to: URL(fileURLWithPath: "\(model)/model.safetensors"))
        let backend = BackendUnavailable(catalog: ModelCatalog(modelsDir: "\(root)/models", hfHome: nil))
        let server = ModelHostServer(backend: backend, options: ServerOptions())
        let running = try await server.start()

        let list = try await HTTP.get(port: running.apiPort, "/v1/models")
        let data = try XCTUnwrap(list.json?["data"] as? [[String: Any]])
        XCTAssertEqual(data.map { $0["id"] as? String }, ["acme/small"])
        XCTAssertEqual(data.first?["context_length"] as? Int, 4096)

        let refused = try await HTTP.post(port: running.apiPort, "/v1/chat/completions",
                                          json: #"{"model":"acme/small","messages":[{"role":"user","content":"x"}]}"#)
        XCTAssertEqual(refused.status, 503)
        XCTAssertTrue((refused.error?["message"] as? String)?.hasPrefix("no inference backend") ?? false)
        XCTAssertNotNil(refused.headers["retry-after"])

        let load = try await HTTP.post(port: running.adminPort, "/admin/load", json: #"{"model":"acme/small"}"#)
        XCTAssertEqual(load.status, 503)
        let escape = try await HTTP.post(port: running.adminPort, "/admin/load", json: #"{"model":"../etc"}"#)
        XCTAssertEqual(escape.status, 400)
        XCTAssertEqual(escape.error?["param"] as? String, "model")
        let missing = try await HTTP.post(port: running.adminPort, "/admin/load", json: #"{"model":"acme/none"}"#)
        XCTAssertEqual(missing.status, 404)
        let ready = try await HTTP.get(port: running.apiPort, "/ready")
        XCTAssertEqual(ready.status, 503)
        await running.stop()
    }
}
