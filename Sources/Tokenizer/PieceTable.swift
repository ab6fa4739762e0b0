/// Vocabulary pieces keyed by their exact UTF-8 bytes, looked up with a byte range of the input.
///
/// WordPiece probes the vocabulary once per candidate piece, longest first, so lookups are its inner loop. Keying a
/// `Dictionary` by `ExactString` would build a `String` for every probe; this table hashes the bytes in place (an
/// open-addressing table like `MergeTable`) and compares them byte for byte, so it is byte-exact as `ExactString`
/// is: "é" and "e\u{301}" stay distinct.
struct PieceTable: Sendable {
    /// Every key's bytes, back to back; an entry is (offset, length, value).
    private var bytes: [UInt8] = []
    private var offsets: [Int32] = []
    private var lengths: [Int32] = []
    private var values: [Int32] = []
    /// Entry index + 1 per slot; 0 = empty.
    private var slots: [Int32] = Array(repeating: 0, count: 16)
    private var mask = 15
    /// The longest key in bytes: no probe needs to start longer than this.
    private(set) var maxKeyLength = 0

    var count: Int { values.count }

    /// Adds `key` → `value`; a key already present keeps its first value.
    mutating func add<Key: Collection>(_ key: Key, value: Int32) where Key.Element == UInt8 {
        let keyBytes = Array(key)
        let found = keyBytes.withUnsafeBufferPointer { self.value(for: $0) }
        guard found == nil else { return }
        if (values.count + 1) * 2 > slots.count { grow() }
        offsets.append(Int32(bytes.count))
        lengths.append(Int32(keyBytes.count))
        values.append(value)
        bytes.append(contentsOf: keyBytes)
        maxKeyLength = max(maxKeyLength, keyBytes.count)
        let hash = keyBytes.withUnsafeBufferPointer { PieceTable.hash($0) }
        insert(entry: values.count - 1, hash: hash)
    }

    /// The value of the key whose bytes are exactly `key`.
    @inline(__always)
    func value(for key: UnsafeBufferPointer<UInt8>) -> Int32? {
        var slot = Int(truncatingIfNeeded: PieceTable.hash(key)) & mask
        while true {
            let entry = Int(slots[slot]) - 1
            if entry < 0 { return nil }
            if Int(lengths[entry]) == key.count && matches(entry: entry, key) { return values[entry] }
            slot = (slot + 1) & mask
        }
    }

    @inline(__always)
    private func matches(entry: Int, _ key: UnsafeBufferPointer<UInt8>) -> Bool {
        let offset = Int(offsets[entry])
        return bytes.withUnsafeBufferPointer { stored in
            for i in 0..<key.count where stored[offset + i] != key[i] { return false }
            return true
        }
    }

    private mutating func insert(entry: Int, hash: UInt64) {
        var slot = Int(truncatingIfNeeded: hash) & mask
        while slots[slot] != 0 { slot = (slot + 1) & mask }
        slots[slot] = Int32(entry + 1)
    }

    private mutating func grow() {
        slots = Array(repeating: 0, count: slots.count * 2)
        mask = slots.count - 1
        for entry in values.indices {
            let offset = Int(offsets[entry])
            let hash = bytes.withUnsafeBufferPointer {
                PieceTable.hash(UnsafeBufferPointer(rebasing: $0[offset..<offset + Int(lengths[entry])]))
            }
            insert(entry: entry, hash: hash)
        }
    }

    /// FNV-1a with a final mix: pieces are short, and the low bits pick the slot.
    @inline(__always)
    private static func hash(_ key: UnsafeBufferPointer<UInt8>) -> UInt64 {
        var h: UInt64 = 0xCBF2_9CE4_8422_2325
        for byte in key { h = (h ^ UInt64(byte)) &* 0x0000_0100_0000_01B3 }
        h ^= h >> 29
        h = h &* 0xBF58_476D_1CE4_E5B9
        return h ^ (h >> 32)
    }
}
