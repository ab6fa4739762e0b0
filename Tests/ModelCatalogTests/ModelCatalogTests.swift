import Foundation
import ModelCatalog
import ModelFormats
import struct Sampling.SamplingDefaults
import XCTest

final class ModelCatalogTests: XCTestCase {
    var root: String!
    var models: String { "\(root!)/models" }
    var hfHome: String { "\(root!)/hf" }

    override func setUpWithError() throws {
        root = FileManager.default.temporaryDirectory.appendingPathComponent("catalog-\(UUID().uuidString)").path
        try FileManager.default.createDirectory(atPath: "\(root!)/models", withIntermediateDirectories: true)
        try FileManager.default.createDirectory(atPath: "\(root!)/outside", withIntermediateDirectories: true)
    }

    override func tearDownWithError() throws {
        try? FileManager.default.removeItem(atPath: root)
    }

    private func writeGGUF(_ path: String, context: Int = 8192, architecture: String = "llama") throws {
        var writer = try GGUFWriter()
        try writer.set("general.architecture", .string(architecture))
        try writer.set("llama.context_length", .uint32(UInt32(context)))
        try writer.addTensor(name: "t", dimensions: [4], values: [1, 2, 3, 4])
        try writer.write(to: path)
    }

    private func writeHFModel(_ directory: String, vision: Bool = false) throws {
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        let config = vision
            ? #"{"model_type":"qwen2_vl","text_config":{"max_position_embeddings":32768},"vision_config":{}}"#
            : #"{"model_type":"llama","max_position_embeddings":4096}"#
        try config.write(toFile: "\(directory)/config.json", atomically: true, encoding: .utf8)
        try Data([0, 1]).write(to: URL(fileURLWithPath: "\(directory)/model.safetensors"))
    }

    func testIDValidation() {
        for good in ["tiny", "SmolLM2-135M-Instruct.Q4_1", "org/name", "mlx-community/Qwen2.5-0.5B-4bit",
                     "org/name:Q4_K_M", "bartowski/Model-GGUF:Model-Q4_K_M"] {
            XCTAssertNoThrow(try ModelID.validate(good), good)
        }
        for bad in ["", "../etc", "a/../b", "/abs", "a//b", "a/b/c", ".hidden", "-flag", "a b", "ｏｒｇ/name", "a\\b",
                    String(repeating: "x", count: 201), "org/..", "%2e%2e", "name:tag", "org/name:", "org/name:a/b",
                    "org/name:a:b", "org/name:-x", "org/name:..", ":Q4_0"] {
            XCTAssertThrowsError(try ModelID.validate(bad), bad) { error in
                guard case .invalidID = error as? CatalogError else { return XCTFail("\(bad): \(error)") }
            }
        }
    }

    func testGGUFAndDefaultAlias() throws {
        try writeGGUF("\(models)/SmolLM2-135M-Instruct.Q4_1.gguf", context: 8192)
        let catalog = ModelCatalog(modelsDir: models, hfHome: nil)
        let entry = try catalog.resolve("SmolLM2-135M-Instruct.Q4_1")
        XCTAssertEqual(entry.format, .gguf)
        XCTAssertEqual(entry.contextLength, 8192)
        XCTAssertEqual(entry.architecture, "llama")
        XCTAssertEqual(entry.inputModalities, ["text"])
        XCTAssertEqual(try catalog.resolve("default"), entry)
        XCTAssertEqual(catalog.entries().map(\.id), ["SmolLM2-135M-Instruct.Q4_1"])
        XCTAssertThrowsError(try catalog.resolve("missing")) { error in
            XCTAssertEqual(error as? CatalogError, .notFound(id: "missing"))
        }
    }

    /// A model's recommended sampling: GGUF `general.sampling.*` keys (llama.cpp's convention, float and integer
    /// types as converters write them) and a folder's `generation_config.json`; out-of-range values are left out.
    func testRecommendedSamplingFromGGUFKeysAndGenerationConfig() throws {
        var writer = try GGUFWriter()
        try writer.set("general.architecture", .string("llama"))
        try writer.set("general.sampling.temp", .float32(0.6))
        try writer.set("general.sampling.top_k", .uint32(20))
        try writer.set("general.sampling.top_p", .float64(0.95))
        try writer.set("general.sampling.min_p", .float32(0))
        try writer.set("general.sampling.penalty_repeat", .float32(7.5e3))  // out of range: ignored
        try writer.addTensor(name: "t", dimensions: [4], values: [1, 2, 3, 4])
        try writer.write(to: "\(models)/qwen.gguf")
        try writeGGUF("\(models)/plain.gguf")
        try writeHFModel("\(models)/org/tuned")
        try #"{"bos_token_id": 1, "do_sample": true, "temperature": 0.7, "top_k": 50, "top_p": 0.8, "repetition_penalty": 1.05}"#
            .write(toFile: "\(models)/org/tuned/generation_config.json", atomically: true, encoding: .utf8)
        try writeHFModel("\(models)/org/bare")

        let catalog = ModelCatalog(modelsDir: models, hfHome: nil)
        let qwen = try catalog.resolve("qwen").recommendedSampling
        XCTAssertEqual(qwen.temperature ?? 0, 0.6, accuracy: 1e-6)
        XCTAssertEqual(qwen.topK, 20)
        XCTAssertEqual(qwen.topP, 0.95)
        XCTAssertEqual(qwen.minP, 0, "a recommended 0 is a real choice, kept")
        XCTAssertNil(qwen.repetitionPenalty)
        XCTAssertEqual(try catalog.resolve("plain").recommendedSampling, SamplingDefaults())
        XCTAssertEqual(try catalog.resolve("org/tuned").recommendedSampling,
                       SamplingDefaults(temperature: 0.7, topK: 50, topP: 0.8, repetitionPenalty: 1.05))
        XCTAssertEqual(try catalog.resolve("org/bare").recommendedSampling, SamplingDefaults())
    }

    /// llama.cpp's vision layout: NAME.gguf with mmproj-NAME.gguf beside it is one image-capable model; the projector
    /// alone is not a model, and a projector for another name pairs with nothing.
    func testMMProjPairsWithItsModel() throws {
        try writeGGUF("\(models)/VLM.gguf")
        try writeGGUF("\(models)/mmproj-VLM.gguf", architecture: "clip")
        try writeGGUF("\(models)/Text.gguf")
        try writeGGUF("\(models)/mmproj-Other.gguf", architecture: "clip")
        let catalog = ModelCatalog(modelsDir: models, hfHome: nil)
        let vlm = try catalog.resolve("VLM")
        XCTAssertEqual(vlm.inputModalities, ["text", "image"])
        XCTAssertEqual(vlm.projectorPath.map { URL(fileURLWithPath: $0).lastPathComponent }, "mmproj-VLM.gguf")
        XCTAssertNil(try catalog.resolve("Text").projectorPath)
        XCTAssertEqual(catalog.entries().map(\.id), ["Text", "VLM"])
        XCTAssertThrowsError(try catalog.resolve("mmproj-VLM")) { XCTAssertTrue("\($0)".contains("projector"), "\($0)") }
    }

    /// The one measure of a model's weights (listings, and the worker's memory estimate): a GGUF file with its
    /// projector, a folder's safetensors files and nothing else in it; 0 for a path that is gone.
    func testWeightBytesCountTheWeightFiles() throws {
        try writeGGUF("\(models)/VLM.gguf")
        try writeGGUF("\(models)/mmproj-VLM.gguf", architecture: "clip")
        let catalog = ModelCatalog(modelsDir: models, hfHome: nil)
        let vlm = try catalog.resolve("VLM")
        func size(_ path: String) throws -> Int64 {
            try XCTUnwrap(FileManager.default.attributesOfItem(atPath: path)[.size] as? NSNumber).int64Value
        }
        let expected = try size("\(models)/VLM.gguf") + size("\(models)/mmproj-VLM.gguf")
        XCTAssertEqual(vlm.weightBytes, expected)
        XCTAssertEqual(CatalogEntry.weightBytes(path: vlm.path, projectorPath: nil), UInt64(try size("\(models)/VLM.gguf")))

        let folder = "\(models)/org/name"
        try writeHFModel(folder)
        try Data(count: 1000).write(to: URL(fileURLWithPath: "\(folder)/model-2.safetensors"))
        try Data(count: 5000).write(to: URL(fileURLWithPath: "\(folder)/tokenizer.json"))
        let hf = try catalog.resolve("org/name")
        XCTAssertEqual(hf.weightBytes, 1002)
        XCTAssertEqual(CatalogEntry.weightBytes(path: folder, projectorPath: folder), 1002, "a folder is its own projector")
        XCTAssertEqual(CatalogEntry.weightBytes(path: "\(models)/gone.gguf", projectorPath: nil), 0)
    }

    /// Resolving reads a GGUF's metadata once per file version: a replaced file is read again, a broken one refused.
    func testGGUFMetadataIsReReadWhenTheFileChanges() throws {
        let path = "\(models)/m.gguf"
        try writeGGUF(path, context: 128)
        let catalog = ModelCatalog(modelsDir: models, hfHome: nil)
        XCTAssertEqual(try catalog.resolve("m").contextLength, 128)
        XCTAssertEqual(try catalog.resolve("m").contextLength, 128)
        try FileManager.default.removeItem(atPath: path)
        try writeGGUF(path, context: 1_000_000)
        XCTAssertEqual(try catalog.resolve("m").contextLength, 1_000_000)
        try Data("not a gguf at all".utf8).write(to: URL(fileURLWithPath: path))
        XCTAssertThrowsError(try catalog.resolve("m"))
    }

    func testInvalidGGUFIsReportedNotCrashing() throws {
        try Data("not a gguf".utf8).write(to: URL(fileURLWithPath: "\(models)/broken.gguf"))
        let catalog = ModelCatalog(modelsDir: models, hfHome: nil)
        XCTAssertThrowsError(try catalog.resolve("broken")) { error in
            guard case .unreadable = error as? CatalogError else { return XCTFail("\(error)") }
        }
        XCTAssertEqual(catalog.entries(), [])
    }

    func testHuggingFaceDirectoriesAndCacheLayout() throws {
        try writeHFModel("\(models)/acme/small")
        let snapshot = "\(hfHome)/hub/models--org--vision/snapshots/abc123"
        try writeHFModel(snapshot, vision: true)
        try FileManager.default.createDirectory(atPath: "\(hfHome)/hub/models--org--vision/refs",
                                                withIntermediateDirectories: true)
        try "abc123".write(toFile: "\(hfHome)/hub/models--org--vision/refs/main", atomically: true, encoding: .utf8)
        let catalog = ModelCatalog(modelsDir: models, hfHome: hfHome)
        let small = try catalog.resolve("acme/small")
        XCTAssertEqual(small.format, .safetensors)
        XCTAssertEqual(small.contextLength, 4096)
        let vision = try catalog.resolve("org/vision")
        XCTAssertEqual(vision.contextLength, 32768)
        XCTAssertEqual(vision.inputModalities, ["text", "image"])
        XCTAssertEqual(vision.architecture, "qwen2_vl")
        XCTAssertEqual(catalog.entries().map(\.id), ["acme/small", "org/vision"])
    }

    /// GGUF files of the Hugging Face cache (what `modelhost pull` leaves): each is `org/name:STEM`, also named by a
    /// quantization; a link out of the hub is refused.
    func testHubGGUFFilesAreServedByFileOrQuant() throws {
        let repo = "\(hfHome)/hub/models--org--Model-GGUF"
        try FileManager.default.createDirectory(atPath: "\(repo)/blobs", withIntermediateDirectories: true)
        try FileManager.default.createDirectory(atPath: "\(repo)/snapshots/abc123", withIntermediateDirectories: true)
        try FileManager.default.createDirectory(atPath: "\(repo)/refs", withIntermediateDirectories: true)
        try "abc123".write(toFile: "\(repo)/refs/main", atomically: true, encoding: .utf8)
        for (blob, file, context) in [("b1", "Model-Q4_K_M.gguf", 4096), ("b2", "Model-Q8_0.gguf", 2048)] {
            try writeGGUF("\(repo)/blobs/\(blob)", context: context)
            try FileManager.default.createSymbolicLink(atPath: "\(repo)/snapshots/abc123/\(file)",
                                                       withDestinationPath: "../../blobs/\(blob)")
        }
        let catalog = ModelCatalog(modelsDir: models, hfHome: hfHome)
        XCTAssertEqual(catalog.entries().map(\.id), ["org/Model-GGUF:Model-Q4_K_M", "org/Model-GGUF:Model-Q8_0"])
        let byQuant = try catalog.resolve("org/Model-GGUF:q8_0")
        XCTAssertEqual(byQuant.contextLength, 2048)
        XCTAssertEqual(byQuant.format, .gguf)
        XCTAssertEqual(try catalog.resolve("org/Model-GGUF:Model-Q4_K_M").contextLength, 4096)
        XCTAssertThrowsError(try catalog.resolve("org/Model-GGUF:Q5_K_M"))
        XCTAssertThrowsError(try catalog.resolve("org/Model-GGUF"), "two GGUF files: name one")
        try writeGGUF("\(root!)/outside/evil.gguf")
        try FileManager.default.createSymbolicLink(atPath: "\(repo)/snapshots/abc123/Model-IQ4_NL.gguf",
                                                   withDestinationPath: "\(root!)/outside/evil.gguf")
        XCTAssertThrowsError(try catalog.resolve("org/Model-GGUF:IQ4_NL")) { error in
            guard case .outsideRoots = error as? CatalogError else { return XCTFail("\(error)") }
        }
        XCTAssertEqual(ModelCatalog.select("Q4_K_M", in: ["a-Q4_K_M.gguf", "b.Q4_K_M.gguf"]), nil, "ambiguous")
        XCTAssertEqual(ModelCatalog.select("b.Q4_K_M", in: ["a-Q4_K_M.gguf", "b.Q4_K_M.gguf"]), "b.Q4_K_M.gguf")
    }

    func testSymlinkEscapesAreRefused() throws {
        // A model directory that is a link to a directory outside the root.
        try writeHFModel("\(root!)/outside/stolen")
        try FileManager.default.createDirectory(atPath: "\(models)/evil", withIntermediateDirectories: true)
        try FileManager.default.createSymbolicLink(atPath: "\(models)/evil/model", withDestinationPath: "\(root!)/outside/stolen")
        // A snapshot whose config.json links outside the hub.
        let snapshot = "\(hfHome)/hub/models--org--leak/snapshots/r1"
        try FileManager.default.createDirectory(atPath: snapshot, withIntermediateDirectories: true)
        try FileManager.default.createSymbolicLink(atPath: "\(snapshot)/config.json",
                                                   withDestinationPath: "\(root!)/outside/stolen/config.json")
        try Data([0]).write(to: URL(fileURLWithPath: "\(snapshot)/model.safetensors"))
        let catalog = ModelCatalog(modelsDir: models, hfHome: hfHome)
        for id in ["evil/model", "org/leak"] {
            XCTAssertThrowsError(try catalog.resolve(id), id) { error in
                XCTAssertEqual(error as? CatalogError, .outsideRoots(id: id))
            }
        }
        XCTAssertEqual(catalog.entries(), [])
        XCTAssertThrowsError(try catalog.resolve("../outside/stolen"))
    }

    func testOperatorLinkedGGUFIsServed() throws {
        // The installer may link a shared copy of a .gguf into the models directory; the operator made that link.
        try writeGGUF("\(root!)/outside/shared.gguf")
        try FileManager.default.createSymbolicLink(atPath: "\(models)/linked.gguf", withDestinationPath: "\(root!)/outside/shared.gguf")
        let entry = try ModelCatalog(modelsDir: models, hfHome: nil).resolve("linked")
        XCTAssertEqual(entry.path, try XCTUnwrap(realpathString("\(root!)/outside/shared.gguf")))
    }

    private func realpathString(_ path: String) -> String? {
        guard let resolved = realpath(path, nil) else { return nil }
        defer { free(resolved) }
        return String(cString: resolved)
    }
}
