import Foundation

/// The HTTP side of a bounded shutdown. Once `begin` is called, `/ready` answers 503 and new generations are refused
/// with 503 `shutting_down` (and `Retry-After`); generations already running may finish until the grace time ends,
/// and those still running then are ended: a stream gets an error event and `[DONE]`, a whole response a 503. So a
/// shutdown takes at most the grace time (plus the workers' stop), never a request's full timeout.
///
/// Thread-safe: handlers register and unregister from their own tasks; the signal handler drives the rest.
public final class ShutdownDrain: @unchecked Sendable {
    private let lock = NSLock()
    private var draining = false
    private var expired = false
    private var nextID = 0
    private var active: [Int: Pump] = [:]

    public init() {}

    /// True from the first shutdown signal on.
    public var isDraining: Bool { lock.withLock { draining } }

    /// How many generations are still running.
    public var inFlight: Int { lock.withLock { active.count } }

    /// Registers a running generation; nil (the request must be refused) once the grace time has ended.
    func register(_ pump: Pump) -> Int? {
        lock.withLock {
            guard !expired else { return nil }
            nextID += 1
            active[nextID] = pump
            return nextID
        }
    }

    func unregister(_ id: Int) {
        lock.withLock { active[id] = nil }
    }

    /// Starts draining; returns the number of generations in flight.
    @discardableResult
    public func begin() -> Int {
        lock.withLock {
            draining = true
            return active.count
        }
    }

    /// The grace time is over (or a second signal came): ends every generation still running; returns how many.
    @discardableResult
    public func expire() -> Int {
        let pumps: [Pump] = lock.withLock {
            draining = true
            expired = true
            return Array(active.values)
        }
        for pump in pumps { pump.fail(.shuttingDown, "the shutdown grace time ended") }
        return pumps.count
    }

}
