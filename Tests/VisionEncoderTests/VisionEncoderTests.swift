import Foundation
import ModelHostABI
import PluginHost
import TestScratch
import XCTest

/// The SigLIP vision encoder plugin (Plugins/SigLIP) against the float64 numpy reference of the encoder and the
/// Idefics3 connector. The fixtures (fixed-seed random weights as mmproj GGUF F32/F16 and as a Hugging Face folder,
/// two images, the reference output; ~0.75 MB, 0.5 s) are written once per test process by
///     python3 scripts/fixtures/smolvlm_vision.py --out DIR
/// rather than committed: weights stay out of git. Loaded the way a worker loads it: staged with its manifest,
/// discovered, dlopen'ed, initialized once.
final class VisionEncoderTests: XCTestCase {
    static let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
        .deletingLastPathComponent()

    static let builtFixtures: Result<URL, Error> = Result {
        let out = try TestScratch.directory("mh-siglip-fixtures")
        let script = root.appendingPathComponent("scripts/fixtures/smolvlm_vision.py").path
        let (status, output) = try TestPython.run([script, "--out", out.path])
        guard status == 0 else {
            throw NSError(domain: "VisionEncoderTests", code: 2, userInfo: [NSLocalizedDescriptionKey:
                "writing the fixtures failed (needs numpy gguf safetensors): \(output)"])
        }
        return out
    }

    static let client: Result<VisionEncoderClient, Error> = Result {
        let library = "libMHSigLIP.so"
        let exe = (try? FileManager.default.destinationOfSymbolicLink(atPath: "/proc/self/exe")) ?? CommandLine.arguments[0]
        var dir = URL(fileURLWithPath: exe).deletingLastPathComponent()
        while dir.path != "/", !FileManager.default.fileExists(atPath: dir.appendingPathComponent(library).path) {
            dir = dir.deletingLastPathComponent()
        }
        let built = dir.appendingPathComponent(library)
        guard FileManager.default.fileExists(atPath: built.path) else {
            throw NSError(domain: "VisionEncoderTests", code: 1, userInfo: [NSLocalizedDescriptionKey:
                "\(library) was not built next to the test runner: run scripts/build (or swift build --product MHSigLIP)"])
        }
        let staging = try TestScratch.directory("mh-siglip")
        try FileManager.default.copyItem(at: built, to: staging.appendingPathComponent(library))
        try FileManager.default.copyItem(at: root.appendingPathComponent("Plugins/SigLIP/siglip.plugin.json"),
                                         to: staging.appendingPathComponent("siglip.plugin.json"))
        let discovered = PluginDiscovery.inspect(manifestPath: staging.appendingPathComponent("siglip.plugin.json").path)
        if let rejection = discovered.rejection { throw rejection }
        return try VisionEncoderClient(try PluginLoader.load(discovered, host: HostServices(threads: 2)).initialize())
    }

    func floats(_ name: String) throws -> [Float] {
        let data = try Data(contentsOf: try Self.builtFixtures.get().appendingPathComponent(name))
        return data.withUnsafeBytes { Array($0.bindMemory(to: Float.self)) }
    }

    func open(_ path: String) throws -> VisionModelHandle {
        let weights = try openModelWeights(path: try Self.builtFixtures.get().appendingPathComponent(path).path)
        return try Self.client.get().openModel(weights: WeightsService(weights), path: path)
    }

    /// max |a − b| / max |b|: relative to the output's scale, so values near zero do not dominate.
    func relativeError(_ a: [Float], _ b: [Float]) -> Float {
        let scale = b.map(abs).max() ?? 1
        return zip(a, b).map { abs($0 - $1) }.max()! / scale
    }

    func testMatchesTheNumpyReference() throws {
        let pixels = try floats("pixels.f32"), expected = try floats("expected.f32")
        for (path, tolerance) in [("mmproj-f32.gguf", Float(1e-4)), ("hf", 1e-4), ("mmproj-f16.gguf", 1e-2)] {
            let model = try open(path)
            XCTAssertEqual(model.imageSize, 64)
            XCTAssertEqual(model.tokensPerImage, 16)
            XCTAssertEqual(model.embeddingLength, 64)
            XCTAssertEqual(model.mean.0, 0.5)
            XCTAssertEqual(model.std.2, 0.5)
            let started = Date()
            let output = try model.encode(pixels, count: 2)
            let error = relativeError(output, expected)
            print("\(path): 2 images encoded in \(Int(Date().timeIntervalSince(started) * 1000)) ms, max relative error \(error)")
            XCTAssertEqual(output.count, expected.count)
            XCTAssertLessThan(error, tolerance, path)
            // One image at a time gives the same rows.
            let first = try model.encode(Array(pixels[0..<(3 * 64 * 64)]), count: 1)
            XCTAssertEqual(first, Array(output[0..<(16 * 64)]), path)
        }
    }

    /// Encoder speed on a real-sized projector, printed (a figure, not a pass/fail): set MODELHOST_BENCH_MMPROJ to an
    /// mmproj GGUF, e.g. SmolVLM-256M-shaped random weights from
    ///     python3 -c 'import sys; sys.path.insert(0, "scripts/fixtures"); import smolvlm_vision as v;
    ///       c = v.VisionConfig(512, 16, 768, 3072, 12, 12, 4, 576);
    ///       v.write_mmproj_gguf("/tmp/mmproj-256m.gguf", c, v.make_vision_weights(c, 1), "f16")'
    func testEncoderSpeedOnARealSizedProjector() throws {
        guard let path = ProcessInfo.processInfo.environment["MODELHOST_BENCH_MMPROJ"] else {
            throw XCTSkip("set MODELHOST_BENCH_MMPROJ to an mmproj GGUF to time the encoder")
        }
        let model = try Self.client.get().openModel(weights: WeightsService(try openModelWeights(path: path)), path: path)
        let side = model.imageSize
        let pixels = (0..<(3 * side * side)).map { Float(($0 * 7919) % 255) / 127.5 - 1 }
        _ = try model.encode(pixels, count: 1)
        let started = Date()
        _ = try model.encode(pixels, count: 1)
        let seconds = Date().timeIntervalSince(started)
        print("one \(side)x\(side) tile -> \(model.tokensPerImage) x \(model.embeddingLength): \(String(format: "%.2f", seconds)) s")
    }

    func testRefusalsAreErrorsNotCrashes() throws {
        let model = try open("mmproj-f32.gguf")
        XCTAssertThrowsError(try model.encode([Float](repeating: 0, count: 10), count: 1))
        // A projector of another type, and one missing a tensor, are refused with their reason.
        let work = FileManager.default.temporaryDirectory.appendingPathComponent("mh-siglip-bad-\(UUID().uuidString.prefix(8))")
        try FileManager.default.createDirectory(at: work, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: work) }
        let script = """
        import sys; sys.path.insert(0, sys.argv[1])
        import smolvlm_vision as v
        w = v.make_vision_weights(v.TEST_CONFIG, 1)
        del w["model.vision_model.post_layernorm.bias"]
        v.write_mmproj_gguf(sys.argv[2] + "/missing.gguf", v.TEST_CONFIG, w)
        import gguf
        g = gguf.GGUFWriter(sys.argv[2] + "/llava.gguf", "clip")
        g.add_string("clip.projector_type", "mlp")
        g.add_tensor("t", __import__("numpy").zeros(4, dtype="float32"))
        g.write_header_to_file(); g.write_kv_data_to_file(); g.write_tensors_to_file(); g.close()
        """
        let p = Process()
        p.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        p.arguments = ["python3", "-c", script, Self.root.appendingPathComponent("scripts/fixtures").path, work.path]
        try p.run()
        p.waitUntilExit()
        XCTAssertEqual(p.terminationStatus, 0)
        for (file, words) in [("missing.gguf", "v.post_ln.bias"), ("llava.gguf", "projector_type is mlp")] {
            let weights = try openModelWeights(path: work.appendingPathComponent(file).path)
            XCTAssertThrowsError(try Self.client.get().openModel(weights: WeightsService(weights), path: file)) {
                XCTAssertTrue("\($0)".contains(words), "\(file): \($0)")
            }
        }
    }
}
