import Foundation
import IPC
import WorkerProtocol

/// Sends events to the orchestrator. A send that cannot complete (the orchestrator died, closed its side, or stopped
/// draining the event ring for `sendTimeout`) means nobody will ever read this worker's output, so the worker exits
/// rather than decoding into the void.
final class EventSink: @unchecked Sendable {
    private let channel: RingChannel
    private let sendTimeout: Double

    init(channel: RingChannel, sendTimeout: Double = 30) {
        self.channel = channel
        self.sendTimeout = sendTimeout
    }

    func send(_ event: WorkerEvent, requestID: UInt64) {
        let (type, payload) = event.encoded()
        do {
            try channel.send(Frame(type: type, requestID: requestID, payload: payload),
                             deadline: .after(seconds: sendTimeout))
        } catch {
            WorkerLog.write("cannot send to the orchestrator (\(error)); exiting")
            exit(4)
        }
    }
}

/// The worker's log: stderr, which the orchestrator points at a log file (never at a pipe nobody drains).
enum WorkerLog {
    static func write(_ message: String) {
        FileHandle.standardError.write(Data("modelhost-worker[\(getpid())]: \(message)\n".utf8))
    }
}
