import Foundation
import TestScratch
import XCTest

/// `modelhost pull`, `list`, `rm` and `POST /admin/pull` against a local hub (Tests/ServingTests/hub_server.py; no
/// test touches the internet): a GGUF file interrupted half way and resumed with a Range request, a safetensors
/// folder, a corrupted file refused by its checksum with nothing left in the cache, a missing token, then both models
/// served by preset aliases.
final class PullTests: XCTestCase {
    func testPullResumeVerifyServeAndRemove() throws {
        let work = FileManager.default.temporaryDirectory.appendingPathComponent("mh-pull-\(UUID().uuidString.prefix(8))")
        defer { try? FileManager.default.removeItem(at: work) }
        let hubRoot = work.appendingPathComponent("hub-root"), hfHome = work.appendingPathComponent("hf-home")
        let fm = FileManager.default
        // The repositories: the default model as a GGUF repository, the embedding model as a folder (with a
        // PyTorch copy of its weights that a pull must skip), and one whose weights the server corrupts.
        let gguf = hubRoot.appendingPathComponent("test-org/SmolLM2-GGUF")
        try fm.createDirectory(at: gguf, withIntermediateDirectories: true)
        try fm.copyItem(atPath: try ServerProcess.defaultModel(),
                        toPath: gguf.appendingPathComponent("SmolLM2-135M-Instruct-Q4_1.gguf").path)
        try "# SmolLM2 in GGUF\n".write(to: gguf.appendingPathComponent("README.md"), atomically: true, encoding: .utf8)
        let folder = hubRoot.appendingPathComponent("test-org/MiniLM")
        try fm.createDirectory(at: folder.deletingLastPathComponent(), withIntermediateDirectories: true)
        try fm.copyItem(at: try EmbeddingServingTests.embeddingModel(), to: folder)
        try Data(repeating: 7, count: 1000).write(to: folder.appendingPathComponent("pytorch_model.bin"))
        let broken = hubRoot.appendingPathComponent("test-org/Broken")
        try fm.createDirectory(at: broken, withIntermediateDirectories: true)
        try Data((0..<300_000).map { UInt8($0 % 251) }).write(to: broken.appendingPathComponent("broken.gguf"))

        let log = work.appendingPathComponent("hub.log")
        let hub = Process()
        hub.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        hub.arguments = ["python3", ServerProcess.root.appendingPathComponent("Tests/ServingTests/hub_server.py").path,
                         hubRoot.path, "--token", "hf_test", "--fail-after", "20000000", "--corrupt", "broken.gguf",
                         "--log", log.path]
        let out = Pipe()
        hub.standardOutput = out
        try hub.run()
        defer { hub.terminate(); hub.waitUntilExit() }
        let portLine = String(decoding: out.fileHandleForReading.availableData, as: UTF8.self)
        let port = try XCTUnwrap(Int(portLine.trimmingCharacters(in: .whitespacesAndNewlines)), portLine)
        var env = ProcessInfo.processInfo.environment
        for key in env.keys where key.hasPrefix("MODELHOST_") || key.hasPrefix("HF_") { env[key] = nil }
        env["HF_ENDPOINT"] = "http://127.0.0.1:\(port)"
        env["HF_TOKEN"] = "hf_test"
        env["MODELHOST_HF_HOME"] = hfHome.path
        func modelhost(_ args: [String], _ environment: [String: String]? = nil) throws -> (Int32, String) {
            try TestProcess.run(ServerProcess.modelhost, args, environment: environment ?? env)
        }
        let cache = hfHome.appendingPathComponent("hub/models--test-org--SmolLM2-GGUF")

        // Interrupted after 20 MB: an error that says to pull again, the partial file kept, nothing under a final name.
        let (s1, o1) = try modelhost(["pull", "test-org/SmolLM2-GGUF:Q4_1"])
        XCTAssertNotEqual(s1, 0)
        XCTAssertTrue(o1.contains("pull again to resume"), o1)
        // What arrived before the connection dropped (at most the 20 MB the server sent).
        let kept = try XCTUnwrap(o1.range(of: #"broke off at (\d+) of"#, options: .regularExpression).map {
            Int(o1[$0].dropFirst("broke off at ".count).dropLast(" of".count))! }, o1)
        XCTAssertTrue(kept > 0 && kept <= 20_000_000, "\(kept)")
        let blobs = try fm.contentsOfDirectory(atPath: cache.appendingPathComponent("blobs").path)
        XCTAssertEqual(blobs.count, 1)
        XCTAssertTrue(blobs[0].hasSuffix(".incomplete"), "\(blobs)")
        XCTAssertFalse(fm.fileExists(atPath: cache.appendingPathComponent("snapshots").path))

        // Resumed: a Range request for the rest; the file verified against its SHA-256 and linked into a snapshot.
        let (s2, o2) = try modelhost(["pull", "test-org/SmolLM2-GGUF:Q4_1"])
        XCTAssertEqual(s2, 0, o2)
        XCTAssertTrue(o2.contains("resumed after \(kept) bytes"), o2)
        XCTAssertTrue(o2.contains("test-org/SmolLM2-GGUF:SmolLM2-135M-Instruct-Q4_1"), o2)
        let requests = try String(contentsOf: log, encoding: .utf8)
        XCTAssertTrue(requests.contains(#""range": "bytes=\#(kept)-""#), requests)
        XCTAssertFalse(requests.contains("README.md"), "a GGUF pull takes only its file")
        let pulled = try Data(contentsOf: cache.appendingPathComponent("snapshots").appendingPathComponent(
            try XCTUnwrap(fm.contentsOfDirectory(atPath: cache.appendingPathComponent("snapshots").path).first))
            .appendingPathComponent("SmolLM2-135M-Instruct-Q4_1.gguf"))
        XCTAssertEqual(pulled, try Data(contentsOf: URL(fileURLWithPath: try ServerProcess.defaultModel())), "byte for byte")
        let (s3, o3) = try modelhost(["pull", "test-org/SmolLM2-GGUF:Q4_1"])
        XCTAssertEqual(s3, 0, o3)
        XCTAssertTrue(o3.contains("0.0 MiB downloaded"), "a complete file is not fetched again: \(o3)")

        // A folder: configuration, tokenizer and safetensors; the PyTorch copy skipped. Its weights break off too,
        // and the second pull resumes them.
        let (s4a, o4a) = try modelhost(["pull", "test-org/MiniLM"])
        XCTAssertNotEqual(s4a, 0)
        XCTAssertTrue(o4a.contains("model.safetensors: the transfer broke off"), o4a)
        let (s4, o4) = try modelhost(["pull", "test-org/MiniLM"])
        XCTAssertEqual(s4, 0, o4)
        XCTAssertTrue(o4.contains("resumed after"), o4)
        XCTAssertFalse(try String(contentsOf: log, encoding: .utf8).contains("pytorch_model.bin"))

        // A corrupted file: refused by its checksum, and nothing of the repository left in the cache.
        let (s5, o5) = try modelhost(["pull", "test-org/Broken:broken"])
        XCTAssertNotEqual(s5, 0)
        XCTAssertTrue(o5.contains("checksum mismatch"), o5)
        XCTAssertFalse(fm.fileExists(atPath: hfHome.appendingPathComponent("hub/models--test-org--Broken").path))
        // No token: the hub's refusal, with what to do.
        var noToken = env
        noToken["HF_TOKEN"] = nil
        let (s6, o6) = try modelhost(["pull", "test-org/MiniLM"], noToken)
        XCTAssertNotEqual(s6, 0)
        XCTAssertTrue(o6.contains("HF_TOKEN"), o6)
        let (s7, o7) = try modelhost(["pull", "test-org/SmolLM2-GGUF:Q8_0"])
        XCTAssertNotEqual(s7, 0)
        XCTAssertTrue(o7.contains("SmolLM2-135M-Instruct-Q4_1.gguf"), "the error lists the files there are: \(o7)")

        let (s8, o8) = try modelhost(["list"])
        XCTAssertEqual(s8, 0, o8)
        XCTAssertTrue(o8.contains("test-org/SmolLM2-GGUF:SmolLM2-135M-Instruct-Q4_1") && o8.contains("test-org/MiniLM"), o8)

        // Served by preset aliases; the admin API pulls too, with progress events.
        let key = "sk-test-pull"
        let server = try ServerProcess(environment: ["MODELHOST_API_KEYS": key, "MODELHOST_HF_HOME": hfHome.path,
                                                     "HF_ENDPOINT": "http://127.0.0.1:\(port)", "HF_TOKEN": "hf_test"]) { models in
            try """
                models:
                  pulled-chat: {model: "test-org/SmolLM2-GGUF:Q4_1", sampling: {temperature: 0}}
                  pulled-embed: {model: test-org/MiniLM}
                """.write(to: models.appendingPathComponent("presets.yaml"), atomically: true, encoding: .utf8)
        }
        defer { server.stop() }
        let auth = ["Authorization": "Bearer \(key)"]
        let chat = HTTP.post(server.baseURL + "/v1/chat/completions", [
            "model": "pulled-chat", "max_tokens": 8, "messages": [["role": "user", "content": "Hello"]]], headers: auth)
        XCTAssertEqual(chat.status, 200, chat.text)
        let embed = HTTP.post(server.baseURL + "/v1/embeddings", ["model": "pulled-embed", "input": "a cat"], headers: auth)
        XCTAssertEqual(((embed.json?["data"] as? [[String: Any]])?.first?["embedding"] as? [Double])?.count, 384, embed.text)
        XCTAssertEqual(try modelhost(["rm", "test-org/MiniLM"]).0, 0)
        let events = HTTP.post(server.adminURL + "/admin/pull", ["model": "test-org/MiniLM"], headers: auth)
        XCTAssertEqual(events.status, 200, events.text)
        XCTAssertTrue(events.text.contains(#""status":"downloading""#) && events.text.contains(#""status":"success""#),
                      events.text)
        let refused = HTTP.post(server.adminURL + "/admin/pull", ["model": "test-org/Nothing", "stream": false], headers: auth)
        XCTAssertEqual(refused.status, 400, refused.text)
        XCTAssertTrue(refused.text.contains("no such repository"), refused.text)

        // rm: one GGUF file goes with its blob.
        let (s9, o9) = try modelhost(["rm", "test-org/SmolLM2-GGUF:Q4_1"])
        XCTAssertEqual(s9, 0, o9)
        XCTAssertFalse(fm.fileExists(atPath: cache.path), "the repository had nothing else")
        XCTAssertFalse(try modelhost(["list"]).1.contains("SmolLM2-GGUF"))

        // On a terminal, a progress bar redrawn in place (a pseudo-terminal, as a person's shell gives).
        let script = """
            import os, pty, sys
            out = b""
            pid, fd = pty.fork()
            if pid == 0:
                os.execv(sys.argv[1], [sys.argv[1], "pull", "test-org/SmolLM2-GGUF:Q4_1"])
            while True:
                try:
                    chunk = os.read(fd, 65536)
                except OSError:
                    break
                if not chunk:
                    break
                out += chunk
            _, status = os.waitpid(pid, 0)
            sys.stdout.write(out.decode(errors="replace"))
            sys.exit(os.waitstatus_to_exitcode(status))
            """
        let (s10, o10) = try TestProcess.run("python3", ["-c", script, ServerProcess.modelhost], environment: env)
        XCTAssertEqual(s10, 0, o10)
        XCTAssertTrue(o10.contains("\r\u{1B}[K") && o10.contains("[##############################] 100%"), o10)
    }
}
