import Foundation
import TestScratch
import XCTest

/// `modelhost serve` end to end on the real default model: real HTTP, real worker processes. The OpenAI-client
/// checks run the official `openai` Python package against the server; the rest speak raw HTTP.
final class ServingTests: XCTestCase {
    static let key = "sk-test-0123456789"
    static let auth = ["Authorization": "Bearer \(key)"]
    static let question: [String: Any] = [
        "model": "default", "messages": [["role": "user", "content": "What is the capital of France?"]],
        "temperature": 0, "max_tokens": 12,
    ]
    /// Bans the model's end tokens (<|endoftext|> 0, <|im_end|> 2) so a generation runs until stopped.
    static let endless: [String: Any] = [
        "model": "default", "prompt": "1, 2, 3, 4,", "max_tokens": 4000, "temperature": 0,
        "logit_bias": ["0": -100, "2": -100],
    ]

    func testOfficialOpenAIClient() throws {
        let server = try ServerProcess(environment: ["MODELHOST_API_KEYS": Self.key])
        defer { server.stop() }
        let script = ServerProcess.root.appendingPathComponent("Tests/ServingTests/openai_client_checks.py").path
        let (status, output) = try TestPython.run([script, "--base-url", server.baseURL + "/v1", "--api-key", Self.key,
                                           "--modelhost", ServerProcess.modelhost, "--model-file", server.modelFile])
        print(output)
        XCTAssertEqual(status, 0, "openai client checks failed:\n\(output)\nserver log:\n\(server.logText)")
    }

    func testRawHTTPStreamingErrorsModelsAndAdmin() throws {
        let server = try ServerProcess(environment: ["MODELHOST_API_KEYS": Self.key,
                                                     "MODELHOST_MAX_BODY_BYTES": "65536"])
        defer { server.stop() }
        let api = server.baseURL, admin = server.adminURL
        XCTAssertEqual(HTTP.get(api + "/health").status, 200)
        XCTAssertEqual(HTTP.get(api + "/ready").status, 200)

        // Authentication: missing and wrong keys are 401 in OpenAI's shape.
        for headers in [[:], ["Authorization": "Bearer wrong"]] {
            let r = HTTP.post(api + "/v1/chat/completions", Self.question, headers: headers)
            XCTAssertEqual(r.status, 401, r.text)
            XCTAssertNotNil(r.error?["message"] as? String, r.text)
        }
        let models = HTTP.get(api + "/v1/models", headers: Self.auth)
        let list = try XCTUnwrap(models.json?["data"] as? [[String: Any]], models.text)
        XCTAssertEqual(list.first?["id"] as? String, "SmolLM2-135M-Instruct.Q4_1")
        XCTAssertEqual(list.first?["context_length"] as? Int, 8192)

        // Raw SSE: role first, content, finish, usage (asked for), [DONE].
        var streaming = Self.question
        streaming["stream"] = true
        streaming["stream_options"] = ["include_usage": true]
        let sse = HTTP.post(api + "/v1/chat/completions", streaming, headers: Self.auth)
        XCTAssertEqual(sse.status, 200, sse.text)
        XCTAssertEqual(sse.headers["content-type"], "text/event-stream")
        let events = sse.text.components(separatedBy: "\n\n").filter { !$0.isEmpty }
        XCTAssertEqual(events.last, "data: [DONE]")
        let chunks = events.dropLast().compactMap { event -> [String: Any]? in
            guard event.hasPrefix("data: ") else { return nil }
            return try? JSONSerialization.jsonObject(with: Data(event.dropFirst(6).utf8)) as? [String: Any]
        }
        let first = try XCTUnwrap((chunks.first?["choices"] as? [[String: Any]])?.first?["delta"] as? [String: Any])
        XCTAssertEqual(first["role"] as? String, "assistant")
        let text = chunks.compactMap { (($0["choices"] as? [[String: Any]])?.first?["delta"] as? [String: Any])?["content"] as? String }
            .joined()
        XCTAssertTrue(text.contains("Paris"), text)
        XCTAssertEqual((chunks.last?["choices"] as? [Any])?.count, 0, "the usage chunk has no choices")
        XCTAssertNotNil(chunks.last?["usage"] as? [String: Any])

        // Errors, each with its status and OpenAI's shape.
        var unknown = Self.question
        unknown["model"] = "nope"
        XCTAssertEqual(HTTP.post(api + "/v1/chat/completions", unknown, headers: Self.auth).status, 404)
        let badJSON = HTTP.request("POST", api + "/v1/chat/completions", body: Data("{".utf8),
                                   headers: Self.auth.merging(["Content-Type": "application/json"]) { $1 })
        XCTAssertEqual(badJSON.status, 400, badJSON.text)
        var badParam = Self.question
        badParam["top_p"] = 3
        let bad = HTTP.post(api + "/v1/chat/completions", badParam, headers: Self.auth)
        XCTAssertEqual(bad.status, 400)
        XCTAssertEqual(bad.error?["param"] as? String, "top_p")
        var huge = Self.question
        huge["messages"] = [["role": "user", "content": String(repeating: "x", count: 100_000)]]
        XCTAssertEqual(HTTP.post(api + "/v1/chat/completions", huge, headers: Self.auth).status, 413)
        var tooLong = Self.question
        tooLong["messages"] = [["role": "user", "content": String(repeating: "word ", count: 9000)]]
        let long = HTTP.post(api + "/v1/chat/completions", tooLong, headers: Self.auth)
        XCTAssertEqual(long.status, 400, long.text)

        // Admin: the loaded model with its worker, unload, transparent reload, explicit load; metrics.
        let status = try XCTUnwrap(HTTP.get(admin + "/admin/status", headers: Self.auth).json, "admin status")
        let loaded = try XCTUnwrap((status["models"] as? [[String: Any]])?.first, "\(status)")
        let pid = try XCTUnwrap(loaded["pid"] as? Int, "\(loaded)")
        XCTAssertGreaterThan(loaded["rss_bytes"] as? Int ?? 0, 50_000_000, "\(loaded)")
        XCTAssertEqual(HTTP.post(admin + "/admin/unload", ["model": "default"], headers: Self.auth).status, 200)
        XCTAssertTrue(waitUntil(5) { kill(Int32(pid), 0) != 0 }, "the worker outlived its unload")
        let afterUnload = HTTP.get(admin + "/admin/status", headers: Self.auth).json?["models"] as? [[String: Any]] ?? []
        XCTAssertNil(afterUnload.first(where: { $0["pid"] is Int }), "\(afterUnload)")
        XCTAssertEqual(HTTP.post(api + "/v1/chat/completions", Self.question, headers: Self.auth).status, 200)
        XCTAssertEqual(HTTP.post(admin + "/admin/unload", ["model": "default"], headers: Self.auth).status, 200)
        let load = HTTP.post(admin + "/admin/load", ["model": "default"], headers: Self.auth)
        XCTAssertEqual(load.status, 200, load.text)
        let reloaded = HTTP.get(admin + "/admin/status", headers: Self.auth).json?["models"] as? [[String: Any]] ?? []
        XCTAssertNotNil(reloaded.first?["pid"] as? Int, "\(reloaded)")
        XCTAssertEqual(HTTP.get(admin + "/admin/status").status, 401, "the admin API takes the same keys")
        let metrics = HTTP.get(admin + "/metrics", headers: Self.auth).text
        for name in ["modelhost_requests_total", "modelhost_time_to_first_token_seconds", "modelhost_prompt_tokens_total"] {
            XCTAssertTrue(metrics.contains(name), "metrics lack \(name)")
        }
    }

    /// `/tokenize` and `/detokenize` answer with the model's own tokenizer in its worker: the same ids as
    /// `modelhost tokenize` on the model file, pieces that concatenate to the text, and a round trip.
    func testTokenizeAndDetokenizeOverHTTP() throws {
        let server = try ServerProcess(environment: ["MODELHOST_API_KEYS": Self.key])
        defer { server.stop() }
        let api = server.baseURL
        let text = "Hello, world! <|im_end|> Grüße, 東京 🙂"
        let (status, cli) = try TestProcess.run("/bin/sh", ["-c", "printf '%s' \"$1\" | \"$2\" tokenize --json --model \"$3\"",
                                                            "sh", text, ServerProcess.modelhost, server.modelFile])
        XCTAssertEqual(status, 0, cli)
        let expected = try XCTUnwrap(try JSONSerialization.jsonObject(with: Data(cli.utf8)) as? [Int], cli)

        XCTAssertEqual(HTTP.post(api + "/tokenize", ["content": text]).status, 401, "the same keys as every route")
        let plain = HTTP.post(api + "/tokenize", ["content": text], headers: Self.auth)
        XCTAssertEqual(plain.status, 200, plain.text)
        XCTAssertEqual(plain.json?["tokens"] as? [Int], expected)
        XCTAssertEqual(plain.json?["model"] as? String, "SmolLM2-135M-Instruct.Q4_1", "the alias resolved")
        XCTAssertTrue(expected.contains(2), "<|im_end|> is parsed as its special token by default")

        let literal = HTTP.post(api + "/tokenize", ["model": "default", "content": text, "parse_special": false,
                                                    "with_pieces": true], headers: Self.auth)
        XCTAssertEqual(literal.status, 200, literal.text)
        let pieces = try XCTUnwrap(literal.json?["tokens"] as? [[String: Any]], literal.text)
        XCTAssertFalse(pieces.contains { $0["id"] as? Int == 2 }, "parse_special false keeps <|im_end|> as text")
        var bytes: [UInt8] = []
        for piece in pieces {
            if let string = piece["piece"] as? String { bytes += Array(string.utf8) }
            else { bytes += try XCTUnwrap(piece["piece"] as? [Int], "\(piece)").map { UInt8($0) } }
        }
        XCTAssertEqual(String(decoding: bytes, as: UTF8.self), text, "pieces concatenate to the text")

        let back = HTTP.post(api + "/detokenize", ["tokens": expected], headers: Self.auth)
        XCTAssertEqual(back.status, 200, back.text)
        XCTAssertEqual(back.json?["content"] as? String, text)

        // Errors name the field; the route's statuses are the API's.
        let outside = HTTP.post(api + "/detokenize", ["tokens": [1, 49152]], headers: Self.auth)
        XCTAssertEqual(outside.status, 400, outside.text)
        XCTAssertTrue((outside.error?["message"] as? String ?? "").contains("tokens[1] = 49152"), outside.text)
        XCTAssertEqual(HTTP.post(api + "/detokenize", ["tokens": [-1]], headers: Self.auth).error?["param"] as? String,
                       "tokens[0]")
        XCTAssertEqual(HTTP.post(api + "/tokenize", ["model": "nope", "content": "x"], headers: Self.auth).status, 404)
        XCTAssertEqual(HTTP.post(api + "/tokenize", ["text": "x"], headers: Self.auth).error?["param"] as? String, "content")
        XCTAssertEqual(HTTP.post(api + "/tokenize", ["content": "x", "extra": 1], headers: Self.auth).error?["param"]
                       as? String, "extra")
        XCTAssertEqual(HTTP.get(api + "/tokenize", headers: Self.auth).status, 405)
    }

    /// Workers run third-party plugins: their environment holds an explicit list of the orchestrator's variables,
    /// never the API keys or other secrets. After a clean SIGTERM the state directory holds no registry temporaries.
    func testWorkersGetAScrubbedEnvironmentAndShutdownLeavesNoTemporaries() throws {
        let server = try ServerProcess(environment: ["MODELHOST_API_KEYS": Self.key, "AWS_SECRET_ACCESS_KEY": "s3cr3t",
                                                     "LC_ALL": "C.UTF-8", "MODELHOST_TEST_MARK": "kept"])
        let state = server.directory.appendingPathComponent("state").path
        XCTAssertEqual(HTTP.post(server.adminURL + "/admin/load", ["model": "default"], headers: Self.auth).status, 200)
        let models = HTTP.get(server.adminURL + "/admin/status", headers: Self.auth).json?["models"] as? [[String: Any]]
        let pid = try XCTUnwrap(models?.first?["pid"] as? Int, "\(String(describing: models))")
        let environ = try XCTUnwrap(FileManager.default.contents(atPath: "/proc/\(pid)/environ"))
        let variables = Dictionary(environ.split(separator: 0).map { entry -> (String, String) in
            let text = String(decoding: entry, as: UTF8.self)
            let name = text.prefix { $0 != "=" }
            return (String(name), String(text.dropFirst(name.count + 1)))
        }) { first, _ in first }
        XCTAssertNil(variables["MODELHOST_API_KEYS"], "the worker can read the API keys")
        XCTAssertNil(variables["AWS_SECRET_ACCESS_KEY"])
        XCTAssertFalse(environ.range(of: Data(Self.key.utf8)) != nil, "the key appears in the worker's environment")
        XCTAssertNotNil(variables["PATH"])
        XCTAssertEqual(variables["LC_ALL"], "C.UTF-8")
        XCTAssertEqual(variables["MODELHOST_TEST_MARK"], "kept")
        XCTAssertNotNil(variables["MODELHOST_WORKER_MARKER"], "the registry's identity marker is set")

        // Requests in flight while SIGTERM arrives, so registry writes race the exit.
        for _ in 0..<3 {
            _ = HTTP.post(server.baseURL + "/v1/chat/completions", Self.question, headers: Self.auth)
        }
        kill(server.process.processIdentifier, SIGTERM)
        server.process.waitUntilExit()
        let left = (try? FileManager.default.contentsOfDirectory(atPath: state)) ?? []
        XCTAssertEqual(left.filter { $0.contains(".tmp-") }, [], "registry temporaries left: \(left)")
        server.stop()
    }

    /// SIGTERM with four streams open: the server is gone within the grace time + 2 s, every stream ended with an
    /// error event (or finished) and [DONE], shared memory and the state directory are clean, and the log tells it.
    func testSIGTERMEndsStreamsWithinTheGraceTime() throws {
        let shmBefore = Set((try? FileManager.default.contentsOfDirectory(atPath: "/dev/shm")) ?? [])
        let grace = 2.0
        let server = try ServerProcess(environment: ["MODELHOST_SHUTDOWN_GRACE": "\(grace)"])
        defer { server.stop() }
        let state = server.directory.appendingPathComponent("state").path
        XCTAssertEqual(HTTP.post(server.adminURL + "/admin/load", ["model": "default"]).status, 200)
        var endless = Self.endless
        endless["stream"] = true
        final class Bodies: @unchecked Sendable {
            let lock = NSLock()
            var texts: [String] = []
        }
        let bodies = Bodies()
        let group = DispatchGroup()
        for _ in 0..<4 {
            group.enter()
            Thread.detachNewThread {
                let reply = HTTP.post(server.baseURL + "/v1/completions", endless, timeout: 60)
                bodies.lock.withLock { bodies.texts.append(reply.text) }
                group.leave()
            }
        }
        XCTAssertTrue(waitUntil(20) {
            let status = HTTP.get(server.adminURL + "/admin/status").json?["models"] as? [[String: Any]]
            return (status?.first?["requests_in_flight"] as? Int) == 4
        }, "four streams did not start")
        let sent = Date()
        kill(server.process.processIdentifier, SIGTERM)
        server.process.waitUntilExit()
        let took = Date().timeIntervalSince(sent)
        XCTAssertLessThan(took, grace + 2, "the server took \(took) s to exit after SIGTERM")
        XCTAssertGreaterThan(took, grace - 0.5, "the streams were cut before the grace time ended")
        XCTAssertEqual(group.wait(timeout: .now() + 10), .success)
        XCTAssertEqual(bodies.texts.count, 4)
        for text in bodies.texts {
            XCTAssertTrue(text.hasSuffix("data: [DONE]\n\n"), String(text.suffix(300)))
            XCTAssertTrue(text.contains("\"shutting_down\"") || text.contains("\"finish_reason\":\"length\""),
                          String(text.suffix(300)))
        }
        let shmAfter = Set((try? FileManager.default.contentsOfDirectory(atPath: "/dev/shm")) ?? [])
        XCTAssertEqual(shmAfter.subtracting(shmBefore).filter { $0.hasPrefix("mh-") }, [], "shared memory left behind")
        let left = (try? FileManager.default.contentsOfDirectory(atPath: state)) ?? []
        XCTAssertEqual(left.filter { $0.contains(".tmp-") }, [])
        let registry = try XCTUnwrap(FileManager.default.contents(atPath: state + "/workers.json"))
        let document = try XCTUnwrap(JSONSerialization.jsonObject(with: registry) as? [String: Any])
        XCTAssertEqual((document["workers"] as? [Any])?.count, 0, "\(document)")
        let log = server.logText
        for line in ["SIGTERM: shutting down", "request(s) in flight get 2.0 seconds", "grace time over; ended",
                     "HTTP servers stopped; stopping the workers", "workers stopped"] {
            XCTAssertTrue(log.contains(line), "the log lacks '\(line)':\n\(log)")
        }
    }

    /// A second signal ends the grace time at once.
    func testASecondSignalEndsTheGraceTimeAtOnce() throws {
        let server = try ServerProcess(environment: ["MODELHOST_SHUTDOWN_GRACE": "60"])
        defer { server.stop() }
        var endless = Self.endless
        endless["stream"] = true
        let done = DispatchSemaphore(value: 0)
        Thread.detachNewThread {
            _ = HTTP.post(server.baseURL + "/v1/completions", endless, timeout: 60)
            done.signal()
        }
        XCTAssertTrue(waitUntil(20) {
            let status = HTTP.get(server.adminURL + "/admin/status").json?["models"] as? [[String: Any]]
            return (status?.first?["requests_in_flight"] as? Int) == 1
        })
        let sent = Date()
        kill(server.process.processIdentifier, SIGTERM)
        Thread.sleep(forTimeInterval: 0.3)
        kill(server.process.processIdentifier, SIGINT)
        server.process.waitUntilExit()
        XCTAssertLessThan(Date().timeIntervalSince(sent), 3, "the second signal did not end the 60 s grace time")
        XCTAssertEqual(done.wait(timeout: .now() + 10), .success)
        XCTAssertTrue(server.logText.contains("second signal; ended 1 request(s)"), server.logText)
    }

    /// A stopped (SIGSTOP) worker with a stream in flight and a second request queued behind it: both get answers
    /// within the request timeout + 3 s, an error for the stream and a normal answer for the queued request, which
    /// the supervisor runs on the hung worker's replacement.
    func testAStoppedWorkerIsReplacedAndTheQueuedRequestIsAnswered() throws {
        let timeout = 8.0
        let server = try ServerProcess(environment: ["MODELHOST_REQUEST_TIMEOUT": "\(Int(timeout))"])
        defer { server.stop() }
        XCTAssertEqual(HTTP.post(server.adminURL + "/admin/load", ["model": "default"]).status, 200)
        let status = HTTP.get(server.adminURL + "/admin/status").json?["models"] as? [[String: Any]]
        let pid = try XCTUnwrap(status?.first?["pid"] as? Int)
        var endless = Self.endless
        endless["stream"] = true
        final class Replies: @unchecked Sendable {
            let lock = NSLock()
            var stream = ""
            var queued: HTTP.Reply?
            var queuedAfter = 0.0
        }
        let replies = Replies()
        let group = DispatchGroup()
        group.enter()
        Thread.detachNewThread {
            let reply = HTTP.post(server.baseURL + "/v1/completions", endless, timeout: 60)
            replies.lock.withLock { replies.stream = reply.text }
            group.leave()
        }
        XCTAssertTrue(waitUntil(20) {
            let models = HTTP.get(server.adminURL + "/admin/status").json?["models"] as? [[String: Any]]
            return (models?.first?["requests_in_flight"] as? Int) == 1
        })
        Thread.sleep(forTimeInterval: 0.3)
        kill(Int32(pid), SIGSTOP)
        let started = Date()
        group.enter()
        Thread.detachNewThread {
            let reply = HTTP.post(server.baseURL + "/v1/chat/completions", Self.question, timeout: 60)
            replies.lock.withLock {
                replies.queued = reply
                replies.queuedAfter = Date().timeIntervalSince(started)
            }
            group.leave()
        }
        XCTAssertEqual(group.wait(timeout: .now() + timeout + 3), .success, "an answer took longer than the timeout + 3 s")
        kill(Int32(pid), SIGKILL)  // in case it was not
        let queued = try XCTUnwrap(replies.queued)
        XCTAssertEqual(queued.status, 200, queued.text)
        XCTAssertNotNil((queued.json?["choices"] as? [[String: Any]])?.first?["message"], queued.text)
        XCTAssertLessThan(replies.queuedAfter, timeout + 3)
        XCTAssertTrue(replies.stream.contains("\"error\""), String(replies.stream.suffix(300)))
        XCTAssertTrue(replies.stream.hasSuffix("data: [DONE]\n\n"), String(replies.stream.suffix(300)))
        XCTAssertTrue(server.logText.contains("killing it as hung"), server.logText)
        XCTAssertTrue(server.logText.contains("running it on a new worker"), server.logText)
    }

    /// schemathesis fuzzes the live server from its OpenAPI description: no server error, no response that breaks the
    /// document (statuses, content types, bodies, SSE events), no invalid request accepted. Schema-valid requests that
    /// the model itself refuses (images for a text-only model) are correct 400s a schema cannot state, so the
    /// "valid data accepted" check is left out. Chat answers are capped at 16 tokens so real generations stay short.
    func testSchemathesisFindsNoServerErrorsOrSchemaViolations() throws {
        let server = try ServerProcess(environment: ["MODELHOST_MAX_TOKENS": "16"])
        defer { server.stop() }
        var environment = ProcessInfo.processInfo.environment
        environment["SCHEMATHESIS_TELEMETRY"] = "false"
        let (status, text) = try TestProcess.run("st", [
            "run", server.baseURL + "/openapi.json", "--url", server.baseURL, "--max-examples", "40",
            "--request-timeout", "120", "--seed", "20261207", "--exclude-checks", "positive_data_acceptance",
        ], environment: environment)
        print(text.split(separator: "\n").suffix(25).joined(separator: "\n"))
        XCTAssertEqual(status, 0, "schemathesis found problems (st comes from scripts/setup's .venv):\n\(text)")
        XCTAssertFalse(server.logText.contains("unexpected error"), server.logText)
    }

    /// Overload: 64 concurrent clients against 2 slots and a queue of 4. Every refusal is a 429 or 503 with
    /// `Retry-After`, nothing else fails (no 500/502/504), and everything admitted completes; with the slots busy,
    /// a high-priority request queued after a low-priority one is served first.
    func testOverloadRefusesCleanlyAndHighPriorityOvertakes() throws {
        let server = try ServerProcess(environment: [
            "MODELHOST_MAX_CONCURRENT_REQUESTS": "2", "MODELHOST_QUEUE_MAX_DEPTH": "4",
        ])
        defer { server.stop() }
        XCTAssertEqual(HTTP.post(server.adminURL + "/admin/load", ["model": "default"]).status, 200)
        final class Results: @unchecked Sendable {
            let lock = NSLock()
            var replies: [(status: Int, retryAfter: String?, completed: Bool)] = []
            var order: [String] = []
        }
        let results = Results()
        var short = Self.question
        short["max_tokens"] = 24
        let group = DispatchGroup()
        for index in 0..<64 {
            group.enter()
            Thread.detachNewThread {
                let priority = ["high", "normal", "low"][index % 3]
                let reply = HTTP.post(server.baseURL + "/v1/chat/completions", short, headers: ["X-Priority": priority],
                                      timeout: 120)
                let completed = ((reply.json?["choices"] as? [[String: Any]])?.first?["finish_reason"] as? String) != nil
                results.lock.withLock {
                    results.replies.append((reply.status, reply.headers["retry-after"], completed))
                }
                group.leave()
            }
        }
        XCTAssertEqual(group.wait(timeout: .now() + 180), .success)
        let replies = results.replies
        XCTAssertEqual(replies.count, 64)
        let statuses = Dictionary(grouping: replies, by: \.status).mapValues(\.count)
        print("overload: statuses \(statuses)")
        XCTAssertTrue(Set(statuses.keys).isSubset(of: [200, 429, 503]), "\(statuses)")
        XCTAssertGreaterThan(statuses[200] ?? 0, 0)
        XCTAssertGreaterThan((statuses[429] ?? 0) + (statuses[503] ?? 0), 0, "64 clients never overloaded 2 slots + 4")
        for reply in replies where reply.status != 200 {
            XCTAssertNotNil(reply.retryAfter, "a \(reply.status) without Retry-After")
        }
        XCTAssertTrue(replies.filter { $0.status == 200 }.allSatisfy(\.completed), "an admitted request did not complete")

        // Priority: both slots busy with answers of different lengths (so one slot frees well before the other), a
        // low-priority request queues, then a high-priority one: the first free slot goes to the high one, which
        // finishes while the low one still waits for the second.
        var long = Self.endless
        long["model"] = "default"
        let busy = DispatchGroup()
        for tokens in [300, 1_200] {
            long["max_tokens"] = tokens
            let body = long
            busy.enter()
            Thread.detachNewThread {
                _ = HTTP.post(server.baseURL + "/v1/completions", body, timeout: 120)
                busy.leave()
            }
        }
        XCTAssertTrue(waitUntil(20) {
            (HTTP.get(server.adminURL + "/admin/queue").json?["active_slots"] as? Int) == 2
        })
        let queued = DispatchGroup()
        for priority in ["low", "high"] {
            queued.enter()
            Thread.detachNewThread {
                let reply = HTTP.post(server.baseURL + "/v1/chat/completions", short, headers: ["X-Priority": priority],
                                      timeout: 120)
                results.lock.withLock { results.order.append("\(priority) \(reply.status)") }
                queued.leave()
            }
            XCTAssertTrue(waitUntil(10) {
                let waiting = HTTP.get(server.adminURL + "/admin/queue").json?["waiting_by_priority"] as? [String: Int]
                return (waiting?[priority] ?? 0) == 1
            }, "the \(priority) request did not queue")
        }
        XCTAssertEqual(queued.wait(timeout: .now() + 120), .success)
        XCTAssertEqual(busy.wait(timeout: .now() + 120), .success)
        XCTAssertEqual(results.order, ["high 200", "low 200"], "the high-priority request did not overtake")
    }

    /// Idle unload and transparent reload, the request deadline (504), a worker killed mid-request (502, then a
    /// fresh worker), and a full queue (503 with Retry-After).
    func testLifecycleDeadlinesCrashesAndAdmission() throws {
        let server = try ServerProcess(environment: [
            "MODELHOST_IDLE_TIMEOUT": "2", "MODELHOST_REQUEST_TIMEOUT": "4",
            "MODELHOST_MAX_CONCURRENT_REQUESTS": "1", "MODELHOST_QUEUE_MAX_DEPTH": "1",
        ])
        defer { server.stop() }
        let api = server.baseURL, admin = server.adminURL
        func workerPID() -> Int? {
            (HTTP.get(admin + "/admin/status").json?["models"] as? [[String: Any]])?.compactMap { $0["pid"] as? Int }.first
        }

        XCTAssertEqual(HTTP.post(api + "/v1/chat/completions", Self.question).status, 200)
        let first = try XCTUnwrap(workerPID())
        XCTAssertTrue(waitUntil(8) { workerPID() == nil && kill(Int32(first), 0) != 0 }, "no idle unload")
        let again = HTTP.post(api + "/v1/chat/completions", Self.question)
        XCTAssertEqual(again.status, 200, "no transparent reload: \(again.text)")
        XCTAssertNotEqual(workerPID(), first)

        let started = Date()
        let late = HTTP.post(api + "/v1/completions", Self.endless)
        XCTAssertEqual(late.status, 504, late.text)
        XCTAssertLessThan(Date().timeIntervalSince(started), 8)

        // A worker killed mid-request: that request fails with 502, the next one gets a fresh worker.
        let victim = try XCTUnwrap(workerPID())
        let crashed = background { HTTP.post(api + "/v1/completions", Self.endless) }
        Thread.sleep(forTimeInterval: 1)
        kill(Int32(victim), SIGKILL)
        let crashReply = crashed.wait()
        XCTAssertEqual(crashReply.status, 502, crashReply.text)
        XCTAssertEqual(HTTP.post(api + "/v1/chat/completions", Self.question).status, 200)

        // One running, one queued, the third is refused at once.
        let running = background { HTTP.post(api + "/v1/completions", Self.endless) }
        Thread.sleep(forTimeInterval: 0.5)
        let queued = background { HTTP.post(api + "/v1/completions", Self.endless) }
        Thread.sleep(forTimeInterval: 0.5)
        let refused = HTTP.post(api + "/v1/chat/completions", Self.question)
        XCTAssertEqual(refused.status, 503, refused.text)
        XCTAssertNotNil(refused.headers["retry-after"])
        _ = running.wait()
        _ = queued.wait()

        // A streaming client that disconnects frees its slot (the only one) and its sequence at once.
        var endless = Self.endless
        endless["stream"] = true
        let socket = try RawClient(port: server.apiPort)
        try socket.send(post: "/v1/completions", json: endless)
        XCTAssertTrue(try socket.readUntil("\"text\""), "no streamed text before the disconnect: \(socket.received)")
        socket.close()
        XCTAssertTrue(waitUntil(3) {
            let models = HTTP.get(admin + "/admin/status").json?["models"] as? [[String: Any]] ?? []
            return models.allSatisfy { ($0["requests_in_flight"] as? Int ?? 0) == 0 }
        }, "the disconnected stream is still in flight")
        let after = HTTP.post(api + "/v1/chat/completions", Self.question)
        XCTAssertEqual(after.status, 200, "the slot was not freed: \(after.text)")
    }

    /// The default model converted losslessly to the mlx-community layout (4-bit affine safetensors, config.json,
    /// tokenizer.json, tokenizer_config.json with the chat template) and served as `org/name` from the models
    /// directory answers exactly as the GGUF does: same prompt tokens, same greedy text.
    func testMLXModelDirectoryServesLikeTheGGUF() throws {
        let server = try ServerProcess { models in
            let script = ServerProcess.root.appendingPathComponent("scripts/fixtures/convert_to_safetensors.py").path
            let work = models.deletingLastPathComponent().appendingPathComponent("convert")
            let (status, output) = try TestPython.run([script, try ServerProcess.defaultModel(), work.path, "--only", "mlx",
                                                    "--tokenizer"])
            guard status == 0 else {
                throw NSError(domain: "convert", code: 1, userInfo: [NSLocalizedDescriptionKey:
                    "conversion failed (needs numpy gguf safetensors tokenizers, as .ci/run installs): \(output)"])
            }
            try FileManager.default.createDirectory(at: models.appendingPathComponent("test-org"), withIntermediateDirectories: true)
            try FileManager.default.moveItem(at: work.appendingPathComponent("mlx"),
                                             to: models.appendingPathComponent("test-org/SmolLM2-MLX"))
        }
        defer { server.stop() }
        let list = HTTP.get(server.baseURL + "/v1/models").json?["data"] as? [[String: Any]] ?? []
        XCTAssertEqual(Set(list.compactMap { $0["id"] as? String }), ["SmolLM2-135M-Instruct.Q4_1", "test-org/SmolLM2-MLX"])
        for question in ["What is the capital of France?", "Write a haiku about the sea."] {
            var answers: [String] = []
            var promptTokens: [Int] = []
            for model in ["default", "test-org/SmolLM2-MLX"] {
                let r = HTTP.post(server.baseURL + "/v1/chat/completions", [
                    "model": model, "messages": [["role": "user", "content": question]], "temperature": 0, "max_tokens": 24,
                ])
                XCTAssertEqual(r.status, 200, "\(model): \(r.text)\n\(server.logText)")
                let message = (r.json?["choices"] as? [[String: Any]])?.first?["message"] as? [String: Any]
                answers.append(message?["content"] as? String ?? "")
                promptTokens.append((r.json?["usage"] as? [String: Any])?["prompt_tokens"] as? Int ?? -1)
            }
            XCTAssertEqual(answers[0], answers[1], question)
            XCTAssertEqual(promptTokens[0], promptTokens[1], question)
            XCTAssertFalse(answers[0].isEmpty)
        }
    }

    // MARK: Helpers

    /// HTTP/1.1 over a plain socket, for a client that goes away mid-stream.
    final class RawClient {
        let fd: Int32
        var received = ""

        init(port: Int) throws {
            fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
            var address = sockaddr_in()
            address.sin_family = sa_family_t(AF_INET)
            address.sin_addr.s_addr = inet_addr("127.0.0.1")
            address.sin_port = UInt16(port).bigEndian
            let ok = withUnsafePointer(to: &address) {
                $0.withMemoryRebound(to: sockaddr.self, capacity: 1) {
                    connect(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) == 0
                }
            }
            guard ok else { throw NSError(domain: "RawClient", code: Int(errno)) }
            // A reply that never contains the marker (an error on a kept-alive connection) must not hang the test.
            var timeout = timeval(tv_sec: 20, tv_usec: 0)
            setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &timeout, socklen_t(MemoryLayout<timeval>.size))
        }

        func send(post path: String, json: Any) throws {
            let body = try JSONSerialization.data(withJSONObject: json)
            let head = "POST \(path) HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
                + "Content-Length: \(body.count)\r\n\r\n"
            let bytes = Array(head.utf8) + Array(body)
            _ = bytes.withUnsafeBytes { Glibc.send(fd, $0.baseAddress, $0.count, 0) }
        }

        /// Reads until `marker` appears (true), or the server closes or stays silent for 20 s (false).
        func readUntil(_ marker: String) throws -> Bool {
            var buffer = [UInt8](repeating: 0, count: 4096)
            while !received.contains(marker) {
                let n = recv(fd, &buffer, buffer.count, 0)
                if n <= 0 { return false }
                received += String(decoding: buffer[0..<n], as: UTF8.self)
            }
            return true
        }

        func close() { Glibc.close(fd) }
    }

    final class Background<T>: @unchecked Sendable {
        private var value: T?
        private let done = DispatchSemaphore(value: 0)
        init(_ work: @escaping () -> T) {
            Thread.detachNewThread { [self] in
                value = work()
                done.signal()
            }
        }
        func wait() -> T {
            done.wait()
            return value!
        }
    }

    func background<T>(_ work: @escaping () -> T) -> Background<T> { Background(work) }

    func waitUntil(_ seconds: Double, _ condition: () -> Bool) -> Bool {
        let end = Date().addingTimeInterval(seconds)
        while Date() < end {
            if condition() { return true }
            Thread.sleep(forTimeInterval: 0.1)
        }
        return condition()
    }
}
