/// Parsed template: statements (`Node`) containing expressions (`Expr`). Both are built once by `Parser` and then
/// walked by `Interpreter` on every render.

/// An expression with the line it starts on, for error messages.
struct Expr: Sendable {
    indirect enum Kind: Sendable {
        case literal(JinjaValue)
        case name(String)
        case list([Expr])
        /// A parenthesized tuple; Jinja tuples behave as lists here.
        case tuple([Expr])
        case dict([(Expr, Expr)])
        case attribute(Expr, String)
        case item(Expr, Expr)
        case slice(Expr, start: Expr?, stop: Expr?, step: Expr?)
        case call(Expr, CallArguments)
        case filter(Expr, name: String, CallArguments)
        case test(Expr, name: String, CallArguments, negated: Bool)
        case unary(UnaryOperator, Expr)
        case binary(BinaryOperator, Expr, Expr)
        case and(Expr, Expr)
        case or(Expr, Expr)
        case not(Expr)
        case compare(Expr, [(CompareOperator, Expr)])
        case conditional(condition: Expr, then: Expr, otherwise: Expr?)
        /// `a ~ b ~ c`: string concatenation of `str()` of each part.
        case concat([Expr])
    }

    let kind: Kind
    let line: Int

    init(_ kind: Kind, line: Int) {
        self.kind = kind
        self.line = line
    }

    /// The expression as the template spelled it, approximately; used to name undefined values in errors.
    var spelling: String {
        switch kind {
        case .name(let n): return n
        case .attribute(let base, let name): return base.spelling + "." + name
        case .item(let base, let index):
            if case .literal(let v) = index.kind { return base.spelling + "[" + PyFormat.repr(v) + "]" }
            return base.spelling + "[" + index.spelling + "]"
        case .call(let base, _): return base.spelling + "(...)"
        case .filter(let base, let name, _): return base.spelling + "|" + name
        case .literal(let v): return PyFormat.repr(v)
        default: return "expression"
        }
    }
}

struct CallArguments: Sendable {
    var positional: [Expr] = []
    var keyword: [(String, Expr)] = []
}

enum UnaryOperator: Sendable { case negate, plus }

enum BinaryOperator: String, Sendable {
    case add = "+", subtract = "-", multiply = "*", divide = "/", floorDivide = "//", modulo = "%", power = "**"
}

enum CompareOperator: String, Sendable {
    case equal = "==", notEqual = "!=", less = "<", lessEqual = "<=", greater = ">", greaterEqual = ">="
    case contains = "in", notContains = "not in"
}

/// Where `{% for %}` and `{% set %}` store values.
enum AssignTarget: Sendable {
    case name(String)
    /// `a, b` unpacking.
    case tuple([String])
    /// `ns.attr` on a namespace object.
    case attribute(String, String)
}

struct MacroParameter: Sendable {
    let name: String
    let defaultValue: Expr?
}

/// A statement or piece of output.
indirect enum Node: Sendable {
    case text(String)
    case output(Expr)
    case ifChain([(Expr, [Node])], otherwise: [Node], line: Int)
    case forLoop(ForLoop)
    case set(AssignTarget, Expr, line: Int)
    /// `{% set x | filters %}body{% endset %}`.
    case setBlock(AssignTarget, filters: [(String, CallArguments)], body: [Node], line: Int)
    case macro(Macro)
    /// `{% call(args) macro(...) %}body{% endcall %}`: calls the macro with `caller` bound to the body.
    case callBlock(call: Expr, callerParameters: [MacroParameter], body: [Node], line: Int)
    case filterBlock(filters: [(String, CallArguments)], body: [Node], line: Int)
    case with(assignments: [(String, Expr)], body: [Node], line: Int)
    case breakLoop(line: Int)
    case continueLoop(line: Int)
}

struct ForLoop: Sendable {
    let target: AssignTarget
    let iterable: Expr
    let condition: Expr?
    let body: [Node]
    let otherwise: [Node]
    let line: Int
}

struct Macro: Sendable {
    let name: String
    let parameters: [MacroParameter]
    let body: [Node]
    let line: Int
}
