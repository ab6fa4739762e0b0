import Sampling
import XCTest

/// Statistical checks with fixed seeds (so they are deterministic): the sampler draws from the softmax it claims.
final class SamplerDistributionTests: XCTestCase {
    typealias S = SamplerTestSupport

    /// Chi-square critical value for 7 degrees of freedom at p = 0.001.
    private let critical7 = 24.32

    private let probabilities: [Double] = [0.30, 0.22, 0.15, 0.12, 0.09, 0.06, 0.04, 0.02]

    func testTwentyThousandDrawsAtTemperatureOneMatchTheSoftmax() {
        let logits = S.logits(forProbabilities: probabilities)
        var p = SamplingParameters(); p.seed = 2024
        let counts = S.histogram(S.drawSequence(p, logits, count: 20_000), size: logits.count)
        for (count, probability) in zip(counts, probabilities) {
            let sigma = (probability * (1 - probability) / 20_000).squareRoot()
            XCTAssertEqual(Double(count) / 20_000, probability, accuracy: 4.5 * sigma, "counts \(counts)")
        }
        XCTAssertLessThan(S.chiSquare(counts, probabilities), critical7, "counts \(counts)")
    }

    /// The same on a long row whose mass sits on a few tokens placed across blocks (the path that weights the
    /// whole row in place and searches block sums).
    func testTwentyThousandDrawsOnAFullRowMatchTheSoftmax() {
        // 5,003 entries: ten 512-entry blocks, a short last block and a scalar tail (49,152 would only be slower).
        var row = [Float](repeating: -40, count: 5_003)
        let ids = [3, 700, 701, 2_000, 3_333, 4_100, 5_001, 5_002]
        for (id, probability) in zip(ids, probabilities) { row[id] = Float(log(probability)) }
        var p = SamplingParameters(); p.seed = 77
        let drawn = S.drawSequence(p, row, count: 20_000)
        let expected = S.softmax(row)
        let counts = ids.map { id in drawn.filter { $0 == Int32(id) }.count }
        XCTAssertEqual(counts.reduce(0, +), 20_000, "only the eight heavy tokens carry mass (others ≈ e^-38 each)")
        XCTAssertLessThan(S.chiSquare(counts, ids.map { expected[$0] }), critical7, "counts \(counts)")
    }

    /// Temperature below 1 sharpens (p^2 at T = 0.5), above 1 flattens (p^0.5 at T = 2): each empirical histogram fits
    /// its own expectation and is far from the temperature-1 one.
    func testTemperatureMovesTheEmpiricalDistributionTheExpectedWay() {
        let logits = S.logits(forProbabilities: probabilities)
        for temperature in [0.5, 2.0] {
            var p = SamplingParameters(); p.temperature = Float(temperature); p.seed = 9
            let counts = S.histogram(S.drawSequence(p, logits, count: 10_000), size: logits.count)
            let expected = S.softmax(logits, temperature: temperature)
            XCTAssertLessThan(S.chiSquare(counts, expected), critical7, "T=\(temperature): \(counts)")
            XCTAssertGreaterThan(S.chiSquare(counts, probabilities), 200, "T=\(temperature) looks like T=1: \(counts)")
            if temperature < 1 {
                XCTAssertGreaterThan(counts[0], 4_000, "sharper: the best token gains")
            } else {
                XCTAssertGreaterThan(counts[7], 400, "flatter: the worst token gains")
            }
        }
    }

    /// top_k/top_p keep their survivors' relative odds: the renormalised softmax over the kept set.
    func testCutsRenormaliseOverTheSurvivors() {
        let logits = S.logits(forProbabilities: probabilities)
        var p = SamplingParameters(); p.topK = 3; p.seed = 5
        let counts = S.histogram(S.drawSequence(p, logits, count: 10_000), size: logits.count)
        let kept = probabilities.prefix(3).reduce(0, +)
        let expected = probabilities.enumerated().map { $0.offset < 3 ? $0.element / kept : 0 }
        XCTAssertEqual(counts[3...].reduce(0, +), 0)
        XCTAssertLessThan(S.chiSquare(Array(counts.prefix(3)), Array(expected.prefix(3))), 13.82, "counts \(counts)")

        // Temperature applies after the cut, to the survivors: at T = 0.5 their odds are squared.
        p.temperature = 0.5
        let sharp = S.histogram(S.drawSequence(p, logits, count: 10_000), size: logits.count)
        let squares = probabilities.prefix(3).map { $0 * $0 }
        let sharpExpected = squares.map { $0 / squares.reduce(0, +) }
        XCTAssertLessThan(S.chiSquare(Array(sharp.prefix(3)), sharpExpected), 13.82, "T=0.5 counts \(sharp)")
        XCTAssertGreaterThan(S.chiSquare(Array(sharp.prefix(3)), Array(expected.prefix(3))), 100, "T ignored: \(sharp)")
    }
}
