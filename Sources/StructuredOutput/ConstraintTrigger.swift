/// What switches a lazily constrained output on. Tool calls are free text until the model starts a call (writes
/// `<tool_call>`, or samples Mistral's `[TOOL_CALLS]` token); from there on the grammar holds, so every call parses
/// and validates while answers that call nothing stay unconstrained.
public struct ConstraintTrigger: Sendable, Equatable {
    public enum Kind: Sendable, Equatable {
        /// Text, matched across token boundaries.
        case text([UInt8])
        /// A token with no text of its own (a control token such as `<|python_tag|>`).
        case token(Int32)
    }

    public var kind: Kind
    /// Text triggers: the trigger's bytes are the value's own first bytes (Llama 3's calls begin with `{`), rather
    /// than text before it.
    public var isPartOfValue: Bool
    /// Text triggers: only at the start of the output (whitespace before it allowed). Every trigger of a required
    /// policy is anchored.
    public var anchored: Bool

    public init(text: String, isPartOfValue: Bool = false, anchored: Bool = false) {
        kind = .text(Array(text.utf8))
        self.isPartOfValue = isPartOfValue
        self.anchored = anchored
    }

    public init(token: Int32) {
        kind = .token(token)
        isPartOfValue = false
        anchored = false
    }
}

/// A reasoning model's thought (`<think>` ... `</think>`): no trigger fires inside it, and a required trigger is
/// required where the answer after it begins. A thought opens only at the start of the output (or already in the
/// prompt, `startsInside`).
public struct QuietRegion: Sendable, Equatable {
    public var open: [UInt8]
    public var close: [UInt8]
    public var startsInside: Bool

    public init(open: String, close: String, startsInside: Bool) {
        self.open = Array(open.utf8)
        self.close = Array(close.utf8)
        self.startsInside = startsInside
    }
}

/// The triggers of one request, and whether one of them must begin the output (`tool_choice` `required` or a named
/// function) or may appear anywhere, or never (`auto`).
public struct TriggerPolicy: Sendable, Equatable {
    public var triggers: [ConstraintTrigger]
    public var required: Bool
    public var quiet: QuietRegion?

    public init(triggers: [ConstraintTrigger], required: Bool, quiet: QuietRegion? = nil) {
        self.triggers = triggers
        self.required = required
        self.quiet = quiet
    }
}

/// Progress toward a trigger while the output is still free: per text trigger, how many of its bytes end the output
/// so far (-1: an anchored trigger that can no longer match), and whether the output is whitespace only.
struct TriggerWatch: Sendable {
    /// Where the output is relative to a quiet region (a thought).
    enum Quiet: Equatable, Sendable {
        /// No region, or it is over: triggers are watched.
        case none
        /// At the start: this many bytes of the opening marker written (after whitespace).
        case mayOpen(Int)
        /// Inside: this many bytes of the closing marker written.
        case inside(Int)
    }

    let policy: TriggerPolicy
    var matched: [Int]
    var onlyWhitespace = true
    var quiet: Quiet
    /// A thought has just ended and no answer text followed yet: a required trigger may still begin here.
    var atAnswerStart = false
    /// Tokens whose text holds a whole unanchored text trigger (or the whole closing marker of a thought): the only
    /// tokens that can fire one while nothing is partly matched, so masking checks just these.
    let containing: [Int32]

    init(policy: TriggerPolicy, vocabulary: ConstraintVocabulary) {
        self.policy = policy
        matched = [Int](repeating: 0, count: policy.triggers.count)
        quiet = policy.quiet.map { $0.startsInside ? .inside(0) : .mayOpen(0) } ?? .none
        var containing: [Int32] = []
        var texts: [[UInt8]] = policy.triggers.compactMap {
            if case .text(let t) = $0.kind, !$0.anchored, !t.isEmpty { return t }
            return nil
        }
        if let close = policy.quiet?.close, !close.isEmpty { texts.append(close) }
        if !texts.isEmpty {
            for (id, bytes) in vocabulary.tokenBytes.enumerated() {
                guard let bytes, bytes.count > 0 else { continue }
                if texts.contains(where: { Self.contains(bytes, $0) }) { containing.append(Int32(id)) }
            }
        }
        self.containing = containing
    }

    private static func contains(_ haystack: [UInt8], _ needle: [UInt8]) -> Bool {
        guard haystack.count >= needle.count else { return false }
        for start in 0...(haystack.count - needle.count) where haystack[start] == needle[0] {
            if haystack[start..<(start + needle.count)].elementsEqual(needle) { return true }
        }
        return false
    }

    /// Whether some trigger is part-way matched, or an anchored one may still begin: then any token could fire one.
    var isPartlyMatched: Bool {
        switch quiet {
        case .mayOpen: return true
        case .inside(let m): return m > 0
        case .none: break
        }
        for (k, trigger) in policy.triggers.enumerated() {
            guard case .text = trigger.kind else { continue }
            if matched[k] > 0 { return true }
            if (trigger.anchored || policy.required) && matched[k] == 0 && onlyWhitespace { return true }
        }
        return false
    }

    /// The trigger a token id is, if any.
    func tokenTrigger(_ token: Int32) -> Bool {
        policy.triggers.contains { $0.kind == .token(token) }
    }

    enum Outcome {
        /// No trigger completed; the watch moved on.
        case none(TriggerWatch)
        /// A trigger completed: the bytes the value begins with (the trigger's own when they are part of the value,
        /// then whatever followed it in the same token).
        case fired(valueBytes: [UInt8])
    }

    /// Whether the output is inside a thought, or may still open one: a required trigger is not due yet.
    var isQuiet: Bool {
        switch quiet {
        case .none: return false
        case .inside: return true
        case .mayOpen(let m): return m > 0
        }
    }

    /// Whether the token's bytes made progress toward a required trigger (or into a thought before it).
    var madeProgress: Bool { isQuiet || atAnswerStart || matched.contains { $0 > 0 } }

    /// Inside a thought (where special tokens are thought too).
    var isInside: Bool {
        if case .inside = quiet { return true }
        return false
    }

    /// Runs the bytes of one token through the watch.
    func scan(_ bytes: [UInt8]) -> Outcome {
        var next = self
        var i = 0
        while i < bytes.count, let region = policy.quiet {
            let b = bytes[i]
            switch next.quiet {
            case .none:
                return next.scanTriggers(bytes[i...])
            case .inside(let m):
                let n = Self.advance(region.close, m, b)
                if n == region.close.count {
                    // The answer begins: triggers are watched from here, anchored ones at its start.
                    next.quiet = .none
                    next.onlyWhitespace = true
                    next.atAnswerStart = true
                    for k in next.matched.indices { next.matched[k] = 0 }
                } else {
                    next.quiet = .inside(n)
                }
                i += 1
            case .mayOpen(let m):
                if m == 0 && Self.isWhitespace(b) {
                    i += 1
                } else if region.open[m] == b {
                    next.quiet = m + 1 == region.open.count ? .inside(0) : .mayOpen(m + 1)
                    i += 1
                } else {
                    // No thought: what looked like its marker is answer text, and triggers see it.
                    next.quiet = .none
                    return next.scanTriggers(ArraySlice(region.open[0..<m] + bytes[i...]))
                }
            }
        }
        if policy.quiet != nil { return .none(next) }
        return next.scanTriggers(bytes[...])
    }

    private func scanTriggers(_ bytes: ArraySlice<UInt8>) -> Outcome {
        var next = self
        if !bytes.isEmpty { next.atAnswerStart = false }
        for (i, b) in zip(bytes.indices, bytes) {
            let whitespaceSoFar = next.onlyWhitespace
            for (k, trigger) in policy.triggers.enumerated() {
                guard case .text(let text) = trigger.kind else { continue }
                let m = next.matched[k]
                if trigger.anchored || policy.required {
                    if m < 0 { continue }
                    if text[m] == b {
                        next.matched[k] = m + 1
                    } else if m == 0 && whitespaceSoFar && !policy.required && Self.isWhitespace(b) {
                        continue
                    } else {
                        next.matched[k] = -1
                        continue
                    }
                } else {
                    next.matched[k] = Self.advance(text, m, b)
                }
                if next.matched[k] == text.count {
                    let rest = Array(bytes[(i + 1)..<bytes.endIndex])
                    return .fired(valueBytes: trigger.isPartOfValue ? text + rest : rest)
                }
            }
            if !Self.isWhitespace(b) { next.onlyWhitespace = false }
        }
        return .none(next)
    }

    /// A special token (no text) was written: no text trigger continues across it, and outside a thought it is
    /// answer text (no thought opens after it).
    mutating func interrupt() {
        if !isInside { quiet = .none }
        atAnswerStart = false
        for k in matched.indices {
            let anchored = policy.triggers[k].anchored || policy.required
            matched[k] = anchored ? (matched[k] == 0 && onlyWhitespace ? 0 : -1) : 0
        }
    }

    /// Bytes still needed for the shortest trigger (0 for a token trigger: one token), after closing a thought the
    /// output is inside.
    var remainingBytes: Int {
        var closing = 0
        if case .inside(let m) = quiet, let region = policy.quiet { closing = region.close.count - m }
        var best = Int.max
        for (k, trigger) in policy.triggers.enumerated() {
            switch trigger.kind {
            case .token: best = min(best, 1)
            case .text(let text) where matched[k] >= 0: best = min(best, text.count - matched[k])
            case .text: break
            }
        }
        return closing + (best == Int.max ? 0 : best)
    }

    /// The longest prefix of `text` that ends the output after byte `b`, given that `matched` bytes of it did before.
    private static func advance(_ text: [UInt8], _ matched: Int, _ b: UInt8) -> Int {
        if text[matched] == b { return matched + 1 }
        var m = matched
        while m > 0 {
            m -= 1
            // Does text[0..<m] + b end text[0..<matched] + b? Compare the suffix of length m of text[..<matched].
            if text[m] == b && text[(matched - m)..<matched].elementsEqual(text[0..<m]) { return m + 1 }
        }
        return 0
    }

    private static func isWhitespace(_ b: UInt8) -> Bool { b == 0x20 || b == 0x0A || b == 0x09 || b == 0x0D }
}
