/// Why a plugin was refused, and at which stage. Stages run in this order and stop at the first failure, so the
/// message a user sees names the earliest real problem.
public struct PluginRejection: Error, CustomStringConvertible, Sendable, Equatable {
    public enum Stage: String, Sendable, Codable, CaseIterable {
        case manifest               // the JSON beside the library is missing, malformed or incomplete
        case cpu                    // the CPU lacks a feature the manifest requires (checked before any dlopen)
        case elf                    // the library is not a shared object for this machine
        case dlopen                 // the dynamic loader refused it (dlerror says why)
        case entrySymbol = "entry-symbol"          // no mh_plugin_entry_v1
        case abiMajor = "abi-major"                // built for another ABI major
        case abiMinor = "abi-minor"                // needs a newer host minor
        case structSize = "struct-size"            // descriptor smaller than ABI 1.0's
        case entryFailed = "entry-failed"          // the entry function returned an error
        case manifestMismatch = "manifest-mismatch" // descriptor and manifest disagree
        case runtime                // Swift runtime differs from the other plugins of this worker
    }

    public let stage: Stage
    public let path: String
    public let message: String

    public init(_ stage: Stage, path: String, _ message: String) {
        self.stage = stage
        self.path = path
        self.message = message
    }

    /// One line: "rejected <path> [<stage>]: <message>".
    public var description: String { "rejected \(path) [\(stage.rawValue)]: \(message)" }
}
