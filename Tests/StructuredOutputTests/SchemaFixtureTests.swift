import Foundation
import StructuredOutput
import TestScratch
import XCTest

/// 1,000 random schemas (scripts/fixtures/json_schema_fixtures.py), one sampled output each through the mask on the
/// default model's vocabulary, validated by Python's `jsonschema` (scripts/fixtures/json_schema_validate.py).
final class SchemaFixtureTests: XCTestCase {
    func testSampledOutputsValidateAgainstTheirSchemas() throws {
        let (_, vocabulary) = try Model.require()
        let fixture = Repo.root.appendingPathComponent("Tests/StructuredOutputTests/Fixtures/json_schemas.jsonl")
        let schemas = try String(contentsOf: fixture, encoding: .utf8).split(separator: "\n").map(String.init)
        XCTAssertEqual(schemas.count, 1000, "regenerate with scripts/fixtures/json_schema_fixtures.py")

        var lines: [String] = []
        var tokens = 0
        let encoder = JSONEncoder()
        let started = Date()
        for (i, schema) in schemas.enumerated() {
            var rng = SeededRandom(seed: UInt64(i) &+ 1)
            var constraint: JSONConstraint
            do {
                constraint = try JSONConstraint(schemaJSON: schema, vocabulary: vocabulary)
            } catch {
                XCTFail("schema \(i + 1) rejected: \(error)")
                continue
            }
            let result = Sampler(vocabulary: vocabulary).generate(&constraint, rng: &rng)
            tokens += result.tokens
            if let failure = result.failure { XCTFail("schema \(i + 1): \(failure)") }
            guard let text = String(validating: result.bytes, as: UTF8.self) else {
                XCTFail("schema \(i + 1): output is not valid UTF-8")
                continue
            }
            let output = String(decoding: try encoder.encode(text), as: UTF8.self)
            lines.append("{\"schema\":\(schema),\"output\":\(output)}")
        }
        let elapsed = Date().timeIntervalSince(started)
        print("structured fixtures: \(lines.count) outputs, \(tokens) tokens, \(String(format: "%.1f", elapsed)) s")

        let file = FileManager.default.temporaryDirectory
            .appendingPathComponent("modelhost-structured-\(getpid()).jsonl")
        try (lines.joined(separator: "\n") + "\n").write(to: file, atomically: true, encoding: .utf8)
        defer { try? FileManager.default.removeItem(at: file) }

        let (status, report) = try TestPython.run(
            [Repo.root.appendingPathComponent("scripts/fixtures/json_schema_validate.py").path, file.path])
        XCTAssertEqual(status, 0,
                       "validation failed (needs python3 with jsonschema: python3 -m pip install jsonschema):\n"
                           + String(report.suffix(4000)))
        XCTAssertTrue(report.contains("1000/1000 valid"), String(report.suffix(2000)))
    }

    /// On a spread of fixture schemas, at random points of a sampled output, the mask equals what `accept` takes,
    /// token by token over the whole vocabulary (this checks the precomputed string sets and the pruned walks
    /// against the plain byte-level parser, with overlapping `anyOf` branches, escaped names and nesting).
    func testMaskEqualsAcceptAtRandomPoints() throws {
        let (_, vocabulary) = try Model.require()
        let fixture = Repo.root.appendingPathComponent("Tests/StructuredOutputTests/Fixtures/json_schemas.jsonl")
        let schemas = try String(contentsOf: fixture, encoding: .utf8).split(separator: "\n").map(String.init)
        var rng = SeededRandom(seed: 99)
        var checked = 0
        for schema in stride(from: 0, to: schemas.count, by: 40).map({ schemas[$0] }) {
            var c = try JSONConstraint(schemaJSON: schema, vocabulary: vocabulary)
            let steps = Int(rng.next() % 30)
            var logits = [Float](repeating: 0, count: vocabulary.count)
            for _ in 0..<steps where !c.mustEnd {
                for i in logits.indices { logits[i] = Float(rng.next() >> 40) }
                logits.withUnsafeMutableBufferPointer { c.mask($0) }
                let pick = logits.indices.max { logits[$0] < logits[$1] }!
                guard vocabulary.bytes(of: Int32(pick)) != nil else { break }
                XCTAssertTrue(c.accept(Int32(pick)))
            }
            let masked = Set(c.allowedTokens())
            var brute = Set<Int32>()
            for id in 0..<Int32(vocabulary.count) {
                var copy = c
                if copy.accept(id) { brute.insert(id) }
            }
            XCTAssertEqual(masked, brute, "schema \(schema.prefix(120))")
            XCTAssertFalse(masked.isEmpty)
            checked += 1
        }
        XCTAssertEqual(checked, 25)
    }
}
