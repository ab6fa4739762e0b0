#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// Parameter types of the entry function, so a Swift plugin's export reads:
///
/// ```swift
/// @_cdecl("mh_plugin_entry_v1")
/// public func entry(_ host: HostTable, _ out: DescriptorOut, _ status: StatusOut) -> Int32 {
///     PluginExport.textDecoder(MyDecoder.self, host, out, status)
/// }
/// ```
public typealias HostTable = UnsafePointer<mh_host_v1>?
public typealias DescriptorOut = UnsafeMutablePointer<UnsafePointer<mh_plugin_v1>?>?
public typealias StatusOut = UnsafeMutablePointer<mh_status>?

/// The process-wide state of the one plugin this library exports. A plugin library exports exactly one plugin, so
/// globals are the natural home for what the C entry points need (they cannot capture context).
final class ExportState: @unchecked Sendable {
    static let shared = ExportState()
    private var mutex = pthread_mutex_t()
    private(set) var descriptor: UnsafeMutablePointer<mh_plugin_v1>?
    private(set) var host: Host?
    var probe: ((ProbeQuery, Host) -> Int32)?
    var makeContext: ((Host) throws -> AnyObject)?
    var interfaces: [String: UnsafeRawPointer] = [:]

    private init() { pthread_mutex_init(&mutex, nil) }

    func locked<T>(_ body: () throws -> T) rethrows -> T {
        pthread_mutex_lock(&mutex)
        defer { pthread_mutex_unlock(&mutex) }
        return try body()
    }

    /// Builds the descriptor once; later calls return the same pointer (the entry is idempotent).
    func descriptor(kind: PluginKind, info: PluginInfo, host: Host,
                    configure: (ExportState) -> Void) -> UnsafePointer<mh_plugin_v1> {
        locked {
            if self.host == nil { self.host = host }
            if let descriptor { return UnsafePointer(descriptor) }
            configure(self)
            let d = UnsafeMutablePointer<mh_plugin_v1>.allocate(capacity: 1)
            d.initialize(to: mh_plugin_v1())
            d.pointee.struct_size = UInt32(MemoryLayout<mh_plugin_v1>.size)
            d.pointee.abi_major = UInt16(MH_ABI_MAJOR)
            d.pointee.abi_minor_built = UInt16(MH_ABI_MINOR)
            d.pointee.abi_minor_required = info.minimumHostMinor
            d.pointee.kind = kind.rawValue
            // Leaked on purpose: the descriptor lives until the process exits (the host never dlcloses).
            d.pointee.id = UnsafePointer(strdup(info.id))
            d.pointee.version = UnsafePointer(strdup(info.version))
            d.pointee.runtime_tag = UnsafePointer(strdup(swiftRuntimeTag))
            d.pointee.build_info = UnsafePointer(strdup(info.buildInfo))
            d.pointee.capabilities = info.capabilities.rawValue
            d.pointee.probe = { host, query, score, status in
                guard let host, let query, let score else {
                    return writeStatus(status, .invalidArgument, "probe: host, query and score must not be NULL")
                }
                guard query.pointee.struct_size >= UInt32(MH_PROBE_QUERY_SIZE_1_0) else {
                    return writeStatus(status, .invalidArgument, "probe: mh_probe_query.struct_size is too small")
                }
                score.pointee = ExportState.shared.probe?(ProbeQuery(query), Host(host)) ?? 0
                return 0
            }
            d.pointee.`init` = { host, out, status in
                guard let host, let out else {
                    return writeStatus(status, .invalidArgument, "init: host and out must not be NULL")
                }
                return guarded(status) {
                    guard let make = ExportState.shared.makeContext else {
                        throw PluginError(.internal, "init called before the entry function")
                    }
                    let context = try make(Host(host))
                    out.pointee = Unmanaged.passRetained(context).toOpaque()
                }
            }
            d.pointee.shutdown = { context in
                guard let context else { return }
                Unmanaged<AnyObject>.fromOpaque(context).release()
            }
            d.pointee.get_interface = { _, iid in
                guard let iid else { return nil }
                return ExportState.shared.interfaces[String(cString: iid)]
            }
            descriptor = d
            return UnsafePointer(d)
        }
    }
}

/// The runtime tag the host compares across plugins of one worker: Swift is not ABI-stable on Linux, so plugins built
/// with different Swift compilers must not share a process.
#if compiler(>=6.3)
let swiftRuntimeTag = "swift-6.3"
#elseif compiler(>=6.2)
let swiftRuntimeTag = "swift-6.2"
#elseif compiler(>=6.1)
let swiftRuntimeTag = "swift-6.1"
#else
let swiftRuntimeTag = "swift-6.0"
#endif

/// Export helpers: call one of them from your `@_cdecl("mh_plugin_entry_v1")` function.
public enum PluginExport {
    /// Validates the host table and negotiates the version. Shared by every kind.
    static func negotiate(_ host: HostTable, _ out: DescriptorOut, _ status: StatusOut,
                          info: PluginInfo) -> Host? {
        guard let host, out != nil else {
            writeStatus(status, .invalidArgument, "mh_plugin_entry_v1: host and out must not be NULL")
            return nil
        }
        guard host.pointee.struct_size >= UInt32(MH_HOST_V1_SIZE_1_0) else {
            writeStatus(status, .incompatible,
                        "host table is \(host.pointee.struct_size) bytes, ABI 1.0 needs \(MH_HOST_V1_SIZE_1_0)")
            return nil
        }
        guard host.pointee.abi_major == UInt16(MH_ABI_MAJOR) else {
            writeStatus(status, .incompatible,
                        "plugin \(info.id) implements ABI \(MH_ABI_MAJOR), host offers ABI \(host.pointee.abi_major)")
            return nil
        }
        guard host.pointee.abi_minor >= info.minimumHostMinor else {
            writeStatus(status, .incompatible,
                        "plugin \(info.id) needs host ABI ≥ 1.\(info.minimumHostMinor), host is 1.\(host.pointee.abi_minor); upgrade ModelHost")
            return nil
        }
        return Host(host)
    }
}
