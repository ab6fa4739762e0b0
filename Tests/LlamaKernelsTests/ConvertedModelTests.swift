import Foundation
import LlamaKernels
import ModelFormats
import ModelHostABI
import PluginHost
import TestScratch
import XCTest

/// The default model converted losslessly (scripts/fixtures/convert_to_safetensors.py) to a Hugging Face float32
/// safetensors directory and to an MLX 4-bit directory, loaded through the host's weights service exactly as a worker
/// opens them (`openModelWeights`), and held to the GGUF path's gold checks: the weights are identical, so is the gold.
final class ConvertedModelTests: XCTestCase {
    func testHuggingFaceFloat32MatchesGold() throws {
        let model = try ConvertedModel.load(.huggingFace)
        XCTAssertEqual(model.format, UInt32(MH_FORMAT_SAFETENSORS.rawValue))
        XCTAssertEqual(model.model.config.ropeStyle, .halves)
        try GoldChecks.teacherForced(model.model, label: "safetensors f32")
        try GoldChecks.greedyContinuations(model.model, label: "safetensors f32")
    }

    func testMLX4BitMatchesGold() throws {
        let model = try ConvertedModel.load(.mlx)
        XCTAssertEqual(model.format, UInt32(MH_FORMAT_MLX.rawValue))
        XCTAssertTrue(model.source.expandedToFloat32.isEmpty, "every MLX matrix should repack exactly")
        try GoldChecks.teacherForced(model.model, label: "mlx 4-bit")
        try GoldChecks.greedyContinuations(model.model, label: "mlx 4-bit")
    }

    /// The MLX model's logits agree with the GGUF model's to float32 rounding: its 4-bit matrices repack into the
    /// very same Q4_1 blocks (rows reordered for RoPE), and only the 8-bit embedding/head sums in another order.
    func testMLXDecodeLogitsMatchGGUF() throws {
        let mlx = try ConvertedModel.load(.mlx)
        let (_, gguf) = try TestModel.load()
        let prompt: [Int32] = [1, 4093, 198, 1780, 314, 260]
        let a = try mlx.model.forward([LlamaBatchEntry(sequence: mlx.model.makeSequence(capacity: 8), input: .tokens(prompt), logits: .last)])[0]
        let b = try gguf.forward([LlamaBatchEntry(sequence: gguf.makeSequence(capacity: 8), input: .tokens(prompt), logits: .last)])[0]
        let diff = zip(a, b).map { abs($0 - $1) }.max()!
        print("mlx vs gguf: max logit difference \(diff)")
        XCTAssertLessThan(diff, 2e-3)
        XCTAssertEqual(argmax(a[...]), argmax(b[...]))
    }

    func testOpenModelWeightsPicksTheFormat() throws {
        let dir = try ConvertedModel.directory(.mlx)
        XCTAssertEqual(try openModelWeights(path: dir).format, UInt32(MH_FORMAT_MLX.rawValue))
        XCTAssertEqual(try openModelWeights(path: dir + "/model.safetensors").format, UInt32(MH_FORMAT_MLX.rawValue))
        XCTAssertEqual(try openModelWeights(path: TestModel.path()).format, UInt32(MH_FORMAT_GGUF.rawValue))
        let weights = try XCTUnwrap(try openModelWeights(path: dir) as? SafetensorsWeights)
        XCTAssertEqual(weights.family, "llama")
        XCTAssertEqual(weights.metadata("quantization.bits"), .int64(4))
        XCTAssertEqual(weights.metadata("quantization.model.embed_tokens.bits"), .int64(8))
        XCTAssertEqual(weights.metadata("tie_word_embeddings"), .bool(true))
        let packed = try XCTUnwrap(try weights.tensorView(named: "model.layers.0.self_attn.q_proj.weight"))
        XCTAssertEqual(packed.dtype, UInt32(MH_DTYPE_U32.rawValue))
        XCTAssertEqual(packed.shape, [576, 72])
        // Served through the C table as a plugin sees it.
        let service = WeightsService(weights)
        var t = mh_tensor()
        t.struct_size = UInt32(MemoryLayout<mh_tensor>.size)
        var status = mh_status()
        status.struct_size = UInt32(MemoryLayout<mh_status>.size)
        let rc = service.table.pointee.get_tensor(service.table.pointee.ctx, "model.layers.0.self_attn.q_proj.scales", &t, &status)
        XCTAssertEqual(rc, 0)
        XCTAssertEqual(t.dtype, UInt32(MH_DTYPE_F16.rawValue))
        XCTAssertEqual(t.ndim, 2)
        XCTAssertEqual(t.nbytes, 576 * 18 * 2)
        XCTAssertThrowsError(try openModelWeights(path: "/nonexistent/model-dir/"))
    }
}

/// Adapts the host's `ModelWeights` to the kernels' `CheckpointSource`, as the plugin's `WeightsAdapter` does over
/// the C table (same dtype mapping, same dotted config keys).
final class HostCheckpoint: CheckpointSource {
    let weights: any ModelWeights
    init(_ weights: any ModelWeights) { self.weights = weights }

    var tensorNames: [String] { weights.tensorNames }

    func checkpointTensor(_ name: String) -> CheckpointTensor? {
        guard let t = try? weights.tensorView(named: name) else { return nil }
        let dtype: CheckpointDType
        switch t.dtype {
        case UInt32(MH_DTYPE_F32.rawValue): dtype = .f32
        case UInt32(MH_DTYPE_F16.rawValue): dtype = .f16
        case UInt32(MH_DTYPE_BF16.rawValue): dtype = .bf16
        case UInt32(MH_DTYPE_U32.rawValue): dtype = .u32
        default: dtype = .other("dtype \(t.dtype)")
        }
        return CheckpointTensor(name: name, dtype: dtype, shape: t.shape, data: t.data, byteCount: t.byteCount)
    }

    func int(_ key: String) -> Int? { weights.metadata(key)?.intValue }
    func double(_ key: String) -> Double? { weights.metadata(key)?.doubleValue }
    func string(_ key: String) -> String? { weights.metadata(key)?.stringValue }
    func bool(_ key: String) -> Bool? {
        if case .bool(let b)? = weights.metadata(key) { return b }
        return nil
    }
}

/// The converted models, generated once per machine into a cache folder (the conversion takes ~30 s on 2 cores).
enum ConvertedModel {
    enum Kind: String { case huggingFace = "hf", mlx }

    struct Loaded {
        let weights: any ModelWeights
        let source: HuggingFaceSource
        let model: LlamaModel
        var format: UInt32 { weights.format }
    }

    nonisolated(unsafe) private static var cache: [Kind: Loaded] = [:]

    static var root: URL {
        let env = ProcessInfo.processInfo.environment["MODELHOST_CONVERTED_DIR"]
        if let env, !env.isEmpty { return URL(fileURLWithPath: env) }
        return FileManager.default.temporaryDirectory.appendingPathComponent("modelhost-converted")
    }

    /// The converted directory for `kind`, converting first if needed (keyed by the GGUF's size and the script's).
    static func directory(_ kind: Kind) throws -> String {
        let gguf = try TestModel.path()
        let script = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
            .deletingLastPathComponent().appendingPathComponent("scripts/fixtures/convert_to_safetensors.py")
        func size(_ p: String) throws -> Int { (try FileManager.default.attributesOfItem(atPath: p)[.size] as? Int) ?? 0 }
        let key = "\(try size(gguf))-\(try size(script.path))"
        let out = root.appendingPathComponent(key)
        let dir = out.appendingPathComponent(kind.rawValue).path
        if FileManager.default.fileExists(atPath: dir + "/config.json") { return dir }
        let (status, output) = try TestPython.run([script.path, gguf, out.path, "--only", kind.rawValue])
        guard status == 0, FileManager.default.fileExists(atPath: dir + "/config.json") else {
            throw TestSetupError("""
                converting the default model failed (needs `pip install numpy gguf safetensors`, as .ci/run does): \
                \(output.suffix(600))
                """)
        }
        return dir
    }

    static func load(_ kind: Kind, threads: Int = 2) throws -> Loaded {
        if let c = cache[kind] { return c }
        let weights = try openModelWeights(path: directory(kind))
        let source = try HuggingFaceSource(HostCheckpoint(weights))
        let model = try LlamaModel(source: source, config: LlamaConfig(from: source), threads: threads)
        let loaded = Loaded(weights: weights, source: source, model: model)
        cache[kind] = loaded
        return loaded
    }
}
