import Foundation
import TestScratch
import XCTest

/// Running several replicas: the gauges a balancer or autoscaler reads, the deployment files (validated offline), and
/// three real servers behind a real HAProxy (scripts/bench/replicas.py: key routing, failover under SIGKILL, a
/// rolling restart, conversation affinity against round robin).
final class ReplicaTests: XCTestCase {
    static let key = "sk-test-replicas"
    static let auth = ["Authorization": "Bearer \(key)"]

    /// The per-model load the worker reports with each pong: KV positions in use while a request runs, held by the
    /// prefix cache after it, and the same figures as Prometheus gauges.
    func testWorkerLoadGauges() throws {
        let server = try ServerProcess(environment: ["MODELHOST_API_KEYS": Self.key])
        defer { server.stop() }
        let admin = server.adminURL
        // A long answer (end tokens banned) so that the worker is seen mid-request.
        let body: [String: Any] = [
            "model": "default", "max_tokens": 400, "temperature": 0, "logit_bias": ["0": -100, "2": -100],
            "messages": [["role": "user", "content": "Tell me a long story about a lighthouse keeper."]]]
        let done = DispatchSemaphore(value: 0)
        let reply = Locked<HTTP.Reply?>(nil)
        Thread.detachNewThread {
            reply.set(HTTP.post(server.baseURL + "/v1/chat/completions", body, headers: Self.auth))
            done.signal()
        }
        func model() -> [String: Any]? {
            (HTTP.get(admin + "/admin/status", headers: Self.auth).json?["models"] as? [[String: Any]])?
                .first { $0["pid"] is Int }
        }
        var busy: [String: Int]?
        XCTAssertTrue(poll(60) {
            if let kv = model()?["kv_positions"] as? [String: Int], kv["used", default: 0] > 20 { busy = kv }
            return busy != nil
        }, "the worker never reported positions in use: \(String(describing: model()))")
        let running = try XCTUnwrap(busy)
        XCTAssertEqual(running["used", default: 0] + running["free", default: 0], running["capacity"], "\(running)")
        XCTAssertGreaterThan(running["capacity", default: 0], 8192, "sequences x context: \(running)")
        XCTAssertEqual(done.wait(timeout: .now() + 120), .success)
        XCTAssertEqual(reply.value?.status, 200)
        let generated = try XCTUnwrap((reply.value?.json?["usage"] as? [String: Any])?["total_tokens"] as? Int)
        // Idle: nothing in use, the finished sequence kept by the prefix cache (a ping every second updates it).
        var idle: [String: Int]?
        XCTAssertTrue(poll(10) {
            if let kv = model()?["kv_positions"] as? [String: Int], kv["used"] == 0, kv["cached", default: 0] > 0 { idle = kv }
            return idle != nil
        }, "\(String(describing: model()))")
        XCTAssertEqual(idle?["cached"], generated - 1, "the cache holds the prompt and all but the last token")
        XCTAssertEqual(model()?["queued_in_worker"] as? Int, 0)
        let id = try XCTUnwrap(model()?["id"] as? String)
        let metrics = HTTP.get(admin + "/metrics", headers: Self.auth).text
        for needle in [#"modelhost_kv_positions_used{model="\#(id)"} 0"#,
                       #"modelhost_kv_positions_cached{model="\#(id)"} \#(generated - 1)"#,
                       #"modelhost_kv_positions_free{model="\#(id)"}"#,
                       #"modelhost_model_requests_in_flight{model="\#(id)"} 0"#,
                       #"modelhost_model_queued_requests{model="\#(id)"} 0"#] {
            XCTAssertTrue(metrics.contains(needle), "missing \(needle)")
        }
        // prompt_cache_key, the balancer's routing key, is accepted (and must be a string).
        var keyed = body
        keyed["max_tokens"] = 2
        keyed["prompt_cache_key"] = "conversation-1"
        XCTAssertEqual(HTTP.post(server.baseURL + "/v1/chat/completions", keyed, headers: Self.auth).status, 200)
        keyed["prompt_cache_key"] = 7
        let wrong = HTTP.post(server.baseURL + "/v1/chat/completions", keyed, headers: Self.auth)
        XCTAssertEqual(wrong.status, 400)
        XCTAssertEqual(wrong.error?["param"] as? String, "prompt_cache_key")
    }

    /// deploy/: the Kubernetes manifests validate strictly against Kubernetes' schemas (and a broken one does not),
    /// HAProxy accepts the generated configurations, systemd accepts the unit (scripts/check-deploy).
    func testDeploymentFilesValidate() throws {
        let script = ServerProcess.root.appendingPathComponent("scripts/check-deploy").path
        let (status, output) = try TestPython.run([script, "--modelhost", ServerProcess.modelhost])
        print(output)
        XCTAssertEqual(status, 0, output)
    }

    /// Three replicas on 127.0.0.2-4 behind HAProxy: every figure of the harness must pass (it prints them).
    func testReplicasBehindHAProxy() throws {
        let script = ServerProcess.root.appendingPathComponent("scripts/bench/replicas.py").path
        let (status, output) = try TestPython.run([script, "--modelhost", ServerProcess.modelhost,
                                                   "--model", try ServerProcess.defaultModel()])
        print(output)
        XCTAssertEqual(status, 0, output)
    }

    private func poll(_ seconds: Double, _ condition: () -> Bool) -> Bool {
        let end = Date().addingTimeInterval(seconds)
        while Date() < end {
            if condition() { return true }
            Thread.sleep(forTimeInterval: 0.1)
        }
        return condition()
    }
}

/// A value one thread sets and another reads.
private final class Locked<T>: @unchecked Sendable {
    private let lock = NSLock()
    private var stored: T
    init(_ value: T) { stored = value }
    var value: T { lock.withLock { stored } }
    func set(_ value: T) { lock.withLock { stored = value } }
}
