import Foundation
import ModelFormats
import ModelHostABI
import PluginHost
import XCTest

/// The Swift SDK's vision encoder and image preprocessor helpers, through the C tables a host sees. The plugins are
/// test-only Swift libraries (Tests/SDKTestPlugins) built by `swift build`.
final class SwiftSDKKindsTests: XCTestCase {
    var dir: URL!

    override func setUpWithError() throws { dir = try TestSupport.temporaryDirectory() }
    override func tearDown() { try? FileManager.default.removeItem(at: dir) }

    func stage(_ library: String, id: String, kind: String) throws -> DiscoveredPlugin {
        let built = TestSupport.productsDirectory.appendingPathComponent(library)
        guard FileManager.default.fileExists(atPath: built.path) else {
            throw NSError(domain: "test", code: 1, userInfo: [NSLocalizedDescriptionKey: "\(library) not built; run scripts/build"])
        }
        try FileManager.default.copyItem(at: built, to: dir.appendingPathComponent(library))
        try #"{"id": "\#(id)", "version": "1.0.0", "kind": "\#(kind)", "abi": {"major": 1, "minor": 0}, "library": "\#(library)", "runtime": "\#(PluginRuntime.hostSwiftTag)", "families": ["test-vision"]}"#
            .write(to: dir.appendingPathComponent("\(id).plugin.json"), atomically: true, encoding: .utf8)
        let found = PluginDiscovery.inspect(manifestPath: dir.appendingPathComponent("\(id).plugin.json").path)
        XCTAssertNil(found.rejection)
        return found
    }

    /// A third party's package: it depends on `SDK/` by path, as SDK/README.md says, and builds the PPM test plugin's
    /// source into a plugin. It must resolve none of the server's packages, and the plugin must load and answer.
    func testTheSDKBuildsFromASeparatePackageWithoutTheServersDependencies() throws {
        guard let swift = TestSupport.which("swift") else { throw TestSupport.missingTool("swift") }
        let package = dir.appendingPathComponent("ThirdParty")
        let sources = package.appendingPathComponent("Sources/ThirdPartyPPM")
        try FileManager.default.createDirectory(at: sources, withIntermediateDirectories: true)
        let sdk = TestSupport.repoRoot.appendingPathComponent("SDK").path
        try """
            // swift-tools-version: 6.0
            import PackageDescription
            let package = Package(
                name: "ThirdParty",
                products: [.library(name: "ThirdPartyPPM", type: .dynamic, targets: ["ThirdPartyPPM"])],
                dependencies: [.package(path: "\(sdk)")],
                targets: [.target(name: "ThirdPartyPPM", dependencies: [.product(name: "ModelHostSDK", package: "SDK")],
                                  linkerSettings: [.unsafeFlags(["-Xlinker", "--version-script=\(sdk)/plugin-exports.map"])])],
                swiftLanguageModes: [.v5])
            """.write(to: package.appendingPathComponent("Package.swift"), atomically: true, encoding: .utf8)
        try FileManager.default.copyItem(
            at: TestSupport.repoRoot.appendingPathComponent("Tests/SDKTestPlugins/PPMPreprocessor/PPMPreprocessor.swift"),
            to: sources.appendingPathComponent("PPMPreprocessor.swift"))
        let build = try TestSupport.run(swift, ["build", "-c", "release", "--package-path", package.path])
        XCTAssertEqual(build.status, 0, build.output + build.error)
        // Nothing but the SDK was resolved: no checkouts, no pins.
        let checkouts = package.appendingPathComponent(".build/checkouts").path
        XCTAssertEqual((try? FileManager.default.contentsOfDirectory(atPath: checkouts)) ?? [], [])
        let resolved = (try? String(contentsOf: package.appendingPathComponent("Package.resolved"), encoding: .utf8)) ?? ""
        XCTAssertFalse(resolved.contains("\"location\" : \"http"), resolved)

        let library = package.appendingPathComponent(".build/release/libThirdPartyPPM.so")
        try FileManager.default.copyItem(at: library, to: dir.appendingPathComponent("libThirdPartyPPM.so"))
        try #"{"id": "org.modelhost.test.ppm", "version": "1.0.0", "kind": "image-preprocessor", "abi": {"major": 1, "minor": 0}, "library": "libThirdPartyPPM.so", "runtime": "\#(PluginRuntime.hostSwiftTag)", "families": ["test-vision"]}"#
            .write(to: dir.appendingPathComponent("third.plugin.json"), atomically: true, encoding: .utf8)
        let found = PluginDiscovery.inspect(manifestPath: dir.appendingPathComponent("third.plugin.json").path)
        XCTAssertNil(found.rejection)
        let plugin = try PluginLoader.load(found, host: HostServices(threads: 1))
        let context = try plugin.initialize()
        defer { context.shutdown() }
        let t = try XCTUnwrap(context.interface(MH_IID_IMAGE_PREPROCESSOR_V1))
            .assumingMemoryBound(to: mh_image_preprocessor_v1.self).pointee
        var status = mh_status()
        mh_status_init(&status)
        var config = Self.smallConfig()
        var pp: OpaquePointer?
        XCTAssertEqual(t.create(context.raw, &config, &pp, &status), 0, statusText(&status))
        defer { t.destroy(pp) }
        let image = ppm(width: 3, height: 2) { _, _ in (1, 2, 3) }
        var info = mh_image_info()
        info.struct_size = UInt32(MemoryLayout<mh_image_info>.size)
        XCTAssertEqual(t.inspect(pp, image, UInt64(image.count), &info, &status), 0, statusText(&status))
        XCTAssertEqual([info.width, info.height, info.channels], [3, 2, 3])
    }

    /// 2×2 tiles, values scaled to 0...1 and not normalised, at most 100 pixels in.
    static func smallConfig() -> mh_preprocess_config {
        var config = mh_preprocess_config()
        config.struct_size = UInt32(MemoryLayout<mh_preprocess_config>.size)
        config.image_size = 2
        config.image_mean = (0, 0, 0)
        config.image_std = (1, 1, 1)
        config.rescale = 1.0 / 255
        config.max_pixels = 100
        return config
    }

    func ppm(width: Int, height: Int, pixel: (Int, Int) -> (UInt8, UInt8, UInt8)) -> [UInt8] {
        var bytes = Array("P6 \(width) \(height) 255\n".utf8)
        for y in 0..<height { for x in 0..<width { let p = pixel(x, y); bytes += [p.0, p.1, p.2] } }
        return bytes
    }

    func testImagePreprocessorThroughTheCTable() throws {
        let plugin = try PluginLoader.load(try stage("libMHTestPPM.so", id: "org.modelhost.test.ppm", kind: "image-preprocessor"),
                                           host: HostServices(threads: 1))
        let context = try plugin.initialize()
        defer { context.shutdown() }
        let t = try XCTUnwrap(context.interface(MH_IID_IMAGE_PREPROCESSOR_V1)).assumingMemoryBound(to: mh_image_preprocessor_v1.self).pointee
        XCTAssertNil(context.interface(MH_IID_TEXT_DECODER_V1))
        var status = mh_status()
        mh_status_init(&status)
        var config = Self.smallConfig()
        var pp: OpaquePointer?
        XCTAssertNotEqual(t.create(context.raw, nil, &pp, &status), 0)
        XCTAssertFalse(statusText(&status).isEmpty)
        XCTAssertEqual(t.create(context.raw, &config, &pp, &status), 0)
        defer { t.destroy(pp) }

        let image = ppm(width: 4, height: 4) { x, y in (UInt8(x * 60), UInt8(y * 60), 255) }
        var info = mh_image_info()
        info.struct_size = UInt32(MemoryLayout<mh_image_info>.size)
        XCTAssertEqual(t.inspect(pp, image, UInt64(image.count), &info, &status), 0)
        XCTAssertEqual([info.width, info.height, info.channels], [4, 4, 3])
        XCTAssertEqual(withUnsafeBytes(of: info.format) { String(cString: $0.bindMemory(to: CChar.self).baseAddress!) }, "ppm")

        var pixels: OpaquePointer?
        XCTAssertEqual(t.process(pp, image, UInt64(image.count), &pixels, &status), 0, statusText(&status))
        defer { t.pixels_release(pixels) }
        var tensor = mh_tensor()
        tensor.struct_size = UInt32(MemoryLayout<mh_tensor>.size)
        var layout = mh_pixels_info()
        layout.struct_size = UInt32(MemoryLayout<mh_pixels_info>.size)
        XCTAssertEqual(t.pixels_view(pixels, &tensor, &layout, &status), 0)
        XCTAssertEqual(tensor.ndim, 4)
        XCTAssertEqual([tensor.shape.0, tensor.shape.1, tensor.shape.2, tensor.shape.3], [1, 3, 2, 2])
        XCTAssertEqual([tensor.stride_bytes.0, tensor.stride_bytes.1, tensor.stride_bytes.2, tensor.stride_bytes.3], [48, 16, 8, 4])
        XCTAssertEqual(layout.n_images, 1)
        let values = Array(UnsafeBufferPointer(start: tensor.data.assumingMemoryBound(to: Float.self), count: 12))
        // Nearest neighbour picks source pixels (0,0), (2,0), (0,2), (2,2): red = x*60/255, green = y*60/255.
        XCTAssertEqual(values[0...3].map { ($0 * 255).rounded() }, [0, 120, 0, 120])
        XCTAssertEqual(values[4...7].map { ($0 * 255).rounded() }, [0, 0, 120, 120])
        XCTAssertEqual(values[8...11], [1, 1, 1, 1])

        let garbage: [UInt8] = Array("GIF89a".utf8)
        XCTAssertEqual(t.process(pp, garbage, UInt64(garbage.count), &pixels, &status), MH_ERR_BAD_INPUT.rawValue)
        XCTAssertTrue(statusText(&status).contains("not a binary PPM"))
        let big = ppm(width: 20, height: 20) { _, _ in (0, 0, 0) }
        XCTAssertEqual(t.process(pp, big, UInt64(big.count), &pixels, &status), MH_ERR_BAD_INPUT.rawValue)
        XCTAssertTrue(statusText(&status).contains("exceeds 100 pixels"), statusText(&status))
        XCTAssertEqual(t.process(pp, nil, 0, &pixels, &status), MH_ERR_BAD_INPUT.rawValue)
    }

    func testVisionEncoderThroughTheCTable() throws {
        let plugin = try PluginLoader.load(try stage("libMHTestMeanPool.so", id: "org.modelhost.test.meanpool", kind: "vision-encoder"),
                                           host: HostServices(threads: 1))
        let context = try plugin.initialize()
        defer { context.shutdown() }
        let t = try XCTUnwrap(context.interface(MH_IID_VISION_ENCODER_V1)).assumingMemoryBound(to: mh_vision_encoder_v1.self).pointee
        var w = try GGUFWriter()
        try w.set("test.image_size", .uint32(4))
        try w.set("test.tokens", .uint32(2))
        try w.set("test.embedding_length", .uint32(6))
        try w.addTensor(name: "unused", dimensions: [1], values: [0])
        let path = dir.appendingPathComponent("v.gguf").path
        try w.write(to: path)
        let weights = WeightsService(GGUFWeights(try GGUFFile(path: path)))
        var status = mh_status()
        mh_status_init(&status)
        var model: OpaquePointer?
        try path.withCString { p in
            var desc = mh_model_desc(struct_size: UInt32(MemoryLayout<mh_model_desc>.size), reserved: 0,
                                     weights: UnsafePointer(weights.table), path: p, max_sequences: 1, max_context: 0,
                                     // A KV cache type no ABI names: a vision encoder ignores the field.
                                     cancel_token: 0, kv_cache_type: 99, reserved2: 0)
            XCTAssertEqual(t.model_open(context.raw, &desc, &model, &status), 0, statusText(&status))
            _ = try XCTUnwrap(model)
        }
        defer { t.model_close(model) }
        var info = mh_vision_info()
        info.struct_size = UInt32(MemoryLayout<mh_vision_info>.size)
        XCTAssertEqual(t.model_info(model, &info, &status), 0)
        XCTAssertEqual([info.image_size, info.tokens_per_image, info.embedding_length], [4, 2, 6])

        // One image: top half channel values 1, bottom half 3 (every channel).
        var pixels = [Float](repeating: 0, count: 48)
        for c in 0..<3 { for y in 0..<4 { for x in 0..<4 { pixels[(c * 4 + y) * 4 + x] = y < 2 ? 1 : 3 } } }
        var out = [Float](repeating: -1, count: 12)
        func tensor(_ shape: (Int64, Int64, Int64, Int64), _ data: UnsafeMutablePointer<Float>) -> mh_tensor {
            var t = mh_tensor()
            t.struct_size = UInt32(MemoryLayout<mh_tensor>.size)
            t.dtype = UInt32(MH_DTYPE_F32.rawValue)
            t.ndim = 4
            t.shape.0 = shape.0; t.shape.1 = shape.1; t.shape.2 = shape.2; t.shape.3 = shape.3
            t.stride_bytes.3 = 4; t.stride_bytes.2 = 4 * shape.3; t.stride_bytes.1 = 4 * shape.3 * shape.2
            t.stride_bytes.0 = 4 * shape.3 * shape.2 * shape.1
            t.data = UnsafeMutableRawPointer(data)
            t.nbytes = UInt64(4 * shape.0 * shape.1 * shape.2 * shape.3)
            return t
        }
        pixels.withUnsafeMutableBufferPointer { px in
            var good = tensor((1, 3, 4, 4), px.baseAddress!)
            XCTAssertEqual(t.encode(model, &good, &out, 12, 0, &status), 0, statusText(&status))
            XCTAssertEqual(t.encode(model, &good, &out, 11, 0, &status), MH_ERR_INVALID_ARG.rawValue)
            XCTAssertTrue(statusText(&status).contains("12 are needed"), statusText(&status))
            var wrong = tensor((1, 3, 2, 8), px.baseAddress!)
            XCTAssertEqual(t.encode(model, &wrong, &out, 12, 0, &status), MH_ERR_INVALID_ARG.rawValue)
            XCTAssertTrue(statusText(&status).contains("[n, 3, 4, 4]"), statusText(&status))
            XCTAssertEqual(t.encode(model, nil, &out, 12, 0, &status), MH_ERR_INVALID_ARG.rawValue)
        }
        XCTAssertEqual(out, [1, 1, 1, 1, 1, 1, 3, 3, 3, 3, 3, 3])
    }

    func testTheVerifierPassesSwiftPluginsOfEveryKind() throws {
        _ = try stage("libMHTestPPM.so", id: "org.modelhost.test.ppm", kind: "image-preprocessor")
        _ = try stage("libMHTestMeanPool.so", id: "org.modelhost.test.meanpool", kind: "vision-encoder")
        for library in ["libMHTestPPM.so", "libMHTestMeanPool.so"] {
            let r = try TestSupport.run(TestSupport.modelhost, ["plugins", "verify", dir.appendingPathComponent(library).path])
            XCTAssertEqual(r.status, 0, r.output)
        }
    }
}
