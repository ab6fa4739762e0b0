/// Byte-level lexers for the parts of JSON whose validity does not depend on the schema: string contents (UTF-8 and
/// escapes, tracked byte by byte because a byte-level BPE token may end in the middle of a character) and numbers.
/// Their states are small integers so the vocabulary can precompute, once per model, which tokens keep a string
/// going from each state.
enum StringLexer {
    static let invalid: UInt8 = 0xFF
    /// The closing quote: the string ends here.
    static let close: UInt8 = 0xFE
    /// A backslash inside an object key: keys allow escapes only where a declared name spells one (see `KeyState`).
    static let escape: UInt8 = 0xFD

    // States 0..<8 are UTF-8 positions (shared by value strings and keys); 8..<22 are escape positions.
    static let normal: UInt8 = 0
    static let utf8StateCount = 8
    static let valueStateCount = 22
    private static let c1: UInt8 = 1, c2: UInt8 = 2, c3: UInt8 = 3, e0: UInt8 = 4, ed: UInt8 = 5, f0: UInt8 = 6, f4: UInt8 = 7
    private static let esc: UInt8 = 8, u0: UInt8 = 9, uD: UInt8 = 10, u1: UInt8 = 11, u2: UInt8 = 12, u3: UInt8 = 13
    private static let hu2: UInt8 = 14, hu3: UInt8 = 15, afterHigh: UInt8 = 16, lowEsc: UInt8 = 17
    private static let lu0: UInt8 = 18, lu1: UInt8 = 19, lu2: UInt8 = 20, lu3: UInt8 = 21

    /// Next state of a value string (`valueTable[state << 8 | byte]`): any Unicode, the JSON escapes, `\u` escapes
    /// with surrogates only in valid pairs (so the output is also valid Unicode), no raw control characters.
    static let valueTable: [UInt8] = build(escapes: true)
    /// Next state inside an object key: the same UTF-8 rules; `\` yields `escape`.
    static let keyTable: [UInt8] = build(escapes: false)

    /// Bytes still needed to close a value string from each state (the shortest completion, for closing bias).
    static let valueRemaining: [Int] = [1, 2, 3, 4, 3, 3, 4, 4, 2, 5, 4, 4, 3, 2, 9, 8, 7, 6, 5, 4, 3, 2]
    /// Bytes a key still needs to finish its current character (not counting the closing quote).
    static let utf8Pending: [Int] = [0, 1, 2, 3, 2, 2, 3, 3]

    static func isEscapeState(_ s: UInt8) -> Bool { s >= esc && s < 0xFD }

    private static func isHex(_ b: UInt8) -> Bool {
        (0x30...0x39).contains(b) || (0x41...0x46).contains(b) || (0x61...0x66).contains(b)
    }

    private static func build(escapes: Bool) -> [UInt8] {
        let count = escapes ? valueStateCount : utf8StateCount
        var t = [UInt8](repeating: invalid, count: count * 256)
        for s in 0..<count {
            for b in 0..<256 {
                t[s << 8 | b] = next(UInt8(s), UInt8(b), escapes: escapes)
            }
        }
        return t
    }

    private static func next(_ s: UInt8, _ b: UInt8, escapes: Bool) -> UInt8 {
        let cont = (0x80...0xBF).contains(b)
        switch s {
        case normal:
            switch b {
            case 0x22: return close
            case 0x5C: return escapes ? esc : escape
            case 0x00..<0x20: return invalid
            case 0x20..<0x80: return normal
            case 0xC2...0xDF: return c1
            case 0xE0: return e0
            case 0xED: return ed
            case 0xE1...0xEF: return c2
            case 0xF0: return f0
            case 0xF4: return f4
            case 0xF1...0xF3: return c3
            default: return invalid
            }
        case c1: return cont ? normal : invalid
        case c2: return cont ? c1 : invalid
        case c3: return cont ? c2 : invalid
        case e0: return (0xA0...0xBF).contains(b) ? c1 : invalid
        case ed: return (0x80...0x9F).contains(b) ? c1 : invalid
        case f0: return (0x90...0xBF).contains(b) ? c2 : invalid
        case f4: return (0x80...0x8F).contains(b) ? c2 : invalid
        case esc:
            if Array("\"\\/bfnrt".utf8).contains(b) { return normal }
            return b == UInt8(ascii: "u") ? u0 : invalid
        case u0:
            if b == UInt8(ascii: "d") || b == UInt8(ascii: "D") { return uD }
            return isHex(b) ? u1 : invalid
        case uD:
            if (0x30...0x37).contains(b) { return u2 }
            if Array("89abAB".utf8).contains(b) { return hu2 }
            return invalid  // a low surrogate without a high one
        case u1: return isHex(b) ? u2 : invalid
        case u2: return isHex(b) ? u3 : invalid
        case u3: return isHex(b) ? normal : invalid
        case hu2: return isHex(b) ? hu3 : invalid
        case hu3: return isHex(b) ? afterHigh : invalid
        case afterHigh: return b == 0x5C ? lowEsc : invalid
        case lowEsc: return b == UInt8(ascii: "u") ? lu0 : invalid
        case lu0: return b == UInt8(ascii: "d") || b == UInt8(ascii: "D") ? lu1 : invalid
        case lu1: return Array("cdefCDEF".utf8).contains(b) ? lu2 : invalid
        case lu2: return isHex(b) ? lu3 : invalid
        case lu3: return isHex(b) ? normal : invalid
        default: return invalid
        }
    }
}

/// JSON numbers (`-?(0|[1-9][0-9]*)(\.[0-9]+)?([eE][+-]?[0-9]+)?`), integers without fraction or exponent, with digit
/// runs bounded so a model cannot spin on digits and every value fits a double (and a JavaScript safe integer).
enum NumberLexer {
    static let maxIntegerDigits: UInt8 = 15
    static let maxFractionDigits: UInt8 = 15
    static let maxExponentDigits: UInt8 = 2

    enum Phase: UInt8, Sendable { case minus, zero, integer, dot, fraction, exponent, exponentSign, exponentDigits }

    enum Step: Equatable, Sendable { case next(Phase, UInt8), end, invalid }

    static func isDigit(_ b: UInt8) -> Bool { b >= 0x30 && b <= 0x39 }

    /// The state after the value's first byte (`-` or a digit), nil for any other byte.
    static func start(_ b: UInt8) -> (Phase, UInt8)? {
        if b == UInt8(ascii: "-") { return (.minus, 0) }
        if b == UInt8(ascii: "0") { return (.zero, 0) }
        if isDigit(b) { return (.integer, 1) }
        return nil
    }

    /// `end` means the number is complete and `b` belongs to what follows it.
    static func step(_ phase: Phase, _ count: UInt8, integerOnly: Bool, _ b: UInt8) -> Step {
        let isExp = b == UInt8(ascii: "e") || b == UInt8(ascii: "E")
        switch phase {
        case .minus:
            if b == UInt8(ascii: "0") { return .next(.zero, 0) }
            return isDigit(b) ? .next(.integer, 1) : .invalid
        case .zero, .integer:
            if phase == .integer, isDigit(b) { return count < maxIntegerDigits ? .next(.integer, count + 1) : .end }
            if !integerOnly, b == UInt8(ascii: ".") { return .next(.dot, 0) }
            if !integerOnly, isExp { return .next(.exponent, 0) }
            return .end
        case .dot:
            return isDigit(b) ? .next(.fraction, 1) : .invalid
        case .fraction:
            if isDigit(b) { return count < maxFractionDigits ? .next(.fraction, count + 1) : .end }
            return isExp ? .next(.exponent, 0) : .end
        case .exponent:
            if b == UInt8(ascii: "+") || b == UInt8(ascii: "-") { return .next(.exponentSign, 0) }
            return isDigit(b) ? .next(.exponentDigits, 1) : .invalid
        case .exponentSign:
            return isDigit(b) ? .next(.exponentDigits, 1) : .invalid
        case .exponentDigits:
            if isDigit(b) { return count < maxExponentDigits ? .next(.exponentDigits, count + 1) : .end }
            return .end
        }
    }

    static func isAccepting(_ phase: Phase) -> Bool {
        switch phase {
        case .zero, .integer, .fraction, .exponentDigits: return true
        case .minus, .dot, .exponent, .exponentSign: return false
        }
    }
}

/// A non-integer number's bounds, each open or closed. A bounded number is written in plain decimal notation (no
/// exponent) with at most 15 digits, so a prefix's value and everything it can still become are exact decimals
/// that Double holds: digit by digit, the grammar keeps only prefixes from which some number inside the bounds is
/// reachable, so an output never leaves the range nor dead-ends.
struct DecimalRange: Equatable, Sendable {
    var lo = -Double.infinity
    var hi = Double.infinity
    var loOpen = false
    var hiOpen = false

    static let maxDigits = 15

    var isBounded: Bool { lo > -Double.infinity || hi < Double.infinity }

    func meeting(_ other: DecimalRange) -> DecimalRange {
        var out = self
        if other.lo > lo || (other.lo == lo && other.loOpen) { out.lo = other.lo; out.loOpen = other.loOpen }
        if other.hi < hi || (other.hi == hi && other.hiOpen) { out.hi = other.hi; out.hiOpen = other.hiOpen }
        return out
    }

    func contains(_ x: Double) -> Bool {
        (loOpen ? x > lo : x >= lo) && (hiOpen ? x < hi : x <= hi)
    }

    /// Whether some multiple of `spacing` in a ≤ x < b (or, mirrored, -b < x ≤ -a) lies in the range: what a
    /// prefix can still become, given how many digits it may still add.
    private func meets(_ a: Double, _ b: Double, spacing: Double, negative: Bool) -> Bool {
        // Work on the positive side: mirror the range for a negative prefix.
        let (l, h, lOpen, hOpen) = negative ? (-hi, -lo, hiOpen, loOpen) : (lo, hi, loOpen, hiOpen)
        let from = max(a, l)
        var steps = (from / spacing).rounded(.up)
        if steps * spacing < from { steps += 1 }
        if lOpen && steps * spacing == l { steps += 1 }
        let g = steps * spacing
        // A negative prefix reaches -a itself but not -b; a positive one a but not b: on the mirrored side both
        // are a ≤ x < b.
        guard g < b || (g == a) else { return false }
        return hOpen ? g < h : g <= h
    }

    /// The value of a complete lexeme: its digits `magnitude` with `fraction` of them after the point.
    static func value(negative: Bool, magnitude: Int64, fraction: Int) -> Double {
        let v = Double(magnitude) / pow10(fraction)
        return negative ? -v : v
    }

    static func pow10(_ n: Int) -> Double {
        var p = 1.0
        for _ in 0..<abs(n) { p *= 10 }
        return n < 0 ? 1 / p : p
    }

    /// Whether a number that begins with this prefix can lie in the range. `digits`: the digits written in the
    /// current phase (`NumberLexer`'s count); `magnitude`: all digits so far as one integer.
    func reachable(negative: Bool, magnitude m: Int64, phase: NumberLexer.Phase, digits: Int) -> Bool {
        let significant = m == 0 ? 0 : String(m).count
        switch phase {
        case .minus:
            return meets(0, Double.infinity, spacing: 1e-15, negative: true)
        case .zero:
            return meets(0, 1, spacing: DecimalRange.pow10(-15), negative: negative)
        case .integer:
            var scale = 1.0
            for n in 0...max(0, DecimalRange.maxDigits - digits) {
                let room = max(0, DecimalRange.maxDigits - digits - n)
                if meets(Double(m) * scale, Double(m + 1) * scale, spacing: 1 / DecimalRange.pow10(room),
                         negative: negative) { return true }
                scale *= 10
            }
            return false
        case .dot:
            // A point needs at least one fraction digit after it.
            let room = DecimalRange.maxDigits - significant
            guard room >= 1 else { return false }
            return meets(Double(m), Double(m + 1), spacing: 1 / DecimalRange.pow10(room), negative: negative)
        case .fraction:
            let p = DecimalRange.pow10(digits)
            let room = min(Int(NumberLexer.maxFractionDigits) - digits, DecimalRange.maxDigits - significant)
            return meets(Double(m) / p, Double(m + 1) / p, spacing: 1 / DecimalRange.pow10(digits + max(0, room)),
                         negative: negative)
        case .exponent, .exponentSign, .exponentDigits:
            return false
        }
    }

    /// Bytes of the shortest number in the range, nil when there is none.
    var shortest: Int? {
        if contains(0) { return 1 }
        let negative = hi <= 0
        // Mirror a negative range onto the positive side: the shortest has the same digits and a minus.
        let mirrored = negative ? DecimalRange(lo: -hi, hi: -lo, loOpen: hiOpen, hiOpen: loOpen) : self
        for fraction in 0...DecimalRange.maxDigits {
            let p = DecimalRange.pow10(fraction)
            var candidate = (mirrored.lo * p).rounded(.up)
            if candidate / p == mirrored.lo && mirrored.loOpen { candidate += 1 }
            let x = candidate / p
            guard candidate < 1e15 else { return nil }
            if mirrored.contains(x) {
                let integerDigits = String(Int64(x.rounded(.down))).count
                return (negative ? 1 : 0) + integerDigits + (fraction > 0 ? 1 + fraction : 0)
            }
        }
        return nil
    }
}
