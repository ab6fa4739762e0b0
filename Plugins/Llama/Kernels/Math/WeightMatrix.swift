/// A validated weight matrix of `rows` × `columns`, read in place from the model file. Validation happens once here
/// so that the kernels can read `rows * rowBytes` bytes without further checks.
public struct WeightMatrix: @unchecked Sendable {
    public let name: String
    public let type: WeightType
    public let rows: Int
    public let columns: Int
    public let rowBytes: Int
    public let data: UnsafeRawPointer
    public let layout: WeightLayout
    /// Owns `data` when the matrix was repacked (`interleaved8`); nil when `data` points into the model file.
    let storage: PackedStorage?
    /// The view's owner when the source built the bytes itself (see `WeightView.owner`).
    let owner: AnyObject?

    /// Checks that `view` is a `rows` × `columns` matrix (GGUF dimensions `[columns, rows]`) whose bytes are all
    /// present, and that rows split into whole blocks of 8-float vectors as the kernels need.
    public init(_ view: WeightView, rows: Int, columns: Int) throws {
        guard view.dimensions == [columns, rows] || (rows == 1 && view.dimensions == [columns]) else {
            throw LlamaModelError.badShape(tensor: view.name, expected: [columns, rows], found: view.dimensions)
        }
        guard columns % 8 == 0, let rowBytes = view.type.rowBytes(elements: columns) else {
            throw LlamaModelError.badShape(tensor: view.name, expected: [columns, rows], found: view.dimensions)
        }
        let (needed, overflow) = rowBytes.multipliedReportingOverflow(by: rows)
        guard !overflow, needed <= view.byteCount else {
            throw LlamaModelError.truncatedTensor(tensor: view.name, needed: overflow ? Int.max : needed,
                                                  available: view.byteCount)
        }
        self.name = view.name
        self.type = view.type
        self.rows = rows
        self.columns = columns
        self.rowBytes = rowBytes
        self.data = view.data
        self.layout = .rows
        self.storage = nil
        self.owner = view.owner
    }

    /// `other`'s values in another block type (`Interleaved8.widenQ4_0`), in `storage`, row layout.
    init(widened other: WeightMatrix, type: WeightType, rowBytes: Int, storage: PackedStorage) {
        name = other.name
        self.type = type
        rows = other.rows
        columns = other.columns
        self.rowBytes = rowBytes
        data = UnsafeRawPointer(storage.bytes)
        layout = .rows
        self.storage = storage
        owner = nil
    }

    /// `other` repacked into `storage`; `rowBytes` is the new layout's bytes per row where it differs (Q4_K's
    /// interleaved super-blocks carry unpacked scales).
    init(_ other: WeightMatrix, layout: WeightLayout, storage: PackedStorage, rowBytes: Int? = nil) {
        name = other.name
        type = other.type
        rows = other.rows
        columns = other.columns
        self.rowBytes = rowBytes ?? other.rowBytes
        data = UnsafeRawPointer(storage.bytes)
        self.layout = layout
        self.storage = storage
        owner = nil // the bytes were copied into `storage`
    }

    /// Expands row `row` to Float32 (exactly, see `Dequantize`).
    @inlinable
    public func dequantizeRow(_ row: Int, into destination: UnsafeMutablePointer<Float>) {
        switch layout {
        case .rows: Dequantize.run(type, data + row * rowBytes, count: columns, into: destination)
        case .interleaved8: Interleaved8.dequantizeRow(self, row, into: destination)
        }
    }
}

/// A 1-D weight (norm scales, biases) copied to Float32: these are tiny, and a plain array keeps the hot loops simple.
public func loadVector(_ view: WeightView, count: Int) throws -> [Float] {
    guard view.dimensions == [count] else {
        throw LlamaModelError.badShape(tensor: view.name, expected: [count], found: view.dimensions)
    }
    guard let bytes = view.type.rowBytes(elements: count) else {
        throw LlamaModelError.badShape(tensor: view.name, expected: [count], found: view.dimensions)
    }
    guard bytes <= view.byteCount else {
        throw LlamaModelError.truncatedTensor(tensor: view.name, needed: bytes, available: view.byteCount)
    }
    return [Float](unsafeUninitializedCapacity: count) { buffer, initialized in
        Dequantize.run(view.type, view.data, count: count, into: buffer.baseAddress!)
        initialized = count
    }
}
