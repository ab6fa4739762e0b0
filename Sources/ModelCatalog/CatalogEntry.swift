import Foundation
import struct Sampling.SamplingDefaults

/// How a model's weights are stored.
public enum ModelFormat: String, Sendable, Equatable {
    case gguf
    case safetensors
}

/// One servable model, described from metadata only (weights are never read here).
public struct CatalogEntry: Sendable, Equatable {
    /// The id clients use (`NAME` or `org/name`).
    public let id: String
    public let format: ModelFormat
    /// The real (symlink-resolved) path: the `.gguf` file or the model directory.
    public let path: String
    /// Trained context length, when the metadata states it.
    public let contextLength: Int?
    /// `general.architecture` (GGUF) or `model_type` (config.json).
    public let architecture: String?
    /// Input modalities, e.g. `["text"]` or `["text", "image"]`.
    public let inputModalities: [String]
    /// What makes the model see images: its `mmproj-NAME.gguf` beside `NAME.gguf` (llama.cpp's layout), or the model
    /// directory itself for a Hugging Face vision model. nil for a text-only model.
    public let projectorPath: String?
    /// Modification time of the weights, reported as OpenAI's `created`.
    public let created: Date
    /// The sampling values the model's authors recommend (GGUF `general.sampling.*`, a folder's
    /// `generation_config.json`); empty when the files say nothing. Values a request could not send (a temperature of
    /// 5) are left out, so a bad file falls back to the server's defaults instead of failing every request.
    public let recommendedSampling: SamplingDefaults
    /// The width of the model's hidden states (GGUF `<arch>.embedding_length`, config.json `hidden_size`), when
    /// stated: an embedding model's vector length before it is loaded.
    public let hiddenSize: Int?

    public init(
        id: String, format: ModelFormat, path: String, contextLength: Int?, architecture: String?,
        inputModalities: [String], created: Date, projectorPath: String? = nil,
        recommendedSampling: SamplingDefaults = SamplingDefaults(), hiddenSize: Int? = nil
    ) {
        self.id = id
        self.format = format
        self.path = path
        self.contextLength = contextLength
        self.architecture = architecture
        self.inputModalities = inputModalities
        self.projectorPath = projectorPath
        self.created = created
        self.recommendedSampling = recommendedSampling
        self.hiddenSize = hiddenSize
    }
}

extension CatalogEntry {
    /// The bytes of its weights on disk: the GGUF file (and its vision projector), or the folder's safetensors files.
    /// Read from the file system each time (a few stat calls), since files change under a running server.
    public var weightBytes: Int64 { Int64(clamping: Self.weightBytes(path: path, projectorPath: projectorPath)) }

    /// The bytes of the weights at `path`: a file (GGUF) plus its vision projector when that is another file, or the
    /// `.safetensors` files of a folder (a Hugging Face folder is its own projector). One measure for listings and
    /// for a worker's memory estimate; plain `stat` calls, since `FileManager`'s attributes also look up the owner's
    /// and group's names and the extended attributes of every file.
    public static func weightBytes(path: String, projectorPath: String?) -> UInt64 {
        func stated(_ path: String) -> stat? {
            var info = stat()
            return stat(path, &info) == 0 ? info : nil
        }
        guard let model = stated(path) else { return 0 }
        guard (model.st_mode & mode_t(S_IFMT)) == mode_t(S_IFDIR) else {
            let projector = projectorPath.flatMap { $0 == path ? nil : stated($0) }
            return UInt64(max(0, model.st_size)) + UInt64(max(0, projector?.st_size ?? 0))
        }
        let files = (try? FileManager.default.contentsOfDirectory(atPath: path)) ?? []
        return files.filter { $0.hasSuffix(".safetensors") }.reduce(UInt64(0)) {
            $0 + UInt64(max(0, stated(path + "/" + $1)?.st_size ?? 0))
        }
    }
}
