/// The element types a safetensors header may name (the format's full list; anything else is refused).
public enum SafetensorsDType: String, Sendable, CaseIterable {
    case bool = "BOOL", u8 = "U8", i8 = "I8", f8e5m2 = "F8_E5M2", f8e4m3 = "F8_E4M3", i16 = "I16", u16 = "U16"
    case f16 = "F16", bf16 = "BF16", i32 = "I32", u32 = "U32", f32 = "F32", f64 = "F64", i64 = "I64", u64 = "U64"

    public var byteSize: Int {
        switch self {
        case .bool, .u8, .i8, .f8e5m2, .f8e4m3: return 1
        case .i16, .u16, .f16, .bf16: return 2
        case .i32, .u32, .f32: return 4
        case .f64, .i64, .u64: return 8
        }
    }
}

/// One tensor of a safetensors file: validated so that `byteRange` lies inside the file's data section and holds
/// exactly `shape`'s product of elements.
public struct SafetensorsTensorInfo: Sendable, Equatable {
    public let name: String
    public let dtype: SafetensorsDType
    /// Row-major, outermost first (as the file states it).
    public let shape: [Int]
    /// Absolute byte range in the file.
    public let byteRange: Range<Int>
}

/// A parsed, validated `.safetensors` file backed by a read-only memory map.
///
/// Layout: an 8-byte little-endian header length N, N bytes of JSON (an object: tensor name → {dtype, shape,
/// data_offsets: [begin, end]} relative to the data section, plus an optional `__metadata__` of strings), then the
/// data section. Everything is checked in `init` (sizes, types, bounds, overlaps, overflow), so a bad file fails at
/// load with one line and `data(for:)` can never reach outside the mapping.
public final class SafetensorsFile: @unchecked Sendable {
    /// The safetensors library's own cap on the header; larger values are refused before anything is parsed.
    public static let maxHeaderBytes = 100_000_000

    public let file: MappedFile
    /// Tensors in header order.
    public let tensors: [SafetensorsTensorInfo]
    /// `__metadata__` (e.g. `{"format": "mlx"}`), empty when absent.
    public let metadata: [String: String]
    /// Absolute offset of the data section.
    public let dataOffset: Int
    private let index: [String: Int]

    public convenience init(path: String) throws {
        try self.init(file: MappedFile(path: path))
    }

    public init(file: MappedFile) throws {
        self.file = file
        let bytes = file.bytes
        let name = "safetensors '\(file.path)'"
        guard bytes.count >= 8 else {
            throw ModelFormatError("\(name): file is \(bytes.count) bytes, shorter than the 8-byte header length; it is truncated")
        }
        let headerLength = UInt64(littleEndian: bytes.loadUnaligned(as: UInt64.self))
        guard headerLength >= 2, headerLength <= UInt64(Self.maxHeaderBytes) else {
            throw ModelFormatError("\(name): header length \(headerLength) is outside 2...\(Self.maxHeaderBytes); the file is corrupt or not safetensors")
        }
        guard headerLength <= UInt64(bytes.count - 8) else {
            throw ModelFormatError("\(name): header length \(headerLength) runs past the end of the \(bytes.count)-byte file; it is truncated")
        }
        dataOffset = 8 + Int(headerLength)
        let headerBytes = UnsafeRawBufferPointer(rebasing: bytes[8..<dataOffset])
        guard headerBytes.first == UInt8(ascii: "{") else {
            throw ModelFormatError("\(name): the header is not a JSON object; the file is corrupt or not safetensors")
        }
        let header = try JSONParser.parse(headerBytes, what: "\(name) header")
        guard case .object(let members) = header else {
            throw ModelFormatError("\(name): the header is not a JSON object")
        }
        let dataSize = bytes.count - dataOffset
        var tensors: [SafetensorsTensorInfo] = []
        var metadata: [String: String] = [:]
        tensors.reserveCapacity(members.count)
        for (key, value) in members {
            if key == "__metadata__" {
                guard case .object(let items) = value else {
                    throw ModelFormatError("\(name): __metadata__ is not an object of strings")
                }
                for (k, v) in items {
                    guard let s = v.stringValue else {
                        throw ModelFormatError("\(name): __metadata__ value '\(k)' is not a string")
                    }
                    metadata[k] = s
                }
                continue
            }
            tensors.append(try Self.tensor(key, value, dataOffset: dataOffset, dataSize: dataSize, file: name))
        }
        // Overlap check on the byte ranges sorted by start (empty tensors occupy nothing).
        let sorted = tensors.filter { !$0.byteRange.isEmpty }.sorted { $0.byteRange.lowerBound < $1.byteRange.lowerBound }
        for (a, b) in zip(sorted, sorted.dropFirst()) where a.byteRange.upperBound > b.byteRange.lowerBound {
            throw ModelFormatError("\(name): tensors '\(a.name)' and '\(b.name)' overlap in the data section; the file is corrupt")
        }
        self.tensors = tensors
        self.metadata = metadata
        var index: [String: Int] = [:]
        for (i, t) in tensors.enumerated() { index[t.name] = i }
        self.index = index
    }

    private static func tensor(_ key: String, _ value: JSONValue, dataOffset: Int, dataSize: Int,
                               file: String) throws -> SafetensorsTensorInfo {
        let what = "\(file): tensor '\(key.prefix(200))'"
        guard case .object = value else { throw ModelFormatError("\(what) is not described by an object") }
        guard let typeName = value["dtype"]?.stringValue else { throw ModelFormatError("\(what) has no dtype string") }
        guard let dtype = SafetensorsDType(rawValue: typeName) else {
            throw ModelFormatError("\(what) has unknown dtype '\(typeName.prefix(40))'")
        }
        guard case .array(let dims)? = value["shape"] else { throw ModelFormatError("\(what) has no shape array") }
        guard dims.count <= 64 else { throw ModelFormatError("\(what) has \(dims.count) dimensions") }
        var shape: [Int] = []
        var count = 1
        for d in dims {
            guard let n = d.intValue, n >= 0, case .int = d else {
                throw ModelFormatError("\(what) has a shape entry that is not a non-negative integer")
            }
            let (p, overflow) = count.multipliedReportingOverflow(by: n)
            guard !overflow else { throw ModelFormatError("\(what): the element count of shape \(dims.count)-D overflows") }
            count = p
            shape.append(n)
        }
        let (bytes, overflow) = count.multipliedReportingOverflow(by: dtype.byteSize)
        guard !overflow else { throw ModelFormatError("\(what): its byte size overflows") }
        guard case .array(let offsets)? = value["data_offsets"], offsets.count == 2,
              case .int(let begin) = offsets[0], case .int(let end) = offsets[1] else {
            throw ModelFormatError("\(what) has no data_offsets pair of integers")
        }
        guard begin >= 0, begin <= end, end <= Int64(dataSize) else {
            throw ModelFormatError("\(what): data_offsets [\(begin), \(end)] fall outside the \(dataSize)-byte data section; the file is truncated or corrupt")
        }
        guard end - begin == Int64(bytes) else {
            throw ModelFormatError("\(what): data_offsets span \(end - begin) bytes but \(dtype.rawValue) \(shape) needs \(bytes)")
        }
        return SafetensorsTensorInfo(name: key, dtype: dtype, shape: shape,
                                     byteRange: (dataOffset + Int(begin))..<(dataOffset + Int(end)))
    }

    public func tensor(named name: String) -> SafetensorsTensorInfo? { index[name].map { tensors[$0] } }

    /// The tensor's bytes, a view into the mapping (valid while this object lives).
    public func data(for info: SafetensorsTensorInfo) -> UnsafeRawBufferPointer {
        UnsafeRawBufferPointer(rebasing: file.bytes[info.byteRange])
    }
}
