/// How long the next wait may spin. A spin that ends with data (or room) keeps the full budget; one that ends in
/// sleep halves it, so on a machine where the peer has no core of its own the spinning fades out within a few waits
/// instead of stealing the peer's time slice. At zero, every 64th wait probes again with an eighth of the maximum,
/// so the spin comes back once cores free up.
struct SpinBudget {
    let maximum: UInt64
    private var current: UInt64
    private var waitsSinceProbe: UInt32 = 0

    init(maximum: UInt64) {
        self.maximum = maximum
        current = maximum
    }

    /// The spin allowed for this wait, in nanoseconds.
    mutating func next() -> UInt64 {
        if current > 0 { return current }
        waitsSinceProbe &+= 1
        guard waitsSinceProbe >= 64, maximum > 0 else { return 0 }
        waitsSinceProbe = 0
        return maximum / 8
    }

    mutating func succeeded() { current = maximum }

    mutating func failed() { current = current / 2 < 500 ? 0 : current / 2 }
}
