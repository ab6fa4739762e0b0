import Foundation
import LlamaGGUFSource
import LlamaKernels
import TestScratch
import XCTest

/// The weight formats other than the default's, each run by the kernels after a repacking at load (Q4_0 as Q4_1,
/// Q5_0 and IQ4_NL as Q8_0, Q5_1 as affine8, Q4_K with unpacked scales, Q5_K and Q6_K with a byte per weight), each
/// on the default model re-quantized by `scripts/bench/requantize.py` (gguf-py's quantizer, or that script's
/// round-to-nearest K-quant and IQ4_NL quantizers; deterministic) and checked against the float64 gold of that same
/// file (`scripts/fixtures/llama_gold_formats.sh`): the same bar as the default model's.
final class FormatGoldTests: XCTestCase {
    static let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
        .deletingLastPathComponent()

    func model(_ format: String) throws -> LlamaModel {
        let directory = try TestScratch.directory("format-gold")
        let path = directory.appendingPathComponent("smollm2.\(format).gguf").path
        if !FileManager.default.fileExists(atPath: path) {
            let (status, output) = try TestPython.run([Self.root.appendingPathComponent("scripts/bench/requantize.py").path,
                                                       try TestModel.path(), path, format])
            XCTAssertEqual(status, 0, output)
        }
        let source = try GGUFWeightSource(path: path)
        return try LlamaModel(source: source, config: LlamaConfig(from: source), threads: 2)
    }

    func testEachWidenedFormatMatchesTheFloat64GoldOfItsOwnFile() throws {
        for format in ["q4_0", "q5_0", "q5_1", "q4_k", "q5_k", "q6_k", "iq4_nl"] {
            let model = try model(format)
            try GoldChecks.teacherForced(model, label: format, fixture: "llama_gold_\(format).json")
            try GoldChecks.greedyContinuations(model, label: format, fixture: "llama_gold_\(format).json")
        }
    }
}
