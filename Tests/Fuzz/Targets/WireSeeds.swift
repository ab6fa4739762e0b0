import Sampling
import WorkerProtocol

/// Seed inputs for the wire targets, made from real messages by the real encoders (`modelhost-fuzz --write-seeds`
/// writes them; the Python seed script cannot, as the payload format is this codebase's own).
public enum WireSeeds {
    public static var requests: [WorkerRequest] {
        var sampling = SamplingParameters()
        sampling.temperature = 0.7
        sampling.topK = 40
        sampling.logitBias = [15: -2, 7: 1.5]
        sampling.seed = 42
        return [
            .load(LoadRequest(modelPath: "/models/SmolLM2-135M-Instruct.Q4_1.gguf", family: "llama", threads: 2,
                              pluginPin: "modelhost.llama", pluginPaths: ["/opt/plugins/libMHLlama.so"],
                              projectorPath: "/models/mmproj.gguf")),
            .generate(GenerateRequest(input: .chat(messagesJSON: #"[{"role":"user","content":"Hi"}]"#), maxTokens: 64,
                                      stopTokens: [2], stopStrings: ["\n\n", "User:"], sampling: sampling, logprobs: 3,
                                      echo: true, format: .jsonSchema(#"{"type":"object"}"#), images: [[0xFF, 0xD8, 0xFF]])),
            .generate(GenerateRequest(input: .text("Once upon a time"), maxTokens: 16, format: .jsonObject)),
            .generate(GenerateRequest(promptTokens: [1, 2, 3, 40000], maxTokens: GenerateRequest.unlimited)),
            .cancel, .shutdown, .ping,
            .tokenizer(.tokenize(text: "Hello, <|im_end|> wörld", addSpecial: true, parseSpecial: true)),
            .tokenizer(.detokenize(tokens: [19556, 28, 905])),
            .embed(EmbedRequest(inputs: [.text("A cat sits on the mat."), .tokens([101, 7592, 102])], truncate: true)),
        ]
    }

    public static var events: [WorkerEvent] {
        let probability = TokenProbability(token: 42, bytes: Array(" Paris".utf8), logprob: -0.25)
        let position = PositionLogprobs(chosen: probability, top: [probability, TokenProbability(token: 7, bytes: [0xE6, 0x9D], logprob: -3)])
        return [
            .loadProgress(0.5),
            .loaded(LoadedInfo(pluginID: "modelhost.llama", pluginVersion: "1.0.0", vocabularySize: 49152,
                               contextLength: 8192, eosTokenID: 2, hasTokenizer: true, acceptsImages: false)),
            .pong(WorkerLoad(running: 2, waiting: 1, kvPositionsUsed: 900, kvPositionsCapacity: 40960,
                             kvPositionsCached: 300)),
            .accepted(promptTokens: 12),
            .prompt(PromptEcho(text: "Hello", logprobs: [position])),
            .delta(OutputDelta(tokens: [42, 43], text: " Paris.", logprobs: [position, position])),
            .done(Completion(finishReason: .length, promptTokens: 12, completionTokens: 64, cachedTokens: 8)),
            .error(WorkerFailure(.badRequest, "prompt of 9000 tokens exceeds the context")),
            .tokenizerReply(TokenizerReply(tokens: [19556, 28], pieces: [Array("Hello".utf8), [0xE2]], text: "Hello\u{FFFD}")),
            .loaded(LoadedInfo(pluginID: "org.modelhost.bert", pluginVersion: "0.1.0", vocabularySize: 30522,
                               contextLength: 256, eosTokenID: -1, hasTokenizer: true, embeddingLength: 384)),
            .embedding(Embedding(index: 1, promptTokens: 3, vector: [0.25, -0.5, 1e-7, 0])),
        ]
    }

    /// File name → contents, per target.
    public static func seeds() -> [String: [(name: String, bytes: [UInt8])]] {
        let frames = requests.map { $0.encoded() } + events.map { $0.encoded() }
        var messages: [(String, [UInt8])] = []
        for (index, frame) in frames.enumerated() {
            messages.append(("seed-\(index)", littleEndian(frame.type) + frame.payload))
        }
        // Ring seeds: records as RingChannel writes them (header, payload, padding to 8 bytes), several per ring,
        // one set starting near the end so that it wraps (byte 0 is the start / 16), read with `receive` and with
        // `withNextFrame`. The check field is filled in by the target.
        var ring: [(String, [UInt8])] = []
        for (index, start) in [0, 250].enumerated() {
            var contents: [UInt8] = []
            for (id, frame) in events.map({ $0.encoded() }).enumerated() {
                let length = UInt32(frame.payload.count)
                contents += littleEndian(frame.type) + littleEndian(UInt32(0)) + littleEndian(UInt64(id + 1))
                contents += littleEndian(length) + littleEndian(UInt32(0)) + littleEndian(UInt64(length))
                contents += frame.payload
                contents += [UInt8](repeating: 0, count: (8 - contents.count % 8) % 8)
            }
            ring.append(("seed-\(index)", [UInt8(start)] + [UInt8(index)] + [UInt8](repeating: 0, count: 8) + contents))
        }
        return ["messages": messages, "ring": ring]
    }

    static func littleEndian<T: FixedWidthInteger>(_ value: T) -> [UInt8] {
        withUnsafeBytes(of: value.littleEndian) { Array($0) }
    }
}
