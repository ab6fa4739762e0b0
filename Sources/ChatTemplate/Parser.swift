/// Builds the syntax tree from tokens, with Jinja2's grammar and operator precedence (lowest first): inline `if`,
/// `or`, `and`, `not`, comparisons and `in`, `+ -`, `~`, `* / // %`, `**`, unary `- +`, then postfix `.attr`,
/// `[item]`, calls, and filters/tests (`|f`, `is t`), which bind tighter than every binary operator.
struct Parser {
    private let tokens: [Token]
    private var index = 0
    private var loopDepth = 0
    private var nesting = 0
    private var blockDepth = 0
    private static let maxNesting = 100

    /// Tags of Jinja that this interpreter deliberately leaves out: chat templates are single files and never
    /// use them.
    private static let unsupportedTags: Set<String> = [
        "include", "extends", "block", "import", "from", "do", "autoescape", "trans", "pluralize", "endtrans",
        "debug", "print",
    ]

    init(tokens: [Token]) { self.tokens = tokens }

    mutating func parseTemplate() throws(TemplateError) -> [Node] {
        let (nodes, _) = try parseBody(until: [], opener: nil)
        return nodes
    }

    // MARK: token helpers

    private var current: Token { tokens[index] }

    private mutating func advance() -> Token {
        let t = tokens[index]
        if index < tokens.count - 1 { index += 1 }
        return t
    }

    private func isOp(_ op: String) -> Bool {
        if case .op(let o) = current.kind, o == op { return true }
        return false
    }

    private func isName(_ name: String) -> Bool {
        if case .name(let n) = current.kind, n == name { return true }
        return false
    }

    private func peekIsOp(_ op: String, offset: Int = 1) -> Bool {
        guard index + offset < tokens.count else { return false }
        if case .op(let o) = tokens[index + offset].kind, o == op { return true }
        return false
    }

    private mutating func skipOp(_ op: String) -> Bool {
        if isOp(op) { index += 1; return true }
        return false
    }

    private mutating func skipName(_ name: String) -> Bool {
        if isName(name) { index += 1; return true }
        return false
    }

    private func describe(_ t: Token) -> String {
        switch t.kind {
        case .text: return "text"
        case .variableBegin: return "'{{'"
        case .variableEnd: return "'}}'"
        case .blockBegin: return "'{%'"
        case .blockEnd: return "'%}'"
        case .name(let n): return "'\(n)'"
        case .string: return "a string"
        case .integer(let i): return "'\(i)'"
        case .float(let d): return "'\(d)'"
        case .op(let o): return "'\(o)'"
        case .end: return "the end of the template"
        }
    }

    private func unexpected(_ expected: String) -> TemplateError {
        .syntax("expected \(expected), found \(describe(current))", line: current.line)
    }

    private mutating func expectOp(_ op: String) throws(TemplateError) {
        guard skipOp(op) else { throw unexpected("'\(op)'") }
    }

    private mutating func expectName() throws(TemplateError) -> String {
        guard case .name(let n) = current.kind else { throw unexpected("a name") }
        index += 1
        return n
    }

    private mutating func expectBlockEnd(_ tag: String) throws(TemplateError) {
        guard case .blockEnd = current.kind else { throw unexpected("'%}' to close '\(tag)'") }
        index += 1
    }

    // MARK: statements

    /// Parses nodes until a block tag named in `until`, which is consumed (`{%` and the name) and returned.
    private mutating func parseBody(until endTags: Set<String>, opener: (String, Int)?) throws(TemplateError)
        -> ([Node], String)
    {
        blockDepth += 1
        defer { blockDepth -= 1 }
        if blockDepth > Parser.maxNesting, let opener {
            throw .syntax("blocks nested more than \(Parser.maxNesting) levels deep", line: opener.1)
        }
        var nodes: [Node] = []
        while true {
            let token = current
            switch token.kind {
            case .text(let s):
                index += 1
                nodes.append(.text(s))
            case .variableBegin:
                index += 1
                let expr = try parseTupleExpression()
                guard case .variableEnd = current.kind else { throw unexpected("'}}'") }
                index += 1
                nodes.append(.output(expr))
            case .blockBegin:
                index += 1
                guard case .name(let tag) = current.kind else { throw unexpected("a tag name") }
                if endTags.contains(tag) {
                    index += 1
                    return (nodes, tag)
                }
                if let opener, tag.hasPrefix("end") || tag == "elif" || tag == "else" {
                    let names = endTags.sorted().map { "'\($0)'" }.joined(separator: " or ")
                    throw .syntax("found '\(tag)' but '\(opener.0)' opened on line \(opener.1) is still open "
                                    + "(expected \(names))", line: token.line)
                }
                index += 1
                nodes.append(try parseStatement(tag, line: token.line))
            case .end:
                if let opener {
                    let names = endTags.sorted().map { "'\($0)'" }.joined(separator: " or ")
                    throw .syntax("'\(opener.0)' opened on line \(opener.1) is never closed (expected \(names))",
                                  line: token.line)
                }
                return (nodes, "")
            default:
                throw unexpected("text or a tag")
            }
        }
    }

    private mutating func parseStatement(_ tag: String, line: Int) throws(TemplateError) -> Node {
        switch tag {
        case "if": return try parseIf(line: line)
        case "for": return try parseFor(line: line)
        case "set": return try parseSet(line: line)
        case "macro": return try parseMacro(line: line)
        case "call": return try parseCallBlock(line: line)
        case "filter":
            let filters = try parseFilterChain()
            try expectBlockEnd("filter")
            let (body, _) = try parseBody(until: ["endfilter"], opener: ("filter", line))
            try expectBlockEnd("endfilter")
            return .filterBlock(filters: filters, body: body, line: line)
        case "with": return try parseWith(line: line)
        case "generation":
            // Hugging Face's extension marking assistant text for training masks; it renders its body unchanged.
            try expectBlockEnd("generation")
            let (body, _) = try parseBody(until: ["endgeneration"], opener: ("generation", line))
            try expectBlockEnd("endgeneration")
            return .filterBlock(filters: [], body: body, line: line)
        case "break", "continue":
            guard loopDepth > 0 else { throw .syntax("'\(tag)' outside of a for loop", line: line) }
            try expectBlockEnd(tag)
            return tag == "break" ? .breakLoop(line: line) : .continueLoop(line: line)
        default:
            if Parser.unsupportedTags.contains(tag) {
                throw .unsupported("the '\(tag)' tag is not supported in chat templates", line: line)
            }
            if tag.hasPrefix("end") || tag == "elif" || tag == "else" {
                throw .syntax("unexpected '\(tag)' (no open block it could close)", line: line)
            }
            throw .syntax("unknown tag '\(tag)'", line: line)
        }
    }

    private mutating func parseIf(line: Int) throws(TemplateError) -> Node {
        var branches: [(Expr, [Node])] = []
        var condition = try parseExpression()
        try expectBlockEnd("if")
        while true {
            let (body, tag) = try parseBody(until: ["elif", "else", "endif"], opener: ("if", line))
            branches.append((condition, body))
            switch tag {
            case "elif":
                condition = try parseExpression()
                try expectBlockEnd("elif")
            case "else":
                try expectBlockEnd("else")
                let (otherwise, _) = try parseBody(until: ["endif"], opener: ("if", line))
                try expectBlockEnd("endif")
                return .ifChain(branches, otherwise: otherwise, line: line)
            default:
                try expectBlockEnd("endif")
                return .ifChain(branches, otherwise: [], line: line)
            }
        }
    }

    private mutating func parseAssignTarget(allowAttribute: Bool) throws(TemplateError) -> AssignTarget {
        let parenthesized = skipOp("(")
        let first = try expectName()
        if allowAttribute, !parenthesized, skipOp(".") {
            return .attribute(first, try expectName())
        }
        var names = [first]
        var sawComma = false
        while skipOp(",") {
            sawComma = true
            if case .name = current.kind { names.append(try expectName()) } else { break }
        }
        if parenthesized { try expectOp(")") }
        return names.count == 1 && !sawComma && !parenthesized ? .name(first) : .tuple(names)
    }

    private mutating func parseFor(line: Int) throws(TemplateError) -> Node {
        let target = try parseAssignTarget(allowAttribute: false)
        guard skipName("in") else { throw unexpected("'in'") }
        let iterable = try parseTupleExpression(allowConditional: false)
        var condition: Expr?
        if skipName("if") { condition = try parseExpression() }
        if isName("recursive") { throw .unsupported("recursive for loops are not supported", line: line) }
        try expectBlockEnd("for")
        loopDepth += 1
        let (body, tag) = try parseBody(until: ["else", "endfor"], opener: ("for", line))
        loopDepth -= 1
        var otherwise: [Node] = []
        if tag == "else" {
            try expectBlockEnd("else")
            (otherwise, _) = try parseBody(until: ["endfor"], opener: ("for", line))
        }
        try expectBlockEnd("endfor")
        return .forLoop(ForLoop(target: target, iterable: iterable, condition: condition, body: body,
                                otherwise: otherwise, line: line))
    }

    private mutating func parseSet(line: Int) throws(TemplateError) -> Node {
        let target = try parseAssignTarget(allowAttribute: true)
        if skipOp("=") {
            let value = try parseTupleExpression()
            try expectBlockEnd("set")
            return .set(target, value, line: line)
        }
        var filters: [(String, CallArguments)] = []
        if skipOp("|") {
            index -= 1
            filters = try parseFilterChain()
        }
        try expectBlockEnd("set")
        let (body, _) = try parseBody(until: ["endset"], opener: ("set", line))
        try expectBlockEnd("endset")
        return .setBlock(target, filters: filters, body: body, line: line)
    }

    /// `name(args) | name | ...` as in `{% filter %}` and block `{% set x | f %}`; a leading `|` is allowed.
    private mutating func parseFilterChain() throws(TemplateError) -> [(String, CallArguments)] {
        var filters: [(String, CallArguments)] = []
        _ = skipOp("|")
        repeat {
            var name = try expectName()
            while skipOp(".") { name += "." + (try expectName()) }
            let args = isOp("(") ? try parseCallArguments() : CallArguments()
            filters.append((name, args))
        } while skipOp("|")
        return filters
    }

    private mutating func parseParameters() throws(TemplateError) -> [MacroParameter] {
        try expectOp("(")
        var parameters: [MacroParameter] = []
        while !isOp(")") {
            if !parameters.isEmpty { try expectOp(",") }
            if isOp(")") { break }
            let name = try expectName()
            let value: Expr? = skipOp("=") ? try parseExpression() : nil
            parameters.append(MacroParameter(name: name, defaultValue: value))
        }
        try expectOp(")")
        return parameters
    }

    private mutating func parseMacro(line: Int) throws(TemplateError) -> Node {
        let name = try expectName()
        let parameters = try parseParameters()
        try expectBlockEnd("macro")
        let savedDepth = loopDepth
        loopDepth = 0
        let (body, _) = try parseBody(until: ["endmacro"], opener: ("macro", line))
        loopDepth = savedDepth
        try expectBlockEnd("endmacro")
        return .macro(Macro(name: name, parameters: parameters, body: body, line: line))
    }

    private mutating func parseCallBlock(line: Int) throws(TemplateError) -> Node {
        let callerParameters = isOp("(") ? try parseParameters() : []
        let call = try parseExpression()
        guard case .call = call.kind else { throw .syntax("'call' expects a macro call", line: line) }
        try expectBlockEnd("call")
        let (body, _) = try parseBody(until: ["endcall"], opener: ("call", line))
        try expectBlockEnd("endcall")
        return .callBlock(call: call, callerParameters: callerParameters, body: body, line: line)
    }

    private mutating func parseWith(line: Int) throws(TemplateError) -> Node {
        var assignments: [(String, Expr)] = []
        while !(current.kind == .blockEnd) {
            if !assignments.isEmpty { try expectOp(",") }
            let name = try expectName()
            try expectOp("=")
            assignments.append((name, try parseExpression()))
        }
        try expectBlockEnd("with")
        let (body, _) = try parseBody(until: ["endwith"], opener: ("with", line))
        try expectBlockEnd("endwith")
        return .with(assignments: assignments, body: body, line: line)
    }

    // MARK: expressions

    /// An expression, or several separated by commas (a tuple), as `{{ a, b }}` and `{% set x = a, b %}` allow.
    private mutating func parseTupleExpression(allowConditional: Bool = true) throws(TemplateError) -> Expr {
        let line = current.line
        let first = try parseExpression(allowConditional: allowConditional)
        guard isOp(",") else { return first }
        var items = [first]
        while skipOp(",") {
            if case .blockEnd = current.kind { break }
            if case .variableEnd = current.kind { break }
            if isName("if") { break }
            items.append(try parseExpression(allowConditional: allowConditional))
        }
        return Expr(.tuple(items), line: line)
    }

    mutating func parseExpression(allowConditional: Bool = true) throws(TemplateError) -> Expr {
        // Bounded so that a hostile template cannot exhaust the stack of the parser or of the interpreter.
        nesting += 1
        defer { nesting -= 1 }
        guard nesting <= Parser.maxNesting else {
            throw .syntax("expression nested more than \(Parser.maxNesting) levels deep", line: current.line)
        }
        guard allowConditional else { return try parseOr() }
        var expr = try parseOr()
        while isName("if") {
            let line = current.line
            index += 1
            let condition = try parseOr()
            let otherwise: Expr? = skipName("else") ? try parseExpression() : nil
            expr = Expr(.conditional(condition: condition, then: expr, otherwise: otherwise), line: line)
        }
        return expr
    }

    private mutating func parseOr() throws(TemplateError) -> Expr {
        var left = try parseAnd()
        while isName("or") {
            let line = current.line
            index += 1
            left = Expr(.or(left, try parseAnd()), line: line)
        }
        return left
    }

    private mutating func parseAnd() throws(TemplateError) -> Expr {
        var left = try parseNot()
        while isName("and") {
            let line = current.line
            index += 1
            left = Expr(.and(left, try parseNot()), line: line)
        }
        return left
    }

    private mutating func parseNot() throws(TemplateError) -> Expr {
        if isName("not") {
            let line = current.line
            index += 1
            return Expr(.not(try parseNot()), line: line)
        }
        return try parseCompare()
    }

    private mutating func parseCompare() throws(TemplateError) -> Expr {
        let line = current.line
        let left = try parseMath1()
        var operations: [(CompareOperator, Expr)] = []
        while true {
            if case .op(let o) = current.kind, let op = CompareOperator(rawValue: o), op != .contains {
                index += 1
                operations.append((op, try parseMath1()))
            } else if isName("in") {
                index += 1
                operations.append((.contains, try parseMath1()))
            } else if isName("not"), index + 1 < tokens.count, tokens[index + 1].kind == .name("in") {
                index += 2
                operations.append((.notContains, try parseMath1()))
            } else {
                break
            }
        }
        return operations.isEmpty ? left : Expr(.compare(left, operations), line: line)
    }

    private mutating func parseMath1() throws(TemplateError) -> Expr {
        var left = try parseConcat()
        while isOp("+") || isOp("-") {
            let line = current.line
            let op: BinaryOperator = isOp("+") ? .add : .subtract
            index += 1
            left = Expr(.binary(op, left, try parseConcat()), line: line)
        }
        return left
    }

    private mutating func parseConcat() throws(TemplateError) -> Expr {
        let line = current.line
        var parts = [try parseMath2()]
        while skipOp("~") { parts.append(try parseMath2()) }
        return parts.count == 1 ? parts[0] : Expr(.concat(parts), line: line)
    }

    private mutating func parseMath2() throws(TemplateError) -> Expr {
        var left = try parsePow()
        while true {
            let op: BinaryOperator
            if isOp("*") { op = .multiply } else if isOp("/") { op = .divide } else if isOp("//") {
                op = .floorDivide
            } else if isOp("%") { op = .modulo } else { break }
            let line = current.line
            index += 1
            left = Expr(.binary(op, left, try parsePow()), line: line)
        }
        return left
    }

    private mutating func parsePow() throws(TemplateError) -> Expr {
        var left = try parseUnary()
        while isOp("**") {
            let line = current.line
            index += 1
            left = Expr(.binary(.power, left, try parseUnary()), line: line)
        }
        return left
    }

    private mutating func parseUnary(withFilters: Bool = true) throws(TemplateError) -> Expr {
        let line = current.line
        nesting += 1
        defer { nesting -= 1 }
        guard nesting <= Parser.maxNesting else {
            throw .syntax("expression nested more than \(Parser.maxNesting) levels deep", line: line)
        }
        var node: Expr
        if skipOp("-") {
            node = Expr(.unary(.negate, try parseUnary(withFilters: false)), line: line)
        } else if skipOp("+") {
            node = Expr(.unary(.plus, try parseUnary(withFilters: false)), line: line)
        } else {
            node = try parsePrimary()
        }
        node = try parsePostfix(node)
        if withFilters { node = try parseFilterAndTests(node) }
        return node
    }

    private mutating func parsePrimary() throws(TemplateError) -> Expr {
        let token = current
        let line = token.line
        switch token.kind {
        case .name(let n):
            index += 1
            switch n {
            case "true", "True": return Expr(.literal(.bool(true)), line: line)
            case "false", "False": return Expr(.literal(.bool(false)), line: line)
            case "none", "None": return Expr(.literal(.none), line: line)
            default: return Expr(.name(n), line: line)
            }
        case .string(let s):
            index += 1
            var text = s
            while case .string(let more) = current.kind {
                text += more
                index += 1
            }
            return Expr(.literal(.string(text)), line: line)
        case .integer(let i):
            index += 1
            return Expr(.literal(.int(i)), line: line)
        case .float(let d):
            index += 1
            return Expr(.literal(.double(d)), line: line)
        case .op("("):
            index += 1
            if skipOp(")") { return Expr(.tuple([]), line: line) }
            let first = try parseExpression()
            if skipOp(")") { return first }
            var items = [first]
            while skipOp(",") {
                if isOp(")") { break }
                items.append(try parseExpression())
            }
            try expectOp(")")
            return Expr(.tuple(items), line: line)
        case .op("["):
            index += 1
            var items: [Expr] = []
            while !isOp("]") {
                if !items.isEmpty { try expectOp(",") }
                if isOp("]") { break }
                items.append(try parseExpression())
            }
            try expectOp("]")
            return Expr(.list(items), line: line)
        case .op("{"):
            index += 1
            var pairs: [(Expr, Expr)] = []
            while !isOp("}") {
                if !pairs.isEmpty { try expectOp(",") }
                if isOp("}") { break }
                let key = try parseExpression()
                try expectOp(":")
                pairs.append((key, try parseExpression()))
            }
            try expectOp("}")
            return Expr(.dict(pairs), line: line)
        default:
            throw unexpected("an expression")
        }
    }

    private mutating func parsePostfix(_ start: Expr) throws(TemplateError) -> Expr {
        var node = start
        while true {
            let line = current.line
            if skipOp(".") {
                switch current.kind {
                case .name(let n):
                    index += 1
                    node = Expr(.attribute(node, n), line: line)
                case .integer(let i):
                    index += 1
                    node = Expr(.item(node, Expr(.literal(.int(i)), line: line)), line: line)
                default:
                    throw unexpected("an attribute name after '.'")
                }
            } else if skipOp("[") {
                node = try parseSubscript(node, line: line)
            } else if isOp("(") {
                node = Expr(.call(node, try parseCallArguments()), line: line)
            } else {
                return node
            }
        }
    }

    private mutating func parseSubscript(_ base: Expr, line: Int) throws(TemplateError) -> Expr {
        var start: Expr?
        if !isOp(":") {
            start = try parseExpression()
            if skipOp("]") { return Expr(.item(base, start!), line: line) }
            if isOp(",") { throw .unsupported("tuple subscripts like x[a, b] are not supported", line: line) }
        }
        try expectOp(":")
        var stop: Expr?
        var step: Expr?
        if !isOp("]") && !isOp(":") { stop = try parseExpression() }
        if skipOp(":") {
            if !isOp("]") { step = try parseExpression() }
        }
        try expectOp("]")
        return Expr(.slice(base, start: start, stop: stop, step: step), line: line)
    }

    private mutating func parseCallArguments() throws(TemplateError) -> CallArguments {
        try expectOp("(")
        var args = CallArguments()
        var first = true
        while !isOp(")") {
            if !first { try expectOp(",") }
            first = false
            if isOp(")") { break }
            if isOp("*") || isOp("**") {
                throw .unsupported("*args and **kwargs in calls are not supported", line: current.line)
            }
            if case .name(let n) = current.kind, peekIsOp("=") {
                index += 2
                args.keyword.append((n, try parseExpression()))
            } else {
                if !args.keyword.isEmpty {
                    throw .syntax("positional argument after keyword argument", line: current.line)
                }
                args.positional.append(try parseExpression())
            }
        }
        try expectOp(")")
        return args
    }

    private mutating func parseFilterAndTests(_ start: Expr) throws(TemplateError) -> Expr {
        var node = start
        while true {
            let line = current.line
            if skipOp("|") {
                var name = try expectName()
                while skipOp(".") { name += "." + (try expectName()) }
                let args = isOp("(") ? try parseCallArguments() : CallArguments()
                node = Expr(.filter(node, name: name, args), line: line)
            } else if isName("is") {
                index += 1
                let negated = skipName("not")
                var name = try expectName()
                while skipOp(".") { name += "." + (try expectName()) }
                var args = CallArguments()
                if isOp("(") {
                    args = try parseCallArguments()
                } else if startsTestArgument() {
                    if isName("is") { throw .syntax("tests cannot be chained with 'is'", line: current.line) }
                    args.positional = [try parsePostfix(try parsePrimary())]
                }
                node = Expr(.test(node, name: name, args, negated: negated), line: line)
            } else if isOp("(") {
                node = Expr(.call(node, try parseCallArguments()), line: line)
            } else {
                return node
            }
        }
    }

    /// Jinja lets a test take one argument without parentheses (`x is divisibleby 3`).
    private func startsTestArgument() -> Bool {
        switch current.kind {
        case .name(let n): return n != "else" && n != "or" && n != "and"
        case .string, .integer, .float: return true
        case .op(let o): return o == "[" || o == "{"
        default: return false
        }
    }
}
