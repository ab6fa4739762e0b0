import ChatTemplate
import Foundation
import XCTest

/// Byte-for-byte comparison with Python jinja2 over the committed fixtures.
final class ReferenceTests: XCTestCase {
    /// Real model templates (SmolLM2, Llama 3.1/3.2, Qwen2.5, Mistral v0.1/v0.3, Gemma 2/3) over conversations with
    /// system prompts, multi-turn, tools, tool calls and results, JSON escaping and Unicode.
    func testChatTemplatesMatchJinja2() throws {
        let fixture = try Fixtures.json("chat_cases.json")
        let cases = try XCTUnwrap(fixture["cases"].arrayValue)
        let conversations = try XCTUnwrap(fixture["conversations"].objectValue)
        let tools = try XCTUnwrap(fixture["tools"].arrayValue)
        XCTAssertGreaterThanOrEqual(conversations.count, 15)
        XCTAssertGreaterThanOrEqual(cases.count, 150)
        var templates: [String: ChatTemplate] = [:]
        var compared = 0
        for c in cases {
            let file = try XCTUnwrap(c["template"].stringValue)
            let label = "\(file) / \(c["conversation"].stringValue ?? "?") / gen=\(c["add_generation_prompt"])"
            if templates[file] == nil { templates[file] = try ChatTemplate(source: try Fixtures.template(file)) }
            let template = templates[file]!
            let extra = c["extra"].objectValue.map { Dictionary(uniqueKeysWithValues: $0.map { ($0.key, $0.value) }) }
            let messages = try XCTUnwrap(conversations[c["conversation"].stringValue ?? ""]?.arrayValue, label)
            do throws(TemplateError) {
                let output = try template.renderChat(
                    messages: messages,
                    addGenerationPrompt: c["add_generation_prompt"] == .bool(true),
                    tools: c["with_tools"] == .bool(true) ? tools : nil,
                    bosToken: c["bos_token"].stringValue ?? "", eosToken: c["eos_token"].stringValue ?? "",
                    extra: extra ?? [:], now: Fixtures.fixedNow)
                if let expected = c["output"].stringValue {
                    XCTAssertEqual(output, expected, label)
                    if output != expected { printDifference(output, expected, label) }
                } else {
                    XCTFail("\(label): expected error \(c["error"]), rendered \(output.debugDescription)")
                }
            } catch {
                if let expected = c["error"].stringValue {
                    if c["raised"] == .bool(true) {
                        XCTAssertEqual(error.kind, .raised, "\(label): \(error)")
                        XCTAssertEqual(error.message, expected, label)
                    } else {
                        XCTAssertNotEqual(error.kind, .raised, "\(label): \(error)")
                    }
                } else {
                    XCTFail("\(label): \(error)")
                }
            }
            compared += 1
        }
        XCTAssertEqual(compared, cases.count)
    }

    /// One Jinja construct per case: output must match jinja2 exactly; where jinja2 fails, so must we.
    func testConstructsMatchJinja2() throws {
        let cases = try XCTUnwrap(Fixtures.json("construct_cases.json").arrayValue)
        XCTAssertGreaterThanOrEqual(cases.count, 100)
        for c in cases {
            let name = c["name"].stringValue ?? "?"
            let source = try XCTUnwrap(c["template"].stringValue)
            let context = Dictionary(uniqueKeysWithValues: (c["context"].objectValue ?? OrderedDict()).map {
                ($0.key, $0.value)
            })
            do throws(TemplateError) {
                let output = try ChatTemplate(source: source).render(context: context, now: Fixtures.fixedNow)
                if let expected = c["output"].stringValue {
                    XCTAssertEqual(output, expected, name)
                } else {
                    XCTFail("\(name): jinja2 fails with \(c["error"]) but rendered \(output.debugDescription)")
                }
            } catch {
                if let expected = c["error"].stringValue {
                    XCTAssertEqual(error.kind == .raised, c["raised"] == .bool(true), "\(name): \(error)")
                    if error.kind == .raised { XCTAssertEqual(error.message, expected, name) }
                } else {
                    XCTFail("\(name): \(error)")
                }
            }
        }
    }

    private func printDifference(_ a: String, _ b: String, _ label: String) {
        let x = Array(a.unicodeScalars)
        let y = Array(b.unicodeScalars)
        var i = 0
        while i < min(x.count, y.count) && x[i] == y[i] { i += 1 }
        let lo = max(0, i - 40)
        print("[\(label)] first difference at \(i):\n  got:      \(String(String.UnicodeScalarView(x[lo..<min(x.count, i + 40)])).debugDescription)\n  expected: \(String(String.UnicodeScalarView(y[lo..<min(y.count, i + 40)])).debugDescription)")
    }
}
