import Sampling
import Supervisor
import WorkerProtocol
import XCTest

/// The wire format both sides share: every message survives a round trip, and malformed payloads are rejected with
/// a message instead of being misread.
final class WorkerProtocolTests: XCTestCase {
    func testRequestsRoundTrip() throws {
        let requests: [WorkerRequest] = [
            .load(LoadRequest(modelPath: "/m/ü.gguf", family: "llama", threads: 4, pluginPin: "org.x",
                              pluginPaths: ["/a", "/b"], maxSequences: 8)),
            .generate(GenerateRequest(promptTokens: [1, -5, 70000], maxTokens: 12, stopTokens: [2, 3],
                                      sampling: .temperature(0.7, seed: 42))),
            .generate(GenerateRequest(promptTokens: [9], maxTokens: 0)),
            .generate(GenerateRequest(
                input: .chat(messagesJSON: #"[{"role":"user","content":"hé"}]"#), maxTokens: GenerateRequest.unlimited,
                stopTokens: [7], stopStrings: ["\n\n", "END"], sampling: {
                    var s = SamplingParameters.temperature(0.9, seed: 7)
                    s.topK = 40; s.topP = 0.9; s.minP = 0.05; s.repetitionPenalty = 1.1
                    s.presencePenalty = 0.5; s.frequencyPenalty = -0.5; s.logitBias = [5: -100, 9: 2.5]
                    return s
                }(), logprobs: 3, echo: true, format: .jsonSchema(#"{"type":"object"}"#))),
            .generate(GenerateRequest(input: .text("Once upon"), maxTokens: 5, format: .jsonObject)),
            .load(LoadRequest(modelPath: "/m/vlm.gguf", projectorPath: "/m/mmproj-vlm.gguf",
                              vision: VisionSettings(maxDimension: 768, maxPixels: 1234, cacheEntries: 3,
                                                     cacheTTLSeconds: 9))),
            .generate(GenerateRequest(
                input: .chat(messagesJSON: #"[{"role":"user","content":[{"type":"image"}]}]"#), maxTokens: 3,
                images: [[0x89, 0x50, 0x4E, 0x47], [], Array(repeating: 7, count: 100_000)])),
            .generate(GenerateRequest(
                input: .chat(messagesJSON: #"[{"role":"user","content":"weather?"}]"#), maxTokens: 64,
                tools: ToolRequest(toolsJSON: #"[{"type":"function","function":{"name":"f"}}]"#,
                                   functions: [ToolRequest.Function(name: "f", parametersJSON: #"{"type":"object"}"#),
                                               ToolRequest.Function(name: "g_ü", parametersJSON: "{}")],
                                   choice: .function("g_ü"), parallel: false))),
            .generate(GenerateRequest(input: .chat(messagesJSON: "[]"), maxTokens: 1,
                                      tools: ToolRequest(toolsJSON: "[]", functions: [], choice: .required))),
            .cancel, .shutdown, .ping,
            .tokenizer(.tokenize(text: "Grüße <|im_end|>", addSpecial: true, parseSpecial: false)),
            .tokenizer(.tokenize(text: "", addSpecial: false, parseSpecial: true)),
            .tokenizer(.detokenize(tokens: [0, 2, 49151])), .tokenizer(.detokenize(tokens: [])),
        ]
        for request in requests {
            let (type, payload) = request.encoded()
            XCTAssertEqual(try WorkerRequest.decode(type: type, payload: payload), request)
        }
    }

    func testEventsRoundTrip() throws {
        let events: [WorkerEvent] = [
            .loaded(LoadedInfo(pluginID: "p", pluginVersion: "1.0", vocabularySize: 49152, contextLength: 8192,
                               eosTokenID: -1)),
            .accepted(promptTokens: 12),
            .delta(OutputDelta(tokens: [])), .delta(OutputDelta(tokens: [5, 6, 7], text: "a€b")),
            .delta(OutputDelta(tokens: [5], text: "x", logprobs: [PositionLogprobs(
                chosen: TokenProbability(token: 5, bytes: [0xE2, 0x82], logprob: -0.25),
                top: [TokenProbability(token: 6, bytes: [0x41], logprob: -1.5)])])),
            .delta(OutputDelta(tokens: [1, 2], text: "ok", toolCalls: [
                ToolCallDelta(index: 0, id: "call_1", name: "get_weather", arguments: ""),
                ToolCallDelta(index: 0, arguments: #"{"city": "Zürich"}"#), ToolCallDelta(index: 1, name: "n")])),
            .done(Completion(finishReason: .toolCalls, promptTokens: 3, completionTokens: 9)),
            .prompt(PromptEcho(text: "hi", logprobs: [PositionLogprobs(
                chosen: TokenProbability(token: 1, bytes: [0x68], logprob: -3), top: [])])),
            .done(Completion(finishReason: .cancelled, promptTokens: 3, completionTokens: 9, cachedTokens: 2)),
            .done(Completion(finishReason: .stop, promptTokens: 300, completionTokens: 1, imageTokens: 208,
                             imageCacheHits: 1, imageCacheMisses: 2)),
            .loaded(LoadedInfo(pluginID: "p", pluginVersion: "1", vocabularySize: 5, contextLength: 6, eosTokenID: 2,
                               hasTokenizer: true, acceptsImages: true)),
            .error(WorkerFailure(.overloaded, "busy")),
            .loadProgress(0), .loadProgress(0.375), .loadProgress(1), .pong(WorkerLoad()),
            .pong(WorkerLoad(running: 5, waiting: 7, kvPositionsUsed: 1 << 40, kvPositionsCapacity: .max, kvPositionsCached: 3)),
            .tokenizerReply(TokenizerReply(tokens: [19556, 28], pieces: [Array("Hello".utf8), [0xE2, 0x82]], text: "Hello€")),
            .tokenizerReply(TokenizerReply(tokens: [], pieces: [], text: "")),
        ]
        for event in events {
            let (type, payload) = event.encoded()
            XCTAssertEqual(try WorkerEvent.decode(type: type, payload: payload), event)
        }
        XCTAssertTrue(WorkerEvent.done(Completion(finishReason: .stop, promptTokens: 1, completionTokens: 1)).isTerminal)
        XCTAssertFalse(WorkerEvent.delta(OutputDelta(tokens: [1])).isTerminal)
        XCTAssertTrue(WorkerEvent.tokenizerReply(TokenizerReply(tokens: [], pieces: [], text: "")).isTerminal)
    }

    func testMalformedPayloadsAreRejectedWithAMessage() {
        let (type, payload) = WorkerRequest.generate(GenerateRequest(promptTokens: [1, 2, 3], maxTokens: 4)).encoded()
        // Every truncation fails cleanly.
        for length in 0..<payload.count {
            XCTAssertThrowsError(try WorkerRequest.decode(type: type, payload: Array(payload.prefix(length))))
        }
        XCTAssertThrowsError(try WorkerRequest.decode(type: type, payload: payload + [0])) { error in
            XCTAssertTrue("\(error)".contains("trailing"), "\(error)")
        }
        // A count that claims more tokens than the payload holds.
        var lying = payload
        lying[1] = 0xFF
        lying[2] = 0xFF
        XCTAssertThrowsError(try WorkerRequest.decode(type: type, payload: lying))
        XCTAssertThrowsError(try WorkerRequest.decode(type: 999, payload: [])) { error in
            XCTAssertTrue("\(error)".contains("unknown"), "\(error)")
        }
        XCTAssertThrowsError(try WorkerRequest.decode(type: MessageType.delta.rawValue, payload: [0, 0, 0, 0]))
        XCTAssertThrowsError(try WorkerEvent.decode(type: MessageType.generate.rawValue, payload: payload))
        XCTAssertThrowsError(try WorkerEvent.decode(type: MessageType.done.rawValue, payload: [9, 0, 0, 0, 0, 0, 0, 0, 0]))
        XCTAssertThrowsError(try WorkerRequest.decode(type: MessageType.cancel.rawValue, payload: [1]))
        for bad: Float in [-0.5, 1.5, .nan] {
            let (type, payload) = WorkerEvent.loadProgress(bad).encoded()
            XCTAssertThrowsError(try WorkerEvent.decode(type: type, payload: payload)) { error in
                XCTAssertTrue("\(error)".contains("outside 0...1"), "\(error)")
            }
        }
    }

    func testErrorCategoryNames() {
        for category in [ErrorCategory.badRequest, .overloaded, .workerFailure, .timeout, .cancelled] {
            XCTAssertEqual(ErrorCategory(name: category.description), category)
        }
        XCTAssertNil(ErrorCategory(name: "nope"))
    }
}

/// The per-model state machine allows exactly the moves of the lifecycle diagram.
final class ModelLifecycleTests: XCTestCase {
    func testTheNormalPath() throws {
        var state = ModelState.absent
        state = try state.applying(.startLoading)
        XCTAssertEqual(state, .loading)
        state = try state.applying(.loaded)
        XCTAssertEqual(state, .ready)
        state = try state.applying(.requestStarted)
        state = try state.applying(.requestStarted)
        XCTAssertEqual(state, .busy(inFlight: 2))
        state = try state.applying(.requestEnded)
        XCTAssertEqual(state, .busy(inFlight: 1))
        state = try state.applying(.requestEnded)
        XCTAssertEqual(state, .ready)
        state = try state.applying(.startUnloading)
        XCTAssertEqual(state, .unloading)
        XCTAssertEqual(try state.applying(.workerGone), .absent)
    }

    func testAWorkerCanDieInEveryLiveState() throws {
        for state in [ModelState.loading, .ready, .busy(inFlight: 3), .unloading] {
            XCTAssertEqual(try state.applying(.workerGone), .absent, "\(state)")
        }
    }

    func testImpossibleMovesAreRefused() {
        let refused: [(ModelState, ModelEvent)] = [
            (.absent, .requestStarted), (.absent, .loaded), (.absent, .workerGone), (.loading, .requestStarted),
            (.ready, .requestEnded), (.unloading, .requestStarted), (.unloading, .startLoading), (.ready, .startLoading),
        ]
        for (state, event) in refused {
            XCTAssertThrowsError(try state.applying(event), "\(event) in \(state)")
        }
    }
}
