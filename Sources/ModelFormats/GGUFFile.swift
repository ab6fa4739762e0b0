/// A parsed, validated GGUF (v2/v3) file backed by a read-only memory map.
///
/// Everything except tensor data is parsed and checked in `init`, so that a bad file fails at load time with one
/// message rather than at the first forward pass; tensor data is never copied (`data(for:)` returns views into the
/// map). See the GGUF spec in ggml's `docs/gguf.md`.
public final class GGUFFile: @unchecked Sendable {
    /// Limits that keep a hostile header from making the parser allocate or recurse without bound.
    public enum Limits {
        /// ggml's `GGML_MAX_DIMS`.
        public static let maxDimensions = 4
        /// Arrays of arrays deeper than this are refused (real files use at most one level).
        public static let maxArrayNesting = 8
        /// Elements per metadata array. The largest real arrays (token lists) hold a few hundred thousand entries;
        /// the cap bounds what a forged count can make the parser allocate.
        public static let maxArrayElements = 1 << 24
    }

    /// The GGUF magic, "GGUF" read as a little-endian `uint32`.
    static let magic: UInt32 = 0x4655_4747
    /// The data section alignment when `general.alignment` is absent.
    public static let defaultAlignment = 32

    public let file: MappedFile
    public let version: UInt32
    public let alignment: Int
    public let metadata: [String: GGUFValue]
    /// Metadata keys in file order.
    public let metadataKeys: [String]
    /// Tensors in file order.
    public let tensors: [GGUFTensorInfo]
    /// Absolute offset of the tensor data section (tensor offsets in the file are relative to it).
    public let dataOffset: Int
    private let tensorIndex: [String: Int]

    /// Maps `path` and parses and validates the header, the metadata and the tensor table.
    public convenience init(path: String) throws {
        try self.init(file: MappedFile(path: path))
    }

    /// Parses an already-mapped file.
    public init(file: MappedFile) throws {
        self.file = file
        let bytes = file.bytes
        var cursor = ByteCursor(bytes: bytes)

        let magic = try cursor.read(UInt32.self, "the GGUF magic")
        guard magic == GGUFFile.magic else {
            throw ModelFormatError("GGUF: '\(file.path)' does not start with the GGUF magic; it is not a GGUF file")
        }
        let version = try cursor.read(UInt32.self, "the GGUF version")
        guard version == 2 || version == 3 else {
            if version == 1 {
                throw ModelFormatError(
                    "GGUF: '\(file.path)' is GGUF v1, which is not supported; re-convert it with a current llama.cpp")
            }
            if version.byteSwapped == 2 || version.byteSwapped == 3 {
                throw ModelFormatError(
                    "GGUF: '\(file.path)' is a big-endian GGUF file; only little-endian files are supported")
            }
            throw ModelFormatError("GGUF: '\(file.path)' has unknown version \(version); supported versions are 2 and 3")
        }
        self.version = version

        let tensorCount = try cursor.read(UInt64.self, "the tensor count")
        let metadataCount = try cursor.read(UInt64.self, "the metadata count")
        // The smallest metadata entry is an empty key (8), a type (4) and a one-byte value; the smallest tensor
        // entry an empty name (8), n_dims (4), one dimension (8), a type (4) and an offset (8).
        try GGUFFile.checkCount(metadataCount, minimumSize: 13, cursor: cursor, what: "metadata entries")
        try GGUFFile.checkCount(tensorCount, minimumSize: 32, cursor: cursor, what: "tensors")

        var metadata: [String: GGUFValue] = [:]
        var keys: [String] = []
        // Counts are bounded by the file size, not by anything plausible: reserve modestly.
        metadata.reserveCapacity(min(Int(metadataCount), 1024))
        keys.reserveCapacity(min(Int(metadataCount), 1024))
        for index in 0..<Int(metadataCount) {
            let key = try cursor.readString("metadata key #\(index)")
            guard !key.isEmpty else {
                throw ModelFormatError("GGUF: metadata key #\(index) is empty; the file is corrupt")
            }
            guard metadata[key] == nil else {
                throw ModelFormatError("GGUF: metadata key '\(key)' appears twice; the file is corrupt")
            }
            let rawType = try cursor.read(UInt32.self, "the type of metadata '\(key)'")
            let value = try GGUFFile.readValue(rawType: rawType, cursor: &cursor, key: key, depth: 0)
            metadata[key] = value
            keys.append(key)
        }
        self.metadata = metadata
        self.metadataKeys = keys

        var alignment = GGUFFile.defaultAlignment
        if let value = metadata["general.alignment"] {
            guard let requested = value.intValue, requested > 0, requested & (requested - 1) == 0,
                requested <= 1 << 30
            else {
                throw ModelFormatError(
                    "GGUF: general.alignment is \(value), but it must be a power of two between 1 and 2^30")
            }
            alignment = requested
        }
        self.alignment = alignment

        var tensors: [GGUFTensorInfo] = []
        var relativeOffsets: [Int] = []
        let expectedTensors = min(Int(tensorCount), 1 << 16)
        tensors.reserveCapacity(expectedTensors)
        relativeOffsets.reserveCapacity(expectedTensors)
        var tensorIndex: [String: Int] = [:]
        tensorIndex.reserveCapacity(expectedTensors)
        for index in 0..<Int(tensorCount) {
            let name = try cursor.readString("tensor name #\(index)")
            guard tensorIndex[name] == nil else {
                throw ModelFormatError("GGUF: tensor '\(name)' appears twice; the file is corrupt")
            }
            let (dimensions, type, byteCount, relativeOffset) = try GGUFFile.readTensorInfo(
                name: name, alignment: alignment, cursor: &cursor)
            tensorIndex[name] = index
            relativeOffsets.append(relativeOffset)
            // The absolute offset is filled in below, once the start of the data section is known.
            tensors.append(GGUFTensorInfo(name: name, type: type, dimensions: dimensions, offset: 0, byteCount: byteCount))
        }
        let headerEnd = cursor.position
        guard let dataOffset = GGUFFile.alignUp(headerEnd, to: alignment) else {
            throw ModelFormatError("GGUF: the data section offset overflows; the file is corrupt")
        }
        self.dataOffset = dataOffset
        self.tensorIndex = tensorIndex
        self.tensors = try GGUFFile.placeTensors(
            tensors, relativeOffsets: relativeOffsets, dataOffset: dataOffset, fileSize: bytes.count)
    }

    /// The tensor called `name`, if the file has one.
    public func tensor(named name: String) -> GGUFTensorInfo? {
        tensorIndex[name].map { tensors[$0] }
    }

    /// A view of a tensor's bytes inside the map, valid only while this object (which owns the map) is alive:
    /// callers that keep the pointer must keep the `GGUFFile` too.
    /// `info` must come from this file's `tensors`; passing another file's entry is a programming error.
    public func data(for info: GGUFTensorInfo) -> UnsafeRawBufferPointer {
        let bytes = file.bytes
        precondition(
            info.offset >= dataOffset && info.byteCount >= 0 && info.offset <= bytes.count - info.byteCount,
            "GGUFFile.data(for:): tensor '\(info.name)' does not belong to '\(file.path)'")
        return UnsafeRawBufferPointer(rebasing: bytes[info.offset..<(info.offset + info.byteCount)])
    }

    /// Calls `body` with a tensor's bytes while guaranteeing that the map outlives the call.
    public func withData<R>(for info: GGUFTensorInfo, _ body: (UnsafeRawBufferPointer) throws -> R) rethrows -> R {
        try withExtendedLifetime(self) { try body(data(for: info)) }
    }

    /// `general.architecture` ("llama", "qwen2", ...), the key prefix of the model's hyper-parameters.
    public var architecture: String? {
        metadata["general.architecture"]?.stringValue
    }

    // MARK: - Parsing helpers

    private static func checkCount(_ count: UInt64, minimumSize: Int, cursor: ByteCursor, what: String) throws {
        guard count <= UInt64(cursor.remaining / minimumSize) else {
            throw ModelFormatError(
                "GGUF: the header declares \(count) \(what), more than the \(cursor.remaining) remaining bytes can "
                    + "hold; the file is truncated or corrupt")
        }
    }

    private static func readValue(rawType: UInt32, cursor: inout ByteCursor, key: String, depth: Int) throws
        -> GGUFValue
    {
        guard let type = GGUFValueType(rawValue: rawType) else {
            throw ModelFormatError(
                "GGUF: metadata '\(key)' has unknown value type \(rawType) at byte \(cursor.position - 4); "
                    + "the file is corrupt or from a newer GGUF version")
        }
        // Built only when an error is reported: arrays call this once per element.
        func what() -> String { "the value of metadata '\(key)'" }
        switch type {
        case .uint8: return .uint8(try cursor.read(UInt8.self, what()))
        case .int8: return .int8(try cursor.read(Int8.self, what()))
        case .uint16: return .uint16(try cursor.read(UInt16.self, what()))
        case .int16: return .int16(try cursor.read(Int16.self, what()))
        case .uint32: return .uint32(try cursor.read(UInt32.self, what()))
        case .int32: return .int32(try cursor.read(Int32.self, what()))
        case .uint64: return .uint64(try cursor.read(UInt64.self, what()))
        case .int64: return .int64(try cursor.read(Int64.self, what()))
        case .float32: return .float32(try cursor.readFloat(what()))
        case .float64: return .float64(try cursor.readDouble(what()))
        case .bool:
            let raw = try cursor.read(UInt8.self, what())
            guard raw <= 1 else {
                throw ModelFormatError("GGUF: metadata '\(key)' is a bool with byte value \(raw) (must be 0 or 1)")
            }
            return .bool(raw == 1)
        case .string:
            return .string(try cursor.readString(what()))
        case .array:
            guard depth < Limits.maxArrayNesting else {
                throw ModelFormatError(
                    "GGUF: metadata '\(key)' nests arrays deeper than \(Limits.maxArrayNesting) levels; refusing it")
            }
            let rawElementType = try cursor.read(UInt32.self, "the element type of metadata '\(key)'")
            let count = try cursor.read(UInt64.self, "the element count of metadata '\(key)'")
            guard let elementType = GGUFValueType(rawValue: rawElementType) else {
                throw ModelFormatError(
                    "GGUF: metadata array '\(key)' has unknown element type \(rawElementType); the file is corrupt")
            }
            guard count <= UInt64(Limits.maxArrayElements) else {
                throw ModelFormatError(
                    "GGUF: metadata array '\(key)' declares \(count) elements, more than the supported "
                        + "\(Limits.maxArrayElements); the file is corrupt")
            }
            guard count <= UInt64(cursor.remaining / elementType.minimumEncodedSize) else {
                throw ModelFormatError(
                    "GGUF: metadata array '\(key)' declares \(count) \(elementType.name) elements, more than the "
                        + "\(cursor.remaining) remaining bytes can hold; the file is truncated or corrupt")
            }
            var elements: [GGUFValue] = []
            elements.reserveCapacity(Int(count))
            if elementType == .string {
                // Token and merge lists have tens of thousands of entries: skip the per-element type dispatch.
                for index in 0..<Int(count) {
                    elements.append(.string(try cursor.readString("element \(index) of metadata '\(key)'")))
                }
            } else {
                for _ in 0..<Int(count) {
                    elements.append(
                        try readValue(rawType: rawElementType, cursor: &cursor, key: key, depth: depth + 1))
                }
            }
            return .array(elements)
        }
    }

    private static func readTensorInfo(name: String, alignment: Int, cursor: inout ByteCursor) throws
        -> (dimensions: [Int], type: GGMLType, byteCount: Int, relativeOffset: Int)
    {
        let dimensionCount = try cursor.read(UInt32.self, "the dimension count of tensor '\(name)'")
        guard dimensionCount >= 1, dimensionCount <= UInt32(Limits.maxDimensions) else {
            throw ModelFormatError(
                "GGUF: tensor '\(name)' has \(dimensionCount) dimensions; GGUF tensors have 1 to "
                    + "\(Limits.maxDimensions)")
        }
        var dimensions: [Int] = []
        dimensions.reserveCapacity(Int(dimensionCount))
        var elementCount = 1
        for axis in 0..<Int(dimensionCount) {
            let raw = try cursor.read(UInt64.self, "dimension \(axis) of tensor '\(name)'")
            guard raw >= 1, raw <= UInt64(Int.max) else {
                throw ModelFormatError(
                    "GGUF: tensor '\(name)' has dimension \(axis) = \(Int64(bitPattern: raw)); dimensions must be "
                        + "positive")
            }
            let (product, overflow) = elementCount.multipliedReportingOverflow(by: Int(raw))
            guard !overflow else {
                throw ModelFormatError("GGUF: tensor '\(name)' has an element count that overflows; the file is corrupt")
            }
            elementCount = product
            dimensions.append(Int(raw))
        }
        let rawType = try cursor.read(UInt32.self, "the type of tensor '\(name)'")
        guard let type = GGMLType(rawValue: rawType) else {
            throw ModelFormatError(
                "GGUF: tensor '\(name)' has unknown ggml type \(rawType); the file is corrupt or needs a newer "
                    + "ModelHost")
        }
        guard let rowBytes = type.rowBytes(elements: dimensions[0]) else {
            throw ModelFormatError(
                "GGUF: tensor '\(name)' has rows of \(dimensions[0]) elements, not a multiple of the \(type.name) "
                    + "block size \(type.blockElements); the file is corrupt")
        }
        let (byteCount, overflow) = rowBytes.multipliedReportingOverflow(by: elementCount / dimensions[0])
        guard !overflow else {
            throw ModelFormatError("GGUF: tensor '\(name)' has a byte size that overflows; the file is corrupt")
        }
        let rawOffset = try cursor.read(UInt64.self, "the data offset of tensor '\(name)'")
        guard rawOffset <= UInt64(Int.max) else {
            throw ModelFormatError("GGUF: tensor '\(name)' has data offset \(rawOffset), past any file size")
        }
        let offset = Int(rawOffset)
        guard offset % alignment == 0 else {
            throw ModelFormatError(
                "GGUF: tensor '\(name)' data offset \(offset) is not a multiple of the file's alignment "
                    + "\(alignment); the file is corrupt")
        }
        return (dimensions, type, byteCount, offset)
    }

    /// Converts relative offsets to absolute ones and checks that every tensor lies inside the file and that no
    /// two tensors share bytes.
    private static func placeTensors(
        _ tensors: [GGUFTensorInfo], relativeOffsets: [Int], dataOffset: Int, fileSize: Int
    ) throws -> [GGUFTensorInfo] {
        var placed: [GGUFTensorInfo] = []
        placed.reserveCapacity(tensors.count)
        for (info, relative) in zip(tensors, relativeOffsets) {
            let (start, overflowStart) = dataOffset.addingReportingOverflow(relative)
            let (end, overflowEnd) = start.addingReportingOverflow(info.byteCount)
            guard !overflowStart, !overflowEnd, end <= fileSize else {
                let startText = overflowStart ? "overflowing offset" : String(start)
                let endText = overflowStart || overflowEnd ? "overflow" : String(end)
                throw ModelFormatError(
                    "GGUF: tensor '\(info.name)' data [\(startText)..\(endText)) runs past the end of the file "
                        + "(\(fileSize) bytes); the file is truncated or corrupt")
            }
            placed.append(
                GGUFTensorInfo(
                    name: info.name, type: info.type, dimensions: info.dimensions, offset: start,
                    byteCount: info.byteCount))
        }
        let order = placed.indices.sorted { placed[$0].offset < placed[$1].offset }
        for (previous, next) in zip(order, order.dropFirst()) {
            let a = placed[previous]
            let b = placed[next]
            guard a.offset + a.byteCount <= b.offset else {
                throw ModelFormatError(
                    "GGUF: tensors '\(a.name)' [\(a.offset)..\(a.offset + a.byteCount)) and '\(b.name)' "
                        + "[\(b.offset)..\(b.offset + b.byteCount)) overlap; the file is corrupt")
            }
        }
        return placed
    }

    static func alignUp(_ value: Int, to alignment: Int) -> Int? {
        let remainder = value % alignment
        if remainder == 0 { return value }
        let (result, overflow) = value.addingReportingOverflow(alignment - remainder)
        return overflow ? nil : result
    }
}
