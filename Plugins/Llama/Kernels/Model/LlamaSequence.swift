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
/// The cache is allocated once at creation for `capacity` positions (in `cacheType`), so decode never reallocates.
/// Keys are stored in tiles of 8 positions, `[layer][kvHead][position / 8][dimension][position % 8]`, so that
/// attention computes the scores of 8 positions with 8-wide multiply-adds over one contiguous tile (no horizontal
/// sums, no strided reads); values are stored `[layer][kvHead][position][dimension]`, so that one key/value head's
/// values are one contiguous stream, read in position order as attention accumulates them. A sequence belongs to the
/// model that made it and must be used by one `forward` call at a time.
public final class LlamaSequence {
    public let capacity: Int
    /// Positions held in the cache (the next token's position).
    public internal(set) var count: Int = 0
    public let cacheType: KVCacheType
    let layers: Int
    let kvHeads: Int
    let headDimension: Int
    let kvWidth: Int
    /// `capacity` rounded up to a whole number of 8-position key tiles.
    let keyStride: Int
    /// Bytes per stored value.
    let elementSize: Int
    let keys: UnsafeMutableRawPointer
    let values: UnsafeMutableRawPointer
    /// q8_0 only: blocks of 32 values per head and position (`headDimension / 32` of them).
    let blocks: Int
    /// q8_0 only: the keys' block scales, `[layer][kvHead][position / 8][block][position % 8]`, so that the score loop
    /// loads a tile's 8 positions' scales of one block at once.
    let keyScales: UnsafeMutablePointer<Float>?
    /// q8_0 only: the values' block scales, `[layer][kvHead][position][block]`.
    let valueScales: UnsafeMutablePointer<Float>?
    let allocator: KVAllocator

    init(layers: Int, kvHeads: Int, headDimension: Int, capacity: Int, cacheType: KVCacheType,
         allocator: KVAllocator) throws {
        self.capacity = capacity
        self.cacheType = cacheType
        self.layers = layers
        self.kvHeads = kvHeads
        self.headDimension = headDimension
        self.allocator = allocator
        kvWidth = kvHeads * headDimension
        keyStride = (capacity + 7) & ~7
        elementSize = cacheType.elementSize
        blocks = cacheType == .q8_0 ? headDimension / KVCacheType.blockLength : 0
        if cacheType == .q8_0 && headDimension % KVCacheType.blockLength != 0 {
            throw LlamaModelError.unsupportedCacheType("a q8_0 KV cache needs a head dimension that is a multiple of 32; "
                                                       + "this model's is \(headDimension)")
        }
        let keyBytes = layers * kvWidth * keyStride * elementSize
        let valueBytes = layers * kvHeads * capacity * headDimension * elementSize
        let keyScaleBytes = layers * kvHeads * keyStride * blocks * 4
        let valueScaleBytes = layers * kvHeads * capacity * blocks * 4
        let total = keyBytes + valueBytes + keyScaleBytes + valueScaleBytes
        var taken: [UnsafeMutableRawPointer] = []
        func take(_ bytes: Int) throws -> UnsafeMutableRawPointer {
            guard let p = allocator.allocate(bytes) else {
                taken.forEach(allocator.release)
                throw LlamaModelError.outOfMemory(bytes: total)
            }
            taken.append(p)
            return p
        }
        keys = try take(keyBytes)
        values = try take(valueBytes)
        if blocks > 0 {
            keyScales = try take(keyScaleBytes).bindMemory(to: Float.self, capacity: keyScaleBytes / 4)
            valueScales = try take(valueScaleBytes).bindMemory(to: Float.self, capacity: valueScaleBytes / 4)
        } else {
            keyScales = nil
            valueScales = nil
        }
    }

    deinit {
        allocator.release(keys)
        allocator.release(values)
        if let keyScales { allocator.release(UnsafeMutableRawPointer(keyScales)) }
        if let valueScales { allocator.release(UnsafeMutableRawPointer(valueScales)) }
    }

    /// Zeroes the key tiles that positions `count ..< count + n` open. The 8-wide score loop reads a whole tile, so
    /// the positions of a tile not yet written must hold finite numbers (zero bits are zero in every cache type);
    /// zeroing tiles as the sequence reaches them (instead of the whole cache at creation) keeps a sequence sized for
    /// the full context cheap to create and its untouched pages out of memory. Tiles opened earlier keep finite
    /// values after a truncation.
    func prepareKeyTiles(adding n: Int) {
        let firstNew = (count + 7) / 8, end = (count + n + 7) / 8
        guard firstNew < end else { return }
        let tileBytes = 8 * headDimension * elementSize
        for layer in 0..<layers {
            for head in 0..<kvHeads {
                (keyTiles(layer, head) + firstNew * tileBytes).initializeMemory(as: UInt8.self, repeating: 0,
                                                                               count: (end - firstNew) * tileBytes)
                if blocks > 0 {
                    (keyScaleTiles(layer, head) + firstNew * 8 * blocks).update(repeating: 0,
                                                                               count: (end - firstNew) * 8 * blocks)
                }
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

    /// Makes this sequence hold exactly the first `length` positions of `source` (a sequence of the same model and
    /// cache type), so that requests sharing a prompt prefix each start from one computed copy of it. Whole key
    /// tiles are copied (the positions past `length` in the last one are finite values the score loop ignores, as
    /// after a truncation). Costs `length` × 2 × layers × kvWidth values of copying: ~46 KB per position for
    /// SmolLM2-135M in float32.
    public func copy(from source: LlamaSequence, count length: Int) throws {
        guard source !== self, source.layers == layers, source.kvHeads == kvHeads,
              source.headDimension == headDimension, source.cacheType == cacheType else {
            throw LlamaModelError.badCopy("the source is the sequence itself or belongs to another model")
        }
        guard length >= 0, length <= source.count, length <= capacity else {
            throw LlamaModelError.badCopy("\(length) positions requested; the source holds \(source.count), this sequence \(capacity)")
        }
        count = 0
        let tiles = (length + 7) / 8, tileBytes = tiles * 8 * headDimension * elementSize
        for layer in 0..<layers {
            for head in 0..<kvHeads {
                keyTiles(layer, head).copyMemory(from: source.keyTiles(layer, head), byteCount: tileBytes)
                valueRows(layer, head).copyMemory(from: source.valueRows(layer, head),
                                                  byteCount: length * headDimension * elementSize)
                if blocks > 0 {
                    keyScaleTiles(layer, head).update(from: source.keyScaleTiles(layer, head), count: tiles * 8 * blocks)
                    valueScaleRows(layer, head).update(from: source.valueScaleRows(layer, head), count: length * blocks)
                }
            }
        }
        count = length
    }

    /// q8_0: the key scales of `layer` and `kvHead`; tile t's start `8 * blocks * t` floats on, block b's 8 positions
    /// `8 * b` floats into the tile.
    @inline(__always)
    func keyScaleTiles(_ layer: Int, _ kvHead: Int) -> UnsafeMutablePointer<Float> {
        keyScales! + (layer * kvHeads + kvHead) * keyStride * blocks
    }

    /// q8_0: the value scales of `layer` and `kvHead`; position p's `blocks` scales start `blocks * p` floats on.
    @inline(__always)
    func valueScaleRows(_ layer: Int, _ kvHead: Int) -> UnsafeMutablePointer<Float> {
        valueScales! + (layer * kvHeads + kvHead) * capacity * blocks
    }

    /// The key tiles of `layer` and `kvHead`: tile t (positions 8t ..< 8t + 8) starts `8 * headDimension * t` values
    /// on, and holds dimension d of its 8 positions at value `8 * d` of the tile.
    @inline(__always)
    func keyTiles(_ layer: Int, _ kvHead: Int) -> UnsafeMutableRawPointer {
        keys + (layer * kvHeads + kvHead) * headDimension * keyStride * elementSize
    }

    /// Stores the keys (`kvWidth` floats, heads one after another) of `layer` at `position`.
    @inline(__always)
    func storeKey(_ layer: Int, _ position: Int, _ key: UnsafePointer<Float>) {
        switch cacheType {
        case .f32: storeKey(F32Element.self, layer, position, key)
        case .f16: storeKey(F16Element.self, layer, position, key)
        case .bf16: storeKey(BF16Element.self, layer, position, key)
        case .q8_0:
            let tileOffset = (position / 8) * 8 * headDimension + position % 8
            let scaleOffset = (position / 8) * 8 * blocks + position % 8
            for head in 0..<kvHeads {
                let base = keyTiles(layer, head) + tileOffset, scales = keyScaleTiles(layer, head) + scaleOffset
                for b in 0..<blocks {
                    let first = b * KVCacheType.blockLength
                    scales[8 * b] = KVCacheType.quantizeQ8(key + head * headDimension + first,
                                                           count: KVCacheType.blockLength) { i, q in
                        base.storeBytes(of: q, toByteOffset: 8 * (first + i), as: Int8.self)
                    }
                }
            }
        }
    }

    @inline(__always)
    private func storeKey<E: KVRoundedElement>(_: E.Type, _ layer: Int, _ position: Int, _ key: UnsafePointer<Float>) {
        let tileOffset = (position / 8) * 8 * headDimension + position % 8
        for head in 0..<kvHeads {
            let base = keyTiles(layer, head) + tileOffset * E.size, k = key + head * headDimension
            for d in 0..<headDimension { E.store(k[d], base + 8 * d * E.size) }
        }
    }

    /// The values of `layer` and `kvHead`: position p's `headDimension` values start `headDimension * p` values on.
    @inline(__always)
    func valueRows(_ layer: Int, _ kvHead: Int) -> UnsafeMutableRawPointer {
        values + (layer * kvHeads + kvHead) * capacity * headDimension * elementSize
    }

    /// Stores the values (`kvWidth` floats, heads one after another) of `layer` at `position`.
    @inline(__always)
    func storeValue(_ layer: Int, _ position: Int, _ value: UnsafePointer<Float>) {
        switch cacheType {
        case .f32:
            for head in 0..<kvHeads {
                (valueRows(layer, head) + position * headDimension * 4)
                    .copyMemory(from: value + head * headDimension, byteCount: headDimension * 4)
            }
        case .f16: storeValue(F16Element.self, layer, position, value)
        case .bf16: storeValue(BF16Element.self, layer, position, value)
        case .q8_0:
            for head in 0..<kvHeads {
                let row = valueRows(layer, head) + position * headDimension
                let scales = valueScaleRows(layer, head) + position * blocks
                for b in 0..<blocks {
                    let first = b * KVCacheType.blockLength
                    scales[b] = KVCacheType.quantizeQ8(value + head * headDimension + first,
                                                       count: KVCacheType.blockLength) { i, q in
                        row.storeBytes(of: q, toByteOffset: first + i, as: Int8.self)
                    }
                }
            }
        }
    }

    @inline(__always)
    private func storeValue<E: KVRoundedElement>(_: E.Type, _ layer: Int, _ position: Int, _ value: UnsafePointer<Float>) {
        for head in 0..<kvHeads {
            let row = valueRows(layer, head) + position * headDimension * E.size, v = value + head * headDimension
            for d in 0..<headDimension { E.store(v[d], row + d * E.size) }
        }
    }
}
