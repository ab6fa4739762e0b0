import Foundation
import IPC
import Tokenizer
import WorkerProtocol

/// The thread that blocks on the request ring and turns frames into inbox items, so the decode loop never waits on
/// the transport. A cancel is also passed to `onCancel` at once: the loop may be inside a long forward call that the
/// plugin can abandon through the host's cancellation token. Tokenizer requests are answered here too: they need
/// only the tokenizer, so they never wait behind the decode loop.
final class RequestReader: @unchecked Sendable {
    private let channel: RingChannel
    private let inbox: Inbox
    private let events: EventSink
    private let tokenizer: (any TextTokenizer)?
    private let load: LoadBoard
    private let onCancel: @Sendable (UInt64) -> Void

    init(channel: RingChannel, inbox: Inbox, events: EventSink, tokenizer: (any TextTokenizer)?, load: LoadBoard,
         onCancel: @escaping @Sendable (UInt64) -> Void) {
        self.load = load
        self.channel = channel
        self.inbox = inbox
        self.events = events
        self.tokenizer = tokenizer
        self.onCancel = onCancel
    }

    func start() {
        let thread = Thread { [self] in run() }
        thread.name = "request-reader"
        thread.start()
    }

    private func run() {
        while true {
            let frame: Frame?
            do {
                // The deadline only bounds one wait: an idle orchestrator is not a dead one (the ring reports death).
                frame = try channel.receive(deadline: .after(seconds: 5))
            } catch {
                inbox.post(.stop(reason: "orchestrator gone: \(error)"))
                return
            }
            guard let frame else { continue }
            let request: WorkerRequest
            do {
                request = try WorkerRequest.decode(type: frame.type, payload: frame.payload)
            } catch {
                events.send(.error(WorkerFailure(.badRequest, error.description)), requestID: frame.requestID)
                continue
            }
            switch request {
            case .generate(let generate):
                inbox.post(.generate(requestID: frame.requestID, generate))
            case .embed(let embed):
                inbox.post(.embed(requestID: frame.requestID, embed))
            case .cancel:
                onCancel(frame.requestID)
                inbox.post(.cancel(requestID: frame.requestID))
            case .ping:
                events.send(.pong(load.current), requestID: frame.requestID)
            case .tokenizer(let tokenizerRequest):
                events.send(Self.answer(tokenizerRequest, tokenizer: tokenizer), requestID: frame.requestID)
            case .shutdown:
                inbox.post(.stop(reason: "shutdown requested"))
                return
            case .load:
                events.send(.error(WorkerFailure(.badRequest, "this worker has already loaded its model")),
                            requestID: frame.requestID)
            }
        }
    }

    /// The reply to a tokenizer request: ids, each id's piece, and the decoded text.
    static func answer(_ request: TokenizerRequest, tokenizer: (any TextTokenizer)?) -> WorkerEvent {
        guard let tokenizer else {
            return .error(WorkerFailure(.badRequest, "this model has no tokenizer (its file carries none); it takes "
                                            + "token ids only"))
        }
        let ids: [Int32]
        switch request {
        case .tokenize(let text, let addSpecial, let parseSpecial):
            ids = tokenizer.encode(text, addSpecial: addSpecial, parseSpecial: parseSpecial)
        case .detokenize(let tokens):
            let size = tokenizer.vocabularySize
            if let index = tokens.firstIndex(where: { $0 < 0 || Int($0) >= size }) {
                return .error(WorkerFailure(.badRequest, "tokens[\(index)] = \(tokens[index]) is not a token id of "
                                                + "this model (its vocabulary is 0..<\(size))"))
            }
            ids = tokens
        }
        let pieces = ids.enumerated().map { index, id in
            tokenizer.decodedBytes(of: id, isFirst: index == 0, skipSpecial: false)
        }
        return .tokenizerReply(TokenizerReply(tokens: ids, pieces: pieces, text: tokenizer.decode(ids, skipSpecial: false)))
    }
}
