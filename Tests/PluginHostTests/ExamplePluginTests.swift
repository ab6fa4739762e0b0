import Foundation
import ModelFormats
import ModelHostABI
import PluginHost
import XCTest

/// The SDK's plain-C example, built with `make`/`cc` against the headers alone, then loaded and exercised through
/// the host exactly as a worker would: discovery, selection, init, weights service, batched forward, truncation.
final class ExamplePluginTests: XCTestCase {
    static let vocab = 16
    var dir: URL!
    var host: HostServices!
    var model: DecoderModelHandle!
    var context: PluginContext!

    override func setUpWithError() throws {
        dir = try TestSupport.temporaryDirectory()
        try TestSupport.buildExamplePlugin(into: dir)
        let modelPath = dir.appendingPathComponent("bigram.gguf")
        try TestSupport.writeBigramModel(modelPath, vocab: Self.vocab)
        host = HostServices(threads: 1)
        let found = PluginDiscovery.discover(in: PluginSearchPath(directories: [dir.path]))
        XCTAssertEqual(found.count, 1)
        XCTAssertNil(found.first?.rejection)
        let selected = try PluginSelector.select(PluginRequest(kind: .textDecoder, family: "bigram"), among: found, host: host)
        XCTAssertEqual(selected.plugin.id, "org.modelhost.example.bigram")
        context = try selected.plugin.initialize()
        let decoder = try TextDecoderClient(context)
        let weights = WeightsService(GGUFWeights(try GGUFFile(path: modelPath.path)))
        XCTAssertEqual(weights.servedFraction, 0)
        model = try decoder.openModel(weights: weights, path: modelPath.path)
        // Load progress as the host measures it: the example takes its one tensor, so the whole model was served.
        XCTAssertEqual(weights.servedFraction, 1)
    }

    override func tearDown() {
        model?.close()
        context?.shutdown()
        try? FileManager.default.removeItem(at: dir)
    }

    func row(_ token: Int) -> [Float] {
        Array(TestSupport.bigramTable(vocab: Self.vocab)[token * Self.vocab..<(token + 1) * Self.vocab])
    }

    /// The example declares no KV cache type beyond f32 (ABI 1.3 capabilities), so the host refuses to ask it for
    /// one, naming what the plugin offers, before the plugin sees the request.
    func testAKVCacheTypeThePluginDoesNotDeclareIsRefusedByName() throws {
        let decoder = try TextDecoderClient(context)
        let modelPath = dir.appendingPathComponent("bigram.gguf")
        let weights = WeightsService(GGUFWeights(try GGUFFile(path: modelPath.path)))
        XCTAssertThrowsError(try decoder.openModel(weights: weights, path: modelPath.path, kvCacheType: MH_KV_F16)) {
            let message = "\($0)"
            XCTAssertTrue(message.contains("cannot store the KV cache as f16; it offers f32"), message)
        }
        XCTAssertEqual(TextDecoderClient.cacheTypes(capabilities: UInt64(MH_CAP_KV_F16.rawValue | MH_CAP_KV_BF16.rawValue))
                        .map(\.name), ["f32", "f16", "bf16"])
    }

    func testInfoComesFromTheModelMetadata() {
        XCTAssertEqual(model.vocabularySize, Self.vocab)
        XCTAssertEqual(model.contextLength, 256)
    }

    func testTokensGiveTheTableRowOfTheLastToken() throws {
        let seq = try model.makeSequence(capacity: 32)
        let logits = try model.forward([.init(sequence: seq, input: .tokens([3, 7, 5]))])
        XCTAssertEqual(logits[0], row(5))
        XCTAssertEqual(seq.length, 3)
    }

    func testBatchedDecodeAdvancesEverySequence() throws {
        let a = try model.makeSequence(capacity: 32), b = try model.makeSequence(capacity: 32)
        let out = try model.forward([.init(sequence: a, input: .tokens([1, 2])), .init(sequence: b, input: .tokens([9]))])
        XCTAssertEqual(out[0], row(2))
        XCTAssertEqual(out[1], row(9))
        XCTAssertEqual([a.length, b.length], [2, 1])
    }

    func testOneHotEmbeddingsEqualTokens() throws {
        let seq = try model.makeSequence(capacity: 8)
        var oneHot = [Float](repeating: 0, count: Self.vocab)
        oneHot[11] = 1
        let out = try model.forward([.init(sequence: seq, input: .embeddings(oneHot, count: 1))])
        XCTAssertEqual(out[0], row(11))
    }

    func testLogitsForEveryPosition() throws {
        let seq = try model.makeSequence(capacity: 8)
        let out = try model.forward([.init(sequence: seq, input: .tokens([4, 6]), logits: .all)])
        XCTAssertEqual(out[0], row(4) + row(6))
    }

    func testTruncateThenContinueReusesThePrefix() throws {
        let seq = try model.makeSequence(capacity: 8)
        _ = try model.forward([.init(sequence: seq, input: .tokens([1, 2, 3]), logits: .none)])
        try seq.truncate(to: 1)
        XCTAssertEqual(seq.length, 1)
        let out = try model.forward([.init(sequence: seq, input: .tokens([8]))])
        XCTAssertEqual(out[0], row(8))
        XCTAssertEqual(seq.length, 2)
    }

    func testBadInputGetsAStatusAndLeavesTheSequenceAlone() throws {
        let seq = try model.makeSequence(capacity: 2)
        XCTAssertThrowsError(try model.forward([.init(sequence: seq, input: .tokens([99]))])) { error in
            XCTAssertTrue("\(error)".contains("token 99"), "\(error)")
        }
        XCTAssertThrowsError(try model.forward([.init(sequence: seq, input: .tokens([1, 2, 3]))])) { error in
            XCTAssertTrue("\(error)".contains("overflows"), "\(error)")
        }
        XCTAssertEqual(seq.length, 0)
        XCTAssertThrowsError(try seq.truncate(to: 5))
        XCTAssertThrowsError(try model.makeSequence(capacity: 100_000))
    }

    func testCancellationIsHonoured() throws {
        let seq = try model.makeSequence(capacity: 4)
        host.cancel(42)
        XCTAssertThrowsError(try model.forward([.init(sequence: seq, input: .tokens([1]))], cancelToken: 42)) { error in
            XCTAssertEqual((error as? PluginCallError)?.code, -5)
        }
        host.retire(42)
        XCTAssertNoThrow(try model.forward([.init(sequence: seq, input: .tokens([1]))], cancelToken: 42))
    }

    func testSequenceStateUsesAccountedHostMemory() throws {
        XCTAssertEqual(host.liveAllocationCount, 0)
        var sequences: [SequenceHandle] = []
        for _ in 0..<10 { sequences.append(try model.makeSequence(capacity: 64)) }
        XCTAssertEqual(host.liveAllocationCount, 10)
        XCTAssertEqual(host.liveBytes, UInt64(10 * 64 * Self.vocab * 4))
        sequences.forEach { $0.destroy() }
        XCTAssertEqual(host.liveAllocationCount, 0)
        XCTAssertEqual(host.liveBytes, 0)
    }
}
