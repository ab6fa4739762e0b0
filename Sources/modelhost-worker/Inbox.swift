import Foundation
import WorkerProtocol

/// What the request reader hands to the decode loop.
enum InboxItem {
    case generate(requestID: UInt64, GenerateRequest)
    /// An embedding model's request (only its worker serves these).
    case embed(requestID: UInt64, EmbedRequest)
    case cancel(requestID: UInt64)
    /// A request's images, prepared off the decode loop (or why they could not be).
    case imagesReady(requestID: UInt64, GenerateRequest, Result<PreparedImages, WorkerFailure>)
    /// An orderly `shutdown` request, or the orchestrator is gone (closed its side or died).
    case stop(reason: String)
}

/// The hand-over point between the reader thread (which blocks on the request ring) and the decode loop (which must
/// not): a locked FIFO with a condition the loop sleeps on when it has no sequence to advance.
final class Inbox: @unchecked Sendable {
    private let condition = NSCondition()
    private var items: [InboxItem] = []

    func post(_ item: InboxItem) {
        condition.lock()
        items.append(item)
        condition.signal()
        condition.unlock()
    }

    /// Everything posted so far; waits up to `timeout` seconds for at least one item when `wait` is true.
    func drain(wait: Bool, timeout: TimeInterval = 1) -> [InboxItem] {
        condition.lock()
        defer { condition.unlock() }
        if wait && items.isEmpty { _ = condition.wait(until: Date(timeIntervalSinceNow: timeout)) }
        let taken = items
        items.removeAll(keepingCapacity: true)
        return taken
    }
}
