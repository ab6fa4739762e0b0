/// Typed, consuming access to a JSON object's fields. Each read removes the field; `finish` then rejects whatever
/// is left, so no parameter is ever silently ignored. `null` counts as absent, as in OpenAI's API.
struct RequestFields {
    private var remaining: [String: JSONValue]
    /// Prefix for error `param` names of nested objects, e.g. "stream_options.".
    private let prefix: String

    init(_ value: JSONValue, name: String? = nil) throws(APIError) {
        guard case let .object(fields) = value else {
            if let name { throw APIError.wrongType(name, expected: "an object", got: value) }
            throw APIError.invalid("the request body must be a JSON object", param: nil, code: "invalid_json")
        }
        remaining = fields
        prefix = name.map { "\($0)." } ?? ""
    }

    func param(_ key: String) -> String { prefix + key }

    mutating func take(_ key: String) -> JSONValue? {
        guard let value = remaining.removeValue(forKey: key), value != .null else { return nil }
        return value
    }

    mutating func require(_ key: String) throws(APIError) -> JSONValue {
        guard let value = take(key) else {
            throw APIError.invalid("'\(param(key))' is required", param: param(key), code: "missing_required_parameter")
        }
        return value
    }

    mutating func string(_ key: String) throws(APIError) -> String? {
        guard let value = take(key) else { return nil }
        guard case let .string(text) = value else { throw APIError.wrongType(param(key), expected: "a string", got: value) }
        return text
    }

    mutating func bool(_ key: String) throws(APIError) -> Bool? {
        guard let value = take(key) else { return nil }
        guard case let .bool(flag) = value else { throw APIError.wrongType(param(key), expected: "a boolean", got: value) }
        return flag
    }

    mutating func int(_ key: String, in range: ClosedRange<Int64>) throws(APIError) -> Int? {
        guard let value = take(key) else { return nil }
        return try Self.integer(value, param: param(key), in: range)
    }

    mutating func double(_ key: String, in range: ClosedRange<Double>) throws(APIError) -> Double? {
        guard let value = take(key) else { return nil }
        let number: Double
        switch value {
        case let .integer(int): number = Double(int)
        case let .number(double): number = double
        default: throw APIError.wrongType(param(key), expected: "a number", got: value)
        }
        guard range.contains(number) else {
            throw APIError.outOfRange(param(key), "between \(Self.format(range.lowerBound)) and \(Self.format(range.upperBound))")
        }
        return number
    }

    static func integer(_ value: JSONValue, param: String, in range: ClosedRange<Int64>) throws(APIError) -> Int {
        let int: Int64
        switch value {
        case let .integer(v): int = v
        case let .number(v) where v == v.rounded() && abs(v) < 9e15: int = Int64(v)
        default: throw APIError.wrongType(param, expected: "an integer", got: value)
        }
        guard range.contains(int) else {
            throw APIError.outOfRange(param, "between \(range.lowerBound) and \(range.upperBound)")
        }
        return Int(int)
    }

    private static func format(_ value: Double) -> String {
        value == value.rounded() ? String(Int(value)) : String(value)
    }

    /// Rejects what is left: a name in `unsupported` gets "not supported", anything else "unrecognized".
    func finish(unsupported: Set<String> = []) throws(APIError) {
        guard let key = remaining.keys.sorted().first else { return }
        if unsupported.contains(key) { throw APIError.unsupported(param(key)) }
        throw APIError.unknownParameter(param(key))
    }
}
