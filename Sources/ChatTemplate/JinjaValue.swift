import Foundation

/// A value a template reads or computes, shaped after the Python objects Jinja works with.
///
/// The data cases mirror JSON (what requests carry); `namespace` and `function` exist only while a template runs
/// (`namespace()` objects, macros and built-in functions), so callers building a context never need them.
/// `==` is structural (Swift identity of the value); template comparisons (`1 == 1.0`) follow Python instead.
public enum JinjaValue: Sendable, Equatable {
    /// A missing variable, attribute or item: prints as nothing, iterates as empty, fails when used further.
    case undefined
    case none
    case bool(Bool)
    case int(Int)
    case double(Double)
    case string(String)
    case array([JinjaValue])
    case object(OrderedDict)
    /// A mutable attribute bag made by `namespace()`.
    case namespace(JinjaNamespace)
    /// A macro or a built-in function.
    case function(JinjaFunction)

    /// Python truthiness.
    public var isTruthy: Bool {
        switch self {
        case .undefined, .none: return false
        case .bool(let b): return b
        case .int(let i): return i != 0
        case .double(let d): return d != 0
        case .string(let s): return !s.isEmpty
        case .array(let a): return !a.isEmpty
        case .object(let o): return !o.isEmpty
        case .namespace, .function: return true
        }
    }

    public var isUndefined: Bool {
        if case .undefined = self { return true }
        return false
    }

    /// The Python type name, for error messages ("'int' object is not iterable").
    var typeName: String {
        switch self {
        case .undefined: return "Undefined"
        case .none: return "NoneType"
        case .bool: return "bool"
        case .int: return "int"
        case .double: return "float"
        case .string: return "str"
        case .array: return "list"
        case .object: return "dict"
        case .namespace: return "Namespace"
        case .function: return "function"
        }
    }
}

// MARK: - Building values from JSON

extension JinjaValue {
    /// Converts the output of `JSONSerialization` (or any tree of Swift dictionaries, arrays, strings, numbers,
    /// booleans and `NSNull`). `JSONSerialization` does not keep object key order; use `init(jsonData:)` when
    /// the order matters (it does for `tojson` output).
    public init(fromJSON any: Any?) {
        guard let any else { self = .none; return }
        switch any {
        case let v as JinjaValue: self = v
        case is NSNull: self = .none
        case let s as String: self = .string(s)
        case let b as Bool where type(of: any) == Bool.self: self = .bool(b)
        case let n as NSNumber: self = JinjaValue.fromNumber(n)
        case let i as Int: self = .int(i)
        case let d as Double: self = .double(d)
        case let a as [Any?]: self = .array(a.map { JinjaValue(fromJSON: $0) })
        case let a as [Any]: self = .array(a.map { JinjaValue(fromJSON: $0) })
        case let d as [String: Any?]:
            self = .object(OrderedDict(d.keys.sorted().map { ($0, JinjaValue(fromJSON: d[$0] ?? nil)) }))
        case let d as [String: Any]:
            self = .object(OrderedDict(d.keys.sorted().map { ($0, JinjaValue(fromJSON: d[$0])) }))
        default: self = .string(String(describing: any))
        }
    }

    private static func fromNumber(_ n: NSNumber) -> JinjaValue {
        // JSONSerialization marks booleans "c", floating point numbers "d"/"f".
        let kind = String(cString: n.objCType)
        if kind == "c" { return .bool(n.boolValue) }
        if kind == "d" || kind == "f" { return .double(n.doubleValue) }
        return .int(n.intValue)
    }

    /// Parses JSON text keeping object key order, integers as `int` and numbers with a fraction or exponent as
    /// `double` (as Python's `json.loads` does).
    public init(jsonData: Data) throws(TemplateError) {
        var parser = JSONReader(bytes: [UInt8](jsonData))
        self = try parser.parseDocument()
    }

    /// Same as `init(jsonData:)` for a string.
    public init(jsonString: String) throws(TemplateError) {
        var parser = JSONReader(bytes: Array(jsonString.utf8))
        self = try parser.parseDocument()
    }
}

extension JinjaValue: ExpressibleByStringLiteral, ExpressibleByIntegerLiteral, ExpressibleByBooleanLiteral,
    ExpressibleByFloatLiteral, ExpressibleByArrayLiteral, ExpressibleByDictionaryLiteral, ExpressibleByNilLiteral
{
    public init(stringLiteral value: String) { self = .string(value) }
    public init(integerLiteral value: Int) { self = .int(value) }
    public init(booleanLiteral value: Bool) { self = .bool(value) }
    public init(floatLiteral value: Double) { self = .double(value) }
    public init(arrayLiteral elements: JinjaValue...) { self = .array(elements) }
    public init(dictionaryLiteral elements: (String, JinjaValue)...) { self = .object(OrderedDict(elements)) }
    public init(nilLiteral: ()) { self = .none }
}

/// The object `namespace()` returns: the one value a template may change from inside a loop body.
///
/// It is a class because `{% set ns.x = ... %}` must be seen through every reference. Instances exist only during
/// one `render` call on one thread, which is why the unchecked `Sendable` conformance is sound.
public final class JinjaNamespace: @unchecked Sendable, Equatable {
    var attributes: OrderedDict

    init(_ attributes: OrderedDict) { self.attributes = attributes }

    public static func == (lhs: JinjaNamespace, rhs: JinjaNamespace) -> Bool { lhs === rhs }
}

/// Arguments of a call: positional values and keyword values in call order.
struct Arguments {
    var positional: [JinjaValue] = []
    var keyword: [(String, JinjaValue)] = []

    /// The argument at `index`, or the keyword `name`, or `nil` when neither was given.
    func value(_ index: Int, _ name: String) -> JinjaValue? {
        if index < positional.count { return positional[index] }
        return keyword.first { $0.0 == name }?.1
    }
}

/// A callable value: a macro, a built-in (`range`, `namespace`...) or a bound method such as `loop.cycle`.
///
/// Closures capture interpreter state of a single render; see `JinjaNamespace` for why `Sendable` holds.
public final class JinjaFunction: @unchecked Sendable, Equatable {
    let name: String
    let body: (Arguments, Interpreter) throws(TemplateError) -> JinjaValue

    init(name: String, body: @escaping (Arguments, Interpreter) throws(TemplateError) -> JinjaValue) {
        self.name = name
        self.body = body
    }

    public static func == (lhs: JinjaFunction, rhs: JinjaFunction) -> Bool { lhs === rhs }
}
