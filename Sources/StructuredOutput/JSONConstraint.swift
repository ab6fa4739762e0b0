/// Constrained decoding for one request (`response_format` `json_object` or `json_schema`): `mask` removes every
/// token that would break the grammar, so the output always parses and validates against the schema.
///
/// The state is a small set of deterministic parses (more than one only where `anyOf` branches overlap). Masking
/// takes, per parse, either the vocabulary's precomputed "stays inside the string" set plus a walk over what may
/// follow a closing quote, or a walk of the token trie pruned at the first byte the grammar rejects.
public struct JSONConstraint: Sendable {
    /// Overlapping `anyOf` branches beyond this many live parses are dropped (the output stays valid: each parse is
    /// a valid path on its own).
    static let maxParses = 32

    let grammar: Grammar
    let vocabulary: ConstraintVocabulary
    private(set) var parses: [ParseState]
    private var allowed: TokenBits
    private var ended = false
    /// Set while a lazy constraint waits for its trigger; the output is free text until then.
    private var watch: TriggerWatch?

    /// schemaJSON nil → any JSON object (json_object mode). Throws for an unsupported keyword or a bad schema.
    public init(schemaJSON: String?, vocabulary: ConstraintVocabulary) throws(ConstraintError) {
        try self.init(schemaJSON: schemaJSON, vocabulary: vocabulary, options: ConstraintOptions())
    }

    public init(schemaJSON: String?, vocabulary: ConstraintVocabulary, options: ConstraintOptions)
        throws(ConstraintError)
    {
        grammar = try Grammar(schemaJSON: schemaJSON, options: options)
        self.vocabulary = vocabulary
        parses = [grammar.initialState]
        allowed = TokenBits(count: vocabulary.count)
    }

    /// A constraint that holds only from a trigger on (tool calls): before it, the output is free text, except that
    /// a token completing a trigger must continue it validly; with `policy.required` the output must begin with a
    /// trigger.
    public init(schemaJSON: String?, vocabulary: ConstraintVocabulary, options: ConstraintOptions,
                trigger policy: TriggerPolicy) throws(ConstraintError) {
        try self.init(schemaJSON: schemaJSON, vocabulary: vocabulary, options: options)
        guard !policy.triggers.isEmpty else { return }
        watch = TriggerWatch(policy: policy, vocabulary: vocabulary)
    }

    /// Keywords the schema has that the grammar does not enforce (only under `ignoreUnenforceable`).
    public var ignoredKeywords: [String] { grammar.ignoredKeywords }

    /// Whether the grammar holds now: always for an eager constraint, from its trigger on for a lazy one.
    public var isActive: Bool { watch == nil }

    /// Whether the decode loop must steer toward completing the output near its token budget: the grammar holds
    /// now, or a trigger must still begin the output.
    public var constrainsOutput: Bool { watch.map { $0.policy.required } ?? true }

    /// Whether the output so far is a complete value (end tokens are allowed now).
    public var isComplete: Bool {
        if let watch { return ended || !watch.policy.required }
        return ended || parses.contains { grammar.isComplete($0) }
    }

    /// Whether only an end token may follow (the value is closed, or an end token was accepted). The decode loop may
    /// stop here without sampling.
    public var mustEnd: Bool {
        if watch != nil { return ended }
        return ended || parses.allSatisfy { grammar.mustEnd($0) }
    }

    /// Bytes of the shortest text that completes the value: a decode loop near its token budget can prefer tokens
    /// that lower it.
    public var minimumBytesToComplete: Int {
        if ended { return 0 }
        if let watch {
            guard watch.policy.required else { return 0 }
            return watch.remainingBytes + grammar.remaining(grammar.initialState)
        }
        return parses.map { grammar.remaining($0) }.min() ?? 0
    }

    /// Sets logits of tokens that would break the grammar to -infinity. Logits past the vocabulary are masked too.
    public mutating func mask(_ logits: UnsafeMutableBufferPointer<Float>) {
        computeAllowed()
        let n = min(logits.count, vocabulary.count)
        allowed.words.withUnsafeBufferPointer { words in
            for w in 0..<words.count {
                let word = words[w]
                if word == ~0 { continue }
                let base = w << 6
                let end = min(base + 64, n)
                var i = base
                while i < end {
                    if word & (UInt64(1) << UInt64(i - base)) == 0 { logits[i] = -Float.infinity }
                    i += 1
                }
            }
        }
        if logits.count > n {
            for i in n..<logits.count { logits[i] = -Float.infinity }
        }
    }

    /// The allowed tokens, as ids (for tests and for samplers that want a list rather than masked logits).
    public mutating func allowedTokens() -> [Int32] {
        computeAllowed()
        var out: [Int32] = []
        for (w, word) in allowed.words.enumerated() {
            var bits = word
            while bits != 0 {
                out.append(Int32(w << 6 + bits.trailingZeroBitCount))
                bits &= bits - 1
            }
        }
        return out
    }

    /// Advances by the chosen token; false if the token was not allowed (caller bug), and then nothing changes.
    public mutating func accept(_ token: Int32) -> Bool {
        if let watch { return acceptWaiting(token, watch) }
        if vocabulary.endTokens.contains(token) {
            guard isComplete else { return false }
            ended = true
            return true
        }
        guard !ended, let bytes = vocabulary.bytes(of: token) else { return false }
        var next: [ParseState] = []
        for parse in parses {
            advance(parse, bytes, into: &next)
        }
        guard !next.isEmpty else { return false }
        parses = next
        return true
    }

    /// A token written while waiting for a trigger: it may fire one, after which the grammar holds.
    private mutating func acceptWaiting(_ token: Int32, _ current: TriggerWatch) -> Bool {
        let required = current.policy.required
        if vocabulary.endTokens.contains(token) {
            guard !required else { return false }
            ended = true
            return true
        }
        if current.tokenTrigger(token) {
            watch = nil
            return true
        }
        guard let bytes = vocabulary.bytes(of: token) else {
            guard !required || current.isInside else { return false }
            watch?.interrupt()
            return true
        }
        switch current.scan(bytes) {
        case .none(let next):
            if required && !next.madeProgress { return false }
            watch = next
            return true
        case .fired(let valueBytes):
            var next: [ParseState] = []
            advance(grammar.initialState, valueBytes, into: &next)
            guard !next.isEmpty else { return false }
            parses = next
            watch = nil
            return true
        }
    }

    /// Whether a token is allowed while waiting: it fires no trigger, or the text after the trigger it fires is a
    /// valid start of the value. With a required trigger, it must also be a step toward one.
    private func allowedWhileWaiting(_ bytes: [UInt8], _ current: TriggerWatch) -> Bool {
        switch current.scan(bytes) {
        case .none(let next):
            return !current.policy.required || next.madeProgress
        case .fired(let valueBytes):
            return accepts(grammar.initialState, valueBytes, from: 0)
        }
    }

    private mutating func computeAllowedWhileWaiting(_ current: TriggerWatch) {
        allowed.removeAll()
        for trigger in current.policy.triggers {
            if case .token(let id) = trigger.kind, id >= 0, Int(id) < vocabulary.count { allowed.insert(id) }
        }
        // Inside a thought a required trigger is not due yet, so the cheap path below serves it too.
        if (current.policy.required && !current.isQuiet) || current.isPartlyMatched {
            // Any token may fire or continue a trigger: check each.
            if !current.policy.required {
                for t in vocabulary.endTokens { allowed.insert(t) }
            }
            for (id, bytes) in vocabulary.tokenBytes.enumerated() {
                guard let bytes else {
                    if (!current.policy.required || current.isInside) && !vocabulary.endTokens.contains(Int32(id)) {
                        allowed.insert(Int32(id))
                    }
                    continue
                }
                if bytes.isEmpty || vocabulary.endTokens.contains(Int32(id)) { continue }
                if allowedWhileWaiting(bytes, current) { allowed.insert(Int32(id)) }
            }
            return
        }
        // Nothing is partly matched: every token is free except those holding a whole trigger, checked one by one.
        for w in allowed.words.indices { allowed.words[w] = ~0 }
        if vocabulary.count % 64 != 0, let last = allowed.words.indices.last {
            allowed.words[last] = (UInt64(1) << UInt64(vocabulary.count % 64)) - 1
        }
        if current.policy.required {
            for t in vocabulary.endTokens { allowed.remove(t) }
        }
        for id in current.containing {
            if let bytes = vocabulary.tokenBytes[Int(id)], !allowedWhileWaiting(bytes, current) { allowed.remove(id) }
        }
    }

    /// All parses that `bytes` leads to from `start`, deduplicated and capped.
    private func advance(_ start: ParseState, _ bytes: [UInt8], into out: inout [ParseState]) {
        var current = [start]
        var forks: [ParseState] = []
        for b in bytes {
            var next: [ParseState] = []
            for var s in current {
                if grammar.step(&s, b, &forks) { next.append(s) }
                next += forks
                forks.removeAll(keepingCapacity: true)
            }
            current = next
            if current.isEmpty { return }
        }
        for s in current where !out.contains(s) && out.count < JSONConstraint.maxParses { out.append(s) }
    }

    /// Whether some parse from `start` accepts all of `bytes`.
    private func accepts(_ start: ParseState, _ bytes: [UInt8], from index: Int) -> Bool {
        var s = start
        var forks: [ParseState] = []
        var i = index
        while i < bytes.count {
            guard grammar.step(&s, bytes[i], &forks) else {
                return forks.contains { accepts($0, bytes, from: i + 1) }
            }
            if !forks.isEmpty, forks.contains(where: { accepts($0, bytes, from: i + 1) }) { return true }
            forks.removeAll(keepingCapacity: true)
            i += 1
        }
        return true
    }

    private mutating func computeAllowed() {
        if let watch {
            computeAllowedWhileWaiting(watch)
            return
        }
        allowed.removeAll()
        if isComplete {
            for t in vocabulary.endTokens { allowed.insert(t) }
        }
        if ended { return }
        for parse in parses {
            switch parse.lex {
            case .string(let state, let spec, _, _) where spec < 0:
                allowed.formUnion(vocabulary.stringInside[Int(state)])
                var closed = parse
                closed.lex = .none
                walk(vocabulary.stringExits[Int(state)], 0, closed)
            case .string(_, let spec, _, _) where grammar.strings[Int(spec)].dfa >= 0:
                walk(vocabulary.trie, 0, parse)  // an automaton: the walk prunes at the first byte it refuses
            case .string(let state, let spec, let count, _):
                allowBoundedString(parse, state: state, limits: grammar.strings[Int(spec)], count: Int(count))
            case .key(let k, _) where k != 255 && grammar.objects[Int(parse.top.spec)].additional >= 0:
                allowed.formUnion(vocabulary.keyInside[Int(k)])
                for token in vocabulary.keyExits[Int(k)] where !allowed.contains(token) {
                    if accepts(parse, vocabulary.tokenBytes[Int(token)]!, from: 0) { allowed.insert(token) }
                }
            default:
                if grammar.mustEnd(parse) { continue }
                walk(vocabulary.trie, 0, parse)
            }
        }
    }

    /// Inside a string with `minLength`/`maxLength`: the tokens that stay inside within the code points left, and
    /// the closing tokens whose string then has an allowed length and whose rest the grammar accepts.
    private mutating func allowBoundedString(_ parse: ParseState, state: UInt8, limits: StringSpec, count: Int) {
        let room = limits.maxLength - count
        if room > 0 {
            let lengths = vocabulary.stringInsideLength[Int(state)]
            let inside = vocabulary.stringInside[Int(state)]
            lengths.withUnsafeBufferPointer { lengths in
                for (w, word) in inside.words.enumerated() {
                    var bits = word
                    while bits != 0 {
                        let id = w << 6 + bits.trailingZeroBitCount
                        bits &= bits - 1
                        // 255 means "255 or more": allowed only while the room is unbounded in practice.
                        if Int(lengths[id]) <= room && (lengths[id] < 255 || room > 1_000_000) { allowed.insert(Int32(id)) }
                    }
                }
            }
        }
        // What may follow the quote, walked into a scratch set, then kept per token by its length before the quote.
        var closed = parse
        closed.lex = .none
        let kept = allowed
        allowed.removeAll()
        walk(vocabulary.stringExits[Int(state)], 0, closed)
        let after = allowed
        allowed = kept
        for (token, length) in vocabulary.stringExitLength[Int(state)] where after.contains(token) {
            let total = count + Int(length)
            if total >= limits.minLength && total <= limits.maxLength { allowed.insert(token) }
        }
    }

    /// Marks the tokens at and below `node` whose bytes (from this node on) the parse `state` accepts.
    private mutating func walk(_ trie: TokenTrie, _ node: Int32, _ state: ParseState) {
        let t0 = Int(trie.tokenStart[Int(node)]), t1 = Int(trie.tokenStart[Int(node) + 1])
        for k in t0..<t1 { allowed.insert(trie.tokens[k]) }
        let c0 = Int(trie.childStart[Int(node)]), c1 = Int(trie.childStart[Int(node) + 1])
        var forks: [ParseState] = []
        for c in c0..<c1 {
            var s = state
            let child = trie.childNode[c]
            if grammar.step(&s, trie.childByte[c], &forks) { walk(trie, child, s) }
            if !forks.isEmpty {
                let pending = forks
                forks.removeAll()
                for f in pending { walk(trie, child, f) }
            }
        }
    }
}

/// Schema checks that need no vocabulary: what the HTTP layer asks before a request reaches a worker.
public enum SchemaSupport {
    /// The keywords of `schemaJSON` that constrained decoding would not enforce, as "keyword at path" (empty when it
    /// enforces them all). Throws when the schema cannot be used at all (not JSON, a non-local `$ref`, contradictory).
    public static func unenforceableKeywords(schemaJSON: String) throws(ConstraintError) -> [String] {
        try Grammar(schemaJSON: schemaJSON, options: ConstraintOptions(ignoreUnenforceable: true)).ignoredKeywords
    }
}
