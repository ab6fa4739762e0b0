/// One token still in the running: its id, its adjusted logit, and a weight the current stage computed for it.
struct Candidate: Sendable {
    var id: Int32
    var logit: Float
    var weight: Float = 0

    /// The order every cut uses: higher logit first, the lower id on ties (so results never depend on a sort's
    /// stability or the platform's sort algorithm).
    @inline(__always)
    static func precedes(_ a: Candidate, _ b: Candidate) -> Bool {
        a.logit > b.logit || (a.logit == b.logit && a.id < b.id)
    }
}

/// Picks candidates out of a whole row without sorting it: a bounded heap for "the k best", a SIMD threshold scan
/// for "everything above w", a weighted quickselect for "the best that hold mass p". Only small sets are sorted.
enum CandidateSelection {
    typealias Vector = RowMath.Vector

    /// The `k` best entries of `row` (masked and NaN entries never qualify), sorted by `Candidate.precedes`.
    ///
    /// One pass with a min-heap of size k whose root is the worst kept entry. Ids are visited in increasing order, so
    /// an entry that only ties the root's logit has a higher id and loses the tie: a strict `>` against the root is
    /// exact, and lets whole 8-lane vectors be skipped with one comparison (nearly all of them once the heap is full).
    static func top(_ k: Int, of row: UnsafeBufferPointer<Float>, into list: inout CandidateList) {
        list.removeAll()
        guard k > 0, let base = row.baseAddress else { return }
        let n = row.count
        let k = Swift.min(k, n)
        list.withStorage(capacity: k) { heap, count in
            var threshold = -Float.infinity

            @inline(__always)
            func consider(_ index: Int) {
                let logit = base[index]
                guard logit > threshold else { return }
                let candidate = Candidate(id: Int32(truncatingIfNeeded: index), logit: logit)
                if count < k {
                    heap[count] = candidate
                    count += 1
                    siftUp(heap, from: count - 1)
                    if count == k { threshold = heap[0].logit }
                } else {
                    heap[0] = candidate
                    siftDown(heap, count: count, from: 0)
                    threshold = heap[0].logit
                }
            }

            var i = 0
            while i + RowMath.width <= n {
                if any(RowMath.load(base, i) .> Vector(repeating: threshold)) {
                    for j in i..<(i + RowMath.width) { consider(j) }
                }
                i += RowMath.width
            }
            while i < n { consider(i); i += 1 }
        }
        list.withActive { active in
            var sorted = active
            sorted.sort(by: Candidate.precedes)
        }
    }

    /// `a` should sit nearer the root than `b`: it is the worse of the two.
    @inline(__always)
    private static func worse(_ a: Candidate, _ b: Candidate) -> Bool {
        Candidate.precedes(b, a)
    }

    private static func siftUp(_ heap: UnsafeMutableBufferPointer<Candidate>, from start: Int) {
        var child = start
        while child > 0 {
            let parent = (child - 1) / 2
            guard worse(heap[child], heap[parent]) else { return }
            heap.swapAt(child, parent)
            child = parent
        }
    }

    private static func siftDown(_ heap: UnsafeMutableBufferPointer<Candidate>, count: Int, from start: Int) {
        var parent = start
        while true {
            let left = 2 * parent + 1
            guard left < count else { return }
            var worst = left
            if left + 1 < count && worse(heap[left + 1], heap[left]) { worst = left + 1 }
            guard worse(heap[worst], heap[parent]) else { return }
            heap.swapAt(worst, parent)
            parent = worst
        }
    }

    /// Every entry whose weight exp(row − maximum) is at least `minimumWeight` (> 0), in id order, weights filled in.
    ///
    /// A SIMD comparison of the logits against a slightly generous logit bound rejects almost everything; only the
    /// entries that pass get their weight computed and compared exactly, so membership is decided by the same `exp`
    /// as everywhere else.
    static func gather(_ row: UnsafeBufferPointer<Float>, maximum: Float, minimumWeight: Float,
                       into list: inout CandidateList) {
        list.removeAll()
        guard let base = row.baseAddress else { return }
        let n = row.count
        let bound = maximum + RowMath.logarithmBound(of: minimumWeight)
        list.withStorage(capacity: n) { out, count in
            @inline(__always)
            func consider(_ index: Int) {
                let logit = base[index]
                let w = RowMath.exp(logit - maximum)
                if w >= minimumWeight {
                    out[count] = Candidate(id: Int32(truncatingIfNeeded: index), logit: logit, weight: w)
                    count += 1
                }
            }
            let floor = Vector(repeating: bound)
            var i = 0
            while i + RowMath.width <= n {
                if any(RowMath.load(base, i) .>= floor) {
                    for j in i..<(i + RowMath.width) { consider(j) }
                }
                i += RowMath.width
            }
            while i < n { consider(i); i += 1 }
        }
    }

    /// top_p on an unsorted set: keeps (moved to the front, in no particular order) the smallest set of best
    /// candidates, by `Candidate.precedes`, whose weights sum to at least `needed`; at least one is always kept.
    ///
    /// A weighted quickselect: partition around a pivot; if the better side already holds the mass, the cut lies
    /// inside it, otherwise the better side and the pivot are all kept and the cut lies in the rest. Expected O(n),
    /// where sorting the thousands of candidates a flat distribution leaves would cost milliseconds. Only the last
    /// few candidates are sorted. The pivot choice is positional, so the result is deterministic.
    static func keepMostLikely(_ list: inout CandidateList, mass needed: Double) {
        guard !list.isEmpty else { return }
        let kept = list.withActive { c -> Int in
            var remaining = needed
            if remaining <= 0 {
                var best = 0
                for i in 1..<c.count where Candidate.precedes(c[i], c[best]) { best = i }
                c.swapAt(0, best)
                return 1
            }
            var low = 0
            var high = c.count
            while high - low > 16 {
                let pivotIndex = medianOfThree(c, low, low + (high - low) / 2, high - 1)
                c.swapAt(pivotIndex, high - 1)
                let pivot = c[high - 1]
                var boundary = low
                var betterMass = 0.0
                for j in low..<(high - 1) where Candidate.precedes(c[j], pivot) {
                    betterMass += Double(c[j].weight)
                    c.swapAt(boundary, j)
                    boundary += 1
                }
                if betterMass >= remaining {
                    high = boundary
                } else {
                    c.swapAt(boundary, high - 1)
                    remaining -= betterMass + Double(pivot.weight)
                    low = boundary + 1
                    if remaining <= 0 { return low }
                }
            }
            var tail = UnsafeMutableBufferPointer(rebasing: c[low..<high])
            tail.sort(by: Candidate.precedes)
            for i in low..<high {
                remaining -= Double(c[i].weight)
                if remaining <= 0 { return i + 1 }
            }
            return high
        }
        list.truncate(to: Swift.max(kept, 1))
    }

    private static func medianOfThree(_ c: UnsafeMutableBufferPointer<Candidate>, _ a: Int, _ b: Int, _ d: Int) -> Int {
        let ab = Candidate.precedes(c[a], c[b])
        let bd = Candidate.precedes(c[b], c[d])
        if ab == bd { return b }
        let ad = Candidate.precedes(c[a], c[d])
        return ab == ad ? d : a
    }
}
