import Foundation
import ModelCatalog
import ModelFormats
import Tokenizer

/// Model files: the GGUF reader (and the tokenizer and catalog facts read from its metadata), the safetensors
/// header, and a Hugging Face model folder as the catalog and the loader read it.
enum FormatTargets {
    static let gguf = FuzzTarget(
        name: "gguf", summary: "a GGUF file: header, metadata, tensor table; then its tokenizer and catalog facts",
        maxLength: 64 << 10
    ) { input in
        guard let file = try? MappedFile(copying: input), let gguf = try? GGUFFile(file: file) else { return }
        for info in gguf.tensors {
            // Every accepted tensor must lie inside the file: touching its first and last byte proves it (ASan
            // and the map's bounds catch a range the parser let through).
            let data = gguf.data(for: info)
            guard data.count == info.byteCount else {
                FuzzFailure.report("gguf", "tensor '\(info.name)' has \(data.count) bytes, its info says \(info.byteCount)")
            }
            if let first = data.first, let last = data.last { blackHole(first &+ last) }
        }
        for key in gguf.metadataKeys where gguf.metadata[key] == nil {
            FuzzFailure.report("gguf", "metadata key '\(key)' is listed but has no value")
        }
        if let tokenizer = try? Tokenizers.load(gguf: gguf) {
            let ids = tokenizer.encode("Hello, <|im_end|> wörld 東京 🙂\n\n  x", addSpecial: true, parseSpecial: true)
            blackHole(tokenizer.decode(ids, skipSpecial: false).utf8.count)
        }
        // What the catalog reads from the same header (architecture, context length, sampling recommendations).
        let folder = ScratchFolder.shared.reset("gguf-models")
        ScratchFolder.shared.write(input, to: folder + "/fuzz.gguf")
        blackHole(ModelCatalog(modelsDir: folder, hfHome: nil, defaultModel: nil).entries().count)
    }

    static let safetensors = FuzzTarget(
        name: "safetensors", summary: "a .safetensors file: the 8-byte header length, the JSON header, tensor ranges",
        maxLength: 16 << 10
    ) { input in
        guard let file = try? MappedFile(copying: input), let tensors = try? SafetensorsFile(file: file) else { return }
        for info in tensors.tensors {
            let data = tensors.data(for: info)
            guard data.count == info.byteRange.count,
                  data.count == info.shape.reduce(info.dtype.byteSize, { $0 * $1 }) else {
                FuzzFailure.report("safetensors", "tensor '\(info.name)' has \(data.count) bytes for shape \(info.shape)")
            }
            if let first = data.first, let last = data.last { blackHole(first &+ last) }
        }
    }

    /// Parts: `config.json`, `model.safetensors.index.json` (absent when empty), a shard written under the first
    /// shard name the index mentions (or `model.safetensors`), and `generation_config.json`.
    static let modelFolder = FuzzTarget(
        name: "model-folder",
        summary: "a Hugging Face folder: config.json #~# index #~# shard #~# generation_config.json",
        maxLength: 16 << 10
    ) { input in
        let parts = InputParts.split(input, count: 4)
        let root = ScratchFolder.shared.reset("hf-models")
        let folder = root + "/org/model"
        try? FileManager.default.createDirectory(atPath: folder, withIntermediateDirectories: true)
        ScratchFolder.shared.write(parts[0], to: folder + "/config.json")
        var shardName = "model.safetensors"
        if !parts[1].isEmpty {
            ScratchFolder.shared.write(parts[1], to: folder + "/model.safetensors.index.json")
            if let name = firstShardName(parts[1]) { shardName = name }
        }
        ScratchFolder.shared.write(parts[2], to: folder + "/" + shardName)
        if !parts[3].isEmpty { ScratchFolder.shared.write(parts[3], to: folder + "/generation_config.json") }

        if let model = try? SafetensorsModel(directory: folder) {
            for name in model.tensorNames {
                guard let (file, info) = model.tensor(named: name) else {
                    FuzzFailure.report("model-folder", "tensor '\(name)' is listed but cannot be found")
                }
                blackHole(file.data(for: info).count)
            }
        }
        blackHole((try? ModelCatalog(modelsDir: root, hfHome: nil, defaultModel: nil).resolve("org/model")) != nil)
    }

    /// The first `"…safetensors"` string in an index, when it is a plain file name (the loader refuses others).
    private static func firstShardName(_ index: [UInt8]) -> String? {
        let text = String(decoding: index, as: UTF8.self)
        guard let end = text.range(of: ".safetensors\"") else { return nil }
        guard let start = text[..<end.lowerBound].lastIndex(of: "\"") else { return nil }
        let name = String(text[text.index(after: start)..<end.lowerBound]) + ".safetensors"
        return name.contains("/") || name.hasPrefix(".") ? nil : name
    }
}

/// Keeps a value alive so the optimiser cannot drop the work that produced it.
@inline(never)
func blackHole<T>(_ value: T) {
    withExtendedLifetime(value) {}
}
