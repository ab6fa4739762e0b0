/// Applies BPE merges to a word given as initial token ids.
///
/// Both Hugging Face BPE (priority = merge rank) and llama.cpp's SentencePiece tokenizer (priority = rank of the
/// merged piece's score) repeatedly merge the adjacent pair with the best priority, leftmost first; only the
/// priority table differs. Short words use a direct scan; long ones a binary heap with lazy invalidation.
struct MergeTable: Sendable {
    /// Open-addressing hash table: (left id << 32 | right id) → (priority << 32 | merged id); lower priority merges
    /// first. A multiplicative hash instead of `Dictionary`'s SipHash: pair lookups are the inner loop of BPE.
    private var keys: [UInt64]
    private var values: [UInt64]
    private var mask: Int
    private var shift: UInt64
    private(set) var count = 0
    private static let empty = UInt64.max  // the pair (-1, -1), which no token forms

    init() {
        keys = Array(repeating: MergeTable.empty, count: 16)
        values = Array(repeating: 0, count: 16)
        mask = 15
        shift = 60
    }

    mutating func add(left: Int32, right: Int32, merged: Int32, priority: Int32) {
        guard left >= 0, right >= 0, merged >= 0, priority >= 0 else { return }
        if (count + 1) * 2 > keys.count { grow() }
        let key = MergeTable.key(left, right)
        let value = UInt64(UInt32(bitPattern: priority)) << 32 | UInt64(UInt32(bitPattern: merged))
        var slot = self.slot(key)
        while keys[slot] != MergeTable.empty {
            if keys[slot] == key {
                if value < values[slot] { values[slot] = value }  // keep the best rule for a pair
                return
            }
            slot = (slot + 1) & mask
        }
        keys[slot] = key
        values[slot] = value
        count += 1
    }

    private mutating func grow() {
        let oldKeys = keys
        let oldValues = values
        let capacity = keys.count * 2
        keys = Array(repeating: MergeTable.empty, count: capacity)
        values = Array(repeating: 0, count: capacity)
        mask = capacity - 1
        shift = UInt64(64 - capacity.trailingZeroBitCount)
        for (key, value) in zip(oldKeys, oldValues) where key != MergeTable.empty {
            var slot = self.slot(key)
            while keys[slot] != MergeTable.empty { slot = (slot + 1) & mask }
            keys[slot] = key
            values[slot] = value
        }
    }

    @inline(__always)
    private func slot(_ key: UInt64) -> Int {
        Int(truncatingIfNeeded: (key &* 0x9E37_79B9_7F4A_7C15) >> shift)
    }

    @inline(__always)
    static func key(_ left: Int32, _ right: Int32) -> UInt64 {
        UInt64(UInt32(bitPattern: left)) << 32 | UInt64(UInt32(bitPattern: right))
    }

    /// The rule for a pair as (priority << 32 | merged id), or nil.
    @inline(__always)
    func lookupPacked(_ left: Int32, _ right: Int32) -> UInt64? {
        guard left >= 0, right >= 0 else { return nil }
        let key = MergeTable.key(left, right)
        var slot = self.slot(key)
        while true {
            let found = keys[slot]
            if found == key { return values[slot] }
            if found == MergeTable.empty { return nil }
            slot = (slot + 1) & mask
        }
    }

    @inline(__always)
    func lookup(_ left: Int32, _ right: Int32) -> (priority: UInt32, merged: Int32)? {
        guard let value = lookupPacked(left, right) else { return nil }
        return (UInt32(truncatingIfNeeded: value >> 32), Int32(bitPattern: UInt32(truncatingIfNeeded: value)))
    }

    /// Merges `symbols` in place until no adjacent pair has a rule. Negative ids never merge.
    func apply(_ symbols: inout [Int32]) {
        if symbols.count < 2 { return }
        if symbols.count <= 64 {
            applyByScan(&symbols)
        } else {
            applyWithHeap(&symbols)
        }
    }

    /// Short words: keep each adjacent pair's packed rule (UInt64.max = none) and rescan for the minimum; after a
    /// merge only the two pairs touching the new symbol are looked up again. Packed values order by priority,
    /// and the strict `<` keeps the leftmost of equal priorities.
    private func applyByScan(_ symbols: inout [Int32]) {
        var rules = [UInt64](repeating: .max, count: symbols.count - 1)
        for i in 0..<(symbols.count - 1) {
            rules[i] = lookupPacked(symbols[i], symbols[i + 1]) ?? .max
        }
        while !rules.isEmpty {
            var best = 0
            var bestRule = rules[0]
            for i in 1..<rules.count where rules[i] >> 32 < bestRule >> 32 {
                best = i
                bestRule = rules[i]
            }
            if bestRule == .max { return }
            symbols[best] = Int32(bitPattern: UInt32(truncatingIfNeeded: bestRule))
            symbols.remove(at: best + 1)
            rules.remove(at: best)
            if best > 0 { rules[best - 1] = lookupPacked(symbols[best - 1], symbols[best]) ?? .max }
            if best < rules.count { rules[best] = lookupPacked(symbols[best], symbols[best + 1]) ?? .max }
        }
    }

    private struct Candidate: Comparable {
        let priority: UInt32
        let position: Int32
        let left: Int32
        let right: Int32

        static func < (a: Candidate, b: Candidate) -> Bool {
            a.priority != b.priority ? a.priority < b.priority : a.position < b.position
        }
    }

    private func applyWithHeap(_ symbols: inout [Int32]) {
        let n = symbols.count
        var ids = symbols
        var next = (0..<n).map { Int32($0 + 1) }
        var previous = (0..<n).map { Int32($0 - 1) }
        next[n - 1] = -1
        var heap = BinaryHeap<Candidate>()
        for i in 0..<(n - 1) {
            if let rule = lookup(ids[i], ids[i + 1]) {
                heap.push(Candidate(priority: rule.priority, position: Int32(i), left: ids[i], right: ids[i + 1]))
            }
        }
        while let top = heap.pop() {
            let i = Int(top.position)
            let j = Int(next[i])
            // Stale entries: the left symbol was merged away or changed, or its right neighbour changed.
            guard ids[i] == top.left, j >= 0, ids[j] == top.right, let rule = lookup(top.left, top.right) else {
                continue
            }
            ids[i] = rule.merged
            ids[j] = -1
            let after = next[j]
            next[i] = after
            if after >= 0 { previous[Int(after)] = Int32(i) }
            let before = previous[i]
            if before >= 0, let r = lookup(ids[Int(before)], ids[i]) {
                heap.push(Candidate(priority: r.priority, position: before, left: ids[Int(before)], right: ids[i]))
            }
            if after >= 0, let r = lookup(ids[i], ids[Int(after)]) {
                heap.push(Candidate(priority: r.priority, position: Int32(i), left: ids[i], right: ids[Int(after)]))
            }
        }
        symbols.removeAll(keepingCapacity: true)
        var i: Int32 = 0
        while i >= 0 {
            symbols.append(ids[Int(i)])
            i = next[Int(i)]
        }
    }
}

/// A minimal binary min-heap.
struct BinaryHeap<Element: Comparable> {
    private var storage: [Element] = []

    mutating func push(_ element: Element) {
        storage.append(element)
        var child = storage.count - 1
        while child > 0 {
            let parent = (child - 1) / 2
            if storage[child] < storage[parent] {
                storage.swapAt(child, parent)
                child = parent
            } else {
                break
            }
        }
    }

    mutating func pop() -> Element? {
        guard !storage.isEmpty else { return nil }
        storage.swapAt(0, storage.count - 1)
        let top = storage.removeLast()
        var parent = 0
        while true {
            let left = 2 * parent + 1
            let right = left + 1
            var smallest = parent
            if left < storage.count && storage[left] < storage[smallest] { smallest = left }
            if right < storage.count && storage[right] < storage[smallest] { smallest = right }
            if smallest == parent { break }
            storage.swapAt(parent, smallest)
            parent = smallest
        }
        return top
    }
}
