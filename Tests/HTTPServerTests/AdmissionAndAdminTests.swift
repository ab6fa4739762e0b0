import Foundation
import HTTPServer
import ServerConfig
import WorkerProtocol
import XCTest

final class AdmissionAndAdminTests: XCTestCase {
    let chat = #"{"model":"tiny","messages":[{"role":"user","content":"hi"}]}"#

    func testAdmissionControllerLimitQueueTimeoutAndPriority() async throws {
        let controller = AdmissionController(
            maxActive: 1, maxQueueDepth: 2,
            timeouts: [.high: .seconds(5), .normal: .seconds(5), .low: .milliseconds(100)])
        let first = try await controller.acquire(priority: .normal)
        // A low-priority waiter times out with 503 queue_timeout and Retry-After.
        do {
            _ = try await controller.acquire(priority: .low)
            XCTFail("expected a queue timeout")
        } catch let error as APIError {
            XCTAssertEqual(error.status, 503)
            XCTAssertEqual(error.code, "queue_timeout")
            XCTAssertNotNil(error.retryAfter)
        }
        // Order: normal queued first, then high; high must be served first.
        let order = OrderLog()
        let normal = Task { let slot = try await controller.acquire(priority: .normal); await order.add("normal"); return slot }
        try await Task.sleep(for: .milliseconds(50))
        let high = Task { let slot = try await controller.acquire(priority: .high); await order.add("high"); return slot }
        try await Task.sleep(for: .milliseconds(50))
        // The queue (depth 2) is now full: the next request is refused at once.
        do {
            _ = try await controller.acquire(priority: .high)
            XCTFail("expected queue_full")
        } catch let error as APIError {
            XCTAssertEqual(error.code, "queue_full")
            XCTAssertEqual(error.status, 503)
            XCTAssertNotNil(error.retryAfter)
        }
        await first.release()
        await first.release()  // Idempotent: must not free a second slot.
        let highSlot = try await high.value
        let snapshot = await controller.snapshot()
        XCTAssertEqual(snapshot.active, 1)
        XCTAssertEqual(snapshot.queueDepth, 1)
        await highSlot.release()
        let normalSlot = try await normal.value
        await normalSlot.release()
        let served = await order.entries
        XCTAssertEqual(served, ["high", "normal"])
        let final = await controller.snapshot()
        XCTAssertEqual(final.active, 0)
        XCTAssertEqual(final.totalTimeouts, 1)
        XCTAssertEqual(final.totalRejected, 1)
    }

    func testCancelledWaiterLeavesQueueWithoutTakingASlot() async throws {
        let controller = AdmissionController(maxActive: 1, maxQueueDepth: 4,
                                             timeouts: [.high: .seconds(5), .normal: .seconds(5), .low: .seconds(5)])
        let holder = try await controller.acquire(priority: .normal)
        let waiter = Task { try await controller.acquire(priority: .normal) }
        try await Task.sleep(for: .milliseconds(50))
        waiter.cancel()
        let result = await waiter.result
        XCTAssertThrowsError(try result.get())
        let snapshot = await controller.snapshot()
        XCTAssertEqual(snapshot.queueDepth, 0)
        await holder.release()
        let after = await controller.snapshot()
        XCTAssertEqual(after.active, 0)
    }

    func testQueueFullOverHTTPGives503WithRetryAfter() async throws {
        let backend = ScriptedBackend { request in [.sleep(.milliseconds(300))] + ScriptedBackend.hello(request) }
        var options = ServerOptions()
        options.maxConcurrentRequests = 1
        options.queue = QueueSettings(maxDepth: 0, high: 1, normal: 1, low: 1)
        try await withServer(backend, options: options) { server in
            let port = server.apiPort
            let slow = Task { try await HTTP.post(port: port, "/v1/chat/completions", json: chat) }
            try await Task.sleep(for: .milliseconds(100))
            let rejected = try await HTTP.post(port: port, "/v1/chat/completions", json: chat)
            XCTAssertEqual(rejected.status, 503)
            XCTAssertEqual(rejected.error?["code"] as? String, "queue_full")
            XCTAssertNotNil(rejected.headers["retry-after"])
            let slowStatus = try await slow.value.status
            XCTAssertEqual(slowStatus, 200)
            let metrics = try await HTTP.get(port: server.adminPort, "/metrics").body
            XCTAssertTrue(metrics.contains(#"modelhost_rejections_total{reason="queue_full"} 1"#), metrics)
        }
    }

    func testStreamHoldsItsSlotUntilTheEnd() async throws {
        let backend = ScriptedBackend { request in
            [.event(.text("a", index: 0, logprobs: nil)), .sleep(.milliseconds(300))] + ScriptedBackend.hello(request)
        }
        var options = ServerOptions()
        options.maxConcurrentRequests = 1
        options.queue = QueueSettings(maxDepth: 0, high: 1, normal: 1, low: 1)
        try await withServer(backend, options: options) { server in
            let port = server.apiPort
            let stream = Task {
                try await HTTP.post(port: port, "/v1/chat/completions",
                                    json: #"{"model":"tiny","messages":[{"role":"user","content":"x"}],"stream":true}"#)
            }
            try await Task.sleep(for: .milliseconds(100))
            let queue = try await HTTP.get(port: server.adminPort, "/admin/queue")
            XCTAssertEqual(queue.json?["active_slots"] as? Int, 1)
            let rejected = try await HTTP.post(port: port, "/v1/chat/completions", json: chat)
            XCTAssertEqual(rejected.status, 503)
            _ = try await stream.value
            let after = try await HTTP.post(port: port, "/v1/chat/completions", json: chat)
            XCTAssertEqual(after.status, 200)
        }
    }

    func testRateLimitGives429WithRetryAfter() async throws {
        var options = ServerOptions()
        options.rateLimit = RateLimitSettings(enabled: true, requestsPerMinute: 60, burst: 2)
        try await withServer(ScriptedBackend(), options: options) { server in
            for _ in 0..<2 {
                let accepted = try await HTTP.post(port: server.apiPort, "/v1/chat/completions", json: chat)
                XCTAssertEqual(accepted.status, 200)
            }
            let limited = try await HTTP.post(port: server.apiPort, "/v1/chat/completions", json: chat)
            XCTAssertEqual(limited.status, 429)
            XCTAssertEqual(limited.error?["code"] as? String, "rate_limited")
            XCTAssertEqual(limited.headers["retry-after"], "1")
        }
    }

    func testRateLimiterRefillsOverTime() throws {
        let clock = ManualClock()
        let limiter = RateLimiter(requestsPerMinute: 30, burst: 1, now: { clock.now })
        XCTAssertNoThrow(try limiter.take())
        XCTAssertThrowsError(try limiter.take()) { error in
            XCTAssertEqual((error as? APIError)?.retryAfter, 3)  // 2 s until the next token, rounded up + 1
        }
        clock.advance(.seconds(2))
        XCTAssertNoThrow(try limiter.take())
    }

    func testAPIKeys() async throws {
        var options = ServerOptions()
        options.apiKeys = ["sk-good"]
        try await withServer(ScriptedBackend(), options: options) { server in
            let missing = try await HTTP.post(port: server.apiPort, "/v1/chat/completions", json: chat)
            XCTAssertEqual(missing.status, 401)
            XCTAssertEqual(missing.error?["type"] as? String, "authentication_error")
            let wrong = try await HTTP.get(port: server.apiPort, "/v1/models", headers: ["Authorization": "Bearer sk-bad"])
            XCTAssertEqual(wrong.status, 401)
            let good = try await HTTP.get(port: server.apiPort, "/v1/models", headers: ["Authorization": "Bearer sk-good"])
            XCTAssertEqual(good.status, 200)
            let adminWithoutKey = try await HTTP.get(port: server.adminPort, "/admin/status")
            XCTAssertEqual(adminWithoutKey.status, 401)
            let health = try await HTTP.get(port: server.apiPort, "/health")
            XCTAssertEqual(health.status, 200)
        }
    }

    func testModelsEndpoints() async throws {
        try await withServer(ScriptedBackend()) { server in
            let list = try await HTTP.get(port: server.apiPort, "/v1/models")
            let data = try XCTUnwrap(list.json?["data"] as? [[String: Any]])
            XCTAssertEqual(data.map { $0["id"] as? String }, ["tiny", "org/vision"])
            XCTAssertEqual(data[0]["context_length"] as? Int, 2048)
            XCTAssertEqual(data[1]["input_modalities"] as? [String], ["text", "image"])
            let one = try await HTTP.get(port: server.apiPort, "/v1/models/org/vision")
            XCTAssertEqual(one.json?["id"] as? String, "org/vision")
            let missing = try await HTTP.get(port: server.apiPort, "/v1/models/nope")
            XCTAssertEqual(missing.status, 404)
            XCTAssertEqual(missing.error?["code"] as? String, "model_not_found")
            let unknownModel = try await HTTP.post(port: server.apiPort, "/v1/chat/completions",
                                                   json: #"{"model":"nope","messages":[{"role":"user","content":"x"}]}"#)
            XCTAssertEqual(unknownModel.status, 404)
            let route = try await HTTP.get(port: server.apiPort, "/v2/nothing")
            XCTAssertEqual(route.status, 404)
            XCTAssertNotNil(route.error?["message"])
            let adminRoute = try await HTTP.get(port: server.adminPort, "/admin/nothing")
            XCTAssertEqual(adminRoute.status, 404)
            XCTAssertNotNil(adminRoute.error?["message"])
        }
    }

    func testAdminEndpoints() async throws {
        let backend = ScriptedBackend()
        backend.statusValue.workerRestarts = 2
        try await withServer(backend) { server in
            let port = server.adminPort
            let status = try await HTTP.get(port: port, "/admin/status")
            let models = try XCTUnwrap(status.json?["models"] as? [[String: Any]])
            XCTAssertEqual(models.first?["pid"] as? Int, 42)
            XCTAssertEqual(models.first?["rss_bytes"] as? Int, 1 << 20)
            XCTAssertTrue(models.first?["kv_positions"] is NSNull, "no worker report yet: \(models)")
            XCTAssertNotNil(status.json?["uptime_seconds"] as? Int)
            XCTAssertNotNil(status.json?["config"])
            let response1 = try await HTTP.post(port: port, "/admin/load", json: #"{"model":"tiny"}"#)
            XCTAssertEqual(response1.status, 200)
            let response2 = try await HTTP.request(port: port, "POST", "/admin/load?model_path=tiny")
            XCTAssertEqual(response2.status, 200)
            let unknown = try await HTTP.post(port: port, "/admin/load", json: #"{"model":"nope"}"#)
            XCTAssertEqual(unknown.status, 404)
            XCTAssertNotNil(unknown.error)
            let response3 = try await HTTP.post(port: port, "/admin/load", json: #"{}"#)
            XCTAssertEqual(response3.status, 400)
            let response4 = try await HTTP.post(port: port, "/admin/unload", json: #"{"model":"tiny"}"#)
            XCTAssertEqual(response4.status, 200)
            let response5 = try await HTTP.get(port: port, "/admin/health")
            XCTAssertEqual(response5.json?["status"] as? String, "healthy")
            let queue = try await HTTP.get(port: port, "/admin/queue")
            XCTAssertNotNil(queue.json?["waiting_by_priority"] as? [String: Any])
            let capabilities = try await HTTP.get(port: port, "/admin/capabilities")
            XCTAssertEqual((capabilities.json?["models"] as? [Any])?.count, 2)
            let ready = try await HTTP.get(port: server.apiPort, "/ready")
            XCTAssertEqual(ready.status, 200)
        }
        backend.loadError = .workerDied(reason: "crash")
        try await withServer(backend) { server in
            let response6 = try await HTTP.post(port: server.adminPort, "/admin/load", json: #"{"model":"tiny"}"#)
            XCTAssertEqual(response6.status, 502)
        }
    }

    func testEvery503And429SaysWhenToRetry() {
        for status in [429, 503] {
            XCTAssertEqual(APIError(status: status, message: "m", type: "server_error").retryAfter, APIError.defaultRetryAfter)
        }
        XCTAssertNil(APIError(status: 400, message: "m", type: "invalid_request_error").retryAfter)
        for error in [BackendError.overloaded(retryAfter: 0), .unavailable("later"), .workerDied(reason: "crash")] {
            let api = APIError(error)
            if api.status == 503 || api.status == 429 { XCTAssertNotNil(api.retryAfter, "\(error)") }
        }
        XCTAssertEqual(APIError.shuttingDown.retryAfter, 5)
    }

    func testMetricsExposition() async throws {
        let backend = ScriptedBackend()
        backend.statusValue.workerRestarts = 3
        backend.statusValue.models[0].inFlight = 3
        backend.statusValue.models[0].load = WorkerLoad(running: 2, waiting: 1, kvPositionsUsed: 700,
                                                        kvPositionsCapacity: 8192, kvPositionsCached: 300)
        backend.statusValue.models.append(ModelStatus(id: "idle", state: "absent"))
        try await withServer(backend) { server in
            _ = try await HTTP.post(port: server.apiPort, "/v1/chat/completions", json: chat)
            _ = try await HTTP.post(port: server.apiPort, "/v1/chat/completions", json: #"{"model":1}"#)
            let text = try await HTTP.get(port: server.adminPort, "/metrics").body
            for needle in [
                #"modelhost_requests_total{endpoint="/v1/chat/completions",status="200"} 1"#,
                #"modelhost_requests_total{endpoint="/v1/chat/completions",status="400"} 1"#,
                "modelhost_time_to_first_token_seconds_count 1",
                "modelhost_inter_token_latency_seconds_count 1",
                #"modelhost_request_duration_seconds_count{endpoint="/v1/chat/completions"} 1"#,
                "modelhost_prompt_tokens_total 5", "modelhost_generated_tokens_total 2",
                "modelhost_prefix_cache_hits_total 1", "modelhost_queue_depth 0", "modelhost_running_requests 0",
                "modelhost_loaded_models 1", "modelhost_worker_restarts_total 3",
                // Per model, for balancers and autoscalers; a model without a worker reports zeros.
                #"modelhost_model_requests_in_flight{model="tiny"} 3"#, #"modelhost_model_queued_requests{model="tiny"} 1"#,
                #"modelhost_kv_positions_used{model="tiny"} 700"#, #"modelhost_kv_positions_free{model="tiny"} 7492"#,
                #"modelhost_kv_positions_cached{model="tiny"} 300"#, #"modelhost_kv_positions_free{model="idle"} 0"#,
            ] {
                XCTAssertTrue(text.contains(needle), "missing \(needle) in\n\(text)")
            }
            let status = try await HTTP.get(port: server.adminPort, "/admin/status")
            let tiny = try XCTUnwrap((status.json?["models"] as? [[String: Any]])?.first { $0["id"] as? String == "tiny" })
            XCTAssertEqual(tiny["queued_in_worker"] as? Int, 1)
            XCTAssertEqual(tiny["kv_positions"] as? [String: Int],
                           ["used": 700, "free": 7492, "capacity": 8192, "cached": 300])
        }
    }

    func testRawSocketBodyTooLargeAndMalformedJSON() async throws {
        try await withServer(ScriptedBackend(), options: ServerOptions(maxBodyBytes: 1 << 20)) { server in
            let port = server.apiPort
            let big = try await Task.detached { () throws -> RawResponse in
                let connection = try RawConnection(port: port)
                defer { connection.closeNow() }
                let body = [UInt8](repeating: UInt8(ascii: "a"), count: 2 * 1024 * 1024)
                connection.write(RawConnection.requestBytes(
                    method: "POST", path: "/v1/chat/completions", headers: ["Content-Type": "application/json"],
                    body: body))
                return try RawConnection.parse(connection.readAll())
            }.value
            XCTAssertEqual(big.status, 413)
            XCTAssertEqual(big.error?["code"] as? String, "request_too_large")
            let malformed = try await HTTP.post(port: port, "/v1/chat/completions", json: #"{"model": "tiny", "#)
            XCTAssertEqual(malformed.status, 400)
            XCTAssertEqual(malformed.error?["type"] as? String, "invalid_request_error")
            XCTAssertEqual(malformed.error?["code"] as? String, "invalid_json")
            let notObject = try await HTTP.post(port: port, "/v1/completions", json: "[1,2]")
            XCTAssertEqual(notObject.status, 400)

            // A chunked body with a bad chunk size is the client's mistake: 400 in OpenAI's shape, not a 500.
            let badChunk = try await Task.detached { () throws -> RawResponse in
                let connection = try RawConnection(port: port)
                defer { connection.closeNow() }
                connection.write(Array(("POST /v1/chat/completions HTTP/1.1\r\nHost: x\r\nConnection: close\r\n"
                    + "Transfer-Encoding: chunked\r\nContent-Type: application/json\r\n\r\nZZ\r\nabc\r\n0\r\n\r\n").utf8))
                return try RawConnection.parse(connection.readAll())
            }.value
            XCTAssertEqual(badChunk.status, 400, badChunk.body)
            XCTAssertEqual(badChunk.error?["code"] as? String, "malformed_body")
        }
    }

    /// HTTP the decoder cannot parse gets the API's JSON error (not Hummingbird's empty 400), on either port, and the
    /// connection is closed; the server keeps serving.
    func testUnparseableHTTPGetsAJSONError() async throws {
        try await withServer(ScriptedBackend()) { server in
            let cases: [(String, String)] = [
                ("garbage request line", "\u{01}\u{02} nonsense\r\n\r\n"),
                ("bad header line", "GET /health HTTP/1.1\r\nHost: x\r\nno colon here\r\n\r\n"),
                ("negative Content-Length", "POST /v1/completions HTTP/1.1\r\nHost: x\r\nContent-Length: -5\r\n\r\n"),
                ("garbage Content-Length", "POST /v1/completions HTTP/1.1\r\nHost: x\r\nContent-Length: ten\r\n\r\n"),
                ("1 MiB of headers", "GET /health HTTP/1.1\r\nHost: x\r\nX-Big: " + String(repeating: "a", count: 1 << 20) + "\r\n\r\n"),
                ("bad version", "GET /health HTTP/9.Z\r\n\r\n"),
            ]
            for port in [server.apiPort, server.adminPort] {
                for (name, raw) in cases {
                    let response = try await Task.detached { () throws -> RawResponse in
                        let connection = try RawConnection(port: port)
                        defer { connection.closeNow() }
                        connection.write(Array(raw.utf8))
                        return try RawConnection.parse(connection.readAll())
                    }.value
                    XCTAssertEqual(response.status, 400, "\(name): \(response.body)")
                    XCTAssertEqual(response.headers["content-type"], "application/json", name)
                    XCTAssertEqual(response.error?["type"] as? String, "invalid_request_error", name)
                    XCTAssertEqual(response.error?["code"] as? String, "malformed_http", name)
                }
            }
            // A well-formed request on a keep-alive connection followed by garbage: the first is answered normally.
            let pipelined = try await Task.detached { () throws -> String in
                let connection = try RawConnection(port: server.apiPort)
                defer { connection.closeNow() }
                connection.write(Array("GET /health HTTP/1.1\r\nHost: x\r\n\r\n\u{01}garbage\r\n\r\n".utf8))
                return String(decoding: connection.readAll(), as: UTF8.self)
            }.value
            XCTAssertTrue(pipelined.hasPrefix("HTTP/1.1 200"), pipelined)
            XCTAssertTrue(pipelined.contains("malformed_http"), pipelined)
            let health = try await HTTP.get(port: server.apiPort, "/health")
            XCTAssertEqual(health.status, 200)
        }
    }
}

actor OrderLog {
    private(set) var entries: [String] = []
    func add(_ entry: String) { entries.append(entry) }
}

final class ManualClock: @unchecked Sendable {
    private let lock = NSLock()
    private var current = ContinuousClock.now
    var now: ContinuousClock.Instant { lock.withLock { current } }
    func advance(_ duration: Duration) { lock.withLock { current += duration } }
}
