import Foundation

/// One long-lived thread that performs every worker spawn.
///
/// Linux delivers a child's parent-death signal (`PR_SET_PDEATHSIG`) when the *thread* that created it exits, not
/// the process. Swift concurrency and Dispatch retire idle pool threads, which would SIGKILL healthy workers at
/// random; spawning from a thread that lives as long as the supervisor makes "parent death" mean what it says.
final class SpawnThread: @unchecked Sendable {
    private let condition = NSCondition()
    private var jobs: [() -> Void] = []
    private var stopped = false

    init() {
        let thread = Thread { [condition] in
            while true {
                condition.lock()
                while self.jobs.isEmpty && !self.stopped { condition.wait() }
                if self.jobs.isEmpty {
                    condition.unlock()
                    return
                }
                let job = self.jobs.removeFirst()
                condition.unlock()
                job()
            }
        }
        thread.name = "worker-spawner"
        thread.start()
    }

    /// Ends the thread once no worker it started is alive any more (their parent-death signal would fire).
    func stop() {
        condition.lock()
        stopped = true
        condition.signal()
        condition.unlock()
    }

    /// Runs `body` on the spawn thread and returns its result.
    func run<T: Sendable>(_ body: @escaping @Sendable () throws -> T) async throws -> T {
        try await withCheckedThrowingContinuation { continuation in
            condition.lock()
            guard !stopped else {
                condition.unlock()
                continuation.resume(throwing: SupervisorError.shuttingDown)
                return
            }
            jobs.append { continuation.resume(with: Result { try body() }) }
            condition.signal()
            condition.unlock()
        }
    }
}
