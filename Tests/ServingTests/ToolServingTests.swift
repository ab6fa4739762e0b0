import Foundation
import ModelFormats
import TestScratch
import XCTest

/// Tool calling end to end on the real default model, with the official `openai` client: the model's own template
/// (no tool syntax: the generic JSON format) and copies of the same weights carrying Qwen2.5's, Llama 3.1's and
/// Mistral v0.3's templates, so each call syntax (Hermes `<tool_call>`, Llama 3 JSON, `[TOOL_CALLS]`) is generated,
/// constrained and parsed for real; and a Qwen3-style reasoning template whose prompt opens a thought, so reasoning is
/// split from content and calls come after the thought. The model was never trained on tools; the grammar is what makes every call
/// valid, which is exactly what these checks hold it to.
final class ToolServingTests: XCTestCase {
    static let key = "sk-test-tools"
    static let variants = ["hermes": "qwen2.5.jinja", "llama3": "llama3.1.jinja", "mistral": "mistral-v0.3.jinja"]

    /// The default model's GGUF with another chat template: metadata and tensors copied, the template replaced.
    static func copy(_ source: String, template: String, to path: String) throws {
        let gguf = try GGUFFile(path: source)
        var writer = try GGUFWriter(alignment: gguf.alignment)
        for key in gguf.metadataKeys where key != "general.alignment" {
            guard let value = gguf.metadata[key] else { continue }
            try writer.set(key, key == "tokenizer.chat_template" ? .string(template) : value)
        }
        for tensor in gguf.tensors {
            let bytes = gguf.withData(for: tensor) { Array($0) }
            try writer.addTensor(name: tensor.name, type: tensor.type, dimensions: tensor.dimensions, bytes: bytes)
        }
        try writer.write(to: path)
    }

    func testOfficialClientsToolCallsInEveryFormat() throws {
        let templates = ServerProcess.root.appendingPathComponent("Tests/ChatTemplateTests/Fixtures/templates")
        let server = try ServerProcess(environment: ["MODELHOST_API_KEYS": Self.key]) { models in
            for (name, file) in Self.variants {
                let source = try String(contentsOf: templates.appendingPathComponent(file), encoding: .utf8)
                try Self.copy(try ServerProcess.defaultModel(), template: source,
                              to: models.appendingPathComponent("smollm2-\(name).gguf").path)
            }
            // A reasoning template whose generation prompt opens the thought (as Qwen3's thinking-only models and
            // DeepSeek-R1 do), unless enable_thinking is false: Qwen3's own, with that one branch added.
            let qwen3 = try String(contentsOf: templates.appendingPathComponent("qwen3.jinja"), encoding: .utf8)
            let opening = "{{- '<think>\\n\\n</think>\\n\\n' }}\n    {%- endif %}"
            XCTAssertTrue(qwen3.contains(opening))
            let thinking = qwen3.replacingOccurrences(
                of: opening, with: "{{- '<think>\\n\\n</think>\\n\\n' }}\n    {%- else %}\n        {{- '<think>\\n' }}\n    {%- endif %}")
            try Self.copy(try ServerProcess.defaultModel(), template: thinking,
                          to: models.appendingPathComponent("smollm2-think.gguf").path)
        }
        defer { server.stop() }
        let script = ServerProcess.root.appendingPathComponent("Tests/ServingTests/openai_tools_checks.py").path
        let (status, output) = try TestPython.run([script, "--base-url", server.baseURL + "/v1", "--api-key", Self.key])
        print(output)
        XCTAssertEqual(status, 0, "tool checks failed:\n\(output)\nserver log:\n\(server.logText.suffix(4000))")
        // The Anthropic Messages API on the same models, with the official `anthropic` client.
        let anthropic = ServerProcess.root.appendingPathComponent("Tests/ServingTests/anthropic_checks.py").path
        let (status2, output2) = try TestPython.run([anthropic, "--base-url", server.baseURL, "--api-key", Self.key])
        print(output2)
        XCTAssertEqual(status2, 0, "anthropic checks failed:\n\(output2)\nserver log:\n\(server.logText.suffix(4000))")
        // The Responses API, and an OpenAI Agents SDK agent loop over chat completions.
        let responses = ServerProcess.root.appendingPathComponent("Tests/ServingTests/openai_responses_checks.py").path
        let (status3, output3) = try TestPython.run([responses, "--base-url", server.baseURL + "/v1", "--api-key", Self.key])
        print(output3)
        XCTAssertEqual(status3, 0, "responses checks failed:\n\(output3)\nserver log:\n\(server.logText.suffix(4000))")
    }
}
