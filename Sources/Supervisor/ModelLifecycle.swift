/// The lifecycle of one model, as the supervisor actor sees it:
///
/// ```
/// absent → loading → ready ⇄ busy → unloading → absent
///             └──────────┴──────┴─→ absent   (the worker died or failed to load)
/// ```
/// One value per model replaces the original server's pair of locks and counters (which deadlocked and raced); every
/// change goes through `apply`, which refuses a move the diagram does not have, so a bug shows up as an error in the
/// log instead of a worker that two paths both think they own.
public enum ModelState: Equatable, Sendable, CustomStringConvertible {
    case absent
    case loading
    case ready
    /// Serving `inFlight` (≥ 1) requests.
    case busy(inFlight: Int)
    case unloading

    public var description: String {
        switch self {
        case .absent: return "absent"
        case .loading: return "loading"
        case .ready: return "ready"
        case .busy(let n): return "busy(\(n))"
        case .unloading: return "unloading"
        }
    }

    public var inFlight: Int {
        if case .busy(let n) = self { return n }
        return 0
    }
}

/// The events that move a model between states.
public enum ModelEvent: Sendable {
    case startLoading
    case loaded
    case requestStarted
    case requestEnded
    case startUnloading
    /// The worker is gone: unloaded, crashed or failed to load.
    case workerGone
}

public struct InvalidTransition: Error, CustomStringConvertible, Sendable {
    public let from: ModelState
    public let event: String
    public var description: String { "model lifecycle: \(event) is not allowed in state \(from)" }
}

extension ModelState {
    /// The state after `event`, or a thrown `InvalidTransition`.
    public func applying(_ event: ModelEvent) throws(InvalidTransition) -> ModelState {
        switch (self, event) {
        case (.absent, .startLoading): return .loading
        case (.loading, .loaded): return .ready
        case (.ready, .requestStarted): return .busy(inFlight: 1)
        case (.busy(let n), .requestStarted): return .busy(inFlight: n + 1)
        case (.busy(let n), .requestEnded): return n > 1 ? .busy(inFlight: n - 1) : .ready
        case (.ready, .startUnloading), (.busy, .startUnloading): return .unloading
        case (.loading, .workerGone), (.ready, .workerGone), (.busy, .workerGone), (.unloading, .workerGone):
            return .absent
        default: throw InvalidTransition(from: self, event: "\(event)")
        }
    }
}
