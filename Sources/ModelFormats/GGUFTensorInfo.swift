/// Where one tensor lives in a GGUF file and how it is laid out. Produced only by `GGUFFile`, which has checked
/// every field, so consumers may trust the numbers.
public struct GGUFTensorInfo: Sendable, Equatable {
    public let name: String
    public let type: GGMLType
    /// GGUF order: `dimensions[0]` is the innermost (contiguous) one, i.e. the row length.
    public let dimensions: [Int]
    /// Absolute byte offset of the first block in the file.
    public let offset: Int
    /// Bytes of tensor data, a whole number of blocks.
    public let byteCount: Int

    public var elementCount: Int {
        dimensions.reduce(1, *)
    }

    /// The row length (`dimensions[0]`) and number of rows (product of the other dimensions).
    public var rowCount: Int {
        dimensions.dropFirst().reduce(1, *)
    }
}
