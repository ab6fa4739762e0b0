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

    func testOfficialClientToolCallsInEveryFormat() throws {
        let templates = ServerProcess.root.appendingPathComponent("Tests/ChatTemplateTests/Fixtures/templates")
        let server = try ServerProcess { models in
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
        let (status, output) = try TestPython.run([script, "--base-url", server.baseURL + "/v1"])
        print(output)
        XCTAssertEqual(status, 0, "tool checks failed:\n\(output)\nserver log:\n\(server.logText.suffix(4000))")
    }
}
