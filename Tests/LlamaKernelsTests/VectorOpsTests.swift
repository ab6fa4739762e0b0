import Foundation
import LlamaKernels
import XCTest

/// The attention helpers against plain Double references, on the shapes other Llama-family models have (one to
/// seven query heads per key/value head; head sizes that are and are not multiples of the 32-column bands).
final class VectorOpsTests: XCTestCase {
    private func values(_ count: Int, seed: Int) -> [Float] {
        (0..<count).map { Float((($0 + seed) * 7919) % 2003) / 1001.5 - 1 }
    }

    func testValueSumsMatchAReferenceForEveryHeadCountAndWidth() {
        for heads in [1, 2, 3, 4, 7] {
            for width in [8, 40, 64, 128] {
                for count in [1, 5, 128] {
                    let weightStride = 130
                    let weights = values(heads * weightStride, seed: heads + count)
                    let rows = values(count * width, seed: width)
                    var out = [Float](repeating: .nan, count: heads * width)
                    weights.withUnsafeBufferPointer { w in
                        rows.withUnsafeBufferPointer { r in
                            out.withUnsafeMutableBufferPointer { o in
                                VectorOps.valueSums(w.baseAddress!, weightStride: weightStride, heads: heads, count: count,
                                                    r.baseAddress!, width: width, into: o.baseAddress!)
                            }
                        }
                    }
                    for h in 0..<heads {
                        for d in 0..<width {
                            var expected = 0.0
                            for j in 0..<count { expected += Double(weights[h * weightStride + j]) * Double(rows[j * width + d]) }
                            XCTAssertEqual(Double(out[h * width + d]), expected, accuracy: 1e-5 * max(1, abs(expected)),
                                           "heads \(heads) width \(width) count \(count) at [\(h)][\(d)]")
                        }
                    }
                }
            }
        }
    }

    func testExponentiateReturnsTheMaximumAndTheSum() {
        var scores: [Float] = [0.5, -3, 2.25, 2.25, -40, 1]
        let original = scores.map(Double.init)
        let (maximum, sum) = scores.withUnsafeMutableBufferPointer { VectorOps.exponentiate($0.baseAddress!, count: $0.count) }
        XCTAssertEqual(maximum, 2.25)
        let expected = original.map { Foundation.exp($0 - 2.25) }
        for (got, want) in zip(scores, expected) { XCTAssertEqual(Double(got), want, accuracy: 1e-6) }
        XCTAssertEqual(Double(sum), expected.reduce(0, +), accuracy: 1e-6)
    }
}
