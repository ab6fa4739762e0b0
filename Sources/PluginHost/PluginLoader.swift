import Foundation
import ModelHostABI
#if canImport(Glibc)
import Glibc
#endif

/// A plugin whose library is loaded and whose descriptor passed every check. The library stays mapped until the
/// process exits: the host never calls dlclose (plugin threads or TLS destructors could still run code from it).
public final class LoadedPlugin: @unchecked Sendable {
    public let manifest: PluginManifest
    public let libraryPath: String
    public let descriptor: UnsafePointer<mh_plugin_v1>
    public let host: HostServices

    init(manifest: PluginManifest, libraryPath: String, descriptor: UnsafePointer<mh_plugin_v1>, host: HostServices) {
        self.manifest = manifest
        self.libraryPath = libraryPath
        self.descriptor = descriptor
        self.host = host
    }

    public var id: String { String(cString: descriptor.pointee.id) }
    public var version: String { String(cString: descriptor.pointee.version) }
    public var runtimeTag: String { descriptor.pointee.runtime_tag.map { String(cString: $0) } ?? "" }
    public var buildInfo: String { descriptor.pointee.build_info.map { String(cString: $0) } ?? "" }
    public var capabilities: UInt64 { descriptor.pointee.capabilities }
    public var abiMinorRequired: Int { Int(descriptor.pointee.abi_minor_required) }

    /// The plugin's score for running `query` here (0 = cannot).
    public func probe(family: String, architecture: String = "", quantization: String = "",
                      format: UInt32 = UInt32(MH_FORMAT_GGUF.rawValue)) throws(PluginCallError) -> Int32 {
        var score: Int32 = 0
        var status = mh_status()
        mh_status_init(&status)
        let rc = family.withCString { f in
            architecture.withCString { a in
                quantization.withCString { q in
                    var query = mh_probe_query(struct_size: UInt32(MemoryLayout<mh_probe_query>.size),
                                               kind: UInt32(descriptor.pointee.kind), family: f, architecture: a,
                                               quantization: q, format: format, reserved: 0)
                    return descriptor.pointee.probe(host.table, &query, &score, &status)
                }
            }
        }
        guard rc == 0 else { throw PluginCallError(function: "probe", code: rc, message: statusText(&status)) }
        return score
    }

    /// Creates the plugin-wide context. Call once per process.
    public func initialize() throws(PluginCallError) -> PluginContext {
        var context: UnsafeMutableRawPointer?
        var status = mh_status()
        mh_status_init(&status)
        let rc = descriptor.pointee.`init`(host.table, &context, &status)
        guard rc == 0 else { throw PluginCallError(function: "init", code: rc, message: statusText(&status)) }
        return PluginContext(plugin: self, raw: context)
    }
}

/// The plugin-wide context returned by `init`; `shutdown` joins the plugin's threads.
public final class PluginContext: @unchecked Sendable {
    public let plugin: LoadedPlugin
    public let raw: UnsafeMutableRawPointer?
    private var isShutDown = false

    init(plugin: LoadedPlugin, raw: UnsafeMutableRawPointer?) {
        self.plugin = plugin
        self.raw = raw
    }

    /// A kind interface table by id, or nil if the plugin does not implement it.
    public func interface(_ iid: String) -> UnsafeRawPointer? {
        iid.withCString { plugin.descriptor.pointee.get_interface(raw, $0) }
    }

    public func shutdown() {
        guard !isShutDown else { return }
        isShutDown = true
        plugin.descriptor.pointee.shutdown(raw)
    }
}

/// A plugin function returned an error status.
public struct PluginCallError: Error, CustomStringConvertible, Sendable {
    public let function: String
    public let code: Int32
    public let message: String
    public var description: String {
        "\(function) failed (\(PluginCallError.name(code))): \(message.isEmpty ? "the plugin gave no message" : message)"
    }

    public static func name(_ code: Int32) -> String {
        switch code {
        case MH_ERR_INVALID_ARG.rawValue: return "invalid argument"
        case MH_ERR_UNSUPPORTED.rawValue: return "unsupported"
        case MH_ERR_INCOMPATIBLE.rawValue: return "incompatible"
        case MH_ERR_OUT_OF_MEMORY.rawValue: return "out of memory"
        case MH_ERR_CANCELLED.rawValue: return "cancelled"
        case MH_ERR_TIMEOUT.rawValue: return "timeout"
        case MH_ERR_NOT_FOUND.rawValue: return "not found"
        case MH_ERR_BAD_MODEL.rawValue: return "bad model"
        case MH_ERR_BAD_INPUT.rawValue: return "bad input"
        case MH_ERR_DEVICE.rawValue: return "device error"
        case MH_ERR_INTERNAL.rawValue: return "internal error"
        default: return "code \(code)"
        }
    }
}

public enum PluginLoader {
    /// Loads a discovered plugin and checks its descriptor against the manifest and the host, stage by stage:
    /// dlopen → entry symbol → ABI major → struct size → ABI minor → manifest agreement. The manifest, CPU and ELF
    /// stages already ran in discovery, before any code of the plugin could execute.
    public static func load(_ plugin: DiscoveredPlugin, host: HostServices) throws(PluginRejection) -> LoadedPlugin {
        if let rejection = plugin.rejection { throw rejection }
        guard let manifest = plugin.manifest, let path = plugin.libraryPath else {
            throw PluginRejection(.manifest, path: plugin.manifestPath, "no manifest")
        }
        func fail(_ stage: PluginRejection.Stage, _ message: String) -> PluginRejection {
            PluginRejection(stage, path: path, message)
        }
        _ = dlerror()
        guard let handle = dlopen(path, RTLD_NOW | RTLD_LOCAL) else {
            let reason = dlerror().map { String(cString: $0) } ?? "unknown error"
            var hint = ""
            if reason.contains("undefined symbol") || reason.contains("version `GLIBC") {
                hint = "; the plugin was built against a library or glibc this machine lacks: rebuild it here"
            } else if reason.contains("cannot open shared object") {
                hint = "; install the library it needs or rebuild it without that dependency"
            }
            throw fail(.dlopen, "dlopen failed: \(reason)\(hint)")
        }
        guard let symbol = dlsym(handle, MH_PLUGIN_ENTRY_V1_SYMBOL) else {
            if let other = (2...9).first(where: { dlsym(handle, "mh_plugin_entry_v\($0)") != nil }) {
                throw fail(.abiMajor, "plugin exports mh_plugin_entry_v\(other) only: it targets ABI \(other), this host implements ABI 1; upgrade ModelHost or install an ABI 1 build of \(manifest.id)")
            }
            throw fail(.entrySymbol, "the library does not export \(MH_PLUGIN_ENTRY_V1_SYMBOL); export it with visibility(\"default\") (C: MH_EXPORT; Swift: @_cdecl)")
        }
        let entry = unsafeBitCast(symbol, to: mh_plugin_entry_v1_fn.self)
        var descriptorPointer: UnsafePointer<mh_plugin_v1>?
        var status = mh_status()
        mh_status_init(&status)
        let rc = entry(host.table, &descriptorPointer, &status)
        guard rc == 0 else {
            let message = statusText(&status)
            throw fail(rc == MH_ERR_INCOMPATIBLE.rawValue ? .abiMinor : .entryFailed,
                       "mh_plugin_entry_v1 returned \(PluginCallError.name(rc)): \(message.isEmpty ? "(no message: the plugin violates the ABI)" : message)")
        }
        guard let d = descriptorPointer else { throw fail(.entryFailed, "mh_plugin_entry_v1 returned OK but no descriptor") }
        let size = Int(d.pointee.struct_size)
        guard size >= Int(MH_PLUGIN_V1_SIZE_1_0) else {
            throw fail(.structSize, "descriptor struct_size is \(size) bytes, ABI 1.0 needs at least \(MH_PLUGIN_V1_SIZE_1_0); rebuild the plugin against SDK/include/modelhost/modelhost_plugin.h")
        }
        guard d.pointee.abi_major == UInt16(MH_ABI_MAJOR) else {
            throw fail(.abiMajor, "descriptor says ABI \(d.pointee.abi_major), this host implements ABI \(MH_ABI_MAJOR)")
        }
        guard d.pointee.abi_minor_required <= host.table.pointee.abi_minor else {
            throw fail(.abiMinor, "plugin \(manifest.id) needs host ABI ≥ 1.\(d.pointee.abi_minor_required), this host is 1.\(host.table.pointee.abi_minor); upgrade ModelHost or install an older build of the plugin")
        }
        guard d.pointee.probe != nil, d.pointee.`init` != nil, d.pointee.shutdown != nil,
              d.pointee.get_interface != nil, d.pointee.id != nil, d.pointee.version != nil else {
            throw fail(.structSize, "descriptor leaves a required field NULL (id, version, probe, init, shutdown, get_interface)")
        }
        let id = String(cString: d.pointee.id)
        let version = String(cString: d.pointee.version)
        let runtime = d.pointee.runtime_tag.map { String(cString: $0) } ?? ""
        var disagreements: [String] = []
        if id != manifest.id { disagreements.append("id \"\(id)\" vs manifest \"\(manifest.id)\"") }
        if version != manifest.version { disagreements.append("version \(version) vs manifest \(manifest.version)") }
        if d.pointee.kind != manifest.kind.abiValue {
            disagreements.append("kind \(d.pointee.kind) vs manifest \(manifest.kind.rawValue)")
        }
        if runtime != manifest.runtime { disagreements.append("runtime \"\(runtime)\" vs manifest \"\(manifest.runtime)\"") }
        if Int(d.pointee.abi_minor_required) > manifest.abi.minor {
            disagreements.append("the plugin requires host ABI 1.\(d.pointee.abi_minor_required), its manifest's abi.minor says 1.\(manifest.abi.minor)")
        }
        guard disagreements.isEmpty else {
            throw fail(.manifestMismatch, "descriptor and manifest disagree: \(disagreements.joined(separator: ", ")); the manifest is stale or belongs to another build")
        }
        return LoadedPlugin(manifest: manifest, libraryPath: path, descriptor: d, host: host)
    }
}
