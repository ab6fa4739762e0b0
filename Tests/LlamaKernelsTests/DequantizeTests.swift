import Foundation
import LlamaKernels
import XCTest

/// Dequantization must match gguf-py bit for bit (fixture from scripts/fixtures/llama_dequant.py).
final class DequantizeTests: XCTestCase {
    func testMatchesGGUFPyBitForBit() throws {
        let fixture = try Fixture.json("llama_dequant.json")
        let types: [(String, WeightType)] = [("Q4_0", .q4_0), ("Q4_1", .q4_1), ("Q5_0", .q5_0), ("Q5_1", .q5_1),
                                             ("Q8_0", .q8_0), ("Q4_K", .q4_K), ("Q5_K", .q5_K), ("Q6_K", .q6_K),
                                             ("IQ4_NL", .iq4_nl), ("F16", .f16), ("BF16", .bf16)]
        for (name, type) in types {
            let entry = try XCTUnwrap(fixture[name] as? [String: Any], "fixture lacks \(name)")
            let bytes = try XCTUnwrap(Data(base64Encoded: try XCTUnwrap(entry["bytes"] as? String)))
            let bits = try XCTUnwrap(entry["bits"] as? [NSNumber]).map { $0.uint32Value }
            XCTAssertEqual(bytes.count, bits.count / type.blockElements * type.blockBytes, name)
            var out = [Float](repeating: .nan, count: bits.count)
            bytes.withUnsafeBytes { raw in
                out.withUnsafeMutableBufferPointer { Dequantize.run(type, raw.baseAddress!, count: bits.count, into: $0.baseAddress!) }
            }
            let mismatches = zip(out, bits).enumerated().filter { $0.element.0.bitPattern != $0.element.1 }
            XCTAssertTrue(mismatches.isEmpty, "\(name): \(mismatches.count) of \(bits.count) values differ, first at "
                          + "\(mismatches.first.map { "\($0.offset): \($0.element.0) vs \(Float(bitPattern: $0.element.1))" } ?? "")")
        }
    }

    func testRowBytesRejectsPartialBlocks() {
        XCTAssertEqual(WeightType.q4_1.rowBytes(elements: 64), 40)
        XCTAssertNil(WeightType.q4_1.rowBytes(elements: 48))
        XCTAssertNil(WeightType.q6_K.rowBytes(elements: 128))
        XCTAssertEqual(WeightType.f16.rowBytes(elements: 3), 6)
    }
}
