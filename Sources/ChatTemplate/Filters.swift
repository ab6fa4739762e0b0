import Foundation

/// Jinja's built-in filters (`value | name(args)`), with Hugging Face's `tojson` in place of Jinja's own (no HTML
/// escaping, `ensure_ascii=False`, key order kept, `indent` honoured).
extension Interpreter {
    /// Filters of Jinja left out on purpose; naming them gives a clearer error than "unknown filter".
    private static let unsupportedFilters: Set<String> = [
        "batch", "slice", "groupby", "pprint", "truncate", "wordwrap", "urlize", "urlencode", "xmlattr",
        "filesizeformat", "striptags", "forceescape", "random",
    ]

    func applyFilter(_ name: String, _ value: JinjaValue, _ args: Arguments, _ frame: Frame) throws(TemplateError)
        -> JinjaValue
    {
        switch name {
        case "default", "d":
            let fallback = args.value(0, "default_value") ?? .string("")
            let boolean = args.value(1, "boolean")?.isTruthy ?? false
            if value.isUndefined || (boolean && !value.isTruthy) { return fallback }
            return value
        case "length", "count":
            return .int(try length(value))
        case "string":
            return .string(PyFormat.str(value))
        case "safe":
            return value
        case "escape", "e":
            return .string(htmlEscape(PyFormat.str(value)))
        case "trim":
            let chars = try Methods.stringArgument(args.value(0, "chars"), "trim chars", self)
            return .string(PyText.strip(PyFormat.str(value), chars: chars, left: true, right: true))
        case "upper": return .string(PyText.upper(PyFormat.str(value)))
        case "lower": return .string(PyText.lower(PyFormat.str(value)))
        case "capitalize": return .string(PyText.capitalize(PyFormat.str(value)))
        case "title": return .string(PyText.jinjaTitle(PyFormat.str(value)))
        case "replace":
            let s = PyFormat.str(value)
            guard let old = args.value(0, "old"), let new = args.value(1, "new") else {
                throw TemplateError(.runtime, "replace filter needs 'old' and 'new'", line: line)
            }
            let count = try Methods.intArgument(args.value(2, "count"), "count", self) ?? -1
            try RenderLimits.checkReplace(s, PyFormat.str(old), PyFormat.str(new), count: count)
            return .string(PyText.replace(s, PyFormat.str(old), PyFormat.str(new), count: count))
        case "indent": return .string(try indent(PyFormat.str(value), args))
        case "center":
            let width = try Methods.intArgument(args.value(0, "width"), "width", self) ?? 80
            return .string(Methods.pad(PyFormat.str(value), width: width, fill: " ", left: true, right: true))
        case "wordcount":
            var count = 0
            var inWord = false
            for c in PyFormat.str(value).unicodeScalars {
                let word = c == "_" || c.properties.isAlphabetic || c.properties.numericType != nil
                if word && !inWord { count += 1 }
                inWord = word
            }
            return .int(count)
        case "format":
            let s = PyFormat.str(value)
            if !args.keyword.isEmpty { return .string(try PyFormat.percent(s, .object(OrderedDict(args.keyword)))) }
            return .string(try PyFormat.percent(s, .array(args.positional)))
        case "tojson": return .string(try toJSON(value, args))
        case "items":
            switch value {
            case .undefined: return .array([])
            case .object(let dict): return .array(dict.map { .array([.string($0.key), $0.value]) })
            default: throw TemplateError(.runtime, "items filter: can only get item pairs from a mapping", line: line)
            }
        case "list": return .array(try iterate(value))
        case "first":
            switch value {
            case .undefined: return .undefined
            default: return try iterate(value).first ?? .undefined
            }
        case "last":
            switch value {
            case .undefined: return .undefined
            default: return try iterate(value).last ?? .undefined
            }
        case "reverse":
            if case .string(let s) = value { return .string(String(String.UnicodeScalarView(s.unicodeScalars.reversed()))) }
            return .array(try iterate(value).reversed())
        case "join":
            let separator = PyFormat.str(args.value(0, "d") ?? .string(""))
            var items = try iterate(value)
            if let attribute = args.value(1, "attribute") { items = items.map { lookupPath($0, attribute) } }
            let parts = items.map(PyFormat.str)
            try RenderLimits.checkJoin(parts, separator: separator)
            return .string(parts.joined(separator: separator))
        case "int": return try toInt(value, args)
        case "float": return try toFloat(value, args)
        case "abs":
            switch value {
            case .int(let i):
                guard i != .min else { throw TemplateError(.runtime, "integer overflow in abs", line: line) }
                return .int(abs(i))
            case .bool(let b): return .int(b ? 1 : 0)
            case .double(let d): return .double(abs(d))
            default: throw TemplateError(.runtime, "bad operand type for abs(): '\(value.typeName)'", line: line)
            }
        case "round": return try round(value, args)
        case "attr":
            let attributeName = PyFormat.str(args.value(0, "name") ?? .string(""))
            if case .object = value, !Methods.isMethod(value, attributeName) { return .undefined }
            return value.isUndefined ? .undefined : attribute(value, attributeName)
        case "map": return .array(try map(value, args, frame))
        case "select", "reject":
            let keep = name == "select"
            var kept: [JinjaValue] = []
            for item in try iterate(value) where try selectTest(item, args, startingAt: 0, frame) == keep {
                kept.append(item)
            }
            return .array(kept)
        case "selectattr", "rejectattr":
            let keep = name == "selectattr"
            guard let attribute = args.value(0, "attribute") else {
                throw TemplateError(.runtime, "\(name) needs an attribute name", line: line)
            }
            var kept: [JinjaValue] = []
            for item in try iterate(value) {
                if try selectTest(lookupPath(item, attribute), args, startingAt: 1, frame) == keep { kept.append(item) }
            }
            return .array(kept)
        case "unique": return .array(try unique(value, args))
        case "sort": return .array(try sort(value, args))
        case "dictsort": return .array(try dictsort(value, args))
        case "sum":
            var items = try iterate(value)
            if let attribute = args.value(0, "attribute"), attribute != .none {
                items = items.map { lookupPath($0, attribute) }
            }
            var total = args.value(1, "start") ?? .int(0)
            for item in items { total = try Operators.binary(.add, total, item) }
            return total
        case "max", "min":
            var items = try iterate(value)
            if let attribute = args.value(1, "attribute"), attribute != .none {
                items = items.map { lookupPath($0, attribute) }
            }
            let caseSensitive = args.value(0, "case_sensitive")?.isTruthy ?? false
            guard var best = items.first else { return .undefined }
            for item in items.dropFirst() {
                let a = sortKey(item, caseSensitive: caseSensitive)
                let b = sortKey(best, caseSensitive: caseSensitive)
                if name == "max" ? try Operators.less(b, a, op: ">") : try Operators.less(a, b, op: "<") {
                    best = item
                }
            }
            return best
        default:
            if Interpreter.unsupportedFilters.contains(name) {
                throw TemplateError(.unsupported, "the '\(name)' filter is not supported", line: line)
            }
            throw TemplateError(.unsupported, "unknown filter '\(name)'", line: line)
        }
    }

    func length(_ value: JinjaValue) throws(TemplateError) -> Int {
        switch value {
        case .string(let s): return PyText.length(s)
        case .array(let a): return a.count
        case .object(let d): return d.count
        case .undefined: return 0
        default: throw TemplateError(.runtime, "object of type '\(value.typeName)' has no len()", line: line)
        }
    }

    private func htmlEscape(_ s: String) -> String {
        var out = ""
        for c in s.unicodeScalars {
            switch c {
            case "&": out += "&amp;"
            case "<": out += "&lt;"
            case ">": out += "&gt;"
            case "\"": out += "&#34;"
            case "'": out += "&#39;"
            default: out.unicodeScalars.append(c)
            }
        }
        return out
    }

    /// Jinja's `indent`: every line but the first (and blank lines unless `blank`) gets the indentation.
    private func indent(_ text: String, _ args: Arguments) throws(TemplateError) -> String {
        let indentation: String
        switch args.value(0, "width") {
        case .string(let s)?: indentation = s
        case let w?:
            let width = try Methods.intArgument(w, "width", self) ?? 4
            indentation = String(repeating: " ", count: min(max(0, width), PyText.maxWidth))
        case nil: indentation = "    "
        }
        let first = args.value(1, "first")?.isTruthy ?? false
        let blank = args.value(2, "blank")?.isTruthy ?? false
        var lines = PyText.splitLines(text + "\n")
        try RenderLimits.checkString(bytes: text.utf8.count + lines.count * indentation.utf8.count, "indent() result")
        var result: String
        if blank {
            result = lines.joined(separator: "\n" + indentation)
        } else {
            result = lines.isEmpty ? "" : lines.removeFirst()
            if !lines.isEmpty {
                result += "\n" + lines.map { $0.isEmpty ? $0 : indentation + $0 }.joined(separator: "\n")
            }
        }
        return first ? indentation + result : result
    }

    /// Hugging Face's `tojson(x, ensure_ascii=False, indent=None, separators=None, sort_keys=False)`.
    private func toJSON(_ value: JinjaValue, _ args: Arguments) throws(TemplateError) -> String {
        var options = PyFormat.JSONOptions()
        options.ensureASCII = args.value(0, "ensure_ascii")?.isTruthy ?? false
        switch args.value(1, "indent") {
        case nil, .none?: options.indent = nil
        case .string(let s)?: options.indent = s
        case let other?:
            let n = try Methods.intArgument(other, "tojson indent", self) ?? 0
            options.indent = String(repeating: " ", count: min(max(0, n), PyText.maxWidth))
        }
        if options.indent != nil { options.itemSeparator = "," }
        if let separators = args.value(2, "separators"), separators != .none {
            guard case .array(let pair) = separators, pair.count == 2, case .string(let item) = pair[0],
                case .string(let key) = pair[1]
            else {
                throw TemplateError(.runtime, "tojson separators must be a pair of strings", line: line)
            }
            options.itemSeparator = item
            options.keySeparator = key
        }
        options.sortKeys = args.value(3, "sort_keys")?.isTruthy ?? false
        do {
            return try PyFormat.json(value, options)
        } catch {
            throw TemplateError(error.kind, "tojson: " + error.message, line: line)
        }
    }

    private func toInt(_ value: JinjaValue, _ args: Arguments) throws(TemplateError) -> JinjaValue {
        let fallback = args.value(0, "default") ?? .int(0)
        let base = try Methods.intArgument(args.value(1, "base"), "base", self) ?? 10
        switch value {
        case .int: return value
        case .bool(let b): return .int(b ? 1 : 0)
        case .double(let d):
            guard d.isFinite, abs(d) < 9.2e18 else { return fallback }
            return .int(Int(d))
        case .string(let s):
            let text = PyText.strip(s, chars: nil, left: true, right: true).replacingOccurrences(of: "_", with: "")
            if let i = Int(text, radix: base) { return .int(i) }
            if let d = Double(text), d.isFinite, abs(d) < 9.2e18 { return .int(Int(d)) }
            return fallback
        case .undefined:
            throw TemplateError(.runtime, "an undefined value cannot be converted to int", line: line)
        default: return fallback
        }
    }

    private func toFloat(_ value: JinjaValue, _ args: Arguments) throws(TemplateError) -> JinjaValue {
        let fallback = args.value(0, "default") ?? .double(0)
        switch value {
        case .int(let i): return .double(Double(i))
        case .bool(let b): return .double(b ? 1 : 0)
        case .double: return value
        case .string(let s):
            let text = PyText.strip(s, chars: nil, left: true, right: true).replacingOccurrences(of: "_", with: "")
            switch text.lowercased() {
            case "inf", "+inf", "infinity", "+infinity": return .double(.infinity)
            case "-inf", "-infinity": return .double(-.infinity)
            case "nan", "+nan", "-nan": return .double(.nan)
            default: return Double(text).map { .double($0) } ?? fallback
            }
        case .undefined:
            throw TemplateError(.runtime, "an undefined value cannot be converted to float", line: line)
        default: return fallback
        }
    }

    /// `round(value, precision=0, method='common')`; "common" is Python's `round` (half to even).
    private func round(_ value: JinjaValue, _ args: Arguments) throws(TemplateError) -> JinjaValue {
        let precision = try Methods.intArgument(args.value(0, "precision"), "precision", self) ?? 0
        let method = PyFormat.str(args.value(1, "method") ?? .string("common"))
        let x: Double
        switch value {
        case .int(let i):
            if method == "common" { return .int(i) }
            x = Double(i)
        case .bool(let b): x = b ? 1 : 0
        case .double(let d): x = d
        default: throw TemplateError(.runtime, "round filter needs a number, not \(value.typeName)", line: line)
        }
        let scale = pow(10.0, Double(precision))
        switch method {
        case "common":
            // Python rounds the exact binary value half-to-even (round(2.675, 2) == 2.67); C's correctly rounded
            // "%.*f" does the same, where scaling by 10**precision first would not.
            guard precision >= 0, x.isFinite else { return .double((x * scale).rounded(.toNearestOrEven) / scale) }
            return .double(Double(PyFormat.cFormat(x, conv: "f", precision: precision)) ?? x)
        case "ceil": return .double((x * scale).rounded(.up) / scale)
        case "floor": return .double((x * scale).rounded(.down) / scale)
        default:
            throw TemplateError(.runtime, "round method must be 'common', 'ceil' or 'floor'", line: line)
        }
    }

    /// `item.a.b.0` as `selectattr`/`map(attribute=)`/`sort(attribute=)` resolve it: each part as an item first.
    func lookupPath(_ item: JinjaValue, _ path: JinjaValue) -> JinjaValue {
        if case .int = path { return self.item(item, path) }
        var current = item
        for part in PyFormat.str(path).split(separator: ".", omittingEmptySubsequences: false) {
            if current.isUndefined { return .undefined }
            if let i = Int(part) {
                current = self.item(current, .int(i))
            } else {
                current = self.item(current, .string(String(part)))
            }
        }
        return current
    }

    /// The test part of `select`/`reject`/`selectattr`/`rejectattr`: a test name at `startingAt` and its
    /// arguments after it, or plain truthiness when no test is named.
    private func selectTest(_ value: JinjaValue, _ args: Arguments, startingAt: Int, _ frame: Frame)
        throws(TemplateError) -> Bool
    {
        guard startingAt < args.positional.count else { return value.isTruthy }
        guard case .string(let testName) = args.positional[startingAt] else {
            throw TemplateError(.runtime, "the test name must be a string", line: line)
        }
        let testArgs = Arguments(positional: Array(args.positional.dropFirst(startingAt + 1)), keyword: [])
        return try applyTest(testName, value, testArgs, frame)
    }

    private func map(_ value: JinjaValue, _ args: Arguments, _ frame: Frame) throws(TemplateError) -> [JinjaValue] {
        let items = try iterate(value)
        if let attribute = args.keyword.first(where: { $0.0 == "attribute" })?.1 {
            let fallback = args.keyword.first { $0.0 == "default" }?.1
            return items.map { item in
                let v = lookupPath(item, attribute)
                if v.isUndefined, let fallback { return fallback }
                return v
            }
        }
        guard case .string(let filterName)? = args.positional.first else {
            throw TemplateError(.runtime, "map needs a filter name or attribute=", line: line)
        }
        let filterArgs = Arguments(positional: Array(args.positional.dropFirst()), keyword: args.keyword)
        var out: [JinjaValue] = []
        for item in items { out.append(try applyFilter(filterName, item, filterArgs, frame)) }
        return out
    }

    private func sortKey(_ v: JinjaValue, caseSensitive: Bool) -> JinjaValue {
        if !caseSensitive, case .string(let s) = v { return .string(PyText.lower(s)) }
        return v
    }

    private func unique(_ value: JinjaValue, _ args: Arguments) throws(TemplateError) -> [JinjaValue] {
        let caseSensitive = args.value(0, "case_sensitive")?.isTruthy ?? false
        let attribute = args.value(1, "attribute")
        var seen: [JinjaValue] = []
        var out: [JinjaValue] = []
        for item in try iterate(value) {
            let keyed = attribute.map { lookupPath(item, $0) } ?? item
            let key = sortKey(keyed, caseSensitive: caseSensitive)
            if !seen.contains(where: { Operators.equal($0, key) }) {
                seen.append(key)
                out.append(item)
            }
        }
        return out
    }

    /// Stable sort with Python ordering; a type mix that Python cannot order is an error.
    private func stableSort(_ items: [JinjaValue], reverse: Bool, key: (JinjaValue) -> JinjaValue)
        throws(TemplateError) -> [JinjaValue]
    {
        let keyed = items.enumerated().map { ($0.offset, key($0.element), $0.element) }
        var failure: TemplateError?
        let sorted = keyed.sorted { a, b in
            if failure != nil { return false }
            do throws(TemplateError) {
                if try Operators.less(a.1, b.1, op: "<") { return !reverse }
                if try Operators.less(b.1, a.1, op: "<") { return reverse }
            } catch {
                failure = error
                return false
            }
            return a.0 < b.0
        }
        if let failure { throw TemplateError(failure.kind, "sort: " + failure.message, line: line) }
        return sorted.map { $0.2 }
    }

    private func sort(_ value: JinjaValue, _ args: Arguments) throws(TemplateError) -> [JinjaValue] {
        let reverse = args.value(0, "reverse")?.isTruthy ?? false
        let caseSensitive = args.value(1, "case_sensitive")?.isTruthy ?? false
        let attributes: [JinjaValue]
        switch args.value(2, "attribute") {
        case nil, .none?: attributes = []
        case .string(let s)?: attributes = s.split(separator: ",").map { .string(String($0)) }
        case let other?: attributes = [other]
        }
        return try stableSort(try iterate(value), reverse: reverse) { item in
            if attributes.isEmpty { return sortKey(item, caseSensitive: caseSensitive) }
            if attributes.count == 1 { return sortKey(lookupPath(item, attributes[0]), caseSensitive: caseSensitive) }
            return .array(attributes.map { sortKey(lookupPath(item, $0), caseSensitive: caseSensitive) })
        }
    }

    private func dictsort(_ value: JinjaValue, _ args: Arguments) throws(TemplateError) -> [JinjaValue] {
        guard case .object(let dict) = value else {
            throw TemplateError(.runtime, "dictsort needs a dict, not \(value.typeName)", line: line)
        }
        let caseSensitive = args.value(0, "case_sensitive")?.isTruthy ?? false
        let byValue: Bool
        switch PyFormat.str(args.value(1, "by") ?? .string("key")) {
        case "key": byValue = false
        case "value": byValue = true
        default: throw TemplateError(.runtime, "dictsort: 'by' must be 'key' or 'value'", line: line)
        }
        let reverse = args.value(2, "reverse")?.isTruthy ?? false
        let pairs: [JinjaValue] = dict.map { .array([.string($0.key), $0.value]) }
        return try stableSort(pairs, reverse: reverse) { pair in
            guard case .array(let kv) = pair else { return pair }
            return sortKey(kv[byValue ? 1 : 0], caseSensitive: caseSensitive)
        }
    }
}
