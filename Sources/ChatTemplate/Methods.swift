/// Python methods templates call on values: `str` (`content.strip()`, `.split()`, `.startswith()`...), `dict`
/// (`.items()`, `.get()`...) and `list` (`.index()`, `.count()`). Methods that change a value (`append`, `pop`,
/// `update`...) fail, as they do in the immutable sandbox Hugging Face renders templates with.
enum Methods {
    private static let stringMethods: Set<String> = [
        "startswith", "endswith", "strip", "lstrip", "rstrip", "split", "rsplit", "splitlines", "upper", "lower",
        "casefold", "title", "capitalize", "replace", "format", "join", "find", "rfind", "index", "count",
        "isdigit", "isnumeric", "isdecimal", "isalpha", "isalnum", "isspace", "isupper", "islower", "istitle",
        "center", "ljust", "rjust", "zfill", "removeprefix", "removesuffix", "swapcase",
    ]
    private static let dictMethods: Set<String> = ["items", "keys", "values", "get", "copy"]
    private static let listMethods: Set<String> = ["index", "count", "copy"]
    private static let mutatingMethods: Set<String> = [
        "append", "extend", "insert", "pop", "remove", "sort", "reverse", "clear", "update", "setdefault",
        "popitem",
    ]

    static func isMethod(_ base: JinjaValue, _ name: String) -> Bool {
        switch base {
        case .string: return stringMethods.contains(name)
        case .object: return dictMethods.contains(name) || mutatingMethods.contains(name)
        case .array: return listMethods.contains(name) || mutatingMethods.contains(name)
        default: return false
        }
    }

    /// The method as a value (`f = s.upper`), for the rare template that does not call it on the spot.
    static func bound(_ base: JinjaValue, _ name: String) -> JinjaValue {
        .function(JinjaFunction(name: name) { args, interpreter throws(TemplateError) in
            guard let result = try call(base, name, args, interpreter) else {
                throw TemplateError(.unsupported, "'\(base.typeName)' has no method '\(name)'", line: interpreter.line)
            }
            return result
        })
    }

    /// Calls `base.name(args)`; nil when `base` has no such method (then `name` may be a dict item holding a
    /// function).
    static func call(_ base: JinjaValue, _ name: String, _ args: Arguments, _ interpreter: Interpreter)
        throws(TemplateError) -> JinjaValue?
    {
        switch base {
        case .string(let s):
            guard stringMethods.contains(name) else { return nil }
            return try stringMethod(s, name, args, interpreter)
        case .object(let dict):
            if mutatingMethods.contains(name) { throw immutable(name, base, interpreter) }
            guard dictMethods.contains(name) else { return nil }
            switch name {
            case "items": return .array(dict.map { .array([.string($0.key), $0.value]) })
            case "keys": return .array(dict.keys.map { .string($0) })
            case "values": return .array(dict.values)
            case "copy": return base
            default:
                guard let key = args.value(0, "key") else {
                    throw TemplateError(.runtime, "dict.get() needs a key", line: interpreter.line)
                }
                let fallback = args.value(1, "default") ?? .none
                guard case .string(let k) = key else { return fallback }
                return dict[k] ?? fallback
            }
        case .array(let items):
            if mutatingMethods.contains(name) { throw immutable(name, base, interpreter) }
            guard listMethods.contains(name) else { return nil }
            switch name {
            case "copy": return base
            case "count":
                guard let x = args.value(0, "value") else { throw missing("list.count", "value", interpreter) }
                return .int(items.filter { Operators.equal($0, x) }.count)
            default:
                guard let x = args.value(0, "value") else { throw missing("list.index", "value", interpreter) }
                guard let i = items.firstIndex(where: { Operators.equal($0, x) }) else {
                    throw TemplateError(.runtime, "\(PyFormat.repr(x)) is not in list", line: interpreter.line)
                }
                return .int(i)
            }
        default:
            return nil
        }
    }

    private static func immutable(_ name: String, _ base: JinjaValue, _ interpreter: Interpreter) -> TemplateError {
        TemplateError(.unsupported, "'\(base.typeName).\(name)()' changes a value, which chat templates may not do "
                        + "(use namespace() or a new list instead)", line: interpreter.line)
    }

    private static func missing(_ method: String, _ parameter: String, _ interpreter: Interpreter) -> TemplateError {
        TemplateError(.runtime, "\(method)() missing argument '\(parameter)'", line: interpreter.line)
    }

    static func stringArgument(_ v: JinjaValue?, _ what: String, _ interpreter: Interpreter) throws(TemplateError)
        -> String?
    {
        switch v {
        case nil, .none?: return nil
        case .string(let s)?: return s
        case let other?:
            throw TemplateError(.runtime, "\(what) must be a string, not \(other.typeName)", line: interpreter.line)
        }
    }

    static func intArgument(_ v: JinjaValue?, _ what: String, _ interpreter: Interpreter) throws(TemplateError)
        -> Int?
    {
        switch v {
        case nil, .none?: return nil
        case .int(let i)?: return i
        case .bool(let b)?: return b ? 1 : 0
        case let other?:
            throw TemplateError(.runtime, "\(what) must be an integer, not \(other.typeName)", line: interpreter.line)
        }
    }

    /// `str.isupper()`: has a cased character and no lowercase one.
    static func isUpper(_ s: String) -> Bool {
        s.unicodeScalars.contains { $0.properties.isCased } && !s.unicodeScalars.contains { $0.properties.isLowercase }
    }

    /// `str.islower()`: has a cased character and no uppercase one.
    static func isLower(_ s: String) -> Bool {
        s.unicodeScalars.contains { $0.properties.isCased } && !s.unicodeScalars.contains { $0.properties.isUppercase }
    }

    private static func allScalars(_ s: String, _ test: (Unicode.Scalar) -> Bool) -> Bool {
        !s.isEmpty && s.unicodeScalars.allSatisfy(test)
    }

    /// `str.center`/`ljust`/`rjust`: `left`/`right` say on which sides padding goes.
    static func pad(_ s: String, width rawWidth: Int, fill: String, left: Bool, right: Bool) -> String {
        let width = min(rawWidth, PyText.maxWidth)
        let n = PyText.length(s)
        guard width > n else { return s }
        let total = width - n
        // Python's center() puts the odd padding character on the left only when both total and width are odd.
        let leftCount = left && right ? total / 2 + (total & width & 1) : left ? total : 0
        let rightCount = total - leftCount
        return String(repeating: fill, count: leftCount) + s + String(repeating: fill, count: rightCount)
    }

    private static func stringMethod(_ s: String, _ name: String, _ args: Arguments, _ interpreter: Interpreter)
        throws(TemplateError) -> JinjaValue
    {
        switch name {
        case "startswith", "endswith":
            guard let prefix = args.value(0, "prefix") else { throw missing("str.\(name)", "prefix", interpreter) }
            let candidates: [JinjaValue]
            if case .array(let list) = prefix { candidates = list } else { candidates = [prefix] }
            for candidate in candidates {
                guard case .string(let p) = candidate else {
                    throw TemplateError(.runtime, "\(name) first arg must be str or a tuple of str, not "
                                            + candidate.typeName, line: interpreter.line)
                }
                if name == "startswith" ? PyText.hasPrefix(s, p) : PyText.hasSuffix(s, p) { return .bool(true) }
            }
            return .bool(false)
        case "strip", "lstrip", "rstrip":
            let chars = try stringArgument(args.value(0, "chars"), "strip chars", interpreter)
            return .string(PyText.strip(s, chars: chars, left: name != "rstrip", right: name != "lstrip"))
        case "split", "rsplit":
            let sep = try stringArgument(args.value(0, "sep"), "separator", interpreter)
            let maxSplit = try intArgument(args.value(1, "maxsplit"), "maxsplit", interpreter) ?? -1
            if name == "rsplit" && maxSplit >= 0 {
                let all = try PyText.split(s, sep: sep, maxSplit: -1)
                guard all.count - 1 > maxSplit else { return .array(all.map { .string($0) }) }
                let keep = all.count - maxSplit
                let joined = all[0..<keep].joined(separator: sep ?? " ")
                return .array(([joined] + all[keep...]).map { .string($0) })
            }
            return .array(try PyText.split(s, sep: sep, maxSplit: maxSplit).map { .string($0) })
        case "splitlines": return .array(PyText.splitLines(s).map { .string($0) })
        case "upper": return .string(PyText.upper(s))
        case "lower", "casefold": return .string(PyText.lower(s))
        case "swapcase":
            return .string(s.unicodeScalars.map { c in
                c.properties.isUppercase ? c.properties.lowercaseMapping
                    : c.properties.isLowercase ? c.properties.uppercaseMapping : String(c)
            }.joined())
        case "title": return .string(PyText.title(s))
        case "capitalize": return .string(PyText.capitalize(s))
        case "replace":
            guard let old = try stringArgument(args.value(0, "old"), "replace() old", interpreter),
                let new = try stringArgument(args.value(1, "new"), "replace() new", interpreter)
            else { throw missing("str.replace", "old/new", interpreter) }
            let count = try intArgument(args.value(2, "count"), "count", interpreter) ?? -1
            try RenderLimits.checkReplace(s, old, new, count: count)
            return .string(PyText.replace(s, old, new, count: count))
        case "format": return .string(try format(s, args, interpreter))
        case "join":
            guard let iterable = args.value(0, "iterable") else { throw missing("str.join", "iterable", interpreter) }
            var parts: [String] = []
            for item in try interpreter.iterate(iterable) {
                guard case .string(let p) = item else {
                    throw TemplateError(.runtime, "str.join() expected str items, found \(item.typeName)",
                                        line: interpreter.line)
                }
                parts.append(p)
            }
            try RenderLimits.checkJoin(parts, separator: s)
            return .string(parts.joined(separator: s))
        case "find", "index":
            guard let sub = try stringArgument(args.value(0, "sub"), "substring", interpreter) else {
                throw missing("str.\(name)", "sub", interpreter)
            }
            let at = PyText.index(s, sub)
            if at < 0 && name == "index" { throw TemplateError(.runtime, "substring not found", line: interpreter.line) }
            return .int(at)
        case "rfind":
            guard let sub = try stringArgument(args.value(0, "sub"), "substring", interpreter) else {
                throw missing("str.rfind", "sub", interpreter)
            }
            let reversedAt = PyText.index(String(String.UnicodeScalarView(s.unicodeScalars.reversed())),
                                          String(String.UnicodeScalarView(sub.unicodeScalars.reversed())))
            return .int(reversedAt < 0 ? -1 : PyText.length(s) - reversedAt - PyText.length(sub))
        case "count":
            guard let sub = try stringArgument(args.value(0, "sub"), "substring", interpreter) else {
                throw missing("str.count", "sub", interpreter)
            }
            return .int(PyText.count(s, sub))
        case "isdigit", "isnumeric", "isdecimal":
            return .bool(allScalars(s) { $0.properties.numericType != nil })
        case "isalpha": return .bool(allScalars(s) { $0.properties.isAlphabetic })
        case "isalnum":
            return .bool(allScalars(s) { $0.properties.isAlphabetic || $0.properties.numericType != nil })
        case "isspace": return .bool(allScalars(s, PyText.isWhitespace))
        case "isupper": return .bool(isUpper(s))
        case "islower": return .bool(isLower(s))
        case "istitle": return .bool(!s.isEmpty && PyText.title(s) == s)
        case "center", "ljust", "rjust", "zfill":
            guard let width = try intArgument(args.value(0, "width"), "width", interpreter) else {
                throw missing("str.\(name)", "width", interpreter)
            }
            if name == "zfill" {
                let width = min(width, PyText.maxWidth)
                let n = PyText.length(s)
                guard width > n else { return .string(s) }
                var body = s
                var sign = ""
                if body.hasPrefix("-") || body.hasPrefix("+") { sign = String(body.removeFirst()) }
                return .string(sign + String(repeating: "0", count: width - n) + body)
            }
            let fill = try stringArgument(args.value(1, "fillchar"), "fill character", interpreter) ?? " "
            return .string(pad(s, width: width, fill: fill, left: name != "ljust", right: name != "rjust"))
        case "removeprefix":
            let p = try stringArgument(args.value(0, "prefix"), "prefix", interpreter) ?? ""
            return .string(PyText.hasPrefix(s, p) ? String(decoding: s.utf8.dropFirst(p.utf8.count), as: UTF8.self) : s)
        case "removesuffix":
            let p = try stringArgument(args.value(0, "suffix"), "suffix", interpreter) ?? ""
            guard !p.isEmpty, PyText.hasSuffix(s, p) else { return .string(s) }
            return .string(String(decoding: s.utf8.dropLast(p.utf8.count), as: UTF8.self))
        default:
            throw TemplateError(.unsupported, "str.\(name)() is not supported", line: interpreter.line)
        }
    }

    /// `str.format`: `{}`, `{0}`, `{name}`, optional `!r`/`!s`; format specs other than empty are unsupported.
    private static func format(_ s: String, _ args: Arguments, _ interpreter: Interpreter) throws(TemplateError)
        -> String
    {
        var out = ""
        var scalars = s.unicodeScalars[...]
        var auto = 0
        while let c = scalars.popFirst() {
            if c == "}" {
                guard scalars.first == "}" else {
                    throw TemplateError(.runtime, "str.format: single '}' in format string", line: interpreter.line)
                }
                scalars.removeFirst()
                out += "}"
                continue
            }
            guard c == "{" else { out.unicodeScalars.append(c); continue }
            if scalars.first == "{" { scalars.removeFirst(); out += "{"; continue }
            var field = String.UnicodeScalarView()
            var closed = false
            while let f = scalars.popFirst() {
                if f == "}" { closed = true; break }
                field.append(f)
            }
            guard closed else {
                throw TemplateError(.runtime, "str.format: unclosed '{' in format string", line: interpreter.line)
            }
            var spec = String(field)
            var conversion: Character?
            if let bang = spec.firstIndex(of: "!") {
                conversion = spec[spec.index(after: bang)...].first
                spec = String(spec[..<bang])
            }
            if spec.contains(":") {
                throw TemplateError(.unsupported, "str.format: format specs ('{\(field)}') are not supported",
                                    line: interpreter.line)
            }
            let value: JinjaValue?
            if spec.isEmpty {
                value = auto < args.positional.count ? args.positional[auto] : nil
                auto += 1
            } else if let i = Int(spec) {
                value = i < args.positional.count ? args.positional[i] : nil
            } else {
                value = args.keyword.first { $0.0 == spec }?.1
            }
            guard let value else {
                throw TemplateError(.runtime, "str.format: no argument for '{\(field)}'", line: interpreter.line)
            }
            out += conversion == "r" ? PyFormat.repr(value) : PyFormat.str(value)
        }
        return out
    }
}
