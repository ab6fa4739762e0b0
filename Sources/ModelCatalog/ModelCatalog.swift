import Foundation
import ModelFormats
import struct Sampling.SamplingDefaults

/// Maps model ids to models on disk, inside two roots only: the models directory (`NAME.gguf` → `NAME`,
/// `org/name/` with config.json + safetensors → `org/name`) and the Hugging Face cache
/// (`$HF_HOME/hub/models--org--name/snapshots/REV` → `org/name`). `default` aliases the default model.
///
/// Ids are validated before use and only matched against names found by listing a root. Every file opened is
/// checked, after resolving symlinks, to lie inside its root. One deliberate exception: a `NAME.gguf` entry placed
/// directly in the models directory may be a symlink to a file elsewhere, because the operator made that link (the
/// installer and CI link a shared copy of the default model); ids can never create or reach such links themselves.
public struct ModelCatalog: Sendable {
    public static let defaultAlias = "default"
    /// The default model's id (`SmolLM2-135M-Instruct.Q4_1.gguf`).
    public static let defaultModelID = "SmolLM2-135M-Instruct.Q4_1"

    public let modelsDir: String
    /// `$HF_HOME/hub`, or nil when the Hugging Face cache is not served.
    public let huggingFaceHub: String?
    /// The id `default` stands for; nil disables the alias.
    public let defaultModel: String?

    public init(modelsDir: String, hfHome: String?, defaultModel: String? = ModelCatalog.defaultModelID) {
        self.modelsDir = modelsDir
        self.huggingFaceHub = hfHome.map { URL(fileURLWithPath: $0).appendingPathComponent("hub").path }
        self.defaultModel = defaultModel
    }

    /// Every model that resolves cleanly, sorted by id. Entries with unreadable metadata or escaping links are left
    /// out (asking for them by id reports why).
    public func entries() -> [CatalogEntry] {
        var ids = Set<String>()
        for name in list(modelsDir) {
            if name.hasSuffix(".gguf"), name.count > 5 {
                ids.insert(String(name.dropLast(5)))
            } else if isDirectory("\(modelsDir)/\(name)") {
                for inner in list("\(modelsDir)/\(name)") { ids.insert("\(name)/\(inner)") }
            }
        }
        if let hub = huggingFaceHub {
            for name in list(hub) where name.hasPrefix("models--") {
                let parts = name.dropFirst("models--".count).components(separatedBy: "--")
                guard parts.count == 2 else { continue }
                // A repository of GGUF files lists each (org/name:STEM); a safetensors folder is org/name.
                let files = snapshotDirectory(hub: hub, org: parts[0], name: parts[1])
                    .map { Self.ggufFiles(in: list("\(hub)/\($0)")) } ?? []
                if files.isEmpty {
                    ids.insert("\(parts[0])/\(parts[1])")
                } else {
                    for file in files { ids.insert("\(parts[0])/\(parts[1]):\(file.dropLast(5))") }
                }
            }
        }
        return ids.sorted().compactMap { id in
            (try? ModelID.validate(id)) == nil ? nil : try? resolve(id)
        }
    }

    /// The entry for `id` (or `default`).
    public func resolve(_ id: String) throws(CatalogError) -> CatalogEntry {
        if id == Self.defaultAlias, let defaultModel {
            // The entry keeps the real id so that responses and the backend name the model unambiguously.
            return try resolve(defaultModel)
        }
        try ModelID.validate(id)
        // Bytes, not `contains("/")`, which Foundation answers through a CFString search (a sixth of a resolution).
        if !id.utf8.contains(UInt8(ascii: "/")) {
            return try resolveGGUF(id)
        }
        if let colon = id.firstIndex(of: ":") {
            return try resolveHubGGUF(id: id, repo: String(id[..<colon]), selector: String(id[id.index(after: colon)...]))
        }
        let parts = id.split(separator: "/").map(String.init)
        if let entry = try resolveDirectory(id: id, root: modelsDir, relative: "\(parts[0])/\(parts[1])") {
            return entry
        }
        if let hub = huggingFaceHub, let snapshot = snapshotDirectory(hub: hub, org: parts[0], name: parts[1]) {
            if let entry = try resolveDirectory(id: id, root: hub, relative: snapshot) { return entry }
        }
        throw .notFound(id: id)
    }

    // MARK: - GGUF files

    private func resolveGGUF(_ id: String) throws(CatalogError) -> CatalogEntry {
        let file = "\(id).gguf"
        guard list(modelsDir).contains(file) else { throw .notFound(id: id) }
        let path = "\(modelsDir)/\(file)"
        guard let real = RootConfinement.realPath(path), isRegularFile(real) else {
            throw .unreadable(id: id, reason: "it is not a regular file")
        }
        guard let (architecture, context, sampling, width) = GGUFFacts.shared.facts(of: real) else {
            throw .unreadable(id: id, reason: "its GGUF header is invalid")
        }
        if architecture == "clip" {
            throw .unreadable(id: id, reason: "it is a vision projector, served together with the model it belongs to "
                + "(mmproj-NAME.gguf beside NAME.gguf)")
        }
        // llama.cpp publishes a vision model as two files, NAME.gguf and mmproj-NAME.gguf.
        let projector = "\(modelsDir)/mmproj-\(file)"
        var projectorPath: String?
        if list(modelsDir).contains("mmproj-\(file)"), let realProjector = RootConfinement.realPath(projector),
           isRegularFile(realProjector), GGUFFacts.shared.facts(of: realProjector)?.architecture == "clip" {
            projectorPath = realProjector
        }
        return CatalogEntry(
            id: id, format: .gguf, path: real, contextLength: context, architecture: architecture,
            inputModalities: projectorPath == nil ? ["text"] : ["text", "image"], created: modificationDate(real),
            projectorPath: projectorPath, recommendedSampling: sampling, hiddenSize: width)
    }

    /// The model GGUF files of a folder listing (vision projectors, `mmproj-*`, go with their model).
    public static func ggufFiles(in names: [String]) -> [String] {
        names.filter { $0.hasSuffix(".gguf") && !$0.hasPrefix("mmproj") }.sorted()
    }

    /// Which of `files` a selector names: the file itself, its name without `.gguf`, or a quantization (`Q4_K_M`),
    /// matched without case as a name part (`Model.Q4_K_M.gguf`, `model-q4_k_m.gguf`). nil when none or several match.
    public static func select(_ selector: String, in files: [String]) -> String? {
        if let exact = files.first(where: { $0 == selector || $0.dropLast(5) == selector }) { return exact }
        let wanted = selector.lowercased()
        let matches = files.filter { file in
            file.dropLast(5).lowercased().split(whereSeparator: { $0 == "." || $0 == "-" }).contains { $0 == wanted }
        }
        return matches.count == 1 ? matches[0] : nil
    }

    /// `org/name:SELECTOR`: one GGUF file of a repository in the Hugging Face cache.
    private func resolveHubGGUF(id: String, repo: String, selector: String) throws(CatalogError) -> CatalogEntry {
        let parts = repo.split(separator: "/").map(String.init)
        guard let hub = huggingFaceHub, let snapshot = snapshotDirectory(hub: hub, org: parts[0], name: parts[1]),
              let confinement = RootConfinement(root: hub) else { throw .notFound(id: id) }
        let directory = "\(hub)/\(snapshot)"
        let files = Self.ggufFiles(in: list(directory))
        guard let file = Self.select(selector, in: files) else {
            throw .notFound(id: id)
        }
        // Snapshot files are links into the repository's blobs: the target must stay inside the hub.
        guard let real = confinement.confined("\(directory)/\(file)"), isRegularFile(real) else {
            throw .outsideRoots(id: id)
        }
        guard let (architecture, context, sampling, width) = GGUFFacts.shared.facts(of: real) else {
            throw .unreadable(id: id, reason: "its GGUF header is invalid")
        }
        return CatalogEntry(
            id: id, format: .gguf, path: real, contextLength: context, architecture: architecture,
            inputModalities: ["text"], created: modificationDate(real), recommendedSampling: sampling,
            hiddenSize: width)
    }

    // MARK: - Hugging Face directories

    /// `root/relative` when it is a model directory (config.json + at least one .safetensors) inside `root`.
    private func resolveDirectory(id: String, root: String, relative: String) throws(CatalogError) -> CatalogEntry? {
        guard let confinement = RootConfinement(root: root) else { return nil }
        let directory = "\(root)/\(relative)"
        guard FileManager.default.fileExists(atPath: directory) else { return nil }
        guard let realDirectory = confinement.confined(directory) else { throw .outsideRoots(id: id) }
        let files = list(realDirectory)
        guard files.contains("config.json"), files.contains(where: { $0.hasSuffix(".safetensors") }) else {
            return nil
        }
        for file in files where file == "config.json" || file.hasSuffix(".safetensors") {
            guard confinement.confined(file, in: realDirectory) != nil else { throw .outsideRoots(id: id) }
        }
        guard let realConfig = confinement.confined("config.json", in: realDirectory) else {
            throw .unreadable(id: id, reason: "config.json is not a JSON object")
        }
        let facts = try FolderFacts.shared.facts(of: realDirectory) { () throws(CatalogError) in
            guard let data = (FileBytes.read(realConfig).map { Data($0) }),
                  let config = (try? JSONSerialization.jsonObject(with: data)) as? [String: Any]
            else { throw .unreadable(id: id, reason: "config.json is not a JSON object") }
            let text = config["text_config"] as? [String: Any]
            var context = (config["max_position_embeddings"] as? Int) ?? (text?["max_position_embeddings"] as? Int)
            // A sentence-transformers folder states the sequence length its encoder was trained for.
            if let limit = jsonObject("\(realDirectory)/sentence_bert_config.json", confinement: confinement)?["max_seq_length"]
                as? Int, limit > 0 {
                context = min(context ?? limit, limit)
            }
            return FolderFacts.Facts(
                context: context, architecture: config["model_type"] as? String,
                hasVision: config["vision_config"] != nil,
                sampling: generationConfig(realDirectory, confinement: confinement),
                hiddenSize: (config["hidden_size"] as? Int) ?? (text?["hidden_size"] as? Int))
        }
        return CatalogEntry(
            id: id, format: .safetensors, path: realDirectory, contextLength: facts.context,
            architecture: facts.architecture,
            inputModalities: facts.hasVision ? ["text", "image"] : ["text"], created: modificationDate(realConfig),
            projectorPath: facts.hasVision ? realDirectory : nil, recommendedSampling: facts.sampling,
            hiddenSize: facts.hiddenSize)
    }

    /// A small JSON object file inside the folder, or nil when absent or not an object.
    private func jsonObject(_ path: String, confinement: RootConfinement) -> [String: Any]? {
        guard let real = confinement.confined(path), let data = (FileBytes.read(real).map { Data($0) }) else { return nil }
        return (try? JSONSerialization.jsonObject(with: data)) as? [String: Any]
    }

    /// The recommended sampling values of a Hugging Face folder's `generation_config.json` (vLLM reads the same
    /// file); an absent or unreadable file recommends nothing.
    private func generationConfig(_ directory: String, confinement: RootConfinement) -> SamplingDefaults {
        guard let path = confinement.confined("\(directory)/generation_config.json"),
              let data = (FileBytes.read(path).map { Data($0) }),
              let object = (try? JSONSerialization.jsonObject(with: data)) as? [String: Any]
        else { return SamplingDefaults() }
        func number(_ key: String) -> Double? {
            object[key] as? Double
        }
        return SamplingDefaults(
            temperature: number("temperature"), topK: number("top_k").flatMap { Int(exactly: $0) },
            topP: number("top_p"), minP: number("min_p"), repetitionPenalty: number("repetition_penalty")
        ).withoutInvalidFields()
    }

    /// `models--org--name/snapshots/REV` relative to the hub: the revision `refs/main` names when it exists,
    /// otherwise the most recently modified snapshot.
    private func snapshotDirectory(hub: String, org: String, name: String) -> String? {
        let repo = "models--\(org)--\(name)"
        guard list(hub).contains(repo) else { return nil }
        let snapshots = list("\(hub)/\(repo)/snapshots").filter { (try? ModelID.validate($0)) != nil }
        if let data = (FileBytes.read("\(hub)/\(repo)/refs/main").map { Data($0) }) {
            let revision = String(decoding: data, as: UTF8.self).trimmingCharacters(in: .whitespacesAndNewlines)
            if snapshots.contains(revision) { return "\(repo)/snapshots/\(revision)" }
        }
        let newest = snapshots.max { modificationDate("\(hub)/\(repo)/snapshots/\($0)") <
            modificationDate("\(hub)/\(repo)/snapshots/\($1)") }
        return newest.map { "\(repo)/snapshots/\($0)" }
    }

    // MARK: - Filesystem helpers

    private func list(_ directory: String) -> [String] {
        (try? FileManager.default.contentsOfDirectory(atPath: directory)) ?? []
    }

    private func isDirectory(_ path: String) -> Bool {
        var directory: ObjCBool = false
        return FileManager.default.fileExists(atPath: path, isDirectory: &directory) && directory.boolValue
    }

    private func isRegularFile(_ path: String) -> Bool {
        var directory: ObjCBool = false
        return FileManager.default.fileExists(atPath: path, isDirectory: &directory) && !directory.boolValue
    }

    /// A plain `stat`: every request resolves its model, and `FileManager`'s attributes also look up the owner's and
    /// group's names (reading /etc/passwd and /etc/group) and the file's extended attributes.
    private func modificationDate(_ path: String) -> Date {
        var info = stat()
        guard stat(path, &info) == 0 else { return Date(timeIntervalSince1970: 0) }
        return Date(timeIntervalSince1970: Double(info.st_mtim.tv_sec) + Double(info.st_mtim.tv_nsec) * 1e-9)
    }
}

/// What the catalog reads from a GGUF file (architecture, context length), remembered per file identity (path, size,
/// modification time): every request resolves its model, and parsing the metadata of a real model (its whole
/// vocabulary) costs milliseconds that a request should not pay.
final class GGUFFacts: @unchecked Sendable {
    static let shared = GGUFFacts()

    private struct Key: Hashable {
        let path: String
        let size: UInt64
        let seconds: Int
        let nanoseconds: Int
    }

    private let lock = NSLock()
    typealias Facts = (architecture: String?, context: Int?, sampling: SamplingDefaults, width: Int?)
    private var known: [Key: Facts] = [:]

    /// nil when the file is not a valid GGUF.
    func facts(of path: String) -> Facts? {
        // A plain stat (see `ModelCatalog.modificationDate`).
        var info = stat()
        guard stat(path, &info) == 0 else { return nil }
        let key = Key(path: path, size: UInt64(max(0, info.st_size)), seconds: info.st_mtim.tv_sec,
                      nanoseconds: info.st_mtim.tv_nsec)
        if let cached = lock.withLock({ known[key] }) { return cached }
        guard let gguf = try? GGUFFile(path: path) else { return nil }
        let architecture = gguf.architecture
        // llama.cpp's convention for a model's recommended sampler settings (gguf-py's Keys.General.SAMPLING_*).
        let sampling = SamplingDefaults(
            temperature: gguf.metadata["general.sampling.temp"]?.doubleValue,
            topK: gguf.metadata["general.sampling.top_k"]?.intValue,
            topP: gguf.metadata["general.sampling.top_p"]?.doubleValue,
            minP: gguf.metadata["general.sampling.min_p"]?.doubleValue,
            repetitionPenalty: gguf.metadata["general.sampling.penalty_repeat"]?.doubleValue)
        let facts = (architecture: architecture,
                     context: architecture.flatMap { gguf.metadata["\($0).context_length"]?.intValue },
                     sampling: sampling.withoutInvalidFields(),
                     width: architecture.flatMap { gguf.metadata["\($0).embedding_length"]?.intValue })
        lock.withLock { known[key] = facts }
        return facts
    }
}

/// What the catalog reads from a Hugging Face folder's small JSON files, remembered per folder while those files are
/// unchanged (size and modification time of each, or its absence): every request resolves its model, and parsing
/// config.json, generation_config.json and sentence_bert_config.json each time cost a request about a tenth of a
/// millisecond apiece.
final class FolderFacts: @unchecked Sendable {
    static let shared = FolderFacts()
    static let files = ["config.json", "generation_config.json", "sentence_bert_config.json"]

    struct Facts {
        let context: Int?
        let architecture: String?
        let hasVision: Bool
        let sampling: SamplingDefaults
        let hiddenSize: Int?
    }

    private struct Stamp: Equatable {
        let size: Int64
        let seconds: Int
        let nanoseconds: Int
    }

    private let lock = NSLock()
    private var known: [String: (stamps: [Stamp?], facts: Facts)] = [:]

    func facts(of directory: String, compute: () throws(CatalogError) -> Facts) throws(CatalogError) -> Facts {
        let stamps = Self.files.map { name -> Stamp? in
            var info = stat()
            guard stat("\(directory)/\(name)", &info) == 0 else { return nil }
            return Stamp(size: Int64(info.st_size), seconds: info.st_mtim.tv_sec, nanoseconds: info.st_mtim.tv_nsec)
        }
        if let cached = lock.withLock({ known[directory] }), cached.stamps == stamps { return cached.facts }
        let facts = try compute()
        lock.withLock { known[directory] = (stamps, facts) }
        return facts
    }
}
