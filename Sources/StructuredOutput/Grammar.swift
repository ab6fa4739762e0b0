/// A set of property indices (at most `PropSet.capacity`), inline so that parse states copy without allocating.
struct PropSet: Equatable, Sendable {
    static let capacity = 256
    var w0: UInt64 = 0, w1: UInt64 = 0, w2: UInt64 = 0, w3: UInt64 = 0

    func contains(_ i: Int) -> Bool {
        let bit = UInt64(1) << UInt64(i & 63)
        switch i >> 6 {
        case 0: return w0 & bit != 0
        case 1: return w1 & bit != 0
        case 2: return w2 & bit != 0
        default: return w3 & bit != 0
        }
    }

    mutating func insert(_ i: Int) {
        let bit = UInt64(1) << UInt64(i & 63)
        switch i >> 6 {
        case 0: w0 |= bit
        case 1: w1 |= bit
        case 2: w2 |= bit
        default: w3 |= bit
        }
    }

    /// Members of `self` that are not in `other`.
    func subtracting(_ other: PropSet) -> PropSet {
        PropSet(w0: w0 & ~other.w0, w1: w1 & ~other.w1, w2: w2 & ~other.w2, w3: w3 & ~other.w3)
    }

    var isEmpty: Bool { (w0 | w1 | w2 | w3) == 0 }

    /// The indices `lo..<hi` (clamped to the capacity).
    static func range(_ lo: Int, _ hi: Int) -> PropSet {
        var out = PropSet()
        func word(_ k: Int) -> UInt64 {
            let a = max(lo - k * 64, 0), b = min(hi - k * 64, 64)
            guard a < b else { return 0 }
            let high: UInt64 = b == 64 ? ~0 : (UInt64(1) << UInt64(b)) - 1
            return high & ~((UInt64(1) << UInt64(a)) - 1)
        }
        out.w0 = word(0); out.w1 = word(1); out.w2 = word(2); out.w3 = word(3)
        return out
    }

    func intersection(_ other: PropSet) -> PropSet {
        PropSet(w0: w0 & other.w0, w1: w1 & other.w1, w2: w2 & other.w2, w3: w3 & other.w3)
    }

    /// The largest member, -1 when empty.
    var highest: Int {
        if w3 != 0 { return 192 + 63 - w3.leadingZeroBitCount }
        if w2 != 0 { return 128 + 63 - w2.leadingZeroBitCount }
        if w1 != 0 { return 64 + 63 - w1.leadingZeroBitCount }
        if w0 != 0 { return 63 - w0.leadingZeroBitCount }
        return -1
    }

    /// The smallest member, `capacity` when empty.
    var lowest: Int {
        if w0 != 0 { return w0.trailingZeroBitCount }
        if w1 != 0 { return 64 + w1.trailingZeroBitCount }
        if w2 != 0 { return 128 + w2.trailingZeroBitCount }
        if w3 != 0 { return 192 + w3.trailingZeroBitCount }
        return PropSet.capacity
    }

    var members: [Int] {
        var out: [Int] = []
        for (k, word) in [w0, w1, w2, w3].enumerated() {
            var w = word
            while w != 0 {
                out.append(k * 64 + w.trailingZeroBitCount)
                w &= w - 1
            }
        }
        return out
    }
}

/// A node of the small tries that hold `enum`/`const` literals and an object's declared property names.
struct TrieNode: Sendable {
    var bytes: [UInt8] = []
    var kids: [Int32] = []
    /// Literal tries: 0 where a literal ends. Name tries: the property index whose canonical name ends here.
    var terminal: Int32 = -1
    /// Name tries: false inside an escape sequence of the canonical name (a key cannot stop or leave the trie there).
    var boundary = true
    /// Name tries: the properties whose names pass through this node.
    var subtree = PropSet()
    var depth: Int32 = 0
    /// Literal tries: bytes to the nearest literal end.
    var minRemaining: Int = 0
}

struct ObjectSpec: Sendable {
    /// Canonical JSON text of each declared name, without quotes.
    var names: [[UInt8]]
    /// Value node per name; -1 where the name may not appear.
    var props: [Int32]
    var required: PropSet
    /// Names that may never appear (their schema is unsatisfiable): treated as already used.
    var unavailable: PropSet
    var all: PropSet
    /// Node for other keys; -1 when other keys are forbidden.
    var additional: Int32
    /// Root of the name trie; -1 when no name is declared.
    var trie: Int32
    /// Declared names must be written in declaration order (`ConstraintOptions.declaredPropertyOrder`).
    var ordered = false
}

struct ArraySpec: Sendable {
    var items: Int32
    var minItems: Int
    var maxItems: Int
}

/// An integer's inclusive bounds, and what a prefix of its digits can still reach. Integers are written with at most
/// `NumberLexer.maxIntegerDigits` digits, so every value and bound fits an Int64.
struct IntegerRange: Equatable, Sendable {
    var lo: Int64
    var hi: Int64

    static let largest: Int64 = 999_999_999_999_999  // 15 nines: the lexer's longest integer

    func contains(negative: Bool, magnitude: Int64) -> Bool {
        let v = negative ? -magnitude : magnitude
        return v >= lo && v <= hi
    }

    /// Extra digits the prefix needs before its value lies in the range (0: it does now), nil when no continuation
    /// reaches it. `digits` 0 is a lone "-"; `zero`: the prefix is "0" or "-0", which takes no more digits.
    func extraDigits(negative: Bool, magnitude v: Int64, digits k: Int, zero: Bool) -> Int? {
        if zero { return contains(negative: negative, magnitude: 0) ? 0 : nil }
        if k == 0 {
            // "-" alone: "-0" or any negative integer of up to 15 digits; the nearest to zero is shortest.
            if lo <= 0 && hi >= 0 { return 1 }
            guard hi <= -1, hi >= -Self.largest else { return nil }
            return String(-hi).count
        }
        var scale: Int64 = 1
        for n in 0...max(0, Int(NumberLexer.maxIntegerDigits) - k) {
            let a = v * scale, b = a + scale - 1
            let (low, high) = negative ? (-b, -a) : (a, b)
            if high >= lo && low <= hi { return n }
            scale *= 10
        }
        return nil
    }

    /// Bytes of the shortest integer in the range ("0", the bound nearest zero), nil when none can be written.
    var shortest: Int? {
        guard lo <= hi, hi >= -Self.largest, lo <= Self.largest else { return nil }
        if lo <= 0 && hi >= 0 { return 1 }
        return lo > 0 ? String(lo).count : String(hi).count
    }
}

/// A string's length bounds in code points and the automaton its text follows (`Grammar.dfas`, -1: none); a
/// string with neither has no spec (`Lex.string`'s spec -1).
struct StringSpec: Equatable, Sendable {
    var minLength: Int
    var maxLength: Int
    var dfa: Int32 = -1
}

/// How a value may begin with a given byte.
struct Start: Equatable, Sendable {
    enum Kind: UInt8 { case object, array, string, number, integer, literal }
    var kind: Kind
    /// Object/array/string/integer spec (-1: a string or integer without bounds), or the literal-trie node after the
    /// first byte.
    var arg: Int32
}

enum FinalNode: Sendable {
    case never
    case typed(TypeMask, object: Int32, array: Int32, string: Int32, range: Int32)
    case literals(trie: Int32)
    case union([Int32])
}

/// A compiled schema: immutable, shared by the parse states of one request. It is a pushdown automaton over bytes;
/// `step` (Machine.swift) advances one parse state by one byte.
final class Grammar: Sendable {
    static let infinity = 1 << 40

    let nodes: [FinalNode]
    let minLength: [Int]
    let objects: [ObjectSpec]
    let arrays: [ArraySpec]
    let strings: [StringSpec]
    /// The automata of `pattern`/`format` strings.
    let dfas: [ByteDFA]
    /// Bounds of non-integer numbers; a lexeme's `range` -2 - k refers to `decimals[k]`.
    let decimals: [DecimalRange]
    let ranges: [IntegerRange]
    let tries: [TrieNode]
    let root: Int32
    let maxWhitespace: UInt8
    /// starts[dispatch[node * 256 + b] ..< dispatch[node * 256 + b + 1]]: how node `node` may begin with byte b.
    let dispatch: [Int32]
    let starts: [Start]
    let trueFalseTrie: Int32
    let nullTrie: Int32
    /// Literal text around the value, or nil for a bare value.
    let framing: ValueFraming?
    /// The keywords dropped under `ConstraintOptions.ignoreUnenforceable`, as "keyword at path".
    let ignoredKeywords: [String]

    /// `schemaJSON` nil: any JSON object.
    convenience init(schemaJSON: String?, options: ConstraintOptions) throws(ConstraintError) {
        if let framing = options.framing, framing.suffix.isEmpty {
            throw ConstraintError("a framed value needs a suffix that marks its end")
        }
        let document: JSONValue
        if let schemaJSON {
            document = try JSONParser.parse(schemaJSON)
        } else {
            document = .object([("type", .string("object"))])
        }
        var compiler = SchemaCompiler(document: document, options: options)
        let root = try compiler.compileRoot()
        try self.init(compiler: compiler, root: root, options: options)
    }

    private init(compiler: SchemaCompiler, root rootID: Int, options: ConstraintOptions) throws(ConstraintError) {
        var normalizer = Normalizer(compiler: compiler)
        try normalizer.checkExclusive()
        // Resolve every node reachable from the root (resolution may create intersection nodes as it goes).
        var reachable: [Int] = [rootID]
        var seen: Set<Int> = [rootID]
        var i = 0
        while i < reachable.count {
            var next: [Int] = []
            switch normalizer.normalize(reachable[i]) {
            case .typed(_, let o, let a, _, _):
                if let o { next += o.props + (o.additional.map { [$0] } ?? []) }
                if let a { next.append(a.items) }
            case .union(let alts): next += alts
            case .never, .literals: break
            }
            for n in next where seen.insert(n).inserted { reachable.append(n) }
            i += 1
        }
        let count = normalizer.compiler.nodes.count

        var tries: [TrieNode] = []
        func newTrie() -> Int32 {
            tries.append(TrieNode())
            return Int32(tries.count - 1)
        }
        func insert(_ bytes: [UInt8], root: Int32, terminal: Int32) {
            var node = root
            for b in bytes {
                if let k = tries[Int(node)].bytes.firstIndex(of: b) {
                    node = tries[Int(node)].kids[k]
                } else {
                    let child = newTrie()
                    tries[Int(child)].depth = tries[Int(node)].depth + 1
                    tries[Int(node)].bytes.append(b)
                    tries[Int(node)].kids.append(child)
                    node = child
                }
            }
            tries[Int(node)].terminal = terminal
        }
        func literalTrie(_ literals: [[UInt8]]) -> Int32 {
            let r = newTrie()
            for l in literals { insert(l, root: r, terminal: 0) }
            return r
        }
        let trueFalse = literalTrie([Array("true".utf8), Array("false".utf8)])
        let null = literalTrie([Array("null".utf8)])

        var nodes = [FinalNode](repeating: .never, count: count)
        var objects: [ObjectSpec] = []
        var arrays: [ArraySpec] = []
        var strings: [StringSpec] = []
        var dfas: [ByteDFA] = []
        var decimals: [DecimalRange] = []
        var ranges: [IntegerRange] = []
        for id in reachable {
            switch normalizer.normalize(id) {
            case .never: nodes[id] = .never
            case .union(let alts): nodes[id] = .union(alts.map { Int32($0) })
            case .literals(let values):
                nodes[id] = .literals(trie: literalTrie(values.map(\.canonicalBytes)))
            case .typed(let mask, let o, let a, let s, let r):
                var objectIndex: Int32 = -1, arrayIndex: Int32 = -1, stringIndex: Int32 = -1, rangeIndex: Int32 = -1
                if mask.contains(.integer), !mask.contains(.number), let r {
                    let spec = IntegerRange(lo: r.lo, hi: r.hi)
                    if let k = ranges.firstIndex(of: spec) {
                        rangeIndex = Int32(k)
                    } else {
                        ranges.append(spec)
                        rangeIndex = Int32(ranges.count - 1)
                    }
                }
                if mask.contains(.number), let r, r.decimal.isBounded {
                    if let k = decimals.firstIndex(of: r.decimal) {
                        rangeIndex = -2 - Int32(k)
                    } else {
                        decimals.append(r.decimal)
                        rangeIndex = -2 - Int32(decimals.count - 1)
                    }
                }
                if mask.contains(.object), var o {
                    for name in o.required where !o.names.contains(name) {
                        o.names.append(name)
                        o.props.append(o.additional ?? SchemaCompiler.neverNode)
                    }
                    if o.implicitAdditional, options.closeObjectsWithProperties, !o.names.isEmpty { o.additional = nil }
                    guard o.names.count <= PropSet.capacity else {
                        throw ConstraintError("an object schema declares \(o.names.count) properties; at most \(PropSet.capacity) are supported")
                    }
                    var spec = ObjectSpec(names: o.names.map { JSONValue.canonicalStringBody($0) },
                                          props: o.props.map { Int32($0) }, required: PropSet(), unavailable: PropSet(),
                                          all: PropSet(), additional: o.additional.map { Int32($0) } ?? -1, trie: -1,
                                          ordered: options.declaredPropertyOrder)
                    for (k, name) in o.names.enumerated() {
                        spec.all.insert(k)
                        if o.required.contains(name) { spec.required.insert(k) }
                    }
                    if !spec.names.isEmpty {
                        let r = newTrie()
                        spec.trie = r
                        for (k, name) in spec.names.enumerated() {
                            insert(name, root: r, terminal: Int32(k))
                            // Mark the path: which names pass through, and where escapes are open.
                            var node = r
                            var lex = StringLexer.normal
                            tries[Int(node)].subtree.insert(k)
                            for b in name {
                                node = tries[Int(node)].kids[tries[Int(node)].bytes.firstIndex(of: b)!]
                                lex = StringLexer.valueTable[Int(lex) << 8 | Int(b)]
                                tries[Int(node)].subtree.insert(k)
                                tries[Int(node)].boundary = !StringLexer.isEscapeState(lex)
                            }
                        }
                    }
                    objects.append(spec)
                    objectIndex = Int32(objects.count - 1)
                }
                if mask.contains(.array), let a {
                    arrays.append(ArraySpec(items: Int32(a.items), minItems: a.minItems, maxItems: a.maxItems))
                    arrayIndex = Int32(arrays.count - 1)
                }
                if mask.contains(.string), let s, s.minLength > 0 || s.maxLength < Int.max || s.dfa != nil {
                    guard !s.conflicting else {
                        throw ConstraintError("two different patterns or formats on one string (allOf) are not supported")
                    }
                    var spec = StringSpec(minLength: s.minLength, maxLength: s.maxLength)
                    if let dfa = s.dfa {
                        if let k = dfas.firstIndex(of: dfa) {
                            spec.dfa = Int32(k)
                        } else {
                            dfas.append(dfa)
                            spec.dfa = Int32(dfas.count - 1)
                        }
                    }
                    if let k = strings.firstIndex(of: spec) {
                        stringIndex = Int32(k)
                    } else {
                        strings.append(spec)
                        stringIndex = Int32(strings.count - 1)
                    }
                }
                nodes[id] = .typed(mask, object: objectIndex, array: arrayIndex, string: stringIndex, range: rangeIndex)
            }
        }

        // Bytes to the nearest literal end, for every literal-trie node (children come after parents).
        for t in stride(from: tries.count - 1, through: 0, by: -1) {
            var best = tries[t].terminal >= 0 ? 0 : Grammar.infinity
            for k in tries[t].kids { best = min(best, tries[Int(k)].minRemaining + 1) }
            tries[t].minRemaining = best
        }

        // Shortest complete value per node: a least fixpoint (recursive schemas converge; impossible ones stay
        // infinite and are pruned, so a parse can never walk into a dead end).
        var minLength = [Int](repeating: Grammar.infinity, count: count)
        func add(_ a: Int, _ b: Int) -> Int { min(Grammar.infinity, a + b) }
        func objectMin(_ spec: ObjectSpec) -> Int {
            var total = 2, n = 0
            for k in spec.required.members {
                let p = spec.props[k]
                guard p >= 0, !spec.unavailable.contains(k) else { return Grammar.infinity }
                total = add(total, spec.names[k].count + 3 + minLength[Int(p)])
                n += 1
            }
            return add(total, max(0, n - 1))
        }
        /// Quotes plus a byte per required code point; infinite when the bounds contradict.
        func stringMin(_ spec: Int32) -> Int {
            guard spec >= 0 else { return 2 }
            let s = strings[Int(spec)]
            if s.minLength > s.maxLength { return Grammar.infinity }
            guard s.dfa >= 0 else { return min(Grammar.infinity, 2 + s.minLength) }
            // The shortest match, in bytes; with a length bound it must also fit (conservatively, bytes as code points).
            let shortest = dfas[Int(s.dfa)].distance(dfas[Int(s.dfa)].start)
            if shortest >= Grammar.infinity || shortest > s.maxLength { return Grammar.infinity }
            return min(Grammar.infinity, 2 + max(s.minLength, shortest))
        }
        func arrayMin(_ spec: ArraySpec) -> Int {
            if spec.minItems > spec.maxItems { return Grammar.infinity }
            if spec.minItems == 0 { return 2 }
            let item = minLength[Int(spec.items)]
            if item >= Grammar.infinity { return Grammar.infinity }
            return min(Grammar.infinity, 2 + spec.minItems * (item + 1) - 1)
        }
        var changed = true
        var rounds = 0
        while changed && rounds <= count + 2 {
            changed = false
            rounds += 1
            for id in reachable {
                var best = Grammar.infinity
                switch nodes[id] {
                case .never: break
                case .literals(let t): best = tries[Int(t)].minRemaining
                case .union(let alts): best = alts.map { minLength[Int($0)] }.min() ?? Grammar.infinity
                case .typed(let mask, let o, let a, let s, let r):
                    if mask.contains(.number) { best = r <= -2 ? decimals[Int(-2 - r)].shortest ?? Grammar.infinity : 1 }
                    else if mask.contains(.integer) { best = r >= 0 ? ranges[Int(r)].shortest ?? Grammar.infinity : 1 }
                    if mask.contains(.string) { best = min(best, stringMin(s)) }
                    if best == Grammar.infinity, !mask.isDisjoint(with: [.null, .boolean]) { best = 4 }
                    else if !mask.isDisjoint(with: [.null, .boolean]) { best = 4 }
                    if o >= 0 { best = min(best, objectMin(objects[Int(o)])) }
                    if a >= 0 { best = min(best, arrayMin(arrays[Int(a)])) }
                }
                if best < minLength[id] {
                    minLength[id] = best
                    changed = true
                }
            }
        }
        guard minLength[rootID] < Grammar.infinity else {
            throw ConstraintError("the schema can never be satisfied (contradictory or empty constraints)")
        }
        // Prune what can never complete.
        for k in objects.indices {
            for (p, node) in objects[k].props.enumerated() where node < 0 || minLength[Int(node)] >= Grammar.infinity {
                objects[k].unavailable.insert(p)
            }
            if objects[k].additional >= 0, minLength[Int(objects[k].additional)] >= Grammar.infinity {
                objects[k].additional = -1
            }
        }
        for k in arrays.indices where minLength[Int(arrays[k].items)] >= Grammar.infinity {
            arrays[k].maxItems = 0
        }

        // First-byte dispatch per node.
        var dispatch = [Int32](repeating: 0, count: count * 256 + 1)
        var starts: [Start] = []
        func typedStarts(_ mask: TypeMask, _ o: Int32, _ a: Int32, _ s: Int32, _ r: Int32, _ b: UInt8) -> [Start] {
            switch b {
            case UInt8(ascii: "{"):
                if o >= 0, objectMin(objects[Int(o)]) < Grammar.infinity { return [Start(kind: .object, arg: o)] }
            case UInt8(ascii: "["):
                if a >= 0, arrayMin(arrays[Int(a)]) < Grammar.infinity { return [Start(kind: .array, arg: a)] }
            case UInt8(ascii: "\""):
                if mask.contains(.string), stringMin(s) < Grammar.infinity { return [Start(kind: .string, arg: s)] }
            case UInt8(ascii: "-"), UInt8(ascii: "0")...UInt8(ascii: "9"):
                if mask.contains(.number) {
                    guard r <= -2 else { return [Start(kind: .number, arg: -1)] }
                    let first = NumberLexer.start(b)!
                    let ok = decimals[Int(-2 - r)].reachable(
                        negative: b == UInt8(ascii: "-"), magnitude: b == UInt8(ascii: "-") ? 0 : Int64(b) - 48,
                        phase: first.0, digits: Int(first.1))
                    return ok ? [Start(kind: .number, arg: r)] : []
                }
                if mask.contains(.integer) {
                    guard r >= 0 else { return [Start(kind: .integer, arg: -1)] }
                    let digit = b == UInt8(ascii: "-") ? Int64(0) : Int64(b) - 48
                    let reachable = ranges[Int(r)].extraDigits(
                        negative: b == UInt8(ascii: "-"), magnitude: digit, digits: b == UInt8(ascii: "-") ? 0 : 1,
                        zero: b == UInt8(ascii: "0")) != nil
                    return reachable ? [Start(kind: .integer, arg: r)] : []
                }
            case UInt8(ascii: "t"), UInt8(ascii: "f"):
                if mask.contains(.boolean) {
                    let t = tries[Int(trueFalse)]
                    return [Start(kind: .literal, arg: t.kids[t.bytes.firstIndex(of: b)!])]
                }
            case UInt8(ascii: "n"):
                if mask.contains(.null) { return [Start(kind: .literal, arg: tries[Int(null)].kids[0])] }
            default: break
            }
            return []
        }
        func nodeStarts(_ id: Int, _ b: UInt8) -> [Start] {
            guard minLength[id] < Grammar.infinity else { return [] }
            switch nodes[id] {
            case .never: return []
            case .typed(let mask, let o, let a, let s, let r): return typedStarts(mask, o, a, s, r, b)
            case .literals(let t):
                guard let k = tries[Int(t)].bytes.firstIndex(of: b) else { return [] }
                return [Start(kind: .literal, arg: tries[Int(t)].kids[k])]
            case .union(let alts):
                var out: [Start] = []
                for alt in alts {
                    for s in nodeStarts(Int(alt), b) where !out.contains(s) { out.append(s) }
                }
                if out.contains(where: { $0.kind == .number }) { out.removeAll { $0.kind == .integer } }
                return out
            }
        }
        for id in 0..<count {
            for b in 0..<256 {
                dispatch[id * 256 + b] = Int32(starts.count)
                starts += nodeStarts(id, UInt8(b))
            }
        }
        dispatch[count * 256] = Int32(starts.count)

        self.nodes = nodes
        self.minLength = minLength
        self.objects = objects
        self.arrays = arrays
        self.strings = strings
        self.dfas = dfas
        self.decimals = decimals
        self.ranges = ranges
        self.tries = tries
        self.root = Int32(rootID)
        self.maxWhitespace = UInt8(clamping: max(0, options.maxWhitespaceRun))
        self.dispatch = dispatch
        self.starts = starts
        self.trueFalseTrie = trueFalse
        self.nullTrie = null
        self.framing = options.framing
        ignoredKeywords = normalizer.compiler.ignored
    }

    @inline(__always) func trieChild(_ node: Int32, _ b: UInt8) -> Int32 {
        tries.withUnsafeBufferPointer { t in
            let n = t[Int(node)]
            return n.bytes.withUnsafeBufferPointer { bytes in
                for k in 0..<bytes.count where bytes[k] == b { return n.kids[k] }
                return -1
            }
        }
    }
}
