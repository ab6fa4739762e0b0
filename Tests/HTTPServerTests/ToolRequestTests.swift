import ChatTemplate
import Foundation
import HTTPServer
import WorkerBackend
import WorkerProtocol
import XCTest

/// Tool requests from the wire to the chat template: a conversation with tools, calls and results, sent as an
/// OpenAI client sends it (arguments as JSON text), renders byte for byte as jinja2 renders the same conversation
/// (the chat-template fixtures, written by scripts/fixtures/chat_template_reference.py); malformed tool fields are
/// 400s naming the field.
final class ToolRequestTests: XCTestCase {
    static let fixtures = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
        .appendingPathComponent("ChatTemplateTests/Fixtures")

    /// JSON text of a value in its own key order (the template engine's `tojson`).
    private func json(_ value: JinjaValue) throws -> String {
        try ChatTemplate(source: "{{ v | tojson }}").render(context: ["v": value])
    }

    /// The fixture's conversation in OpenAI's wire shape: each call's arguments become JSON text.
    private func wire(_ messages: [JinjaValue]) throws -> [JinjaValue] {
        try messages.map { message in
            guard case .object(var fields) = message, case .array(let calls)? = fields["tool_calls"] else { return message }
            fields["tool_calls"] = .array(try calls.map { call in
                guard case .object(var c) = call, case .object(var function)? = c["function"],
                      let arguments = function["arguments"] else { return call }
                function["arguments"] = .string(try json(arguments))
                c["function"] = .object(function)
                return .object(c)
            })
            return .object(fields)
        }
    }

    func testToolTurnsRenderAsJinja2RendersThem() throws {
        let fixture = try JinjaValue(jsonData: Data(contentsOf: Self.fixtures.appendingPathComponent("chat_cases.json")))
        guard case .object(let root) = fixture, case .array(let cases)? = root["cases"],
              case .object(let conversations)? = root["conversations"], let tools = root["tools"] else {
            return XCTFail("unexpected fixture shape")
        }
        var compared = 0
        for c in cases {
            guard case .object(let item) = c, item["with_tools"] == .bool(true),
                  case .string(let file)? = item["template"],
                  ["qwen2.5.jinja", "qwen3.jinja", "llama3.1.jinja", "llama3.2.jinja", "mistral-v0.3.jinja"].contains(file),
                  case .string(let name)? = item["conversation"], case .array(let messages)? = conversations[name],
                  case .string(let expected)? = item["output"]
            else { continue }
            let body: JinjaValue = .object(OrderedDict([("model", .string("m")), ("messages", .array(try wire(messages))),
                                                        ("tools", tools)]))
            let text = Array(try json(body).utf8)
            let parsed = try RequestParser.chat(try XCTUnwrap(JSONValue.parse(text)), raw: text, id: "x",
                                                priority: .normal)
            guard case .chat(let chat) = parsed.requests[0].input, let toolRequest = parsed.requests[0].tools else {
                return XCTFail("\(file)/\(name): no chat or no tools")
            }
            let prompt = try WorkerRequestBuilder.chatPrompt(chat)
            guard case .array(let rendered) = try JinjaValue(jsonString: prompt.json),
                  case .array(let toolValues) = try JinjaValue(jsonString: toolRequest.toolsJSON) else {
                return XCTFail("\(file)/\(name): not arrays")
            }
            let source = try String(contentsOf: Self.fixtures.appendingPathComponent("templates/\(file)"), encoding: .utf8)
            var extra: [String: JinjaValue] = [:]
            if case .object(let e)? = item["extra"] { for (k, v) in e { extra[k] = v } }
            let output = try ChatTemplate(source: source).renderChat(
                messages: rendered, addGenerationPrompt: item["add_generation_prompt"] == .bool(true), tools: toolValues,
                bosToken: item["bos_token"].flatMap { if case .string(let s) = $0 { s } else { nil } } ?? "",
                eosToken: item["eos_token"].flatMap { if case .string(let s) = $0 { s } else { nil } } ?? "",
                extra: extra, now: Self.fixedNow)
            XCTAssertEqual(output, expected, "\(file) / \(name)")
            compared += 1
        }
        XCTAssertGreaterThanOrEqual(compared, 25)
    }

    /// The instant the fixture generator's `strftime_now` formats: 2026-01-15 09:30:00 local time.
    static let fixedNow: Date = {
        var components = DateComponents()
        (components.year, components.month, components.day) = (2026, 1, 15)
        (components.hour, components.minute, components.second) = (9, 30, 0)
        var calendar = Calendar(identifier: .gregorian)
        calendar.timeZone = TimeZone.current
        return calendar.date(from: components)!
    }()

    private func parse(_ body: String) throws(APIError) -> ParsedRequest {
        let bytes = Array(body.utf8)
        guard let value = JSONValue.parse(bytes) else { throw APIError.malformedJSON }
        return try RequestParser.chat(value, raw: bytes, id: "x", priority: .normal)
    }

    private let weather = #"{"type":"function","function":{"name":"get_weather","parameters":{"type":"object","#
        + #""properties":{"z":{"type":"string"},"a":{"type":"integer"}}}}}"#

    func testToolFieldsAreParsedInTheClientsOrder() throws {
        let parsed = try parse(#"{"model":"m","messages":[{"role":"user","content":"hi"}],"tools":["# + weather
            + #"],"tool_choice":{"type":"function","function":{"name":"get_weather"}},"parallel_tool_calls":false}"#)
        let tools = try XCTUnwrap(parsed.requests[0].tools)
        XCTAssertEqual(tools.choice, .function("get_weather"))
        XCTAssertFalse(tools.parallel)
        XCTAssertEqual(tools.functions.map(\.name), ["get_weather"])
        // Property order as sent ("z" before "a"): calls are written in it.
        XCTAssertEqual(tools.functions[0].parametersJSON, #"{"type":"object","properties":{"z":{"type":"string"},"a":{"type":"integer"}}}"#)
        XCTAssertEqual(tools.toolsJSON, "[" + weather + "]")
        // tool_choice none: no tools at all.
        XCTAssertNil(try parse(#"{"model":"m","messages":[{"role":"user","content":"hi"}],"tools":["# + weather
            + #"],"tool_choice":"none"}"#).requests[0].tools)
    }

    func testMalformedToolFieldsAreNamed() {
        let user = #""messages":[{"role":"user","content":"hi"}]"#
        let cases: [(String, String)] = [
            (#"{"model":"m",\#(user),"tools":{}}"#, "tools"),
            (#"{"model":"m",\#(user),"tools":[{"type":"retrieval"}]}"#, "tools[0].type"),
            (#"{"model":"m",\#(user),"tools":[{"type":"function","function":{"name":"bad name"}}]}"#,
             "tools[0].function.name"),
            (#"{"model":"m",\#(user),"tools":[{"type":"function","function":{"name":"f","parameters":[]}}]}"#,
             "tools[0].function.parameters"),
            (#"{"model":"m",\#(user),"tools":[{"type":"function","function":{"name":"f","colour":1}}]}"#,
             "tools[0].function.colour"),
            (#"{"model":"m",\#(user),"tools":[\#(weather),\#(weather)]}"#, "tools[1].function.name"),
            (#"{"model":"m",\#(user),"tools":[\#(weather)],"tool_choice":"sometimes"}"#, "tool_choice"),
            (#"{"model":"m",\#(user),"tools":[\#(weather)],"tool_choice":{"type":"function","function":{"name":"nope"}}}"#,
             "tool_choice.function.name"),
            (#"{"model":"m",\#(user),"tool_choice":"required"}"#, "tool_choice"),
            (#"{"model":"m",\#(user),"tools":[\#(weather)],"response_format":{"type":"json_object"}}"#, "response_format"),
            (#"{"model":"m","messages":[{"role":"tool","content":"18"}]}"#, "messages[0].tool_call_id"),
            (#"{"model":"m","messages":[{"role":"assistant","content":null,"tool_calls":[{"id":"c","type":"function","function":{"name":"f","arguments":"{oops"}}]}]}"#,
             "messages[0].tool_calls[0].function.arguments"),
            (#"{"model":"m","messages":[{"role":"assistant","tool_calls":[{"type":"function","function":{"name":"f","arguments":"{}"}}]}]}"#,
             "messages[0].tool_calls[0].id"),
        ]
        for (body, param) in cases {
            do {
                _ = try parse(body)
                XCTFail("accepted: \(body)")
            } catch {
                XCTAssertEqual(error.status, 400, body)
                XCTAssertEqual(error.param, param, body)
            }
        }
    }
}
