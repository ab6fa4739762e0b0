/// Where inside a terminal (a string, key, number or literal) the parse is; `none` between terminals.
enum Lex: Equatable, Sendable {
    case none
    /// Value-string lexer state, the string's length bounds (`Grammar.strings`; -1: none) and, where bounded, the
    /// code points completed so far and, for a `pattern`/`format` string, its automaton's state.
    case string(UInt8, spec: Int32, count: Int32, dfa: Int32)
    /// Key lexer state (`StringLexer.keyTable`; 255 inside an escape that a declared name spells) and the node of the
    /// object's name trie the key has followed so far (-1: it matches no declared name).
    case key(UInt8, Int32)
    /// Number lexer phase and digit count; for a bounded integer (`Grammar.ranges`, -1: none) also its sign and the
    /// magnitude of its digits so far.
    case number(NumberLexer.Phase, UInt8, integerOnly: Bool, range: Int32, negative: Bool, magnitude: Int64)
    case literal(Int32)
}

enum FrameKind: UInt8, Sendable { case root, object, array }

/// Frame phases. Root: `expectValue` then `done`. Object: `open` `key` `colon` `value` `after` `comma`. Array: `open`
/// `after` `comma`. A container's phase moves to `after` as soon as one of its values begins.
enum Phase: UInt8, Sendable { case expectValue, done, open, key, colon, value, after, comma }

struct Frame: Equatable, Sendable {
    var kind: FrameKind
    var phase: Phase
    var spec: Int32 = -1
    /// Array: items begun. Object: keys closed.
    var count: Int32 = 0
    /// Object: the value node for the key just closed.
    var pending: Int32 = -1
    var used = PropSet()
}

/// The suspended containers below the current one, as an immutable linked list so that copying a parse state (which
/// the token-trie walk does at every node) costs one reference, and forking alternatives shares the prefix.
final class FrameNode: Sendable {
    let frame: Frame
    let next: FrameNode?

    init(frame: Frame, next: FrameNode?) {
        self.frame = frame
        self.next = next
    }
}

/// Where a framed output (`ValueFraming`) is: inside a value, or at `offset` in one of the literals around it.
struct FramingPosition: Equatable, Sendable {
    enum Part: UInt8, Sendable { case value, prefix, suffix, separator, afterSuffix }
    var part: Part = .value
    var offset: UInt16 = 0
    /// Values completed so far.
    var values: UInt8 = 0
}

/// One deterministic parse of the output so far. Several exist at once only where `anyOf` branches overlap.
struct ParseState: Equatable, Sendable {
    var lex: Lex = .none
    var top: Frame
    var below: FrameNode?
    /// Length of the current whitespace run.
    var whitespace: UInt8 = 0
    var framing = FramingPosition()

    static func == (a: ParseState, b: ParseState) -> Bool {
        a.lex == b.lex && a.top == b.top && a.below === b.below && a.whitespace == b.whitespace
            && a.framing == b.framing
    }
}

extension Grammar {
    var initialState: ParseState {
        var s = ParseState(top: Frame(kind: .root, phase: .expectValue))
        if let framing, !framing.prefix.isEmpty { s.framing.part = .prefix }
        return s
    }

    /// Advances `s` by one byte. False: the byte breaks the grammar. Where overlapping `anyOf` branches begin here,
    /// `s` takes the first and the others are appended to `forks`.
    func step(_ s: inout ParseState, _ b: UInt8, _ forks: inout [ParseState]) -> Bool {
        guard let framing else { return stepValue(&s, b, &forks) }
        if s.framing.part != .value { return stepFraming(&s, b, framing) }
        let before = s
        if stepValue(&s, b, &forks) { return true }
        // The value may end here: the suffix begins.
        guard isValueComplete(before), b == framing.suffix[0] else { return false }
        s = before
        s.lex = .none
        s.framing.values &+= 1
        s.framing.part = framing.suffix.count == 1 ? .afterSuffix : .suffix
        s.framing.offset = 1
        return true
    }

    /// A byte of the literal text around the values.
    private func stepFraming(_ s: inout ParseState, _ b: UInt8, _ framing: ValueFraming) -> Bool {
        let literal: [UInt8]
        switch s.framing.part {
        case .value: return false
        case .prefix: literal = framing.prefix
        case .suffix: literal = framing.suffix
        case .separator: literal = framing.separator
        case .afterSuffix:
            guard Int(s.framing.values) < framing.maxValues, !framing.separator.isEmpty,
                  b == framing.separator[0] else { return false }
            s.framing.part = .separator
            s.framing.offset = 0
            literal = framing.separator
        }
        let offset = Int(s.framing.offset)
        guard offset < literal.count, literal[offset] == b else { return false }
        s.framing.offset += 1
        guard offset + 1 == literal.count else { return true }
        switch s.framing.part {
        case .prefix, .separator:
            s.framing.part = .value
            s.framing.offset = 0
            s.top = Frame(kind: .root, phase: .expectValue)
            s.below = nil
            s.lex = .none
            s.whitespace = 0
        default:
            s.framing.part = .afterSuffix
        }
        return true
    }

    private func stepValue(_ s: inout ParseState, _ b: UInt8, _ forks: inout [ParseState]) -> Bool {
        switch s.lex {
        case .none:
            return structural(&s, b, &forks)
        case .string(let state, let spec, let count, let dfa):
            var nextDFA = dfa
            if spec >= 0 {
                let limits = strings[Int(spec)]
                if state == StringLexer.normal, b != UInt8(ascii: "\"") {
                    if Int(count) >= limits.maxLength { return false }  // a new code point would pass maxLength
                }
                if limits.dfa >= 0 {
                    let automaton = dfas[Int(limits.dfa)]
                    if state == StringLexer.normal && b == UInt8(ascii: "\"") {
                        guard automaton.isAccepting(dfa) else { return false }
                    } else {
                        // The automaton reads the text itself, so escapes are not offered in such strings.
                        if b == UInt8(ascii: "\\") { return false }
                        nextDFA = automaton.next(dfa, b)
                        guard nextDFA != ByteDFA.dead else { return false }
                        // With a maximum length, the rest of a match must still fit (bytes counted as code points: never
                        // too few, so no dead end).
                        if limits.maxLength < Int.max {
                            guard Int(count) + 1 + automaton.distance(nextDFA) <= limits.maxLength else { return false }
                        }
                    }
                }
            }
            let n = StringLexer.valueTable[Int(state) << 8 | Int(b)]
            if n == StringLexer.close {
                if spec >= 0, Int(count) < strings[Int(spec)].minLength { return false }
                s.lex = .none
                return true
            }
            if n >= StringLexer.escape { return false }
            // A code point is complete when the lexer is back in its normal state.
            s.lex = .string(n, spec: spec, count: spec >= 0 && n == StringLexer.normal ? count + 1 : count, dfa: nextDFA)
            return true
        case .key(let k, let t):
            return stepKey(&s, k, t, b)
        case .number(let phase, let count, let integerOnly, let range, let negative, let magnitude):
            switch NumberLexer.step(phase, count, integerOnly: integerOnly, b) {
            case .next(let p, let c):
                var m = magnitude
                if range >= 0 {
                    if p == .integer { m = magnitude * 10 + Int64(b) - 48 }
                    guard ranges[Int(range)].extraDigits(negative: negative, magnitude: m, digits: Int(c),
                                                         zero: p == .zero) != nil else { return false }
                } else if range <= -2 {
                    // A bounded decimal: no exponent, at most 15 digits, and always a way into the range.
                    if p == .integer || p == .fraction { m = magnitude * 10 + Int64(b) - 48 }
                    guard m < 1_000_000_000_000_000,
                          decimals[Int(-2 - range)].reachable(negative: negative, magnitude: m, phase: p,
                                                              digits: Int(c)) else { return false }
                }
                s.lex = .number(p, c, integerOnly: integerOnly, range: range, negative: negative, magnitude: m)
                return true
            case .invalid:
                return false
            case .end:
                if range >= 0, !ranges[Int(range)].contains(negative: negative, magnitude: magnitude) { return false }
                if range <= -2, !decimalHolds(range, phase, count, negative, magnitude) { return false }
                s.lex = .none
                return structural(&s, b, &forks)
            }
        case .literal(let node):
            let c = trieChild(node, b)
            if c >= 0 {
                s.lex = tries[Int(c)].kids.isEmpty ? .none : .literal(c)
                return true
            }
            guard tries[Int(node)].terminal >= 0 else { return false }
            s.lex = .none
            return structural(&s, b, &forks)
        }
    }

    /// Whether the output so far is complete (the end tokens are allowed): one value, or with framing, values each
    /// followed by the suffix.
    func isComplete(_ s: ParseState) -> Bool {
        framing == nil ? isValueComplete(s) : s.framing.part == .afterSuffix
    }

    /// Whether the value so far is complete.
    func isValueComplete(_ s: ParseState) -> Bool {
        guard s.framing.part == .value, s.top.kind == .root, s.top.phase == .done else { return false }
        switch s.lex {
        case .none: return true
        case .number(let phase, let count, _, let range, let negative, let magnitude):
            guard NumberLexer.isAccepting(phase) else { return false }
            if range <= -2 { return decimalHolds(range, phase, count, negative, magnitude) }
            return range < 0 || ranges[Int(range)].contains(negative: negative, magnitude: magnitude)
        case .literal(let node): return tries[Int(node)].terminal >= 0
        case .string, .key: return false
        }
    }

    /// Whether a complete bounded-decimal lexeme's value is inside its bounds.
    func decimalHolds(_ range: Int32, _ phase: NumberLexer.Phase, _ count: UInt8, _ negative: Bool,
                      _ magnitude: Int64) -> Bool {
        let fraction = phase == .fraction ? Int(count) : 0
        return decimals[Int(-2 - range)].contains(
            DecimalRange.value(negative: negative, magnitude: magnitude, fraction: fraction))
    }

    /// Whether nothing but an end token may follow.
    func mustEnd(_ s: ParseState) -> Bool {
        if let framing {
            return s.framing.part == .afterSuffix
                && (Int(s.framing.values) >= framing.maxValues || framing.separator.isEmpty)
        }
        return s.top.kind == .root && s.top.phase == .done && s.lex == .none
    }

    private func isWhitespace(_ b: UInt8) -> Bool { b == 0x20 || b == 0x0A || b == 0x09 || b == 0x0D }

    private func structural(_ s: inout ParseState, _ b: UInt8, _ forks: inout [ParseState]) -> Bool {
        if isWhitespace(b) {
            // Not before the value (the output starts with it) nor after it (the output ends with it).
            guard s.whitespace < maxWhitespace, s.top.kind != .root else { return false }
            s.whitespace += 1
            return true
        }
        s.whitespace = 0
        switch s.top.kind {
        case .root:
            return s.top.phase == .expectValue && beginValue(&s, root, b, &forks)
        case .object:
            let spec = objects[Int(s.top.spec)]
            switch s.top.phase {
            case .open:
                if b == UInt8(ascii: "\"") { return canAddKey(spec, s.top) && beginKey(&s, spec) }
                return b == UInt8(ascii: "}") && spec.required.subtracting(s.top.used).isEmpty && pop(&s)
            case .comma:
                return b == UInt8(ascii: "\"") && beginKey(&s, spec)
            case .colon:
                guard b == UInt8(ascii: ":") else { return false }
                s.top.phase = .value
                return true
            case .value:
                return beginValue(&s, s.top.pending, b, &forks)
            case .after:
                if b == UInt8(ascii: ",") {
                    guard canAddKey(spec, s.top) else { return false }
                    s.top.phase = .comma
                    return true
                }
                return b == UInt8(ascii: "}") && spec.required.subtracting(s.top.used).isEmpty && pop(&s)
            default:
                return false
            }
        case .array:
            let spec = arrays[Int(s.top.spec)]
            switch s.top.phase {
            case .open:
                if b == UInt8(ascii: "]") { return spec.minItems == 0 && pop(&s) }
                return spec.maxItems > 0 && beginValue(&s, spec.items, b, &forks)
            case .after:
                if b == UInt8(ascii: "]") { return Int(s.top.count) >= spec.minItems && pop(&s) }
                guard b == UInt8(ascii: ","), Int(s.top.count) < spec.maxItems else { return false }
                s.top.phase = .comma
                return true
            case .comma:
                return beginValue(&s, spec.items, b, &forks)
            default:
                return false
            }
        }
    }

    /// Whether another key can still be written: an undeclared one, or a declared one not yet used.
    func canAddKey(_ spec: ObjectSpec, _ frame: Frame) -> Bool {
        spec.additional >= 0 || !writableNames(spec, frame).isEmpty
    }

    /// The declared names that may be written next: those not used yet and, in an ordered object, only those after
    /// the last one written and not past a required one still missing.
    func writableNames(_ spec: ObjectSpec, _ frame: Frame) -> PropSet {
        let names = spec.all.subtracting(frame.used).subtracting(spec.unavailable)
        guard spec.ordered else { return names }
        let after = frame.used.highest + 1
        let requiredNext = spec.required.subtracting(frame.used).intersection(PropSet.range(after, PropSet.capacity))
        return names.intersection(PropSet.range(after, min(requiredNext.lowest, PropSet.capacity - 1) + 1))
    }

    private func beginKey(_ s: inout ParseState, _ spec: ObjectSpec) -> Bool {
        s.top.phase = .key
        s.lex = .key(StringLexer.normal, spec.trie)
        return true
    }

    private func pop(_ s: inout ParseState) -> Bool {
        guard let parent = s.below else { return false }
        s.top = parent.frame
        s.below = parent.next
        return true
    }

    private func beginValue(_ s: inout ParseState, _ node: Int32, _ b: UInt8, _ forks: inout [ParseState]) -> Bool {
        let index = Int(node) * 256 + Int(b)
        let first = Int(dispatch[index]), end = Int(dispatch[index + 1])
        guard first < end else { return false }
        switch s.top.kind {
        case .root: s.top.phase = .done
        case .object: s.top.phase = .after
        case .array:
            s.top.phase = .after
            s.top.count += 1
        }
        if end - first > 1 {
            let base = s
            for k in (first + 1)..<end {
                var fork = base
                apply(starts[k], &fork, b)
                forks.append(fork)
            }
        }
        apply(starts[first], &s, b)
        return true
    }

    private func apply(_ start: Start, _ s: inout ParseState, _ b: UInt8) {
        switch start.kind {
        case .object:
            s.below = FrameNode(frame: s.top, next: s.below)
            s.top = Frame(kind: .object, phase: .open, spec: start.arg)
        case .array:
            s.below = FrameNode(frame: s.top, next: s.below)
            s.top = Frame(kind: .array, phase: .open, spec: start.arg)
        case .string:
            let automaton = start.arg >= 0 ? strings[Int(start.arg)].dfa : -1
            s.lex = .string(StringLexer.normal, spec: start.arg, count: 0,
                            dfa: automaton >= 0 ? dfas[Int(automaton)].start : 0)
        case .number, .integer:
            let (phase, count) = NumberLexer.start(b)!
            let magnitude = b == UInt8(ascii: "-") ? Int64(0) : Int64(b) - 48
            s.lex = .number(phase, count, integerOnly: start.kind == .integer, range: start.arg,
                            negative: b == UInt8(ascii: "-"), magnitude: magnitude)
        case .literal:
            s.lex = tries[Int(start.arg)].kids.isEmpty ? .none : .literal(start.arg)
        }
    }

    private func stepKey(_ s: inout ParseState, _ k: UInt8, _ t: Int32, _ b: UInt8) -> Bool {
        let spec = objects[Int(s.top.spec)]
        if b == UInt8(ascii: "\""), k == StringLexer.normal {
            // The key ends: a declared name (each at most once) or, where allowed, any other key.
            let name = t >= 0 ? Int(tries[Int(t)].terminal) : -1
            if name >= 0 {
                guard writableNames(spec, s.top).contains(name) else { return false }
                s.top.used.insert(name)
                s.top.pending = spec.props[name]
            } else {
                guard spec.additional >= 0 else { return false }
                s.top.pending = spec.additional
            }
            s.top.count += 1
            s.top.phase = .colon
            s.lex = .none
            return true
        }
        let nt = t >= 0 ? trieChild(t, b) : -1
        var nk: UInt8 = 255
        if k != 255 {
            let x = StringLexer.keyTable[Int(k) << 8 | Int(b)]
            if x < StringLexer.escape { nk = x }
        }
        if nk == 255 {
            guard nt >= 0 else { return false }
            nk = tries[Int(nt)].boundary ? StringLexer.normal : 255
        }
        if spec.additional < 0 {
            guard nt >= 0, !tries[Int(nt)].subtree.intersection(writableNames(spec, s.top)).isEmpty else { return false }
        }
        s.lex = .key(nk, nt)
        return true
    }

    // MARK: Shortest completion

    /// Bytes of the shortest text that completes the value from `s` (0 when complete). Lets a caller steer toward
    /// closing when its token budget runs out.
    func remaining(_ s: ParseState) -> Int {
        guard let framing else { return valueRemaining(s) }
        let value = min(Grammar.infinity, minLength[Int(root)] + framing.suffix.count)
        let offset = Int(s.framing.offset)
        switch s.framing.part {
        case .value: return min(Grammar.infinity, valueRemaining(s) + framing.suffix.count)
        case .prefix: return min(Grammar.infinity, framing.prefix.count - offset + value)
        case .separator: return min(Grammar.infinity, framing.separator.count - offset + value)
        case .suffix: return framing.suffix.count - offset
        case .afterSuffix: return 0
        }
    }

    private func valueRemaining(_ s: ParseState) -> Int {
        var total = 0
        if case .key(let k, let t) = s.lex {
            total = keyRemaining(s.top, k, t)
        } else {
            switch s.lex {
            case .none, .key: break
            case .string(let state, let spec, let count, let dfa):
                total = StringLexer.valueRemaining[Int(state)]
                if spec >= 0 {
                    // Code points still missing, one byte each at least (a character in progress counts as one).
                    let have = Int(count) + (state == StringLexer.normal ? 0 : 1)
                    total += max(0, strings[Int(spec)].minLength - have)
                    let automaton = strings[Int(spec)].dfa
                    if automaton >= 0 {
                        // The automaton's shortest way to a match (it finishes the character in progress), then the quote.
                        total = max(total, min(Grammar.infinity, dfas[Int(automaton)].distance(dfa) + 1))
                    }
                }
            case .number(let phase, let count, _, let range, let negative, let magnitude):
                if range >= 0 {
                    total = ranges[Int(range)].extraDigits(negative: negative, magnitude: magnitude, digits: Int(count),
                                                           zero: phase == .zero) ?? Grammar.infinity
                } else if range <= -2 {
                    // In range now: done; otherwise a few more digits (an estimate: the budget steering only needs
                    // an order of magnitude, and the walk itself keeps the value reachable).
                    let done = NumberLexer.isAccepting(phase) && decimalHolds(range, phase, count, negative, magnitude)
                    total = done ? 0 : phase == .dot || phase == .minus ? 1 : 2
                } else {
                    total = NumberLexer.isAccepting(phase) ? 0 : 1
                }
            case .literal(let node): total = tries[Int(node)].minRemaining
            }
            total += frameRemaining(s.top)
        }
        var node = s.below
        while let n = node {
            total += frameRemaining(n.frame)
            node = n.next
        }
        return min(total, Grammar.infinity)
    }

    private func requiredRemaining(_ spec: ObjectSpec, _ used: PropSet) -> (cost: Int, count: Int) {
        var cost = 0, count = 0
        for k in spec.required.subtracting(used).members {
            cost += spec.names[k].count + 3 + minLength[Int(spec.props[k])]
            count += 1
        }
        return (cost, count)
    }

    private func frameRemaining(_ f: Frame) -> Int {
        switch f.kind {
        case .root:
            return f.phase == .expectValue ? minLength[Int(root)] : 0
        case .array:
            let spec = arrays[Int(f.spec)]
            let item = minLength[Int(spec.items)] + 1
            switch f.phase {
            case .open: return spec.minItems == 0 ? 1 : spec.minItems * item
            case .comma: return max(1, spec.minItems - Int(f.count)) * item
            default: return max(0, spec.minItems - Int(f.count)) * item + 1
            }
        case .object:
            let spec = objects[Int(f.spec)]
            let (cost, n) = requiredRemaining(spec, f.used)
            switch f.phase {
            case .open: return cost + max(0, n - 1) + 1
            case .after: return cost + n + 1
            case .comma:
                if n > 0 { return cost + n }
                var best = spec.additional >= 0 ? 3 + minLength[Int(spec.additional)] : Grammar.infinity
                for k in writableNames(spec, f).members {
                    best = min(best, spec.names[k].count + 3 + minLength[Int(spec.props[k])])
                }
                return best + 1
            case .colon, .value:
                return (f.phase == .colon ? 1 : 0) + minLength[Int(f.pending)] + cost + n + 1
            default:
                return cost + n + 1
            }
        }
    }

    private func keyRemaining(_ f: Frame, _ k: UInt8, _ t: Int32) -> Int {
        let spec = objects[Int(f.spec)]
        var best = Grammar.infinity
        if t >= 0 {
            for name in tries[Int(t)].subtree.intersection(writableNames(spec, f)).members {
                var used = f.used
                used.insert(name)
                let (cost, n) = requiredRemaining(spec, used)
                let keyRest = spec.names[name].count - Int(tries[Int(t)].depth) + 2
                best = min(best, keyRest + minLength[Int(spec.props[name])] + cost + n + 1)
            }
        }
        if spec.additional >= 0, k != 255 {
            let pending = StringLexer.utf8Pending[Int(k)]
            let onName = pending == 0 && t >= 0 && tries[Int(t)].terminal >= 0
            let (cost, n) = requiredRemaining(spec, f.used)
            best = min(best, pending + (onName ? 1 : 0) + 2 + minLength[Int(spec.additional)] + cost + n + 1)
        }
        return best
    }
}
