import ChatTemplate
import Foundation
import StructuredOutput

/// The JSON-schema compiler and the constrained-decoding machine it builds.
enum SchemaTarget {
    /// A small vocabulary: every single byte (so any text is expressible), the multi-byte pieces JSON is made of,
    /// and an end token.
    static let vocabulary: ConstraintVocabulary = {
        var pieces: [[UInt8]?] = (0...255).map { [UInt8($0)] }
        for piece in ["{\"", "\":", "\",\"", "\"}", "true", "false", "null", "  ", "\n", ", ", "123", "-0.5", "e+",
                      "\\u00", "\\\"", "é", "東京", "🙂", "\"name\"", "[]", "{}", "0", "\"\""] {
            pieces.append(Array(piece.utf8))
        }
        pieces.append(nil)
        return ConstraintVocabulary(tokenBytes: pieces, endTokens: [endToken(count: pieces.count)])
    }()

    static func endToken(count: Int) -> Int32 { Int32(count - 1) }

    /// Parts: the schema (empty: `json_object` mode), then choice bytes that pick among the allowed tokens at each
    /// step. Properties: a parse never strands (no allowed token while the value is incomplete), every allowed
    /// token is accepted, and a finished value parses as JSON.
    static let schema = FuzzTarget(
        name: "schema", summary: "a JSON schema #~# choice bytes that drive constrained generation over a small vocabulary",
        maxLength: 8 << 10
    ) { input in
        let parts = InputParts.split(input, count: 2)
        let schemaText = parts[0].isEmpty ? nil : String(decoding: parts[0], as: UTF8.self)
        guard var constraint = try? JSONConstraint(schemaJSON: schemaText, vocabulary: vocabulary) else { return }
        let end = endToken(count: vocabulary.count)
        var output: [UInt8] = []
        var logits = [Float](repeating: 0, count: vocabulary.count)
        for (step, choice) in parts[1].prefix(256).enumerated() {
            let allowed = constraint.allowedTokens()
            if step == 0 {
                // The logit mask and the allowed list are two views of one set.
                logits.withUnsafeMutableBufferPointer { constraint.mask($0) }
                let unmasked = logits.indices.filter { logits[$0] != -.infinity }.map(Int32.init)
                if unmasked != allowed {
                    FuzzFailure.report("schema", "mask allows \(unmasked.count) tokens, allowedTokens \(allowed.count)")
                }
            }
            if allowed.isEmpty {
                if !constraint.isComplete {
                    FuzzFailure.report("schema", "no token is allowed after \(String(decoding: output, as: UTF8.self).debugDescription)")
                }
                return
            }
            let token = allowed[Int(choice) % allowed.count]
            guard constraint.accept(token) else {
                FuzzFailure.report("schema", "allowed token \(token) was not accepted")
            }
            if token == end { break }
            output += vocabulary.bytes(of: token) ?? []
            if constraint.mustEnd { break }
        }
        // Read back with the template engine's JSON reader, which (like Python's) takes any number the grammar may
        // write, however long.
        if constraint.isComplete, (try? JinjaValue(jsonData: Data(output))) == nil {
            FuzzFailure.report("schema", "a complete value does not parse: \(String(decoding: output, as: UTF8.self).debugDescription)")
        }
    }
}
