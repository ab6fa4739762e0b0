import Foundation

/// Global functions every chat template can call: Jinja's `range`, `namespace`, `dict`, `cycler`, `joiner`, and the
/// two Hugging Face adds, `raise_exception` and `strftime_now`.
enum Builtins {
    static func global(_ name: String) -> JinjaValue? { table[name] }

    /// Lists longer than this from `range()` are refused: a template has no reason to build one, and a hostile
    /// one could exhaust memory.
    static let maxRange = 1_000_000

    private static let table: [String: JinjaValue] = [
        "range": .function(JinjaFunction(name: "range", body: range)),
        "namespace": .function(JinjaFunction(name: "namespace", body: namespace)),
        "dict": .function(JinjaFunction(name: "dict") { args, interpreter throws(TemplateError) in
            var dict = OrderedDict()
            if let first = args.positional.first {
                guard case .object(let d) = first else {
                    throw TemplateError(.unsupported, "dict() accepts only a dict or keyword arguments",
                                        line: interpreter.line)
                }
                dict = d
            }
            for (k, v) in args.keyword { dict[k] = v }
            return .object(dict)
        }),
        "raise_exception": .function(JinjaFunction(name: "raise_exception") { args, interpreter throws(TemplateError) in
            let message = args.positional.first.map(PyFormat.str) ?? "raise_exception() called"
            throw TemplateError(.raised, message, line: interpreter.line)
        }),
        "strftime_now": .function(JinjaFunction(name: "strftime_now") { args, interpreter throws(TemplateError) in
            guard case .string(let format)? = args.value(0, "format") else {
                throw TemplateError(.runtime, "strftime_now() needs a format string", line: interpreter.line)
            }
            return .string(formatDate(format, interpreter.now))
        }),
        "cycler": .function(JinjaFunction(name: "cycler") { _, interpreter throws(TemplateError) in
            throw TemplateError(.unsupported, "cycler() is not supported; use loop.cycle()", line: interpreter.line)
        }),
        "joiner": .function(JinjaFunction(name: "joiner") { _, interpreter throws(TemplateError) in
            throw TemplateError(.unsupported, "joiner() is not supported; test loop.first instead",
                                line: interpreter.line)
        }),
    ]

    private static func range(_ args: Arguments, _ interpreter: Interpreter) throws(TemplateError) -> JinjaValue {
        var bounds: [Int] = []
        for v in args.positional {
            guard let i = try Methods.intArgument(v, "range() argument", interpreter) else {
                throw TemplateError(.runtime, "range() arguments must be integers", line: interpreter.line)
            }
            bounds.append(i)
        }
        let (start, stop, step): (Int, Int, Int)
        switch bounds.count {
        case 1: (start, stop, step) = (0, bounds[0], 1)
        case 2: (start, stop, step) = (bounds[0], bounds[1], 1)
        case 3: (start, stop, step) = (bounds[0], bounds[1], bounds[2])
        default: throw TemplateError(.runtime, "range() takes 1 to 3 arguments", line: interpreter.line)
        }
        guard step != 0 else { throw TemplateError(.runtime, "range() step must not be zero", line: interpreter.line) }
        let span = step > 0 ? Double(stop) - Double(start) : Double(start) - Double(stop)
        let count = span <= 0 ? 0 : Int((span / Double(abs(step))).rounded(.up))
        guard count <= maxRange else {
            throw TemplateError(.runtime, "range() of \(count) items is larger than the limit of \(maxRange)",
                                line: interpreter.line)
        }
        return .array((0..<count).map { .int(start + $0 * step) })
    }

    private static func namespace(_ args: Arguments, _ interpreter: Interpreter) throws(TemplateError) -> JinjaValue {
        var attributes = OrderedDict()
        for v in args.positional {
            guard case .object(let d) = v else {
                throw TemplateError(.runtime, "namespace() accepts a dict or keyword arguments, not \(v.typeName)",
                                    line: interpreter.line)
            }
            for (k, value) in d { attributes[k] = value }
        }
        for (k, v) in args.keyword { attributes[k] = v }
        return interpreter.makeNamespace(attributes)
    }

    /// C `strftime` on local time, as Python's `datetime.now().strftime` does.
    static func formatDate(_ format: String, _ date: Date) -> String {
        var seconds = time_t(date.timeIntervalSince1970.rounded(.down))
        var parts = tm()
        localtime_r(&seconds, &parts)
        var buffer = [CChar](repeating: 0, count: 512)
        let n = format.withCString { strftime(&buffer, buffer.count, $0, &parts) }
        return String(decoding: buffer[0..<n].map { UInt8(bitPattern: $0) }, as: UTF8.self)
    }
}
