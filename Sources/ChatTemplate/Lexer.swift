/// One lexical token with the template line it starts on.
struct Token: Equatable {
    enum Kind: Equatable {
        case text(String)
        case variableBegin, variableEnd, blockBegin, blockEnd
        case name(String)
        case string(String)
        case integer(Int)
        case float(Double)
        case op(String)
        case end
    }

    let kind: Kind
    let line: Int
}

/// Splits template source into text and tag tokens the way Jinja's lexer does with the settings Hugging Face uses
/// for chat templates: `trim_blocks` (a newline right after `%}` or `#}` is dropped), `lstrip_blocks` (spaces and
/// tabs before a block or comment tag on its own line are dropped), `keep_trailing_newline=False`, and `-`/`+`
/// whitespace control on any tag.
struct Lexer {
    private let src: [Unicode.Scalar]
    private var pos = 0
    private var line = 1
    /// Whether the character consumed last was a newline (or nothing was consumed yet); `lstrip_blocks` only strips
    /// indentation that starts a line.
    private var lineStarting = true
    private var tokens: [Token] = []

    init(source: String) {
        src = Array(Lexer.normalizeNewlines(source).unicodeScalars)
    }

    /// Jinja turns `\r\n` and `\r` into `\n` everywhere and drops one trailing newline.
    static func normalizeNewlines(_ source: String) -> String {
        var s = source
        if s.utf8.contains(UInt8(ascii: "\r")) {
            s = PyText.replace(PyText.replace(s, "\r\n", "\n"), "\r", "\n")
        }
        if s.hasSuffix("\n") { s.removeLast() }
        return s
    }

    mutating func tokenize() throws(TemplateError) -> [Token] {
        while pos < src.count {
            guard let open = nextTagStart() else {
                emitText(pos, src.count, strip: .none)
                pos = src.count
                break
            }
            let tagKind = src[open + 1]
            var afterOpen = open + 2
            var control: Unicode.Scalar?
            if afterOpen < src.count, src[afterOpen] == "-" || src[afterOpen] == "+" {
                control = src[afterOpen]
                afterOpen += 1
            }
            let strip: TextStrip
            if control == "-" {
                strip = .all
            } else if control != "+" && tagKind != "{" {
                strip = .indentation
            } else {
                strip = .none
            }
            emitText(pos, open, strip: strip)
            pos = afterOpen
            switch tagKind {
            case "#": try lexComment(openLine: line)
            case "%":
                if try !lexRawBlock() {
                    tokens.append(Token(kind: .blockBegin, line: line))
                    try lexTagContents(block: true)
                }
            default:
                tokens.append(Token(kind: .variableBegin, line: line))
                try lexTagContents(block: false)
            }
        }
        tokens.append(Token(kind: .end, line: line))
        return tokens
    }

    // MARK: text

    private enum TextStrip { case none, all, indentation }

    private func nextTagStart() -> Int? {
        var i = pos
        while i + 1 < src.count {
            if src[i] == "{" {
                let n = src[i + 1]
                if n == "{" || n == "%" || n == "#" { return i }
            }
            i += 1
        }
        return nil
    }

    private mutating func emitText(_ start: Int, _ end: Int, strip: TextStrip) {
        var hi = end
        switch strip {
        case .none: break
        case .all:
            while hi > start, PyText.isWhitespace(src[hi - 1]) { hi -= 1 }
        case .indentation:
            var lineStart = hi
            while lineStart > start, src[lineStart - 1] != "\n" { lineStart -= 1 }
            if lineStart > start || lineStarting {
                let onlySpace = (lineStart..<hi).allSatisfy { PyText.isWhitespace(src[$0]) }
                if onlySpace { hi = lineStart }
            }
        }
        if hi > start {
            tokens.append(Token(kind: .text(PyText.make(src[start..<hi])), line: line))
        }
        countLines(start, end)
        if end > start { lineStarting = src[end - 1] == "\n" }
    }

    private mutating func countLines(_ start: Int, _ end: Int) {
        var i = start
        while i < end {
            if src[i] == "\n" { line += 1 }
            i += 1
        }
    }

    /// Consumes what follows a closing `%}`/`#}`/`}}`: all whitespace after `-`, or one newline for block and
    /// comment tags (`trim_blocks`) unless `+` was given.
    private mutating func consumeAfterTag(stripAll: Bool, trimNewline: Bool) {
        let start = pos
        if stripAll {
            while pos < src.count, PyText.isWhitespace(src[pos]) { pos += 1 }
        } else if trimNewline, pos < src.count, src[pos] == "\n" {
            pos += 1
        }
        countLines(start, pos)
        lineStarting = pos > 0 && src[pos - 1] == "\n"
    }

    private func matches(_ text: String, at i: Int) -> Bool {
        var j = i
        for c in text.unicodeScalars {
            guard j < src.count, src[j] == c else { return false }
            j += 1
        }
        return true
    }

    // MARK: comments and raw blocks

    private mutating func lexComment(openLine: Int) throws(TemplateError) {
        var i = pos
        while i + 1 < src.count, !(src[i] == "#" && src[i + 1] == "}") { i += 1 }
        guard i + 1 < src.count else { throw .syntax("unclosed comment: '{#' has no matching '#}'", line: openLine) }
        let stripAll = i > pos && src[i - 1] == "-"
        let keep = i > pos && src[i - 1] == "+"
        countLines(pos, i + 2)
        pos = i + 2
        consumeAfterTag(stripAll: stripAll, trimNewline: !keep)
    }

    /// Handles `{% raw %}...{% endraw %}`, whose body is text even if it looks like tags. Returns false (consuming
    /// nothing) when the block tag at `pos` is not `raw`.
    private mutating func lexRawBlock() throws(TemplateError) -> Bool {
        var i = pos
        while i < src.count, PyText.isWhitespace(src[i]) { i += 1 }
        guard matches("raw", at: i) else { return false }
        i += 3
        while i < src.count, PyText.isWhitespace(src[i]) { i += 1 }
        var stripBody = false
        if i < src.count, src[i] == "-" || src[i] == "+" { stripBody = src[i] == "-"; i += 1 }
        guard matches("%}", at: i) else { return false }
        let openLine = line
        countLines(pos, i + 2)
        pos = i + 2
        if stripBody { consumeAfterTag(stripAll: true, trimNewline: false) }
        // Find `{%[-+]? endraw [-+]?%}`.
        var search = pos
        while search + 1 < src.count {
            if src[search] == "{" && src[search + 1] == "%" {
                var j = search + 2
                var stripBefore = false
                if j < src.count, src[j] == "-" || src[j] == "+" { stripBefore = src[j] == "-"; j += 1 }
                while j < src.count, PyText.isWhitespace(src[j]) { j += 1 }
                if matches("endraw", at: j) {
                    j += 6
                    while j < src.count, PyText.isWhitespace(src[j]) { j += 1 }
                    var after: Unicode.Scalar?
                    if j < src.count, src[j] == "-" || src[j] == "+" { after = src[j]; j += 1 }
                    if matches("%}", at: j) {
                        emitText(pos, search, strip: stripBefore ? .all : .none)
                        pos = j + 2
                        consumeAfterTag(stripAll: after == "-", trimNewline: after != "+")
                        return true
                    }
                }
            }
            search += 1
        }
        throw .syntax("'raw' block is not closed by 'endraw'", line: openLine)
    }

    // MARK: tag contents

    private mutating func lexTagContents(block: Bool) throws(TemplateError) {
        let openLine = line
        var brackets: [Unicode.Scalar] = []
        while true {
            while pos < src.count, PyText.isWhitespace(src[pos]) {
                if src[pos] == "\n" { line += 1 }
                pos += 1
            }
            guard pos < src.count else {
                throw .syntax("unclosed tag: '\(block ? "{%" : "{{")' opened here has no '\(block ? "%}" : "}}")'",
                              line: openLine)
            }
            if brackets.isEmpty, let (length, control) = closer(block: block) {
                pos += length
                tokens.append(Token(kind: block ? .blockEnd : .variableEnd, line: line))
                consumeAfterTag(stripAll: control == "-", trimNewline: block && control != "+")
                return
            }
            let c = src[pos]
            if c == "_" || c.properties.isAlphabetic {
                lexName()
            } else if ("0"..."9").contains(c) {
                try lexNumber()
            } else if c == "'" || c == "\"" {
                try lexString(quote: c)
            } else {
                try lexOperator(&brackets)
            }
        }
    }

    /// Length of the tag closer at `pos` and its whitespace-control sign.
    private func closer(block: Bool) -> (Int, Unicode.Scalar?)? {
        let end = block ? "%}" : "}}"
        if matches(end, at: pos) { return (2, nil) }
        if src[pos] == "-" && matches(end, at: pos + 1) { return (3, "-") }
        if block && src[pos] == "+" && matches(end, at: pos + 1) { return (3, "+") }
        return nil
    }

    private mutating func lexName() {
        let start = pos
        while pos < src.count, src[pos] == "_" || src[pos].properties.isAlphabetic || ("0"..."9").contains(src[pos])
        {
            pos += 1
        }
        tokens.append(Token(kind: .name(PyText.make(src[start..<pos])), line: line))
    }

    private mutating func lexNumber() throws(TemplateError) {
        let start = pos
        func digitRun(_ l: inout Lexer) {
            while l.pos < l.src.count, ("0"..."9").contains(l.src[l.pos])
                || (l.src[l.pos] == "_" && l.pos + 1 < l.src.count && ("0"..."9").contains(l.src[l.pos + 1]))
            {
                l.pos += 1
            }
        }
        digitRun(&self)
        // After a '.', Jinja reads `x.0.1` as attribute 0 then 1, never as the float 0.1.
        let afterDot = start > 0 && src[start - 1] == "."
        var isFloat = false
        if !afterDot, pos + 1 < src.count, src[pos] == ".", ("0"..."9").contains(src[pos + 1]) {
            pos += 1
            digitRun(&self)
            isFloat = true
        }
        if !afterDot, pos < src.count, src[pos] == "e" || src[pos] == "E" {
            var j = pos + 1
            if j < src.count, src[j] == "+" || src[j] == "-" { j += 1 }
            if j < src.count, ("0"..."9").contains(src[j]) {
                pos = j
                digitRun(&self)
                isFloat = true
            }
        }
        let text = String(PyText.make(src[start..<pos]).filter { $0 != "_" })
        if isFloat {
            guard let d = Double(text) else { throw .syntax("invalid number '\(text)'", line: line) }
            tokens.append(Token(kind: .float(d), line: line))
        } else {
            guard let i = Int(text) else { throw .syntax("integer literal '\(text)' is too large", line: line) }
            tokens.append(Token(kind: .integer(i), line: line))
        }
    }

    private mutating func lexString(quote: Unicode.Scalar) throws(TemplateError) {
        let startLine = line
        pos += 1
        var out = String.UnicodeScalarView()
        while true {
            guard pos < src.count else { throw .syntax("unterminated string literal", line: startLine) }
            let c = src[pos]
            pos += 1
            if c == quote { break }
            if c == "\n" { line += 1 }
            guard c == "\\" else { out.append(c); continue }
            guard pos < src.count else { throw .syntax("unterminated string literal", line: startLine) }
            let e = src[pos]
            pos += 1
            switch e {
            case "\n": line += 1  // line continuation
            case "\\": out.append("\\")
            case "'": out.append("'")
            case "\"": out.append("\"")
            case "n": out.append("\n")
            case "t": out.append("\t")
            case "r": out.append("\r")
            case "a": out.append("\u{07}")
            case "b": out.append("\u{08}")
            case "f": out.append("\u{0C}")
            case "v": out.append("\u{0B}")
            case "0"..."7":
                var value = e.value - 0x30
                var n = 1
                while n < 3, pos < src.count, ("0"..."7").contains(src[pos]) {
                    value = value * 8 + (src[pos].value - 0x30)
                    pos += 1
                    n += 1
                }
                out.append(Unicode.Scalar(value) ?? "\u{FFFD}")
            case "x", "u", "U":
                let width = e == "x" ? 2 : e == "u" ? 4 : 8
                guard pos + width <= src.count, let v = UInt32(PyText.make(src[pos..<pos + width]), radix: 16),
                    let scalar = Unicode.Scalar(v)
                else {
                    throw .syntax("invalid \\\(e) escape in string literal", line: line)
                }
                out.append(scalar)
                pos += width
            case "N":
                throw .unsupported("\\N{...} escapes in string literals are not supported", line: line)
            default:
                out.append("\\")
                out.append(e)
            }
        }
        tokens.append(Token(kind: .string(String(out)), line: startLine))
    }

    private static let twoCharOperators: Set<String> = ["//", "**", "==", "!=", "<=", ">="]
    private static let oneCharOperators: Set<Unicode.Scalar> = [
        "+", "-", "*", "/", "%", "~", "<", ">", "=", ".", ",", ":", "|", "(", ")", "[", "]", "{", "}", ";",
    ]

    private mutating func lexOperator(_ brackets: inout [Unicode.Scalar]) throws(TemplateError) {
        if pos + 1 < src.count {
            let two = PyText.make(src[pos..<pos + 2])
            if Lexer.twoCharOperators.contains(two) {
                tokens.append(Token(kind: .op(two), line: line))
                pos += 2
                return
            }
        }
        let c = src[pos]
        guard Lexer.oneCharOperators.contains(c) else {
            throw .syntax("unexpected character '\(c)' inside a tag", line: line)
        }
        switch c {
        case "(", "[", "{": brackets.append(c)
        case ")", "]", "}":
            let expected: Unicode.Scalar = c == ")" ? "(" : c == "]" ? "[" : "{"
            guard brackets.last == expected else { throw .syntax("unexpected '\(c)'", line: line) }
            brackets.removeLast()
        default: break
        }
        tokens.append(Token(kind: .op(String(c)), line: line))
        pos += 1
    }
}
