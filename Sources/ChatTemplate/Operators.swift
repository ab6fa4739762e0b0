import Foundation

/// Python semantics for the operators templates use: `bool` counts as an integer, `int op int` stays an integer
/// except for `/`, `//` and `%` floor toward negative infinity, `+` joins strings and lists, `*` repeats them.
/// Python integers never overflow; here an overflow is an error rather than a wrong answer.
enum Operators {
    private enum Number {
        case int(Int)
        case double(Double)
    }

    private static func number(_ v: JinjaValue) -> Number? {
        switch v {
        case .int(let i): return .int(i)
        case .bool(let b): return .int(b ? 1 : 0)
        case .double(let d): return .double(d)
        default: return nil
        }
    }

    private static func asDouble(_ n: Number) -> Double {
        switch n {
        case .int(let i): return Double(i)
        case .double(let d): return d
        }
    }

    static func typeError(_ op: String, _ a: JinjaValue, _ b: JinjaValue) -> TemplateError {
        if a.isUndefined || b.isUndefined {
            return TemplateError(.runtime, "an undefined value was used with '\(op)'", line: nil)
        }
        return TemplateError(
            .runtime, "unsupported operand type(s) for \(op): '\(a.typeName)' and '\(b.typeName)'", line: nil)
    }

    private static func overflow(_ op: String) -> TemplateError {
        TemplateError(.runtime, "integer overflow in '\(op)'", line: nil)
    }

    static func binary(_ op: BinaryOperator, _ a: JinjaValue, _ b: JinjaValue) throws(TemplateError) -> JinjaValue {
        if let x = number(a), let y = number(b) { return try arithmetic(op, x, y) }
        switch (op, a, b) {
        case (.add, .string(let x), .string(let y)):
            try RenderLimits.checkString(bytes: x.utf8.count + y.utf8.count, "'+' of two strings")
            return .string(x + y)
        case (.add, .array(let x), .array(let y)):
            try RenderLimits.checkList(count: x.count + y.count, "'+' of two lists")
            return .array(x + y)
        case (.multiply, .string, _), (.multiply, _, .string), (.multiply, .array, _), (.multiply, _, .array):
            return try repeatSequence(a, b)
        case (.modulo, .string(let format), _): return .string(try PyFormat.percent(format, b))
        default: throw typeError(op.rawValue, a, b)
        }
    }

    private static func repeatSequence(_ a: JinjaValue, _ b: JinjaValue) throws(TemplateError) -> JinjaValue {
        let (sequence, countValue) = (number(a) == nil) ? (a, b) : (b, a)
        guard case .int(let rawCount)? = number(countValue) else { throw typeError("*", a, b) }
        let count = max(0, rawCount)
        switch sequence {
        case .string(let s):
            let size = count.multipliedReportingOverflow(by: max(1, s.utf8.count))
            guard !size.overflow else { throw TemplateError(.runtime, "string repetition result is too large", line: nil) }
            try RenderLimits.checkString(bytes: size.partialValue, "string repetition")
            return .string(String(repeating: s, count: count))
        case .array(let items):
            let size = count.multipliedReportingOverflow(by: max(1, items.count))
            guard !size.overflow else { throw TemplateError(.runtime, "list repetition result is too large", line: nil) }
            try RenderLimits.checkList(count: size.partialValue, "list repetition")
            var out: [JinjaValue] = []
            for _ in 0..<count { out += items }
            return .array(out)
        default: throw typeError("*", a, b)
        }
    }

    private static func arithmetic(_ op: BinaryOperator, _ x: Number, _ y: Number) throws(TemplateError) -> JinjaValue
    {
        if case .int(let i) = x, case .int(let j) = y {
            switch op {
            case .add:
                let r = i.addingReportingOverflow(j)
                if r.overflow { throw overflow("+") }
                return .int(r.partialValue)
            case .subtract:
                let r = i.subtractingReportingOverflow(j)
                if r.overflow { throw overflow("-") }
                return .int(r.partialValue)
            case .multiply:
                let r = i.multipliedReportingOverflow(by: j)
                if r.overflow { throw overflow("*") }
                return .int(r.partialValue)
            case .divide:
                guard j != 0 else { throw TemplateError(.runtime, "division by zero", line: nil) }
                return .double(Double(i) / Double(j))
            case .floorDivide:
                guard j != 0 else { throw TemplateError(.runtime, "integer division by zero", line: nil) }
                if i == .min && j == -1 { throw overflow("//") }
                let q = i / j
                return .int((i % j != 0 && (i < 0) != (j < 0)) ? q - 1 : q)
            case .modulo:
                guard j != 0 else { throw TemplateError(.runtime, "integer modulo by zero", line: nil) }
                if j == -1 { return .int(0) }
                let r = i % j
                return .int((r != 0 && (r < 0) != (j < 0)) ? r + j : r)
            case .power:
                if j < 0 { return .double(pow(Double(i), Double(j))) }
                var result = 1
                var base = i
                var e = j
                while e > 0 {
                    if e & 1 == 1 {
                        let r = result.multipliedReportingOverflow(by: base)
                        if r.overflow { throw overflow("**") }
                        result = r.partialValue
                    }
                    e >>= 1
                    if e > 0 {
                        let r = base.multipliedReportingOverflow(by: base)
                        if r.overflow { throw overflow("**") }
                        base = r.partialValue
                    }
                }
                return .int(result)
            }
        }
        let a = asDouble(x)
        let b = asDouble(y)
        switch op {
        case .add: return .double(a + b)
        case .subtract: return .double(a - b)
        case .multiply: return .double(a * b)
        case .divide:
            guard b != 0 else { throw TemplateError(.runtime, "float division by zero", line: nil) }
            return .double(a / b)
        case .floorDivide:
            guard b != 0 else { throw TemplateError(.runtime, "float floor division by zero", line: nil) }
            return .double((a / b).rounded(.down))
        case .modulo:
            guard b != 0 else { throw TemplateError(.runtime, "float modulo by zero", line: nil) }
            var r = fmod(a, b)
            if r != 0 && (r < 0) != (b < 0) { r += b }
            return .double(r)
        case .power:
            if a < 0 && b != b.rounded() {
                throw TemplateError(.runtime, "negative number raised to a fractional power", line: nil)
            }
            return .double(pow(a, b))
        }
    }

    static func negate(_ v: JinjaValue) throws(TemplateError) -> JinjaValue {
        switch number(v) {
        case .int(let i)?:
            if i == .min { throw overflow("-") }
            return .int(-i)
        case .double(let d)?: return .double(-d)
        case nil:
            throw TemplateError(.runtime, "bad operand type for unary -: '\(v.typeName)'", line: nil)
        }
    }

    static func plus(_ v: JinjaValue) throws(TemplateError) -> JinjaValue {
        switch number(v) {
        case .int(let i)?: return .int(i)
        case .double(let d)?: return .double(d)
        case nil: throw TemplateError(.runtime, "bad operand type for unary +: '\(v.typeName)'", line: nil)
        }
    }

    // MARK: comparison

    /// Python `==`. Jinja's undefined equals only another undefined.
    static func equal(_ a: JinjaValue, _ b: JinjaValue) -> Bool {
        if let x = number(a), let y = number(b) {
            switch (x, y) {
            case (.int(let i), .int(let j)): return i == j
            default: return asDouble(x) == asDouble(y)
            }
        }
        switch (a, b) {
        case (.undefined, .undefined), (.none, .none): return true
        case (.string(let x), .string(let y)): return PyText.equal(x, y)
        case (.array(let x), .array(let y)):
            return x.count == y.count && zip(x, y).allSatisfy { equal($0, $1) }
        case (.object(let x), .object(let y)):
            guard x.count == y.count else { return false }
            for (key, value) in x {
                guard let other = y[key], equal(value, other) else { return false }
            }
            return true
        case (.namespace(let x), .namespace(let y)): return x === y
        case (.function(let x), .function(let y)): return x === y
        default: return false
        }
    }

    /// Python `<` (and, by swapping, the other orderings): numbers, strings by code point, lists element-wise.
    static func less(_ a: JinjaValue, _ b: JinjaValue, op: String) throws(TemplateError) -> Bool {
        if let x = number(a), let y = number(b) {
            switch (x, y) {
            case (.int(let i), .int(let j)): return i < j
            default: return asDouble(x) < asDouble(y)
            }
        }
        switch (a, b) {
        case (.string(let x), .string(let y)): return PyText.less(x, y)
        case (.array(let x), .array(let y)):
            for (p, q) in zip(x, y) where !equal(p, q) { return try less(p, q, op: op) }
            return x.count < y.count
        default:
            throw TemplateError(
                .runtime, "'\(op)' not supported between instances of '\(a.typeName)' and '\(b.typeName)'", line: nil)
        }
    }

    static func compare(_ op: CompareOperator, _ a: JinjaValue, _ b: JinjaValue) throws(TemplateError) -> Bool {
        switch op {
        case .equal: return equal(a, b)
        case .notEqual: return !equal(a, b)
        case .less: return try less(a, b, op: "<")
        case .greater: return try less(b, a, op: ">")
        case .lessEqual: return try !less(b, a, op: "<=")
        case .greaterEqual: return try !less(a, b, op: ">=")
        case .contains: return try contains(b, a)
        case .notContains: return try !contains(b, a)
        }
    }

    /// Python `item in container`.
    static func contains(_ container: JinjaValue, _ item: JinjaValue) throws(TemplateError) -> Bool {
        switch container {
        case .string(let s):
            guard case .string(let needle) = item else {
                throw TemplateError(
                    .runtime, "'in <string>' requires string as left operand, not \(item.typeName)", line: nil)
            }
            return PyText.contains(s, needle)
        case .array(let items): return items.contains { equal($0, item) }
        case .object(let dict):
            guard case .string(let key) = item else { return false }
            return dict[key] != nil
        case .undefined: return false
        default:
            throw TemplateError(.runtime, "argument of type '\(container.typeName)' is not iterable", line: nil)
        }
    }
}
