#if canImport(Glibc)
import Glibc
private let systemWrite = Glibc.write
#elseif canImport(Musl)
import Musl
private let systemWrite = Musl.write
#elseif canImport(Darwin)
import Darwin
private let systemWrite = Darwin.write
#endif

/// Builds small GGUF v3 files in memory: metadata of every type plus tensors given as raw blocks or as floats.
///
/// Meant for tests and tools that need a model-shaped file (tokenizer-only files, tiny random models), not for
/// converting real checkpoints: everything is held in memory until `serialized()`.
public struct GGUFWriter {
    private struct PendingTensor {
        let name: String
        let type: GGMLType
        let dimensions: [Int]
        let bytes: [UInt8]
    }

    public let alignment: Int
    /// Metadata in insertion order. `general.alignment` is added on output when `alignment` is not the default.
    public private(set) var metadata: [(key: String, value: GGUFValue)] = []
    private var tensors: [PendingTensor] = []

    public init(alignment: Int = GGUFFile.defaultAlignment) throws {
        guard alignment > 0, alignment & (alignment - 1) == 0 else {
            throw ModelFormatError("GGUFWriter: alignment \(alignment) is not a power of two")
        }
        self.alignment = alignment
    }

    /// Sets `key` to `value`, replacing an earlier value in place. Arrays must be homogeneous (GGUF stores one
    /// element type per array); an empty array is written with element type `uint8`.
    public mutating func set(_ key: String, _ value: GGUFValue) throws {
        guard !key.isEmpty else { throw ModelFormatError("GGUFWriter: metadata keys must not be empty") }
        try GGUFWriter.checkHomogeneous(value, key: key)
        if let index = metadata.firstIndex(where: { $0.key == key }) {
            metadata[index].value = value
        } else {
            metadata.append((key, value))
        }
    }

    /// Adds a tensor from its on-disk bytes, which must be exactly the size its type and dimensions imply.
    public mutating func addTensor(name: String, type: GGMLType, dimensions: [Int], bytes: [UInt8]) throws {
        guard !tensors.contains(where: { $0.name == name }) else {
            throw ModelFormatError("GGUFWriter: tensor '\(name)' was already added")
        }
        guard (1...GGUFFile.Limits.maxDimensions).contains(dimensions.count), dimensions.allSatisfy({ $0 > 0 }) else {
            throw ModelFormatError(
                "GGUFWriter: tensor '\(name)' dimensions \(dimensions) must be 1 to 4 positive sizes")
        }
        guard let rowBytes = type.rowBytes(elements: dimensions[0]) else {
            throw ModelFormatError(
                "GGUFWriter: tensor '\(name)' row length \(dimensions[0]) is not a multiple of the \(type.name) "
                    + "block size \(type.blockElements)")
        }
        let expected = dimensions.dropFirst().reduce(rowBytes, *)
        guard bytes.count == expected else {
            throw ModelFormatError(
                "GGUFWriter: tensor '\(name)' has \(bytes.count) bytes but \(type.name) \(dimensions) needs \(expected)")
        }
        tensors.append(PendingTensor(name: name, type: type, dimensions: dimensions, bytes: bytes))
    }

    /// Adds a tensor from float values (row-major, `dimensions[0]` innermost), encoded as F32, F16 or Q8_0.
    public mutating func addTensor(name: String, dimensions: [Int], values: [Float], as type: GGMLType = .f32)
        throws
    {
        let count = dimensions.reduce(1, *)
        guard values.count == count else {
            throw ModelFormatError(
                "GGUFWriter: tensor '\(name)' has \(values.count) values but dimensions \(dimensions) hold \(count)")
        }
        try addTensor(name: name, type: type, dimensions: dimensions, bytes: GGMLEncoding.encode(values, as: type))
    }

    /// The complete file.
    public func serialized() -> [UInt8] {
        var out: [UInt8] = []
        var entries = metadata
        if alignment != GGUFFile.defaultAlignment, !entries.contains(where: { $0.key == "general.alignment" }) {
            entries.append(("general.alignment", .uint32(UInt32(alignment))))
        }
        append(GGUFFile.magic, to: &out)
        append(UInt32(3), to: &out)
        append(UInt64(tensors.count), to: &out)
        append(UInt64(entries.count), to: &out)
        for (key, value) in entries {
            appendString(key, to: &out)
            append(value.type.rawValue, to: &out)
            appendValue(value, to: &out)
        }
        var offset = 0
        var offsets: [Int] = []
        for tensor in tensors {
            offsets.append(offset)
            offset = GGUFFile.alignUp(offset + tensor.bytes.count, to: alignment)!
        }
        for (tensor, tensorOffset) in zip(tensors, offsets) {
            appendString(tensor.name, to: &out)
            append(UInt32(tensor.dimensions.count), to: &out)
            for dimension in tensor.dimensions { append(UInt64(dimension), to: &out) }
            append(tensor.type.rawValue, to: &out)
            append(UInt64(tensorOffset), to: &out)
        }
        padToAlignment(&out)
        for tensor in tensors {
            out.append(contentsOf: tensor.bytes)
            padToAlignment(&out)
        }
        return out
    }

    /// Writes `serialized()` to `path` (created or truncated, mode 0644).
    public func write(to path: String) throws {
        let bytes = serialized()
        let fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0o644)
        guard fd >= 0 else {
            throw ModelFormatError("GGUFWriter: cannot create '\(path)': \(String(cString: strerror(errno)))")
        }
        defer { close(fd) }
        try bytes.withUnsafeBytes { buffer in
            var written = 0
            while written < buffer.count {
                let result = systemWrite(fd, buffer.baseAddress! + written, buffer.count - written)
                if result < 0 {
                    if errno == EINTR { continue }
                    throw ModelFormatError("GGUFWriter: cannot write '\(path)': \(String(cString: strerror(errno)))")
                }
                written += result
            }
        }
    }

    // MARK: - Encoding

    private static func checkHomogeneous(_ value: GGUFValue, key: String) throws {
        guard case .array(let elements) = value else { return }
        if let first = elements.first {
            guard elements.allSatisfy({ $0.type == first.type }) else {
                throw ModelFormatError("GGUFWriter: metadata array '\(key)' mixes element types; GGUF arrays hold one")
            }
            for element in elements { try checkHomogeneous(element, key: key) }
        }
    }

    private func padToAlignment(_ out: inout [UInt8]) {
        let padded = GGUFFile.alignUp(out.count, to: alignment)!
        out.append(contentsOf: repeatElement(0, count: padded - out.count))
    }

    private func append<T: FixedWidthInteger>(_ value: T, to out: inout [UInt8]) {
        GGMLEncoding.appendLittleEndian(value, to: &out)
    }

    private func appendString(_ string: String, to out: inout [UInt8]) {
        append(UInt64(string.utf8.count), to: &out)
        out.append(contentsOf: string.utf8)
    }

    private func appendValue(_ value: GGUFValue, to out: inout [UInt8]) {
        switch value {
        case .uint8(let v): append(v, to: &out)
        case .int8(let v): append(v, to: &out)
        case .uint16(let v): append(v, to: &out)
        case .int16(let v): append(v, to: &out)
        case .uint32(let v): append(v, to: &out)
        case .int32(let v): append(v, to: &out)
        case .uint64(let v): append(v, to: &out)
        case .int64(let v): append(v, to: &out)
        case .float32(let v): append(v.bitPattern, to: &out)
        case .float64(let v): append(v.bitPattern, to: &out)
        case .bool(let v): out.append(v ? 1 : 0)
        case .string(let v): appendString(v, to: &out)
        case .array(let elements):
            append((elements.first?.type ?? .uint8).rawValue, to: &out)
            append(UInt64(elements.count), to: &out)
            for element in elements { appendValue(element, to: &out) }
        }
    }
}
