// ByteDFA.swift
//
// A self-contained (standard library only) compiler from ECMA-262-style regular
// expressions, with JSON Schema `pattern` semantics, to a deterministic automaton
// over the UTF-8 bytes of a string's decoded text.
//
// Pipeline: parse -> AST over code-point sets -> Thompson NFA over bytes (code-point
// ranges are split into UTF-8 byte-range sequences, RE2/utf8-ranges style, with shared
// suffixes) -> subset
// construction over byte equivalence classes -> pruning of states that cannot reach
// an accepting state -> Hopcroft minimization -> reverse BFS for `distance`.
//
// Semantics notes (deliberate, documented deviations from a browser's RegExp):
//  * Matching is over Unicode code points (like the ECMA `u` flag), so `.` and `[^a]`
//    consume one whole code point (1-4 UTF-8 bytes), astral characters included.
//  * `.` excludes all four ECMA line terminators: \n, \r, U+2028, U+2029.
//  * `\s` is ECMA WhiteSpace+LineTerminator; `\d` = [0-9]; `\w` = [A-Za-z0-9_].
//  * Annex B leniencies: a `{` that does not start a well-formed quantifier is a
//    literal (so `a{,5}` matches the text "a{,5}"; it is NOT {0,5} as in Python),
//    `]` and `}` outside a class are literals, identity escapes of any non-alphanumeric
//    character are allowed, and `[\d-z]` treats `-` literally.
//  * `[]` matches nothing and `[^]` matches any code point (ECMA).
//  * `\u{X...}` (u-mode code point escape) and surrogate pairs `\uD83D\uDE00` are
//    accepted and denote one code point; a lone surrogate escape is an error because
//    it can never occur in valid UTF-8 text.
//  * The automaton only ever accepts valid UTF-8: no lone continuation bytes, no
//    C0/C1/F5-FF lead bytes, no overlong forms, no surrogates.

// MARK: - Public API

public struct RegexError: Error, Equatable, CustomStringConvertible, Sendable {
    public let message: String
    public init(_ message: String) { self.message = message }
    public var description: String { message }
}

/// A deterministic automaton over the UTF-8 bytes of a string's decoded text.
public struct ByteDFA: Sendable, Equatable {
    public static let dead: Int32 = -1
    public let start: Int32

    // Row 0 of every table is the dead state; state `s` lives at row `s + 1`, so that
    // `next(dead, _)`, `isAccepting(dead)` and `distance(dead)` need no branch.
    @usableFromInline let table: [Int32]      // (stateCount + 1) * 256
    @usableFromInline let accepting: [Bool]   // stateCount + 1
    @usableFromInline let dist: [Int]         // stateCount + 1

    /// next state or ByteDFA.dead
    @inlinable
    public func next(_ state: Int32, _ byte: UInt8) -> Int32 {
        table[Int(truncatingIfNeeded: state &+ 1) &<< 8 | Int(byte)]
    }

    @inlinable
    public func isAccepting(_ state: Int32) -> Bool {
        accepting[Int(truncatingIfNeeded: state &+ 1)]
    }

    /// fewest bytes from `state` to an accepting state; Int.max if none (never happens
    /// for live states: they are pruned). Also Int.max for `dead`, and for the start
    /// state of a pattern that can match nothing (e.g. `[]`).
    @inlinable
    public func distance(_ state: Int32) -> Int {
        dist[Int(truncatingIfNeeded: state &+ 1)]
    }

    public var stateCount: Int { accepting.count - 1 }

    /// Compiles an ECMA-262-style pattern with JSON Schema semantics: the pattern matches
    /// ANYWHERE in the string unless anchored (^ at start / $ at end), i.e. unanchored
    /// sides get an implicit "any code point"*.
    /// `maxStates` bounds the final (minimized) automaton; the unminimized subset
    /// construction gives up at 4 * maxStates. {n,m} counts are limited to 1000 and
    /// the Thompson NFA to max(250_000, 64 * maxStates) states.
    public init(pattern: String, maxStates: Int = 4096) throws(RegexError) {
        var parser = RegexParser(pattern)
        let ast = try parser.parsePattern()
        var nfa = NFABuilder(limit: max(250_000, maxStates * 64))
        let nfaStart = try nfa.newState()
        let nfaAccept = try nfa.emit(ast, from: nfaStart)
        self = try DFAConstruction.build(nfa: nfa, start: nfaStart, accept: nfaAccept,
                                         maxStates: maxStates)
    }

    /// The DFA for a JSON Schema `format` name; nil if the format is unknown.
    /// Known: date, time, date-time, email, hostname, ipv4, uri, uuid.
    public init?(format: String) {
        switch format {
        case "date": self = FormatDFAs.date
        case "time": self = FormatDFAs.time
        case "date-time": self = FormatDFAs.dateTime
        case "email": self = FormatDFAs.email
        case "hostname": self = FormatDFAs.hostname
        case "ipv4": self = FormatDFAs.ipv4
        case "uri": self = FormatDFAs.uri
        case "uuid": self = FormatDFAs.uuid
        default: return nil
        }
    }

    /// The regex source used for a `format` (nil if unknown). Useful for diagnostics.
    public static func formatPattern(_ format: String) -> String? {
        FormatPatterns.all[format]
    }

    /// Convenience: runs the automaton over the UTF-8 bytes of `text` and reports
    /// whether it ends in an accepting state.
    public func matches(_ text: String) -> Bool {
        var s = start
        for b in text.utf8 {
            s = next(s, b)
            if s == ByteDFA.dead { return false }
        }
        return isAccepting(s)
    }

    init(start: Int32, table: [Int32], accepting: [Bool], dist: [Int]) {
        self.start = start
        self.table = table
        self.accepting = accepting
        self.dist = dist
    }
}

// MARK: - Formats

fileprivate enum FormatPatterns {
    // date: YYYY-MM-DD. Per-month day limits (and leap years) are NOT enforced:
    // days 01-31 are allowed for every month (so 2023-02-31 is accepted).
    static let dateBody = #"\d{4}-(?:0[1-9]|1[0-2])-(?:0[1-9]|[12]\d|3[01])"#
    // RFC 3339 full-time: partial-time + required time-offset. Seconds 00-60 (leap
    // second allowed at any time of day/offset). Fraction limited to 1-9 digits.
    static let timeBody =
        #"(?:[01]\d|2[0-3]):[0-5]\d:(?:[0-5]\d|60)(?:\.\d{1,9})?(?:[Zz]|[+-](?:[01]\d|2[0-3]):[0-5]\d)"#
    static let label = #"[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?"#
    static let atom = #"[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]+"#
    static let octet = #"(?:25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)"#
    static let hex = "[0-9A-Fa-f]"

    static let date = "^" + dateBody + "$"
    static let time = "^" + timeBody + "$"
    static let dateTime = "^" + dateBody + "[Tt]" + timeBody + "$"
    static let email = "^" + atom + #"(?:\."# + atom + ")*@" + label + #"(?:\."# + label + ")+$"
    static let hostname = "^" + label + #"(?:\."# + label + ")*$"
    static let ipv4 = "^" + octet + #"(?:\."# + octet + "){3}$"
    static let uri = #"^[A-Za-z][A-Za-z0-9+.\-]*:(?:[A-Za-z0-9\-._~:/?#\[\]@!$&'()*+,;=]|%[0-9A-Fa-f]{2})+$"#
    static let uuid = "^" + hex + "{8}-" + hex + "{4}-" + hex + "{4}-" + hex + "{4}-" + hex + "{12}$"

    static let all: [String: String] = [
        "date": date, "time": time, "date-time": dateTime, "email": email,
        "hostname": hostname, "ipv4": ipv4, "uri": uri, "uuid": uuid,
    ]
}

fileprivate enum FormatDFAs {
    // Lazily compiled once, thread-safely (Swift global/static initialization).
    static let date = compile(FormatPatterns.date)
    static let time = compile(FormatPatterns.time)
    static let dateTime = compile(FormatPatterns.dateTime)
    static let email = compile(FormatPatterns.email)
    static let hostname = compile(FormatPatterns.hostname)
    static let ipv4 = compile(FormatPatterns.ipv4)
    static let uri = compile(FormatPatterns.uri)
    static let uuid = compile(FormatPatterns.uuid)

    private static func compile(_ p: String) -> ByteDFA {
        do { return try ByteDFA(pattern: p) } catch { fatalError("built-in format regex failed: \(error)") }
    }
}

// MARK: - Code point sets

/// A set of Unicode scalar values as sorted, disjoint, non-adjacent closed ranges.
/// Surrogates (D800-DFFF) are never members.
fileprivate struct CodePointSet {
    var ranges: [(lo: UInt32, hi: UInt32)] = []

    init() {}
    init(_ c: UInt32) { ranges = [(c, c)] }
    init(ranges: [(UInt32, UInt32)]) {
        self.ranges = ranges.map { (lo: $0.0, hi: $0.1) }
        normalize()
    }

    var isEmpty: Bool { ranges.isEmpty }

    mutating func add(_ lo: UInt32, _ hi: UInt32) {
        ranges.append((lo, hi))
    }

    mutating func add(_ other: CodePointSet) {
        ranges.append(contentsOf: other.ranges)
    }

    /// Sorts, merges, clips to 0...0x10FFFF and removes surrogates.
    mutating func normalize() {
        ranges.sort { $0.lo < $1.lo }
        var merged: [(lo: UInt32, hi: UInt32)] = []
        merged.reserveCapacity(ranges.count + 1)
        for r in ranges where r.lo <= r.hi && r.lo <= 0x10FFFF {
            let hi = min(r.hi, 0x10FFFF)
            if let last = merged.last, r.lo <= last.hi &+ 1 {
                if hi > last.hi { merged[merged.count - 1].hi = hi }
            } else {
                merged.append((r.lo, hi))
            }
        }
        var out: [(lo: UInt32, hi: UInt32)] = []
        out.reserveCapacity(merged.count + 1)
        for r in merged {
            if r.hi < 0xD800 || r.lo > 0xDFFF {
                out.append(r)
            } else {
                if r.lo < 0xD800 { out.append((r.lo, 0xD7FF)) }
                if r.hi > 0xDFFF { out.append((0xE000, r.hi)) }
            }
        }
        ranges = out
    }

    /// Complement relative to all Unicode scalar values. Assumes normalized.
    func complemented() -> CodePointSet {
        var out = CodePointSet()
        var next: UInt32 = 0
        for r in ranges {
            if r.lo > next { out.ranges.append((next, r.lo - 1)) }
            next = r.hi + 1
        }
        if next <= 0x10FFFF { out.ranges.append((next, 0x10FFFF)) }
        out.normalize()
        return out
    }

    static let anyScalar = CodePointSet(ranges: [(0, 0x10FFFF)])
    static let digit = CodePointSet(ranges: [(0x30, 0x39)])
    static let word = CodePointSet(ranges: [(0x30, 0x39), (0x41, 0x5A), (0x5F, 0x5F), (0x61, 0x7A)])
    /// ECMA-262 WhiteSpace + LineTerminator.
    static let space = CodePointSet(ranges: [
        (0x09, 0x0D), (0x20, 0x20), (0xA0, 0xA0), (0x1680, 0x1680), (0x2000, 0x200A),
        (0x2028, 0x2029), (0x202F, 0x202F), (0x205F, 0x205F), (0x3000, 0x3000), (0xFEFF, 0xFEFF),
    ])
    /// `.`: everything except the ECMA line terminators.
    static let dot = CodePointSet(ranges: [(0x0A, 0x0A), (0x0D, 0x0D), (0x2028, 0x2029)]).complemented()
}

// MARK: - AST and parser

fileprivate indirect enum RegexNode {
    case empty
    case set(CodePointSet)
    case concat([RegexNode])
    case alt([RegexNode])
    /// max == -1 means unbounded
    case rep(RegexNode, min: Int, max: Int)
}

fileprivate struct RegexParser {
    static let maxRepeat = 1000

    let cps: [UInt32]
    var pos = 0

    init(_ pattern: String) {
        cps = pattern.unicodeScalars.map { $0.value }
    }

    func peek(_ k: Int = 0) -> UInt32? {
        let i = pos + k
        return i < cps.count ? cps[i] : nil
    }

    func error(_ msg: String, at offset: Int? = nil) -> RegexError {
        RegexError("invalid or unsupported regex: \(msg) at offset \(offset ?? pos)")
    }

    static func ch(_ c: Character) -> UInt32 { c.unicodeScalars.first!.value }

    mutating func parsePattern() throws(RegexError) -> RegexNode {
        let anyStar = RegexNode.rep(.set(.anyScalar), min: 0, max: -1)
        var branches: [RegexNode] = []
        while true {
            var anchoredStart = false
            if peek() == RegexParser.ch("^") { pos += 1; anchoredStart = true }
            var anchoredEnd = false
            let body = try parseSequence(depth: 0, anchoredEnd: &anchoredEnd)
            branches.append(.concat([anchoredStart ? .empty : anyStar, body,
                                     anchoredEnd ? .empty : anyStar]))
            guard let c = peek() else { break }
            if c == RegexParser.ch("|") { pos += 1; continue }
            if c == RegexParser.ch(")") { throw error("unmatched ')'") }
            throw error("unexpected character")  // unreachable in practice
        }
        return branches.count == 1 ? branches[0] : .alt(branches)
    }

    mutating func parseAlternation(depth: Int) throws(RegexError) -> RegexNode {
        var branches: [RegexNode] = []
        var unused = false
        while true {
            branches.append(try parseSequence(depth: depth, anchoredEnd: &unused))
            if peek() == RegexParser.ch("|") { pos += 1; continue }
            break
        }
        return branches.count == 1 ? branches[0] : .alt(branches)
    }

    mutating func parseSequence(depth: Int, anchoredEnd: inout Bool) throws(RegexError) -> RegexNode {
        var items: [RegexNode] = []
        while let c = peek() {
            if c == RegexParser.ch("|") || c == RegexParser.ch(")") { break }
            if c == RegexParser.ch("$") {
                let after = peek(1)
                if depth == 0 && (after == nil || after == RegexParser.ch("|")) {
                    pos += 1
                    anchoredEnd = true
                    break
                }
                throw error("anchor '$' is only supported at the end of the pattern or of a top-level alternative")
            }
            if c == RegexParser.ch("^") {
                throw error("anchor '^' is only supported at the start of the pattern or of a top-level alternative")
            }
            let atom = try parseAtom(depth: depth)
            items.append(try parseQuantifiers(atom))
        }
        if items.isEmpty { return .empty }
        return items.count == 1 ? items[0] : .concat(items)
    }

    /// Tries to read `{n}`, `{n,}` or `{n,m}` at `pos`. Returns nil (and leaves `pos`)
    /// if the text there is not a well-formed quantifier.
    mutating func tryBraces() throws(RegexError) -> (min: Int, max: Int)? {
        guard peek() == RegexParser.ch("{") else { return nil }
        let begin = pos
        var i = pos + 1
        func number(_ i: inout Int) -> Int? {
            var v = 0
            var digits = 0
            while i < cps.count, cps[i] >= 0x30, cps[i] <= 0x39 {
                v = min(v * 10 + Int(cps[i] - 0x30), 1_000_000_000)
                digits += 1
                i += 1
            }
            return digits > 0 ? v : nil
        }
        guard let lo = number(&i) else { return nil }
        var hi = lo
        if i < cps.count, cps[i] == RegexParser.ch(",") {
            i += 1
            if let h = number(&i) { hi = h } else { hi = -1 }
        }
        guard i < cps.count, cps[i] == RegexParser.ch("}") else { return nil }
        if lo > RegexParser.maxRepeat || hi > RegexParser.maxRepeat {
            throw error("repetition count \(max(lo, hi)) in quantifier exceeds the limit of \(RegexParser.maxRepeat)", at: begin)
        }
        if hi != -1 && lo > hi {
            throw error("numbers out of order in {\(lo),\(hi)} quantifier", at: begin)
        }
        pos = i + 1
        return (lo, hi)
    }

    func isQuantifierStart() -> Bool {
        guard let c = peek() else { return false }
        if c == RegexParser.ch("*") || c == RegexParser.ch("+") || c == RegexParser.ch("?") { return true }
        if c == RegexParser.ch("{") {
            var copy = self
            do { return try copy.tryBraces() != nil } catch {
                return true  // a quantifier with bad numbers is still a quantifier
            }
        }
        return false
    }

    mutating func parseQuantifiers(_ atom: RegexNode) throws(RegexError) -> RegexNode {
        guard let c = peek() else { return atom }
        var lo = 0, hi = 0
        if c == RegexParser.ch("*") { lo = 0; hi = -1; pos += 1 }
        else if c == RegexParser.ch("+") { lo = 1; hi = -1; pos += 1 }
        else if c == RegexParser.ch("?") { lo = 0; hi = 1; pos += 1 }
        else if let b = try tryBraces() { lo = b.min; hi = b.max }
        else { return atom }
        if peek() == RegexParser.ch("?") { pos += 1 }  // lazy: irrelevant for matching
        if isQuantifierStart() {
            throw error("nothing to repeat (a quantifier cannot follow another quantifier)")
        }
        if lo == 1 && hi == 1 { return atom }
        return .rep(atom, min: lo, max: hi)
    }

    mutating func parseAtom(depth: Int) throws(RegexError) -> RegexNode {
        let c = peek()!
        switch c {
        case RegexParser.ch("("):
            let open = pos
            pos += 1
            if peek() == RegexParser.ch("?") {
                let k = peek(1)
                if k == RegexParser.ch(":") {
                    pos += 2
                } else if k == RegexParser.ch("=") {
                    throw error("lookahead (?=...) is not supported", at: open)
                } else if k == RegexParser.ch("!") {
                    throw error("negative lookahead (?!...) is not supported", at: open)
                } else if k == RegexParser.ch("<") && peek(2) == RegexParser.ch("=") {
                    throw error("lookbehind (?<=...) is not supported", at: open)
                } else if k == RegexParser.ch("<") && peek(2) == RegexParser.ch("!") {
                    throw error("negative lookbehind (?<!...) is not supported", at: open)
                } else if k == RegexParser.ch("<") {
                    throw error("named group (?<name>...) is not supported", at: open)
                } else {
                    throw error("group modifier (?...) is not supported", at: open)
                }
            }
            let inner = try parseAlternation(depth: depth + 1)
            guard peek() == RegexParser.ch(")") else {
                throw error("missing ')' for the group opened at offset \(open)")
            }
            pos += 1
            return inner
        case RegexParser.ch("["):
            return .set(try parseClass())
        case RegexParser.ch("."):
            pos += 1
            return .set(.dot)
        case RegexParser.ch("\\"):
            return .set(try parseEscape(inClass: false).set)
        case RegexParser.ch("*"), RegexParser.ch("+"), RegexParser.ch("?"):
            throw error("nothing to repeat before quantifier '\(Character(Unicode.Scalar(c)!))'")
        case RegexParser.ch("{"):
            if isQuantifierStart() { throw error("nothing to repeat before quantifier '{'") }
            pos += 1
            return .set(CodePointSet(c))
        default:
            pos += 1
            return .set(CodePointSet(c))
        }
    }

    static func hexValue(_ c: UInt32) -> UInt32? {
        switch c {
        case 0x30...0x39: return c - 0x30
        case 0x41...0x46: return c - 0x41 + 10
        case 0x61...0x66: return c - 0x61 + 10
        default: return nil
        }
    }

    func hexDigits(at i: Int, count: Int) -> UInt32? {
        guard i + count <= cps.count else { return nil }
        var v: UInt32 = 0
        for k in 0..<count {
            guard let h = RegexParser.hexValue(cps[i + k]) else { return nil }
            v = v * 16 + h
        }
        return v
    }

    /// `pos` is at a backslash. Returns the set it denotes and, when it denotes a single
    /// character, that character (class ranges need it).
    mutating func parseEscape(inClass: Bool) throws(RegexError) -> (set: CodePointSet, single: UInt32?) {
        let begin = pos
        pos += 1
        guard let c = peek() else { throw error("pattern ends with a lone backslash", at: begin) }
        pos += 1
        func one(_ v: UInt32) -> (set: CodePointSet, single: UInt32?) { (CodePointSet(v), v) }
        switch Character(Unicode.Scalar(c)!) {
        case "d": return (.digit, nil)
        case "D": return (CodePointSet.digit.complemented(), nil)
        case "w": return (.word, nil)
        case "W": return (CodePointSet.word.complemented(), nil)
        case "s": return (.space, nil)
        case "S": return (CodePointSet.space.complemented(), nil)
        case "n": return one(0x0A)
        case "r": return one(0x0D)
        case "t": return one(0x09)
        case "f": return one(0x0C)
        case "v": return one(0x0B)
        case "0":
            if let d = peek(), d >= 0x30, d <= 0x39 {
                throw error("octal escape \\0\(Character(Unicode.Scalar(d)!)) is not supported", at: begin)
            }
            return one(0)
        case "1", "2", "3", "4", "5", "6", "7", "8", "9":
            var n = Int(c - 0x30)
            while let d = peek(), d >= 0x30, d <= 0x39 { n = min(n * 10 + Int(d - 0x30), 99999); pos += 1 }
            if inClass { throw error("octal escape \\\(n) in a character class is not supported", at: begin) }
            throw error("backreference \\\(n) is not supported", at: begin)
        case "b":
            if inClass { return one(0x08) }
            throw error("word boundary \\b is not supported", at: begin)
        case "B":
            throw error("non-word-boundary \\B is not supported", at: begin)
        case "k":
            throw error("named backreference \\k<...> is not supported", at: begin)
        case "p", "P":
            throw error("Unicode property escape \\\(Character(Unicode.Scalar(c)!)){...} is not supported", at: begin)
        case "x":
            guard let v = hexDigits(at: pos, count: 2) else {
                throw error("\\x must be followed by two hex digits", at: begin)
            }
            pos += 2
            return one(v)
        case "u":
            var v: UInt32
            if peek() == RegexParser.ch("{") {
                var i = pos + 1
                var acc: UInt32 = 0
                var digits = 0
                while i < cps.count, let h = RegexParser.hexValue(cps[i]) {
                    acc = min(acc * 16 + h, 0x110000)
                    digits += 1
                    i += 1
                }
                guard digits > 0, i < cps.count, cps[i] == RegexParser.ch("}"), acc <= 0x10FFFF else {
                    throw error("invalid \\u{...} escape", at: begin)
                }
                pos = i + 1
                v = acc
            } else {
                guard let h = hexDigits(at: pos, count: 4) else {
                    throw error("\\u must be followed by four hex digits", at: begin)
                }
                pos += 4
                v = h
                if v >= 0xD800 && v <= 0xDBFF, peek() == RegexParser.ch("\\"), peek(1) == RegexParser.ch("u"),
                   let low = hexDigits(at: pos + 2, count: 4), low >= 0xDC00, low <= 0xDFFF {
                    pos += 6
                    v = 0x10000 + ((v - 0xD800) << 10) + (low - 0xDC00)
                }
            }
            if v >= 0xD800 && v <= 0xDFFF {
                throw error("lone surrogate escape can never match UTF-8 text", at: begin)
            }
            return one(v)
        case "c":
            if let l = peek(), (l >= 0x41 && l <= 0x5A) || (l >= 0x61 && l <= 0x7A) {
                pos += 1
                return one(l % 32)
            }
            throw error("\\c must be followed by an ASCII letter", at: begin)
        default:
            let isAlnum = (c >= 0x30 && c <= 0x39) || (c >= 0x41 && c <= 0x5A) || (c >= 0x61 && c <= 0x7A)
            if isAlnum { throw error("unknown escape \\\(Character(Unicode.Scalar(c)!))", at: begin) }
            return one(c)  // identity escape: \. \\ \/ \- \( \) \[ \] \{ \} \* \+ \? \| \^ \$ ...
        }
    }

    mutating func parseClassAtom() throws(RegexError) -> (set: CodePointSet, single: UInt32?) {
        let c = peek()!
        if c == RegexParser.ch("\\") { return try parseEscape(inClass: true) }
        pos += 1
        return (CodePointSet(c), c)
    }

    mutating func parseClass() throws(RegexError) -> CodePointSet {
        let open = pos
        pos += 1
        var negate = false
        if peek() == RegexParser.ch("^") { negate = true; pos += 1 }
        var set = CodePointSet()
        while true {
            guard let c = peek() else { throw error("unterminated character class opened at offset \(open)") }
            if c == RegexParser.ch("]") { pos += 1; break }
            let rangeStart = pos
            let a = try parseClassAtom()
            if peek() == RegexParser.ch("-"), let n = peek(1), n != RegexParser.ch("]") {
                pos += 1
                let b = try parseClassAtom()
                if let lo = a.single, let hi = b.single {
                    if lo > hi { throw error("character class range out of order", at: rangeStart) }
                    set.add(lo, hi)
                } else {
                    // Annex B: a class escape like \d as a range endpoint makes '-' literal.
                    set.add(a.set)
                    set.add(0x2D, 0x2D)
                    set.add(b.set)
                }
            } else {
                set.add(a.set)
            }
        }
        set.normalize()
        return negate ? set.complemented() : set
    }
}

// MARK: - UTF-8 range splitting

fileprivate typealias ByteRange = (lo: UInt8, hi: UInt8)

fileprivate func utf8Encode(_ c: UInt32) -> [UInt8] {
    switch c {
    case 0..<0x80: return [UInt8(c)]
    case 0x80..<0x800: return [UInt8(0xC0 | (c >> 6)), UInt8(0x80 | (c & 0x3F))]
    case 0x800..<0x10000:
        return [UInt8(0xE0 | (c >> 12)), UInt8(0x80 | ((c >> 6) & 0x3F)), UInt8(0x80 | (c & 0x3F))]
    default:
        return [UInt8(0xF0 | (c >> 18)), UInt8(0x80 | ((c >> 12) & 0x3F)),
                UInt8(0x80 | ((c >> 6) & 0x3F)), UInt8(0x80 | (c & 0x3F))]
    }
}

/// Splits a scalar range into sequences of byte ranges, each matching exactly the UTF-8
/// encodings of a sub-range (the algorithm of RE2 / Rust's utf8-ranges).
fileprivate func utf8Sequences(_ lo: UInt32, _ hi: UInt32, into out: inout [[ByteRange]]) {
    var stack: [(UInt32, UInt32)] = [(lo, hi)]
    outer: while let (s, e) = stack.popLast() {
        if s > e { continue }
        if s <= 0xDFFF && e >= 0xD800 {  // never emit surrogates
            if s < 0xD800 { stack.append((s, 0xD7FF)) }
            if e > 0xDFFF { stack.append((0xE000, e)) }
            continue
        }
        for m: UInt32 in [0x7F, 0x7FF, 0xFFFF] where s <= m && m < e {
            stack.append((m + 1, e))
            stack.append((s, m))
            continue outer
        }
        if e <= 0x7F {
            out.append([(UInt8(s), UInt8(e))])
            continue
        }
        for i: UInt32 in 1..<4 {
            let m: UInt32 = (1 << (6 * i)) - 1
            if (s & ~m) != (e & ~m) {
                if (s & m) != 0 {
                    stack.append(((s | m) + 1, e))
                    stack.append((s, s | m))
                    continue outer
                }
                if (e & m) != m {
                    stack.append((e & ~m, e))
                    stack.append((s, (e & ~m) - 1))
                    continue outer
                }
            }
        }
        let a = utf8Encode(s), b = utf8Encode(e)
        var seq: [ByteRange] = []
        seq.reserveCapacity(a.count)
        for k in 0..<a.count { seq.append((a[k], b[k])) }
        out.append(seq)
    }
}

// MARK: - Thompson NFA over bytes

fileprivate struct NFAEdge {
    var lo: UInt8
    var hi: UInt8
    var to: Int32
}

fileprivate struct NFABuilder {
    var eps: [[Int32]] = []
    var edges: [[NFAEdge]] = []
    let limit: Int

    init(limit: Int) { self.limit = limit }

    mutating func newState() throws(RegexError) -> Int32 {
        if eps.count >= limit {
            throw RegexError("pattern too large: the NFA exceeds \(limit) states (reduce repetition counts)")
        }
        eps.append([])
        edges.append([])
        return Int32(eps.count - 1)
    }

    /// Emits `node` starting at `from`; returns its end state. Invariant: the returned
    /// state is `from` or a fresh state without outgoing transitions, and no construct
    /// adds transitions into `from`, so fragments can be chained safely.
    mutating func emit(_ node: RegexNode, from: Int32) throws(RegexError) -> Int32 {
        switch node {
        case .empty:
            return from
        case .set(let set):
            var seqs: [[ByteRange]] = []
            for r in set.ranges { utf8Sequences(r.lo, r.hi, into: &seqs) }
            // Chains are built back to front with shared suffixes (e.g. one state for
            // "one more continuation byte [80-BF], then end"), so that the subset
            // construction does not create a separate mid-character state per chain.
            let end = try newState()
            var suffixCache: [UInt64: Int32] = [:]
            for seq in seqs {
                var target = end
                var j = seq.count - 1
                while j >= 1 {
                    let r = seq[j]
                    let key = UInt64(r.lo) << 40 | UInt64(r.hi) << 32 | UInt64(UInt32(bitPattern: target))
                    if let shared = suffixCache[key] {
                        target = shared
                    } else {
                        let st = try newState()
                        edges[Int(st)].append(NFAEdge(lo: r.lo, hi: r.hi, to: target))
                        suffixCache[key] = st
                        target = st
                    }
                    j -= 1
                }
                edges[Int(from)].append(NFAEdge(lo: seq[0].lo, hi: seq[0].hi, to: target))
            }
            return end
        case .concat(let items):
            var cur = from
            for item in items { cur = try emit(item, from: cur) }
            return cur
        case .alt(let branches):
            let end = try newState()
            for b in branches {
                let e = try emit(b, from: from)
                eps[Int(e)].append(end)
            }
            return end
        case .rep(let inner, let lo, let hi):
            var cur = from
            for _ in 0..<lo { cur = try emit(inner, from: cur) }
            if hi == -1 {
                let loop = try newState()
                eps[Int(cur)].append(loop)
                let e = try emit(inner, from: loop)
                eps[Int(e)].append(loop)
                let out = try newState()
                eps[Int(loop)].append(out)
                return out
            }
            if hi > lo {
                let end = try newState()
                for _ in lo..<hi {
                    eps[Int(cur)].append(end)
                    cur = try emit(inner, from: cur)
                }
                eps[Int(cur)].append(end)
                return end
            }
            return cur
        }
    }
}

// MARK: - Subset construction, pruning, minimization, distances

fileprivate enum DFAConstruction {
    static func build(nfa: NFABuilder, start nfaStart: Int32, accept nfaAccept: Int32,
                      maxStates: Int) throws(RegexError) -> ByteDFA {
        let n = nfa.eps.count

        // Byte equivalence classes: bytes that no NFA edge distinguishes.
        var boundary = [Bool](repeating: false, count: 257)
        boundary[0] = true
        for list in nfa.edges {
            for e in list {
                boundary[Int(e.lo)] = true
                boundary[Int(e.hi) + 1] = true
            }
        }
        var classOf = [Int](repeating: 0, count: 256)
        var k = -1
        for b in 0..<256 {
            if boundary[b] { k += 1 }
            classOf[b] = k
        }
        k += 1  // number of classes

        // Epsilon closure, keeping only "kernel" states (with byte edges, or the accept).
        var mark = [UInt32](repeating: 0, count: n)
        var gen: UInt32 = 0
        var stack: [Int32] = []
        func closure(_ seeds: [Int32]) -> [Int32] {
            gen &+= 1
            var result: [Int32] = []
            stack.removeAll(keepingCapacity: true)
            stack.append(contentsOf: seeds)
            while let s = stack.popLast() {
                let i = Int(s)
                if mark[i] == gen { continue }
                mark[i] = gen
                if !nfa.edges[i].isEmpty || s == nfaAccept { result.append(s) }
                stack.append(contentsOf: nfa.eps[i])
            }
            result.sort()
            return result
        }

        // `maxStates` bounds the final (minimized) automaton; the unminimized subset
        // construction may use up to 4x that before giving up.
        let subsetLimit = max(maxStates, 1) * 4
        let startSet = closure([nfaStart])
        if startSet.isEmpty { return emptyLanguage() }

        var index: [[Int32]: Int32] = [startSet: 0]
        var sets: [[Int32]] = [startSet]
        var trans: [Int32] = [Int32](repeating: -1, count: k)
        var acc: [Bool] = [startSet.contains(nfaAccept)]
        var buckets = [[Int32]](repeating: [], count: k)
        var touched: [Int] = []

        var i = 0
        while i < sets.count {
            touched.removeAll(keepingCapacity: true)
            for s in sets[i] {
                for e in nfa.edges[Int(s)] {
                    for c in classOf[Int(e.lo)]...classOf[Int(e.hi)] {
                        if buckets[c].isEmpty { touched.append(c) }
                        buckets[c].append(e.to)
                    }
                }
            }
            for c in touched {
                let key = closure(buckets[c])
                buckets[c].removeAll(keepingCapacity: true)
                if key.isEmpty { continue }
                if let id = index[key] {
                    trans[i * k + c] = id
                } else {
                    if sets.count >= subsetLimit {
                        throw RegexError("pattern too complex: its DFA exceeds maxStates (\(maxStates)) states (the unminimized subset construction passed \(subsetLimit) states)")
                    }
                    let id = Int32(sets.count)
                    index[key] = id
                    sets.append(key)
                    acc.append(key.contains(nfaAccept))
                    trans.append(contentsOf: repeatElement(-1, count: k))
                    trans[i * k + c] = id
                }
            }
            i += 1
        }
        let count = sets.count

        // Prune: keep only states from which an accepting state is reachable.
        let live = coReachable(count: count, k: k, trans: trans, accepting: acc)
        if !live[0] { return emptyLanguage() }

        // Compact live states, plus one explicit sink (index m-1) standing for "dead".
        var newIdx = [Int32](repeating: -1, count: count)
        var m = 0
        for s in 0..<count where live[s] { newIdx[s] = Int32(m); m += 1 }
        let sink = Int32(m)
        m += 1
        var tr = [Int32](repeating: sink, count: m * k)
        var acc2 = [Bool](repeating: false, count: m)
        for s in 0..<count where live[s] {
            let ns = Int(newIdx[s])
            acc2[ns] = acc[s]
            for c in 0..<k {
                let t = trans[s * k + c]
                if t >= 0 && live[Int(t)] { tr[ns * k + c] = newIdx[Int(t)] }
            }
        }

        let blockOf = hopcroft(m: m, k: k, tr: tr, accepting: acc2)

        // Renumber blocks by BFS from the start block; the sink's block becomes dead.
        let sinkBlock = blockOf[Int(sink)]
        var blockToState = [Int32](repeating: -1, count: m)
        var rep: [Int] = []  // representative old state per new state
        var queue: [Int] = [0]
        blockToState[Int(blockOf[0])] = 0
        rep.append(0)
        var qi = 0
        while qi < queue.count {
            let s = queue[qi]
            qi += 1
            for c in 0..<k {
                let t = Int(tr[s * k + c])
                let b = Int(blockOf[t])
                if b == Int(sinkBlock) || blockToState[b] >= 0 { continue }
                blockToState[b] = Int32(rep.count)
                rep.append(t)
                queue.append(t)
            }
        }
        let finalCount = rep.count
        if finalCount > maxStates {
            throw RegexError("pattern too complex: its DFA has \(finalCount) states, more than maxStates (\(maxStates))")
        }
        var ftrans = [Int32](repeating: -1, count: finalCount * k)  // class-level
        var facc = [Bool](repeating: false, count: finalCount + 1)
        for (ns, r) in rep.enumerated() {
            facc[ns + 1] = acc2[r]
            for c in 0..<k {
                let b = Int(blockOf[Int(tr[r * k + c])])
                ftrans[ns * k + c] = b == Int(sinkBlock) ? -1 : blockToState[b]
            }
        }

        // Distances: multi-source BFS from accepting states over reversed edges.
        let d = distances(count: finalCount, k: k, trans: ftrans, accepting: Array(facc[1...]))
        var fdist = [Int](repeating: Int.max, count: finalCount + 1)
        for s in 0..<finalCount { fdist[s + 1] = d[s] }

        // Expand to the byte-level table.
        var table = [Int32](repeating: -1, count: (finalCount + 1) * 256)
        table.withUnsafeMutableBufferPointer { tb in
            for s in 0..<finalCount {
                let row = (s + 1) << 8
                let base = s * k
                for b in 0..<256 { tb[row | b] = ftrans[base + classOf[b]] }
            }
        }
        return ByteDFA(start: 0, table: table, accepting: facc, dist: fdist)
    }

    static func emptyLanguage() -> ByteDFA {
        ByteDFA(start: 0, table: [Int32](repeating: -1, count: 512), accepting: [false, false],
                dist: [Int.max, Int.max])
    }

    static func reverseCSR(count: Int, k: Int, trans: [Int32]) -> (start: [Int], src: [Int32]) {
        var start = [Int](repeating: 0, count: count + 1)
        for s in 0..<count {
            for c in 0..<k {
                let t = trans[s * k + c]
                if t >= 0 { start[Int(t) + 1] += 1 }
            }
        }
        for i in 0..<count { start[i + 1] += start[i] }
        var fill = start
        var src = [Int32](repeating: 0, count: start[count])
        for s in 0..<count {
            for c in 0..<k {
                let t = trans[s * k + c]
                if t >= 0 {
                    src[fill[Int(t)]] = Int32(s)
                    fill[Int(t)] += 1
                }
            }
        }
        return (start, src)
    }

    static func coReachable(count: Int, k: Int, trans: [Int32], accepting: [Bool]) -> [Bool] {
        let d = distances(count: count, k: k, trans: trans, accepting: accepting)
        return d.map { $0 != Int.max }
    }

    static func distances(count: Int, k: Int, trans: [Int32], accepting: [Bool]) -> [Int] {
        let (start, src) = reverseCSR(count: count, k: k, trans: trans)
        var dist = [Int](repeating: Int.max, count: count)
        var queue: [Int] = []
        queue.reserveCapacity(count)
        for s in 0..<count where accepting[s] {
            dist[s] = 0
            queue.append(s)
        }
        var qi = 0
        while qi < queue.count {
            let t = queue[qi]
            qi += 1
            let nd = dist[t] + 1
            for i in start[t]..<start[t + 1] {
                let s = Int(src[i])
                if dist[s] == Int.max {
                    dist[s] = nd
                    queue.append(s)
                }
            }
        }
        return dist
    }

    /// Hopcroft's partition refinement on a complete DFA with `m` states and `k` symbols.
    /// Returns the block id of every state.
    static func hopcroft(m: Int, k: Int, tr: [Int32], accepting: [Bool]) -> [Int32] {
        // Inverse transitions, CSR keyed by c * m + target.
        var invStart = [Int](repeating: 0, count: k * m + 1)
        for s in 0..<m {
            for c in 0..<k { invStart[c * m + Int(tr[s * k + c]) + 1] += 1 }
        }
        for i in 0..<(k * m) { invStart[i + 1] += invStart[i] }
        var fill = invStart
        var invSrc = [Int32](repeating: 0, count: m * k)
        for s in 0..<m {
            for c in 0..<k {
                let key = c * m + Int(tr[s * k + c])
                invSrc[fill[key]] = Int32(s)
                fill[key] += 1
            }
        }

        var elems = [Int32](repeating: 0, count: m)
        var loc = [Int](repeating: 0, count: m)
        var blockOf = [Int32](repeating: 0, count: m)
        var bStart: [Int] = []
        var bEnd: [Int] = []
        var p = 0
        for s in 0..<m where accepting[s] { elems[p] = Int32(s); loc[s] = p; p += 1 }
        let nAcc = p
        for s in 0..<m where !accepting[s] { elems[p] = Int32(s); loc[s] = p; p += 1 }
        if nAcc > 0 { bStart.append(0); bEnd.append(nAcc) }
        if nAcc < m {
            let b = Int32(bStart.count)
            bStart.append(nAcc); bEnd.append(m)
            for i in nAcc..<m { blockOf[Int(elems[i])] = b }
        }
        var markCount = [Int](repeating: 0, count: bStart.count)
        var inW = [Bool](repeating: true, count: bStart.count)
        var work: [Int] = Array(0..<bStart.count)
        var touched: [Int] = []
        var splitter: [Int32] = []

        while let a = work.popLast() {
            inW[a] = false
            splitter.removeAll(keepingCapacity: true)
            splitter.append(contentsOf: elems[bStart[a]..<bEnd[a]])
            for c in 0..<k {
                touched.removeAll(keepingCapacity: true)
                for t in splitter {
                    let key = c * m + Int(t)
                    for j in invStart[key]..<invStart[key + 1] {
                        let s = Int(invSrc[j])
                        let b = Int(blockOf[s])
                        let front = bStart[b] + markCount[b]
                        if loc[s] < front { continue }  // already marked
                        if markCount[b] == 0 { touched.append(b) }
                        let other = Int(elems[front])
                        elems[loc[s]] = Int32(other); loc[other] = loc[s]
                        elems[front] = Int32(s); loc[s] = front
                        markCount[b] += 1
                    }
                }
                for b in touched {
                    let cnt = markCount[b]
                    markCount[b] = 0
                    if cnt == bEnd[b] - bStart[b] { continue }
                    let nb = bStart.count
                    bStart.append(bStart[b]); bEnd.append(bStart[b] + cnt)
                    markCount.append(0)
                    inW.append(false)
                    bStart[b] += cnt
                    for q in bStart[nb]..<bEnd[nb] { blockOf[Int(elems[q])] = Int32(nb) }
                    if inW[b] {
                        work.append(nb); inW[nb] = true
                    } else {
                        let smaller = (bEnd[nb] - bStart[nb]) <= (bEnd[b] - bStart[b]) ? nb : b
                        work.append(smaller); inW[smaller] = true
                    }
                }
            }
        }
        return blockOf
    }
}
