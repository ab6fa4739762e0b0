import Foundation
import FuzzTargets
import ModelFormats
import StructuredOutput
import Tokenizer
import WorkerProtocol
import XCTest

/// Every committed corpus input through its fuzz target, in the ordinary (uninstrumented) build: the seeds, what
/// `scripts/fuzz --update-corpus` kept for coverage, and each input that once crashed or hung (`crash-*`,
/// `timeout-*`), so that a fixed bug cannot come back unnoticed.
final class CorpusReplayTests: XCTestCase {
    static let corpusRoot = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
        .appendingPathComponent("Fuzz/Corpus").path

    func testEveryTargetHasACorpusAndItsInputsRunCleanly() throws {
        for target in FuzzTarget.all {
            let folder = "\(Self.corpusRoot)/\(target.name)"
            let names = try FileManager.default.contentsOfDirectory(atPath: folder).sorted()
            XCTAssertFalse(names.isEmpty, "\(folder) holds no inputs")
            let started = Date()
            for name in names {
                let data = try XCTUnwrap(FileManager.default.contents(atPath: "\(folder)/\(name)"))
                XCTAssertLessThanOrEqual(data.count, target.maxLength, "\(target.name)/\(name) exceeds the target's max length")
                target.run([UInt8](data))
            }
            // Each input is small; a slow one means a hang came back (libFuzzer's limit is 10 s per input).
            XCTAssertLessThan(Date().timeIntervalSince(started), 60, "\(target.name): the corpus took too long")
        }
    }

    func testTargetNamesAreUnique() {
        XCTAssertEqual(Set(FuzzTarget.all.map(\.name)).count, FuzzTarget.all.count)
    }
}

/// The harnesses themselves: a target that silently rejects its seeds explores nothing.
final class FuzzHarnessTests: XCTestCase {
    func testRingSeedsComeOutAsEveryEventWrittenIncludingAcrossTheRingEnd() {
        let seeds = WireSeeds.seeds()["ring"]!
        XCTAssertEqual(seeds.count, 2)
        for seed in seeds {
            XCTAssertEqual(RingFixture.shared.run(seed.bytes), WireSeeds.events.count, seed.name)
        }
    }

    func testMessageSeedsDecode() {
        for seed in WireSeeds.seeds()["messages"]! {
            let type = seed.bytes.prefix(4).reversed().reduce(UInt32(0)) { $0 << 8 | UInt32($1) }
            let payload = Array(seed.bytes.dropFirst(4))
            let decodes = (try? WorkerRequest.decode(type: type, payload: payload)) != nil
                || (try? WorkerEvent.decode(type: type, payload: payload)) != nil
            XCTAssertTrue(decodes, seed.name)
        }
    }
}

/// The seeds reach past the first check of each parser (a seed the parser refuses explores nothing).
final class FuzzSeedTests: XCTestCase {
    func seeds(_ target: String) throws -> [(name: String, bytes: [UInt8])] {
        let folder = "\(CorpusReplayTests.corpusRoot)/\(target)"
        return try FileManager.default.contentsOfDirectory(atPath: folder).filter { $0.hasPrefix("seed-") }.sorted()
            .map { ($0, [UInt8](try XCTUnwrap(FileManager.default.contents(atPath: "\(folder)/\($0)")))) }
    }

    func testGGUFSeedsParseAndCarryATokenizer() throws {
        for seed in try seeds("gguf") {
            let gguf = try GGUFFile(file: MappedFile(copying: seed.bytes))
            XCTAssertNoThrow(try Tokenizers.load(gguf: gguf), seed.name)
        }
    }

    func testTokenizerSeedsLoad() throws {
        let folder = NSTemporaryDirectory() + "/modelhost-seed-\(getpid())"
        try FileManager.default.createDirectory(atPath: folder, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: folder) }
        for seed in try seeds("tokenizer-json") {
            FileManager.default.createFile(atPath: folder + "/tokenizer.json", contents: Data(seed.bytes))
            let tokenizer = try Tokenizers.load(tokenizerJSON: folder + "/tokenizer.json")
            XCTAssertEqual(tokenizer.decode(tokenizer.encode("the fox", addSpecial: false)).trimmingCharacters(in: .whitespaces),
                           "the fox", seed.name)
        }
    }

    func testSafetensorsAndFolderSeedsLoad() throws {
        for seed in try seeds("safetensors") {
            XCTAssertFalse(try SafetensorsFile(file: MappedFile(copying: seed.bytes)).tensors.isEmpty, seed.name)
        }
        XCTAssertEqual(try seeds("model-folder").count, 3)
    }

    func testSchemaSeedsCompile() throws {
        var vocabulary: [[UInt8]?] = (0...255).map { [UInt8($0)] }
        vocabulary.append(nil)
        let constraintVocabulary = ConstraintVocabulary(tokenBytes: vocabulary, endTokens: [256])
        for seed in try seeds("schema") {
            let schema = InputParts.split(seed.bytes, count: 2)[0]
            XCTAssertNoThrow(try JSONConstraint(schemaJSON: schema.isEmpty ? nil : String(decoding: schema, as: UTF8.self),
                                                vocabulary: constraintVocabulary), seed.name)
        }
    }
}
