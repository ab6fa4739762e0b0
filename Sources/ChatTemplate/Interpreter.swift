import Foundation

/// Variables visible at one point of a template. A `for` body, a macro call and a `with` block each get a new
/// frame, so `{% set %}` inside them does not leak out (which is why templates use `namespace()`); `if` does not.
final class Frame {
    var vars: [String: JinjaValue]
    let parent: Frame?

    init(parent: Frame?, vars: [String: JinjaValue] = [:]) {
        self.parent = parent
        self.vars = vars
    }

    func lookup(_ name: String) -> JinjaValue? {
        var frame: Frame? = self
        while let f = frame {
            if let v = f.vars[name] { return v }
            frame = f.parent
        }
        return nil
    }
}

/// Walks the syntax tree for one render. Not reused across renders: it holds the state of one call.
final class Interpreter {
    enum Flow { case normal, breakLoop, continueLoop }

    /// The template line being executed, attached to errors raised by helpers that do not know it.
    var line = 0
    let now: Date
    private var callDepth = 0
    /// Loop iterations and macro calls so far (bounded by `RenderLimits.maxSteps`).
    private var steps = 0
    /// Deep enough for any real template (they recurse a few levels to print JSON schemas), shallow enough to
    /// stay far from the stack limit of a server thread.
    private static let maxCallDepth = 40
    /// Frames holding macros and namespaces created during this render. Macros capture their frame, which also
    /// holds them; clearing these at the end breaks that reference cycle.
    private var framesWithMacros: [Frame] = []
    private var namespaces: [JinjaNamespace] = []

    init(now: Date) { self.now = now }

    /// Renders the template and releases what the render created.
    func run(_ nodes: [Node], context: [String: JinjaValue]) throws(TemplateError) -> String {
        let root = Frame(parent: nil, vars: context)
        defer {
            for frame in framesWithMacros { frame.vars.removeAll() }
            for ns in namespaces { ns.attributes = OrderedDict() }
            root.vars.removeAll()
        }
        var out = ""
        do {
            _ = try render(nodes, root, into: &out)
        } catch {
            if error.line == nil { throw TemplateError(error.kind, error.message, line: line) }
            throw error
        }
        return out
    }

    func makeNamespace(_ attributes: OrderedDict) -> JinjaValue {
        let ns = JinjaNamespace(attributes)
        namespaces.append(ns)
        return .namespace(ns)
    }

    /// Counts one loop iteration or macro call against `RenderLimits.maxSteps`.
    func step() throws(TemplateError) {
        steps += 1
        guard steps <= RenderLimits.maxSteps else {
            throw TemplateError(.runtime, "the template ran more than \(RenderLimits.maxSteps) loop iterations and macro "
                                    + "calls (nested loops over large ranges?)", line: line)
        }
    }

    // MARK: statements

    func render(_ nodes: [Node], _ frame: Frame, into out: inout String) throws(TemplateError) -> Flow {
        for node in nodes {
            try RenderLimits.checkString(bytes: out.utf8.count, "the rendered text")
            switch node {
            case .text(let s):
                out += s
            case .output(let expr):
                line = expr.line
                let value = try eval(expr, frame)
                switch value {
                case .string(let s): out += s
                case .undefined: break
                default: PyFormat.repr(value, into: &out)
                }
            case .ifChain(let branches, let otherwise, let l):
                line = l
                var taken = false
                for (condition, body) in branches {
                    guard try eval(condition, frame).isTruthy else { continue }
                    taken = true
                    let flow = try render(body, frame, into: &out)
                    if flow != .normal { return flow }
                    break
                }
                if !taken {
                    let flow = try render(otherwise, frame, into: &out)
                    if flow != .normal { return flow }
                }
            case .forLoop(let loop):
                try runFor(loop, frame, into: &out)
            case .set(let target, let expr, let l):
                line = l
                let value = try eval(expr, frame)
                line = l
                try assign(target, value, frame)
            case .setBlock(let target, let filters, let body, let l):
                var captured = ""
                _ = try render(body, frame, into: &captured)
                line = l
                var value = JinjaValue.string(captured)
                for (name, args) in filters {
                    value = try applyFilter(name, value, try evalArguments(args, frame), frame)
                }
                try assign(target, value, frame)
            case .macro(let macro):
                frame.vars[macro.name] = makeMacro(macro, frame)
                framesWithMacros.append(frame)
            case .callBlock(let call, let callerParameters, let body, let l):
                line = l
                let caller = Macro(name: "caller", parameters: callerParameters, body: body, line: l)
                guard case .call(let calleeExpr, let args) = call.kind else { break }
                let callee = try eval(calleeExpr, frame)
                var arguments = try evalArguments(args, frame)
                arguments.keyword.append(("caller", makeMacro(caller, frame)))
                out += PyFormat.str(try callValue(callee, arguments, spelling: calleeExpr.spelling))
            case .filterBlock(let filters, let body, let l):
                var captured = ""
                let flow = try render(body, frame, into: &captured)
                line = l
                var value = JinjaValue.string(captured)
                for (name, args) in filters {
                    value = try applyFilter(name, value, try evalArguments(args, frame), frame)
                }
                out += PyFormat.str(value)
                if flow != .normal { return flow }
            case .with(let assignments, let body, let l):
                line = l
                let inner = Frame(parent: frame)
                for (name, expr) in assignments { inner.vars[name] = try eval(expr, frame) }
                let flow = try render(body, inner, into: &out)
                if flow != .normal { return flow }
            case .breakLoop:
                return .breakLoop
            case .continueLoop:
                return .continueLoop
            }
        }
        return .normal
    }

    private func assign(_ target: AssignTarget, _ value: JinjaValue, _ frame: Frame) throws(TemplateError) {
        switch target {
        case .name(let name):
            frame.vars[name] = value
        case .tuple(let names):
            let items = try unpack(value, count: names.count)
            for (name, item) in zip(names, items) { frame.vars[name] = item }
        case .attribute(let object, let attribute):
            guard case .namespace(let ns)? = frame.lookup(object) else {
                throw TemplateError(
                    .runtime, "cannot assign attribute '\(attribute)' on '\(object)': only namespace() objects "
                        + "can be changed with set", line: line)
            }
            ns.attributes[attribute] = value
        }
    }

    private func unpack(_ value: JinjaValue, count: Int) throws(TemplateError) -> [JinjaValue] {
        let items = try iterate(value)
        guard items.count == count else {
            throw TemplateError(
                .runtime, "cannot unpack \(items.count) value(s) into \(count) variable(s)", line: line)
        }
        return items
    }

    /// What `for` walks: list items, dict keys, string code points; undefined walks nothing.
    func iterate(_ value: JinjaValue) throws(TemplateError) -> [JinjaValue] {
        switch value {
        case .array(let items): return items
        case .object(let dict): return dict.keys.map { .string($0) }
        case .string(let s): return s.unicodeScalars.map { .string(String($0)) }
        case .undefined: return []
        default: throw TemplateError(.runtime, "'\(value.typeName)' object is not iterable", line: line)
        }
    }

    private func runFor(_ loop: ForLoop, _ frame: Frame, into out: inout String) throws(TemplateError) {
        line = loop.line
        var items = try iterate(try eval(loop.iterable, frame))
        if let condition = loop.condition {
            // The condition sees each item but not `loop`, and filters before counting (loop.length).
            let scratch = Frame(parent: frame)
            var kept: [JinjaValue] = []
            for item in items {
                try step()
                try bind(loop.target, item, scratch)
                if try eval(condition, scratch).isTruthy { kept.append(item) }
            }
            items = kept
        }
        if items.isEmpty {
            _ = try render(loop.otherwise, frame, into: &out)
            return
        }
        let count = items.count
        var position = 0
        let cycle = JinjaFunction(name: "loop.cycle") { args, interpreter throws(TemplateError) in
            guard !args.positional.isEmpty else {
                throw TemplateError(.runtime, "loop.cycle() needs at least one value", line: interpreter.line)
            }
            return args.positional[position % args.positional.count]
        }
        for (i, item) in items.enumerated() {
            try step()
            position = i
            // Each iteration starts from a fresh scope: a `set` in one iteration is gone in the next.
            let inner = Frame(parent: frame)
            try bind(loop.target, item, inner)
            var state = OrderedDict()
            state["index"] = .int(i + 1)
            state["index0"] = .int(i)
            state["revindex"] = .int(count - i)
            state["revindex0"] = .int(count - i - 1)
            state["first"] = .bool(i == 0)
            state["last"] = .bool(i == count - 1)
            state["length"] = .int(count)
            state["depth"] = .int(1)
            state["depth0"] = .int(0)
            state["previtem"] = i > 0 ? items[i - 1] : .undefined
            state["nextitem"] = i + 1 < count ? items[i + 1] : .undefined
            state["cycle"] = .function(cycle)
            inner.vars["loop"] = .object(state)
            let flow = try render(loop.body, inner, into: &out)
            if flow == .breakLoop { break }
        }
    }

    private func bind(_ target: AssignTarget, _ item: JinjaValue, _ frame: Frame) throws(TemplateError) {
        switch target {
        case .name(let name): frame.vars[name] = item
        case .tuple(let names):
            let parts = try unpack(item, count: names.count)
            for (name, part) in zip(names, parts) { frame.vars[name] = part }
        case .attribute:
            throw TemplateError(.syntax, "a for loop cannot assign to an attribute", line: line)
        }
    }

    private func makeMacro(_ macro: Macro, _ definingFrame: Frame) -> JinjaValue {
        .function(JinjaFunction(name: macro.name) { args, interpreter throws(TemplateError) in
            try interpreter.callMacro(macro, definingFrame, args)
        })
    }

    private func callMacro(_ macro: Macro, _ definingFrame: Frame, _ args: Arguments) throws(TemplateError)
        -> JinjaValue
    {
        try step()
        callDepth += 1
        defer { callDepth -= 1 }
        guard callDepth <= Interpreter.maxCallDepth else {
            throw TemplateError(.runtime, "macro '\(macro.name)' nested more than \(Interpreter.maxCallDepth) calls "
                                    + "deep (unbounded recursion?)", line: line)
        }
        let frame = Frame(parent: definingFrame)
        let names = Set(macro.parameters.map(\.name))
        for (i, parameter) in macro.parameters.enumerated() {
            if let value = args.value(i, parameter.name) {
                frame.vars[parameter.name] = value
            } else if let defaultExpr = parameter.defaultValue {
                frame.vars[parameter.name] = try eval(defaultExpr, frame)
            } else {
                frame.vars[parameter.name] = .undefined
            }
        }
        let extra = Array(args.positional.dropFirst(macro.parameters.count))
        if !extra.isEmpty && !macroUses("varargs", macro.body) {
            throw TemplateError(.runtime, "macro '\(macro.name)' takes not more than \(macro.parameters.count) "
                                    + "argument(s)", line: line)
        }
        frame.vars["varargs"] = .array(extra)
        var kwargs = OrderedDict()
        for (key, value) in args.keyword where !names.contains(key) {
            if key == "caller" { frame.vars["caller"] = value; continue }
            kwargs[key] = value
        }
        if !kwargs.isEmpty && !macroUses("kwargs", macro.body) {
            throw TemplateError(.runtime, "macro '\(macro.name)' takes no keyword argument '\(kwargs.keys[0])'",
                                line: line)
        }
        frame.vars["kwargs"] = .object(kwargs)
        var out = ""
        let savedLine = line
        _ = try render(macro.body, frame, into: &out)
        line = savedLine
        return .string(out)
    }

    /// Whether a macro body mentions `name` (Jinja only accepts extra arguments when the body reads
    /// `varargs`/`kwargs`).
    private func macroUses(_ name: String, _ nodes: [Node]) -> Bool {
        var found = false
        func visit(_ e: Expr?) {
            guard let e, !found else { return }
            switch e.kind {
            case .name(let n): if n == name { found = true }
            case .literal: break
            case .list(let items), .tuple(let items), .concat(let items): items.forEach(visit)
            case .dict(let pairs): pairs.forEach { visit($0.0); visit($0.1) }
            case .attribute(let b, _), .unary(_, let b), .not(let b): visit(b)
            case .item(let a, let b), .binary(_, let a, let b), .and(let a, let b), .or(let a, let b):
                visit(a); visit(b)
            case .slice(let b, let s, let t, let u): visit(b); visit(s); visit(t); visit(u)
            case .call(let b, let args), .filter(let b, _, let args), .test(let b, _, let args, _):
                visit(b); args.positional.forEach(visit); args.keyword.forEach { visit($0.1) }
            case .compare(let a, let rest): visit(a); rest.forEach { visit($0.1) }
            case .conditional(let c, let t, let o): visit(c); visit(t); visit(o)
            }
        }
        func walk(_ nodes: [Node]) {
            for node in nodes where !found {
                switch node {
                case .text, .breakLoop, .continueLoop, .macro: break
                case .output(let e): visit(e)
                case .ifChain(let branches, let otherwise, _):
                    branches.forEach { visit($0.0); walk($0.1) }
                    walk(otherwise)
                case .forLoop(let l): visit(l.iterable); visit(l.condition); walk(l.body); walk(l.otherwise)
                case .set(_, let e, _): visit(e)
                case .setBlock(_, _, let body, _), .filterBlock(_, let body, _): walk(body)
                case .callBlock(let c, _, let body, _): visit(c); walk(body)
                case .with(let assignments, let body, _): assignments.forEach { visit($0.1) }; walk(body)
                }
            }
        }
        walk(nodes)
        return found
    }

    // MARK: expressions

    func eval(_ expr: Expr, _ frame: Frame) throws(TemplateError) -> JinjaValue {
        switch expr.kind {
        case .literal(let v):
            return v
        case .name(let name):
            return frame.lookup(name) ?? Builtins.global(name) ?? .undefined
        case .list(let items), .tuple(let items):
            var values: [JinjaValue] = []
            values.reserveCapacity(items.count)
            for item in items { values.append(try eval(item, frame)) }
            return .array(values)
        case .dict(let pairs):
            var dict = OrderedDict()
            for (k, v) in pairs {
                let key = try eval(k, frame)
                guard case .string(let name) = key else {
                    throw TemplateError(.unsupported, "dict literal keys must be strings here, not \(key.typeName)",
                                        line: expr.line)
                }
                dict[name] = try eval(v, frame)
            }
            return .object(dict)
        case .attribute(let baseExpr, let name):
            let base = try eval(baseExpr, frame)
            if base.isUndefined { throw undefinedError(baseExpr, "has no attribute '\(name)'") }
            return attribute(base, name)
        case .item(let baseExpr, let indexExpr):
            let base = try eval(baseExpr, frame)
            let index = try eval(indexExpr, frame)
            if base.isUndefined {
                throw undefinedError(baseExpr, "cannot be indexed with \(PyFormat.repr(index))")
            }
            return item(base, index)
        case .slice(let baseExpr, let startExpr, let stopExpr, let stepExpr):
            let base = try eval(baseExpr, frame)
            if base.isUndefined { throw undefinedError(baseExpr, "cannot be sliced") }
            return try slice(base, try sliceBound(startExpr, frame), try sliceBound(stopExpr, frame),
                             try sliceBound(stepExpr, frame))
        case .call(let calleeExpr, let args):
            if case .attribute(let baseExpr, let name) = calleeExpr.kind {
                let base = try eval(baseExpr, frame)
                if base.isUndefined { throw undefinedError(baseExpr, "has no method '\(name)'") }
                let arguments = try evalArguments(args, frame)
                if let result = try Methods.call(base, name, arguments, self) { return result }
                return try callValue(attribute(base, name), arguments, spelling: calleeExpr.spelling)
            }
            let callee = try eval(calleeExpr, frame)
            return try callValue(callee, try evalArguments(args, frame), spelling: calleeExpr.spelling)
        case .filter(let baseExpr, let name, let args):
            let base = try eval(baseExpr, frame)
            return try applyFilter(name, base, try evalArguments(args, frame), frame)
        case .test(let baseExpr, let name, let args, let negated):
            let base = try eval(baseExpr, frame)
            let result = try applyTest(name, base, try evalArguments(args, frame), frame)
            return .bool(result != negated)
        case .unary(let op, let operandExpr):
            let operand = try eval(operandExpr, frame)
            line = expr.line
            return try op == .negate ? Operators.negate(operand) : Operators.plus(operand)
        case .binary(let op, let leftExpr, let rightExpr):
            let left = try eval(leftExpr, frame)
            let right = try eval(rightExpr, frame)
            line = expr.line
            if left.isUndefined { throw undefinedError(leftExpr, "cannot be used with '\(op.rawValue)'") }
            if right.isUndefined { throw undefinedError(rightExpr, "cannot be used with '\(op.rawValue)'") }
            return try Operators.binary(op, left, right)
        case .and(let a, let b):
            let left = try eval(a, frame)
            return left.isTruthy ? try eval(b, frame) : left
        case .or(let a, let b):
            let left = try eval(a, frame)
            return left.isTruthy ? left : try eval(b, frame)
        case .not(let a):
            return .bool(!(try eval(a, frame).isTruthy))
        case .compare(let first, let operations):
            var left = try eval(first, frame)
            for (op, rightExpr) in operations {
                let right = try eval(rightExpr, frame)
                line = expr.line
                if !(try Operators.compare(op, left, right)) { return .bool(false) }
                left = right
            }
            return .bool(true)
        case .conditional(let condition, let then, let otherwise):
            if try eval(condition, frame).isTruthy { return try eval(then, frame) }
            guard let otherwise else { return .undefined }
            return try eval(otherwise, frame)
        case .concat(let parts):
            var out = ""
            for part in parts {
                out += PyFormat.str(try eval(part, frame))
                try RenderLimits.checkString(bytes: out.utf8.count, "'~' concatenation")
            }
            return .string(out)
        }
    }

    private func undefinedError(_ expr: Expr, _ what: String) -> TemplateError {
        TemplateError(.runtime, "'\(expr.spelling)' is undefined and \(what)", line: expr.line)
    }

    func evalArguments(_ args: CallArguments, _ frame: Frame) throws(TemplateError) -> Arguments {
        var out = Arguments()
        if !args.positional.isEmpty {
            out.positional.reserveCapacity(args.positional.count)
            for e in args.positional { out.positional.append(try eval(e, frame)) }
        }
        for (name, e) in args.keyword { out.keyword.append((name, try eval(e, frame))) }
        return out
    }

    func callValue(_ callee: JinjaValue, _ args: Arguments, spelling: String) throws(TemplateError) -> JinjaValue {
        switch callee {
        case .function(let f): return try f.body(args, self)
        case .undefined: throw TemplateError(.runtime, "'\(spelling)' is undefined and cannot be called", line: line)
        default: throw TemplateError(.runtime, "'\(callee.typeName)' object '\(spelling)' is not callable", line: line)
        }
    }

    private func sliceBound(_ e: Expr?, _ frame: Frame) throws(TemplateError) -> Int? {
        guard let e else { return nil }
        switch try eval(e, frame) {
        case .int(let i): return i
        case .bool(let b): return b ? 1 : 0
        case .none: return nil
        case let other:
            throw TemplateError(.runtime, "slice indices must be integers or None, not \(other.typeName)", line: e.line)
        }
    }

    func slice(_ base: JinjaValue, _ start: Int?, _ stop: Int?, _ step: Int?) throws(TemplateError) -> JinjaValue {
        switch base {
        case .array(let items):
            let indices = try PyText.sliceIndices(count: items.count, start: start, stop: stop, step: step)
            return .array(indices.map { items[$0] })
        case .string(let s):
            let scalars = Array(s.unicodeScalars)
            let indices = try PyText.sliceIndices(count: scalars.count, start: start, stop: stop, step: step)
            return .string(PyText.make(indices.lazy.map { scalars[$0] }))
        default:
            throw TemplateError(.runtime, "'\(base.typeName)' object is not subscriptable", line: line)
        }
    }

    /// `obj.name` as Jinja resolves it: a Python attribute (a method) first, then the item `obj["name"]`.
    func attribute(_ base: JinjaValue, _ name: String) -> JinjaValue {
        switch base {
        case .object(let dict):
            if Methods.isMethod(base, name) { return Methods.bound(base, name) }
            return dict[name] ?? .undefined
        case .namespace(let ns):
            return ns.attributes[name] ?? .undefined
        case .string, .array:
            return Methods.isMethod(base, name) ? Methods.bound(base, name) : .undefined
        default:
            return .undefined
        }
    }

    /// `obj[key]` as Jinja resolves it: the item first, then (for a string key) the attribute.
    func item(_ base: JinjaValue, _ index: JinjaValue) -> JinjaValue {
        switch (base, index) {
        case (.array(let items), .int(let i)):
            return PyText.resolveIndex(i, count: items.count).map { items[$0] } ?? .undefined
        case (.array(let items), .bool(let b)):
            return PyText.resolveIndex(b ? 1 : 0, count: items.count).map { items[$0] } ?? .undefined
        case (.string(let s), .int(let i)):
            let scalars = Array(s.unicodeScalars)
            return PyText.resolveIndex(i, count: scalars.count).map { .string(String(scalars[$0])) } ?? .undefined
        case (.object(let dict), .string(let key)):
            if let v = dict[key] { return v }
            return attribute(base, key)
        case (_, .string(let key)):
            return attribute(base, key)
        default:
            return .undefined
        }
    }
}
