/// Idle decoder sequences kept after their requests finished, with the tokens their KV state holds, so that the
/// next request sharing a prefix (the next turn of a conversation, the same system prompt) computes only what is
/// new. Pure bookkeeping, generic over the handle type so it is testable without a model; the owner destroys
/// whatever this returns as evicted.
public struct PrefixCache<Handle> {
    public struct Entry {
        public let handle: Handle
        public let tokens: [Int32]
        public let capacity: Int
        var lastUse: UInt64
    }

    /// Reuse below this many tokens is not worth giving up an entry that may serve a longer match later.
    public let minimumReuse: Int
    private let limit: Int
    private var entries: [Entry] = []
    private var clock: UInt64 = 0

    public init(limit: Int, minimumReuse: Int = 1) {
        self.limit = max(0, limit)
        self.minimumReuse = max(1, minimumReuse)
    }

    public var count: Int { entries.count }

    /// Removes and returns the entry with the longest common prefix with `prompt` that can hold `capacity`
    /// positions. `reuse` is how many of its tokens stay valid: at most `prompt.count - 1`, because the last prompt
    /// token must be fed again to produce the logits of the first output token.
    public mutating func take(matching prompt: [Int32], capacity: Int) -> (handle: Handle, reuse: Int)? {
        var best: (index: Int, reuse: Int)?
        for (index, entry) in entries.enumerated() where entry.capacity >= capacity {
            let reuse = min(Self.commonPrefix(entry.tokens, prompt), prompt.count - 1)
            if reuse >= minimumReuse, reuse > (best?.reuse ?? 0) { best = (index, reuse) }
        }
        guard let best else { return nil }
        return (entries.remove(at: best.index).handle, best.reuse)
    }

    /// Keeps `handle` (whose state holds `tokens`); returns the entries evicted to stay within the limit, oldest
    /// first (the handle itself when the limit is 0).
    public mutating func put(_ handle: Handle, tokens: [Int32], capacity: Int) -> [Handle] {
        clock &+= 1
        entries.append(Entry(handle: handle, tokens: tokens, capacity: capacity, lastUse: clock))
        var evicted: [Handle] = []
        while entries.count > limit, let oldest = removeOldest() { evicted.append(oldest) }
        return evicted
    }

    /// The least recently used entry, removed (to free memory for a new sequence).
    public mutating func removeOldest() -> Handle? {
        guard let index = entries.indices.min(by: { entries[$0].lastUse < entries[$1].lastUse }) else { return nil }
        return entries.remove(at: index).handle
    }

    public mutating func removeAll() -> [Handle] {
        defer { entries.removeAll() }
        return entries.map(\.handle)
    }

    static func commonPrefix(_ a: [Int32], _ b: [Int32]) -> Int {
        var n = 0
        let limit = min(a.count, b.count)
        while n < limit, a[n] == b[n] { n += 1 }
        return n
    }
}
