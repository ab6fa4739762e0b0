import Foundation
import TestScratch
import XCTest

/// Presets on a real server: `presets.yaml` in the models directory names models and sets each key; SIGHUP and
/// `POST /admin/reload` reload it under load without failing a request; a bad file stops start-up with its line.
final class PresetServingTests: XCTestCase {
    static let key = "sk-test-presets"
    static let auth = ["Authorization": "Bearer \(key)"]
    static let base = """
        models:
          smollm2:135m:
            model: SmolLM2-135M-Instruct.Q4_1
            aliases: [smollm2, tiny-chat]
            context_length: 512
            max_tokens: 5
            sampling: {temperature: 0, top_k: 1}
            kv_cache_type: f32
            threads: 1
          two-threads:
            model: SmolLM2-135M-Instruct.Q4_1
            threads: 2
            plugin: org.modelhost.llama
          brief:
            model: SmolLM2-135M-Instruct.Q4_1
            idle_timeout: 1
          warm:
            model: SmolLM2-135M-Instruct.Q4_1
            load_at_start: true
            idle_timeout: 0
          wrong-plugin:
            model: SmolLM2-135M-Instruct.Q4_1
            plugin: org.example.nothing
          half-cache:
            model: SmolLM2-135M-Instruct.Q4_1
            kv_cache_type: f16
            sampling: {temperature: 0}
          no-reuse:
            model: SmolLM2-135M-Instruct.Q4_1
            prefix_cache_mib: 0

        """

    func chat(_ server: ServerProcess, _ model: String, _ extra: [String: Any] = [:]) -> HTTP.Reply {
        var body: [String: Any] = ["model": model, "messages": [["role": "user", "content": "Name a colour."]]]
        body.merge(extra) { $1 }
        return HTTP.post(server.baseURL + "/v1/chat/completions", body, headers: Self.auth)
    }

    func status(_ server: ServerProcess, _ model: String) -> [String: Any]? {
        (HTTP.get(server.adminURL + "/admin/status", headers: Self.auth).json?["models"] as? [[String: Any]])?
            .first { $0["id"] as? String == model }
    }

    func poll(_ seconds: Double, _ condition: () -> Bool) -> Bool {
        let end = Date().addingTimeInterval(seconds)
        while Date() < end {
            if condition() { return true }
            Thread.sleep(forTimeInterval: 0.1)
        }
        return condition()
    }

    func testEveryKeyOnARealServer() throws {
        let server = try ServerProcess(environment: ["MODELHOST_API_KEYS": Self.key]) { models in
            try Self.base.write(to: models.appendingPathComponent("presets.yaml"), atomically: true, encoding: .utf8)
        }
        defer { server.stop() }
        // load_at_start: loaded before any request names it.
        XCTAssertTrue(poll(30) { status(server, "warm")?["pid"] is Int }, "\(String(describing: status(server, "warm")))")

        // Names and aliases; max_tokens and sampling as the preset's defaults (greedy: the same answer each time).
        let listed = HTTP.get(server.baseURL + "/v1/models", headers: Self.auth).json?["data"] as? [[String: Any]] ?? []
        XCTAssertTrue(listed.contains { $0["id"] as? String == "smollm2:135m" }, "\(listed)")
        let a = chat(server, "smollm2"), b = chat(server, "tiny-chat"), c = chat(server, "smollm2:135m")
        XCTAssertEqual(a.status, 200, a.text)
        XCTAssertEqual(a.json?["model"] as? String, "smollm2")
        XCTAssertEqual((a.json?["usage"] as? [String: Any])?["completion_tokens"] as? Int, 5, "max_tokens")
        let text = { (r: HTTP.Reply) in ((r.json?["choices"] as? [[String: Any]])?.first?["message"] as? [String: Any])?["content"] as? String }
        XCTAssertEqual(text(a), text(b))
        XCTAssertEqual(text(a), text(c))
        let shown = HTTP.get(server.baseURL + "/v1/models/smollm2", headers: Self.auth).json ?? [:]
        XCTAssertEqual(shown["id"] as? String, "smollm2:135m")
        XCTAssertEqual((shown["defaults"] as? [String: Any])?["temperature"] as? Double, 0, "\(shown)")
        XCTAssertEqual((shown["defaults"] as? [String: Any])?["top_k"] as? Int, 1, "\(shown)")
        XCTAssertEqual((shown["defaults"] as? [String: Any])?["max_tokens"] as? Int, 5, "\(shown)")
        // context_length: the worker serves 512 positions (the model has 8,192).
        XCTAssertEqual(shown["context_length"] as? Int, 512, "\(shown)")
        let long = chat(server, "smollm2", ["messages": [["role": "user", "content": String(repeating: "word ", count: 600)]]])
        XCTAssertEqual(long.status, 400, long.text)
        let direct = chat(server, "SmolLM2-135M-Instruct.Q4_1",
                          ["messages": [["role": "user", "content": String(repeating: "word ", count: 600)]], "max_tokens": 2])
        XCTAssertEqual(direct.status, 200, "the file itself keeps its own context: \(direct.text)")

        // threads: the two-thread preset's worker runs one more thread than the one-thread preset's.
        XCTAssertEqual(chat(server, "two-threads").status, 200)
        func tasks(_ model: String) -> Int? {
            guard let pid = status(server, model)?["pid"] as? Int else { return nil }
            return try? FileManager.default.contentsOfDirectory(atPath: "/proc/\(pid)/task").count
        }
        let one = try XCTUnwrap(tasks("smollm2:135m")), two = try XCTUnwrap(tasks("two-threads"))
        XCTAssertEqual(two - one, 1, "threads 1 -> \(one) tasks, threads 2 -> \(two) tasks")

        // idle_timeout: this model's worker goes after a second idle; the others stay (the server's default is minutes).
        XCTAssertEqual(chat(server, "brief").status, 200)
        XCTAssertTrue(status(server, "brief")?["pid"] is Int)
        XCTAssertTrue(poll(10) { !(status(server, "brief")?["pid"] is Int) }, "the brief preset's worker stayed")
        XCTAssertTrue(status(server, "warm")?["pid"] is Int, "idle_timeout 0 keeps it loaded")

        // plugin: a pin to a plugin that is not installed fails the load, naming it.
        let pinned = chat(server, "wrong-plugin")
        XCTAssertEqual(pinned.status, 503, pinned.text)
        XCTAssertTrue(pinned.text.contains("org.example.nothing"), pinned.text)

        // kv_cache_type: the worker stores its cache in half precision, says so, and answers as the f32 cache does
        // (greedy, a short answer).
        let half = chat(server, "half-cache", ["max_tokens": 8])
        XCTAssertEqual(half.status, 200, half.text)
        XCTAssertEqual(status(server, "half-cache")?["kv_cache_type"] as? String, "f16")
        XCTAssertEqual(status(server, "smollm2:135m")?["kv_cache_type"] as? String, "f32")
        let full = chat(server, "SmolLM2-135M-Instruct.Q4_1", ["max_tokens": 8, "temperature": 0])
        XCTAssertEqual(text(half), text(full))

        // prefix_cache_mib: 0 keeps no finished conversation in this model's worker (the half-cache one keeps its).
        XCTAssertEqual(chat(server, "no-reuse", ["max_tokens": 4]).status, 200)
        XCTAssertTrue(poll(5) { ((status(server, "half-cache")?["kv_positions"] as? [String: Int])?["cached"] ?? 0) > 0 })
        Thread.sleep(forTimeInterval: 1.5)  // the worker's load arrives with its once-a-second ping
        XCTAssertEqual((status(server, "no-reuse")?["kv_positions"] as? [String: Int])?["cached"], 0)
    }

    func testReloadUnderLoadAndABadFile() throws {
        var presetsPath = ""
        let server = try ServerProcess(environment: ["MODELHOST_API_KEYS": Self.key]) { models in
            presetsPath = models.appendingPathComponent("presets.yaml").path
            try Self.base.write(toFile: presetsPath, atomically: true, encoding: .utf8)
        }
        defer { server.stop() }
        // Eight clients chat without a pause while the file changes twice and is reloaded by SIGHUP and by the admin API.
        let lock = NSLock()
        var failures: [String] = [], served = 0
        let running = NSCondition()
        var stop = false
        var threads: [Thread] = []
        for k in 0..<8 {
            let thread = Thread {
                while !(running.withLock { stop }) {
                    let reply = self.chat(server, k % 2 == 0 ? "smollm2" : "smollm2:135m", ["stream": k % 4 < 2])
                    lock.withLock {
                        if reply.status == 200 { served += 1 } else { failures.append("\(reply.status) \(reply.text.prefix(200))") }
                    }
                }
            }
            thread.start()
            threads.append(thread)
        }
        Thread.sleep(forTimeInterval: 2)
        try (Self.base.replacingOccurrences(of: "aliases: [smollm2, tiny-chat]", with: "aliases: [smollm2, tiny-chat, renamed]"))
            .write(toFile: presetsPath, atomically: true, encoding: .utf8)
        kill(server.process.processIdentifier, SIGHUP)
        XCTAssertTrue(poll(10) { server.logText.contains("SIGHUP: presets reloaded") }, server.logText)
        XCTAssertEqual(chat(server, "renamed").status, 200, "the new alias answers")
        Thread.sleep(forTimeInterval: 1)
        try (Self.base + "  extra:\n    model: SmolLM2-135M-Instruct.Q4_1\n    max_tokens: 3\n")
            .write(toFile: presetsPath, atomically: true, encoding: .utf8)
        let reloaded = HTTP.post(server.adminURL + "/admin/reload", [:] as [String: Any], headers: Self.auth)
        XCTAssertEqual(reloaded.status, 200, reloaded.text)
        XCTAssertTrue((reloaded.json?["presets"] as? [String])?.contains("extra") == true, reloaded.text)
        XCTAssertEqual((chat(server, "extra").json?["usage"] as? [String: Any])?["completion_tokens"] as? Int, 3)
        XCTAssertEqual(chat(server, "renamed").status, 404, "the alias went with the file that named it")
        // A broken file: refused with its line; the presets in force stay.
        try "models:\n  extra:\n    model: SmolLM2-135M-Instruct.Q4_1\n    max_tokenz: 3\n"
            .write(toFile: presetsPath, atomically: true, encoding: .utf8)
        let refused = HTTP.post(server.adminURL + "/admin/reload", [:] as [String: Any], headers: Self.auth)
        XCTAssertEqual(refused.status, 400, refused.text)
        XCTAssertTrue(refused.text.contains("presets.yaml:4:5: unknown key 'max_tokenz'"), refused.text)
        XCTAssertEqual(chat(server, "extra").status, 200, "the presets in force stayed")
        Thread.sleep(forTimeInterval: 1)
        running.withLock { stop = true }
        for thread in threads { while thread.isExecuting { Thread.sleep(forTimeInterval: 0.05) } }
        XCTAssertEqual(failures, [], "requests failed during the reloads")
        XCTAssertGreaterThan(served, 16)
        print("reload under load: \(served) requests served, \(failures.count) failed")
    }

    func testABadFileStopsStartUpWithItsLine() throws {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("mh-presets-\(UUID().uuidString.prefix(8))")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: directory) }
        let file = directory.appendingPathComponent("bad.yaml").path
        try "models:\n  a:\n    model: SmolLM2-135M-Instruct.Q4_1\n    colour: blue\n".write(toFile: file, atomically: true, encoding: .utf8)
        let (status, output) = try TestProcess.run(ServerProcess.modelhost, [
            "serve", "--port", String(try ServerProcess.freePort()), "--admin-port", String(try ServerProcess.freePort()),
            "--presets", file,
            "--state-dir", directory.appendingPathComponent("state").path])
        XCTAssertNotEqual(status, 0)
        XCTAssertTrue(output.contains("bad.yaml:4:5: unknown key 'colour' in preset 'a'"), output)
    }
}
