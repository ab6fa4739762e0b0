import Foundation
import HTTPServer
import XCTest

/// The HTTP side of `/tokenize` and `/detokenize` over a byte tokenizer (the real tokenizer is tested end to end
/// in ServingTests): fields, shapes, the default model, and errors in the API's shape.
final class TokenizerRouteTests: XCTestCase {
    func testFieldsShapesAndErrors() async throws {
        let backend = ScriptedBackend()
        try await withServer(backend) { server in
            let port = server.apiPort
            let plain = try await HTTP.post(port: port, "/tokenize", json: #"{"model": "tiny", "content": "hé"}"#)
            XCTAssertEqual(plain.status, 200, plain.body)
            XCTAssertEqual(plain.json?["tokens"] as? [Int], [104, 195, 169])
            XCTAssertEqual(plain.json?["model"] as? String, "tiny")

            // A piece that is not whole UTF-8 comes back as its bytes, as llama-server does.
            let pieces = try await HTTP.post(port: port, "/tokenize",
                                             json: #"{"model": "tiny", "content": "hé", "with_pieces": true, "add_special": false, "parse_special": false}"#)
            let items = try XCTUnwrap(pieces.json?["tokens"] as? [[String: Any]], pieces.body)
            XCTAssertEqual(items.first?["piece"] as? String, "h")
            XCTAssertEqual(items.last?["piece"] as? [Int], [169])
            XCTAssertEqual(items.last?["id"] as? Int, 169)

            let text = try await HTTP.post(port: port, "/detokenize", json: #"{"model": "tiny", "tokens": [104, 105]}"#)
            XCTAssertEqual(text.json?["content"] as? String, "hi")

            // `model` may be left out: the default model (the scripted backend has none by that name).
            let noModel = try await HTTP.post(port: port, "/tokenize", json: #"{"content": "x"}"#)
            XCTAssertEqual(noModel.status, 404, noModel.body)
            for (path, body, param) in [
                ("/tokenize", #"{"model": "tiny"}"#, "content"),
                ("/tokenize", #"{"model": "tiny", "content": 5}"#, "content"),
                ("/tokenize", #"{"model": "tiny", "content": "x", "with_pieces": "yes"}"#, "with_pieces"),
                ("/tokenize", #"{"model": "tiny", "content": "x", "frobnicate": 1}"#, "frobnicate"),
                ("/tokenize", #"{"model": "", "content": "x"}"#, "model"),
                ("/detokenize", #"{"model": "tiny", "tokens": "1 2"}"#, "tokens"),
                ("/detokenize", #"{"model": "tiny", "tokens": [1, 2.5]}"#, "tokens[1]"),
                ("/detokenize", #"{"model": "tiny", "tokens": [1, 4294967296]}"#, "tokens[1]"),
            ] {
                let reply = try await HTTP.post(port: port, path, json: body)
                XCTAssertEqual(reply.status, 400, "\(path) \(body): \(reply.body)")
                XCTAssertEqual(reply.error?["param"] as? String, param, "\(path) \(body)")
            }
            let outside = try await HTTP.post(port: port, "/detokenize", json: #"{"model": "tiny", "tokens": [300]}"#)
            XCTAssertEqual(outside.status, 400, outside.body)
            let wrongMethod = try await HTTP.get(port: port, "/detokenize")
            XCTAssertEqual(wrongMethod.status, 405)
            XCTAssertEqual(backend.tokenizerCalls.count, 4)
        }
    }
}
