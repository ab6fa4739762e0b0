/// The original server's RAM-based defaults (seed-behaviour §2.2), kept exactly so that people moving from it get the
/// same timeouts and concurrency on the same machine.
public enum RAMTier: String, Sendable, Equatable {
    case high = "high-memory"
    case medium = "medium-memory"
    case low = "low-memory"

    /// The tier for a machine with `ramGiB` gibibytes (already rounded, as the original rounds `hw.memsize / 2^30`).
    public init(ramGiB: Int) {
        if ramGiB >= 64 {
            self = .high
        } else if ramGiB >= 24 {
            self = .medium
        } else {
            self = .low
        }
    }

    public var idleTimeoutSeconds: Int {
        switch self {
        case .high: 600
        case .medium: 300
        case .low: 180
        }
    }

    public var requestTimeoutSeconds: Int {
        switch self {
        case .high: 600
        case .medium: 300
        case .low: 180
        }
    }

    public var modelLoadTimeoutSeconds: Int {
        switch self {
        case .high: 300
        case .medium: 180
        case .low: 120
        }
    }

    public var maxConcurrentRequests: Int {
        switch self {
        case .high: 10
        case .medium: 5
        case .low: 3
        }
    }

    /// Memory (GiB) that loaded models may use together: `ram-20`, `ram-8` or `max(8, ram-4)`.
    public func memoryThresholdGiB(ramGiB: Int) -> Int {
        switch self {
        case .high: ramGiB - 20
        case .medium: ramGiB - 8
        case .low: max(8, ramGiB - 4)
        }
    }
}
