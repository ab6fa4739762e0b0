import Foundation
import IPC
import WorkerProtocol

/// The thread that blocks on the request ring and turns frames into inbox items, so the decode loop never waits on
/// the transport. A cancel is also passed to `onCancel` at once: the loop may be inside a long forward call that the
/// plugin can abandon through the host's cancellation token.
final class RequestReader: @unchecked Sendable {
    private let channel: RingChannel
    private let inbox: Inbox
    private let events: EventSink
    private let onCancel: @Sendable (UInt64) -> Void

    init(channel: RingChannel, inbox: Inbox, events: EventSink, onCancel: @escaping @Sendable (UInt64) -> Void) {
        self.channel = channel
        self.inbox = inbox
        self.events = events
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
            case .cancel:
                onCancel(frame.requestID)
                inbox.post(.cancel(requestID: frame.requestID))
            case .ping:
                events.send(.pong, requestID: frame.requestID)
            case .shutdown:
                inbox.post(.stop(reason: "shutdown requested"))
                return
            case .load:
                events.send(.error(WorkerFailure(.badRequest, "this worker has already loaded its model")),
                            requestID: frame.requestID)
            }
        }
    }
}
