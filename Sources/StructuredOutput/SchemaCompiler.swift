/// JSON types as a bit set. `number` always includes `integer`, so intersecting two masks is a bitwise AND.
struct TypeMask: OptionSet, Sendable {
    let rawValue: UInt8
    static let null = TypeMask(rawValue: 1)
    static let boolean = TypeMask(rawValue: 2)
    static let integer = TypeMask(rawValue: 4)
    static let number = TypeMask(rawValue: 8)
    static let string = TypeMask(rawValue: 16)
    static let array = TypeMask(rawValue: 32)
    static let object = TypeMask(rawValue: 64)
    static let all: TypeMask = [.null, .boolean, .integer, .number, .string, .array, .object]

    init(rawValue: UInt8) {
        self.rawValue = rawValue
    }

    init?(name: String) {
        switch name {
        case "null": self = .null
        case "boolean": self = .boolean
        case "integer": self = .integer
        case "number": self = [.number, .integer]
        case "string": self = .string
        case "array": self = .array
        case "object": self = .object
        default: return nil
        }
    }
}

/// An object's constraints before compilation. A name's schema is `props[i]`; other names get `additional` (nil:
/// forbidden).
struct RawObject {
    var names: [String] = []
    var props: [Int] = []
    var required: [String] = []
    var additional: Int?
    /// `additionalProperties` was not written: `ConstraintOptions.closeObjectsWithProperties` decides, once all
    /// `allOf` parts are merged (closing each part on its own could contradict another part's `required`).
    var implicitAdditional = false

    func schema(for name: String) -> Int? {
        if let i = names.firstIndex(of: name) { return props[i] }
        return additional
    }
}

struct RawArray {
    var items: Int
    var minItems: Int = 0
    var maxItems: Int = Int.max
}

/// A number's bounds: inclusive integer bounds (`exclusiveMinimum`/`exclusiveMaximum` and fractional bounds already
/// rounded in) for integers, and the same bounds as decimals, each open or closed, for other numbers.
struct RawRange: Equatable {
    var lo: Int64 = Int64.min
    var hi: Int64 = Int64.max
    var decimal = DecimalRange()

    func meeting(_ other: RawRange?) -> RawRange {
        guard let other else { return self }
        return RawRange(lo: max(lo, other.lo), hi: min(hi, other.hi), decimal: decimal.meeting(other.decimal))
    }
}

/// A string's length bounds, in Unicode code points (as JSON Schema counts them), and the automaton its text must
/// match (`pattern`, or a `format` as its regular expression).
struct RawString: Equatable {
    var minLength: Int = 0
    var maxLength: Int = Int.max
    var dfa: ByteDFA?
    /// Two automata met (an `allOf` of two patterns): not combined yet.
    var conflicting = false

    /// Both at once (an `allOf` of two string schemas).
    func meeting(_ other: RawString?) -> RawString {
        guard let other else { return self }
        var both = RawString(minLength: max(minLength, other.minLength), maxLength: min(maxLength, other.maxLength),
                             dfa: dfa ?? other.dfa, conflicting: conflicting || other.conflicting)
        if let a = dfa, let b = other.dfa, a != b { both.conflicting = true }
        return both
    }

    /// Whether `text` meets the bounds and the automaton.
    func admits(_ text: String) -> Bool {
        let length = text.unicodeScalars.count
        guard length >= minLength && length <= maxLength else { return false }
        return dfa.map { $0.matches(text) } ?? true
    }
}

/// A schema node in the compiler's graph. `any`/`never` are the nodes 0 and 1; `$ref` becomes `alias`, `allOf` and a
/// schema's sibling keywords become `intersection`, resolved lazily so that recursive schemas compile.
enum RawNode {
    case placeholder
    case never
    case typed(TypeMask, RawObject?, RawArray?, RawString?, RawRange?)
    case literals([JSONValue])
    case union([Int])
    case intersection([Int])
    case alias(Int)
}

/// What a node allows once references and intersections are resolved.
enum NormalNode {
    case never
    case typed(TypeMask, RawObject?, RawArray?, RawString?, RawRange?)
    case literals([JSONValue])
    case union([Int])
}

/// Options that shape the grammar beyond what the schema says. Every choice narrows the output, never widens it, so
/// the result always validates against the schema.
public struct ConstraintOptions: Sendable {
    /// Longest run of whitespace (space, newline, tab, CR) allowed between tokens; 0 emits compact JSON. Runs are
    /// capped so a model cannot loop on whitespace.
    public var maxWhitespaceRun: Int
    /// When an object schema lists `properties` but does not mention `additionalProperties`, forbid other keys (as
    /// OpenAI's strict mode does) instead of allowing any key; models then fill in the declared keys only.
    public var closeObjectsWithProperties: Bool
    /// Objects write their declared properties in the order the schema lists them (optional ones may be skipped),
    /// as llama.cpp's schema grammars do. Tool calls use it so that a call's `name` comes before its `arguments`
    /// and can be streamed first.
    public var declaredPropertyOrder: Bool
    /// Literal text around the value (tool-call tags), or nil for a bare value.
    public var framing: ValueFraming?
    /// Drop the keywords the grammar cannot enforce (recording them in `Grammar.ignoredKeywords`) instead of
    /// refusing the schema: for tool schemas, which clients send without having written them. The output then
    /// follows the rest of the schema.
    public var ignoreUnenforceable: Bool

    public init(maxWhitespaceRun: Int = 16, closeObjectsWithProperties: Bool = true,
                declaredPropertyOrder: Bool = false, framing: ValueFraming? = nil, ignoreUnenforceable: Bool = false) {
        self.maxWhitespaceRun = maxWhitespaceRun
        self.closeObjectsWithProperties = closeObjectsWithProperties
        self.declaredPropertyOrder = declaredPropertyOrder
        self.framing = framing
        self.ignoreUnenforceable = ignoreUnenforceable
    }
}

/// Literal text around the constrained value, and how many values may follow each other: Hermes-style tool calls
/// are `<tool_call>\n{...}\n</tool_call>`, and parallel calls repeat the block. The output is
/// `prefix value suffix (separator value suffix)*` with at most `maxValues` values; it is complete after a suffix.
public struct ValueFraming: Sendable, Equatable {
    public var prefix: [UInt8]
    /// Not empty: it is what tells the value's end from the text after it.
    public var suffix: [UInt8]
    public var separator: [UInt8]
    public var maxValues: Int

    public init(prefix: String, suffix: String, separator: String, maxValues: Int) {
        self.prefix = Array(prefix.utf8)
        self.suffix = Array(suffix.utf8)
        self.separator = Array(separator.utf8)
        self.maxValues = max(1, maxValues)
    }
}

/// Turns a JSON Schema document into the node graph (`RawNode`), rejecting keywords that change validity and that
/// the grammar cannot enforce.
struct SchemaCompiler {
    static let anyNode = 0
    static let neverNode = 1

    /// Keywords that constrain values in ways this grammar does not enforce: refusing them keeps the promise that
    /// every output validates.
    static let unsupported: Set<String> = [
        "multipleOf", "patternProperties", "propertyNames", "minProperties", "maxProperties", "dependencies",
        "dependentRequired", "dependentSchemas", "not", "if", "then", "else", "contains", "minContains",
        "maxContains", "prefixItems", "unevaluatedProperties", "unevaluatedItems", "$dynamicRef", "$recursiveRef",
        "contentSchema",
    ]
    static let objectKeywords: Set<String> = ["properties", "required", "additionalProperties"]
    static let arrayKeywords: Set<String> = ["items", "minItems", "maxItems"]
    static let stringKeywords: Set<String> = ["minLength", "maxLength", "format", "pattern"]
    static let numberKeywords: Set<String> = ["minimum", "maximum", "exclusiveMinimum", "exclusiveMaximum"]

    let document: JSONValue
    let options: ConstraintOptions
    var nodes: [RawNode]
    /// `oneOf` branches, generated as a union: sound only when no value matches two of them, which
    /// `Normalizer.checkExclusive` verifies once references resolve.
    var exclusiveGroups: [(alternatives: [Int], path: String)] = []
    /// With `ignoreUnenforceable`: the keywords dropped, as "keyword at path".
    var ignored: [String] = []
    private var refMemo: [String: Int] = [:]

    init(document: JSONValue, options: ConstraintOptions) {
        self.document = document
        self.options = options
        nodes = [.typed(.all, RawObject(additional: SchemaCompiler.anyNode), RawArray(items: SchemaCompiler.anyNode), nil, nil),
                 .never]
    }

    mutating func add(_ node: RawNode) -> Int {
        nodes.append(node)
        return nodes.count - 1
    }

    /// Compiles the document's root.
    mutating func compileRoot() throws(ConstraintError) -> Int {
        try compileRef("#", at: "#")
    }

    /// The node for a local JSON pointer, compiled once (the id exists before the body, so cycles terminate).
    private mutating func compileRef(_ ref: String, at path: String) throws(ConstraintError) -> Int {
        if let id = refMemo[ref] { return id }
        guard ref == "#" || ref.hasPrefix("#/") else {
            throw ConstraintError("only local $ref values (\"#/$defs/...\") are supported; got \"\(ref)\" at \(path)")
        }
        var target = document
        if ref != "#" {
            for raw in ref.dropFirst(2).split(separator: "/", omittingEmptySubsequences: false) {
                let token = (raw.removingPercentEncodingLite ?? String(raw))
                    .replacing("~1", with: "/").replacing("~0", with: "~")
                switch target {
                case .object: target = target[token] ?? .null
                case .array(let items): target = Int(token).flatMap { items.indices.contains($0) ? items[$0] : nil } ?? .null
                default: target = .null
                }
                if case .null = target {
                    throw ConstraintError("$ref \"\(ref)\" at \(path) does not point into the schema")
                }
            }
        }
        let id = add(.placeholder)
        refMemo[ref] = id
        nodes[id] = .alias(try compile(target, path: ref))
        return id
    }

    private mutating func compile(_ schema: JSONValue, path: String) throws(ConstraintError) -> Int {
        switch schema {
        case .bool(true): return SchemaCompiler.anyNode
        case .bool(false): return SchemaCompiler.neverNode
        case .object: break
        default: throw ConstraintError("schema at \(path) must be an object or a boolean, not \(schema.typeName)")
        }
        guard case .object(let members) = schema else { return SchemaCompiler.neverNode }
        if options.ignoreUnenforceable {
            let kept = members.filter { !isUnenforceable($0.key, $0.value, in: schema) }
            if kept.count < members.count {
                for (key, value) in members where isUnenforceable(key, value, in: schema) {
                    ignored.append("\(key) at \(path)")
                }
                return try compile(.object(kept), path: path)
            }
        }
        for (key, value) in members {
            if SchemaCompiler.unsupported.contains(key) {
                throw ConstraintError("unsupported JSON Schema keyword '\(key)' at \(path); remove it from the schema")
            }
            if key == "uniqueItems", case .bool(true) = value {
                throw ConstraintError("unsupported JSON Schema keyword 'uniqueItems' at \(path); remove it from the schema")
            }
        }
        var parts: [Int] = []
        let keys = Set(members.map(\.key))
        let hasObject = !keys.isDisjoint(with: SchemaCompiler.objectKeywords)
        let hasArray = !keys.isDisjoint(with: SchemaCompiler.arrayKeywords)
        let hasString = !keys.isDisjoint(with: SchemaCompiler.stringKeywords)
        let hasBounds = !keys.isDisjoint(with: SchemaCompiler.numberKeywords)
        // type + object/array/string/number keywords: one typed node.
        if keys.contains("type") || hasObject || hasArray || hasString || hasBounds {
            var mask: TypeMask = []
            switch schema["type"] {
            case nil:
                // No "type": keywords that only constrain objects/arrays say what is meant; narrowing to those types
                // keeps outputs valid and sensible.
                if hasObject { mask.insert(.object) }
                if hasArray { mask.insert(.array) }
                if hasString { mask.insert(.string) }
                // Bounds alone constrain numbers only (other types pass them), so every type stays allowed.
                if mask.isEmpty { mask = .all }
            case .string(let name)?:
                guard let t = TypeMask(name: name) else { throw ConstraintError("unknown type \"\(name)\" at \(path)") }
                mask = t
            case .array(let names)?:
                for item in names {
                    guard case .string(let name) = item, let t = TypeMask(name: name) else {
                        throw ConstraintError("'type' at \(path) must list type names")
                    }
                    mask.formUnion(t)
                }
            default: throw ConstraintError("'type' at \(path) must be a string or an array of strings")
            }
            var object: RawObject?
            var array: RawArray?
            if mask.contains(.object) { object = try compileObject(schema, path: path) }
            if mask.contains(.array) { array = try compileArray(schema, path: path) }
            var string: RawString?
            if mask.contains(.string), hasString { string = try compileString(schema, path: path) }
            var range: RawRange?
            if mask.contains(.integer), hasBounds { range = try compileRange(schema, path: path) }
            parts.append(add(.typed(mask, object, array, string, range)))
        }
        if let values = schema["enum"] {
            guard case .array(let items) = values else { throw ConstraintError("'enum' at \(path) must be an array") }
            parts.append(add(.literals(items)))
        }
        if let value = schema["const"] { parts.append(add(.literals([value]))) }
        if let alternatives = schema["anyOf"] {
            guard case .array(let items) = alternatives, !items.isEmpty else {
                throw ConstraintError("'anyOf' at \(path) must be a non-empty array of schemas")
            }
            var ids: [Int] = []
            for (i, item) in items.enumerated() { ids.append(try compile(item, path: "\(path)/anyOf/\(i)")) }
            parts.append(add(.union(ids)))
        }
        if let alternatives = schema["oneOf"] {
            guard case .array(let items) = alternatives, !items.isEmpty else {
                throw ConstraintError("'oneOf' at \(path) must be a non-empty array of schemas")
            }
            var ids: [Int] = []
            for (i, item) in items.enumerated() { ids.append(try compile(item, path: "\(path)/oneOf/\(i)")) }
            exclusiveGroups.append((ids, path))
            parts.append(add(.union(ids)))
        }
        if let all = schema["allOf"] {
            guard case .array(let items) = all, !items.isEmpty else {
                throw ConstraintError("'allOf' at \(path) must be a non-empty array of schemas")
            }
            for (i, item) in items.enumerated() { parts.append(try compile(item, path: "\(path)/allOf/\(i)")) }
        }
        if let ref = schema["$ref"] {
            guard case .string(let target) = ref else { throw ConstraintError("'$ref' at \(path) must be a string") }
            parts.append(try compileRef(target, at: path))
        }
        switch parts.count {
        case 0: return SchemaCompiler.anyNode
        case 1: return parts[0]
        default: return add(.intersection(parts))
        }
    }

    private mutating func compileObject(_ schema: JSONValue, path: String) throws(ConstraintError) -> RawObject {
        var object = RawObject()
        if let properties = schema["properties"] {
            guard case .object(let members) = properties else {
                throw ConstraintError("'properties' at \(path) must be an object")
            }
            var seen = Set<String>()
            for (name, _) in members.reversed() where seen.insert(name).inserted {}
            for (name, _) in members where seen.remove(name) != nil {
                object.names.append(name)
                object.props.append(try compile(properties[name]!, path: "\(path)/properties/\(name)"))
            }
        }
        if let required = schema["required"] {
            guard case .array(let items) = required else { throw ConstraintError("'required' at \(path) must be an array") }
            for item in items {
                guard case .string(let name) = item else {
                    throw ConstraintError("'required' at \(path) must list property names")
                }
                if !object.required.contains(name) { object.required.append(name) }
            }
        }
        switch schema["additionalProperties"] {
        case nil:
            object.additional = SchemaCompiler.anyNode
            object.implicitAdditional = true
        case .bool(let allowed)?:
            object.additional = allowed ? SchemaCompiler.anyNode : nil
        case let value?:
            object.additional = try compile(value, path: "\(path)/additionalProperties")
        }
        return object
    }

    /// Whether `key` is a keyword this grammar cannot enforce in `schema` (what a strict schema is refused for).
    private func isUnenforceable(_ key: String, _ value: JSONValue, in schema: JSONValue) -> Bool {
        if SchemaCompiler.unsupported.contains(key) { return true }
        switch key {
        case "uniqueItems": if case .bool(true) = value { return true } else { return false }
        case "format":
            guard case .string(let name) = value else { return true }
            // One automaton per string: beside a pattern, the format goes.
            return ByteDFA(format: name) == nil || schema["pattern"] != nil
        case "pattern":
            guard case .string(let pattern) = value else { return true }
            return (try? ByteDFA(pattern: pattern)) == nil

        default: return false
        }
    }

    /// `minimum`/`maximum` and both forms of the exclusive bounds (numbers in 2020-12, flags beside minimum/maximum
    /// in draft 4), as one inclusive integer range.
    private func compileRange(_ schema: JSONValue, path: String) throws(ConstraintError) -> RawRange {
        func number(_ key: String) throws(ConstraintError) -> Double? {
            guard let value = schema[key] else { return nil }
            if case .bool = value, key.hasPrefix("exclusive") { return nil }
            guard let d = value.doubleValue, d.isFinite else {
                throw ConstraintError("'\(key)' at \(path) must be a number")
            }
            return d
        }
        func clamp(_ d: Double) -> Int64 { Int64(max(-1e16, min(1e16, d))) }
        var range = RawRange()
        let exclusiveFlag = { (key: String) -> Bool in
            if case .bool(let flag)? = schema[key] { return flag }
            return false
        }
        if let m = try number("minimum") { range.lo = clamp(exclusiveFlag("exclusiveMinimum") ? m.rounded(.down) + 1 : m.rounded(.up)) }
        if let m = try number("maximum") { range.hi = clamp(exclusiveFlag("exclusiveMaximum") ? m.rounded(.up) - 1 : m.rounded(.down)) }
        if let m = try number("exclusiveMinimum") { range.lo = max(range.lo, clamp(m.rounded(.down) + 1)) }
        if let m = try number("exclusiveMaximum") { range.hi = min(range.hi, clamp(m.rounded(.up) - 1)) }
        var d = DecimalRange()
        if let m = try number("minimum") { d = d.meeting(DecimalRange(lo: m, loOpen: exclusiveFlag("exclusiveMinimum"))) }
        if let m = try number("maximum") { d = d.meeting(DecimalRange(hi: m, hiOpen: exclusiveFlag("exclusiveMaximum"))) }
        if let m = try number("exclusiveMinimum") { d = d.meeting(DecimalRange(lo: m, loOpen: true)) }
        if let m = try number("exclusiveMaximum") { d = d.meeting(DecimalRange(hi: m, hiOpen: true)) }
        range.decimal = d
        return range
    }

    /// `minLength`/`maxLength`: non-negative integers (very large values mean "unbounded").
    private func compileString(_ schema: JSONValue, path: String) throws(ConstraintError) -> RawString {
        func count(_ key: String) throws(ConstraintError) -> Int? {
            guard let value = schema[key] else { return nil }
            guard value.isIntegral, let d = value.doubleValue, d >= 0 else {
                throw ConstraintError("'\(key)' at \(path) must be a non-negative integer")
            }
            return d > 1e9 ? Int.max : Int(d)
        }
        var string = RawString()
        if let n = try count("minLength") { string.minLength = n }
        if let n = try count("maxLength") { string.maxLength = n }
        if let value = schema["format"] {
            guard case .string(let name) = value, let dfa = ByteDFA(format: name) else {
                throw ConstraintError("unsupported JSON Schema keyword 'format' (\(String(decoding: value.canonicalBytes, as: UTF8.self))) at \(path): the "
                    + "grammar enforces date, time, date-time, email, hostname, ipv4, uri and uuid; remove it from the schema")
            }
            string.dfa = dfa
        }
        if let value = schema["pattern"] {
            guard case .string(let pattern) = value else { throw ConstraintError("'pattern' at \(path) must be a string") }
            guard string.dfa == nil else {
                throw ConstraintError("'pattern' and 'format' together at \(path) are not supported; fold the format into "
                    + "the pattern")
            }
            do {
                string.dfa = try ByteDFA(pattern: pattern)
            } catch {
                throw ConstraintError("'pattern' at \(path): \(error.message)")
            }
        }
        return string
    }

    private mutating func compileArray(_ schema: JSONValue, path: String) throws(ConstraintError) -> RawArray {
        var array = RawArray(items: SchemaCompiler.anyNode)
        if let items = schema["items"] {
            if case .array = items {
                throw ConstraintError("tuple-form 'items' (an array of schemas) at \(path) is not supported; use one schema")
            }
            array.items = try compile(items, path: "\(path)/items")
        }
        func count(_ key: String) throws(ConstraintError) -> Int? {
            guard let value = schema[key] else { return nil }
            guard value.isIntegral, let d = value.doubleValue, d >= 0 else {
                throw ConstraintError("'\(key)' at \(path) must be a non-negative integer")
            }
            return d > 1e9 ? 1_000_000_000 : Int(d)
        }
        if let n = try count("minItems") { array.minItems = n }
        if let n = try count("maxItems") { array.maxItems = n }
        return array
    }
}

extension Substring {
    /// `%XX` decoding for JSON pointers in URI fragments.
    var removingPercentEncodingLite: String? {
        guard contains("%") else { return String(self) }
        var out: [UInt8] = []
        var bytes = Array(utf8)[...]
        while let b = bytes.popFirst() {
            if b == UInt8(ascii: "%"), bytes.count >= 2,
               let v = UInt8(String(decoding: bytes.prefix(2), as: UTF8.self), radix: 16) {
                out.append(v)
                bytes = bytes.dropFirst(2)
            } else {
                out.append(b)
            }
        }
        return String(validating: out, as: UTF8.self)
    }
}

/// Resolves aliases and intersections into `NormalNode`s, creating intersection nodes on demand (memoized by the set
/// of nodes they intersect, so recursive schemas terminate).
struct Normalizer {
    var compiler: SchemaCompiler
    private(set) var normal: [Int: NormalNode] = [:]
    private var inProgress = Set<Int>()
    private var intersections: [[Int]: Int] = [:]

    init(compiler: SchemaCompiler) {
        self.compiler = compiler
    }

    mutating func intersect(_ ids: [Int]) -> Int {
        var set = Array(Set(ids.filter { $0 != SchemaCompiler.anyNode })).sorted()
        if set.contains(SchemaCompiler.neverNode) { return SchemaCompiler.neverNode }
        if set.isEmpty { return SchemaCompiler.anyNode }
        if set.count == 1 { return set[0] }
        if let id = intersections[set] { return id }
        let id = compiler.add(.intersection(set))
        intersections[set] = id
        set.removeAll()
        return id
    }

    mutating func normalize(_ id: Int) -> NormalNode {
        if let n = normal[id] { return n }
        // Re-entered while resolving itself (a `$ref` cycle with no structure in between): allows nothing.
        guard inProgress.insert(id).inserted else { return .never }
        defer { inProgress.remove(id) }
        let result: NormalNode
        switch compiler.nodes[id] {
        case .placeholder, .never: result = .never
        case .typed(let mask, let o, let a, let s, let r): result = .typed(mask, o, a, s, r)
        case .literals(let values):
            // Same text, same value (a large enum must not cost quadratic time; `1` vs `1.0` may both stay).
            var seen = Set<[UInt8]>()
            let unique = values.filter { seen.insert($0.canonicalBytes).inserted }
            result = unique.isEmpty ? .never : .literals(unique)
        case .alias(let target): result = normalize(target)
        case .union(let alternatives): result = normalizeUnion(alternatives)
        case .intersection(let parts):
            result = meet(parts[0], parts.count == 2 ? parts[1] : intersect(Array(parts.dropFirst())))
        }
        normal[id] = result
        return result
    }

    /// A union with nested unions flattened, impossible branches dropped, and literal branches merged into one (minus
    /// values another branch already allows), so that fewer branches overlap on their first byte.
    private mutating func normalizeUnion(_ alternatives: [Int]) -> NormalNode {
        var flat: [Int] = []
        var pending = alternatives
        var visited = Set<Int>()
        while !pending.isEmpty {
            let id = pending.removeFirst()
            guard visited.insert(id).inserted else { continue }
            switch normalize(id) {
            case .never: continue
            case .union(let inner): pending.insert(contentsOf: inner, at: 0)
            default: flat.append(id)
            }
        }
        var literals: [JSONValue] = []
        var others: [Int] = []
        for id in flat {
            if case .literals(let values) = normalize(id) { literals += values } else { others.append(id) }
        }
        literals = literals.filter { v in !others.contains { matches(v, $0) } }
        if !literals.isEmpty { others.append(compiler.add(.literals(literals))) }
        switch others.count {
        case 0: return .never
        case 1: return normalize(others[0])
        default: return .union(others)
        }
    }

    /// The intersection of two nodes.
    private mutating func meet(_ a: Int, _ b: Int) -> NormalNode {
        let na = normalize(a), nb = normalize(b)
        switch (na, nb) {
        case (.never, _), (_, .never): return .never
        case (.union(let alts), _): return normalizeUnion(alts.map { intersect([$0, b]) })
        case (_, .union(let alts)): return normalizeUnion(alts.map { intersect([a, $0]) })
        case (.literals(let v), .literals(let w)):
            let kept = v.filter { x in w.contains { $0.jsonEquals(x) } }
            return kept.isEmpty ? .never : .literals(kept)
        case (.literals(let v), _):
            let kept = v.filter { matches($0, b) }
            return kept.isEmpty ? .never : .literals(kept)
        case (_, .literals(let w)):
            let kept = w.filter { matches($0, a) }
            return kept.isEmpty ? .never : .literals(kept)
        case (.typed(let m1, let o1, let a1, let s1, let r1), .typed(let m2, let o2, let a2, let s2, let r2)):
            let mask = m1.intersection(m2)
            var object: RawObject?
            var array: RawArray?
            if mask.contains(.object), let o1, let o2 {
                var o = RawObject()
                o.names = o1.names + o2.names.filter { !o1.names.contains($0) }
                for name in o.names {
                    if let p = o1.schema(for: name), let q = o2.schema(for: name) {
                        o.props.append(intersect([p, q]))
                    } else {
                        o.props.append(SchemaCompiler.neverNode)
                    }
                }
                o.required = o1.required + o2.required.filter { !o1.required.contains($0) }
                if let p = o1.additional, let q = o2.additional { o.additional = intersect([p, q]) }
                o.implicitAdditional = o1.implicitAdditional && o2.implicitAdditional
                object = o
            }
            if mask.contains(.array), let a1, let a2 {
                array = RawArray(items: intersect([a1.items, a2.items]), minItems: max(a1.minItems, a2.minItems),
                                 maxItems: min(a1.maxItems, a2.maxItems))
            }
            let string = mask.contains(.string) ? (s1?.meeting(s2) ?? s2) : nil
            let range = mask.contains(.integer) ? (r1?.meeting(r2) ?? r2) : nil
            return mask.isEmpty ? .never : .typed(mask, object, array, string, range)
        }
    }

    /// `oneOf` is generated as a union of its branches, which keeps the "exactly one" promise only when no value can
    /// match two branches. Checked on the resolved branches: different JSON types, or literal values no other branch
    /// accepts. Overlapping branches (two object shapes, say) are refused, since the grammar cannot enforce them.
    mutating func checkExclusive() throws(ConstraintError) {
        for (alternatives, path) in compiler.exclusiveGroups {
            for i in alternatives.indices {
                for j in alternatives.indices where j > i && !disjoint(alternatives[i], alternatives[j]) {
                    if compiler.options.ignoreUnenforceable {
                        // Generated as anyOf: a value may match both branches.
                        compiler.ignored.append("oneOf at \(path) (overlapping branches, enforced as anyOf)")
                        continue
                    }
                    throw ConstraintError(
                        "'oneOf' at \(path): branches \(i) and \(j) can both match one value, and the grammar can only "
                            + "enforce oneOf whose branches differ in JSON type or literal values; use anyOf if either may match")
                }
            }
        }
    }

    /// Whether no value matches both nodes (conservative: false when unsure).
    private mutating func disjoint(_ a: Int, _ b: Int) -> Bool {
        switch (normalize(a), normalize(b)) {
        case (.never, _), (_, .never): return true
        case (.literals(let values), _): return !values.contains { matches($0, b) }
        case (_, .literals(let values)): return !values.contains { matches($0, a) }
        case (.union(let alts), _): return alts.allSatisfy { disjoint($0, b) }
        case (_, .union(let alts)): return alts.allSatisfy { disjoint(a, $0) }
        case (.typed(let m1, _, _, _, _), .typed(let m2, _, _, _, _)): return m1.intersection(m2).isEmpty
        }
    }

    /// Whether a JSON value satisfies a node (used to filter `enum`/`const` values by their sibling keywords).
    mutating func matches(_ value: JSONValue, _ id: Int) -> Bool {
        switch normalize(id) {
        case .never: return false
        case .union(let alts): return alts.contains { matches(value, $0) }
        case .literals(let values): return values.contains { $0.jsonEquals(value) }
        case .typed(let mask, let object, let array, let string, let range):
            switch value {
            case .null: return mask.contains(.null)
            case .bool: return mask.contains(.boolean)
            case .number:
                if mask.contains(.number) { return true }
                guard mask.contains(.integer), value.isIntegral else { return false }
                guard let range, let d = value.doubleValue else { return true }
                return d >= Double(range.lo) && d <= Double(range.hi)
            case .string(let text):
                guard mask.contains(.string) else { return false }
                return string?.admits(text) ?? true
            case .array(let items):
                guard mask.contains(.array), let array, items.count >= array.minItems, items.count <= array.maxItems
                else { return false }
                return items.allSatisfy { matches($0, array.items) }
            case .object(let members):
                guard mask.contains(.object), let object else { return false }
                for key in Set(members.map(\.key)) {
                    guard let schema = object.schema(for: key), matches(value[key]!, schema) else { return false }
                }
                return object.required.allSatisfy { key in members.contains { $0.key == key } }
            }
        }
    }
}
