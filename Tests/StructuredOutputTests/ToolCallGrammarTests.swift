import Foundation
import StructuredOutput
import XCTest

/// The pieces tool calls add to the JSON grammar: declared property order, literal framing around repeated values,
/// and triggers that switch the grammar on (lazily, or from the first token).
final class ToolCallGrammarTests: XCTestCase {
    private let call = #"{"type":"object","properties":{"name":{"const":"get_weather"},"#
        + #""arguments":{"type":"object","properties":{"city":{"type":"string"}},"required":["city"]}},"#
        + #""required":["name","arguments"]}"#
    private let hermes = ValueFraming(prefix: "\n", suffix: "\n</tool_call>", separator: "\n<tool_call>\n",
                                      maxValues: 2)

    private func accepts(_ schema: String, _ text: String, options: ConstraintOptions,
                         trigger: TriggerPolicy? = nil) throws -> (ok: Bool, constraint: JSONConstraint) {
        let (_, vocabulary) = try Model.require()
        var c = try trigger.map {
            try JSONConstraint(schemaJSON: schema, vocabulary: vocabulary, options: options, trigger: $0)
        } ?? JSONConstraint(schemaJSON: schema, vocabulary: vocabulary, options: options)
        return (c.feedBytes(Array(text.utf8), vocabulary: vocabulary), c)
    }

    func testDeclaredOrderPutsTheNameFirst() throws {
        let ordered = ConstraintOptions(declaredPropertyOrder: true)
        XCTAssertTrue(try accepts(call, #"{"name":"get_weather","arguments":{"city":"Oslo"}}"#, options: ordered).ok)
        XCTAssertFalse(try accepts(call, #"{"arguments":"#, options: ordered).ok)
        // Without the option either order is fine.
        XCTAssertTrue(try accepts(call, #"{"arguments":{"city":"x"},"name":"get_weather"}"#,
                                  options: ConstraintOptions()).ok)
        // Optional properties may be skipped, but nothing goes back, and a required one cannot be skipped.
        let abc = #"{"type":"object","properties":{"a":{"type":"integer"},"b":{"type":"integer"},"#
            + #""c":{"type":"integer"}},"required":["a","c"]}"#
        XCTAssertTrue(try accepts(abc, #"{"a":1,"c":2}"#, options: ordered).constraint.isComplete)
        XCTAssertTrue(try accepts(abc, #"{"a":1,"b":3,"c":2}"#, options: ordered).constraint.isComplete)
        XCTAssertFalse(try accepts(abc, #"{"a":1,"c":2,"b"#, options: ordered).ok)
        XCTAssertFalse(try accepts(abc, #"{"c"#, options: ordered).ok)
        XCTAssertFalse(try accepts(abc, #"{"b"#, options: ordered).ok)
    }

    func testFramingWrapsEveryValueUpToTheLimit() throws {
        let options = ConstraintOptions(declaredPropertyOrder: true, framing: hermes)
        let one = "\n" + #"{"name":"get_weather","arguments":{"city":"Oslo"}}"# + "\n</tool_call>"
        let first = try accepts(call, one, options: options)
        XCTAssertTrue(first.ok)
        XCTAssertTrue(first.constraint.isComplete)
        XCTAssertFalse(first.constraint.mustEnd, "a second call may follow")
        let two = one + "\n<tool_call>\n" + #"{"name":"get_weather","arguments":{"city":"Rome"}}"# + "\n</tool_call>"
        let second = try accepts(call, two, options: options)
        XCTAssertTrue(second.ok)
        XCTAssertTrue(second.constraint.mustEnd, "maxValues reached")
        XCTAssertFalse(try accepts(call, two + "\n", options: options).ok)
        // The value cannot end without its suffix, nor the suffix be misspelt.
        XCTAssertFalse(try accepts(call, String(one.dropLast(3)), options: options).constraint.isComplete)
        XCTAssertFalse(try accepts(call, "\n" + #"{"name":"get_weather","arguments":{"city":"Oslo"}}"# + "\n</tool>",
                                   options: options).ok)
        XCTAssertFalse(try accepts(call, #"{"name""#, options: options).ok, "the prefix comes first")
    }

    func testSampledFramedOutputsParseAndValidate() throws {
        let (_, vocabulary) = try Model.require()
        let options = ConstraintOptions(declaredPropertyOrder: true, framing: hermes)
        var rng = SeededRandom(seed: 7)
        for _ in 0..<20 {
            var c = try JSONConstraint(schemaJSON: call, vocabulary: vocabulary, options: options)
            let result = Sampler(vocabulary: vocabulary).generate(&c, rng: &rng)
            XCTAssertNil(result.failure)
            let text = String(decoding: result.bytes, as: UTF8.self)
            XCTAssertTrue(result.ended, "\(result)")
            let blocks = text.components(separatedBy: "\n</tool_call>").filter { !$0.isEmpty }
            XCTAssertTrue((1...2).contains(blocks.count), text.debugDescription)
            for block in blocks {
                let body = block.replacingOccurrences(of: "\n<tool_call>\n", with: "").dropFirst(block.hasPrefix("\n") ? 1 : 0)
                let object = try JSONSerialization.jsonObject(with: Data(body.utf8)) as? [String: Any]
                XCTAssertEqual(object?["name"] as? String, "get_weather", text)
                XCTAssertNotNil((object?["arguments"] as? [String: Any])?["city"] as? String, text)
                let name = body.range(of: #""name""#), arguments = body.range(of: #""arguments""#)
                XCTAssertTrue(name != nil && arguments != nil && name!.lowerBound < arguments!.lowerBound,
                              "declared order: \(text.debugDescription)")
            }
        }
    }

    func testALazyTriggerLeavesTextFreeUntilACallStarts() throws {
        let (tokenizer, vocabulary) = try Model.require()
        let options = ConstraintOptions(declaredPropertyOrder: true, framing: hermes)
        let policy = TriggerPolicy(triggers: [ConstraintTrigger(text: "<tool_call>")], required: false)
        var c = try JSONConstraint(schemaJSON: call, vocabulary: vocabulary, options: options, trigger: policy)
        XCTAssertFalse(c.isActive)
        XCTAssertTrue(c.isComplete, "free text may end at once")
        XCTAssertTrue(c.feed("Let me look that up. {not json} <tool", tokenizer: tokenizer))
        XCTAssertFalse(c.isActive)
        XCTAssertTrue(c.feed("_call>", tokenizer: tokenizer))
        XCTAssertTrue(c.isActive)
        XCTAssertFalse(c.isComplete)
        var broken = c
        XCTAssertFalse(broken.feed("\n{\"oops", tokenizer: tokenizer))
        XCTAssertTrue(c.feed("\n{\"name\":\"get_weather\",\"arguments\":{\"city\":\"Oslo\"}}\n</tool_call>",
                             tokenizer: tokenizer))
        XCTAssertTrue(c.isComplete)
        // Free text that only looks like the trigger does not fire it.
        var free = try JSONConstraint(schemaJSON: call, vocabulary: vocabulary, options: options, trigger: policy)
        XCTAssertTrue(free.feed("<tool_cal> and <tool-call> are not it", tokenizer: tokenizer))
        XCTAssertFalse(free.isActive)
        XCTAssertFalse(free.mustEnd)
    }

    func testARequiredTriggerMustBeginTheOutput() throws {
        let (tokenizer, vocabulary) = try Model.require()
        let options = ConstraintOptions(declaredPropertyOrder: true, framing: hermes)
        let policy = TriggerPolicy(triggers: [ConstraintTrigger(text: "<tool_call>")], required: true)
        var c = try JSONConstraint(schemaJSON: call, vocabulary: vocabulary, options: options, trigger: policy)
        XCTAssertFalse(c.isComplete, "an empty answer is not a call")
        var text = c
        XCTAssertFalse(text.feed("Sure", tokenizer: tokenizer))
        var rng = SeededRandom(seed: 11)
        for _ in 0..<10 {
            var d = c
            let result = Sampler(vocabulary: vocabulary).generate(&d, rng: &rng)
            XCTAssertNil(result.failure)
            let out = String(decoding: result.bytes, as: UTF8.self)
            XCTAssertTrue(out.hasPrefix("<tool_call>\n{"), out.debugDescription)
            XCTAssertTrue(out.hasSuffix("\n</tool_call>"), out.debugDescription)
        }
        XCTAssertTrue(c.feed("<tool_call>", tokenizer: tokenizer))
        XCTAssertTrue(c.isActive)
    }

    func testAnAnchoredTriggerIsPartOfTheValue() throws {
        let (tokenizer, vocabulary) = try Model.require()
        let llama = #"{"type":"object","properties":{"name":{"const":"get_weather"},"#
            + #""parameters":{"type":"object"}},"required":["name","parameters"]}"#
        let policy = TriggerPolicy(triggers: [ConstraintTrigger(text: "{", isPartOfValue: true, anchored: true)],
                                   required: false)
        let options = ConstraintOptions(declaredPropertyOrder: true)
        var call = try JSONConstraint(schemaJSON: llama, vocabulary: vocabulary, options: options, trigger: policy)
        XCTAssertTrue(call.feed("{\"name\":\"get_weather\",", tokenizer: tokenizer))
        XCTAssertTrue(call.isActive)
        XCTAssertFalse(call.feed("\"x", tokenizer: tokenizer))
        var text = try JSONConstraint(schemaJSON: llama, vocabulary: vocabulary, options: options, trigger: policy)
        XCTAssertTrue(text.feed("It is {sunny}.", tokenizer: tokenizer))
        XCTAssertFalse(text.isActive, "a brace after text is not a call")
    }

    /// While waiting (nothing matched, part of the trigger matched, required) and once active, the mask equals what
    /// `accept` takes over the whole vocabulary.
    func testMaskAgreesWithAcceptAroundTriggers() throws {
        let (tokenizer, vocabulary) = try Model.require()
        let options = ConstraintOptions(declaredPropertyOrder: true, framing: hermes)
        let cases: [(String, Bool)] = [("", false), ("Hi <tool", false), ("x <tool_call>", false),
                                       ("<tool_call>\n{\"name\":\"get_weather\",\"arg", false), ("", true),
                                       ("<tool_", true)]
        for (prefix, required) in cases {
            let policy = TriggerPolicy(triggers: [ConstraintTrigger(text: "<tool_call>")], required: required)
            var c = try JSONConstraint(schemaJSON: call, vocabulary: vocabulary, options: options, trigger: policy)
            XCTAssertTrue(c.feed(prefix, tokenizer: tokenizer), prefix)
            let masked = Set(c.allowedTokens())
            let brute = c.acceptedByTrial(vocabulary)
            XCTAssertEqual(masked, brute, "\(prefix) required \(required): \(masked.symmetricDifference(brute).prefix(5))")
            XCTAssertFalse(masked.isEmpty)
        }
    }

    /// A reasoning model's thought: a trigger inside it does not fire, a required call is due after it, and the mask
    /// still equals accept there.
    func testTriggersWaitForTheEndOfAThought() throws {
        let (tokenizer, vocabulary) = try Model.require()
        let options = ConstraintOptions(declaredPropertyOrder: true, framing: hermes)
        let call = "<tool_call>\n{\"name\":\"get_weather\",\"arguments\":{\"city\":\"Oslo\"}}\n</tool_call>"
        for startsInside in [false, true] {
            let quiet = QuietRegion(open: "<think>", close: "</think>", startsInside: startsInside)
            let lazy = TriggerPolicy(triggers: [ConstraintTrigger(text: "<tool_call>")], required: false, quiet: quiet)
            var c = try JSONConstraint(schemaJSON: self.call, vocabulary: vocabulary, options: options, trigger: lazy)
            let thought = (startsInside ? "" : "<think>") + "maybe <tool_call> {oops, then"
            XCTAssertTrue(c.feed(thought, tokenizer: tokenizer))
            XCTAssertFalse(c.isActive, "a trigger inside a thought does not fire")
            XCTAssertTrue(c.feed("</think>\n\nSure. ", tokenizer: tokenizer))
            XCTAssertFalse(c.isActive)
            XCTAssertTrue(c.feed(call, tokenizer: tokenizer))
            XCTAssertTrue(c.isActive)
            XCTAssertTrue(c.isComplete)

            let required = TriggerPolicy(triggers: [ConstraintTrigger(text: "<tool_call>")], required: true, quiet: quiet)
            var r = try JSONConstraint(schemaJSON: self.call, vocabulary: vocabulary, options: options, trigger: required)
            XCTAssertTrue(r.feed(thought + "</think>", tokenizer: tokenizer))
            XCTAssertFalse(r.isComplete, "the call is still due")
            var text = r
            XCTAssertFalse(text.feed("Sure", tokenizer: tokenizer), "after the thought only the call may come")
            XCTAssertTrue(r.feed(call, tokenizer: tokenizer))
            XCTAssertTrue(r.isComplete)
        }
        // Without a thought, what starts like its marker is answer text that triggers see.
        let quiet = QuietRegion(open: "<think>", close: "</think>", startsInside: false)
        let lazy = TriggerPolicy(triggers: [ConstraintTrigger(text: "<tool_call>")], required: false, quiet: quiet)
        var direct = try JSONConstraint(schemaJSON: self.call, vocabulary: vocabulary, options: options, trigger: lazy)
        XCTAssertTrue(direct.feed("<tool_call>", tokenizer: tokenizer))
        XCTAssertTrue(direct.isActive)
        // Mask equals accept inside and around a thought.
        for (prefix, required, inside) in [("", true, true), ("abc </thi", true, true), ("", false, false),
                                            ("<thi", true, false), ("<think>x", false, false), ("<think>x</think>", true, false)] {
            let q = QuietRegion(open: "<think>", close: "</think>", startsInside: inside)
            let policy = TriggerPolicy(triggers: [ConstraintTrigger(text: "<tool_call>")], required: required, quiet: q)
            var c = try JSONConstraint(schemaJSON: self.call, vocabulary: vocabulary, options: options, trigger: policy)
            XCTAssertTrue(c.feed(prefix, tokenizer: tokenizer), prefix)
            let masked = Set(c.allowedTokens())
            let brute = c.acceptedByTrial(vocabulary)
            XCTAssertEqual(masked, brute, "\(prefix) required \(required) inside \(inside): "
                + "\(masked.symmetricDifference(brute).prefix(5))")
        }
    }

    /// Tool schemas: what the grammar cannot enforce is listed and dropped, the rest still holds.
    func testUnenforceableKeywordsAreListedAndTheRestHolds() throws {
        let (tokenizer, vocabulary) = try Model.require()
        let schema = #"{"type":"object","properties":{"s":{"type":"string","pattern":"(?=a)a+","maxLength":3},"#
            + #""e":{"type":"string","format":"color"},"x":{"type":"number","minimum":0},"#
            + #""u":{"type":"array","uniqueItems":true},"o":{"oneOf":[{"type":"object"},{"type":"object"}]}},"#
            + #""required":["s"]}"#
        let ignored = try SchemaSupport.unenforceableKeywords(schemaJSON: schema)
        XCTAssertEqual(Set(ignored), ["pattern at #/properties/s", "format at #/properties/e",
                                      "uniqueItems at #/properties/u",
                                      "oneOf at #/properties/o (overlapping branches, enforced as anyOf)"])
        XCTAssertThrowsError(try JSONConstraint(schemaJSON: schema, vocabulary: vocabulary), "strict refuses it")
        var c = try JSONConstraint(schemaJSON: schema, vocabulary: vocabulary,
                                   options: ConstraintOptions(ignoreUnenforceable: true))
        XCTAssertEqual(Set(c.ignoredKeywords), Set(ignored))
        var long = c
        XCTAssertFalse(long.feed(#"{"s":"abcd"#, tokenizer: tokenizer), "maxLength still holds")
        var negative = c
        XCTAssertFalse(negative.feed(#"{"s":"zz","x":-1"#, tokenizer: tokenizer), "minimum on a number holds")
        XCTAssertTrue(c.feed(#"{"s":"zz","x":1.5}"#, tokenizer: tokenizer), "pattern and format are dropped")
        XCTAssertTrue(c.isComplete)
        XCTAssertEqual(try SchemaSupport.unenforceableKeywords(schemaJSON: #"{"type":"integer","minimum":1}"#), [])
        XCTAssertThrowsError(try SchemaSupport.unenforceableKeywords(schemaJSON: #"{"$ref":"http://x/y"}"#))
    }
}
