/// Jinja's built-in tests (`value is name(args)`), with Python's type rules: `bool` is a number but not an
/// integer, strings are iterable sequences, and an undefined value is iterable (as empty).
extension Interpreter {
    func applyTest(_ name: String, _ value: JinjaValue, _ args: Arguments, _ frame: Frame) throws(TemplateError)
        -> Bool
    {
        func other() throws(TemplateError) -> JinjaValue {
            guard let v = args.positional.first ?? args.keyword.first?.1 else {
                throw TemplateError(.runtime, "the '\(name)' test needs an argument", line: line)
            }
            return v
        }
        switch name {
        case "defined": return !value.isUndefined
        case "undefined": return value.isUndefined
        case "none": return value == .none
        case "boolean": if case .bool = value { return true } else { return false }
        case "true": return value == .bool(true)
        case "false": return value == .bool(false)
        case "integer": if case .int = value { return true } else { return false }
        case "float": if case .double = value { return true } else { return false }
        case "number":
            switch value {
            case .int, .double, .bool: return true
            default: return false
            }
        case "string": if case .string = value { return true } else { return false }
        case "mapping": if case .object = value { return true } else { return false }
        case "iterable":
            switch value {
            case .string, .array, .object, .undefined: return true
            default: return false
            }
        case "sequence":
            switch value {
            case .string, .array, .object, .undefined: return true
            default: return false
            }
        case "callable": if case .function = value { return true } else { return false }
        case "escaped": return false
        case "lower":
            guard case .string(let s) = value else { return false }
            return Methods.isLower(s)
        case "upper":
            guard case .string(let s) = value else { return false }
            return Methods.isUpper(s)
        case "odd", "even":
            let remainder = try Operators.binary(.modulo, try number(value, name), .int(2))
            return Operators.equal(remainder, .int(name == "odd" ? 1 : 0))
        case "divisibleby":
            let remainder = try Operators.binary(.modulo, try number(value, name), try number(try other(), name))
            return Operators.equal(remainder, .int(0))
        case "eq", "equalto", "==": return Operators.equal(value, try other())
        case "ne", "!=": return !Operators.equal(value, try other())
        case "lt", "lessthan", "<": return try Operators.less(value, try other(), op: "<")
        case "le", "<=": return try !Operators.less(try other(), value, op: "<=")
        case "gt", "greaterthan", ">": return try Operators.less(try other(), value, op: ">")
        case "ge", ">=": return try !Operators.less(value, try other(), op: ">=")
        case "in": return try Operators.contains(try other(), value)
        case "sameas":
            let o = try other()
            switch (value, o) {
            case (.none, .none), (.undefined, .undefined): return true
            case (.bool(let a), .bool(let b)): return a == b
            case (.namespace(let a), .namespace(let b)): return a === b
            case (.function(let a), .function(let b)): return a === b
            default: return false
            }
        case "filter", "test":
            guard case .string(let s) = value else { return false }
            return name == "test" ? Interpreter.testNames.contains(s) : Interpreter.filterNames.contains(s)
        default:
            throw TemplateError(.unsupported, "unknown test '\(name)'", line: line)
        }
    }

    private func number(_ v: JinjaValue, _ test: String) throws(TemplateError) -> JinjaValue {
        switch v {
        case .int, .double, .bool: return v
        default: throw TemplateError(.runtime, "the '\(test)' test needs a number, not \(v.typeName)", line: line)
        }
    }

    static let testNames: Set<String> = [
        "defined", "undefined", "none", "boolean", "true", "false", "integer", "float", "number", "string",
        "mapping", "iterable", "sequence", "callable", "escaped", "lower", "upper", "odd", "even", "divisibleby",
        "eq", "equalto", "==", "ne", "!=", "lt", "lessthan", "<", "le", "<=", "gt", "greaterthan", ">", "ge", ">=",
        "in", "sameas", "filter", "test",
    ]

    static let filterNames: Set<String> = [
        "default", "d", "length", "count", "string", "safe", "escape", "e", "trim", "upper", "lower", "capitalize",
        "title", "replace", "indent", "center", "wordcount", "format", "tojson", "items", "list", "first", "last",
        "reverse", "join", "int", "float", "abs", "round", "attr", "map", "select", "reject", "selectattr",
        "rejectattr", "unique", "sort", "dictsort", "sum", "max", "min",
    ]
}
