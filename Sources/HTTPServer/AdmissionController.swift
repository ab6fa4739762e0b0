import Foundation
import Synchronization

/// Snapshot of the admission state for `/admin/queue`, `/ready` and metrics.
public struct AdmissionSnapshot: Sendable, Equatable {
    public var active: Int
    public var maxActive: Int
    public var queued: [Priority: Int]
    public var maxQueueDepth: Int
    public var totalEnqueued: Int
    public var totalCompleted: Int
    public var totalTimeouts: Int
    public var totalRejected: Int
    public var averageWaitSeconds: Double

    public var queueDepth: Int { queued.values.reduce(0, +) }
}

/// A held concurrency slot. `release()` is idempotent, so every exit path may call it; only a granted slot exists,
/// so a request that never got one can never release someone else's (the original server's over-admission bug).
public final class AdmissionSlot: Sendable {
    private let released = Mutex(false)
    private let controller: AdmissionController

    init(controller: AdmissionController) {
        self.controller = controller
    }

    public func release() async {
        let first = released.withLock { flag in
            defer { flag = true }
            return !flag
        }
        if first { await controller.releaseSlot() }
    }
}

/// Concurrency limit plus a bounded priority queue (high before normal before low, FIFO within a level) with a
/// per-priority wait limit. Waiters that time out or whose task is cancelled leave the queue without a slot.
public actor AdmissionController {
    private struct Waiter {
        let id: UInt64
        let enqueued: ContinuousClock.Instant
        let continuation: CheckedContinuation<Void, any Error>
    }

    /// Retry-After (seconds) suggested when the queue is full or a wait timed out.
    public static let retryAfterSeconds = 5

    public let maxActive: Int
    public let maxQueueDepth: Int
    private let timeouts: [Priority: Duration]
    private var active = 0
    private var queues: [Priority: [Waiter]] = [.high: [], .normal: [], .low: []]
    private var nextID: UInt64 = 0
    private var totals = (enqueued: 0, completed: 0, timeouts: 0, rejected: 0)
    private var waitSum = 0.0
    private var waitCount = 0

    public init(maxActive: Int, maxQueueDepth: Int, timeouts: [Priority: Duration]) {
        self.maxActive = maxActive
        self.maxQueueDepth = maxQueueDepth
        self.timeouts = timeouts
    }

    /// Waits for a slot. Throws 503 `queue_full` at once when the queue is full, 503 `queue_timeout` after the
    /// priority's wait limit, or `CancellationError` when the caller is cancelled while waiting.
    public func acquire(priority: Priority) async throws -> AdmissionSlot {
        if active < maxActive && queues.values.allSatisfy(\.isEmpty) {
            active += 1
            recordWait(.zero)
            return AdmissionSlot(controller: self)
        }
        guard queues.values.reduce(0, { $0 + $1.count }) < maxQueueDepth else {
            totals.rejected += 1
            throw APIError(status: 503, message: "the server is at capacity and its queue is full; retry later",
                           type: "server_overloaded", code: "queue_full", retryAfter: Self.retryAfterSeconds)
        }
        nextID += 1
        let id = nextID
        totals.enqueued += 1
        let timeout = timeouts[priority] ?? .seconds(60)
        let timer = Task { [weak self] in
            try await Task.sleep(for: timeout)
            await self?.expire(id, priority: priority)
        }
        defer { timer.cancel() }
        try await withTaskCancellationHandler {
            try await withCheckedThrowingContinuation { continuation in
                queues[priority, default: []].append(Waiter(id: id, enqueued: .now, continuation: continuation))
            }
        } onCancel: {
            Task { await self.remove(id, priority: priority, with: CancellationError()) }
        }
        return AdmissionSlot(controller: self)
    }

    func releaseSlot() {
        active -= 1
        totals.completed += 1
        for priority in Priority.allCases {
            guard var queue = queues[priority], !queue.isEmpty else { continue }
            let waiter = queue.removeFirst()
            queues[priority] = queue
            active += 1
            recordWait(ContinuousClock.now - waiter.enqueued)
            waiter.continuation.resume()
            return
        }
    }

    private func expire(_ id: UInt64, priority: Priority) {
        let error = APIError(
            status: 503, message: "waited longer than the \(priority.name)-priority queue limit for a free slot",
            type: "queue_timeout", code: "queue_timeout", retryAfter: Self.retryAfterSeconds)
        if remove(id, priority: priority, with: error) { totals.timeouts += 1 }
    }

    @discardableResult
    private func remove(_ id: UInt64, priority: Priority, with error: any Error) -> Bool {
        guard let index = queues[priority]?.firstIndex(where: { $0.id == id }) else { return false }
        let waiter = queues[priority]!.remove(at: index)
        waiter.continuation.resume(throwing: error)
        return true
    }

    private func recordWait(_ wait: Duration) {
        waitSum += Double(wait.components.seconds) + Double(wait.components.attoseconds) * 1e-18
        waitCount += 1
    }

    public func snapshot() -> AdmissionSnapshot {
        AdmissionSnapshot(
            active: active, maxActive: maxActive, queued: queues.mapValues(\.count), maxQueueDepth: maxQueueDepth,
            totalEnqueued: totals.enqueued, totalCompleted: totals.completed, totalTimeouts: totals.timeouts,
            totalRejected: totals.rejected, averageWaitSeconds: waitCount == 0 ? 0 : waitSum / Double(waitCount))
    }
}

/// The original's optional global token bucket: capacity `burst`, refilled at `rpm / 60` tokens per second.
public final class RateLimiter: Sendable {
    private struct Bucket {
        var tokens: Double
        var updated: ContinuousClock.Instant
    }

    private let bucket: Mutex<Bucket>
    private let capacity: Double
    private let perSecond: Double
    private let now: @Sendable () -> ContinuousClock.Instant

    public init(requestsPerMinute: Int, burst: Int, now: @escaping @Sendable () -> ContinuousClock.Instant = { .now }) {
        capacity = Double(burst)
        perSecond = Double(requestsPerMinute) / 60
        self.now = now
        bucket = Mutex(Bucket(tokens: Double(burst), updated: now()))
    }

    /// Takes a token, or throws 429 with `Retry-After` (whole seconds until a token is available, at least 1).
    public func take() throws(APIError) {
        let wait: Double? = bucket.withLock { bucket in
            let current = now()
            let elapsed = current - bucket.updated
            let seconds = max(0, Double(elapsed.components.seconds) + Double(elapsed.components.attoseconds) * 1e-18)
            bucket.tokens = min(capacity, bucket.tokens + seconds * perSecond)
            bucket.updated = current
            if bucket.tokens >= 1 {
                bucket.tokens -= 1
                return nil
            }
            return (1 - bucket.tokens) / perSecond
        }
        if let wait {
            throw APIError(status: 429, message: String(format: "rate limit exceeded; retry after %.1f s", wait),
                           type: "rate_limit_exceeded", code: "rate_limited", retryAfter: Int(wait) + 1)
        }
    }
}
