import CSupport
import EngineCore
import Foundation
import ModelFormats
import ModelHostABI
import PluginHost
import Tokenizer
import WorkerProtocol

/// A request's images, prepared: in order, with how many came from the cache.
struct PreparedImages {
    var images: [PreparedImage] = []
    var hits = 0
    var misses = 0
}

/// One image as the decoder takes it: its tile layout (for the prompt) and the encoder's embeddings of its tiles, in
/// prompt order (`count × tokensPerImage × embeddingLength` floats).
struct PreparedImage {
    let rows: Int
    let cols: Int
    let split: Bool
    let embeddings: [Float]
}

/// The image half of a vision model's worker: the image preprocessor and vision encoder plugins its projector's
/// family selects, the prompt layout, and the prepared-image cache. A text-only model's worker never builds one, so
/// it never maps a vision plugin.
final class VisionStack: @unchecked Sendable {
    let preprocessor: ImagePreprocessorHandle
    let encoder: VisionModelHandle
    let layout: ImagePromptLayout
    /// The `<image>` token: prompt positions holding it take image embeddings.
    let imageToken: Int32
    let pluginIDs: [String]
    private let cache: PreparedImageCache
    // The plugins' contexts and the projector's weights stay alive as long as the handles use them.
    private let retained: [AnyObject]

    private init(preprocessor: ImagePreprocessorHandle, encoder: VisionModelHandle, layout: ImagePromptLayout,
                 imageToken: Int32, pluginIDs: [String], cache: PreparedImageCache, retained: [AnyObject]) {
        self.preprocessor = preprocessor
        self.encoder = encoder
        self.layout = layout
        self.imageToken = imageToken
        self.pluginIDs = pluginIDs
        self.cache = cache
        self.retained = retained
    }

    /// Opens the projector at `request.projectorPath` (an mmproj GGUF, or the model's Hugging Face folder) with the
    /// plugins its family selects, and checks it fits the decoder and tokenizer.
    static func load(_ request: LoadRequest, host: HostServices, plugins: [DiscoveredPlugin], runtimeTag: String,
                     tokenizer: (any TextTokenizer)?, decoderEmbedding: Int) throws(WorkerFailure) -> VisionStack {
        let path = request.projectorPath
        guard let tokenizer else {
            throw WorkerFailure(.badRequest, "\(request.modelPath) has no tokenizer, so it cannot take images")
        }
        let weights: any ModelWeights
        do {
            weights = try openModelWeights(path: path)
        } catch {
            throw WorkerFailure(.badRequest, "cannot read the vision projector \(path): \(error)")
        }
        let gguf = (weights as? GGUFWeights)?.file
        let family = gguf?.metadata["clip.projector_type"]?.stringValue ?? (weights as? SafetensorsWeights)?.family ?? ""
        guard !family.isEmpty else {
            throw WorkerFailure(.badRequest, "\(path) names no projector type (clip.projector_type or model_type)")
        }
        let format = UInt32(gguf == nil ? MH_FORMAT_SAFETENSORS.rawValue : MH_FORMAT_GGUF.rawValue)
        func select(_ kind: PluginKindName) throws(WorkerFailure) -> LoadedPlugin {
            do {
                let (plugin, decisions) = try PluginSelector.select(
                    PluginRequest(kind: kind, family: family, format: format, runtimeTag: runtimeTag),
                    among: plugins, host: host)
                decisions.forEach { WorkerLog.write("plugin selection (\(kind.rawValue)): \($0)") }
                return plugin
            } catch {
                throw WorkerFailure(.badRequest, "no \(kind.rawValue) plugin for the projector family \"\(family)\": \(error)")
            }
        }
        let encoderPlugin = try select(.visionEncoder)
        let preprocessorPlugin = try select(.imagePreprocessor)
        do {
            let encoderContext = try encoderPlugin.initialize()
            let service = WeightsService(weights)
            let encoder = try VisionEncoderClient(encoderContext).openModel(weights: service, path: path)
            guard encoder.embeddingLength == decoderEmbedding else {
                throw WorkerFailure(.badRequest, "the projector \(path) produces embeddings of \(encoder.embeddingLength) "
                    + "values but the decoder takes \(decoderEmbedding); they are not the same model")
            }
            let preprocessorContext = try preprocessorPlugin.initialize()
            let tiling = try Tiling(projector: weights, directory: ModelLoader.directoryOf(path), tile: encoder.imageSize)
            let preprocessor = try ImagePreprocessorClient(preprocessorContext).makePreprocessor(.init(
                maxDimension: Int(request.vision.maxDimension), imageSize: encoder.imageSize, maxTiles: tiling.maxTiles,
                mean: encoder.mean, std: encoder.std, maxPixels: request.vision.maxPixels))
            let layout = ImagePromptLayout(tokensPerImage: encoder.tokensPerImage)
            let imageToken: Int32
            do throws(PromptError) {
                imageToken = try layout.imageTokenID(in: tokenizer)
            } catch {
                throw WorkerFailure(.badRequest, "\(request.modelPath): \(error.message)")
            }
            WorkerLog.write("vision: \(encoderPlugin.id) (\(encoder.imageSize) px, \(encoder.tokensPerImage) tokens per "
                + "tile, up to \(tiling.maxTiles) tiles) and \(preprocessorPlugin.id); auto-resize to "
                + "\(request.vision.maxDimension) px, cache \(request.vision.cacheEntries) entries")
            return VisionStack(
                preprocessor: preprocessor, encoder: encoder, layout: layout, imageToken: imageToken,
                pluginIDs: [encoderPlugin.id, preprocessorPlugin.id],
                cache: PreparedImageCache(capacity: Int(request.vision.cacheEntries),
                                          ttlSeconds: Double(request.vision.cacheTTLSeconds)),
                retained: [encoderContext, preprocessorContext, service])
        } catch let failure as WorkerFailure {
            throw failure
        } catch {
            throw WorkerFailure(.workerFailure, "cannot open the vision projector \(path): \(error)")
        }
    }

    /// Decodes, resizes and encodes `images` (cached by content), in order. A corrupt, unsupported or oversized
    /// image is the client's error (400) and names the image. Not reentrant: the scheduler calls it from one serial
    /// queue.
    func prepare(_ images: [[UInt8]], cancelToken: UInt64 = 0) throws(WorkerFailure) -> PreparedImages {
        var prepared: [PreparedImage] = []
        var hits = 0
        for (index, bytes) in images.enumerated() {
            let key = PreparedImageCache.Key(bytes)
            if let cached = cache.get(key) {
                prepared.append(cached)
                hits += 1
                continue
            }
            let pixels: ProcessedImage
            do {
                pixels = try preprocessor.process(bytes)
            } catch where error.code == MH_ERR_BAD_INPUT.rawValue {
                throw WorkerFailure(.badRequest, "image \(index + 1): \(error.message)")
            } catch {
                throw WorkerFailure(.workerFailure, "image \(index + 1): the image preprocessor failed: \(error)")
            }
            let embeddings: [Float]
            do {
                embeddings = try encoder.encode(pixels.pixels, count: pixels.count, cancelToken: cancelToken)
            } catch where error.code == MH_ERR_CANCELLED.rawValue {
                throw WorkerFailure(.cancelled, "cancelled while encoding image \(index + 1)")
            } catch {
                throw WorkerFailure(.workerFailure, "image \(index + 1): the vision encoder failed: \(error)")
            }
            let image = PreparedImage(rows: pixels.tileRows, cols: pixels.tileCols, split: pixels.isSplit,
                                      embeddings: embeddings)
            cache.put(key, image)
            prepared.append(image)
        }
        return PreparedImages(images: prepared, hits: hits, misses: images.count - hits)
    }
}

/// How many tiles the model's processor splits an image into: Hugging Face's `preprocessor_config.json`
/// (`do_image_splitting`, `size.longest_edge / max_image_size.longest_edge` tiles per side), or an mmproj's
/// `clip.vision.preproc_image_size` (llama.cpp's longest edge); SmolVLM's default is 4 tiles per side.
struct Tiling {
    let maxTiles: Int

    init(projector: any ModelWeights, directory: String, tile: Int) throws(WorkerFailure) {
        var perSide = 4
        if let gguf = (projector as? GGUFWeights)?.file {
            if let longest = gguf.metadata["clip.vision.preproc_image_size"]?.intValue, longest >= tile {
                perSide = longest / tile
            }
        } else if let data = (FileBytes.read(directory + "/preprocessor_config.json").map { Data($0) }) {
            guard let config = (try? JSONSerialization.jsonObject(with: data)) as? [String: Any] else {
                throw WorkerFailure(.badRequest, "\(directory)/preprocessor_config.json is not a JSON object")
            }
            if config["do_image_splitting"] as? Bool == false {
                maxTiles = 0
                return
            }
            let longest = (config["size"] as? [String: Any])?["longest_edge"] as? Int
            let side = (config["max_image_size"] as? [String: Any])?["longest_edge"] as? Int ?? tile
            if let longest, side > 0, longest >= side { perSide = longest / side }
        }
        maxTiles = perSide * perSide
    }
}

/// The original server's resize cache, one step further: what it keeps is the image's encoder output and tile
/// layout, so a repeated image (the same picture in every turn of a conversation) costs neither decoding nor encoding.
/// LRU with a time to live, keyed by the SHA-256 of the image bytes (the preprocessing settings are fixed for the
/// worker's life, so they need not be part of the key).
final class PreparedImageCache: @unchecked Sendable {
    struct Key: Hashable {
        let digest: [UInt8]
        init(_ bytes: [UInt8]) {
            var out = [UInt8](repeating: 0, count: 32)
            bytes.withUnsafeBytes { mh_sha256($0.baseAddress, $0.count, &out) }
            digest = out
        }
    }

    private struct Entry {
        let image: PreparedImage
        let stored: Date
        var used: UInt64
    }

    let capacity: Int
    let ttlSeconds: Double
    private var entries: [Key: Entry] = [:]
    private var clock: UInt64 = 0

    init(capacity: Int, ttlSeconds: Double) {
        self.capacity = max(0, capacity)
        self.ttlSeconds = ttlSeconds
    }

    func get(_ key: Key, now: Date = Date()) -> PreparedImage? {
        guard var entry = entries[key] else { return nil }
        if now.timeIntervalSince(entry.stored) > ttlSeconds {
            entries[key] = nil
            return nil
        }
        clock += 1
        entry.used = clock
        entries[key] = entry
        return entry.image
    }

    func put(_ key: Key, _ image: PreparedImage, now: Date = Date()) {
        guard capacity > 0 else { return }
        entries = entries.filter { now.timeIntervalSince($0.value.stored) <= ttlSeconds }
        while entries.count >= capacity, let oldest = entries.min(by: { $0.value.used < $1.value.used })?.key {
            entries[oldest] = nil
        }
        clock += 1
        entries[key] = Entry(image: image, stored: now, used: clock)
    }
}

/// Where a prompt's images go: each maximal run of image tokens is one tile, filled in prompt order by the images'
/// embeddings (tiles in the order the encoder produced them).
struct PromptImages {
    /// Runs of image positions: `start..<end` in the prompt, and the first embedding row for `start`.
    private let runs: [(start: Int, end: Int, row: Int)]
    private let embeddings: [Float]
    let embeddingLength: Int
    let cacheHits: Int
    let cacheMisses: Int

    /// Prompt positions filled by images.
    var positions: Int { runs.reduce(0) { $0 + $1.end - $1.start } }

    init(prompt: [Int32], imageToken: Int32, prepared: [PreparedImage], embeddingLength: Int, hits: Int,
         misses: Int) throws(WorkerFailure) {
        var runs: [(start: Int, end: Int, row: Int)] = []
        var row = 0
        var index = 0
        while index < prompt.count {
            guard prompt[index] == imageToken else {
                index += 1
                continue
            }
            let start = index
            while index < prompt.count && prompt[index] == imageToken { index += 1 }
            runs.append((start, index, row))
            row += index - start
        }
        let rows = prepared.reduce(0) { $0 + $1.embeddings.count } / max(1, embeddingLength)
        guard row == rows else {
            throw WorkerFailure(.workerFailure, "the prompt has \(row) image positions for \(rows) image embeddings; "
                + "the template or tokenizer does not keep the image marks intact")
        }
        self.runs = runs
        embeddings = prepared.flatMap(\.embeddings)
        self.embeddingLength = embeddingLength
        cacheHits = hits
        cacheMisses = misses
    }

    /// The prefill piece starting at `start` and ending by `limit`: up to the next image run when `start` is text
    /// (embeddings nil), or within the run when it is an image position (its embedding rows).
    func piece(from start: Int, limit: Int) -> (end: Int, embeddings: [Float]?) {
        for run in runs {
            if start < run.start { return (min(limit, run.start), nil) }
            if start < run.end {
                let end = min(limit, run.end)
                let first = (run.row + start - run.start) * embeddingLength
                return (end, Array(embeddings[first..<(first + (end - start) * embeddingLength)]))
            }
        }
        return (limit, nil)
    }
}
