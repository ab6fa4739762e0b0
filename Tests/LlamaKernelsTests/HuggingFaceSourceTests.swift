import LlamaKernels
import XCTest

/// `HuggingFaceSource` on a synthetic checkpoint: config.json keys become the GGUF keys `LlamaConfig` reads, Qwen2
/// biases and untied heads are found under their Hugging Face names, and Llama 3.1 rope scaling becomes divisors.
final class HuggingFaceSourceTests: XCTestCase {
    final class FakeCheckpoint: CheckpointSource {
        var config: [String: Any]
        var tensors: [String: CheckpointTensor] = [:]
        let buffer = UnsafeMutableRawPointer.allocate(byteCount: 1 << 16, alignment: 64)
        init(_ config: [String: Any]) {
            self.config = config
            buffer.initializeMemory(as: UInt8.self, repeating: 0, count: 1 << 16)
        }
        deinit { buffer.deallocate() }
        func add(_ name: String, _ shape: [Int]) {
            tensors[name] = CheckpointTensor(name: name, dtype: .f32, shape: shape, data: buffer, byteCount: 4 * shape.reduce(1, *))
        }
        var tensorNames: [String] { Array(tensors.keys) }
        func checkpointTensor(_ name: String) -> CheckpointTensor? { tensors[name] }
        func int(_ key: String) -> Int? { config[key] as? Int }
        func double(_ key: String) -> Double? { (config[key] as? Double) ?? (config[key] as? Int).map(Double.init) }
        func string(_ key: String) -> String? { config[key] as? String }
        func bool(_ key: String) -> Bool? { config[key] as? Bool }
    }

    func testQwen2ConfigBiasesAndUntiedHead() throws {
        let c = FakeCheckpoint(["model_type": "qwen2", "hidden_size": 64, "intermediate_size": 128, "num_hidden_layers": 1,
                                "num_attention_heads": 4, "num_key_value_heads": 2, "max_position_embeddings": 256,
                                "rope_theta": 1_000_000.0, "rms_norm_eps": 1e-6, "tie_word_embeddings": false])
        c.add("model.embed_tokens.weight", [100, 64])
        c.add("lm_head.weight", [100, 64])
        c.add("model.layers.0.self_attn.q_proj.bias", [64])
        let source = try HuggingFaceSource(c)
        let config = try LlamaConfig(from: source)
        XCTAssertEqual(config.layers, 1)
        XCTAssertEqual(config.kvHeads, 2)
        XCTAssertEqual(config.headDimension, 16)
        XCTAssertEqual(config.vocabulary, 100)
        XCTAssertEqual(config.ropeBase, 1_000_000)
        XCTAssertEqual(config.rmsEpsilon, 1e-6)
        XCTAssertEqual(config.ropeStyle, .halves)
        XCTAssertEqual(source.tensor("blk.0.attn_q.bias")?.dimensions, [64])
        XCTAssertEqual(source.tensor("output.weight")?.dimensions, [64, 100])
        XCTAssertNil(source.tensor("rope_freqs.weight"))
        c.config["tie_word_embeddings"] = true
        XCTAssertNil(source.tensor("output.weight"), "a tied model's lm_head is ignored, as transformers does")
        c.config["model_type"] = "gpt2"
        XCTAssertThrowsError(try LlamaConfig(from: source))
    }

    func testLlama31RopeScalingBecomesDivisors() throws {
        let c = FakeCheckpoint(["model_type": "llama", "hidden_size": 4096, "num_attention_heads": 32, "rope_theta": 500_000.0,
                                "rope_scaling.rope_type": "llama3", "rope_scaling.factor": 8.0,
                                "rope_scaling.low_freq_factor": 1.0, "rope_scaling.high_freq_factor": 4.0,
                                "rope_scaling.original_max_position_embeddings": 8192])
        let view = try XCTUnwrap(HuggingFaceSource(c).tensor("rope_freqs.weight"))
        XCTAssertEqual(view.dimensions, [64])
        let f = (0..<64).map { view.data.load(fromByteOffset: 4 * $0, as: Float.self) }
        XCTAssertEqual(f.first, 1)
        XCTAssertEqual(f.last, 8)
        XCTAssertEqual(f, f.sorted(), "divisors grow with wavelength")
        XCTAssertTrue(f.contains { $0 > 1 && $0 < 8 }, "the band between is interpolated")
    }

    func testRefusesMLXTripleWithoutBiases() {
        let c = FakeCheckpoint(["model_type": "llama", "quantization.bits": 4, "quantization.group_size": 64])
        c.add("model.layers.0.mlp.up_proj.weight", [8, 8])
        c.add("model.layers.0.mlp.up_proj.scales", [8, 1])
        XCTAssertThrowsError(try HuggingFaceSource(c)) { XCTAssertTrue("\($0)".contains("no 'model.layers.0.mlp.up_proj.biases'"), "\($0)") }
    }
}
