/// The candidates still in the running, in storage that is allocated once per sampler and reused for every token:
/// gathering thousands of candidates through `Array.append` costs more than finding them.
///
/// Storage only grows (to the vocabulary size at most, when a flat distribution keeps everything); `count` says how
/// many entries are live. Work on them through `withActive`, or `withStorage` to add entries.
struct CandidateList: Sendable {
    private var storage: [Candidate] = []
    private(set) var count = 0

    var isEmpty: Bool { count == 0 }

    subscript(index: Int) -> Candidate {
        precondition(index < count, "candidate \(index) read past the \(count) live ones")
        return storage[index]
    }

    mutating func removeAll() { count = 0 }

    /// Keeps the first `newCount` live entries.
    mutating func truncate(to newCount: Int) { count = Swift.min(count, Swift.max(0, newCount)) }

    /// The live entries, to reorder or reweigh in place.
    mutating func withActive<R>(_ body: (UnsafeMutableBufferPointer<Candidate>) -> R) -> R {
        let live = count
        return storage.withUnsafeMutableBufferPointer { body(UnsafeMutableBufferPointer(rebasing: $0[..<live])) }
    }

    /// Room for `capacity` entries and the live count, for a producer that writes entries directly.
    mutating func withStorage<R>(capacity: Int, _ body: (UnsafeMutableBufferPointer<Candidate>, inout Int) -> R) -> R {
        if storage.count < capacity {
            storage.append(contentsOf: repeatElement(Candidate(id: 0, logit: 0), count: capacity - storage.count))
        }
        var live = count
        defer { count = live }
        return storage.withUnsafeMutableBufferPointer { body($0, &live) }
    }
}
