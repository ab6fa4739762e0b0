import Foundation
import struct Sampling.SamplingDefaults
import WorkerProtocol
import Yams

/// Model presets: the names clients use (`smollm2:135m`, aliases), each naming a model of the catalog and the
/// settings it is served with. One YAML file, read at start-up and again on SIGHUP or `POST /admin/reload`:
///
/// ```yaml
/// models:
///   smollm2:135m:
///     model: SmolLM2-135M-Instruct.Q4_1      # a catalog id: a GGUF file's name, or org/name of a folder
///     aliases: [smollm2, default]
///     context_length: 4096                   # at most the model's own
///     max_tokens: 512                        # answer cap when a request names none
///     sampling: {temperature: 0.7, top_k: 40, top_p: 0.9, min_p: 0.05, repetition_penalty: 1.1}
///     kv_cache_type: f16                     # f32 (default), f16, bf16 or q8_0
///     threads: 2
///     idle_timeout: 300                      # seconds; 0 keeps it loaded
///     prefix_cache_mib: 512                  # idle conversations' KV memory kept for reuse; 0 none
///     plugin: org.modelhost.llama            # pin a plugin for this model
///     load_at_start: true
/// ```
///
/// Every key is checked: an unknown key, a wrong type or a value out of range is an error naming the file, line and
/// column, and a file with an error replaces nothing (the presets in force stay).
public struct ModelPreset: Sendable, Equatable {
    public var name: String
    /// The catalog id of the weights.
    public var model: String
    public var aliases: [String] = []
    public var contextLength: Int?
    /// Sampling defaults and `max_tokens`: above the model files' own recommendations, below a request's values.
    public var sampling = SamplingDefaults()
    public var kvCacheType: KVCacheType?
    public var threads: Int?
    /// Seconds; 0 keeps the model loaded.
    public var idleTimeout: Double?
    /// This model's prefix-cache budget in MiB, instead of the server's `--prefix-cache-mib`.
    public var prefixCacheMiB: Int?
    public var plugin: String?
    public var loadAtStart = false

    public init(name: String, model: String) {
        self.name = name
        self.model = model
    }
}

/// A presets file's content, and the name lookup (names and aliases).
public struct PresetCatalog: Sendable, Equatable {
    public var presets: [ModelPreset]
    /// Where they were read from (nil: no file).
    public var path: String?

    public init(presets: [ModelPreset] = [], path: String? = nil) {
        self.presets = presets
        self.path = path
    }

    /// The preset a client's name means: by its name, else by an alias.
    public func preset(named name: String) -> ModelPreset? {
        presets.first { $0.name == name } ?? presets.first { $0.aliases.contains(name) }
    }

    /// Reads and checks `path`.
    public static func load(path: String) throws(PresetError) -> PresetCatalog {
        let text: String
        do {
            text = try String(contentsOfFile: path, encoding: .utf8)
        } catch {
            throw PresetError("\(path): cannot read the presets file: \(error.localizedDescription)")
        }
        return try parse(text, path: path)
    }

    public static func parse(_ text: String, path: String) throws(PresetError) -> PresetCatalog {
        let root: Node?
        do {
            root = try Yams.compose(yaml: text)
        } catch let error as YamlError {
            throw PresetError("\(path): not valid YAML: \(error)")
        } catch {
            throw PresetError("\(path): not valid YAML: \(error)")
        }
        guard let root else { return PresetCatalog(presets: [], path: path) }
        let reader = Reader(path: path)
        let top = try reader.mapping(root, "the file")
        var presets: [ModelPreset] = []
        for (key, value) in top {
            guard key.string == "models" else {
                throw reader.error(key, "unknown key '\(key.string ?? "?")' (the file has one key, 'models')")
            }
            for (nameNode, body) in try reader.mapping(value, "models") {
                guard let name = nameNode.string, !name.isEmpty, name.count <= 256 else {
                    throw reader.error(nameNode, "a preset's name must be a non-empty string")
                }
                presets.append(try reader.preset(name, body))
            }
        }
        // Every name and alias means one preset.
        var seen: [String: String] = [:]
        for preset in presets {
            for name in [preset.name] + preset.aliases {
                if let other = seen[name] {
                    throw PresetError("\(path): '\(name)' names both preset '\(other)' and preset '\(preset.name)'")
                }
                seen[name] = preset.name
            }
        }
        return PresetCatalog(presets: presets, path: path)
    }

    /// Reads YAML nodes, each error with the file, line and column of the node at fault.
    struct Reader {
        let path: String

        func error(_ node: Node, _ message: String) -> PresetError {
            let at = node.mark.map { ":\($0.line):\($0.column)" } ?? ""
            return PresetError("\(path)\(at): \(message)")
        }

        func mapping(_ node: Node, _ what: String) throws(PresetError) -> [(Node, Node)] {
            guard let mapping = node.mapping else { throw error(node, "\(what) must be a mapping (key: value lines)") }
            return mapping.map { ($0.key, $0.value) }
        }

        func int(_ node: Node, _ key: String, _ range: ClosedRange<Int>) throws(PresetError) -> Int {
            guard node.scalar != nil, let value = node.int, range.contains(value) else {
                throw error(node, "'\(key)' must be an integer in \(range.lowerBound)...\(range.upperBound)")
            }
            return value
        }

        func double(_ node: Node, _ key: String, _ range: ClosedRange<Double>) throws(PresetError) -> Double {
            guard node.scalar != nil, let value = node.float, value.isFinite, range.contains(value) else {
                throw error(node, "'\(key)' must be a number in \(range.lowerBound)...\(range.upperBound)")
            }
            return value
        }

        func string(_ node: Node, _ key: String) throws(PresetError) -> String {
            guard node.scalar != nil, let value = node.string, !value.isEmpty else {
                throw error(node, "'\(key)' must be a non-empty string")
            }
            return value
        }

        func bool(_ node: Node, _ key: String) throws(PresetError) -> Bool {
            guard node.scalar != nil, let value = node.bool else { throw error(node, "'\(key)' must be true or false") }
            return value
        }

        func preset(_ name: String, _ body: Node) throws(PresetError) -> ModelPreset {
            var preset = ModelPreset(name: name, model: "")
            var model: String?
            for (keyNode, value) in try mapping(body, "preset '\(name)'") {
                let key = keyNode.string ?? ""
                switch key {
                case "model": model = try string(value, key)
                case "aliases":
                    guard let items = value.sequence else { throw error(value, "'aliases' must be a list of names") }
                    for item in items { preset.aliases.append(try string(item, "aliases")) }
                case "context_length": preset.contextLength = try int(value, key, 16...16_777_216)
                case "max_tokens": preset.sampling.maxTokens = try int(value, key, 1...16_777_216)
                case "sampling":
                    for (k, v) in try mapping(value, "'sampling'") {
                        let samplingKey = k.string ?? ""
                        switch samplingKey {
                        case "temperature": preset.sampling.temperature = try double(v, samplingKey, 0...2)
                        case "top_k": preset.sampling.topK = try int(v, samplingKey, 0...1_000_000)
                        case "top_p": preset.sampling.topP = try double(v, samplingKey, 0...1)
                        case "min_p": preset.sampling.minP = try double(v, samplingKey, 0...1)
                        case "repetition_penalty":
                            preset.sampling.repetitionPenalty = try double(v, samplingKey, 0.01...10)
                        default:
                            throw error(k, "unknown sampling key '\(samplingKey)' (temperature, top_k, top_p, min_p, "
                                        + "repetition_penalty)")
                        }
                    }
                case "kv_cache_type":
                    let name = try string(value, key)
                    guard let type = KVCacheType(rawValue: name) else {
                        throw error(value, "kv_cache_type '\(name)' is not available (\(KVCacheType.names))")
                    }
                    preset.kvCacheType = type
                case "threads": preset.threads = try int(value, key, 1...1024)
                case "idle_timeout": preset.idleTimeout = try double(value, key, 0...31_536_000)
                case "prefix_cache_mib": preset.prefixCacheMiB = try int(value, key, 0...16_777_216)
                case "plugin": preset.plugin = try string(value, key)
                case "load_at_start": preset.loadAtStart = try bool(value, key)
                default:
                    throw error(keyNode, "unknown key '\(key)' in preset '\(name)' (model, aliases, context_length, "
                                + "max_tokens, sampling, kv_cache_type, threads, idle_timeout, prefix_cache_mib, plugin, "
                                + "load_at_start)")
                }
            }
            guard let model else { throw error(body, "preset '\(name)' needs 'model': the catalog id of its weights") }
            preset.model = model
            return preset
        }
    }
}

/// A presets file that cannot be used; the message names the file, line and column.
public struct PresetError: Error, Equatable, Sendable, CustomStringConvertible {
    public let message: String
    public init(_ message: String) { self.message = message }
    public var description: String { message }
}
