import Foundation

/// Remembers a model's recent worker crashes and decides when starting another worker is pointless for a while.
///
/// A crash that happens `threshold` times within `window` seconds with no successful load in between is a loop
/// (a poisoned model file, a broken plugin): the next start waits `baseBackoff × 2^(extra crashes)`, capped at
/// `maxBackoff`, and requests in that time fail at once with an error that says so instead of each paying a crash.
struct CrashHistory: Sendable {
    var threshold = 3
    var window: Double = 60
    var baseBackoff: Double = 1
    var maxBackoff: Double = 60

    private var crashes: [Double] = []
    private(set) var lastTermination = ""
    private var backoffUntil: Double = 0

    init(threshold: Int, window: Double, baseBackoff: Double, maxBackoff: Double) {
        self.threshold = max(1, threshold)
        self.window = window
        self.baseBackoff = baseBackoff
        self.maxBackoff = maxBackoff
    }

    static func now() -> Double { Double(DispatchTime.now().uptimeNanoseconds) / 1e9 }

    mutating func recordCrash(_ termination: String, at time: Double = now()) {
        crashes = crashes.filter { time - $0 <= window } + [time]
        lastTermination = termination
        if crashes.count >= threshold {
            let extra = crashes.count - threshold
            backoffUntil = time + min(maxBackoff, baseBackoff * pow(2, Double(min(extra, 30))))
        }
    }

    /// A worker loaded and served: the loop, if any, is broken.
    mutating func recordSuccess() {
        crashes.removeAll()
        backoffUntil = 0
    }

    /// Seconds to wait before the next start, or nil when a start is allowed now.
    func retryAfter(at time: Double = now()) -> Double? {
        time < backoffUntil ? backoffUntil - time : nil
    }

    var recentCrashes: Int { crashes.count }
}
