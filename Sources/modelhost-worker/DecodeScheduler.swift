import CSupport
import Foundation
import PluginHost
import WorkerProtocol

/// The worker's generation loop: admits requests up to `maxSequences`, advances every active sequence with ONE
/// forward call per step (prefills and single-token decodes share the batch), samples, streams tokens back in
/// batched frames and ends each request with `done` or `error`. Cancels take effect within one step: a cancel that
/// arrives during a forward call fires the step's cancellation token, the plugin abandons the call (all or nothing),
/// and the survivors simply run the step again.
///
/// The engine core (tokenizer, templates, full sampling, prefix cache) will replace this type; the process around it
/// (reader thread, event sink, model loading) stays.
final class DecodeScheduler: @unchecked Sendable {
    private struct Active {
        let id: UInt64
        let request: GenerateRequest
        let sequence: SequenceHandle
        /// The positions the sequence was created with: prompt plus budget, at most the model's context.
        let capacity: Int
        var sampler: Sampler
        /// What the next forward call feeds: the prompt first, then the last sampled token.
        var input: [Int32]
        var generated: UInt32 = 0
        var unsent: [Int32] = []
        var lastFlush: UInt64
    }

    /// Plugin status codes this loop reacts to (MH_ERR_OUT_OF_MEMORY and MH_ERR_CANCELLED of the ABI header).
    private static let outOfMemory: Int32 = -4
    private static let cancelled: Int32 = -5

    private let model: DecoderModelHandle
    private let host: HostServices
    private let events: EventSink
    private let inbox: Inbox
    private let maxSequences: Int
    /// Tokens after a sequence's first are held back at most this long (or until 64 are pending) to share a frame.
    private let flushIntervalNanoseconds: UInt64
    private var active: [Active] = []
    private var waiting: [(id: UInt64, request: GenerateRequest)] = []

    /// The step in flight, shared with the reader thread's cancel path.
    private let stepLock = NSLock()
    private var stepToken: UInt64 = 0
    private var stepIDs: Set<UInt64> = []
    private var nextToken: UInt64 = 1

    init(model: DecoderModelHandle, host: HostServices, events: EventSink, inbox: Inbox, maxSequences: Int,
         flushIntervalNanoseconds: UInt64 = 2_000_000) {
        self.model = model
        self.host = host
        self.events = events
        self.inbox = inbox
        self.maxSequences = max(1, maxSequences)
        self.flushIntervalNanoseconds = flushIntervalNanoseconds
    }

    /// Called on the reader thread: interrupts the current forward call if it advances `requestID`.
    func interrupt(requestID: UInt64) {
        stepLock.lock()
        defer { stepLock.unlock() }
        if stepIDs.contains(requestID) { host.cancel(stepToken) }
    }

    /// Runs until a stop item arrives; returns its reason.
    func run() -> String {
        while true {
            if let reason = absorb(inbox.drain(wait: active.isEmpty && waiting.isEmpty)) {
                finishAll(reason: reason)
                return reason
            }
            admit()
            if !active.isEmpty { step() }
        }
    }

    // MARK: Requests in

    private func absorb(_ items: [InboxItem]) -> String? {
        for item in items {
            switch item {
            case .generate(let id, let request):
                if active.contains(where: { $0.id == id }) || waiting.contains(where: { $0.id == id }) {
                    events.send(.error(WorkerFailure(.badRequest, "request id \(id) is already in flight")),
                                requestID: id)
                } else {
                    waiting.append((id, request))
                }
            case .cancel(let id):
                if let index = active.firstIndex(where: { $0.id == id }) {
                    finish(at: index, .cancelled)
                } else if let index = waiting.firstIndex(where: { $0.id == id }) {
                    let request = waiting.remove(at: index).request
                    events.send(.done(Completion(finishReason: .cancelled,
                                                 promptTokens: UInt32(request.promptTokens.count),
                                                 completionTokens: 0)), requestID: id)
                }
            case .stop(let reason):
                return reason
            }
        }
        return nil
    }

    private func admit() {
        while active.count < maxSequences, !waiting.isEmpty {
            let (id, request) = waiting.removeFirst()
            if let problem = validate(request) {
                events.send(.error(WorkerFailure(.badRequest, problem)), requestID: id)
                continue
            }
            if request.maxTokens == 0 {
                events.send(.done(Completion(finishReason: .length, promptTokens: UInt32(request.promptTokens.count),
                                             completionTokens: 0)), requestID: id)
                continue
            }
            let capacity = min(model.contextLength, request.promptTokens.count + Int(request.maxTokens))
            do {
                let sequence = try model.makeSequence(capacity: capacity)
                active.append(Active(id: id, request: request, sequence: sequence, capacity: capacity,
                                     sampler: Sampler(request.sampling),
                                     input: request.promptTokens, lastFlush: mh_monotonic_ns()))
            } catch {
                let category: ErrorCategory = error.code == Self.outOfMemory ? .overloaded : .workerFailure
                events.send(.error(WorkerFailure(category, "cannot create a sequence: \(error)")), requestID: id)
            }
        }
    }

    private func validate(_ request: GenerateRequest) -> String? {
        let vocabulary = model.vocabularySize
        if request.promptTokens.isEmpty { return "the prompt has no tokens" }
        if request.promptTokens.count >= model.contextLength {
            return "the prompt has \(request.promptTokens.count) tokens; this model's context holds "
                + "\(model.contextLength)"
        }
        if let bad = request.promptTokens.first(where: { $0 < 0 || Int($0) >= vocabulary }) {
            return "prompt token \(bad) is outside this model's vocabulary 0..<\(vocabulary)"
        }
        if case .temperature(let t, _) = request.sampling, !(t >= 0 && t.isFinite) {
            return "temperature must be a finite number >= 0, got \(t)"
        }
        return nil
    }

    // MARK: One decode step

    private func step() {
        let entries = active.map { DecoderModelHandle.Entry(sequence: $0.sequence, input: .tokens($0.input)) }
        let lengths = active.map { $0.sequence.length }
        let token = beginStep()
        defer { endStep(token) }
        let logits: [[Float]]
        do {
            logits = try model.forward(entries, cancelToken: token)
        } catch where error.code == Self.cancelled {
            // Abandoned for a cancel: nothing advanced (all or nothing); the cancel is in the inbox for the next turn.
            for (index, item) in active.enumerated() where item.sequence.length != lengths[index] {
                try? item.sequence.truncate(to: lengths[index])
            }
            return
        } catch {
            let failed = active
            active.removeAll()
            for item in failed {
                item.sequence.destroy()
                events.send(.error(WorkerFailure(.workerFailure, "the decoder failed: \(error)")), requestID: item.id)
            }
            return
        }
        let now = mh_monotonic_ns()
        var finished: [(Int, FinishReason)] = []
        for index in active.indices {
            let next = active[index].sampler.next(from: logits[index])
            if active[index].request.stopTokens.contains(next) {
                finished.append((index, .stop))
                continue
            }
            active[index].generated += 1
            active[index].unsent.append(next)
            active[index].input = [next]
            if active[index].generated >= active[index].request.maxTokens
                || active[index].sequence.length + 1 > active[index].capacity {
                finished.append((index, .length))
            } else if active[index].generated == 1 || active[index].unsent.count >= 64
                || now &- active[index].lastFlush >= flushIntervalNanoseconds {
                // The first token goes out at once (time to first token); later ones share frames.
                flush(index, now: now)
            }
        }
        for (index, reason) in finished.reversed() { finish(at: index, reason) }
    }

    private func beginStep() -> UInt64 {
        stepLock.lock()
        defer { stepLock.unlock() }
        stepToken = nextToken
        nextToken &+= 1
        stepIDs = Set(active.map(\.id))
        return stepToken
    }

    private func endStep(_ token: UInt64) {
        stepLock.lock()
        stepIDs.removeAll()
        stepLock.unlock()
        host.retire(token)
    }

    // MARK: Events out

    private func flush(_ index: Int, now: UInt64) {
        guard !active[index].unsent.isEmpty else { return }
        events.send(.tokens(active[index].unsent), requestID: active[index].id)
        active[index].unsent.removeAll(keepingCapacity: true)
        active[index].lastFlush = now
    }

    private func finish(at index: Int, _ reason: FinishReason) {
        flush(index, now: mh_monotonic_ns())
        let item = active.remove(at: index)
        item.sequence.destroy()
        events.send(.done(Completion(finishReason: reason, promptTokens: UInt32(item.request.promptTokens.count),
                                     completionTokens: item.generated)), requestID: item.id)
    }

    private func finishAll(reason: String) {
        let failure = WorkerFailure(.cancelled, "the worker is stopping (\(reason))")
        for item in active {
            item.sequence.destroy()
            events.send(.error(failure), requestID: item.id)
        }
        for (id, _) in waiting { events.send(.error(failure), requestID: id) }
        active.removeAll()
        waiting.removeAll()
    }
}
