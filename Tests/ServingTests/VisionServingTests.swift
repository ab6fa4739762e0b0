import Foundation
import TestScratch
import XCTest

/// Images through the chat API, end to end: a SmolVLM-shaped test model (scripts/fixtures/smolvlm_test_model.py:
/// fixed random weights in llama.cpp's decoder + mmproj GGUF layout and in the Hugging Face Idefics3 layout) served
/// beside the text-only default model, real workers, real image plugins.
final class VisionServingTests: XCTestCase {
    static let fixtures = ServerProcess.root.appendingPathComponent("Tests/ServingTests/Fixtures")
    static let script = ServerProcess.root.appendingPathComponent("scripts/fixtures/serving_images.py").path

    /// Builds the test model once per process into a cache folder, then links it into each server's models folder.
    static let testModel: Result<URL, Error> = Result {
        let out = FileManager.default.temporaryDirectory.appendingPathComponent("mh-smolvlm-test-model")
        if !FileManager.default.fileExists(atPath: out.appendingPathComponent("hf/config.json").path) {
            let builder = ServerProcess.root.appendingPathComponent("scripts/fixtures/smolvlm_test_model.py").path
            let (status, output) = try TestPython.run([builder, out.path, "--tokenizer-from", try ServerProcess.defaultModel()])
            guard status == 0 else {
                throw NSError(domain: "smolvlm", code: 1, userInfo: [NSLocalizedDescriptionKey:
                    "building the test model failed (needs numpy gguf safetensors tokenizers): \(output)"])
            }
        }
        return out
    }

    func startServer(_ environment: [String: String] = [:]) throws -> ServerProcess {
        let model = try Self.testModel.get()
        return try ServerProcess(environment: environment) { models in
            let fm = FileManager.default
            for name in ["SmolVLM-Test.gguf", "mmproj-SmolVLM-Test.gguf"] {
                try fm.createSymbolicLink(at: models.appendingPathComponent(name),
                                          withDestinationURL: model.appendingPathComponent(name))
            }
            // A folder is served only from inside the models root (a link out of it is refused), so it is copied.
            try fm.createDirectory(at: models.appendingPathComponent("test-org"), withIntermediateDirectories: true)
            try fm.copyItem(at: model.appendingPathComponent("hf"), to: models.appendingPathComponent("test-org/SmolVLM-Test-HF"))
        }
    }

    static func dataURL(_ bytes: Data, type: String) -> String { "data:image/\(type);base64," + bytes.base64EncodedString() }

    static func fixture(_ name: String) throws -> Data { try Data(contentsOf: fixtures.appendingPathComponent(name)) }

    static func ask(_ model: String, images: [String], text: String = "What is in this picture?",
                    maxTokens: Int = 8) -> [String: Any] {
        let parts: [[String: Any]] = images.map { ["type": "image_url", "image_url": ["url": $0]] }
            + [["type": "text", "text": text]]
        return ["model": model, "messages": [["role": "user", "content": parts]], "temperature": 0,
                "max_tokens": maxTokens]
    }

    func content(_ r: HTTP.Reply) -> String {
        ((r.json?["choices"] as? [[String: Any]])?.first?["message"] as? [String: Any])?["content"] as? String ?? ""
    }

    func usage(_ r: HTTP.Reply) -> [String: Any] { r.json?["usage"] as? [String: Any] ?? [:] }

    func testImagesInChatRequests() throws {
        let server = try startServer()
        defer { server.stop() }
        let api = server.baseURL + "/v1/chat/completions"
        let list = HTTP.get(server.baseURL + "/v1/models").json?["data"] as? [[String: Any]] ?? []
        let ids = Set(list.compactMap { $0["id"] as? String })
        XCTAssertEqual(ids, ["SmolLM2-135M-Instruct.Q4_1", "SmolVLM-Test", "test-org/SmolVLM-Test-HF"],
                       "the projector file is not a model of its own")
        let vlm = try XCTUnwrap(list.first { $0["id"] as? String == "SmolVLM-Test" })
        XCTAssertEqual(vlm["input_modalities"] as? [String], ["text", "image"])

        // PNG, JPEG and WebP, as data URLs: 200 with text, and the image positions counted in the usage.
        var imageTokens: [Int] = []
        for (file, type) in [("scene.png", "png"), ("scene.jpg", "jpeg"), ("scene.webp", "webp")] {
            let r = HTTP.post(api, Self.ask("SmolVLM-Test", images: [Self.dataURL(try Self.fixture(file), type: type)]))
            XCTAssertEqual(r.status, 200, "\(file): \(r.text)\n\(server.logText)")
            XCTAssertFalse(content(r).isEmpty, "\(file): \(r.text)")
            let details = usage(r)["prompt_tokens_details"] as? [String: Any] ?? [:]
            imageTokens.append(details["image_tokens"] as? Int ?? 0)
            XCTAssertGreaterThan(usage(r)["prompt_tokens"] as? Int ?? 0, imageTokens.last ?? 0)
        }
        // 160 x 96 → longest side 256 (4 tiles of 64) → 4 x 3 tiles of 16 embeddings + the global image.
        XCTAssertEqual(imageTokens, [208, 208, 208], "(4 x 3 + 1) tiles x 16 tokens")

        // Two images in one message, and a text-only request to the same model (its template wants content parts).
        let two = HTTP.post(api, Self.ask("SmolVLM-Test", images: [
            Self.dataURL(try Self.fixture("scene.png"), type: "png"), Self.dataURL(try Self.fixture("scene.jpg"), type: "jpeg"),
        ]))
        XCTAssertEqual(two.status, 200, two.text)
        XCTAssertEqual((usage(two)["prompt_tokens_details"] as? [String: Any])?["image_tokens"] as? Int, 416)
        let textOnly = HTTP.post(api, ["model": "SmolVLM-Test", "messages": [["role": "user", "content": "Hello"]],
                                       "max_tokens": 4, "temperature": 0])
        XCTAssertEqual(textOnly.status, 200, textOnly.text)

        // The same image again comes from the worker's cache, which /metrics counts.
        let metrics = HTTP.get(server.adminURL + "/metrics").text
        XCTAssertTrue(metrics.contains("modelhost_vision_resize_cache_hits_total 2"), metrics)
        XCTAssertTrue(metrics.contains("modelhost_vision_resize_cache_misses_total 3"), metrics)

        // The Hugging Face layout of the same model takes the same prompt.
        let hf = HTTP.post(api, Self.ask("test-org/SmolVLM-Test-HF",
                                         images: [Self.dataURL(try Self.fixture("scene.png"), type: "png")]))
        XCTAssertEqual(hf.status, 200, "\(hf.text)\n\(server.logText)")
        XCTAssertFalse(content(hf).isEmpty)
        XCTAssertEqual((usage(hf)["prompt_tokens_details"] as? [String: Any])?["image_tokens"] as? Int, 208)

        // Remote URLs are off by default, and the refusal says what to send instead.
        let remote = HTTP.post(api, Self.ask("SmolVLM-Test", images: ["https://example.com/cat.png"]))
        XCTAssertEqual(remote.status, 400, remote.text)
        XCTAssertTrue((remote.error?["message"] as? String ?? "").contains("data:image"), remote.text)

        // A text-only model refuses images with a 400 that says so.
        let text = HTTP.post(api, Self.ask("default", images: [Self.dataURL(try Self.fixture("scene.png"), type: "png")]))
        XCTAssertEqual(text.status, 400, text.text)
        XCTAssertTrue((text.error?["message"] as? String ?? "").contains("text only"), text.text)
    }

    func testImageLimitsAndBadImages() throws {
        let server = try startServer(["MODELHOST_VISION_ALLOW_URLS": "1"])
        defer { server.stop() }
        let api = server.baseURL + "/v1/chat/completions"
        let png = Self.dataURL(try Self.fixture("scene.png"), type: "png")
        XCTAssertEqual(HTTP.post(api, Self.ask("SmolVLM-Test", images: [png])).status, 200)

        // A 10 MiB image works; one byte over the limit is a 413 before anything is decoded.
        let work = server.directory
        let big = work.appendingPathComponent("big.png")
        let (status, output) = try TestPython.run([Self.script, "big", big.path, "\(10 << 20)"])
        XCTAssertEqual(status, 0, output)
        let bigBytes = try Data(contentsOf: big)
        XCTAssertGreaterThan(bigBytes.count, 10_000_000)
        let ok = HTTP.post(api, Self.ask("SmolVLM-Test", images: [Self.dataURL(bigBytes, type: "png")]), timeout: 300)
        XCTAssertEqual(ok.status, 200, "\(ok.text)\n\(server.logText)")
        let tooBig = HTTP.post(api, Self.ask("SmolVLM-Test", images: [
            Self.dataURL(bigBytes + Data(repeating: 0, count: (10 << 20) - bigBytes.count + 1), type: "png"),
        ]))
        XCTAssertEqual(tooBig.status, 413, tooBig.text)
        XCTAssertEqual(tooBig.error?["code"] as? String, "image_too_large")

        // More images than allowed (5) is a 400, counted across messages.
        let six: [String: Any] = ["model": "SmolVLM-Test", "max_tokens": 1, "messages": [
            ["role": "user", "content": Array(repeating: ["type": "image_url", "image_url": ["url": png]], count: 3)],
            ["role": "assistant", "content": "ok"],
            ["role": "user", "content": Array(repeating: ["type": "image_url", "image_url": ["url": png]], count: 3)],
        ]]
        let many = HTTP.post(api, six)
        XCTAssertEqual(many.status, 400, many.text)
        XCTAssertEqual(many.error?["code"] as? String, "too_many_images")

        // A corrupt image and a malformed data URL are 400s; remote URLs, even when allowed, never reach the server's
        // own network (cloud metadata at a link-local address, loopback by name).
        let corrupt = HTTP.post(api, Self.ask("SmolVLM-Test", images: [
            Self.dataURL(Data([0x89, 0x50, 0x4E, 0x47, 0x0D, 0x0A, 0x1A, 0x0A]) + Data(repeating: 7, count: 200), type: "png"),
        ]))
        XCTAssertEqual(corrupt.status, 400, corrupt.text)
        XCTAssertEqual(HTTP.post(api, Self.ask("SmolVLM-Test", images: ["data:image/png;base64,@@@@"])).status, 400)
        for url in ["http://169.254.169.254/latest/meta-data", "http://localhost:\(server.apiPort)/health"] {
            let remote = HTTP.post(api, Self.ask("SmolVLM-Test", images: [url]))
            XCTAssertEqual(remote.status, 400, remote.text)
            XCTAssertTrue((remote.error?["message"] as? String ?? "").contains("does not fetch from such addresses"),
                          remote.text)
        }

        // A header claiming 100,000 x 100,000 pixels is refused from the header: fast, and the worker does not grow.
        let bomb = work.appendingPathComponent("bomb.png")
        XCTAssertEqual(try TestPython.run([Self.script, "bomb", bomb.path]).status, 0)
        let before = workerRSS(server, model: "SmolVLM-Test")
        let started = Date()
        let refused = HTTP.post(api, Self.ask("SmolVLM-Test", images: [Self.dataURL(try Data(contentsOf: bomb), type: "png")]))
        let elapsed = Date().timeIntervalSince(started)
        print("100,000 x 100,000 PNG header refused in \(Int(elapsed * 1000)) ms (the target is 100 ms)")
        XCTAssertEqual(refused.status, 400, refused.text)
        XCTAssertTrue((refused.error?["message"] as? String ?? "").contains("image 1"), refused.text)
        XCTAssertLessThan(elapsed, 1.0, "refusing a bomb must not decode it")
        let after = workerRSS(server, model: "SmolVLM-Test")
        XCTAssertLessThan(after - before, 64 << 20, "the worker's memory grew by \(after - before) bytes")
    }

    /// A text-only model's worker maps no vision plugin; a vision model's worker maps both.
    func testOnlyVisionWorkersMapVisionPlugins() throws {
        let server = try startServer()
        defer { server.stop() }
        let api = server.baseURL + "/v1/chat/completions"
        XCTAssertEqual(HTTP.post(api, ["model": "default", "messages": [["role": "user", "content": "Hi"]],
                                       "max_tokens": 2]).status, 200)
        XCTAssertEqual(HTTP.post(api, Self.ask("SmolVLM-Test", images: [
            Self.dataURL(try Self.fixture("scene.png"), type: "png")])).status, 200)
        let text = try maps(server, model: "SmolLM2-135M-Instruct.Q4_1")
        let vision = try maps(server, model: "SmolVLM-Test")
        XCTAssertTrue(text.contains("libMHLlama.so"), "the maps file is read: \(text.prefix(2000))")
        for library in ["libMHSigLIP.so", "libMHImagePreprocessor.so"] {
            XCTAssertFalse(text.contains(library), "the text-only worker mapped \(library)")
            XCTAssertTrue(vision.contains(library), "the vision worker did not map \(library): "
                + vision.split(separator: "\n").filter { $0.contains(".so") }.map { String($0.split(separator: " ").last ?? "") }
                    .joined(separator: " "))
        }
    }

    /// Preparing an image (decode, resize, encode) runs beside the decode loop: a text request to the same model
    /// finishes while a slow image is still being encoded. The slow projector is a full-width SigLIP (512 px, hidden
    /// 768, 3 layers) splitting images into at most 2 x 2 tiles, paired with the test model's decoder.
    func testImageEncodingDoesNotStallOtherStreams() throws {
        let model = try Self.testModel.get()
        let server = try ServerProcess { models in
            let script = """
            import sys; sys.path.insert(0, sys.argv[1]); import smolvlm_vision as v
            c = v.VisionConfig(512, 16, 768, 3072, 3, 12, 4, 64)
            v.write_mmproj_gguf(sys.argv[2], c, v.make_vision_weights(c, 7), "f16", longest_edge=1024)
            """
            let projector = models.appendingPathComponent("mmproj-SmolVLM-Slow.gguf").path
            let (status, output) = try TestPython.run(["-c", script,
                                                    ServerProcess.root.appendingPathComponent("scripts/fixtures").path,
                                                    projector])
            XCTAssertEqual(status, 0, output)
            try FileManager.default.createSymbolicLink(at: models.appendingPathComponent("SmolVLM-Slow.gguf"),
                                                       withDestinationURL: model.appendingPathComponent("SmolVLM-Test.gguf"))
        }
        defer { server.stop() }
        let api = server.baseURL + "/v1/chat/completions"
        let text: [String: Any] = ["model": "SmolVLM-Slow", "messages": [["role": "user", "content": "Hello"]],
                                   "max_tokens": 16, "temperature": 0]
        XCTAssertEqual(HTTP.post(api, text).status, 200, server.logText)
        var started = Date()
        let alone = HTTP.post(api, Self.ask("SmolVLM-Slow", images: [Self.dataURL(try Self.fixture("scene.png"), type: "png")]))
        let imageAlone = Date().timeIntervalSince(started)
        XCTAssertEqual(alone.status, 200, alone.text)

        // A different image (the first is cached now), and a text request sent while it encodes.
        let jpeg = Self.dataURL(try Self.fixture("scene.jpg"), type: "jpeg")
        let group = DispatchGroup()
        group.enter()
        DispatchQueue.global().async {
            _ = HTTP.post(api, Self.ask("SmolVLM-Slow", images: [jpeg]))
            group.leave()
        }
        Thread.sleep(forTimeInterval: min(0.3, imageAlone / 4))
        started = Date()
        XCTAssertEqual(HTTP.post(api, text).status, 200)
        let textDuringEncode = Date().timeIntervalSince(started)
        group.wait()
        print("image request alone \(Int(imageAlone * 1000)) ms; text request during an image's encoding "
            + "\(Int(textDuringEncode * 1000)) ms")
        XCTAssertLessThan(textDuringEncode, imageAlone * 0.6, "the text request waited for the image's encoding")
    }

    // MARK: Helpers

    func workerPID(_ server: ServerProcess, model: String) -> Int? {
        let models = HTTP.get(server.adminURL + "/admin/status").json?["models"] as? [[String: Any]] ?? []
        return models.first { $0["id"] as? String == model }?["pid"] as? Int
    }

    func workerRSS(_ server: ServerProcess, model: String) -> Int {
        let models = HTTP.get(server.adminURL + "/admin/status").json?["models"] as? [[String: Any]] ?? []
        return models.first { $0["id"] as? String == model }?["rss_bytes"] as? Int ?? 0
    }

    func maps(_ server: ServerProcess, model: String) throws -> String {
        let pid = try XCTUnwrap(workerPID(server, model: model), "no worker for \(model)")
        // /proc files report no size, so read to the end rather than trusting a size-based read.
        let handle = try XCTUnwrap(FileHandle(forReadingAtPath: "/proc/\(pid)/maps"))
        defer { try? handle.close() }
        return String(decoding: handle.readDataToEndOfFile(), as: UTF8.self)
    }
}
