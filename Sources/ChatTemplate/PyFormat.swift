import Foundation

/// Text forms of values exactly as Python writes them: `str()`, `repr()`, `json.dumps()`, `%` formatting.
///
/// Templates print lists and dicts (`{{ tools }}`, `tools|string`) and JSON (`tojson`), and the model was trained
/// on Python's spelling of those, so the rules below follow CPython, not Swift.
enum PyFormat {
    // MARK: str / repr

    /// `str(value)`, what `{{ value }}` prints. Undefined prints as the empty string.
    static func str(_ value: JinjaValue) -> String {
        switch value {
        case .string(let s): return s
        case .undefined: return ""
        default:
            var out = ""
            repr(value, into: &out)
            return out
        }
    }

    static func repr(_ value: JinjaValue) -> String {
        var out = ""
        repr(value, into: &out)
        return out
    }

    static func repr(_ value: JinjaValue, into out: inout String, depth: Int = 0) {
        // A namespace can be stored inside itself; Python prints such a cycle as `...`.
        guard depth < 100 else { out += "..."; return }
        switch value {
        case .undefined: out += "Undefined"  // only reachable inside containers; `str()` prints it as ""
        case .none: out += "None"
        case .bool(let b): out += b ? "True" : "False"
        case .int(let i): out += String(i)
        case .double(let d): out += floatRepr(d)
        case .string(let s): out += stringRepr(s)
        case .array(let items):
            out += "["
            for (i, item) in items.enumerated() {
                if i > 0 { out += ", " }
                repr(item, into: &out, depth: depth + 1)
            }
            out += "]"
        case .object(let dict):
            out += "{"
            var first = true
            for (key, item) in dict {
                if !first { out += ", " }
                first = false
                out += stringRepr(key)
                out += ": "
                repr(item, into: &out, depth: depth + 1)
            }
            out += "}"
        case .namespace(let ns):
            out += "<Namespace "
            repr(.object(ns.attributes), into: &out, depth: depth + 1)
            out += ">"
        case .function(let f): out += "<function \(f.name)>"
        }
    }

    /// `repr(str)`: single quotes unless the text has a single quote and no double quote; non-printable code points
    /// escaped as `\xNN`, `\uNNNN` or `\UNNNNNNNN`.
    static func stringRepr(_ s: String) -> String {
        let hasSingle = s.utf8.contains(UInt8(ascii: "'"))
        let hasDouble = s.utf8.contains(UInt8(ascii: "\""))
        let quote: Unicode.Scalar = hasSingle && !hasDouble ? "\"" : "'"
        var out = String.UnicodeScalarView()
        out.append(quote)
        for c in s.unicodeScalars {
            switch c {
            case quote, "\\":
                out.append("\\")
                out.append(c)
            case "\n": out.append(contentsOf: "\\n".unicodeScalars)
            case "\r": out.append(contentsOf: "\\r".unicodeScalars)
            case "\t": out.append(contentsOf: "\\t".unicodeScalars)
            default:
                if isPrintable(c) {
                    out.append(c)
                } else if c.value < 0x100 {
                    out.append(contentsOf: ("\\x" + hex(c.value, width: 2)).unicodeScalars)
                } else if c.value < 0x10000 {
                    out.append(contentsOf: ("\\u" + hex(c.value, width: 4)).unicodeScalars)
                } else {
                    out.append(contentsOf: ("\\U" + hex(c.value, width: 8)).unicodeScalars)
                }
            }
        }
        out.append(quote)
        return String(out)
    }

    /// `str.isprintable()` for one code point: not in the Unicode "Other" or "Separator" categories, except space.
    static func isPrintable(_ c: Unicode.Scalar) -> Bool {
        if c == " " { return true }
        if c.value < 0x7F { return c.value >= 0x20 }
        switch c.properties.generalCategory {
        case .control, .format, .surrogate, .privateUse, .unassigned, .spaceSeparator, .lineSeparator,
            .paragraphSeparator:
            return false
        default:
            return true
        }
    }

    static func hex(_ v: UInt32, width: Int) -> String {
        let digits = String(v, radix: 16)
        return String(repeating: "0", count: max(0, width - digits.count)) + digits
    }

    /// `repr(float)`: the shortest digits that round-trip, in fixed notation when the decimal exponent is in
    /// [-4, 16), otherwise as `d.ddde+XX`.
    static func floatRepr(_ d: Double) -> String {
        if d.isNaN { return "nan" }
        if d.isInfinite { return d < 0 ? "-inf" : "inf" }
        if d == 0 { return d.sign == .minus ? "-0.0" : "0.0" }
        let (negative, digits, exponent) = shortestDigits(d)
        var out = negative ? "-" : ""
        if exponent < -4 || exponent >= 16 {
            out += String(digits.first!)
            if digits.count > 1 { out += "." + digits.dropFirst() }
            out += exponent < 0 ? "e-" : "e+"
            let e = String(abs(exponent))
            out += e.count < 2 ? "0" + e : e
        } else if exponent >= 0 {
            let intCount = exponent + 1
            if digits.count <= intCount {
                out += digits + String(repeating: "0", count: intCount - digits.count) + ".0"
            } else {
                out += digits.prefix(intCount) + "." + digits.dropFirst(intCount)
            }
        } else {
            out += "0." + String(repeating: "0", count: -exponent - 1) + digits
        }
        return out
    }

    /// The shortest round-trip significant digits of a finite non-zero double and the decimal exponent of the
    /// first digit, taken from Swift's `description` (which is also shortest round-trip).
    private static func shortestDigits(_ d: Double) -> (Bool, String, Int) {
        var text = Substring(d.magnitude.description)
        var exponent = 0
        if let e = text.firstIndex(where: { $0 == "e" || $0 == "E" }) {
            exponent = Int(text[text.index(after: e)...]) ?? 0
            text = text[..<e]
        }
        var intPart = text
        var fracPart: Substring = ""
        if let dot = text.firstIndex(of: ".") {
            intPart = text[..<dot]
            fracPart = text[text.index(after: dot)...]
        }
        var all = String(intPart) + fracPart
        var pointPos = intPart.count + exponent
        while all.first == "0" {
            all.removeFirst()
            pointPos -= 1
        }
        while all.last == "0" { all.removeLast() }
        if all.isEmpty { all = "0" }
        return (d < 0, all, pointPos - 1)
    }

    // MARK: JSON

    struct JSONOptions {
        var indent: String? = nil
        var itemSeparator: String = ", "
        var keySeparator: String = ": "
        var sortKeys = false
        var ensureASCII = false
    }

    /// `json.dumps(value, ...)` as Hugging Face's `tojson` filter calls it.
    static func json(_ value: JinjaValue, _ options: JSONOptions) throws(TemplateError) -> String {
        var out = ""
        try json(value, options, level: 0, into: &out)
        return out
    }

    private static func json(_ value: JinjaValue, _ o: JSONOptions, level: Int, into out: inout String)
        throws(TemplateError)
    {
        guard level < 512 else { throw TemplateError(.runtime, "tojson: value nested too deeply", line: nil) }
        switch value {
        case .none: out += "null"
        case .bool(let b): out += b ? "true" : "false"
        case .int(let i): out += String(i)
        case .double(let d):
            if d.isNaN { out += "NaN" } else if d.isInfinite { out += d < 0 ? "-Infinity" : "Infinity" } else {
                out += floatRepr(d)
            }
        case .string(let s): jsonString(s, ensureASCII: o.ensureASCII, into: &out)
        case .array(let items):
            if items.isEmpty { out += "[]"; return }
            out += "["
            for (i, item) in items.enumerated() {
                if i > 0 { out += o.itemSeparator }
                newline(o, level + 1, into: &out)
                try json(item, o, level: level + 1, into: &out)
            }
            newline(o, level, into: &out)
            out += "]"
        case .object(let dict):
            if dict.isEmpty { out += "{}"; return }
            out += "{"
            let keys = o.sortKeys ? dict.keys.sorted(by: PyText.less) : dict.keys
            for (i, key) in keys.enumerated() {
                if i > 0 { out += o.itemSeparator }
                newline(o, level + 1, into: &out)
                jsonString(key, ensureASCII: o.ensureASCII, into: &out)
                out += o.keySeparator
                try json(dict[key]!, o, level: level + 1, into: &out)
            }
            newline(o, level, into: &out)
            out += "}"
        case .undefined, .namespace, .function:
            throw TemplateError(.runtime, "Object of type \(value.typeName) is not JSON serializable", line: nil)
        }
    }

    private static func newline(_ o: JSONOptions, _ level: Int, into out: inout String) {
        guard let indent = o.indent else { return }
        out += "\n"
        for _ in 0..<level { out += indent }
    }

    static func jsonString(_ s: String, ensureASCII: Bool, into out: inout String) {
        out += "\""
        for c in s.unicodeScalars {
            switch c {
            case "\"": out += "\\\""
            case "\\": out += "\\\\"
            case "\n": out += "\\n"
            case "\r": out += "\\r"
            case "\t": out += "\\t"
            case "\u{08}": out += "\\b"
            case "\u{0C}": out += "\\f"
            default:
                if c.value < 0x20 {
                    out += "\\u" + hex(c.value, width: 4)
                } else if ensureASCII && c.value > 0x7E {
                    if c.value >= 0x10000 {
                        let v = c.value - 0x10000
                        out += "\\u" + hex(0xD800 + (v >> 10), width: 4) + "\\u" + hex(0xDC00 + (v & 0x3FF), width: 4)
                    } else {
                        out += "\\u" + hex(c.value, width: 4)
                    }
                } else {
                    out.unicodeScalars.append(c)
                }
            }
        }
        out += "\""
    }

    // MARK: printf-style `%`

    /// `format % args` for the conversions templates use: `%s %r %d %i %f %F %x %X %o %e %g %%` with flags,
    /// width and precision.
    static func percent(_ format: String, _ args: JinjaValue) throws(TemplateError) -> String {
        var values: [JinjaValue]
        var mapping: OrderedDict?
        switch args {
        case .array(let a): values = a
        case .object(let d): values = [args]; mapping = d
        default: values = [args]
        }
        var out = ""
        var next = 0
        var scalars = Array(format.unicodeScalars)[...]
        func fail(_ m: String) -> TemplateError { TemplateError(.runtime, "string formatting: \(m)", line: nil) }
        while let c = scalars.popFirst() {
            guard c == "%" else { out.unicodeScalars.append(c); continue }
            var key: String?
            if scalars.first == "(" {
                scalars.removeFirst()
                var name = String.UnicodeScalarView()
                while let k = scalars.popFirst(), k != ")" { name.append(k) }
                key = String(name)
            }
            var flags = Set<Unicode.Scalar>()
            while let f = scalars.first, "-+ 0#".unicodeScalars.contains(f) { flags.insert(f); scalars.removeFirst() }
            var width = 0
            while let d = scalars.first, let v = Int(String(d)) {
                width = min(width * 10 + v, PyText.maxWidth)
                scalars.removeFirst()
            }
            var precision: Int?
            if scalars.first == "." {
                scalars.removeFirst()
                var p = 0
                while let d = scalars.first, let v = Int(String(d)) { p = min(p * 10 + v, PyText.maxWidth); scalars.removeFirst() }
                precision = p
            }
            guard let conv = scalars.popFirst() else { throw fail("incomplete format") }
            if conv == "%" { out += "%"; continue }
            let value: JinjaValue
            if let key {
                guard let m = mapping, let v = m[key] else { throw fail("missing key '\(key)'") }
                value = v
            } else {
                guard next < values.count else { throw fail("not enough arguments for format string") }
                value = values[next]
                next += 1
            }
            var body: String
            var numeric = false
            switch conv {
            case "s": body = str(value); if let p = precision { body = PyText.make(body.unicodeScalars.prefix(p)) }
            case "r": body = repr(value)
            case "d", "i", "x", "X", "o":
                numeric = true
                let n: Int
                switch value {
                case .int(let i): n = i
                case .bool(let b): n = b ? 1 : 0
                case .double(let d) where d.isFinite && abs(d) < 9.2e18: n = Int(d)
                default: throw fail("%\(conv) format: a number is required, not \(value.typeName)")
                }
                let radix = conv == "x" || conv == "X" ? 16 : conv == "o" ? 8 : 10
                body = String(n.magnitude, radix: radix, uppercase: conv == "X")
                if n < 0 { body = "-" + body } else if flags.contains("+") { body = "+" + body } else if flags
                    .contains(" ")
                { body = " " + body }
            case "f", "F", "e", "g":
                numeric = true
                let d: Double
                switch value {
                case .int(let i): d = Double(i)
                case .bool(let b): d = b ? 1 : 0
                case .double(let v): d = v
                default: throw fail("%\(conv) format: a number is required, not \(value.typeName)")
                }
                body = cFormat(d, conv: conv, precision: precision ?? 6)
                if d >= 0 && flags.contains("+") { body = "+" + body } else if d >= 0 && flags.contains(" ") {
                    body = " " + body
                }
            default:
                throw TemplateError(.unsupported, "string formatting: unsupported conversion %\(conv)", line: nil)
            }
            let pad = width - body.unicodeScalars.count
            if pad > 0 {
                if flags.contains("-") {
                    body += String(repeating: " ", count: pad)
                } else if flags.contains("0") && numeric {
                    let signed = body.first == "-" || body.first == "+" || body.first == " "
                    let sign = signed ? String(body.removeFirst()) : ""
                    body = sign + String(repeating: "0", count: pad) + body
                } else {
                    body = String(repeating: " ", count: pad) + body
                }
            }
            out += body
        }
        if mapping == nil && next < values.count {
            throw fail("not all arguments converted during string formatting")
        }
        return out
    }

    /// Fixed/exponent/general formatting of a double with C's rules (which Python's `%` follows).
    static func cFormat(_ d: Double, conv: Unicode.Scalar, precision: Int) -> String {
        if d.isNaN { return "nan" }
        if d.isInfinite { return d < 0 ? "-inf" : "inf" }
        let p = min(max(precision, 0), 60)
        let spec = "%." + String(p) + String(Character(conv == "F" ? "f" : conv))
        return withVaList([d]) { args in
            var buffer = [CChar](repeating: 0, count: 512)
            _ = vsnprintf(&buffer, buffer.count, spec, args)
            return String(cString: buffer)
        }
    }
}
