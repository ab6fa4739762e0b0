/// Idle decoder sequences kept after their requests finished, with the tokens their KV state holds, so that the
/// next request sharing a prefix (the next turn of a conversation, the same system prompt) computes only what is
/// new. Pure bookkeeping, generic over the handle type so it is testable without a model; the owner destroys
/// whatever this returns as evicted.
///
/// Bounded twice: in entries (each idle sequence is one of the worker's sequence slots' worth of bookkeeping) and in
/// bytes (what the entries' KV memory occupies): a single 8,000-token conversation of a small model holds hundreds of
/// megabytes, so a count alone does not bound memory. Least recently used entries go first.
public struct PrefixCache<Handle> {
    public struct Entry {
        public let handle: Handle
        public let tokens: [Int32]
        public let capacity: Int
        /// The memory this entry's sequence holds (as its owner measured it).
        public let bytes: Int
        var lastUse: UInt64
    }

    /// Reuse below this many tokens is not worth giving up an entry that may serve a longer match later.
    public let minimumReuse: Int
    private let limit: Int
    /// The most bytes the entries may hold together; an entry larger than this alone is not kept.
    public let byteBudget: Int
    private var entries: [Entry] = []
    private var clock: UInt64 = 0

    public init(limit: Int, byteBudget: Int = .max, minimumReuse: Int = 1) {
        self.limit = max(0, limit)
        self.byteBudget = max(0, byteBudget)
        self.minimumReuse = max(1, minimumReuse)
    }

    public var count: Int { entries.count }

    /// The positions the cached sequences hold.
    public var positions: Int { entries.reduce(0) { $0 + $1.tokens.count } }

    /// The bytes the cached sequences hold.
    public var bytes: Int { entries.reduce(0) { $0 + $1.bytes } }

    /// How a request starts from the cache: with an entry handed over (cut back to `reuse` positions), or with
    /// `reuse` positions copied out of an entry that stays cached for other requests.
    public enum Match {
        case take(Handle, reuse: Int)
        case copy(from: Handle, reuse: Int)
    }

    /// The entry sharing the longest prefix with `prompt`. `reuse` is how many of its positions stay valid: at most
    /// `prompt.count - 1`, because the last prompt token must be fed again to produce the logits of the first output
    /// token. A prompt that continues the entry's
    /// whole state (the next turn of its conversation) takes the entry: nothing is copied. A prompt that shares only
    /// part of it (a common system prompt) copies that part when `canCopy`, leaving the entry for the requests that
    /// share it too, concurrent ones included; without copying it takes the entry.
    /// A taken entry must hold `capacity` positions; a copied one only has to hold the prefix.
    public mutating func match(_ prompt: [Int32], capacity: Int, canCopy: Bool) -> Match? {
        var best: (index: Int, reuse: Int)?
        for (index, entry) in entries.enumerated() where canCopy || entry.capacity >= capacity {
            let reuse = min(Self.commonPrefix(entry.tokens, prompt), prompt.count - 1)
            if reuse >= minimumReuse, reuse > (best?.reuse ?? 0) { best = (index, reuse) }
        }
        guard let best else { return nil }
        let entry = entries[best.index]
        let whole = best.reuse == entry.tokens.count && entry.capacity >= capacity
        if canCopy && !whole {
            clock &+= 1
            entries[best.index].lastUse = clock
            return .copy(from: entry.handle, reuse: best.reuse)
        }
        return .take(entries.remove(at: best.index).handle, reuse: best.reuse)
    }

    /// Keeps `handle` (whose state holds `tokens` and occupies `bytes`); returns the entries evicted to stay within
    /// the limits, least recently used first. The handle itself comes back when the limit is 0 or when it is larger
    /// than the byte budget alone (keeping it would only evict everything else).
    public mutating func put(_ handle: Handle, tokens: [Int32], capacity: Int, bytes: Int = 0) -> [Handle] {
        guard limit > 0, bytes <= byteBudget else { return [handle] }
        clock &+= 1
        entries.append(Entry(handle: handle, tokens: tokens, capacity: capacity, bytes: max(0, bytes), lastUse: clock))
        var evicted: [Handle] = []
        var held = self.bytes
        while entries.count > limit || held > byteBudget, let index = oldestIndex() {
            held -= entries[index].bytes
            evicted.append(entries.remove(at: index).handle)
        }
        return evicted
    }

    /// The least recently used entry, removed (to free memory for a new sequence).
    public mutating func removeOldest() -> Handle? {
        guard let index = oldestIndex() else { return nil }
        return entries.remove(at: index).handle
    }

    private func oldestIndex() -> Int? {
        entries.indices.min(by: { entries[$0].lastUse < entries[$1].lastUse })
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
