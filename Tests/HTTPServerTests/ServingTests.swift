import Foundation
import HTTPServer
import ServerConfig
import XCTest

final class ServingTests: XCTestCase {
    let chat = #"{"model":"tiny","messages":[{"role":"user","content":"hi"}]}"#

    func testChatCompletionWholeResponse() async throws {
        let backend = ScriptedBackend()
        try await withServer(backend) { server in
            let response = try await HTTP.post(port: server.apiPort, "/v1/chat/completions", json: chat)
            XCTAssertEqual(response.status, 200, response.body)
            let json = try XCTUnwrap(response.json)
            XCTAssertEqual(json["object"] as? String, "chat.completion")
            XCTAssertTrue((json["id"] as? String)?.hasPrefix("chatcmpl-") ?? false)
            let choice = try XCTUnwrap((json["choices"] as? [[String: Any]])?.first)
            XCTAssertEqual((choice["message"] as? [String: Any])?["content"] as? String, "Hello world")
            XCTAssertEqual(choice["finish_reason"] as? String, "stop")
            let usage = try XCTUnwrap(json["usage"] as? [String: Any])
            XCTAssertEqual(usage["prompt_tokens"] as? Int, 5)
            XCTAssertEqual(usage["total_tokens"] as? Int, 7)
            XCTAssertEqual((usage["prompt_tokens_details"] as? [String: Any])?["cached_tokens"] as? Int, 3)
        }
        let request = try XCTUnwrap(backend.requests.first)
        XCTAssertEqual(request.input, .chat([ChatMessage(role: "user", content: [.text("hi")])]))
        XCTAssertEqual(request.maxTokens, 2048, "a chat without max_tokens gets the server's default cap")
        XCTAssertNotNil(request.deadline)
    }

    func testParametersReachTheBackend() async throws {
        let backend = ScriptedBackend()
        let body = #"""
        {"model":"tiny","messages":[{"role":"system","content":"s"},{"role":"user","content":[{"type":"text","text":"x"}]}],
         "temperature":0.5,"top_p":0.9,"top_k":40,"min_p":0.05,"max_completion_tokens":7,"stop":["a","b"],"seed":42,
         "n":2,"presence_penalty":0.1,"frequency_penalty":-0.2,"repetition_penalty":1.1,"logit_bias":{"15":-100},
         "logprobs":true,"top_logprobs":3,"user":"u1",
         "response_format":{"type":"json_schema","json_schema":{"name":"obj","schema":{"type":"object"},"strict":true}}}
        """#
        try await withServer(backend) { server in
            let response = try await HTTP.post(port: server.apiPort, "/v1/chat/completions", json: body,
                                               headers: ["X-Priority": "HIGH"])
            XCTAssertEqual(response.status, 200, response.body)
            let choices = try XCTUnwrap(response.json?["choices"] as? [[String: Any]])
            XCTAssertEqual(choices.count, 2)
            let content = try XCTUnwrap((choices[0]["logprobs"] as? [String: Any])?["content"] as? [[String: Any]])
            XCTAssertEqual(content.first?["token"] as? String, "Hello")
            XCTAssertEqual((content.first?["top_logprobs"] as? [Any])?.count, 3)
        }
        let request = try XCTUnwrap(backend.requests.first)
        XCTAssertEqual(request.sampling.temperature, 0.5)
        XCTAssertEqual(request.sampling.topK, 40)
        XCTAssertEqual(request.sampling.minP, 0.05)
        XCTAssertEqual(request.sampling.seed, 42)
        XCTAssertEqual(request.sampling.logitBias, [15: -100])
        XCTAssertEqual(request.sampling.repetitionPenalty, 1.1)
        XCTAssertEqual(request.maxTokens, 7)
        XCTAssertEqual(request.stop, ["a", "b"])
        XCTAssertEqual(request.n, 2)
        XCTAssertEqual(request.logprobs, 3)
        XCTAssertEqual(request.priority, .high)
        XCTAssertEqual(request.responseFormat, .jsonSchema(name: "obj", schema: #"{"type":"object"}"#, strict: true))
    }

    func testValidationErrorsNameTheParameter() async throws {
        let cases: [(String, String)] = [
            (#"{"model":"tiny","messages":[{"role":"user","content":"x"}],"temperature":3}"#, "temperature"),
            (#"{"model":"tiny","messages":[{"role":"user","content":"x"}],"temperature":"hot"}"#, "temperature"),
            (#"{"model":"tiny","messages":[{"role":"user","content":"x"}],"top_p":1.5}"#, "top_p"),
            (#"{"model":"tiny","messages":[{"role":"user","content":"x"}],"max_tokens":0}"#, "max_tokens"),
            (#"{"model":"tiny","messages":[{"role":"user","content":"x"}],"n":0}"#, "n"),
            (#"{"model":"tiny","messages":[{"role":"user","content":"x"}],"stop":["a","b","c","d","e"]}"#, "stop"),
            (#"{"model":"tiny","messages":[{"role":"user","content":"x"}],"stop":5}"#, "stop"),
            (#"{"model":"tiny","messages":[{"role":"user","content":"x"}],"tools":[{"type":"function"}]}"#, "tools[0].function"),
            (#"{"model":"tiny","messages":[{"role":"user","content":"x"}],"frobnicate":1}"#, "frobnicate"),
            (#"{"model":"tiny","messages":[{"role":"user","content":"x"}],"top_logprobs":2}"#, "top_logprobs"),
            (#"{"model":"tiny","messages":[{"role":"user","content":"x"}],"stream_options":{"include_usage":true}}"#,
             "stream_options"),
            (#"{"model":"tiny","messages":[{"role":"user","content":"x"}],"logit_bias":{"x":1}}"#, "logit_bias"),
            (#"{"model":"tiny","messages":[{"role":"user","content":"x"}],"response_format":{"type":"json_schema"}}"#,
             "response_format.json_schema"),
            (#"{"model":"tiny","messages":[{"role":"user","content":"x"}],"presence_penalty":-3}"#, "presence_penalty"),
            (#"{"model":"tiny","messages":[]}"#, "messages"),
            (#"{"model":"tiny","messages":[{"role":"wizard","content":"x"}]}"#, "messages[0].role"),
            (#"{"model":"tiny","messages":[{"role":"tool","content":"x"}]}"#, "messages[0].tool_call_id"),
            (#"{"messages":[{"role":"user","content":"x"}]}"#, "model"),
            (#"{"model":"tiny","messages":[{"role":"user","content":[{"type":"image_url","image_url":{"url":"data:x"}}]}]}"#,
             "messages[0].content"),
        ]
        try await withServer(ScriptedBackend()) { server in
            for (body, param) in cases {
                let response = try await HTTP.post(port: server.apiPort, "/v1/chat/completions", json: body)
                XCTAssertEqual(response.status, 400, body)
                XCTAssertEqual(response.error?["param"] as? String, param, body)
                XCTAssertEqual(response.error?["type"] as? String, "invalid_request_error", body)
            }
            let harmless = #"{"model":"tiny","messages":[{"role":"user","content":"x"}],"tools":[],"tool_choice":"none","user":"me"}"#
            let accepted = try await HTTP.post(port: server.apiPort, "/v1/chat/completions", json: harmless)
            XCTAssertEqual(accepted.status, 200, accepted.body)
            let vision = #"{"model":"org/vision","messages":[{"role":"user","content":[{"type":"image_url","image_url":{"url":"data:image/png;base64,iVBORw0KGgo="}}]}]}"#
            let visionResponse = try await HTTP.post(port: server.apiPort, "/v1/chat/completions", json: vision)
            XCTAssertEqual(visionResponse.status, 200, visionResponse.body)
        }
    }

    func testCompletionsPromptsAndEcho() async throws {
        let backend = ScriptedBackend { request in
            var steps: [ScriptedBackend.Step] = []
            if request.echo { steps.append(.event(.prompt("P", index: 0, logprobs: [TokenLogprob(token: "P", logprob: nil)]))) }
            return steps + ScriptedBackend.hello(request)
        }
        try await withServer(backend) { server in
            let batch = try await HTTP.post(port: server.apiPort, "/v1/completions",
                                            json: #"{"model":"tiny","prompt":["a","b"],"n":2}"#)
            XCTAssertEqual(batch.status, 200, batch.body)
            let choices = try XCTUnwrap(batch.json?["choices"] as? [[String: Any]])
            XCTAssertEqual(choices.map { $0["index"] as? Int }, [0, 1, 2, 3])
            XCTAssertEqual((batch.json?["usage"] as? [String: Any])?["prompt_tokens"] as? Int, 10)
            let echo = try await HTTP.post(port: server.apiPort, "/v1/completions",
                                           json: #"{"model":"tiny","prompt":[1,2,3],"echo":true,"logprobs":1,"max_tokens":5}"#)
            XCTAssertEqual(echo.status, 200, echo.body)
            let choice = try XCTUnwrap((echo.json?["choices"] as? [[String: Any]])?.first)
            XCTAssertEqual(choice["text"] as? String, "PHello world")
            let logprobs = try XCTUnwrap(choice["logprobs"] as? [String: Any])
            XCTAssertEqual(logprobs["tokens"] as? [String], ["P", "Hello", " world"])
            XCTAssertEqual(logprobs["text_offset"] as? [Int], [0, 1, 6])
            XCTAssertTrue((logprobs["token_logprobs"] as? [Any])?.first is NSNull)
            for bad in [#"{"model":"tiny","prompt":[]}"#, #"{"model":"tiny","prompt":[1,"a"]}"#,
                        #"{"model":"tiny","prompt":"x","logprobs":6}"#, #"{"model":"tiny","prompt":"x","suffix":"y"}"#] {
                let rejected = try await HTTP.post(port: server.apiPort, "/v1/completions", json: bad)
                XCTAssertEqual(rejected.status, 400, bad)
            }
        }
        let tokens = backend.requests.first { $0.echo }
        XCTAssertEqual(tokens?.input, .tokens([1, 2, 3]))
        XCTAssertEqual(backend.requests.first?.maxTokens, RequestParser.completionsDefaultMaxTokens)
    }

    func testStreamingChunkOrderUsageAndDone() async throws {
        try await withServer(ScriptedBackend()) { server in
            let body = #"{"model":"tiny","messages":[{"role":"user","content":"x"}],"stream":true,"stream_options":{"include_usage":true}}"#
            let response = try await HTTP.post(port: server.apiPort, "/v1/chat/completions", json: body)
            XCTAssertEqual(response.status, 200)
            XCTAssertEqual(response.headers["content-type"], "text/event-stream")
            let events = response.events
            XCTAssertEqual(events.last, "[DONE]")
            let chunks = events.dropLast().compactMap {
                (try? JSONSerialization.jsonObject(with: Data($0.utf8))) as? [String: Any]
            }
            XCTAssertEqual(chunks.count, 5)
            let deltas = chunks.map { (($0["choices"] as? [[String: Any]])?.first?["delta"] as? [String: Any]) }
            XCTAssertEqual(deltas[0]?["role"] as? String, "assistant")
            XCTAssertEqual(deltas[1]?["content"] as? String, "Hello")
            XCTAssertEqual(deltas[2]?["content"] as? String, " world")
            XCTAssertEqual((chunks[3]["choices"] as? [[String: Any]])?.first?["finish_reason"] as? String, "stop")
            XCTAssertEqual((chunks[4]["choices"] as? [Any])?.count, 0)
            XCTAssertEqual((chunks[4]["usage"] as? [String: Any])?["completion_tokens"] as? Int, 2)
            XCTAssertTrue(chunks[0]["usage"] is NSNull)

            let plain = try await HTTP.post(port: server.apiPort, "/v1/completions",
                                            json: #"{"model":"tiny","prompt":"x","stream":true}"#)
            let plainChunks = plain.events
            XCTAssertEqual(plainChunks.count, 4)  // two texts, finish, [DONE]: no usage chunk without include_usage
            XCTAssertFalse(plain.body.contains("\"usage\""))
        }
    }

    func testKeepAliveDuringSlowPrefill() async throws {
        let backend = ScriptedBackend { request in [.sleep(.milliseconds(400))] + ScriptedBackend.hello(request) }
        var options = ServerOptions()
        options.keepAliveInterval = .milliseconds(100)
        try await withServer(backend, options: options) { server in
            let response = try await HTTP.post(
                port: server.apiPort, "/v1/chat/completions",
                json: #"{"model":"tiny","messages":[{"role":"user","content":"x"}],"stream":true}"#)
            let keepAlive = try XCTUnwrap(response.body.range(of: ": keep-alive"))
            let firstText = try XCTUnwrap(response.body.range(of: "Hello"))
            XCTAssertLessThan(keepAlive.lowerBound, firstText.lowerBound)
            XCTAssertEqual(response.events.last, "[DONE]")
        }
    }

    func testClientDisconnectCancelsGenerationAndFreesSlot() async throws {
        let backend = ScriptedBackend { _ in [.event(.text("a", index: 0, logprobs: nil)), .hang] }
        var options = ServerOptions()
        options.maxConcurrentRequests = 1
        options.keepAliveInterval = .milliseconds(50)
        try await withServer(backend, options: options) { server in
            let port = server.apiPort
            try await Task.detached {
                let connection = try RawConnection(port: port)
                let body = Array(#"{"model":"tiny","messages":[{"role":"user","content":"x"}],"stream":true}"#.utf8)
                connection.write(RawConnection.requestBytes(method: "POST", path: "/v1/chat/completions",
                                                            headers: ["Content-Type": "application/json"], body: body))
                var data: [UInt8] = []
                XCTAssertTrue(connection.read(until: "\"a\"", into: &data))
                connection.closeNow()
            }.value
            var waited = 0
            while backend.cancelled == 0 && waited < 100 {
                try await Task.sleep(for: .milliseconds(20))
                waited += 1
            }
            XCTAssertEqual(backend.cancelled, 1)
            var queue = try await HTTP.get(port: server.adminPort, "/admin/queue")
            waited = 0
            while (queue.json?["active_slots"] as? Int) != 0 && waited < 50 {
                try await Task.sleep(for: .milliseconds(20))
                queue = try await HTTP.get(port: server.adminPort, "/admin/queue")
                waited += 1
            }
            XCTAssertEqual(queue.json?["active_slots"] as? Int, 0)
        }
    }

    /// A non-streamed request writes nothing until it is done, so only the connection's input closing shows that its
    /// client left (HangupDetector); the generation is cancelled and the slot freed all the same.
    func testClientDisconnectCancelsANonStreamedGeneration() async throws {
        let backend = ScriptedBackend { _ in [.event(.text("a", index: 0, logprobs: nil)), .hang] }
        var options = ServerOptions()
        options.maxConcurrentRequests = 1
        try await withServer(backend, options: options) { server in
            let port = server.apiPort
            try await Task.detached {
                let connection = try RawConnection(port: port)
                let body = Array(#"{"model":"tiny","messages":[{"role":"user","content":"x"}]}"#.utf8)
                connection.write(RawConnection.requestBytes(method: "POST", path: "/v1/chat/completions",
                                                            headers: ["Content-Type": "application/json"], body: body))
                Thread.sleep(forTimeInterval: 0.3)
                connection.closeNow()
            }.value
            var waited = 0
            while backend.cancelled == 0 && waited < 100 {
                try await Task.sleep(for: .milliseconds(20))
                waited += 1
            }
            XCTAssertEqual(backend.cancelled, 1, "the abandoned generation was not cancelled")
            var queue = try await HTTP.get(port: server.adminPort, "/admin/queue")
            waited = 0
            while (queue.json?["active_slots"] as? Int) != 0 && waited < 50 {
                try await Task.sleep(for: .milliseconds(20))
                queue = try await HTTP.get(port: server.adminPort, "/admin/queue")
                waited += 1
            }
            XCTAssertEqual(queue.json?["active_slots"] as? Int, 0)
        }
    }

    func testBackendErrorStatuses() async throws {
        let cases: [(BackendError, Int, String?)] = [
            (.modelNotFound("x"), 404, nil), (.badRequest(param: "stop", message: "bad"), 400, nil),
            (.overloaded(retryAfter: 7), 503, "7"), (.workerDied(reason: "SIGSEGV in pid 9"), 502, "1"),
            (.timeout, 504, nil), (.internal("secret detail"), 500, nil), (.unavailable("no backend"), 503, "30"),
        ]
        for (error, status, retryAfter) in cases {
            let backend = ScriptedBackend()
            backend.generateError = error
            try await withServer(backend) { server in
                let response = try await HTTP.post(port: server.apiPort, "/v1/chat/completions", json: chat)
                XCTAssertEqual(response.status, status, "\(error)")
                XCTAssertEqual(response.headers["retry-after"], retryAfter, "\(error)")
                XCTAssertNotNil(response.error?["message"] as? String)
                XCTAssertFalse(response.body.contains("secret") || response.body.contains("SIGSEGV"))
            }
        }
    }

    func testMidStreamFailureSendsErrorEventThenDone() async throws {
        let backend = ScriptedBackend { _ in [.event(.text("a", index: 0, logprobs: nil)), .fail(.workerDied(reason: "x"))] }
        try await withServer(backend) { server in
            let response = try await HTTP.post(
                port: server.apiPort, "/v1/chat/completions",
                json: #"{"model":"tiny","messages":[{"role":"user","content":"x"}],"stream":true}"#)
            let events = response.events
            XCTAssertEqual(events.last, "[DONE]")
            XCTAssertTrue(events.dropLast().last?.contains("worker_died") ?? false, response.body)
            let whole = try await HTTP.post(port: server.apiPort, "/v1/chat/completions", json: chat)
            XCTAssertEqual(whole.status, 502)
        }
    }

    func testDeadlineGives504() async throws {
        let backend = ScriptedBackend { _ in [.hang] }
        var options = ServerOptions()
        options.requestTimeout = .milliseconds(200)
        try await withServer(backend, options: options) { server in
            let response = try await HTTP.post(port: server.apiPort, "/v1/chat/completions", json: chat)
            XCTAssertEqual(response.status, 504)
            XCTAssertEqual(response.error?["code"] as? String, "timeout")
        }
        XCTAssertEqual(backend.cancelled, 1)
    }
}
