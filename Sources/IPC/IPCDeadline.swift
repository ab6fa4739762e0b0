import CSupport

/// A point in time on CLOCK_MONOTONIC, the clock every blocking IPC call measures against, so that a wall-clock step
/// (NTP, an admin's `date -s`) neither fires a deadline early nor stretches a wait.
public struct IPCDeadline: Sendable, Hashable, Comparable {
    /// Nanoseconds on CLOCK_MONOTONIC.
    public let uptimeNanoseconds: UInt64

    public init(uptimeNanoseconds: UInt64) { self.uptimeNanoseconds = uptimeNanoseconds }

    /// The current instant.
    public static var now: IPCDeadline { IPCDeadline(uptimeNanoseconds: mh_monotonic_ns()) }

    /// A deadline that never passes in practice (about 292 years away); for callers that rely on peer-death detection.
    public static let distantFuture = IPCDeadline(uptimeNanoseconds: UInt64.max / 2)

    /// `seconds` from now. Negative values give a deadline that has already passed.
    public static func after(seconds: Double) -> IPCDeadline {
        let now = mh_monotonic_ns()
        guard seconds > 0 else { return IPCDeadline(uptimeNanoseconds: now) }
        let delta = min(seconds * 1e9, Double(UInt64.max / 4))
        return IPCDeadline(uptimeNanoseconds: now &+ UInt64(delta))
    }

    /// `duration` from now.
    public static func after(_ duration: Duration) -> IPCDeadline {
        let (seconds, attoseconds) = duration.components
        return after(seconds: Double(seconds) + Double(attoseconds) * 1e-18)
    }

    /// Nanoseconds left until the deadline; zero once it has passed.
    public var remainingNanoseconds: UInt64 {
        let now = mh_monotonic_ns()
        return uptimeNanoseconds > now ? uptimeNanoseconds - now : 0
    }

    public var hasPassed: Bool { mh_monotonic_ns() >= uptimeNanoseconds }

    public static func < (lhs: IPCDeadline, rhs: IPCDeadline) -> Bool { lhs.uptimeNanoseconds < rhs.uptimeNanoseconds }
}
