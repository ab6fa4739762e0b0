import Foundation
import PluginHost
import Tokenizer
import WorkerProtocol

/// The loop of an embedding model's worker: takes `embed` requests from the inbox, tokenizes their inputs, and runs
/// the encoder over batches that mix the inputs of every waiting request, so concurrent clients share each call.
///
/// Batches are filled round-robin across requests (one input from each in arrival order, again and again) up to a
/// token budget, so a client with 2,000 inputs does not hold back one with a single input for the whole of its run.
/// The budget also bounds how long one call runs; cancellations and new requests are taken between calls.
final class EncodeScheduler {
    /// One request's inputs, tokenized, and how far it has got.
    struct Pending {
        let id: UInt64
        let inputs: [[Int32]]
        var next = 0
        var done = 0
        var promptTokens = 0
    }

    private let model: EncoderModelHandle
    private let tokenizer: (any TextTokenizer)?
    private let events: EventSink
    private let inbox: Inbox
    private let load: LoadBoard
    /// The most tokens one encode call carries (the plugin's limit, if lower).
    private let batchTokens: Int
    private var requests: [Pending] = []

    init(model: EncoderModelHandle, tokenizer: (any TextTokenizer)?, events: EventSink, inbox: Inbox, load: LoadBoard,
         batchTokens: Int = 4096) {
        self.load = load
        self.model = model
        self.tokenizer = tokenizer
        self.events = events
        self.inbox = inbox
        self.batchTokens = model.maxBatchTokens > 0 ? min(batchTokens, model.maxBatchTokens) : batchTokens
    }

    /// Runs until shutdown or until the orchestrator is gone; returns why it stopped.
    func run() -> String {
        while true {
            publishLoad()
            if let reason = absorb(inbox.drain(wait: requests.isEmpty)) {
                for request in requests {
                    events.send(.error(WorkerFailure(.cancelled, "the worker is stopping: \(reason)")), requestID: request.id)
                }
                return reason
            }
            publishLoad()
            if !requests.isEmpty { step() }
        }
    }

    /// An encoder keeps no KV cache: its load is the requests it is working through.
    private func publishLoad() {
        load.publish(WorkerLoad(running: UInt32(clamping: requests.count)))
    }

    private func absorb(_ items: [InboxItem]) -> String? {
        for item in items {
            switch item {
            case .embed(let id, let request):
                guard !requests.contains(where: { $0.id == id }) else {
                    events.send(.error(WorkerFailure(.badRequest, "request id \(id) is already in flight")), requestID: id)
                    continue
                }
                do throws(WorkerFailure) {
                    let inputs = try prepare(request)
                    events.send(.accepted(promptTokens: UInt32(clamping: inputs.reduce(0) { $0 + $1.count })),
                                requestID: id)
                    requests.append(Pending(id: id, inputs: inputs))
                } catch {
                    events.send(.error(error), requestID: id)
                }
            case .generate(let id, _), .imagesReady(let id, _, _):
                events.send(.error(WorkerFailure(.badRequest, "this is an embedding model (a text encoder); it "
                    + "answers /v1/embeddings, not text generation")), requestID: id)
            case .cancel(let id):
                if let index = requests.firstIndex(where: { $0.id == id }) {
                    let request = requests.remove(at: index)
                    events.send(.done(Completion(finishReason: .cancelled, promptTokens: UInt32(request.promptTokens),
                                                 completionTokens: 0)), requestID: id)
                }
            case .stop(let reason):
                return reason
            }
        }
        return nil
    }

    /// Token ids for every input, checked against the model: texts through the model's tokenizer with its special
    /// tokens, ids as they are; an input over the context is cut (keeping its closing special token) only when the
    /// request asks, else refused naming the input.
    func prepare(_ request: EmbedRequest) throws(WorkerFailure) -> [[Int32]] {
        let context = model.contextLength
        var result: [[Int32]] = []
        result.reserveCapacity(request.inputs.count)
        for (index, input) in request.inputs.enumerated() {
            var ids: [Int32]
            var closing: Int32?
            switch input {
            case .text(let text):
                guard let tokenizer else {
                    throw WorkerFailure(.badRequest, "input[\(index)]: this model has no tokenizer (its files carry "
                        + "none); send token ids")
                }
                ids = tokenizer.encode(text, addSpecial: true, parseSpecial: true)
                if let eos = tokenizer.eosToken, ids.count > 1, ids.last == eos { closing = eos }
            case .tokens(let tokens):
                if let bad = tokens.firstIndex(where: { $0 < 0 || Int($0) >= model.vocabularySize }) {
                    throw WorkerFailure(.badRequest, "input[\(index)][\(bad)] = \(tokens[bad]) is not a token id of "
                        + "this model (its vocabulary is 0..<\(model.vocabularySize))")
                }
                ids = tokens
            }
            guard !ids.isEmpty else {
                throw WorkerFailure(.badRequest, "input[\(index)] has no tokens; send at least one token or character")
            }
            if ids.count > context {
                guard request.truncate else {
                    throw WorkerFailure(.badRequest, "input[\(index)] has \(ids.count) tokens, more than the model's "
                        + "context of \(context); shorten it, or send \"truncate\": true to cut it to fit")
                }
                if let closing {
                    ids = Array(ids.prefix(context - 1)) + [closing]
                } else {
                    ids = Array(ids.prefix(context))
                }
            }
            result.append(ids)
        }
        return result
    }

    /// One encoder call over a round-robin batch; each finished input's vector goes out at once.
    private func step() {
        var batch: [(request: Int, input: Int)] = []
        var tokens = 0
        var progressed = true
        var cursor = requests.map(\.next)
        while progressed {
            progressed = false
            for (r, request) in requests.enumerated() where cursor[r] < request.inputs.count {
                let length = request.inputs[cursor[r]].count
                guard batch.isEmpty || tokens + length <= batchTokens else { continue }
                batch.append((r, cursor[r]))
                tokens += length
                cursor[r] += 1
                progressed = true
            }
        }
        for r in requests.indices { requests[r].next = cursor[r] }
        let vectors: [Float]
        do {
            vectors = try model.encode(batch.map { requests[$0.request].inputs[$0.input] })
        } catch {
            // A failed call fails every request that had an input in it (their other inputs would be wasted work).
            let failed = Set(batch.map(\.request))
            for r in failed.sorted() {
                events.send(.error(WorkerFailure(.workerFailure, "the encoder failed: \(error.message)")),
                            requestID: requests[r].id)
            }
            requests = requests.enumerated().filter { !failed.contains($0.offset) }.map(\.element)
            return
        }
        let n = model.embeddingLength
        for (position, item) in batch.enumerated() {
            let tokenCount = requests[item.request].inputs[item.input].count
            let vector = Array(vectors[(position * n)..<((position + 1) * n)])
            events.send(.embedding(Embedding(index: UInt32(item.input), promptTokens: UInt32(tokenCount), vector: vector)),
                        requestID: requests[item.request].id)
            requests[item.request].done += 1
            requests[item.request].promptTokens += tokenCount
        }
        for request in requests where request.done == request.inputs.count {
            events.send(.done(Completion(finishReason: .stop, promptTokens: UInt32(clamping: request.promptTokens),
                                         completionTokens: 0)), requestID: request.id)
        }
        requests.removeAll { $0.done == $0.inputs.count }
    }
}
