import Foundation
import HTTPServer
import XCTest

/// The HTTP side of a bounded shutdown, over a scripted backend whose generations never end on their own.
final class ShutdownDrainTests: XCTestCase {
    let chat = #"{"model":"tiny","messages":[{"role":"user","content":"hi"}]}"#
    let streamingChat = #"{"model":"tiny","messages":[{"role":"user","content":"hi"}],"stream":true}"#

    func testDrainRefusesNewWorkAndEndsRunningWorkWhenGraceEnds() async throws {
        let backend = ScriptedBackend { _ in [.event(.text("a", index: 0, logprobs: nil)), .hang] }
        let server = ModelHostServer(backend: backend, options: ServerOptions())
        let running = try await server.start()
        defer { Task { await running.stop() } }
        let port = running.apiPort

        // Two generations in flight: one streamed, one whole (on threads of their own: a blocking read on the
        // cooperative pool of a 2-core machine would starve the server's handlers).
        let streamed = Self.onThread(port: port, json: streamingChat)
        let whole = Self.onThread(port: port, json: chat)
        var waited = 0
        while server.drain.inFlight < 2 && waited < 200 {
            try await Task.sleep(for: .milliseconds(10))
            waited += 1
        }
        XCTAssertEqual(server.drain.inFlight, 2)

        // Draining: /ready is 503 at once, new generations are refused with Retry-After; running ones continue.
        XCTAssertEqual(server.drain.begin(), 2)
        let ready = try await HTTP.get(port: port, "/ready")
        XCTAssertEqual(ready.status, 503)
        XCTAssertEqual(ready.headers["retry-after"], "5", "every 503 says when to come back")
        XCTAssertEqual((ready.json?["conditions"] as? [String: Any])?["shutting_down"] as? Bool, true)
        let refused = try await HTTP.post(port: port, "/v1/chat/completions", json: chat)
        XCTAssertEqual(refused.status, 503)
        XCTAssertEqual(refused.error?["code"] as? String, "shutting_down")
        XCTAssertEqual(refused.headers["retry-after"], "5")
        XCTAssertEqual(server.drain.inFlight, 2)

        // Grace over: the stream ends with an error event then [DONE]; the whole response is a 503.
        XCTAssertEqual(server.drain.expire(), 2)
        let stream = try await streamed.value
        let response = try await whole.value
        XCTAssertEqual(stream.status, 200)
        XCTAssertEqual(stream.events.last, "[DONE]")
        XCTAssertTrue(stream.events.dropLast().last?.contains("\"shutting_down\"") ?? false, stream.body)
        XCTAssertEqual(response.status, 503, response.body)
        XCTAssertEqual(response.error?["code"] as? String, "shutting_down")
        waited = 0
        while server.drain.inFlight > 0 && waited < 200 {
            try await Task.sleep(for: .milliseconds(10))
            waited += 1
        }
        XCTAssertEqual(server.drain.inFlight, 0, "ended requests unregister")
        XCTAssertEqual(backend.cancelled, 2, "ending a request cancels its generation in the backend")
    }

    /// A POST whose blocking socket reads run on a dedicated thread.
    static func onThread(port: Int, json: String) -> Task<RawResponse, any Error> {
        Task {
            try await withCheckedThrowingContinuation { continuation in
                Thread.detachNewThread {
                    do {
                        let connection = try RawConnection(port: port)
                        defer { connection.closeNow() }
                        connection.write(RawConnection.requestBytes(
                            method: "POST", path: "/v1/chat/completions",
                            headers: ["Content-Type": "application/json"], body: Array(json.utf8)))
                        continuation.resume(returning: try RawConnection.parse(connection.readAll()))
                    } catch {
                        continuation.resume(throwing: error)
                    }
                }
            }
        }
    }
}
