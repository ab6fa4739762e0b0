import ChatTemplate
import Foundation
import XCTest

/// Building context values from request JSON, and the public chat API.
final class ValueTests: XCTestCase {
    func testJSONKeepsKeyOrderAndNumberKinds() throws {
        let value = try JinjaValue(jsonString: #"{"z": 1, "a": [1.0, 2, -3e2, "x\u00e9\ud83d\ude00", null, true]}"#)
        guard case .object(let dict) = value else { return XCTFail("not an object") }
        XCTAssertEqual(dict.keys, ["z", "a"])
        XCTAssertEqual(dict["a"], [.double(1.0), .int(2), .double(-300), .string("xé😀"), .none, .bool(true)])
        XCTAssertEqual(render("{{ v | tojson }}", ["v": value]), #"{"z": 1, "a": [1.0, 2, -300.0, "xé😀", null, true]}"#)
    }

    func testInvalidJSONIsAnInputError() {
        for bad in ["{", "[1,]", "{\"a\" 1}", "tru", "\"\\x\"", "1 2", "[" + String(repeating: "[", count: 1000)] {
            XCTAssertThrowsError(try JinjaValue(jsonString: bad), bad) { error in
                XCTAssertEqual((error as? TemplateError)?.kind, .invalidInput)
            }
        }
    }

    func testFromJSONSerializationObjects() throws {
        let object = try JSONSerialization.jsonObject(with: Data(#"{"n": 1, "d": 1.5, "b": true, "x": null, "l": ["s"]}"#.utf8))
        let value = JinjaValue(fromJSON: object)
        XCTAssertEqual(value["n" as String], .int(1))
        XCTAssertEqual(value["d" as String], .double(1.5))
        XCTAssertEqual(value["b" as String], .bool(true))
        XCTAssertEqual(value["x" as String], JinjaValue.none)
        XCTAssertEqual(value["l" as String], ["s"])
    }

    func testOrderedDictKeepsInsertionOrderAndComparesLikePython() {
        var a = OrderedDict()
        a["b"] = 1
        a["a"] = 2
        a["b"] = 3
        XCTAssertEqual(a.keys, ["b", "a"])
        XCTAssertEqual(a["b"], 3)
        let b = OrderedDict([("a", 2), ("b", 3)])
        XCTAssertEqual(a, b, "equality ignores order, as Python's dict does")
        a["a"] = nil
        XCTAssertEqual(a.keys, ["b"])
    }

    func testRenderChatPassesHuggingFaceVariables() throws {
        let template = try ChatTemplate(source: "{{ bos_token }}{{ tools is none }}{{ documents is none }}"
                                            + "{% for m in messages %}[{{ m.role }}:{{ m.content }}]{% endfor %}"
                                            + "{% if add_generation_prompt %}>{% endif %}{{ eos_token }}{{ flavor }}")
        let output = try template.renderChat(messages: [["role": "user", "content": "hi"]], addGenerationPrompt: true,
                                             tools: nil, bosToken: "<s>", eosToken: "</s>",
                                             extra: ["flavor": "!"])
        XCTAssertEqual(output, "<s>TrueTrue[user:hi]></s>!")
        let withTools = try template.renderChat(messages: [], addGenerationPrompt: false, tools: [["type": "function"]],
                                                bosToken: "", eosToken: "")
        XCTAssertEqual(withTools, "FalseTrue")
    }

    func testFallbackChatML() throws {
        let output = try ChatTemplate.fallbackChatML.renderChat(
            messages: [["role": "system", "content": "S"], ["role": "user", "content": "U"]],
            addGenerationPrompt: true, tools: nil, bosToken: "", eosToken: "")
        XCTAssertEqual(output, "<|im_start|>system\nS<|im_end|>\n<|im_start|>user\nU<|im_end|>\n<|im_start|>assistant\n")
    }

    func testTemplateIsReusableAcrossRendersAndThreads() throws {
        let template = try ChatTemplate(source: "{% set ns = namespace(n=0) %}{% for m in messages %}"
                                            + "{% set ns.n = ns.n + 1 %}{% endfor %}{{ ns.n }}")
        let results = UnsafeMutableBufferPointer<String>.allocate(capacity: 8)
        results.initialize(repeating: "")
        defer {
            results.deinitialize()
            results.deallocate()
        }
        DispatchQueue.concurrentPerform(iterations: 8) { i in
            let messages = Array(repeating: JinjaValue.object(OrderedDict()), count: i)
            results[i] = (try? template.renderChat(messages: messages, addGenerationPrompt: false, tools: nil,
                                                   bosToken: "", eosToken: "")) ?? "error"
        }
        XCTAssertEqual(Array(results), (0..<8).map(String.init))
    }
}
