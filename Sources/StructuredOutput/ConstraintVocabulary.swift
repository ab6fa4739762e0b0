/// A byte trie over token strings, in flat arrays: node `n`'s children are `childByte/childNode[childStart[n] ..<
/// childStart[n + 1]]`, its tokens `tokens[tokenStart[n] ..< tokenStart[n + 1]]`. The root is node 0.
struct TokenTrie: Sendable {
    private(set) var childStart: [Int32] = []
    private(set) var childByte: [UInt8] = []
    private(set) var childNode: [Int32] = []
    private(set) var tokenStart: [Int32] = []
    private(set) var tokens: [Int32] = []

    /// `entries`: (bytes, token id); several ids may share bytes.
    init(_ entries: [([UInt8], Int32)]) {
        let sorted = entries.sorted { a, b in
            a.0.lexicographicallyPrecedes(b.0) || (a.0 == b.0 && a.1 < b.1)
        }
        // Nodes are numbered breadth-first so each node's children are contiguous.
        var queue: [(range: Range<Int>, depth: Int)] = [(0..<sorted.count, 0)]
        var head = 0
        childStart = [0]
        tokenStart = [0]
        while head < queue.count {
            let (range, depth) = queue[head]
            head += 1
            var i = range.lowerBound
            while i < range.upperBound, sorted[i].0.count == depth {
                tokens.append(sorted[i].1)
                i += 1
            }
            tokenStart.append(Int32(tokens.count))
            while i < range.upperBound {
                let b = sorted[i].0[depth]
                var j = i
                while j < range.upperBound, sorted[j].0[depth] == b { j += 1 }
                childByte.append(b)
                childNode.append(Int32(queue.count))
                queue.append((i..<j, depth + 1))
                i = j
            }
            childStart.append(Int32(childByte.count))
        }
    }

    var nodeCount: Int { tokenStart.count - 1 }
}

/// A fixed-size bit set over token ids.
struct TokenBits: Sendable {
    var words: [UInt64]

    init(count: Int) {
        words = [UInt64](repeating: 0, count: (count + 63) / 64)
    }

    @inline(__always) mutating func insert(_ id: Int32) {
        words[Int(id) >> 6] |= UInt64(1) << UInt64(id & 63)
    }

    @inline(__always) mutating func remove(_ id: Int32) {
        words[Int(id) >> 6] &= ~(UInt64(1) << UInt64(id & 63))
    }

    @inline(__always) func contains(_ id: Int32) -> Bool {
        words[Int(id) >> 6] & (UInt64(1) << UInt64(id & 63)) != 0
    }

    mutating func formUnion(_ other: TokenBits) {
        words.withUnsafeMutableBufferPointer { w in
            other.words.withUnsafeBufferPointer { o in
                for k in 0..<w.count { w[k] |= o[k] }
            }
        }
    }

    mutating func removeAll() {
        words.withUnsafeMutableBufferPointer { w in
            for k in 0..<w.count { w[k] = 0 }
        }
    }
}

/// Built once per model (shared by all requests, immutable, Sendable): the vocabulary as byte strings in a trie, plus,
/// for every lexer state inside a string, which tokens stay inside the string (valid whatever the schema) and which
/// close it. Inside a string nearly every token is allowed, so this turns the common case of masking into one bit-set
/// union plus a walk over the few hundred distinct texts that follow a closing quote.
public final class ConstraintVocabulary: Sendable {
    let tokenBytes: [[UInt8]?]
    let endTokens: [Int32]
    let trie: TokenTrie
    /// Per value-string state: tokens that keep the string open (valid from that state).
    let stringInside: [TokenBits]
    /// Per value-string state: a trie of what follows the closing quote, over the tokens that close the string.
    let stringExits: [TokenTrie]
    /// Per value-string state, per token: the code points the token adds inside the string, counting a character it
    /// leaves unfinished (255: not inside, or 255 and more). Bounded strings (`minLength`/`maxLength`) filter
    /// `stringInside` with it.
    let stringInsideLength: [[UInt8]]
    /// Per value-string state: the closing tokens with the code points each completes before its quote.
    let stringExitLength: [[(token: Int32, length: Int32)]]
    /// Per key state (UTF-8 states only): tokens that keep the key open without a backslash.
    let keyInside: [TokenBits]
    /// Per key state: tokens with a quote or backslash reachable from it; checked one by one.
    let keyExits: [[Int32]]
    let singleByteTokens: [Int32]

    public var count: Int { tokenBytes.count }

    /// tokenBytes[id] is what the token adds to the output text, nil for special/control tokens (never allowed).
    /// endTokens: the model's EOS/EOT ids, allowed exactly when the value is complete.
    public init(tokenBytes: [[UInt8]?], endTokens: Set<Int32>) {
        let n = tokenBytes.count
        self.endTokens = endTokens.filter { $0 >= 0 && Int($0) < n }.sorted()
        // Empty tokens would let a model loop without writing anything; end tokens only ever end.
        var usable: [([UInt8], Int32)] = []
        var single = [Int32](repeating: -1, count: 256)
        for (id, bytes) in tokenBytes.enumerated() {
            guard let bytes, !bytes.isEmpty, !endTokens.contains(Int32(id)) else { continue }
            usable.append((bytes, Int32(id)))
            if bytes.count == 1, single[Int(bytes[0])] < 0 { single[Int(bytes[0])] = Int32(id) }
        }
        self.tokenBytes = tokenBytes.enumerated().map { id, bytes in
            guard let bytes, !bytes.isEmpty, !endTokens.contains(Int32(id)) else { return nil }
            return bytes
        }
        singleByteTokens = single
        trie = TokenTrie(usable)

        var inside: [TokenBits] = []
        var exits: [TokenTrie] = []
        var insideLength: [[UInt8]] = []
        var exitLength: [[(token: Int32, length: Int32)]] = []
        for state in 0..<StringLexer.valueStateCount {
            var bits = TokenBits(count: n)
            var closing: [([UInt8], Int32)] = []
            var lengths = [UInt8](repeating: 255, count: n)
            var closingLengths: [(token: Int32, length: Int32)] = []
            for (bytes, id) in usable {
                var s = UInt8(state)
                var closedAt = -1
                var completed = 0
                for (i, b) in bytes.enumerated() {
                    s = StringLexer.valueTable[Int(s) << 8 | Int(b)]
                    if s == StringLexer.close { closedAt = i; break }
                    if s >= StringLexer.escape { break }
                    if s == StringLexer.normal { completed += 1 }
                }
                if closedAt >= 0 {
                    closing.append((Array(bytes[(closedAt + 1)...]), id))
                    closingLengths.append((id, Int32(completed)))
                } else if s < StringLexer.escape {
                    bits.insert(id)
                    lengths[Int(id)] = UInt8(min(255, completed + (s == StringLexer.normal ? 0 : 1)))
                }
            }
            inside.append(bits)
            exits.append(TokenTrie(closing))
            insideLength.append(lengths)
            exitLength.append(closingLengths)
        }
        stringInside = inside
        stringExits = exits
        stringInsideLength = insideLength
        stringExitLength = exitLength

        var keyIn: [TokenBits] = []
        var keyOut: [[Int32]] = []
        for state in 0..<StringLexer.utf8StateCount {
            var bits = TokenBits(count: n)
            var others: [Int32] = []
            for (bytes, id) in usable {
                var s = UInt8(state)
                for b in bytes {
                    s = StringLexer.keyTable[Int(s) << 8 | Int(b)]
                    if s >= StringLexer.escape { break }
                }
                if s < StringLexer.escape {
                    bits.insert(id)
                } else if s == StringLexer.close || s == StringLexer.escape {
                    others.append(id)
                }
            }
            keyIn.append(bits)
            keyOut.append(others)
        }
        keyInside = keyIn
        keyExits = keyOut
    }

    /// The token whose text is exactly this byte, if the vocabulary has one (byte-level BPE has all 256).
    public func token(forByte byte: UInt8) -> Int32? {
        let id = singleByteTokens[Int(byte)]
        return id >= 0 ? id : nil
    }

    /// The bytes a token adds to the output; nil for special tokens and end tokens.
    public func bytes(of token: Int32) -> [UInt8]? {
        guard token >= 0, Int(token) < tokenBytes.count else { return nil }
        return tokenBytes[Int(token)]
    }
}
