import Foundation
import StructuredOutput
import XCTest

/// The grammar's promises, one at a time, on the default model's real vocabulary.
final class ConstraintTests: XCTestCase {
    private func constraint(_ schema: String?) throws -> JSONConstraint {
        let (_, vocabulary) = try Model.require()
        return try JSONConstraint(schemaJSON: schema, vocabulary: vocabulary)
    }

    /// Sampled outputs (random logits through the mask) for `schema`, as text; fails on any sampler failure.
    private func samples(_ schema: String?, count: Int, seed: UInt64 = 7, file: StaticString = #filePath,
                         line: UInt = #line) throws -> [String] {
        let (_, vocabulary) = try Model.require()
        var rng = SeededRandom(seed: seed)
        var out: [String] = []
        for _ in 0..<count {
            var c = try JSONConstraint(schemaJSON: schema, vocabulary: vocabulary)
            let r = Sampler(vocabulary: vocabulary, softCap: 24).generate(&c, rng: &rng)
            XCTAssertNil(r.failure, file: file, line: line)
            XCTAssertTrue(r.ended, file: file, line: line)
            guard let text = String(validating: r.bytes, as: UTF8.self) else {
                XCTFail("output is not valid UTF-8: \(r.bytes)", file: file, line: line)
                continue
            }
            out.append(text)
        }
        return out
    }

    private func parse(_ text: String, file: StaticString = #filePath, line: UInt = #line) -> Any? {
        do {
            return try JSONSerialization.jsonObject(with: Data(text.utf8), options: [.fragmentsAllowed])
        } catch {
            XCTFail("output does not parse: \(text)", file: file, line: line)
            return nil
        }
    }

    /// The text with JSON whitespace removed (byte-wise: "\r\n" is one Character in Swift).
    private func withoutWhitespace(_ text: String) -> String {
        String(decoding: text.utf8.filter { ![0x20, 0x0A, 0x0D, 0x09].contains($0) }, as: UTF8.self)
    }

    func testUnsupportedKeywordsAreNamed() throws {
        let cases: [(String, String)] = [
            (#"{"type":"string","pattern":"\\bword"}"#, "pattern"),
            (#"{"type":"string","format":"color"}"#, "format"),
            (#"{"type":"string","pattern":"^a","format":"date"}"#, "pattern"),
            (#"{"type":"integer","multipleOf":3}"#, "multipleOf"),
            (#"{"type":"object","properties":{"v":{"oneOf":[{"type":"object","properties":{"a":{}}},{"type":"object"}]}}}"#,
             "oneOf"),
            (#"{"oneOf":[{"type":"number"},{"type":"integer"}]}"#, "oneOf"),
            (#"{"oneOf":[{"enum":["a","b"]},{"type":"string"}]}"#, "oneOf"),
            (#"{"not":{"type":"string"}}"#, "not"),
            (#"{"type":"object","patternProperties":{"^x":{}}}"#, "patternProperties"),
            (#"{"type":"array","uniqueItems":true}"#, "uniqueItems"),
            (#"{"type":"array","prefixItems":[{"type":"string"}]}"#, "prefixItems"),
        ]
        for (schema, keyword) in cases {
            XCTAssertThrowsError(try constraint(schema), keyword) { error in
                let message = (error as? ConstraintError)?.message ?? ""
                XCTAssertTrue(message.contains("'\(keyword)'"), "\(keyword): \(message)")
                XCTAssertFalse(message.contains("\n"))
            }
        }
        // Other bad schemas: each with its own reason.
        let bad: [(String, String)] = [
            (#"{"type":"strin"}"#, "unknown type"),
            (#"{"type":"object""#, "not valid JSON"),
            (#"{"$ref":"https://example.com/s.json"}"#, "only local $ref"),
            (##"{"$ref":"#/$defs/missing"}"##, "does not point"),
            (#"{"type":"string","enum":[1,2]}"#, "never be satisfied"),
            (#"{"type":"object","properties":{"a":{}},"required":["b"],"additionalProperties":false}"#,
             "never be satisfied"),
            (#"{"type":"array","items":[{"type":"string"}]}"#, "tuple-form"),
            (#"{"type":"string","minLength":4,"maxLength":3}"#, "never be satisfied"),
            (#"{"allOf":[{"type":"string","minLength":4},{"maxLength":2}]}"#, "never be satisfied"),
            (#"{"type":"string","maxLength":-1}"#, "non-negative integer"),
            (#"{"type":"string","minLength":1.5}"#, "non-negative integer"),
            (#"{"type":"string","enum":["ab","abcdef"],"maxLength":1}"#, "never be satisfied"),
        ]
        for (schema, reason) in bad {
            XCTAssertThrowsError(try constraint(schema), reason) { error in
                XCTAssertTrue("\(error)".contains(reason), "\(schema): \(error)")
            }
        }
        // Descriptive keywords are ignored, as is `uniqueItems: false`.
        XCTAssertNoThrow(try constraint(
            #"{"$schema":"https://json-schema.org/draft/2020-12/schema","title":"T","description":"d","examples":[1],"#
                + #""default":{},"type":"array","uniqueItems":false,"items":{"type":"integer","description":"n"}}"#))
    }

    /// `minLength`/`maxLength` count code points, as JSON Schema does: a multi-byte character, an escape and a
    /// surrogate pair each count once, and the bounds hold whatever tokens the model picks (random logits here;
    /// each output checked by decoding it). The mask equals `accept` inside bounded strings.
    func testStringLengthBoundsCountCodePoints() throws {
        let (_, vocabulary) = try Model.require()
        let schema = #"{"type":"object","properties":{"code":{"type":"string","minLength":3,"maxLength":5},"#
            + #""tag":{"type":"string","maxLength":1},"note":{"type":"string","minLength":2}},"#
            + #""required":["code","tag","note"],"additionalProperties":false}"#
        var lengths = Set<Int>()
        for seed in 1...60 {
            var c = try JSONConstraint(schemaJSON: schema, vocabulary: vocabulary)
            var rng = SeededRandom(seed: UInt64(seed))
            let result = Sampler(vocabulary: vocabulary).generate(&c, rng: &rng)
            XCTAssertNil(result.failure, "seed \(seed)")
            let object = try XCTUnwrap(try JSONSerialization.jsonObject(with: Data(result.bytes)) as? [String: String],
                                       String(decoding: result.bytes, as: UTF8.self))
            let code = try XCTUnwrap(object["code"]).unicodeScalars.count
            XCTAssertTrue((3...5).contains(code), "seed \(seed): code \(object["code"]!) has \(code) code points")
            XCTAssertLessThanOrEqual(try XCTUnwrap(object["tag"]).unicodeScalars.count, 1, "seed \(seed)")
            XCTAssertGreaterThanOrEqual(try XCTUnwrap(object["note"]).unicodeScalars.count, 2, "seed \(seed)")
            lengths.insert(code)
        }
        XCTAssertGreaterThan(lengths.count, 1, "random picks reach more than one allowed length")

        // Byte by byte: escapes, a 3-byte character and a surrogate pair count one code point each.
        var c = try JSONConstraint(schemaJSON: #"{"type":"string","minLength":4,"maxLength":4}"#, vocabulary: vocabulary)
        for b in Array(#""a\n€\ud83d\ude00"#.utf8) {
            let token = try XCTUnwrap(vocabulary.token(forByte: b))
            XCTAssertTrue(c.allowedTokens().contains(token), "byte \(b) refused")
            XCTAssertTrue(c.accept(token))
        }
        let quote = try XCTUnwrap(vocabulary.token(forByte: UInt8(ascii: "\"")))
        let x = try XCTUnwrap(vocabulary.token(forByte: UInt8(ascii: "x")))
        XCTAssertFalse(c.allowedTokens().contains(x), "a fifth code point passes maxLength 4")
        XCTAssertTrue(c.allowedTokens().contains(quote))
        var short = try JSONConstraint(schemaJSON: #"{"type":"string","minLength":2}"#, vocabulary: vocabulary)
        XCTAssertTrue(short.accept(quote) && short.accept(x))
        XCTAssertFalse(short.allowedTokens().contains(quote), "a one-character string is under minLength 2")
        XCTAssertGreaterThanOrEqual(short.minimumBytesToComplete, 2)

        // The mask equals what accept takes, inside bounded strings at every length.
        try assertMaskEqualsAccept(schema, vocabulary: vocabulary, seed: 7, runs: 6, maxSteps: 14)
    }

    /// `minimum`/`maximum`/`exclusiveMinimum`/`exclusiveMaximum` on integers (both the 2020-12 numbers and draft 4's
    /// flags) hold for every output: each digit is allowed only while some continuation stays in range.
    func testIntegerBoundsHoldForEveryOutput() throws {
        let (_, vocabulary) = try Model.require()
        let schema = #"{"type":"object","properties":{"a":{"type":"integer","minimum":-5,"maximum":12},"#
            + #""b":{"type":"integer","exclusiveMinimum":100,"exclusiveMaximum":1000},"#
            + #""c":{"type":"integer","minimum":7,"maximum":7},"d":{"type":["integer","null"],"maximum":-30},"#
            + #""e":{"type":"integer","minimum":0,"exclusiveMinimum":true,"maximum":2.5}},"#
            + #""required":["a","b","c","d","e"],"additionalProperties":false}"#
        var seen = Set<Int>()
        for seed in 1...60 {
            var c = try JSONConstraint(schemaJSON: schema, vocabulary: vocabulary)
            var rng = SeededRandom(seed: UInt64(seed))
            let result = Sampler(vocabulary: vocabulary).generate(&c, rng: &rng)
            XCTAssertNil(result.failure, "seed \(seed)")
            let text = String(decoding: result.bytes, as: UTF8.self)
            let object = try XCTUnwrap(try JSONSerialization.jsonObject(with: Data(result.bytes)) as? [String: Any], text)
            let a = try XCTUnwrap(object["a"] as? Int, text), b = try XCTUnwrap(object["b"] as? Int, text)
            XCTAssertTrue((-5...12).contains(a) && (101...999).contains(b), text)
            XCTAssertEqual(object["c"] as? Int, 7, text)
            if let d = object["d"] as? Int { XCTAssertLessThanOrEqual(d, -30, text) }
            XCTAssertTrue([1, 2].contains(try XCTUnwrap(object["e"] as? Int, text)), text)
            seen.insert(a)
        }
        XCTAssertGreaterThan(seen.count, 3, "random picks reach several values of a")

        // Byte by byte for 100 < b < 1000: no "0" or "-" first; "10" may not end there, nor become "100" (no
        // continuation of 100 is in range); "101" may end, and takes no fourth digit.
        var c = try JSONConstraint(schemaJSON: #"{"type":"integer","exclusiveMinimum":100,"exclusiveMaximum":1000}"#,
                                   vocabulary: vocabulary)
        func byte(_ b: Character) throws -> Int32 { try XCTUnwrap(vocabulary.token(forByte: b.asciiValue!)) }
        for refused in ["0", "-"] { XCTAssertFalse(c.allowedTokens().contains(try byte(Character(refused))), refused) }
        for digit in ["1", "0"] { XCTAssertTrue(c.accept(try byte(Character(digit))), digit) }
        XCTAssertFalse(c.isComplete, "10 is outside (100, 1000)")
        XCTAssertFalse(c.allowedTokens().contains(try byte("0")), "100 and what it continues to (1000...) are outside")
        XCTAssertTrue(c.accept(try byte("1")))
        XCTAssertTrue(c.isComplete)
        XCTAssertFalse(c.allowedTokens().contains(try byte("1")), "1011 is over")

        // An enum is filtered by its sibling bounds; contradictory bounds are unsatisfiable.
        var e = try JSONConstraint(schemaJSON: #"{"type":"integer","enum":[1,50,500],"maximum":100}"#, vocabulary: vocabulary)
        let five = try byte("5"), zero = try byte("0")
        XCTAssertTrue(e.accept(five))
        XCTAssertTrue(e.accept(zero))
        XCTAssertTrue(e.isComplete)
        XCTAssertFalse(e.allowedTokens().contains(zero), "500 is over the maximum")
        for bad in [#"{"type":"integer","minimum":5,"maximum":4}"#,
                    #"{"type":"integer","exclusiveMinimum":3,"exclusiveMaximum":4}"#,
                    #"{"type":"integer","minimum":1e20}"#] {
            XCTAssertThrowsError(try JSONConstraint(schemaJSON: bad, vocabulary: vocabulary), bad)
        }

        // The mask equals what accept takes inside bounded integers.
        try assertMaskEqualsAccept(schema, vocabulary: vocabulary, seed: 11, runs: 6, maxSteps: 16)
    }

    /// `format: uuid`: the string follows its automaton byte by byte.
    func testUUIDFormatIsATemplate() throws {
        let (_, vocabulary) = try Model.require()
        let schema = #"{"type":"object","properties":{"id":{"type":"string","format":"uuid"},"#
            + #""ids":{"type":"array","items":{"format":"uuid"},"maxItems":2}},"required":["id","ids"]}"#
        for seed in 1...25 {
            var c = try JSONConstraint(schemaJSON: schema, vocabulary: vocabulary)
            var rng = SeededRandom(seed: UInt64(seed))
            let result = Sampler(vocabulary: vocabulary).generate(&c, rng: &rng)
            XCTAssertNil(result.failure, "seed \(seed)")
            let text = String(decoding: result.bytes, as: UTF8.self)
            let object = try XCTUnwrap(try JSONSerialization.jsonObject(with: Data(result.bytes)) as? [String: Any], text)
            let ids = [object["id"] as? String] + ((object["ids"] as? [String]) ?? []).map { Optional($0) }
            for id in ids {
                XCTAssertNotNil(UUID(uuidString: try XCTUnwrap(id, text)), "seed \(seed): \(text)")
            }
        }
        try assertMaskEqualsAccept(schema, vocabulary: vocabulary, seed: 5, runs: 4, maxSteps: 20)
        XCTAssertThrowsError(try JSONConstraint(
            schemaJSON: #"{"allOf":[{"type":"string","format":"uuid"},{"maxLength":10}]}"#, vocabulary: vocabulary))
        XCTAssertNoThrow(try JSONConstraint(schemaJSON: #"{"type":"integer","format":"int32"}"#, vocabulary: vocabulary),
                         "a string format says nothing about integers")
    }

    /// `oneOf` whose branches cannot overlap (different JSON types, or literals no other branch takes) is generated
    /// as a union and every output matches exactly one branch; overlapping branches are refused above.
    func testOneOfWithDisjointBranches() throws {
        let schema = ##"{"oneOf":[{"type":"string"},{"type":"integer"},{"enum":[1.5,true]},{"$ref":"#/$defs/n"}],"##
            + ##""$defs":{"n":{"type":"null"}}}"##
        var kinds = Set<String>()
        for text in try samples(schema, count: 40) {
            let value = try JSONSerialization.jsonObject(with: Data(text.utf8), options: .fragmentsAllowed)
            switch value {
            case is NSNull: kinds.insert("null")
            case is String: kinds.insert("string")
            case let n as NSNumber where String(cString: n.objCType) == "c": kinds.insert("bool")
            case is NSNumber where text.contains(".") || text.contains("e") || text.contains("E"):
                // Not an integer: only the literal 1.5 may be written.
                XCTAssertEqual(withoutWhitespace(text), "1.5")
                kinds.insert("1.5")
            case is NSNumber: kinds.insert("integer")
            default: XCTFail("not one of the branches: \(text)")
            }
        }
        XCTAssertGreaterThanOrEqual(kinds.count, 2, "\(kinds)")
    }

    func testEnumAndConstAreExact() throws {
        let (tokenizer, _) = try Model.require()
        let schema = #"{"enum":["red","green",42,null,{"a":[1,2.50]},"naïve ☃"]}"#
        let allowed: Set<String> = ["\"red\"", "\"green\"", "42", "null", #"{"a":[1,2.50]}"#, "\"naïve ☃\""]
        for text in try samples(schema, count: 40) {
            XCTAssertTrue(allowed.contains(text), text)
        }
        var c = try constraint(schema)
        XCTAssertFalse(c.feed("\"blue\"", tokenizer: tokenizer))
        c = try constraint(schema)
        XCTAssertTrue(c.feed("\"re", tokenizer: tokenizer))
        XCTAssertFalse(c.feed("dd\"", tokenizer: tokenizer))
        c = try constraint(schema)
        XCTAssertFalse(c.feed("420", tokenizer: tokenizer))
        c = try constraint(schema)
        XCTAssertTrue(c.feed("42", tokenizer: tokenizer))
        XCTAssertTrue(c.isComplete)

        for text in try samples(#"{"type":"object","properties":{"k":{"const":{"a":1.50,"b":"x"}}},"required":["k"]}"#,
                                count: 10) {
            XCTAssertEqual(withoutWhitespace(text), #"{"k":{"a":1.50,"b":"x"}}"#)
        }
    }

    func testAdditionalPropertiesFalseForbidsOtherKeys() throws {
        let (tokenizer, _) = try Model.require()
        let schema = #"{"type":"object","properties":{"alpha":{"type":"integer"},"beta":{"type":"boolean"}},"#
            + #""additionalProperties":false}"#
        for text in try samples(schema, count: 30) {
            guard let object = parse(text) as? [String: Any] else { XCTFail(text); continue }
            XCTAssertTrue(Set(object.keys).isSubset(of: ["alpha", "beta"]), text)
        }
        var c = try constraint(schema)
        XCTAssertFalse(c.feed("{\"gamma\"", tokenizer: tokenizer))
        c = try constraint(schema)
        XCTAssertFalse(c.feed("{\"alphabet\"", tokenizer: tokenizer))
        c = try constraint(schema)
        XCTAssertFalse(c.feed("{\"alpha\":1,\"alpha\"", tokenizer: tokenizer), "a key may appear once")
        c = try constraint(schema)
        XCTAssertTrue(c.feed("{\"alpha\":1,\"beta\":true}", tokenizer: tokenizer))
        XCTAssertTrue(c.mustEnd)

        // additionalProperties as a schema: other keys take that schema, declared ones their own.
        let typed = #"{"type":"object","properties":{"a":{"type":"string"}},"additionalProperties":{"type":"integer"}}"#
        c = try constraint(typed)
        XCTAssertFalse(c.feed("{\"a\":1", tokenizer: tokenizer))
        c = try constraint(typed)
        XCTAssertTrue(c.feed("{\"ab\":1,\"a\":\"s\",\"\":2}", tokenizer: tokenizer))
    }

    func testRequiredKeysAreAllPresent() throws {
        let (tokenizer, _) = try Model.require()
        let schema = #"{"type":"object","properties":{"a":{"type":"integer"},"b":{"type":"string"},"#
            + #""c":{"type":"boolean"}},"required":["a","c","d"],"additionalProperties":true}"#
        for text in try samples(schema, count: 30) {
            guard let object = parse(text) as? [String: Any] else { XCTFail(text); continue }
            for key in ["a", "c", "d"] { XCTAssertNotNil(object[key], "\(key) missing in \(text)") }
        }
        var c = try constraint(schema)
        XCTAssertTrue(c.feed("{\"a\":1,\"c\":false", tokenizer: tokenizer))
        XCTAssertFalse(c.feed("}", tokenizer: tokenizer), "d is still missing")
        XCTAssertTrue(c.feed(",\"d\":[]}", tokenizer: tokenizer))
        XCTAssertTrue(c.isComplete)
    }

    func testIntegerNeverHasAFraction() throws {
        let (tokenizer, _) = try Model.require()
        let schema = #"{"type":"array","items":{"type":"integer"},"minItems":1}"#
        let integer = try NSRegularExpression(pattern: #"^-?(0|[1-9][0-9]*)$"#)
        for text in try samples(schema, count: 30) {
            guard let array = parse(text) as? [Any] else { XCTFail(text); continue }
            XCTAssertFalse(array.isEmpty)
            let inner = withoutWhitespace(text).filter { $0 != "[" && $0 != "]" }
            for item in inner.split(separator: ",") {
                let s = String(item)
                XCTAssertNotNil(integer.firstMatch(in: s, range: NSRange(s.startIndex..., in: s)), "\(s) in \(text)")
            }
        }
        for bad in ["[1.", "[1e", "[01", "[-", "[1,2.0"] {
            var c = try constraint(schema)
            let ok = c.feed(bad, tokenizer: tokenizer) && (bad != "[-" || c.feed("]", tokenizer: tokenizer))
            XCTAssertFalse(ok, bad)
        }
        var c = try constraint(#"{"type":"number"}"#)
        XCTAssertTrue(c.feed("-0.5e+10", tokenizer: tokenizer))
        XCTAssertTrue(c.isComplete)
        c = try constraint(#"{"type":"number"}"#)
        XCTAssertFalse(c.feed("1234567890123456", tokenizer: tokenizer), "digit runs are bounded")
    }

    func testStringsWithEscapesAndMultiByteUTF8AcrossTokens() throws {
        let (tokenizer, vocabulary) = try Model.require()
        let schema = #"{"type":"string"}"#
        var c = try constraint(schema)
        XCTAssertTrue(c.feed(#""a\n\t\"\\\/ \u00e9\ud83d\ude00 😀 日本語 naïve""#, tokenizer: tokenizer))
        XCTAssertTrue(c.mustEnd)

        // A character split across single-byte tokens (as byte-level BPE may spell it).
        c = try constraint(schema)
        XCTAssertTrue(c.feedBytes(Array("\"x😀".utf8.dropLast(2)), vocabulary: vocabulary))
        XCTAssertFalse(c.isComplete)
        var halfway = c
        XCTAssertFalse(halfway.feedBytes([UInt8(ascii: "\"")], vocabulary: vocabulary), "quote inside a character")
        // Every token the mask allows now starts with a UTF-8 continuation byte.
        for token in c.allowedTokens() {
            let bytes = try XCTUnwrap(vocabulary.bytes(of: token))
            XCTAssertTrue((0x80...0xBF).contains(bytes[0]), "token \(token) \(bytes)")
        }
        XCTAssertTrue(c.feedBytes(Array("😀\"".utf8.suffix(3)), vocabulary: vocabulary))
        XCTAssertTrue(c.mustEnd)

        // Tokens that carry a partial character in the vocabulary itself are allowed inside strings only.
        let partial = (0..<Int32(vocabulary.count)).first { id in
            guard let b = vocabulary.bytes(of: id), b.count > 1 else { return false }
            return String(validating: b, as: UTF8.self) == nil && b.allSatisfy { $0 >= 0x80 }
                && (0xC2...0xF4).contains(b[0])
        }
        if let partial {
            c = try constraint(schema)
            XCTAssertTrue(c.feed("\"", tokenizer: tokenizer))
            XCTAssertTrue(c.allowedTokens().contains(partial))
            c = try constraint(#"{"type":"integer"}"#)
            XCTAssertFalse(c.allowedTokens().contains(partial))
        }

        let rejected: [[UInt8]] = [
            Array("\"a\nb\"".utf8),  // raw control character
            Array(#""\x""#.utf8),  // unknown escape
            Array(#""\udc00""#.utf8),  // low surrogate alone
            Array(#""\ud800""#.utf8),  // high surrogate alone
            Array(#""\ud800\u0041""#.utf8),  // high surrogate, then not a low one
            [0x22, 0xC0, 0x80, 0x22],  // overlong encoding
            [0x22, 0xED, 0xA0, 0x80, 0x22],  // UTF-8-encoded surrogate
            [0x22, 0xE6, 0x97, 0x22],  // truncated sequence
            [0x22, 0xFF, 0x22],
        ]
        for bytes in rejected {
            c = try constraint(schema)
            XCTAssertFalse(c.feedBytes(bytes, vocabulary: vocabulary) && c.isComplete, "\(bytes)")
        }
        for text in try samples(#"{"type":"array","items":{"type":"string"},"maxItems":3}"#, count: 20) {
            XCTAssertNotNil(parse(text) as? [String], text)
        }
    }

    func testWhitespaceIsCappedAndTheOutputEndsWithTheValue() throws {
        let (tokenizer, vocabulary) = try Model.require()
        let space = try XCTUnwrap(vocabulary.token(forByte: 0x20))
        let options = ConstraintOptions(maxWhitespaceRun: 4)
        var c = try JSONConstraint(schemaJSON: #"{"type":"array"}"#, vocabulary: vocabulary, options: options)
        XCTAssertTrue(c.feed("[", tokenizer: tokenizer))
        for _ in 0..<4 { XCTAssertTrue(c.accept(space)) }
        XCTAssertFalse(c.accept(space))
        XCTAssertFalse(c.allowedTokens().contains(space))
        XCTAssertTrue(c.feed("1, ", tokenizer: tokenizer))
        XCTAssertTrue(c.accept(space), "the run restarts after a value")

        var compact = try JSONConstraint(schemaJSON: nil, vocabulary: vocabulary,
                                         options: ConstraintOptions(maxWhitespaceRun: 0))
        XCTAssertFalse(compact.accept(space))

        c = try constraint(nil)
        XCTAssertTrue(c.feed("{\"k\": [1, {}]}", tokenizer: tokenizer))
        XCTAssertTrue(c.mustEnd)
        XCTAssertEqual(Set(c.allowedTokens()), tokenizer.endOfTurnTokens)
        let end = try XCTUnwrap(tokenizer.endOfTurnTokens.first)
        var open = try constraint(nil)
        XCTAssertFalse(open.accept(end), "no end before the value is complete")
        XCTAssertTrue(c.accept(end))

        // A top-level number may go on or end.
        c = try constraint(#"{"type":"integer"}"#)
        XCTAssertTrue(c.feed("12", tokenizer: tokenizer))
        XCTAssertTrue(c.isComplete)
        XCTAssertFalse(c.mustEnd)
        let allowed = Set(c.allowedTokens())
        XCTAssertTrue(allowed.isSuperset(of: tokenizer.endOfTurnTokens))
        XCTAssertTrue(allowed.contains(try XCTUnwrap(vocabulary.token(forByte: UInt8(ascii: "3")))))
    }

    func testJSONObjectModeAllowsAnyObjectOnly() throws {
        let (tokenizer, _) = try Model.require()
        var c = try constraint(nil)
        XCTAssertFalse(c.feed("[1]", tokenizer: tokenizer))
        c = try constraint(nil)
        XCTAssertFalse(c.feed("\"s\"", tokenizer: tokenizer))
        c = try constraint(nil)
        XCTAssertTrue(c.feed(#"{"a": {"b": [null, true, -1.5e3, "x"]}, "": {}}"#, tokenizer: tokenizer))
        for text in try samples(nil, count: 20) {
            XCTAssertNotNil(parse(text) as? [String: Any], text)
        }
    }

    func testArrayBoundsAnyOfAndRefs() throws {
        let (tokenizer, _) = try Model.require()
        let bounded = #"{"type":"array","items":{"type":"integer"},"minItems":2,"maxItems":3}"#
        var c = try constraint(bounded)
        XCTAssertFalse(c.feed("[1]", tokenizer: tokenizer))
        c = try constraint(bounded)
        XCTAssertFalse(c.feed("[1,2,3,", tokenizer: tokenizer))
        c = try constraint(bounded)
        XCTAssertTrue(c.feed("[1,2]", tokenizer: tokenizer))

        // Overlapping branches: both objects begin with `{` and share a key.
        let overlap = #"{"anyOf":[{"type":"object","properties":{"k":{"type":"integer"},"i":{"type":"integer"}},"#
            + #""required":["k","i"],"additionalProperties":false},{"type":"object","properties":{"k":{"type":"string"},"#
            + #""s":{"type":"string"}},"required":["k"],"additionalProperties":false}]}"#
        c = try constraint(overlap)
        XCTAssertTrue(c.feed("{\"k\":", tokenizer: tokenizer))
        var asInt = c, asString = c
        XCTAssertTrue(asInt.feed("5,\"i\":1}", tokenizer: tokenizer))
        XCTAssertFalse(asString.feed("\"v\",\"i\"", tokenizer: tokenizer))
        XCTAssertTrue(c.feed("\"v\"}", tokenizer: tokenizer))
        for text in try samples(overlap, count: 20) { XCTAssertNotNil(parse(text) as? [String: Any], text) }

        let tree = ##"{"$ref":"#/$defs/node","$defs":{"node":{"type":"object","properties":{"v":{"type":"integer"},"##
            + ##""kids":{"type":"array","items":{"$ref":"#/$defs/node"}}},"required":["v"],"additionalProperties":false}}}"##
        c = try constraint(tree)
        XCTAssertTrue(c.feed(#"{"v":1,"kids":[{"v":2,"kids":[{"v":3}]},{"v":4}]}"#, tokenizer: tokenizer))
        XCTAssertTrue(c.mustEnd)
        XCTAssertThrowsError(try constraint(##"{"$ref":"#"}"##), "a reference to itself allows nothing")
    }

    /// The fast paths (precomputed string sets, exit tries, pruned walks) must allow exactly the tokens that
    /// `accept` takes, in every kind of state.
    func testMaskAgreesWithAccept() throws {
        let (tokenizer, vocabulary) = try Model.require()
        let schema = #"{"type":"object","properties":{"name":{"type":"string"},"n":{"type":"integer"},"#
            + #""tags":{"type":"array","items":{"enum":["a","b c",1.5]}},"e\"sc":{"type":"boolean"},"#
            + #""u":{"anyOf":[{"type":"string"},{"type":"object","additionalProperties":{"type":"number"}}]}},"#
            + #""required":["name"],"additionalProperties":{"type":"null"}}"#
        let prefixes = ["", "{", "{\"", "{\"na", "{\"name\"", "{\"name\":", "{\"name\": \"x", "{\"name\":\"\\",
                        "{\"name\":\"\\u12", "{\"name\":\"x\",\"n\":-", "{\"name\":\"x\",\"n\":12",
                        "{\"name\":\"x\",\"tags\":[\"b", "{\"name\":\"x\",\"e\\\"", "{\"name\":\"x\",\"u\":{\"q",
                        "{\"name\":\"x\",\"ot", "{\"name\":\"x\",\"tags\":[1.5"]
        for prefix in prefixes {
            var c = try constraint(schema)
            XCTAssertTrue(c.feed(prefix, tokenizer: tokenizer), prefix)
            let masked = Set(c.allowedTokens())
            let brute = c.acceptedByTrial(vocabulary)
            XCTAssertEqual(masked, brute, "prefix \(prefix): \(masked.symmetricDifference(brute).prefix(5))")
            XCTAssertFalse(masked.isEmpty, prefix)
        }
    }

    /// At random points of randomly steered outputs (`runs` of up to `maxSteps` tokens), the mask equals what `accept`
    /// takes, token by token over the whole vocabulary.
    private func assertMaskEqualsAccept(_ schema: String, vocabulary: ConstraintVocabulary, seed: UInt64, runs: Int,
                                        maxSteps: UInt64, file: StaticString = #filePath, line: UInt = #line) throws {
        var rng = SeededRandom(seed: seed)
        for _ in 0..<runs {
            var d = try JSONConstraint(schemaJSON: schema, vocabulary: vocabulary)
            var logits = [Float](repeating: 0, count: vocabulary.count)
            for _ in 0..<Int(rng.next() % maxSteps) where !d.mustEnd {
                for i in logits.indices { logits[i] = Float(rng.next() >> 40) }
                logits.withUnsafeMutableBufferPointer { d.mask($0) }
                let pick = logits.indices.max { logits[$0] < logits[$1] }!
                XCTAssertTrue(d.accept(Int32(pick)), file: file, line: line)
            }
            let brute = d.acceptedByTrial(vocabulary)
            XCTAssertEqual(Set(d.allowedTokens()), brute, file: file, line: line)
        }
    }

    /// `pattern` and the formats (date, time, date-time, email, hostname, ipv4, uri, uuid) are automata over the
    /// string's bytes: every sampled string matches (checked with Foundation's regular expressions, an independent
    /// engine, and its date parser), and the mask equals accept inside such strings.
    func testPatternsAndFormatsHoldForEveryOutput() throws {
        let (_, vocabulary) = try Model.require()
        let pattern = "^[A-Z][a-z]{1,8}(-[A-Z][a-z]{1,8})?$"
        let code = "^[A-Z]{2}-[0-9]{3}$"
        let schema = #"{"type":"object","properties":{"name":{"type":"string","pattern":"\#(pattern)"},"#
            + #""code":{"type":"string","pattern":"\#(code)"},"word":{"type":"string","pattern":"ab+c"},"#
            + #""day":{"type":"string","format":"date"},"at":{"type":"string","format":"date-time"},"#
            + #""mail":{"type":"string","format":"email"},"ip":{"type":"string","format":"ipv4"},"#
            + #""short":{"type":"string","pattern":"^[a-z]+$","maxLength":4}},"#
            + #""required":["name","code","word","day","at","mail","ip","short"]}"#
        let checks: [String: String] = [
            "name": pattern, "code": "^[A-Z]{2}-\\d{3}$", "word": "ab+c", "day": "^\\d{4}-(0[1-9]|1[0-2])-(0[1-9]|[12]\\d|3[01])$",
            "mail": "^[^@\\s]+@[A-Za-z0-9-]+(\\.[A-Za-z0-9-]+)+$",
            "ip": "^((25[0-5]|2[0-4]\\d|1\\d\\d|[1-9]?\\d)\\.){3}(25[0-5]|2[0-4]\\d|1\\d\\d|[1-9]?\\d)$", "short": "^[a-z]{1,4}$",
        ]
        let iso = ISO8601DateFormatter()
        iso.formatOptions = [.withInternetDateTime, .withFractionalSeconds]
        let isoWhole = ISO8601DateFormatter()
        for seed in 1...25 {
            var c = try JSONConstraint(schemaJSON: schema, vocabulary: vocabulary)
            var rng = SeededRandom(seed: UInt64(seed))
            var sampler = Sampler(vocabulary: vocabulary)
            sampler.softCap = 120
            let result = sampler.generate(&c, rng: &rng)
            XCTAssertNil(result.failure, "seed \(seed)")
            let text = String(decoding: result.bytes, as: UTF8.self)
            let object = try XCTUnwrap(try JSONSerialization.jsonObject(with: Data(result.bytes)) as? [String: Any], text)
            for (key, regex) in checks {
                let value = try XCTUnwrap(object[key] as? String, text)
                let matcher = try NSRegularExpression(pattern: regex)
                XCTAssertNotNil(matcher.firstMatch(in: value, range: NSRange(value.startIndex..., in: value)),
                                "seed \(seed): \(key) = \(value.debugDescription) does not match \(regex)")
            }
            let at = try XCTUnwrap(object["at"] as? String, text)
            // RFC 3339 allows a leap second (:60) and a lower-case t/z, which Foundation's parser refuses.
            if !at.contains(":60"), at.uppercased() == at {
                XCTAssertTrue(iso.date(from: at) != nil || isoWhole.date(from: at) != nil, "seed \(seed): at = \(at)")
            }
        }
        try assertMaskEqualsAccept(schema, vocabulary: vocabulary, seed: 9, runs: 4, maxSteps: 40)
    }

    /// Bounds on non-integer numbers: every sampled number lies in its range (open and closed ends, negative, tiny
    /// and fractional bounds), numbers are written without exponents, and the mask equals accept.
    func testDecimalBoundsHoldForEveryOutput() throws {
        let (_, vocabulary) = try Model.require()
        let cases: [(String, (Double) -> Bool)] = [
            (#"{"type":"number","minimum":0,"maximum":1}"#, { $0 >= 0 && $0 <= 1 }),
            (#"{"type":"number","exclusiveMinimum":0,"exclusiveMaximum":1}"#, { $0 > 0 && $0 < 1 }),
            (#"{"type":"number","minimum":-2.5,"maximum":-2.25}"#, { $0 >= -2.5 && $0 <= -2.25 }),
            (#"{"type":"number","minimum":0.001,"maximum":0.002}"#, { $0 >= 0.001 && $0 <= 0.002 }),
            (#"{"type":"number","minimum":100.5}"#, { $0 >= 100.5 }),
            (#"{"type":"number","exclusiveMaximum":-7}"#, { $0 < -7 }),
            (#"{"maximum":3.5}"#, { $0 <= 3.5 }),
        ]
        for (schema, holds) in cases {
            for seed in 1...30 {
                var c = try JSONConstraint(schemaJSON: schema, vocabulary: vocabulary)
                var rng = SeededRandom(seed: UInt64(seed))
                let result = Sampler(vocabulary: vocabulary).generate(&c, rng: &rng)
                XCTAssertNil(result.failure, "\(schema) seed \(seed): \(String(decoding: result.bytes, as: UTF8.self))")
                let text = String(decoding: result.bytes, as: UTF8.self)
                if schema.contains("\"type\"") || text.first.map({ $0 == "-" || $0.isNumber }) == true {
                    let value = try XCTUnwrap(Double(text), "\(schema): \(text)")
                    XCTAssertTrue(holds(value), "\(schema) seed \(seed): \(text)")
                    XCTAssertFalse(text.contains("e") || text.contains("E"), text)
                }
            }
            try assertMaskEqualsAccept(#"{"type":"array","items":"# + schema + #","maxItems":3}"#, vocabulary: vocabulary,
                                       seed: 3, runs: 3, maxSteps: 12)
        }
        XCTAssertThrowsError(try JSONConstraint(schemaJSON: #"{"type":"number","minimum":2,"maximum":1}"#,
                                                vocabulary: vocabulary), "contradictory bounds")
        XCTAssertThrowsError(try JSONConstraint(schemaJSON: #"{"type":"number","exclusiveMinimum":1,"exclusiveMaximum":1}"#,
                                                vocabulary: vocabulary))
    }
}
