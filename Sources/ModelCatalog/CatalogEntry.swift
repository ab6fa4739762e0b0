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
    public var weightBytes: Int64 {
        func bytes(_ path: String) -> Int64 {
            ((try? FileManager.default.attributesOfItem(atPath: path))?[.size] as? NSNumber)?.int64Value ?? 0
        }
        switch format {
        case .gguf:
            return bytes(path) + (projectorPath.map(bytes) ?? 0)
        case .safetensors:
            let files = (try? FileManager.default.contentsOfDirectory(atPath: path)) ?? []
            return files.filter { $0.hasSuffix(".safetensors") }.reduce(0) { $0 + bytes(path + "/" + $1) }
        }
    }
}
