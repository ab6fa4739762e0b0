/// Where a sequence's key/value cache comes from. The plugin passes the host's accounted allocator, so the worker can
/// count KV memory and refuse a sequence over its budget; tests and benchmarks use the system allocator.
public struct KVAllocator: @unchecked Sendable {
    public let allocate: (_ bytes: Int) -> UnsafeMutableRawPointer?
    public let release: (UnsafeMutableRawPointer) -> Void

    public init(allocate: @escaping (_ bytes: Int) -> UnsafeMutableRawPointer?,
                release: @escaping (UnsafeMutableRawPointer) -> Void) {
        self.allocate = allocate
        self.release = release
    }

    public static let system = KVAllocator(
        allocate: { UnsafeMutableRawPointer.allocate(byteCount: $0, alignment: 64) },
        release: { $0.deallocate() })
}

/// One sequence's state: the key/value cache of every layer for the positions processed so far.
///
/// The cache is allocated once at creation for `capacity` positions (Float32), so decode never reallocates. Keys are
/// stored in tiles of 8 positions, `[layer][kvHead][position / 8][dimension][position % 8]`, so that attention
/// computes the scores of 8 positions with 8-wide multiply-adds over one contiguous 2 KB tile (no horizontal sums,
/// no strided reads); values are stored `[layer][kvHead][position][dimension]`, so that one key/value head's values
/// are one contiguous stream, read in position order as attention accumulates them. A sequence belongs to the model
/// that made it and must be used by one `forward` call at a time.
public final class LlamaSequence {
    public let capacity: Int
    /// Positions held in the cache (the next token's position).
    public internal(set) var count: Int = 0
    let layers: Int
    let kvHeads: Int
    let headDimension: Int
    let kvWidth: Int
    /// `capacity` rounded up to a whole number of 8-position key tiles.
    let keyStride: Int
    let keys: UnsafeMutablePointer<Float>
    let values: UnsafeMutablePointer<Float>
    let allocator: KVAllocator

    init(layers: Int, kvHeads: Int, headDimension: Int, capacity: Int, allocator: KVAllocator) throws {
        self.capacity = capacity
        self.layers = layers
        self.kvHeads = kvHeads
        self.headDimension = headDimension
        self.allocator = allocator
        kvWidth = kvHeads * headDimension
        keyStride = (capacity + 7) & ~7
        let keyCount = layers * kvWidth * keyStride
        let valueCount = layers * kvHeads * capacity * headDimension
        guard let k = allocator.allocate(keyCount * MemoryLayout<Float>.stride) else {
            throw LlamaModelError.outOfMemory(bytes: (keyCount + valueCount) * MemoryLayout<Float>.stride)
        }
        guard let v = allocator.allocate(valueCount * MemoryLayout<Float>.stride) else {
            allocator.release(k)
            throw LlamaModelError.outOfMemory(bytes: (keyCount + valueCount) * MemoryLayout<Float>.stride)
        }
        keys = k.bindMemory(to: Float.self, capacity: keyCount)
        values = v.bindMemory(to: Float.self, capacity: valueCount)
    }

    deinit {
        allocator.release(UnsafeMutableRawPointer(keys))
        allocator.release(UnsafeMutableRawPointer(values))
    }

    /// Zeroes the key tiles that positions `count ..< count + n` open. The 8-wide score loop reads a whole tile, so
    /// the positions of a tile not yet written must hold finite numbers; zeroing tiles as the sequence reaches them
    /// (instead of the whole cache at creation) keeps a sequence sized for the full context cheap to create and its
    /// untouched pages out of memory. Tiles opened earlier keep finite values after a truncation.
    func prepareKeyTiles(adding n: Int) {
        let firstNew = (count + 7) / 8, end = (count + n + 7) / 8
        guard firstNew < end else { return }
        let tileFloats = 8 * headDimension
        for layer in 0..<layers {
            for head in 0..<kvHeads {
                (keyTiles(layer, head) + firstNew * tileFloats).update(repeating: 0, count: (end - firstNew) * tileFloats)
            }
        }
    }

    /// Forgets every position from `length` on (to reuse a shared prefix or roll back); `length` ≤ `count`.
    public func truncate(to length: Int) throws {
        guard length >= 0, length <= count else {
            throw LlamaModelError.badTruncation(length: count, requested: length)
        }
        count = length
    }

    /// Makes this sequence hold exactly the first `length` positions of `source` (a sequence of the same model), so
    /// that requests sharing a prompt prefix each start from one computed copy of it. Whole key tiles are copied
    /// (the positions past `length` in the last one are finite values the score loop ignores, as after a
    /// truncation). Costs `length` × 2 × layers × kvWidth floats of copying: ~46 KB per position for SmolLM2-135M.
    public func copy(from source: LlamaSequence, count length: Int) throws {
        guard source !== self, source.layers == layers, source.kvHeads == kvHeads,
              source.headDimension == headDimension else {
            throw LlamaModelError.badCopy("the source is the sequence itself or belongs to another model")
        }
        guard length >= 0, length <= source.count, length <= capacity else {
            throw LlamaModelError.badCopy("\(length) positions requested; the source holds \(source.count), this sequence \(capacity)")
        }
        count = 0
        let tileFloats = ((length + 7) / 8) * 8 * headDimension
        for layer in 0..<layers {
            for head in 0..<kvHeads {
                keyTiles(layer, head).update(from: source.keyTiles(layer, head), count: tileFloats)
                valueRows(layer, head).update(from: source.valueRows(layer, head), count: length * headDimension)
            }
        }
        count = length
    }

    /// The key tiles of `layer` and `kvHead`: tile t (positions 8t ..< 8t + 8) starts at `8 * headDimension * t`,
    /// and holds dimension d of its 8 positions at `8 * d`.
    @inline(__always)
    func keyTiles(_ layer: Int, _ kvHead: Int) -> UnsafeMutablePointer<Float> {
        keys + (layer * kvHeads + kvHead) * headDimension * keyStride
    }

    /// Stores the keys (`kvWidth` floats, heads one after another) of `layer` at `position`.
    @inline(__always)
    func storeKey(_ layer: Int, _ position: Int, _ key: UnsafePointer<Float>) {
        let tileOffset = (position / 8) * 8 * headDimension + position % 8
        for head in 0..<kvHeads {
            let base = keyTiles(layer, head) + tileOffset, k = key + head * headDimension
            for d in 0..<headDimension { base[8 * d] = k[d] }
        }
    }

    /// The values of `layer` and `kvHead`: position p's `headDimension` floats start at `headDimension * p`.
    @inline(__always)
    func valueRows(_ layer: Int, _ kvHead: Int) -> UnsafeMutablePointer<Float> {
        values + (layer * kvHeads + kvHead) * capacity * headDimension
    }

    /// Stores the values (`kvWidth` floats, heads one after another) of `layer` at `position`.
    @inline(__always)
    func storeValue(_ layer: Int, _ position: Int, _ value: UnsafePointer<Float>) {
        for head in 0..<kvHeads {
            (valueRows(layer, head) + position * headDimension)
                .update(from: value + head * headDimension, count: headDimension)
        }
    }
}
