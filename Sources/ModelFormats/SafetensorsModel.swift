#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#elseif canImport(Darwin)
import Darwin
#endif

/// A Hugging Face model directory: `config.json` plus one or more `.safetensors` files, listed by
/// `model.safetensors.index.json` when the checkpoint is sharded. MLX (mlx-community) models use the same layout with
/// a `quantization` object in `config.json`.
///
/// Every file is mapped, never read wholesale; tensor names must be unique across files. Shard names from the index
/// must be plain file names inside the directory, so a hostile index cannot make us map files elsewhere.
public final class SafetensorsModel: @unchecked Sendable {
    /// `config.json` and the index are small; this bounds what a hostile one makes us parse.
    public static let maxJSONBytes = 64 << 20

    public let directory: String
    public let files: [SafetensorsFile]
    public let config: JSONValue
    /// Every tensor name, in file order then header order.
    public let tensorNames: [String]
    /// What a sentence-transformers folder says beyond config.json (how token states become one embedding), as
    /// dotted metadata keys: `sentence_transformers.pooling.<key>` (the Pooling module's config.json),
    /// `sentence_transformers.normalize` (a Normalize module follows), `sentence_transformers.modules` (every module's
    /// type, in order) and `sentence_transformers.max_seq_length` (sentence_bert_config.json). Empty for a folder
    /// without modules.json.
    public let sentenceTransformers: [(key: String, value: JSONValue)]
    private let location: [String: (file: Int, tensor: SafetensorsTensorInfo)]

    public init(directory: String) throws {
        let dir = directory.hasSuffix("/") && directory.count > 1 ? String(directory.dropLast()) : directory
        self.directory = dir
        let configPath = dir + "/config.json"
        guard Self.isRegularFile(configPath) else {
            throw ModelFormatError("'\(dir)' has no config.json; a safetensors model directory needs one")
        }
        config = try Self.readJSON(configPath)
        guard case .object = config else { throw ModelFormatError("'\(configPath)' is not a JSON object") }

        let indexPath = dir + "/model.safetensors.index.json"
        var shardNames: [String]
        var weightMap: [(key: String, value: JSONValue)] = []
        if Self.isRegularFile(indexPath) {
            let index = try Self.readJSON(indexPath)
            guard case .object(let map)? = index["weight_map"] else {
                throw ModelFormatError("'\(indexPath)' has no weight_map object")
            }
            weightMap = map
            var seen = Set<String>()
            shardNames = []
            for (tensor, file) in map {
                guard let f = file.stringValue else {
                    throw ModelFormatError("'\(indexPath)': weight_map entry '\(tensor)' is not a file name")
                }
                guard Self.isPlainFileName(f), f.hasSuffix(".safetensors") else {
                    throw ModelFormatError("'\(indexPath)': shard '\(f)' is not a .safetensors file name inside the directory")
                }
                if seen.insert(f).inserted { shardNames.append(f) }
            }
        } else {
            shardNames = try Self.listSafetensors(dir)
        }
        guard !shardNames.isEmpty else {
            throw ModelFormatError("'\(dir)' has no .safetensors files")
        }
        var files: [SafetensorsFile] = []
        var names: [String] = []
        var location: [String: (file: Int, tensor: SafetensorsTensorInfo)] = [:]
        for shard in shardNames {
            let file = try SafetensorsFile(path: dir + "/" + shard)
            for t in file.tensors {
                guard location[t.name] == nil else {
                    throw ModelFormatError("'\(dir)': tensor '\(t.name)' appears in more than one file")
                }
                location[t.name] = (files.count, t)
                names.append(t.name)
            }
            files.append(file)
        }
        for (tensor, file) in weightMap {
            guard let at = location[tensor], files[at.file].file.path.hasSuffix("/" + (file.stringValue ?? "")) else {
                throw ModelFormatError("'\(indexPath)' maps tensor '\(tensor)' to '\(file.stringValue ?? "")', which lacks it")
            }
        }
        self.files = files
        self.tensorNames = names
        self.location = location
        sentenceTransformers = try Self.readSentenceTransformers(dir)
    }

    /// modules.json's Pooling and Normalize modules and sentence_bert_config.json's sequence length. A module path
    /// must stay inside the folder (a hostile modules.json cannot make us read files elsewhere).
    static func readSentenceTransformers(_ dir: String) throws -> [(key: String, value: JSONValue)] {
        let modulesPath = dir + "/modules.json"
        guard isRegularFile(modulesPath) else { return [] }
        guard case .array(let modules) = try readJSON(modulesPath) else {
            throw ModelFormatError("'\(modulesPath)' is not a JSON array of modules")
        }
        var out: [(key: String, value: JSONValue)] = []
        var types: [JSONValue] = []
        for module in modules {
            guard let type = module["type"]?.stringValue else {
                throw ModelFormatError("'\(modulesPath)': a module has no \"type\" string")
            }
            types.append(.string(type))
            if type.hasSuffix(".Pooling") {
                let path = module["path"]?.stringValue ?? ""
                let parts = path.split(separator: "/", omittingEmptySubsequences: true)
                guard !path.hasPrefix("/"), parts.allSatisfy({ isPlainFileName(String($0)) }) else {
                    throw ModelFormatError("'\(modulesPath)': the Pooling module's path '\(path)' leaves the folder")
                }
                let configPath = dir + (parts.isEmpty ? "" : "/" + parts.joined(separator: "/")) + "/config.json"
                guard isRegularFile(configPath) else {
                    throw ModelFormatError("'\(modulesPath)' lists a Pooling module whose '\(configPath)' is missing")
                }
                out += try readJSON(configPath).flattened(prefix: "sentence_transformers.pooling")
            } else if type.hasSuffix(".Normalize") {
                out.append(("sentence_transformers.normalize", .bool(true)))
            }
        }
        // Every module's type, in order: a plugin refuses a pipeline with a module it does not run (a Dense
        // projection, say) instead of returning the Transformer's vectors as if they were the model's.
        out.append(("sentence_transformers.modules", .array(types)))
        let bertConfig = dir + "/sentence_bert_config.json"
        if isRegularFile(bertConfig), let length = try readJSON(bertConfig)["max_seq_length"], length.intValue != nil {
            out.append(("sentence_transformers.max_seq_length", length))
        }
        return out
    }

    /// Whether `config.json` declares MLX affine quantization (`"quantization": {"group_size": G, "bits": B}`).
    public var isMLXQuantized: Bool {
        guard let q = config["quantization"] else { return false }
        return q["bits"]?.intValue != nil && q["group_size"]?.intValue != nil
    }

    public func tensor(named name: String) -> (file: SafetensorsFile, info: SafetensorsTensorInfo)? {
        location[name].map { (files[$0.file], $0.tensor) }
    }

    static func isRegularFile(_ path: String) -> Bool {
        var info = stat()
        return stat(path, &info) == 0 && (info.st_mode & S_IFMT) == S_IFREG
    }

    public static func isDirectory(_ path: String) -> Bool {
        var info = stat()
        return stat(path, &info) == 0 && (info.st_mode & S_IFMT) == S_IFDIR
    }

    static func isPlainFileName(_ name: String) -> Bool {
        !name.isEmpty && name != "." && name != ".." && !name.contains("/") && !name.utf8.contains(0)
    }

    static func readJSON(_ path: String) throws -> JSONValue {
        let mapped = try MappedFile(path: path)
        guard mapped.bytes.count <= maxJSONBytes else {
            throw ModelFormatError("'\(path)' is \(mapped.bytes.count) bytes, more than the \(maxJSONBytes) allowed")
        }
        return try JSONParser.parse(mapped.bytes, what: "'\(path)'")
    }

    /// The directory's `*.safetensors` files, sorted by name (the order shards are numbered in).
    static func listSafetensors(_ dir: String) throws -> [String] {
        guard let handle = opendir(dir) else { throw ModelFormatError("cannot list '\(dir)': \(String(cString: strerror(errno)))") }
        defer { closedir(handle) }
        var names: [String] = []
        while let entry = readdir(handle) {
            let name = withUnsafeBytes(of: entry.pointee.d_name) { raw in
                String(decoding: raw.prefix { $0 != 0 }, as: UTF8.self)
            }
            if name.hasSuffix(".safetensors"), !name.hasPrefix("."), isRegularFile(dir + "/" + name) { names.append(name) }
        }
        return names.sorted()
    }
}
