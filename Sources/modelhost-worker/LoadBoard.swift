import Foundation
import WorkerProtocol

/// The worker's current load, written by its scheduler after each step and read by the request reader, which
/// answers the supervisor's pings with it. A lock, not a message: a ping must be answered even while the scheduler
/// is inside a long forward call, and a figure one step old is what a gauge needs.
///
/// Thread-safe: one writer (the scheduler's thread), any readers.
final class LoadBoard: @unchecked Sendable {
    private let lock = NSLock()
    private var load = WorkerLoad()

    var current: WorkerLoad { lock.withLock { load } }

    func publish(_ new: WorkerLoad) {
        lock.withLock { load = new }
    }
}
