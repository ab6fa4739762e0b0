// Test program for ToolCallParser.
// Build: swiftc -O -swift-version 6 -parse-as-library ToolCallDelta.swift ToolCallParser.swift tests.swift -o t
import EngineCore
import Foundation
import WorkerProtocol
import XCTest

/// Deterministic ids so expectations can name them; tests run on one thread.
final class IDSource: @unchecked Sendable {
    private var next = 0
    func make() -> String {
        defer { next += 1 }
        return "call_\(next)"
    }
}

struct ObservedCall: Equatable, CustomStringConvertible {
    var id: String
    var name: String
    var arguments: String
    var description: String { "\(id) \(name) \(arguments.debugDescription)" }
}

/// What a stream means, independent of how it was chunked.
struct Outcome: Equatable {
    var content = ""
    var calls: [ObservedCall] = []
    /// Consecutive events collapsed by kind: "C" content, "T<i>" call i.
    var shape: [String] = []
    var callCount = 0
}

struct Case {
    let name: String
    let format: ToolCallFormat
    let input: String
    let content: String
    let calls: [(name: String, arguments: String)]
    let shape: [String]?

    init(_ name: String, _ format: ToolCallFormat, _ input: String, content: String = "",
         calls: [(name: String, arguments: String)] = [], shape: [String]? = nil) {
        self.name = name
        self.format = format
        self.input = input
        self.content = content
        self.calls = calls
        self.shape = shape
    }

    var expected: Outcome {
        Outcome(content: content,
                calls: calls.enumerated().map { ObservedCall(id: "call_\($0.offset)", name: $0.element.name, arguments: $0.element.arguments) },
                shape: shape ?? [],
                callCount: calls.count)
    }
}

/// SplitMix64: tiny, seedable, reproducible.
struct SeededRandom {
    var state: UInt64
    mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }
    mutating func below(_ n: Int) -> Int { Int(next() % UInt64(n)) }
}

/// Checks the streaming contract and folds events into an Outcome; contract breaches are returned.
func summarize(_ events: [ParsedOutput]) -> (Outcome, [String]) {
    var outcome = Outcome()
    var problems: [String] = []
    for event in events {
        let token: String
        switch event {
        case .content(let text):
            if text.isEmpty { problems.append("empty content event") }
            outcome.content += text
            token = "C"
        case .toolCall(let delta):
            token = "T\(delta.index)"
            if delta.index == outcome.calls.count {
                guard let id = delta.id, let name = delta.name else {
                    problems.append("first delta of call \(delta.index) lacks id/name")
                    continue
                }
                if !delta.arguments.isEmpty { problems.append("first delta of call \(delta.index) has arguments") }
                outcome.calls.append(ObservedCall(id: id, name: name, arguments: ""))
            } else if delta.index >= 0 && delta.index < outcome.calls.count {
                if delta.id != nil || delta.name != nil { problems.append("repeated id/name for call \(delta.index)") }
                if delta.arguments.isEmpty { problems.append("empty argument fragment for call \(delta.index)") }
                outcome.calls[delta.index].arguments += delta.arguments
            } else {
                problems.append("delta for call \(delta.index) out of order")
                continue
            }
        }
        if outcome.shape.last != token { outcome.shape.append(token) }
    }
    return (outcome, problems)
}

func run(_ format: ToolCallFormat, _ chunks: [String]) -> (Outcome, [String]) {
    let ids = IDSource()
    var parser = ToolCallParser(format: format, makeID: { ids.make() })
    var events: [ParsedOutput] = []
    for chunk in chunks {
        events += parser.feed(chunk)
    }
    events += parser.finish()
    var (outcome, problems) = summarize(events)
    outcome.callCount = parser.callCount
    if parser.callCount != outcome.calls.count { problems.append("callCount \(parser.callCount) != \(outcome.calls.count) calls") }
    return (outcome, problems)
}

func randomChunks(_ text: String, seed: UInt64) -> [String] {
    var random = SeededRandom(state: seed)
    let scalars = Array(text.unicodeScalars)
    var chunks: [String] = []
    var start = 0
    while start < scalars.count {
        if random.below(10) == 0 { chunks.append("") }
        let end = min(scalars.count, start + 1 + random.below(9))
        var chunk = String.UnicodeScalarView()
        chunk.append(contentsOf: scalars[start..<end])
        chunks.append(String(chunk))
        start = end
    }
    return chunks
}

func chunkings(_ text: String) -> [(String, [String])] {
    var result: [(String, [String])] = [("whole", [text]), ("characters", text.map { String($0) })]
    for seed: UInt64 in 1...6 {
        result.append(("random#\(seed)", randomChunks(text, seed: seed)))
    }
    return result
}

struct Tester {
    var passed = 0
    var failed = 0
    var failures: [String] = []

    mutating func check(_ name: String, _ condition: Bool, _ detail: @autoclosure () -> String = "") {
        if condition {
            passed += 1
            _ = name
        } else {
            failed += 1
            failures.append("\(name): \(detail())")
        }
    }

    mutating func runCase(_ testCase: Case) {
        var allGood = true
        var details: [String] = []
        let expected = testCase.expected
        for (label, chunks) in chunkings(testCase.input) {
            var (outcome, problems) = run(testCase.format, chunks)
            if testCase.shape == nil { outcome.shape = [] }
            if !problems.isEmpty || outcome != expected {
                allGood = false
                details.append("[\(label)] problems=\(problems) got content=\(outcome.content.debugDescription) calls=\(outcome.calls) shape=\(outcome.shape)")
            }
        }
        check("\(testCase.format).\(testCase.name)", allGood,
              "\n  expected content=\(expected.content.debugDescription) calls=\(expected.calls) shape=\(expected.shape)\n  " + details.prefix(3).joined(separator: "\n  "))
    }

    /// Any prefix (a cut-off output) of any input, in any format: no crash, contract kept, and the
    /// same meaning whatever the chunking. Where no call started, nothing may be lost.
    mutating func runRobustness(_ inputs: [String], label: String) {
        var problemsFound: [String] = []
        for (n, input) in inputs.enumerated() {
            for format in ToolCallFormat.allCases {
                let (reference, problems) = run(format, [input])
                if !problems.isEmpty { problemsFound.append("\(format) #\(n) \(problems)") }
                for (chunkLabel, chunks) in [("characters", input.map { String($0) }), ("random", randomChunks(input, seed: UInt64(n) + 99))] {
                    let (outcome, more) = run(format, chunks)
                    if !more.isEmpty || outcome != reference {
                        problemsFound.append("\(format) #\(n) \(chunkLabel) differs: \(more) \(input.debugDescription)")
                    }
                }
                if format != .generic && reference.callCount == 0 && reference.content != input {
                    problemsFound.append("\(format) lost text without calls: \(input.debugDescription) -> \(reference.content.debugDescription)")
                }
            }
        }
        check("robustness.\(label) (\(inputs.count) inputs)", problemsFound.isEmpty, problemsFound.prefix(5).joined(separator: "\n  "))
    }
}

/// The cases and checks of the parser's test program; `ToolCallParserTests` runs them.
struct ToolCallParserCases {
    static let weather = #"{"name": "get_weather", "arguments": {"city": "Paris"}}"#
    static let nestedArgs = #"{"a": {"b": [1, {"c": "}"}]}, "s": "</tool_call>"}"#

    static let cases: [Case] = [
        // hermes
        Case("parallel calls", .hermes,
             "<tool_call>\n\(weather)\n</tool_call>\n<tool_call>\n{\"name\": \"get_time\", \"arguments\": {\"tz\": \"CET\"}}\n</tool_call>\n<tool_call>\n{\"name\": \"noop\", \"arguments\": {}}\n</tool_call>\n",
             calls: [("get_weather", #"{"city": "Paris"}"#), ("get_time", #"{"tz": "CET"}"#), ("noop", "{}")],
             shape: ["T0", "T1", "T2"]),
        Case("nested args with braces and close tag in strings", .hermes,
             #"<tool_call>{"name": "f", "arguments": "# + nestedArgs + "}</tool_call>",
             calls: [("f", nestedArgs)]),
        Case("unicode escapes", .hermes,
             #"<tool_call>{"name": "caf\u00e9_\ud83d\ude00\"", "arguments": {"q": "\u00FCber \ud83d\ude00 \"x\" \\ 日本語 😀"}}</tool_call>"#,
             calls: [("café_😀\"", #"{"q": "\u00FCber \ud83d\ude00 \"x\" \\ 日本語 😀"}"#)]),
        Case("content before call", .hermes,
             "Let me check the weather. 😀 <b>\n<tool_call>\n\(weather)\n</tool_call>",
             content: "Let me check the weather. 😀 <b>\n",
             calls: [("get_weather", #"{"city": "Paris"}"#)], shape: ["C", "T0"]),
        Case("qwen3 thinking then call", .hermes,
             "<think>\nI should call it.\n</think>\n\n<tool_call>\n\(weather)\n</tool_call>",
             content: "<think>\nI should call it.\n</think>\n\n",
             calls: [("get_weather", #"{"city": "Paris"}"#)], shape: ["C", "T0"]),
        Case("content only", .hermes, "Hello <b>world</b>, a<b and <tool_", content: "Hello <b>world</b>, a<b and <tool_", shape: ["C"]),
        Case("content only, empty", .hermes, "", shape: []),
        Case("text after block is content", .hermes,
             "<tool_call>{\"name\": \"f\", \"arguments\": {}}</tool_call>\n\nDone. <tool",
             content: "Done. <tool", calls: [("f", "{}")], shape: ["T0", "C"]),
        Case("truncated call keeps streamed arguments", .hermes,
             #"<tool_call>{"name": "search", "arguments": {"query": "swift conc"#,
             calls: [("search", #"{"query": "swift conc"#)]),
        Case("truncated before name completes is content", .hermes,
             #"Sure.<tool_call>{"arguments": {"x": 1}, "na"#,
             content: #"Sure.<tool_call>{"arguments": {"x": 1}, "na"#, shape: ["C"]),
        Case("truncated right after marker", .hermes, "ok <tool_call>\n", content: "ok <tool_call>\n"),
        Case("swapped key order", .hermes,
             #"<tool_call>{"arguments": {"x": [1, 2]}, "name": "sum"}</tool_call>"#,
             calls: [("sum", #"{"x": [1, 2]}"#)], shape: ["T0"]),
        Case("extra keys and nested arguments key ignored", .hermes,
             #"<tool_call>{"id": {"x": "}"}, "name": "f", "meta": [1, {"arguments": 5}], "arguments": {"k": "v"}, "name": "g"}</tool_call>"#,
             calls: [("f", #"{"k": "v"}"#)]),
        Case("missing arguments become {}", .hermes, #"<tool_call>{"name": "ping"}</tool_call>"#, calls: [("ping", "{}")]),
        Case("string arguments kept raw", .hermes,
             #"<tool_call>{"name": "f", "arguments": "{\"a\": 1}"}</tool_call>"#,
             calls: [("f", #""{\"a\": 1}""#)]),
        Case("number arguments end before whitespace", .hermes,
             "<tool_call>{\"name\": \"f\", \"arguments\": -12.5e+3 \n, \"x\": null}</tool_call>",
             calls: [("f", "-12.5e+3")]),
        Case("inner whitespace verbatim, outer trimmed", .hermes,
             "<tool_call>{\"name\":\"f\",\"arguments\":  {\n  \"a\" :  [ 1 ,2 ]\n}  \n}\n</tool_call>",
             calls: [("f", "{\n  \"a\" :  [ 1 ,2 ]\n}")]),
        Case("missing close tag before next block", .hermes,
             #"<tool_call>{"name": "a", "arguments": {}}<tool_call>{"name": "b", "arguments": true}</tool_call>"#,
             calls: [("a", "{}"), ("b", "true")]),
        Case("malformed JSON falls back to content", .hermes,
             #"Hi <tool_call>{"name": oops}</tool_call> after"#,
             content: #"Hi <tool_call>{"name": oops}</tool_call> after"#, shape: ["C"]),
        Case("not JSON after marker", .hermes, "<tool_call>call f()</tool_call>", content: "<tool_call>call f()</tool_call>"),
        Case("nameless call object is content", .hermes,
             #"<tool_call>{"arguments": {}}</tool_call>"#, content: #"<tool_call>{"arguments": {}}</tool_call>"#),
        Case("malformed after started call keeps call", .hermes,
             #"<tool_call>{"name": "f", "arguments": {"a": 1 x}}</tool_call>"#,
             content: "x}}</tool_call>", calls: [("f", #"{"a": 1 "#)], shape: ["T0", "C"]),
        Case("good block then malformed block", .hermes,
             "<tool_call>{\"name\": \"a\", \"arguments\": {}}</tool_call>\n<tool_call>{\"name\" 1}</tool_call>",
             content: "<tool_call>{\"name\" 1}</tool_call>", calls: [("a", "{}")], shape: ["T0", "C"]),
        // llama3
        Case("python_tag", .llama3, #"<|python_tag|>{"name": "get_weather", "parameters": {"city": "Paris"}}"#,
             calls: [("get_weather", #"{"city": "Paris"}"#)]),
        Case("python_tag with whitespace", .llama3, "\n<|python_tag|> \n{\"name\": \"f\", \"arguments\": {\"x\": 1}}\n",
             calls: [("f", #"{"x": 1}"#)]),
        Case("bare object", .llama3, #"{"type": "function", "name": "get_weather", "parameters": {"city": "Paris"}}"#,
             calls: [("get_weather", #"{"city": "Paris"}"#)]),
        Case("leading whitespace then object", .llama3, "\n\n  {\"parameters\": {\"q\": \"}\"}, \"name\": \"s\"}",
             calls: [("s", #"{"q": "}"}"#)]),
        Case("semicolon separated calls", .llama3, #"{"name": "a", "parameters": {"x": 1}}; {"name": "b", "parameters": {"y": 2}}"#,
             calls: [("a", #"{"x": 1}"#), ("b", #"{"y": 2}"#)], shape: ["T0", "T1"]),
        Case("text after call is content", .llama3, #"{"name": "a", "parameters": {}} thanks"#,
             content: "thanks", calls: [("a", "{}")], shape: ["T0", "C"]),
        Case("plain content starting with whitespace", .llama3, "  \nThe weather is {nice}.", content: "  \nThe weather is {nice}.", shape: ["C"]),
        Case("plain content starting with <", .llama3, "<b>bold</b> <|python_tag|>", content: "<b>bold</b> <|python_tag|>"),
        Case("partial python_tag then end", .llama3, " <|python", content: " <|python"),
        Case("truncated object", .llama3, #"<|python_tag|>{"name": "f", "parameters": {"a": [1, 2"#,
             calls: [("f", #"{"a": [1, 2"#)]),
        Case("malformed object is content", .llama3, "{name: f}", content: "{name: f}"),
        // mistral
        Case("array with two calls", .mistral,
             #"[TOOL_CALLS] [{"name": "a", "arguments": {"x": 1}}, {"id": "abc123def", "arguments": {"y": "z]"}, "name": "b"}]"#,
             calls: [("a", #"{"x": 1}"#), ("b", #"{"y": "z]"}"#)], shape: ["T0", "T1"]),
        Case("single object", .mistral, #"[TOOL_CALLS]{"name": "a", "arguments": {"x": 1}}"#, calls: [("a", #"{"x": 1}"#)]),
        Case("content before marker", .mistral, #"Okay [TOOL [TOOL_CALLS][{"name": "a", "arguments": {}}] bye"#,
             content: "Okay [TOOL bye", calls: [("a", "{}")], shape: ["C", "T0", "C"]),
        Case("truncated second element", .mistral, #"[TOOL_CALLS][{"name": "a", "arguments": {}}, {"arguments": {"q": 1"#,
             content: #"{"arguments": {"q": 1"#, calls: [("a", "{}")], shape: ["T0", "C"]),
        Case("malformed second element", .mistral, #"[TOOL_CALLS][{"name": "a", "arguments": {}}, 5]"#,
             content: "5]", calls: [("a", "{}")]),
        Case("empty array is content", .mistral, "[TOOL_CALLS][] hi", content: "[TOOL_CALLS][] hi"),
        // generic
        Case("response with escapes", .generic,
             #" {"response": "Line1\nTab\t\"quoted\" \\ caf\u00e9 \ud83d\ude00 /slash\/ 日本"} "#,
             content: "Line1\nTab\t\"quoted\" \\ café 😀 /slash/ 日本", shape: ["C"]),
        Case("tool_calls with two calls", .generic,
             #"{"tool_calls": [{"name": "a", "arguments": {"x": 1}}, {"arguments": {"y": [true, false, null]}, "name": "b"}]}"#,
             calls: [("a", #"{"x": 1}"#), ("b", #"{"y": [true, false, null]}"#)], shape: ["T0", "T1"]),
        Case("extra root keys", .generic, #"{"thought": {"x": "{"}, "tool_calls": [{"name": "a"}]}"#, calls: [("a", "{}")]),
        Case("other text", .generic, "I can't do that.", content: "I can't do that."),
        Case("other JSON object", .generic, #"{"answer": 42}"#, content: #"{"answer": 42}"#),
        Case("truncated response streams", .generic, #"{"response": "hel"#, content: "hel"),
        Case("truncated before commitment", .generic, #"{"tool_"#, content: #"{"tool_"#),
    ]

    /// Runs everything; returns the failures' descriptions.
    static func run() -> [String] {
        var tester = Tester()
        for testCase in cases {
            tester.runCase(testCase)
        }

        // Progressive behaviour: content is released as soon as it cannot be a marker, and
        // arguments stream before the call is complete.
        do {
            var parser = ToolCallParser(format: .hermes, makeID: { "id" })
            let first = parser.feed("Hi <tool")
            tester.check("stream.content released up to marker prefix", first == [.content("Hi ")], "\(first)")
            let second = parser.feed("_call>{\"name\": \"f\", \"arguments\": {\"a\": ")
            tester.check("stream.name announced, arguments begun", second == [
                .toolCall(ToolCallDelta(index: 0, id: "id", name: "f", arguments: "")),
                .toolCall(ToolCallDelta(index: 0, arguments: "{\"a\": ")),
            ], "\(second)")
            let third = parser.feed("1}  ")
            tester.check("stream.trailing whitespace not emitted", third == [.toolCall(ToolCallDelta(index: 0, arguments: "1}"))], "\(third)")
            let last = parser.feed("}</tool_call>") + parser.finish()
            tester.check("stream.close emits nothing", last.isEmpty && parser.callCount == 1, "\(last)")
        }
        do {
            var parser = ToolCallParser(format: .llama3, makeID: { "id" })
            let first = parser.feed("  ")
            let second = parser.feed("Sure")
            tester.check("stream.llama3 plain content decided by first byte", first.isEmpty && second == [.content("  Sure")], "\(first) \(second)")
        }
        do {
            var parser = ToolCallParser(format: .generic, makeID: { "id" })
            let first = parser.feed(#"{"response": "ab\ud83d"#)
            let second = parser.feed(#"\ude00c"#)
            tester.check("stream.generic response decoded progressively", first == [.content("ab")] && second == [.content("😀c")], "\(first) \(second)")
        }
        do {
            var parser = ToolCallParser(format: .hermes, makeID: { "id" })
            let first = parser.feed(#"<tool_call>{"arguments": {"k": 1}, "#)
            let second = parser.feed(#""name": "late"}"#)
            tester.check("stream.swapped keys buffered until name", first.isEmpty && second == [
                .toolCall(ToolCallDelta(index: 0, id: "id", name: "late", arguments: "")),
                .toolCall(ToolCallDelta(index: 0, arguments: #"{"k": 1}"#)),
            ], "\(first) \(second)")
        }
        do {
            var parser = ToolCallParser(format: .hermes, makeID: { "id" })
            _ = parser.feed("<tool_call>{\"name\": \"a\", \"arguments\": 1}</tool_call>")
            _ = parser.finish()
            let again = parser.feed("<tool_call>{\"name\": \"b\"}") + parser.finish()
            tester.check("stream.feeding after finish starts a new output", again == [
                .toolCall(ToolCallDelta(index: 1, id: "id", name: "b", arguments: "")),
                .toolCall(ToolCallDelta(index: 1, arguments: "{}")),
            ] && parser.callCount == 2, "\(again)")
        }

        // Performance: content streaming is linear (2 MB of text full of marker false starts).
        do {
            var parser = ToolCallParser(format: .hermes, makeID: { "id" })
            let piece = String(repeating: "ab <tool_cal x <<t ", count: 20)
            var total = 0
            let start = ContinuousClock.now
            for _ in 0..<5_000 {
                for event in parser.feed(piece) {
                    if case .content(let text) = event { total += text.utf8.count }
                }
            }
            for event in parser.finish() {
                if case .content(let text) = event { total += text.utf8.count }
            }
            let elapsed = ContinuousClock.now - start
            tester.check("performance.2MB content (\(elapsed))", total == piece.utf8.count * 5_000 && elapsed < .seconds(5), "total \(total)")
        }
        do {
            var parser = ToolCallParser(format: .generic, makeID: { "id" })
            let deep = String(repeating: "[", count: 200_000)
            _ = parser.feed(#"{"tool_calls": [{"name": "f", "arguments": "# + deep)
            let out = parser.finish()
            tester.check("robustness.deep nesting does not recurse", parser.callCount == 1 && out.isEmpty, "\(out.count)")
        }

        // Every prefix of every case input (output cut anywhere), in every format.
        var prefixes: [String] = []
        for testCase in cases {
            let scalars = Array(testCase.input.unicodeScalars)
            for length in 0...scalars.count {
                var view = String.UnicodeScalarView()
                view.append(contentsOf: scalars[0..<length])
                prefixes.append(String(view))
            }
        }
        tester.runRobustness(prefixes, label: "all prefixes")

        // Random soup of syntax fragments.
        let fragments = ["<tool_call>", "</tool_call>", "[TOOL_CALLS]", "<|python_tag|>", "{", "}", "[", "]", "\"name\"",
                         "\"arguments\"", "\"parameters\"", "\"tool_calls\"", "\"response\"", ":", ",", "\"x\"", " ", "\n",
                         "1", "-2.5e3", "true", "nul", "\\", "\\\"", "\\u00e9", "\\ud83d", "é", "😀", ";", "<", "\""]
        var random = SeededRandom(state: 7)
        var soups: [String] = []
        for _ in 0..<3_000 {
            var soup = ""
            for _ in 0..<random.below(30) { soup += fragments[random.below(fragments.count)] }
            soups.append(soup)
        }
        // Mostly well-formed call shapes with random damage.
        for _ in 0..<1_000 {
            var text = [#"<tool_call>{"name": "f", "arguments": {"a": [1, "x\"}"]}}</tool_call>"#,
                        #"[TOOL_CALLS][{"name": "f", "arguments": {}}, {"name": "g"}]"#,
                        #"{"tool_calls": [{"arguments": {"b": null}, "name": "f"}]}"#,
                        #"<|python_tag|>{"name": "f", "parameters": {}}; {"name": "g", "parameters": 1}"#][random.below(4)]
            var scalars = Array(text.unicodeScalars)
            for _ in 0..<random.below(3) where !scalars.isEmpty {
                let at = random.below(scalars.count)
                if random.below(2) == 0 { scalars.remove(at: at) } else { scalars.insert(Array("{}[]\" ,:x".unicodeScalars)[random.below(9)], at: at) }
            }
            var view = String.UnicodeScalarView()
            view.append(contentsOf: scalars)
            text = String(view)
            soups.append(text)
        }
        tester.runRobustness(soups, label: "fuzz")

        return tester.failures
    }
}

/// Every format fed whole, a character at a time and in random chunks; streaming order; truncated and fuzzed outputs.
final class ToolCallParserTests: XCTestCase {
    func testParserCases() {
        let failures = ToolCallParserCases.run()
        XCTAssertTrue(failures.isEmpty, failures.prefix(10).joined(separator: "\n"))
    }
}
