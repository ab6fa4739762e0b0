import Foundation
import TestScratch
import XCTest

/// What a newcomer meets first, on the real server and model: the README's request without sampling values, the
/// defaults the model reports, load progress in the log and in `/admin/status`, and `modelhost chat` / `run`.
final class FirstRunTests: XCTestCase {
    /// The README's first example: no max_tokens, no temperature. It gets the server's defaults (llama-server's), so
    /// the answer ends on its own instead of running to the end of the context. A seed makes it reproducible.
    func testReadmeRequestWithoutSamplingValuesEndsWithStop() throws {
        let server = try ServerProcess()
        defer { server.stop() }
        let model = HTTP.get(server.baseURL + "/v1/models/default")
        XCTAssertEqual(model.status, 200, model.text)
        let defaults = try XCTUnwrap(model.json?["defaults"] as? [String: Any], model.text)
        XCTAssertEqual(defaults["temperature"] as? Double, 0.8)
        XCTAssertEqual(defaults["top_k"] as? Int, 40)
        XCTAssertEqual(defaults["top_p"] as? Double, 0.95)
        XCTAssertEqual(defaults["min_p"] as? Double, 0.05)
        XCTAssertEqual(defaults["max_tokens"] as? Int, 2048)
        XCTAssertEqual((model.json?["defaults_source"] as? [String: String])?["temperature"], "server",
                       "the default model's file recommends nothing")

        let reply = HTTP.post(server.baseURL + "/v1/chat/completions", [
            "model": "default", "seed": 7,
            "messages": [["role": "user", "content": "What is the capital of France?"]],
        ])
        XCTAssertEqual(reply.status, 200, reply.text)
        let choice = try XCTUnwrap((reply.json?["choices"] as? [[String: Any]])?.first, reply.text)
        XCTAssertEqual(choice["finish_reason"] as? String, "stop", reply.text)
        let content = try XCTUnwrap((choice["message"] as? [String: Any])?["content"] as? String)
        XCTAssertFalse(content.isEmpty)
        let usage = try XCTUnwrap(reply.json?["usage"] as? [String: Any])
        XCTAssertLessThan(usage["completion_tokens"] as? Int ?? .max, 200, content)
    }

    /// Loading is visible: the log says what loads, from where and how large, then how long it took; while it loads,
    /// `/admin/status` shows `loading` with the fraction done.
    func testLoadProgressInTheLogAndAdminStatus() throws {
        let server = try ServerProcess()
        defer { server.stop() }
        final class Seen: @unchecked Sendable {
            let lock = NSLock()
            var fractions: [Double] = []
            var states: Set<String> = []
        }
        let seen = Seen()
        let loading = DispatchSemaphore(value: 0)
        let admin = server.adminURL
        Thread.detachNewThread {
            let reply = HTTP.post(admin + "/admin/load", ["model": "default"])
            XCTAssertEqual(reply.status, 200, reply.text)
            loading.signal()
        }
        let deadline = Date().addingTimeInterval(60)
        while loading.wait(timeout: .now()) == .timedOut && Date() < deadline {
            let status = HTTP.get(admin + "/admin/status")
            for model in status.json?["models"] as? [[String: Any]] ?? [] {
                let state = model["state"] as? String ?? "?"
                seen.lock.withLock {
                    seen.states.insert(state)
                    if state == "loading" {
                        let fraction = model["load_progress"] as? Double
                        XCTAssertNotNil(fraction, "a loading model reports its progress: \(model)")
                        if let fraction { seen.fractions.append(fraction) }
                    } else {
                        XCTAssertTrue(model["load_progress"] is NSNull, "progress only while loading: \(model)")
                    }
                }
            }
        }
        XCTAssertTrue(seen.states.contains("loading"), "the 0.2 s load was never seen as loading: \(seen.states)")
        XCTAssertTrue(seen.fractions.allSatisfy { (0...1).contains($0) }, "\(seen.fractions)")
        XCTAssertEqual(seen.fractions, seen.fractions.sorted(), "progress never goes back")

        let log = server.logText
        XCTAssertTrue(log.contains("supervisor: loading SmolLM2-135M-Instruct.Q4_1 from "), log)
        XCTAssertTrue(log.contains(" MB) in worker "), log)
        XCTAssertTrue(log.contains("of the weights"), "at least one progress line: \(log)")
        XCTAssertNotNil(log.range(of: #"supervisor: loaded SmolLM2-135M-Instruct.Q4_1 in [0-9.]+ s with "#,
                                  options: .regularExpression), log)
        let status = HTTP.get(admin + "/admin/status")
        let model = try XCTUnwrap((status.json?["models"] as? [[String: Any]])?.first, status.text)
        XCTAssertEqual(model["state"] as? String, "ready")
    }

    /// `modelhost chat` through a pseudo-terminal, as a person types: a question and its streamed answer, a
    /// multi-line message, Ctrl-C in the middle of a long answer (the answer stops, the server stops generating, the
    /// chat stays), Ctrl-C at the prompt, /system and /reset, Ctrl-D to leave.
    func testChatInAPseudoTerminal() throws {
        let server = try ServerProcess()
        defer { server.stop() }
        let script = ServerProcess.root.appendingPathComponent("Tests/ServingTests/chat_pty.py").path
        let (status, output) = try TestPython.run([script, ServerProcess.modelhost, server.baseURL, server.adminURL])
        print(output)
        XCTAssertEqual(status, 0, "chat check failed:\n\(output)\nserver log:\n\(server.logText)")
    }

    /// `modelhost run MODEL "prompt"` for scripts: the answer on standard output, exit 0; a failure is one line on
    /// standard error and exit 1.
    func testRunOneShot() throws {
        let server = try ServerProcess()
        defer { server.stop() }
        func run(_ arguments: [String], input: String? = nil) throws -> (Int32, String, String) {
            let process = Process()
            process.executableURL = URL(fileURLWithPath: ServerProcess.modelhost)
            process.arguments = arguments
            let out = Pipe(), err = Pipe(), stdin = Pipe()
            process.standardOutput = out
            process.standardError = err
            process.standardInput = stdin
            try process.run()
            if let input { stdin.fileHandleForWriting.write(Data(input.utf8)) }
            try stdin.fileHandleForWriting.close()
            let output = String(decoding: out.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
            let error = String(decoding: err.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
            process.waitUntilExit()
            return (process.terminationStatus, output, error)
        }
        let (status, output, error) = try run(["run", "default", "What", "is", "the", "capital", "of", "France?",
                                               "--url", server.baseURL, "--temperature", "0"])
        XCTAssertEqual(status, 0, error)
        XCTAssertEqual(output, "The capital of France is Paris.\n")
        let piped = try run(["run", "default", "--url", server.baseURL, "--temperature", "0"],
                            input: "What is the capital of France?")
        XCTAssertEqual(piped.0, 0, piped.2)
        XCTAssertEqual(piped.1, output)
        let missing = try run(["run", "no-such-model", "hi", "--url", server.baseURL])
        XCTAssertEqual(missing.0, 1)
        XCTAssertEqual(missing.1, "")
        XCTAssertTrue(missing.2.hasPrefix("Error: model 'no-such-model' does not exist"), missing.2)
        XCTAssertEqual(missing.2.split(separator: "\n").count, 1, missing.2)
        let unreachable = try run(["run", "default", "hi", "--url", "http://127.0.0.1:\(try ServerProcess.freePort())"])
        XCTAssertEqual(unreachable.0, 1)
        XCTAssertTrue(unreachable.2.contains("cannot reach"), unreachable.2)
    }
}
