import ModelHostABI

/// Log levels of the host's log service.
public enum LogLevel: Int32, Sendable {
    case error = 0, warning = 1, info = 2, debug = 3
}

/// CPU features the host detected (CPUID + XGETBV; a bit is set only when the OS enables the state it needs).
public struct CPUFeatures: OptionSet, Sendable {
    public let rawValue: UInt64
    public init(rawValue: UInt64) { self.rawValue = rawValue }
    public static let sse42 = CPUFeatures(rawValue: UInt64(MH_CPU_SSE42.rawValue))
    public static let avx = CPUFeatures(rawValue: UInt64(MH_CPU_AVX.rawValue))
    public static let avx2 = CPUFeatures(rawValue: UInt64(MH_CPU_AVX2.rawValue))
    public static let fma = CPUFeatures(rawValue: UInt64(MH_CPU_FMA.rawValue))
    public static let f16c = CPUFeatures(rawValue: UInt64(MH_CPU_F16C.rawValue))
    public static let avx512f = CPUFeatures(rawValue: UInt64(MH_CPU_AVX512F.rawValue))
    public static let neon = CPUFeatures(rawValue: UInt64(MH_CPU_NEON.rawValue))
}

/// The host's services, as handed to the plugin at entry. Valid until the process exits; every method may be called
/// from any thread.
public struct Host: @unchecked Sendable {
    let table: UnsafePointer<mh_host_v1>

    init(_ table: UnsafePointer<mh_host_v1>) { self.table = table }

    /// The host's ABI minor version: gate the use of host fields newer than 1.0 on it.
    public var abiMinor: Int { Int(table.pointee.abi_minor) }

    /// Writes one line to the worker's log.
    public func log(_ level: LogLevel, _ message: String) {
        guard let log = table.pointee.log else { return }
        message.withCString { log(table.pointee.host_ctx, level.rawValue, $0) }
    }

    /// Allocates `byteCount` bytes aligned to `alignment` from the worker's accounted memory, or nil when over budget.
    /// Release with `deallocate`. Use it for large, long-lived buffers (KV caches), so the host can account for them.
    public func allocate(byteCount: Int, alignment: Int = 64) -> UnsafeMutableRawPointer? {
        guard byteCount >= 0, let alloc = table.pointee.alloc else { return nil }
        return alloc(table.pointee.host_ctx, UInt64(byteCount), UInt64(alignment))
    }

    public func deallocate(_ pointer: UnsafeMutableRawPointer?) {
        guard let pointer, let free = table.pointee.free else { return }
        free(table.pointee.host_ctx, pointer)
    }

    /// True once the request behind `token` was cancelled; check it between steps of long work and throw
    /// `PluginError.cancelled`.
    public func isCancelled(_ token: CancellationToken) -> Bool {
        guard token.rawValue != 0, let check = table.pointee.is_cancelled else { return false }
        return check(table.pointee.host_ctx, token.rawValue) != 0
    }

    /// Thread budget for this plugin's compute (the host owns it; do not size pools by core count).
    public var threads: Int { Int(table.pointee.hw?.pointee.threads ?? 1).clamped(to: 1...1024) }
    public var cpuFeatures: CPUFeatures { CPUFeatures(rawValue: table.pointee.hw?.pointee.cpu_features ?? 0) }
    public var memoryLimitBytes: UInt64 { table.pointee.hw?.pointee.memory_limit_bytes ?? 0 }
}

/// A host cancellation token (0 is never cancelled).
public struct CancellationToken: Sendable, Hashable {
    public let rawValue: UInt64
    public init(_ rawValue: UInt64) { self.rawValue = rawValue }
    public static let none = CancellationToken(0)
}

extension Comparable {
    func clamped(to range: ClosedRange<Self>) -> Self { min(max(self, range.lowerBound), range.upperBound) }
}
