import Foundation
import XCTest

/// `modelhost tokenize`, `detokenize` and `template` through the real executable on the default model, against the
/// reference fixtures that the tokenizer and template suites generated from Hugging Face `tokenizers` and `jinja2`.
final class EngineToolsTests: XCTestCase {
    static let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
        .deletingLastPathComponent()
    static let tokenizerFixtures = root.appendingPathComponent("Tests/TokenizerTests/Fixtures")

    var modelhost: String {
        let exe = (try? FileManager.default.destinationOfSymbolicLink(atPath: "/proc/self/exe")) ?? CommandLine.arguments[0]
        var dir = URL(fileURLWithPath: exe).deletingLastPathComponent()
        while !FileManager.default.fileExists(atPath: dir.appendingPathComponent("modelhost").path), dir.path != "/" {
            dir = dir.deletingLastPathComponent()
        }
        return dir.appendingPathComponent("modelhost").path
    }

    var model: String {
        get throws {
            var candidates = [Self.root.appendingPathComponent("models/SmolLM2-135M-Instruct.Q4_1.gguf").path]
            if let env = ProcessInfo.processInfo.environment["MODELHOST_TEST_MODEL"] { candidates.insert(env, at: 0) }
            guard let found = candidates.first(where: FileManager.default.fileExists) else {
                throw NSError(domain: "CLITests", code: 1, userInfo: [NSLocalizedDescriptionKey:
                    "default model missing: run scripts/install-default-model or set MODELHOST_TEST_MODEL"])
            }
            return found
        }
    }

    func run(_ arguments: [String], input: Data) throws -> (status: Int32, output: Data, error: String) {
        let p = Process()
        p.executableURL = URL(fileURLWithPath: modelhost)
        p.arguments = arguments
        let stdin = Pipe(), stdout = Pipe(), stderr = Pipe()
        p.standardInput = stdin
        p.standardOutput = stdout
        p.standardError = stderr
        try p.run()
        stdin.fileHandleForWriting.write(input)
        try stdin.fileHandleForWriting.close()
        let out = stdout.fileHandleForReading.readDataToEndOfFile()
        let err = stderr.fileHandleForReading.readDataToEndOfFile()
        p.waitUntilExit()
        return (p.terminationStatus, out, String(decoding: err, as: UTF8.self))
    }

    /// A failure while running (here: a state directory that cannot be created) is one `Error:` line and exit 1;
    /// the usage text is only for command-line mistakes.
    func testRuntimeFailuresPrintOneLineWithoutUsage() throws {
        let blocker = FileManager.default.temporaryDirectory.appendingPathComponent("mh-cli-\(UUID().uuidString.prefix(8))")
        FileManager.default.createFile(atPath: blocker.path, contents: Data())
        defer { try? FileManager.default.removeItem(at: blocker) }
        let failed = try run(["serve", "--port", "39999", "--admin-port", "39998", "--state-dir", blocker.path + "/state"],
                             input: Data())
        XCTAssertEqual(failed.status, 1)
        let lines = failed.error.split(separator: "\n")
        XCTAssertEqual(lines.count, 1, failed.error)
        XCTAssertTrue(failed.error.hasPrefix("Error: cannot start the worker supervisor"), failed.error)
        XCTAssertFalse(failed.error.contains("Usage"), failed.error)

        let missing = try run(["tokenize", "--model", "no-such-model"], input: Data("x".utf8))
        XCTAssertEqual(missing.status, 1)
        XCTAssertEqual(missing.error.split(separator: "\n").count, 1, missing.error)
        XCTAssertFalse(missing.error.contains("Usage"), missing.error)

        // A command-line mistake still shows the usage.
        let mistake = try run(["serve", "--port", "many"], input: Data())
        XCTAssertNotEqual(mistake.status, 0)
        XCTAssertTrue(mistake.error.contains("Usage"), mistake.error)
    }

    func testTokenizeAndDetokenizeMatchTheReference() throws {
        let corpus = try String(contentsOf: Self.tokenizerFixtures.appendingPathComponent("corpus.jsonl"), encoding: .utf8)
            .split(separator: "\n", omittingEmptySubsequences: false)
        let ids = try String(contentsOf: Self.tokenizerFixtures.appendingPathComponent("smollm2-smollm.ids"), encoding: .utf8)
            .split(separator: "\n", omittingEmptySubsequences: false)
        // A spread of lines: prose, code, CJK, emoji, whitespace runs, special-token strings.
        let picks = Array(stride(from: 3, to: min(corpus.count, ids.count) - 1, by: max(1, corpus.count / 12)).prefix(12))
        XCTAssertGreaterThanOrEqual(picks.count, 10)
        for i in picks {
            let text = try XCTUnwrap(try JSONSerialization.jsonObject(with: Data(corpus[i].utf8), options: .fragmentsAllowed) as? String)
            let expected = ids[i].split(separator: " ").map { Int($0)! }
            let tokenized = try run(["tokenize", "--json", "--model", model], input: Data(text.utf8))
            XCTAssertEqual(tokenized.status, 0, tokenized.error)
            let got = try JSONSerialization.jsonObject(with: tokenized.output) as? [Int]
            XCTAssertEqual(got, expected, "line \(i): \(text.debugDescription)")
            let detokenized = try run(["detokenize", "--model", model], input: tokenized.output)
            XCTAssertEqual(String(decoding: detokenized.output, as: UTF8.self), text, "line \(i)")
        }
    }

    func testTemplateMatchesJinja2ForTheDefaultModel() throws {
        let fixture = try JSONSerialization.jsonObject(with: Data(contentsOf: Self.root
            .appendingPathComponent("Tests/ChatTemplateTests/Fixtures/chat_cases.json"))) as? [String: Any]
        let conversations = try XCTUnwrap(fixture?["conversations"] as? [String: Any])
        let cases = (fixture?["cases"] as? [[String: Any]] ?? []).filter {
            $0["template"] as? String == "smollm2.jinja" && $0["with_tools"] as? Bool == false
        }
        XCTAssertGreaterThanOrEqual(cases.count, 5)
        for c in cases {
            let name = try XCTUnwrap(c["conversation"] as? String)
            let request: [String: Any] = ["messages": conversations[name] as Any,
                                          "add_generation_prompt": c["add_generation_prompt"] as Any]
            let r = try run(["template", "--model", model], input: try JSONSerialization.data(withJSONObject: request))
            guard let expected = c["output"] as? String else {
                // jinja2 raises on this conversation (for example list content in a plain-text template): so must we.
                XCTAssertNotEqual(r.status, 0, "\(name): jinja2 raises, the CLI rendered")
                XCTAssertTrue(r.error.contains("template line"), r.error)
                continue
            }
            XCTAssertEqual(r.status, 0, r.error)
            XCTAssertEqual(String(decoding: r.output, as: UTF8.self), expected, name)
        }
    }

    func testBadInputIsAClearError() throws {
        let r = try run(["detokenize", "--model", model], input: Data("12 banana".utf8))
        XCTAssertNotEqual(r.status, 0)
        XCTAssertTrue(r.error.contains("'banana' is not a token id"), r.error)
        let t = try run(["template", "--model", model], input: Data("{\"nope\": 1}".utf8))
        XCTAssertNotEqual(t.status, 0)
        XCTAssertTrue(t.error.contains("\"messages\""), t.error)
        let m = try run(["tokenize", "--model", "../etc/passwd"], input: Data())
        XCTAssertNotEqual(m.status, 0)
    }

    /// `modelhost bench` runs the decoder in a worker as serving does (plugins from the installation's plugins/,
    /// staged by scripts/build) and reports the keys scripts and notes rely on.
    func testBenchReportsFiguresFromAWorker() throws {
        let r = try run(["bench", "--json", "--model", model, "--threads", "1", "--prompt-tokens", "24", "--gen-tokens", "6"],
                        input: Data())
        XCTAssertEqual(r.status, 0, r.error)
        let report = try XCTUnwrap(try JSONSerialization.jsonObject(with: r.output) as? [String: Any], r.error)
        for key in ["load_seconds", "prefill_tokens_per_second", "decode_tokens_per_second", "peak_rss_bytes"] {
            XCTAssertGreaterThan((report[key] as? NSNumber)?.doubleValue ?? 0, 0, key)
        }
        XCTAssertEqual(report["threads"] as? Int, 1)
        XCTAssertEqual(report["prompt_tokens"] as? Int, 24)
        XCTAssertEqual(report["gen_tokens"] as? Int, 6)
        XCTAssertGreaterThan(report["model_file_bytes"] as? Int ?? 0, 90_000_000)
    }
}
