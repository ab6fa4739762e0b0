import CSupport
import ModelHostABI
#if canImport(Glibc)
import Glibc
#endif

/// The host side of `mh_host_v1`: logging, accounted allocation, cancellation and hardware facts, served to plugins
/// through a C table whose `host_ctx` points back here. One instance lives for the whole worker process.
public final class HostServices: @unchecked Sendable {
    public typealias LogSink = @Sendable (_ level: Int32, _ message: String) -> Void

    /// The table plugins receive. Valid for the lifetime of this object (the worker keeps it until exit).
    public private(set) var table: UnsafeMutablePointer<mh_host_v1>
    private let hardware: UnsafeMutablePointer<mh_hw_info>
    private var lock = pthread_mutex_t()
    private var allocations: [UnsafeMutableRawPointer: UInt64] = [:]
    private var cancelled: Set<UInt64> = []
    private let logSink: LogSink
    /// 0 = no budget.
    public let memoryBudgetBytes: UInt64

    /// Guarded by `lock`: the bytes plugins hold through `alloc`, and the most they have held.
    private var live: UInt64 = 0
    private var peak: UInt64 = 0
    /// The bytes plugins hold through `alloc` now (any thread).
    public var liveBytes: UInt64 { locked { live } }
    /// The most they have held at once.
    public var peakBytes: UInt64 { locked { peak } }
    public var liveAllocationCount: Int { locked { allocations.count } }

    /// - Parameters:
    ///   - threads: the compute thread budget handed to plugins.
    ///   - memoryBudgetBytes: `alloc` returns NULL beyond this many live bytes (0 = unlimited).
    ///   - abiMinor/structSize: what the table claims; the verifier uses other values to play older or newer hosts.
    public init(threads: Int, memoryBudgetBytes: UInt64 = 0, abiMajor: UInt16 = UInt16(MH_ABI_MAJOR),
                abiMinor: UInt16 = UInt16(MH_ABI_MINOR), structSize: Int = MemoryLayout<mh_host_v1>.size,
                log: @escaping LogSink = HostServices.stderrLog) {
        pthread_mutex_init(&lock, nil)
        self.logSink = log
        self.memoryBudgetBytes = memoryBudgetBytes
        hardware = .allocate(capacity: 1)
        hardware.initialize(to: mh_hw_info())
        hardware.pointee.struct_size = UInt32(MemoryLayout<mh_hw_info>.size)
        hardware.pointee.threads = UInt32(max(1, threads))
        hardware.pointee.cpu_features = CPUFeatureSet.host.rawValue
        hardware.pointee.memory_limit_bytes = memoryBudgetBytes
        hardware.pointee.logical_cores = UInt32(max(1, sysconf(Int32(_SC_NPROCESSORS_ONLN))))
        // A newer host's table is larger; allocate at least our own size so every field we write exists.
        let bytes = max(structSize, MemoryLayout<mh_host_v1>.size)
        let raw = UnsafeMutableRawPointer.allocate(byteCount: bytes, alignment: 16)
        raw.initializeMemory(as: UInt8.self, repeating: 0, count: bytes)
        table = raw.bindMemory(to: mh_host_v1.self, capacity: 1)
        table.pointee.struct_size = UInt32(structSize)
        table.pointee.abi_major = abiMajor
        table.pointee.abi_minor = abiMinor
        table.pointee.host_ctx = Unmanaged.passUnretained(self).toOpaque()
        table.pointee.log = { ctx, level, message in
            guard let ctx, let message else { return }
            HostServices.from(ctx).logSink(level, String(cString: message))
        }
        table.pointee.alloc = { ctx, size, align in
            guard let ctx else { return nil }
            return HostServices.from(ctx).allocate(size: size, alignment: align)
        }
        table.pointee.free = { ctx, pointer in
            guard let ctx, let pointer else { return }
            HostServices.from(ctx).deallocate(pointer)
        }
        table.pointee.is_cancelled = { ctx, token in
            guard let ctx, token != 0 else { return 0 }
            return HostServices.from(ctx).isCancelled(token) ? 1 : 0
        }
        table.pointee.get_interface = { _, _ in nil }
        table.pointee.hw = UnsafePointer(hardware)
    }

    deinit {
        // Plugins may still hold the table when a worker exits; a worker keeps its HostServices alive until then.
        // Tests that create short-lived instances free everything here.
        UnsafeMutableRawPointer(table).deallocate()
        hardware.deallocate()
        for p in allocations.keys { free(p) }
    }

    static func from(_ ctx: UnsafeMutableRawPointer) -> HostServices {
        Unmanaged<HostServices>.fromOpaque(ctx).takeUnretainedValue()
    }

    private func locked<T>(_ body: () -> T) -> T {
        pthread_mutex_lock(&lock)
        defer { pthread_mutex_unlock(&lock) }
        return body()
    }

    public static let stderrLog: LogSink = { level, message in
        let name = ["error", "warning", "info", "debug"][Int(min(max(level, 0), 3))]
        fputs("plugin \(name): \(message)\n", stderr)
    }

    func allocate(size: UInt64, alignment: UInt64) -> UnsafeMutableRawPointer? {
        guard size > 0, size < UInt64(Int.max), alignment <= 4096,
              alignment == 0 || alignment & (alignment - 1) == 0 else { return nil }
        let reserved: Bool = locked {
            if memoryBudgetBytes > 0 && live + size > memoryBudgetBytes { return false }
            live += size
            peak = max(peak, live)
            return true
        }
        guard reserved else { return nil }
        var pointer: UnsafeMutableRawPointer?
        if size >= Self.mappedAllocationBytes {
            let mapped = mmap(nil, Int(size), PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0)
            if let mapped, mapped != MAP_FAILED { pointer = mapped }
        } else {
            let align = Int(max(alignment, UInt64(MemoryLayout<Int>.size)))
            if posix_memalign(&pointer, align, Int(size)) != 0 { pointer = nil }
        }
        guard let pointer else {
            locked { live -= size }
            return nil
        }
        locked { allocations[pointer] = size }
        return pointer
    }

    /// Allocations this large (KV caches, whole-prompt buffers) are mapped pages of their own, unmapped when freed: a
    /// finished or evicted sequence's memory goes back to the system at once. From malloc, glibc's sliding mmap
    /// threshold would put a freed size's next allocations on the heap, which keeps its pages after they are freed
    /// (a worker's RSS then stays at its high-water mark).
    static let mappedAllocationBytes: UInt64 = 1 << 20

    func deallocate(_ pointer: UnsafeMutableRawPointer) {
        let known: UInt64? = locked {
            guard let size = allocations.removeValue(forKey: pointer) else { return nil }
            live -= size
            return size
        }
        if let size = known {
            if size >= Self.mappedAllocationBytes { munmap(pointer, Int(size)) } else { free(pointer) }
        } else {
            logSink(0, "a plugin freed a pointer the host did not allocate (\(pointer)); ignored")
        }
    }

    /// Marks a request's cancellation token; plugins see it on their next `is_cancelled` poll.
    public func cancel(_ token: UInt64) {
        guard token != 0 else { return }
        locked { _ = cancelled.insert(token) }
    }

    /// Forgets a finished request's token.
    public func retire(_ token: UInt64) {
        locked { _ = cancelled.remove(token) }
    }

    public func isCancelled(_ token: UInt64) -> Bool { locked { cancelled.contains(token) } }
}
