import ModelHostABI

/// The ABI's result codes (`enum mh_result`), as a Swift type.
public enum ResultCode: Int32, Sendable {
    case ok = 0
    case invalidArgument = -1
    case unsupported = -2
    case incompatible = -3
    case outOfMemory = -4
    case cancelled = -5
    case timeout = -6
    case notFound = -7
    case badModel = -8
    case badInput = -9
    case device = -10
    case `internal` = -11
}

/// The error a Swift plugin throws. The SDK turns it into a return code plus the status message at the ABI edge, so
/// no Swift error ever crosses into the host. Keep messages to one actionable line.
public struct PluginError: Error, CustomStringConvertible, Sendable {
    public let code: ResultCode
    public let message: String

    public init(_ code: ResultCode, _ message: String) {
        self.code = code
        self.message = message
    }

    public var description: String { "\(code): \(message)" }

    public static func invalidArgument(_ m: String) -> PluginError { PluginError(.invalidArgument, m) }
    public static func unsupported(_ m: String) -> PluginError { PluginError(.unsupported, m) }
    public static func badModel(_ m: String) -> PluginError { PluginError(.badModel, m) }
    public static func badInput(_ m: String) -> PluginError { PluginError(.badInput, m) }
    public static func notFound(_ m: String) -> PluginError { PluginError(.notFound, m) }
    public static func outOfMemory(_ m: String) -> PluginError { PluginError(.outOfMemory, m) }
    public static let cancelled = PluginError(.cancelled, "cancelled by the host")
}

/// Writes `code` and `message` into a caller-provided status, respecting the caller's `struct_size`.
/// Returns `code.rawValue` for convenience.
@discardableResult
func writeStatus(_ status: UnsafeMutablePointer<mh_status>?, _ code: ResultCode, _ message: String) -> Int32 {
    guard let status else { return code.rawValue }
    let messageOffset = MemoryLayout<mh_status>.offset(of: \mh_status.message)!
    let size = Int(status.pointee.struct_size)
    if size >= MemoryLayout<mh_status>.offset(of: \mh_status.code)! + 4 {
        status.pointee.code = code.rawValue
    }
    guard size > messageOffset else { return code.rawValue }
    let capacity = min(size - messageOffset, Int(MH_STATUS_MESSAGE_CAPACITY))
    let raw = UnsafeMutableRawPointer(status) + messageOffset
    let text = message.isEmpty ? "error \(code.rawValue)" : message
    // Keep whole scalars only, so a truncated message is still valid UTF-8.
    var utf8: [UInt8] = []
    utf8.reserveCapacity(min(text.utf8.count, capacity - 1))
    for scalar in text.unicodeScalars {
        let encoded = Array(String(scalar).utf8)
        if utf8.count + encoded.count > capacity - 1 { break }
        utf8.append(contentsOf: encoded)
    }
    if !utf8.isEmpty { utf8.withUnsafeBytes { raw.copyMemory(from: $0.baseAddress!, byteCount: $0.count) } }
    raw.storeBytes(of: 0, toByteOffset: utf8.count, as: UInt8.self)
    return code.rawValue
}

/// Runs `body` and converts a thrown error into a status at the ABI boundary.
@inline(__always)
func guarded(_ status: UnsafeMutablePointer<mh_status>?, _ body: () throws -> Void) -> Int32 {
    do {
        try body()
        return ResultCode.ok.rawValue
    } catch let error as PluginError {
        return writeStatus(status, error.code, error.message)
    } catch {
        return writeStatus(status, .internal, "unexpected error: \(error)")
    }
}

/// Reads a struct the host filled, of which only its `struct_size` bytes are the host's (a host built before a later
/// minor grew the struct wrote less); the rest reads as zero, and `MH_HAS_FIELD`-style checks on `struct_size` say
/// which fields are real.
func readCallerStruct<T>(_ pointer: UnsafeRawPointer) -> T {
    let count = min(Int(pointer.loadUnaligned(as: UInt32.self)), MemoryLayout<T>.size)
    return withUnsafeTemporaryAllocation(of: T.self, capacity: 1) { buffer in
        let raw = UnsafeMutableRawPointer(buffer.baseAddress!)
        raw.initializeMemory(as: UInt8.self, repeating: 0, count: MemoryLayout<T>.size)
        raw.copyMemory(from: pointer, byteCount: count)
        return buffer.baseAddress!.pointee
    }
}

