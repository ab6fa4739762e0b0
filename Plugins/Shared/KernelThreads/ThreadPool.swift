import Synchronization
#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// A persistent pool of worker threads for the forward pass's parallel regions (every plugin's kernels use it: the
/// Llama decoder, the SigLIP and BERT encoders).
///
/// Why not `DispatchQueue.concurrentPerform` or a task per operation: decode runs about 150 short regions per token
/// (a few microseconds each), so per-region thread wake-ups dominate. Workers here spin briefly on the region state
/// after each region and only park on a semaphore when the pool stays idle, so back-to-back regions start without a
/// system call. The calling thread takes part in every region as thread 0.
///
/// Chunks are claimed dynamically, and a region is complete when all its chunks are done, not when every worker has
/// checked in: on a machine shared with other processes, a descheduled worker then delays nothing unless it holds a
/// chunk.
///
/// `run` must not be called concurrently or re-entrantly: one region at a time.
public final class ThreadPool: @unchecked Sendable {
    /// Threads that execute a region, the caller included.
    public let threadCount: Int

    private final class Worker {
        let sleeping = Atomic<Bool>(false)
        let semaphore: UnsafeMutablePointer<sem_t>
        var thread: pthread_t? = nil
        init() {
            semaphore = .allocate(capacity: 1)
            sem_init(semaphore, 0, 0)
        }
        deinit {
            sem_destroy(semaphore)
            semaphore.deallocate()
        }
    }

    private final class WorkerContext {
        // unowned(unsafe): workers still read the pool while its deinit joins them.
        unowned(unsafe) let pool: ThreadPool
        let index: Int
        let worker: Worker
        init(pool: ThreadPool, index: Int, worker: Worker) {
            self.pool = pool
            self.index = index
            self.worker = worker
        }
    }

    /// The current region, packed so that one compare-and-swap both claims a chunk and proves that the region is
    /// still the one the claimer saw: generation (bits 40...63), chunk count (bits 20...39), next chunk (0...19).
    private let state = Atomic<UInt64>(0)
    /// Chunks of the current region that have finished.
    private let completed = Atomic<Int>(0)
    private let stopping = Atomic<Bool>(false)
    /// Set by `rest()`, cleared by the next `run`: workers park at once instead of spinning.
    private let resting = Atomic<Bool>(false)
    private var workers: [Worker] = []
    /// Written by `run` before it publishes a region; read by a worker only after it has claimed a chunk of that
    /// region, which cannot complete (so `run` cannot return or start another region) before the chunk is done.
    private var body: ((Int, Int) -> Void)? = nil
    private var generationCounter: UInt64 = 0
    /// Spin iterations a worker waits for the next region before parking; about a millisecond.
    private let spinLimit = 1 << 17
    private static let maxChunks = (1 << 20) - 1

    @inline(__always) private static func generation(_ s: UInt64) -> UInt64 { s >> 40 }
    @inline(__always) private static func count(_ s: UInt64) -> Int { Int((s >> 20) & 0xF_FFFF) }
    @inline(__always) private static func next(_ s: UInt64) -> Int { Int(s & 0xF_FFFF) }

    /// Creates a pool of `threads` threads in total (the caller plus `threads - 1` workers); at least one.
    public init(threads: Int) {
        threadCount = max(1, threads)
        for index in 1..<threadCount {
            let worker = Worker()
            workers.append(worker)
            let context = Unmanaged.passRetained(WorkerContext(pool: self, index: index, worker: worker)).toOpaque()
            var handle = pthread_t()
            pthread_create(&handle, nil, { raw in
                let context = Unmanaged<WorkerContext>.fromOpaque(raw!).takeRetainedValue()
                context.pool.workerLoop(index: context.index, worker: context.worker)
                return nil
            }, context)
            worker.thread = handle
        }
    }

    deinit {
        stopping.store(true, ordering: .sequentiallyConsistent)
        generationCounter = (generationCounter + 1) & 0xFF_FFFF
        state.store(generationCounter << 40, ordering: .sequentiallyConsistent)
        wakeSleepers()
        for worker in workers { if let t = worker.thread { pthread_join(t, nil) } }
    }

    /// Runs `body(chunk, thread)` for every chunk in `0..<chunks`, spread over the pool; returns when all are done.
    /// `thread` is in `0..<threadCount` and identifies per-thread scratch space.
    public func run(chunks: Int, _ body: (_ chunk: Int, _ thread: Int) -> Void) {
        guard chunks > 0 else { return }
        if threadCount == 1 || chunks == 1 {
            for c in 0..<chunks { body(c, 0) }
            return
        }
        if chunks > Self.maxChunks {
            var start = 0
            while start < chunks {
                let end = min(chunks, start + Self.maxChunks)
                run(chunks: end - start) { c, t in body(start + c, t) }
                start = end
            }
            return
        }
        withoutActuallyEscaping(body) { escapable in
            self.body = escapable
            completed.store(0, ordering: .relaxed)
            resting.store(false, ordering: .relaxed)
            generationCounter = (generationCounter + 1) & 0xFF_FFFF
            let generation = generationCounter
            state.store(generation << 40 | UInt64(chunks) << 20, ordering: .sequentiallyConsistent)
            wakeSleepers()
            claimChunks(generation: generation, thread: 0)
            while completed.load(ordering: .acquiring) < chunks {}
            self.body = nil
        }
    }

    /// Says that no region follows soon (an encoder between calls: the next one waits for a request), so the workers
    /// park now instead of spinning out `spinLimit`: on a small machine that spin takes a core from the threads that
    /// deliver the answer and bring the next request. The next `run` wakes them as usual (one semaphore post each;
    /// the calling thread starts on the region meanwhile).
    public func rest() {
        resting.store(true, ordering: .relaxed)
    }

    private func wakeSleepers() {
        for worker in workers {
            if worker.sleeping.exchange(false, ordering: .sequentiallyConsistent) { sem_post(worker.semaphore) }
        }
    }

    /// Claims and runs chunks of region `generation` until none is left or another region has started.
    private func claimChunks(generation: UInt64, thread: Int) {
        var s = state.load(ordering: .acquiring)
        while Self.generation(s) == generation && Self.next(s) < Self.count(s) {
            let (exchanged, original) = state.compareExchange(expected: s, desired: s + 1,
                                                              ordering: .acquiringAndReleasing)
            if !exchanged {
                s = original
                continue
            }
            do {
                let body = self.body!
                body(Self.next(s), thread)
            }
            completed.add(1, ordering: .releasing)
            s = state.load(ordering: .acquiring)
        }
    }

    private func workerLoop(index: Int, worker: Worker) {
        var seen: UInt64 = 0
        while true {
            var spins = 0
            while Self.generation(state.load(ordering: .acquiring)) == seen {
                spins += 1
                if spins < spinLimit && !resting.load(ordering: .relaxed) { continue }
                // Park: announce it, then re-check so that a region started in between is not missed.
                worker.sleeping.store(true, ordering: .sequentiallyConsistent)
                if Self.generation(state.load(ordering: .sequentiallyConsistent)) != seen {
                    // If the dispatcher already cleared the flag, it has posted (or will post): consume that post.
                    if !worker.sleeping.exchange(false, ordering: .sequentiallyConsistent) {
                        while sem_wait(worker.semaphore) != 0 {}
                    }
                    break
                }
                while sem_wait(worker.semaphore) != 0 {}
                spins = 0
            }
            if stopping.load(ordering: .acquiring) { return }
            seen = Self.generation(state.load(ordering: .acquiring))
            claimChunks(generation: seen, thread: index)
        }
    }
}
