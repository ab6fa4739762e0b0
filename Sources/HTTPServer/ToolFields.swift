import StructuredOutput
import struct WorkerProtocol.ToolRequest

/// A call the assistant made in an earlier turn, as the client sends it back (`messages[i].tool_calls[j]`).
public struct ChatToolCall: Sendable, Equatable {
    public var id: String
    public var name: String
    /// The arguments' JSON text, as the model wrote it (checked to be valid JSON).
    public var arguments: String

    public init(id: String, name: String, arguments: String) {
        self.id = id
        self.name = name
        self.arguments = arguments
    }
}

/// `tools`, `tool_choice` and `parallel_tool_calls` of a chat request, checked field by field. The tools' own text
/// is cut from the body (`RawJSON`) so that templates print them, and calls follow their schemas, in the client's
/// key order.
enum ToolFields {
    /// OpenAI's limit on tools per request.
    static let maxTools: Int64 = 128

    /// The keywords of a tool's schema that calls will not be held to ("tools[i].function.parameters: keyword at
    /// path"), for the response's `X-ModelHost-Ignored-Schema-Keywords` header. Clients pass tool schemas through
    /// without having written them, so these are accepted and reported rather than refused; a schema that cannot be
    /// used at all is a 400 naming it.
    static func unenforceable(_ request: ParsedRequest) throws(APIError) -> [String] {
        guard let tools = request.requests.first?.tools else { return [] }
        let field: String
        switch request.endpoint {
        case .messages, .countTokens: field = "input_schema"
        case .responses: field = "parameters"
        case .chat, .completions, .ollamaChat, .ollamaGenerate: field = "function.parameters"
        }
        var notes: [String] = []
        for (index, function) in tools.functions.enumerated() {
            let param = "tools[\(index)].\(field)"
            do {
                notes += try SchemaSupport.unenforceableKeywords(schemaJSON: function.parametersJSON).map {
                    "\(function.name): \($0)"
                }
            } catch {
                throw APIError.invalid("'\(param)' (\(function.name)): \(error.message)", param: param)
            }
        }
        return notes
    }

    /// The header that lists them.
    static let ignoredHeader = "X-ModelHost-Ignored-Schema-Keywords"

    /// nil when the request asks for no tools (none given, or `tool_choice: "none"`).
    static func parse(_ fields: inout RequestFields, raw: ArraySlice<UInt8>) throws(APIError) -> ToolRequest? {
        let toolsValue = fields.take("tools")
        let choiceValue = fields.take("tool_choice")
        let parallel = try fields.bool("parallel_tool_calls") ?? true
        var functions: [ToolRequest.Function] = []
        var toolsJSON = "[]"
        if let toolsValue {
            guard case .array(let items) = toolsValue else {
                throw APIError.wrongType("tools", expected: "an array of tools", got: toolsValue)
            }
            guard items.count <= maxTools else { throw APIError.outOfRange("tools", "at most \(maxTools) tools") }
            let rawTools = RawJSON.member(raw, "tools")
            let rawItems = rawTools.map(RawJSON.elements) ?? []
            for (index, item) in items.enumerated() {
                let rawItem = index < rawItems.count ? rawItems[index] : nil
                functions.append(try function(item, raw: rawItem, param: "tools[\(index)]"))
            }
            var seen = Set<String>()
            for (index, f) in functions.enumerated() where !seen.insert(f.name).inserted {
                throw APIError.invalid("'tools[\(index)].function.name' repeats the name '\(f.name)'",
                                       param: "tools[\(index)].function.name")
            }
            if let rawTools, rawItems.count == items.count {
                toolsJSON = String(decoding: rawTools, as: UTF8.self)
            } else {
                toolsJSON = toolsValue.serialized
            }
        }
        let choice = try self.choice(choiceValue, names: functions.map(\.name))
        guard let choice, !functions.isEmpty else { return nil }
        return ToolRequest(toolsJSON: toolsJSON, functions: functions, choice: choice, parallel: parallel)
    }

    /// One `{"type": "function", "function": {...}}`.
    private static func function(_ item: JSONValue, raw: ArraySlice<UInt8>?, param: String)
        throws(APIError) -> ToolRequest.Function
    {
        var tool = try RequestFields(item, name: param)
        switch try tool.string("type") {
        case "function"?: break
        case let other?:
            throw APIError.outOfRange("\(param).type", "'function' (got '\(other.prefix(40))')")
        case nil:
            throw APIError.invalid("'\(param).type' is required", param: "\(param).type")
        }
        let value = try tool.require("function")
        var function = try RequestFields(value, name: "\(param).function")
        guard let name = try function.string("name"), isValidName(name) else {
            throw APIError.invalid("'\(param).function.name' is required: 1–64 of a-z, A-Z, 0-9, _ and -",
                                   param: "\(param).function.name")
        }
        _ = try function.string("description")
        _ = try function.bool("strict")
        var parametersJSON = #"{"type":"object"}"#
        if let parameters = function.take("parameters") {
            guard case .object = parameters else {
                throw APIError.wrongType("\(param).function.parameters", expected: "a JSON Schema object", got: parameters)
            }
            guard parameters.depth <= RequestParser.maxSchemaDepth else {
                throw APIError.outOfRange("\(param).function.parameters",
                                          "nested at most \(RequestParser.maxSchemaDepth) levels deep")
            }
            let rawParameters = raw.flatMap { RawJSON.member($0, "function") }.flatMap { RawJSON.member($0, "parameters") }
            parametersJSON = rawParameters.map { String(decoding: $0, as: UTF8.self) } ?? parameters.serialized
            guard parametersJSON.utf8.count <= RequestParser.maxSchemaBytes else {
                throw APIError.outOfRange("\(param).function.parameters",
                                          "at most \(RequestParser.maxSchemaBytes) bytes of JSON")
            }

        }
        try function.finish()
        try tool.finish()
        return ToolRequest.Function(name: name, parametersJSON: parametersJSON)
    }

    /// nil for `none`; `auto` when absent.
    private static func choice(_ value: JSONValue?, names: [String]) throws(APIError) -> ToolRequest.Choice? {
        guard let value else { return .auto }
        switch value {
        case .string("none"): return nil
        case .string("auto"), .string("required"):
            guard !names.isEmpty else {
                throw APIError.invalid("'tool_choice' needs 'tools' to choose from", param: "tool_choice")
            }
            return value == .string("auto") ? .auto : .required
        case .string(let other):
            throw APIError.outOfRange("tool_choice", "none, auto, required or a named function (got '\(other.prefix(40))')")
        case .object:
            var fields = try RequestFields(value, name: "tool_choice")
            guard try fields.string("type") == "function" else {
                throw APIError.invalid("'tool_choice.type' must be 'function'", param: "tool_choice.type")
            }
            var function = try RequestFields(try fields.require("function"), name: "tool_choice.function")
            guard let name = try function.string("name") else {
                throw APIError.invalid("'tool_choice.function.name' is required", param: "tool_choice.function.name")
            }
            try function.finish()
            try fields.finish()
            guard names.contains(name) else {
                throw APIError.invalid("'tool_choice.function.name' names '\(name.prefix(64))', which is not in 'tools'",
                                       param: "tool_choice.function.name")
            }
            return .function(name)
        default:
            throw APIError.wrongType("tool_choice", expected: "a string or an object", got: value)
        }
    }

    /// An assistant message's `tool_calls`.
    static func calls(_ value: JSONValue, param: String) throws(APIError) -> [ChatToolCall] {
        guard case .array(let items) = value else {
            throw APIError.wrongType(param, expected: "an array of tool calls", got: value)
        }
        var calls: [ChatToolCall] = []
        for (index, item) in items.enumerated() {
            let name = "\(param)[\(index)]"
            var fields = try RequestFields(item, name: name)
            guard let id = try fields.string("id") else {
                throw APIError.invalid("'\(name).id' is required", param: "\(name).id")
            }
            if let type = try fields.string("type"), type != "function" {
                throw APIError.outOfRange("\(name).type", "'function'")
            }
            var function = try RequestFields(try fields.require("function"), name: "\(name).function")
            guard let functionName = try function.string("name") else {
                throw APIError.invalid("'\(name).function.name' is required", param: "\(name).function.name")
            }
            guard let arguments = try function.string("arguments") else {
                throw APIError.invalid("'\(name).function.arguments' is required", param: "\(name).function.arguments")
            }
            guard JSONValue.parse(Array(arguments.utf8)) != nil else {
                throw APIError.invalid("'\(name).function.arguments' is not valid JSON text",
                                       param: "\(name).function.arguments")
            }
            try function.finish()
            try fields.finish()
            calls.append(ChatToolCall(id: id, name: functionName, arguments: arguments))
        }
        return calls
    }

    private static func isValidName(_ name: String) -> Bool {
        !name.isEmpty && name.count <= 64
            && name.allSatisfy { $0.isASCII && ($0.isLetter || $0.isNumber || $0 == "_" || $0 == "-") }
    }
}
