import Foundation
import ModelHostABI

/// A plugin found on disk: its manifest (if it parsed) and whether the host may use it. Discovery reads manifests,
/// library headers and the CPU; it never dlopens, so listing plugins can't crash or run plugin code.
public struct DiscoveredPlugin: Sendable {
    public let manifestPath: String
    public let manifest: PluginManifest?
    /// Absolute path of the library the manifest names.
    public let libraryPath: String?
    /// nil when the plugin passed every check that is possible without loading it.
    public let rejection: PluginRejection?

    public var isAccepted: Bool { rejection == nil }
}

/// Where plugins are searched, in order: `MODELHOST_PLUGIN_PATH` (colon-separated), then the installation's own
/// plugin directory (`plugins/` beside the executables, or `../lib/modelhost/plugins`). Never the working directory.
public struct PluginSearchPath: Sendable {
    public let directories: [String]

    public init(directories: [String]) { self.directories = directories }

    public static func standard(environment: [String: String] = ProcessInfo.processInfo.environment,
                                extra: [String] = []) -> PluginSearchPath {
        var dirs = extra
        if let env = environment["MODELHOST_PLUGIN_PATH"] {
            dirs += env.split(separator: ":").map(String.init).filter { !$0.isEmpty }
        }
        dirs += installationDirectories()
        var seen = Set<String>()
        let unique = dirs.map { URL(fileURLWithPath: $0).standardizedFileURL.path }.filter { seen.insert($0).inserted }
        return PluginSearchPath(directories: unique)
    }

    /// The directories an installation keeps its own plugins in, relative to the running executable.
    public static func installationDirectories() -> [String] {
        let exe = URL(fileURLWithPath: (try? FileManager.default.destinationOfSymbolicLink(atPath: "/proc/self/exe"))
                      ?? CommandLine.arguments[0]).deletingLastPathComponent()
        return [exe.appendingPathComponent("plugins").path,
                exe.appendingPathComponent("../lib/modelhost/plugins").standardizedFileURL.path]
    }
}

public enum PluginDiscovery {
    /// Every manifest in the search path, checked as far as possible without loading code, in a stable order
    /// (directory order, then file name).
    public static func discover(in searchPath: PluginSearchPath, cpu: CPUFeatureSet = .host) -> [DiscoveredPlugin] {
        var result: [DiscoveredPlugin] = []
        let fm = FileManager.default
        for dir in searchPath.directories {
            var isDir: ObjCBool = false
            guard fm.fileExists(atPath: dir, isDirectory: &isDir), isDir.boolValue else { continue }
            // A directory we cannot read is skipped, not fatal (a stale or foreign plugin dir must not stop serving).
            guard let entries = try? fm.contentsOfDirectory(atPath: dir) else { continue }
            for name in entries.sorted() where name.hasSuffix(PluginManifest.fileSuffix) {
                result.append(inspect(manifestPath: (dir as NSString).appendingPathComponent(name), cpu: cpu))
            }
        }
        return result
    }

    /// Checks one manifest and its library: manifest → CPU → ELF.
    public static func inspect(manifestPath: String, cpu: CPUFeatureSet = .host) -> DiscoveredPlugin {
        let manifest: PluginManifest
        do {
            manifest = try PluginManifest.load(path: manifestPath)
        } catch {
            return DiscoveredPlugin(manifestPath: manifestPath, manifest: nil, libraryPath: nil, rejection: error)
        }
        let library = URL(fileURLWithPath: manifestPath).deletingLastPathComponent()
            .appendingPathComponent(manifest.library).standardizedFileURL.path
        func rejected(_ r: PluginRejection) -> DiscoveredPlugin {
            DiscoveredPlugin(manifestPath: manifestPath, manifest: manifest, libraryPath: library, rejection: r)
        }
        guard FileManager.default.fileExists(atPath: library) else {
            return rejected(PluginRejection(.manifest, path: manifestPath,
                                            "the library '\(manifest.library)' named by the manifest does not exist"))
        }
        guard manifest.abi.major == 1 else {
            return rejected(PluginRejection(.abiMajor, path: library,
                                            "plugin \(manifest.id) targets ABI \(manifest.abi.major), this host implements ABI 1; install a build of the plugin for ABI 1 or a newer ModelHost"))
        }
        // The manifest's abi.minor is the oldest host minor the plugin requires (its descriptor's
        // abi_minor_required): a plugin for a newer host is refused here, before anything is loaded.
        guard manifest.abi.minor <= Int(MH_ABI_MINOR) else {
            return rejected(PluginRejection(.abiMinor, path: library,
                                            "plugin \(manifest.id) requires host ABI ≥ 1.\(manifest.abi.minor) (its manifest's abi.minor), this host is 1.\(MH_ABI_MINOR); upgrade ModelHost or install an older build of the plugin"))
        }
        if manifest.runtime != "c", manifest.runtime != PluginRuntime.hostSwiftTag {
            return rejected(PluginRejection(.runtime, path: library,
                                            "plugin \(manifest.id) was built for the \(manifest.runtime) runtime, this host runs \(PluginRuntime.hostSwiftTag); Swift is not ABI-stable on Linux, so rebuild the plugin with the host's toolchain"))
        }
        if let requires = manifest.requires {
            do {
                let requirement = try CPURequirement(level: requires.cpu, features: requires.cpuFeatures ?? [])
                if let reason = requirement.unmetReason(on: cpu) {
                    return rejected(PluginRejection(.cpu, path: library, "plugin \(manifest.id) \(reason)"))
                }
            } catch {
                return rejected(PluginRejection(.manifest, path: manifestPath, error.message))
            }
        }
        do {
            try ELFCheck.verify(path: library)
        } catch {
            return rejected(error)
        }
        return DiscoveredPlugin(manifestPath: manifestPath, manifest: manifest, libraryPath: library, rejection: nil)
    }
}

/// The host's own Swift runtime. A Swift plugin shares the worker's libswiftCore, so it must come from the same
/// toolchain; C plugins ("c") carry no runtime and load anywhere.
public enum PluginRuntime {
    #if compiler(>=6.3)
    public static let hostSwiftTag = "swift-6.3"
    #elseif compiler(>=6.2)
    public static let hostSwiftTag = "swift-6.2"
    #elseif compiler(>=6.1)
    public static let hostSwiftTag = "swift-6.1"
    #else
    public static let hostSwiftTag = "swift-6.0"
    #endif
}
