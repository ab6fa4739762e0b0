import Foundation

/// The JSON file that sits beside every plugin library (`<name>.plugin.json`). The host reads it to choose a plugin
/// without loading any code: kind, model families, quantization types and CPU requirements are all here.
///
/// ```json
/// {
///   "id": "org.modelhost.llama", "version": "0.1.0", "kind": "text-decoder",
///   "abi": {"major": 1, "minor": 0}, "library": "libMHLlama.so", "runtime": "swift-6.3",
///   "families": ["llama", "qwen2"], "architectures": ["LlamaForCausalLM"], "quantizations": ["q4_1", "q8_0"],
///   "requires": {"cpu": "x86_64-v3"}, "priority": 100
/// }
/// ```
public struct PluginManifest: Codable, Sendable, Equatable {
    public struct ABIVersion: Codable, Sendable, Equatable {
        public var major: Int
        public var minor: Int
    }

    public struct Requirements: Codable, Sendable, Equatable {
        /// An x86-64 micro-architecture level ("x86_64-v2", "x86_64-v3", "x86_64-v4"), or "aarch64".
        public var cpu: String?
        /// Extra CPU features by name ("avx2", "fma", "f16c", "avx512f", "avx512vnni", ...).
        public var cpuFeatures: [String]?

        enum CodingKeys: String, CodingKey {
            case cpu
            case cpuFeatures = "cpu_features"
        }
    }

    public var id: String
    public var version: String
    public var kind: PluginKindName
    public var abi: ABIVersion
    /// The shared library's file name, relative to the manifest's directory.
    public var library: String
    /// "c" or "swift-X.Y": plugins with different Swift runtimes never share a worker.
    public var runtime: String
    /// Model families (GGUF `general.architecture` / HF `model_type`) it runs; "*" for any.
    public var families: [String]
    /// Hugging Face architecture names; empty or "*" for any.
    public var architectures: [String]?
    /// Canonical weight type names ("q4_1", "f16", "mlx4"); empty or "*" for any.
    public var quantizations: [String]?
    public var requires: Requirements?
    /// Higher wins among plugins with equal probe scores. Default 0.
    public var priority: Int?
    public var description: String?
}

/// Plugin kinds as spelled in manifests.
public enum PluginKindName: String, Codable, Sendable, CaseIterable {
    case textDecoder = "text-decoder"
    case visionEncoder = "vision-encoder"
    case imagePreprocessor = "image-preprocessor"
    /// ABI 1.2: its manifest's abi.minor is at least 2.
    case textEncoder = "text-encoder"

    /// The ABI's `enum mh_kind` value.
    public var abiValue: UInt16 {
        switch self {
        case .textDecoder: return 1
        case .visionEncoder: return 2
        case .imagePreprocessor: return 3
        case .textEncoder: return 4
        }
    }
}

extension PluginManifest {
    /// The suffix that marks a manifest file in a plugin directory.
    public static let fileSuffix = ".plugin.json"

    /// Parses and validates a manifest; every problem is one line naming the field.
    public static func load(path: String) throws(PluginRejection) -> PluginManifest {
        let data: Data
        do {
            data = try Data(contentsOf: URL(fileURLWithPath: path))
        } catch {
            throw PluginRejection(.manifest, path: path, "cannot read the manifest: \(error.localizedDescription)")
        }
        guard data.count <= 1 << 20 else {
            throw PluginRejection(.manifest, path: path, "manifest is larger than 1 MiB")
        }
        let manifest: PluginManifest
        do {
            manifest = try JSONDecoder().decode(PluginManifest.self, from: data)
        } catch let DecodingError.keyNotFound(key, _) {
            throw PluginRejection(.manifest, path: path, "manifest lacks the required field '\(key.stringValue)'")
        } catch let DecodingError.typeMismatch(_, context) {
            throw PluginRejection(.manifest, path: path,
                                  "manifest field '\(context.codingPath.map(\.stringValue).joined(separator: "."))' has the wrong type")
        } catch let DecodingError.dataCorrupted(context) {
            let field = context.codingPath.map(\.stringValue).joined(separator: ".")
            let what = field.isEmpty ? "manifest is not valid JSON" : "manifest field '\(field)' is invalid"
            throw PluginRejection(.manifest, path: path, "\(what): \(context.debugDescription)")
        } catch {
            throw PluginRejection(.manifest, path: path, "manifest is not valid: \(error)")
        }
        try manifest.validate(path: path)
        return manifest
    }

    func validate(path: String) throws(PluginRejection) {
        func fail(_ message: String) -> PluginRejection { PluginRejection(.manifest, path: path, message) }
        let idPattern = #"^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$"#
        guard id.range(of: idPattern, options: .regularExpression) != nil else {
            throw fail("manifest 'id' must be 1-128 characters of letters, digits, '.', '_' or '-' (reverse-DNS style)")
        }
        guard version.range(of: #"^\d+\.\d+\.\d+([-+][0-9A-Za-z.-]+)?$"#, options: .regularExpression) != nil else {
            throw fail("manifest 'version' \"\(version)\" is not a semantic version like 1.2.3")
        }
        guard abi.major >= 1, abi.minor >= 0 else { throw fail("manifest 'abi' must name major >= 1 and minor >= 0") }
        guard !library.isEmpty, !library.contains("/"), library != ".", library != ".." else {
            throw fail("manifest 'library' must be a file name in the manifest's directory, not a path")
        }
        guard runtime == "c" || runtime.hasPrefix("swift-") else {
            throw fail("manifest 'runtime' must be \"c\" or \"swift-X.Y\", not \"\(runtime)\"")
        }
        guard !families.isEmpty, families.allSatisfy({ !$0.isEmpty }) else {
            throw fail("manifest 'families' must list at least one model family (or \"*\")")
        }
        if let requires {
            do {
                _ = try CPURequirement(level: requires.cpu, features: requires.cpuFeatures ?? [])
            } catch {
                throw fail(error.message)
            }
        }
    }

    /// True if this plugin declares it runs `family` (and `architecture`/`quantization`, when it lists them).
    public func supports(family: String, architecture: String?, quantization: String?) -> Bool {
        func matches(_ list: [String]?, _ value: String?) -> Bool {
            guard let list, !list.isEmpty, !list.contains("*") else { return true }
            guard let value, !value.isEmpty else { return true }
            return list.contains { $0.caseInsensitiveCompare(value) == .orderedSame }
        }
        return matches(families, family) && matches(architectures, architecture) && matches(quantizations, quantization)
    }
}
