import Foundation
import HTTPServer
import XCTest

/// Ollama's routes over a scripted backend: what reaches the engine from each field and option, the answer's and
/// the stream's shape, and every malformed body a 400 in Ollama's error shape.
final class OllamaRouteTests: XCTestCase {
    func testChatOptionsReachTheRequestAndIgnoredOnesAreNamed() async throws {
        let backend = ScriptedBackend()
        try await withServer(backend) { server in
            let reply = try await HTTP.post(port: server.apiPort, "/api/chat", json: #"""
                {"model": "tiny:latest", "stream": false, "keep_alive": "5m",
                 "messages": [{"role": "system", "content": "Be brief."}, {"role": "user", "content": "Hi"}],
                 "options": {"temperature": 0.3, "top_k": 7, "top_p": 0.5, "min_p": 0.1, "seed": 9, "num_predict": 12,
                             "stop": ["\n"], "repeat_penalty": 1.2, "presence_penalty": 0.5, "num_ctx": 4096,
                             "num_thread": 2}}
                """#)
            XCTAssertEqual(reply.status, 200, reply.body)
            XCTAssertEqual(reply.headers["x-modelhost-ignored-options"], "keep_alive, num_ctx, num_thread")
            let json = try XCTUnwrap(reply.json)
            XCTAssertEqual(json["model"] as? String, "tiny:latest")
            XCTAssertEqual((json["message"] as? [String: Any])?["content"] as? String, "Hello world")
            XCTAssertEqual(json["done"] as? Bool, true)
            XCTAssertEqual(json["done_reason"] as? String, "stop")
            XCTAssertEqual(json["prompt_eval_count"] as? Int, 5)
            XCTAssertEqual(json["eval_count"] as? Int, 2)
            XCTAssertNotNil(json["total_duration"] as? Int)
            let request = try XCTUnwrap(backend.requests.last)
            XCTAssertEqual(request.model, "tiny")
            XCTAssertEqual(request.sampling.temperature, 0.3)
            XCTAssertEqual(request.sampling.topK, 7)
            XCTAssertEqual(request.sampling.topP, 0.5)
            XCTAssertEqual(request.sampling.minP, 0.1)
            XCTAssertEqual(request.sampling.seed, 9)
            XCTAssertEqual(request.sampling.repetitionPenalty, 1.2)
            XCTAssertEqual(request.sampling.presencePenalty, 0.5)
            XCTAssertEqual(request.maxTokens, 12)
            XCTAssertEqual(request.stop, ["\n"])
            guard case .chat(let messages) = request.input else { return XCTFail("\(request.input)") }
            XCTAssertEqual(messages.map(\.role), ["system", "user"])
        }
    }

    func testStreamsNewlineDelimitedObjectsEndingWithDone() async throws {
        try await withServer(ScriptedBackend()) { server in
            let reply = try await HTTP.post(port: server.apiPort, "/api/generate",
                                            json: #"{"model": "tiny", "prompt": "Hi", "raw": true}"#)
            XCTAssertEqual(reply.status, 200)
            XCTAssertEqual(reply.headers["content-type"], "application/x-ndjson")
            let lines = reply.body.split(separator: "\n").map {
                try? JSONSerialization.jsonObject(with: Data($0.utf8)) as? [String: Any]
            }
            XCTAssertEqual(lines.compactMap { $0?["response"] as? String }, ["Hello", " world", ""])
            XCTAssertEqual(lines.map { $0?["done"] as? Bool }, [false, false, true])
            XCTAssertEqual(lines.last??["eval_count"] as? Int, 2)
        }
    }

    func testEmptyPromptLoadsTheModel() async throws {
        let backend = ScriptedBackend()
        try await withServer(backend) { server in
            let reply = try await HTTP.post(port: server.apiPort, "/api/generate", json: #"{"model": "tiny"}"#)
            XCTAssertEqual(reply.json?["done_reason"] as? String, "load")
            XCTAssertTrue(backend.requests.isEmpty, "nothing generated")
        }
    }

    func testMalformedBodiesAre400sInOllamasShape() async throws {
        let cases: [(String, String, String)] = [
            ("/api/chat", #"{"messages": [{"role": "user", "content": "x"}]}"#, "model"),
            ("/api/chat", #"{"model": "tiny", "messages": []}"#, "messages"),
            ("/api/chat", #"{"model": "tiny", "messages": [{"role": "robot", "content": "x"}]}"#, "role"),
            ("/api/chat", #"{"model": "tiny", "messages": [{"role": "user", "content": "x", "images": ["aGVsbG8="]}]}"#, "image"),
            ("/api/chat", #"{"model": "tiny", "messages": [{"role": "user", "content": "x"}], "options": {"temperature": 5}}"#, "temperature"),
            ("/api/chat", #"{"model": "tiny", "messages": [{"role": "user", "content": "x"}], "options": {"warp": 1}}"#, "warp"),
            ("/api/chat", #"{"model": "tiny", "messages": [{"role": "user", "content": "x"}], "options": {"num_predict": -2}}"#, "num_predict"),
            ("/api/chat", #"{"model": "tiny", "messages": [{"role": "user", "content": "x"}], "format": 3}"#, "format"),
            ("/api/chat", #"{"model": "tiny", "messages": [{"role": "user", "content": "x"}], "think": "max"}"#, "think"),
            ("/api/chat", #"{"model": "tiny", "messages": [{"role": "user", "content": "x"}], "shout": true}"#, "shout"),
            ("/api/chat", #"{"model": "tiny", "messages": [{"role": "assistant", "tool_calls": [{"function": {"name": "f", "arguments": "x"}}]}]}"#, "arguments"),
            ("/api/generate", #"{"model": "tiny", "prompt": "x", "suffix": "y"}"#, "suffix"),
            ("/api/generate", #"{"model": "tiny", "prompt": "x", "context": [1, 2]}"#, "context"),
            ("/api/generate", #"{"model": "tiny", "prompt": "x", "raw": true, "system": "s"}"#, "raw"),
            ("/api/embed", #"{"model": "tiny", "input": [1, 2]}"#, "input"),
            ("/api/show", #"{}"#, "model"),
        ]
        try await withServer(ScriptedBackend()) { server in
            for (path, body, needle) in cases {
                let reply = try await HTTP.post(port: server.apiPort, path, json: body)
                XCTAssertEqual(reply.status, 400, "\(path) \(body): \(reply.body)")
                let error = reply.json?["error"] as? String
                XCTAssertTrue(error?.contains(needle) == true, "\(path) \(body): \(reply.body)")
            }
            let missing = try await HTTP.post(port: server.apiPort, "/api/chat",
                                              json: #"{"model": "nope", "messages": [{"role": "user", "content": "x"}]}"#)
            XCTAssertEqual(missing.status, 404)
            XCTAssertNotNil(missing.json?["error"] as? String)
        }
    }

    func testListingRoutes() async throws {
        try await withServer(ScriptedBackend()) { server in
            let tags = try await HTTP.get(port: server.apiPort, "/api/tags")
            let names = (tags.json?["models"] as? [[String: Any]])?.compactMap { $0["name"] as? String }
            XCTAssertEqual(names, ["tiny", "org/vision"])
            let show = try await HTTP.post(port: server.apiPort, "/api/show", json: #"{"model": "org/vision"}"#)
            XCTAssertEqual(show.json?["capabilities"] as? [String], ["completion", "tools", "vision"])
            let ps = try await HTTP.get(port: server.apiPort, "/api/ps")
            XCTAssertEqual((ps.json?["models"] as? [[String: Any]])?.first?["size"] as? Int, 1 << 20)
            let version = try await HTTP.get(port: server.apiPort, "/api/version")
            XCTAssertNotNil(version.json?["version"] as? String)
        }
    }
}

/// `GET /`: the chat page from the binary, open without a key, with a strict content security policy; turned off, a
/// 404 that says so.
final class ChatPageRouteTests: XCTestCase {
    func testThePageIsServedOpenAndCanBeTurnedOff() async throws {
        try await withServer(ScriptedBackend(), options: ServerOptions(apiKeys: ["k"])) { server in
            let page = try await HTTP.get(port: server.apiPort, "/")
            XCTAssertEqual(page.status, 200)
            XCTAssertEqual(page.headers["content-type"], "text/html; charset=utf-8")
            XCTAssertTrue(page.headers["content-security-policy"]?.contains("connect-src 'self'") == true)
            XCTAssertTrue(page.body.contains("<title>ModelHost chat</title>"))
            XCTAssertFalse(page.body.contains("http://") || page.body.contains("https://"), "nothing from elsewhere")
            let models = try await HTTP.get(port: server.apiPort, "/v1/models")
            XCTAssertEqual(models.status, 401, "the API behind it still needs the key")
        }
        var off = ServerOptions()
        off.chatPage = false
        try await withServer(ScriptedBackend(), options: off) { server in
            let page = try await HTTP.get(port: server.apiPort, "/")
            XCTAssertEqual(page.status, 404)
            XCTAssertTrue(page.body.contains("--no-chat-page"), page.body)
        }
    }
}
