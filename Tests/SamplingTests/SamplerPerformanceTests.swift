import Dispatch
import Sampling
import XCTest

/// Prints µs per `sample` call on a 49,152-entry row (SmolLM2's vocabulary), and checks that the cut paths stay well
/// below the cost of sorting the row, which is what they exist to avoid.
final class SamplerPerformanceTests: XCTestCase {
    typealias S = SamplerTestSupport
    private let vocabulary = 49_152

    /// Mean µs per call over `calls` calls, each on a fresh copy of `row` (the copy is timed too, as in the worker).
    private func microseconds(_ parameters: SamplingParameters, _ row: [Float], calls: Int) -> Double {
        var sampler = TokenSampler(parameters: parameters, vocabularySize: row.count, promptTokens: Array(0..<64))
        var scratch = row
        var sink: Int32 = 0
        let start = DispatchTime.now().uptimeNanoseconds
        for _ in 0..<calls {
            scratch.withUnsafeMutableBufferPointer { buffer in
                _ = buffer.initialize(from: row)
                sink &+= sampler.sample(buffer)
            }
        }
        let elapsed = DispatchTime.now().uptimeNanoseconds - start
        XCTAssertGreaterThanOrEqual(sink, 0)
        return Double(elapsed) / 1000 / Double(calls)
    }

    func testMicrosecondsPerSampleCall() {
        // The Sampling module is always built with -O (Package.swift); only the test harness differs.
        #if DEBUG
        let calls = 50
        let configuration = "debug test build"
        #else
        let calls = 300
        let configuration = "release"
        #endif
        let row = S.randomRow(count: vocabulary, seed: 3, spread: 3)
        var cut = SamplingParameters(); cut.topK = 40; cut.topP = 0.9; cut.temperature = 0.8
        cut.repetitionPenalty = 1.1; cut.presencePenalty = 0.5
        var greedy = SamplingParameters(); greedy.temperature = 0
        var topP = SamplingParameters(); topP.topP = 0.9
        var plain = SamplingParameters()

        _ = microseconds(cut, row, calls: 3)
        let cutTime = microseconds(cut, row, calls: calls)
        let greedyTime = microseconds(greedy, row, calls: calls)
        let topPTime = microseconds(topP, row, calls: calls)
        let plainTime = microseconds(plain, row, calls: calls)
        plain.seed = 1
        let fmt = { (x: Double) in String(Int(x.rounded())) }
        print("sampler µs/call (\(configuration), vocabulary \(vocabulary)): top_k=40/top_p=0.9/T=0.8 "
              + "\(fmt(cutTime)), greedy \(fmt(greedyTime)), top_p=0.9 only \(fmt(topPTime)), "
              + "plain T=1 \(fmt(plainTime))")

        // The reference cost the cuts must beat by a wide margin: sorting the row once.
        var sortTime = 0.0
        for _ in 0..<5 {
            let start = DispatchTime.now().uptimeNanoseconds
            let sorted = row.indices.sorted { row[$0] > row[$1] }
            sortTime += Double(DispatchTime.now().uptimeNanoseconds - start) / 1000 / 5
            XCTAssertEqual(sorted.count, vocabulary)
        }
        print("sampler reference: one full sort of the row \(fmt(sortTime)) µs")
        XCTAssertLessThan(cutTime, sortTime / 3, "top_k path as slow as a full sort")
        XCTAssertLessThan(greedyTime, sortTime / 3, "greedy as slow as a full sort")
    }
}
