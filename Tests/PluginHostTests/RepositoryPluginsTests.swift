import Foundation
import ModelFormats
import ModelHostABI
import PluginHost
import XCTest

/// Every plugin in the repository's Plugins/ folder passes `modelhost plugins verify`, with the default model for
/// decoders and the default embedding model for text encoders. The libraries come from the build products (scripts/build builds them); manifests from the source tree.
final class RepositoryPluginsTests: XCTestCase {
    func testEveryRepositoryPluginVerifies() throws {
        let pluginsDir = TestSupport.repoRoot.appendingPathComponent("Plugins")
        let manifests = try FileManager.default.contentsOfDirectory(atPath: pluginsDir.path).flatMap { sub -> [URL] in
            let dir = pluginsDir.appendingPathComponent(sub)
            return ((try? FileManager.default.contentsOfDirectory(atPath: dir.path)) ?? [])
                .filter { $0.hasSuffix(".plugin.json") }.map { dir.appendingPathComponent($0) }
        }
        XCTAssertFalse(manifests.isEmpty, "no plugin manifests under Plugins/")
        let model = try TestSupport.defaultModelPath()
        for manifest in manifests {
            let json = try JSONSerialization.jsonObject(with: Data(contentsOf: manifest)) as? [String: Any]
            let library = try XCTUnwrap(json?["library"] as? String)
            let built = TestSupport.productsDirectory.appendingPathComponent(library)
            guard FileManager.default.fileExists(atPath: built.path) else {
                XCTFail("\(library) is not in \(TestSupport.productsDirectory.path): build with scripts/build first")
                continue
            }
            let staged = try TestSupport.temporaryDirectory()
            try FileManager.default.copyItem(at: built, to: staged.appendingPathComponent(library))
            try FileManager.default.copyItem(at: manifest, to: staged.appendingPathComponent(manifest.lastPathComponent))
            let encoder = json?["kind"] as? String == "text-encoder"
            let r = try TestSupport.run(TestSupport.modelhost, [
                "plugins", "verify", "--model", encoder ? try TestSupport.embeddingModelPath() : model,
                staged.appendingPathComponent(library).path,
            ])
            XCTAssertEqual(r.status, 0, "\(manifest.lastPathComponent):\n\(r.output)\(r.error)")
            if json?["kind"] as? String == "text-decoder" {
                // Decoders also run the default model end to end.
                XCTAssertTrue(r.output.contains("PASS model-roundtrip: reference prompt"), r.output)
            }
            if encoder {
                XCTAssertTrue(r.output.contains("PASS model-roundtrip: 384-dimensional mean vectors, unit length"), r.output)
            }
            try? FileManager.default.removeItem(at: staged)
        }
    }

    /// The Llama plugin takes its KV cache from the host's accounted allocator: the worker sees the bytes, gets them
    /// all back, and a budget too small for a sequence is refused with an out-of-memory status, not a crash.
    func testLlamaKVCacheUsesTheHostsAccountedMemory() throws {
        let built = TestSupport.productsDirectory.appendingPathComponent("libMHLlama.so")
        let staged = try TestSupport.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: staged) }
        try FileManager.default.copyItem(at: built, to: staged.appendingPathComponent("libMHLlama.so"))
        try FileManager.default.copyItem(at: TestSupport.repoRoot.appendingPathComponent("Plugins/Llama/llama.plugin.json"),
                                         to: staged.appendingPathComponent("llama.plugin.json"))
        // 64 MiB: the model's weights are mapped, not allocated; one 256-position sequence needs ~11.8 MiB of KV.
        let host = HostServices(threads: 1, memoryBudgetBytes: 64 << 20)
        let found = PluginDiscovery.discover(in: PluginSearchPath(directories: [staged.path]))
        let plugin = try PluginSelector.select(PluginRequest(kind: .textDecoder, family: "llama"), among: found, host: host).plugin
        let context = try plugin.initialize()
        defer { context.shutdown() }
        let model = try TextDecoderClient(context).openModel(
            weights: WeightsService(GGUFWeights(try GGUFFile(path: try TestSupport.defaultModelPath()))), path: "default")
        defer { model.close() }
        let before = host.liveBytes
        let seq = try model.makeSequence(capacity: 256)
        let kvBytes = host.liveBytes - before
        XCTAssertEqual(kvBytes, UInt64(30 * 3 * 64 * 256 * 4 * 2), "keys and values of 30 layers × 3 KV heads × 64")
        _ = try model.forward([.init(sequence: seq, input: .tokens([1, 2, 3]))])
        seq.destroy()
        XCTAssertEqual(host.liveBytes, before)
        XCTAssertThrowsError(try model.makeSequence(capacity: 4096)) { error in
            XCTAssertEqual((error as? PluginCallError)?.code, -4, "\(error)")
            XCTAssertTrue("\(error)".contains("memory budget"), "\(error)")
        }
        XCTAssertEqual(host.liveBytes, before, "a refused sequence leaves nothing allocated")

        // The KV cache type asked for at open (ABI 1.3) is what the plugin stores: 2 bytes per value for f16 and
        // bf16; for q8_0 one byte per value and a 4-byte scale per 32 values.
        for (type, bytesPerHeadPosition) in [(MH_KV_F16, 64 * 2), (MH_KV_BF16, 64 * 2), (MH_KV_Q8_0, 64 + 2 * 4)] {
            let typed = try TextDecoderClient(context).openModel(
                weights: WeightsService(GGUFWeights(try GGUFFile(path: try TestSupport.defaultModelPath()))),
                path: "default", kvCacheType: type)
            defer { typed.close() }
            let start = host.liveBytes
            let seq = try typed.makeSequence(capacity: 256)
            XCTAssertEqual(host.liveBytes - start, UInt64(30 * 3 * 256 * bytesPerHeadPosition * 2), "type \(type.rawValue)")
            _ = try typed.forward([.init(sequence: seq, input: .tokens([1, 2, 3]))])
            seq.destroy()
        }
    }
}
