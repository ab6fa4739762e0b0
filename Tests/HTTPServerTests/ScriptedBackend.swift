import Foundation
import HTTPServer
import Synchronization
import enum WorkerProtocol.TokenizerRequest
import struct WorkerProtocol.TokenizerReply
import struct WorkerProtocol.EmbedRequest
import struct WorkerProtocol.Embedding

/// Test double for `InferenceBackend`: plays a script of events per request and records what happened (requests
/// received, streams cancelled). It exists only in this test target; the product never produces canned text.
final class ScriptedBackend: InferenceBackend, @unchecked Sendable {
    enum Step: Sendable {
        case event(GenerationEvent)
        case sleep(Duration)
        case fail(BackendError)
        /// Never finishes on its own (only cancellation ends it).
        case hang
    }

    private let lock = NSLock()
    private var _requests: [GenerationRequest] = []
    private var _cancelled = 0
    private var _finishedNormally = 0
    var models: [ModelInfo]
    var statusValue = BackendStatus(models: [ModelStatus(id: "tiny", state: "ready", pid: 42, rssBytes: 1 << 20)],
                                    workerRestarts: 0, ready: true)
    var loadError: BackendError?
    var generateError: BackendError?
    let script: @Sendable (GenerationRequest) -> [Step]

    init(models: [ModelInfo] = [ModelInfo(id: "tiny", contextLength: 2048),
                                ModelInfo(id: "org/vision", contextLength: 4096, inputModalities: ["text", "image"])],
         script: @escaping @Sendable (GenerationRequest) -> [Step] = ScriptedBackend.hello)
    {
        self.models = models
        self.script = script
    }

    /// "Hello" then " world" for every choice, stop, usage 5/2.
    static let hello: @Sendable (GenerationRequest) -> [Step] = { request in
        var steps: [Step] = []
        for index in 0..<request.n {
            let logprobs = request.logprobs.map { k in
                [TokenLogprob(token: "Hello", logprob: -0.5, top: Array(repeating: TopLogprob(token: "Hi", logprob: -1.5), count: k))]
            }
            steps.append(.event(.text("Hello", index: index, logprobs: logprobs)))
            steps.append(.event(.text(" world", index: index, logprobs: logprobs.map { _ in
                [TokenLogprob(token: " world", logprob: -0.25)] })))
            steps.append(.event(.finished(index: index, reason: .stop)))
        }
        steps.append(.event(.usage(Usage(prompt: 5, completion: 2 * request.n, cachedPrompt: 3))))
        return steps
    }

    var requests: [GenerationRequest] { lock.withLock { _requests } }
    var cancelled: Int { lock.withLock { _cancelled } }
    var finishedNormally: Int { lock.withLock { _finishedNormally } }

    func listModels() async -> [ModelInfo] { models }

    func generate(_ request: GenerationRequest) async throws(BackendError)
        -> AsyncThrowingStream<GenerationEvent, any Error>
    {
        if let generateError { throw generateError }
        lock.withLock { _requests.append(request) }
        let steps = script(request)
        return AsyncThrowingStream { continuation in
            let task = Task {
                for step in steps {
                    switch step {
                    case let .event(event): continuation.yield(event)
                    case let .sleep(duration): try? await Task.sleep(for: duration)
                    case let .fail(error):
                        continuation.finish(throwing: error)
                        return
                    case .hang:
                        while !Task.isCancelled { try? await Task.sleep(for: .milliseconds(10)) }
                        return
                    }
                    if Task.isCancelled { return }
                }
                continuation.finish()
            }
            continuation.onTermination = { [weak self] reason in
                task.cancel()
                guard let self else { return }
                self.lock.withLock {
                    if case .cancelled = reason { self._cancelled += 1 } else { self._finishedNormally += 1 }
                }
            }
        }
    }

    func load(model: String) async throws(BackendError) {
        if let loadError { throw loadError }
        guard models.contains(where: { $0.id == model }) else { throw .modelNotFound(model) }
    }

    func unload(model: String) async throws(BackendError) {
        guard models.contains(where: { $0.id == model }) else { throw .modelNotFound(model) }
    }

    func status() async -> BackendStatus { statusValue }

    /// A byte tokenizer (one id per UTF-8 byte, ids 0-255) recording what it was asked: enough for the HTTP layer's
    /// fields, shapes and errors; the real tokenizer behind these routes is tested end to end in ServingTests.
    private(set) var tokenizerCalls: [(model: String, request: TokenizerRequest)] = []
    /// Embeddings are tested end to end with the real encoder (EmbeddingServingTests); this double serves none.
    func embed(model: String, _ request: EmbedRequest, timeout: Double?) async throws(BackendError) -> [Embedding] {
        throw .internal("ScriptedBackend plays no embedding model")
    }

    func tokenizer(model: String, _ request: TokenizerRequest, timeout: Double?) async throws(BackendError)
        -> TokenizerReply
    {
        guard models.contains(where: { $0.id == model }) else { throw .modelNotFound(model) }
        lock.withLock { tokenizerCalls.append((model, request)) }
        switch request {
        case .tokenize(let text, _, _):
            let bytes = Array(text.utf8)
            return TokenizerReply(tokens: bytes.map(Int32.init), pieces: bytes.map { [$0] }, text: text)
        case .detokenize(let tokens):
            guard tokens.allSatisfy({ $0 < 256 }) else { throw .badRequest(param: "tokens", message: "not a byte") }
            let bytes = tokens.map { UInt8($0) }
            return TokenizerReply(tokens: tokens, pieces: bytes.map { [$0] }, text: String(decoding: bytes, as: UTF8.self))
        }
    }
}

/// Starts a server over a backend on ephemeral ports and stops it afterwards.
func withServer(
    _ backend: ScriptedBackend, options: ServerOptions = ServerOptions(),
    _ body: (ModelHostServer.Running) async throws -> Void
) async throws {
    let server = ModelHostServer(backend: backend, options: options)
    let running = try await server.start()
    do {
        try await body(running)
    } catch {
        await running.stop()
        throw error
    }
    await running.stop()
}
