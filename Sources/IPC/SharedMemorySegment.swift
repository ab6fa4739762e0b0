import CSupport
import Glibc

/// One POSIX shared-memory object holding both rings of a worker: created by the orchestrator before it spawns the
/// worker, attached by the worker by name. The semaphores live inside the segment (`sem_init` with pshared = 1), so
/// unlinking the one name releases everything and a crash can never leak a semaphore name.
public final class SharedMemorySegment: @unchecked Sendable {
    /// Which side of the segment this process is.
    public enum Role: Sendable {
        /// The orchestrator: created the segment, writes requests, reads events.
        case creator
        /// The worker: attached by name, reads requests, writes events.
        case attacher
    }

    public let name: String
    public let role: Role
    public let requestRingCapacity: Int
    public let eventRingCapacity: Int
    let base: UnsafeMutableRawPointer
    let size: Int

    /// Creates, sizes, maps and initialises a new segment. Fails if the name exists: a stale segment of the same name
    /// means a registry bug, and silently reusing it could hand a worker another run's rings.
    public static func create(
        name: String, requestRingCapacity: Int = 4 << 20, eventRingCapacity: Int = 1 << 20
    ) throws(IPCError) -> SharedMemorySegment {
        try validateName(name)
        try SegmentLayout.checkCapacity(requestRingCapacity, "request")
        try SegmentLayout.checkCapacity(eventRingCapacity, "event")
        guard mh_sem_size() <= 64 else {
            throw .layoutMismatch("sem_t is \(mh_sem_size()) bytes; the layout reserves 64")
        }
        let total = SegmentLayout.dataOffsets(requestCapacity: requestRingCapacity, eventCapacity: eventRingCapacity)
            .total
        let fd = shm_open(name, O_CREAT | O_EXCL | O_RDWR | O_CLOEXEC, 0o600)
        guard fd >= 0 else { throw .lastSystemError("shm_open(\(name), O_CREAT|O_EXCL)") }
        defer { close(fd) }
        var succeeded = false
        defer { if !succeeded { shm_unlink(name) } }
        guard ftruncate(fd, off_t(total)) == 0 else { throw .lastSystemError("ftruncate(\(name), \(total))") }
        let base = try map(fd: fd, size: total, name: name)
        // ftruncate zero-fills, so only the non-zero fields need writing.
        base.storeBytes(of: SegmentLayout.version, toByteOffset: SegmentLayout.versionOffset, as: UInt32.self)
        base.storeBytes(of: UInt32(SegmentLayout.headerSize), toByteOffset: SegmentLayout.headerSizeOffset,
                        as: UInt32.self)
        base.storeBytes(of: UInt64(total), toByteOffset: SegmentLayout.totalSizeOffset, as: UInt64.self)
        base.storeBytes(of: UInt64(requestRingCapacity), toByteOffset: SegmentLayout.requestCapacityOffset,
                        as: UInt64.self)
        base.storeBytes(of: UInt64(eventRingCapacity), toByteOffset: SegmentLayout.eventCapacityOffset,
                        as: UInt64.self)
        base.storeBytes(of: getpid(), toByteOffset: SegmentLayout.creatorPIDOffset, as: Int32.self)
        base.storeBytes(of: UInt32(mh_sem_size()), toByteOffset: SegmentLayout.semaphoreSizeOffset, as: UInt32.self)
        for control in [SegmentLayout.requestControlOffset, SegmentLayout.eventControlOffset] {
            for semaphore in [SegmentLayout.dataSemaphoreOffset, SegmentLayout.spaceSemaphoreOffset] {
                let pointer = (base + control + semaphore).assumingMemoryBound(to: sem_t.self)
                guard sem_init(pointer, 1, 0) == 0 else {
                    let code = errno
                    munmap(base, total)
                    throw .system(call: "sem_init(pshared=1)", errno: code)
                }
            }
        }
        mh_atomic_store_release_u64(base + SegmentLayout.magicOffset, SegmentLayout.magic)
        succeeded = true
        return SharedMemorySegment(
            name: name, role: .creator, base: base, size: total,
            requestRingCapacity: requestRingCapacity, eventRingCapacity: eventRingCapacity)
    }

    /// Opens and validates an existing segment and records this process as the attacher.
    public static func attach(name: String) throws(IPCError) -> SharedMemorySegment {
        try validateName(name)
        let fd = shm_open(name, O_RDWR | O_CLOEXEC, 0)
        guard fd >= 0 else { throw .lastSystemError("shm_open(\(name))") }
        defer { close(fd) }
        var info = stat()
        guard fstat(fd, &info) == 0 else { throw .lastSystemError("fstat(\(name))") }
        let size = Int(info.st_size)
        guard size >= SegmentLayout.headerSize else {
            throw .layoutMismatch("object \(name) has \(size) bytes, less than the \(SegmentLayout.headerSize)-byte header")
        }
        let base = try map(fd: fd, size: size, name: name)
        do {
            try SegmentLayout.validate(header: UnsafeRawPointer(base), mappedSize: size)
        } catch {
            munmap(base, size)
            throw error
        }
        let request = Int(base.loadUnaligned(fromByteOffset: SegmentLayout.requestCapacityOffset, as: UInt64.self))
        let event = Int(base.loadUnaligned(fromByteOffset: SegmentLayout.eventCapacityOffset, as: UInt64.self))
        mh_atomic_store_release_u32(base + SegmentLayout.attacherPIDOffset, UInt32(bitPattern: getpid()))
        return SharedMemorySegment(
            name: name, role: .attacher, base: base, size: size,
            requestRingCapacity: request, eventRingCapacity: event)
    }

    /// Removes `name` from the system. The memory stays valid for processes that still map it. Returns false when
    /// the name did not exist, which is not an error: cleanup paths call this on names that may be gone already.
    @discardableResult
    public static func unlink(name: String) throws(IPCError) -> Bool {
        try validateName(name)
        if shm_unlink(name) == 0 { return true }
        if errno == ENOENT { return false }
        throw .lastSystemError("shm_unlink(\(name))")
    }

    /// Unlinks this segment's name (idempotent).
    @discardableResult
    public func unlink() throws(IPCError) -> Bool { try Self.unlink(name: name) }

    /// The pid of the process that created the segment.
    public var creatorPID: pid_t {
        pid_t(bitPattern: mh_atomic_load_acquire_u32(base + SegmentLayout.creatorPIDOffset))
    }

    /// The pid of the process that attached last, or 0 while none has.
    public var attacherPID: pid_t {
        pid_t(bitPattern: mh_atomic_load_acquire_u32(base + SegmentLayout.attacherPIDOffset))
    }

    private init(
        name: String, role: Role, base: UnsafeMutableRawPointer, size: Int, requestRingCapacity: Int,
        eventRingCapacity: Int
    ) {
        self.name = name
        self.role = role
        self.base = base
        self.size = size
        self.requestRingCapacity = requestRingCapacity
        self.eventRingCapacity = eventRingCapacity
    }

    deinit {
        // No sem_destroy: on Linux a process-shared semaphore owns no kernel object, and the peer may still use it.
        munmap(base, size)
    }

    /// The ring control block and data region for the ring this role writes or reads.
    func ring(_ which: RingSelector) -> RingMemory {
        let (data, _, _) = SegmentLayout.dataOffsets(requestCapacity: requestRingCapacity, eventCapacity: eventRingCapacity)
        switch which {
        case .request:
            return RingMemory(control: base + SegmentLayout.requestControlOffset, data: base + data,
                              capacity: requestRingCapacity)
        case .event:
            return RingMemory(control: base + SegmentLayout.eventControlOffset, data: base + data + requestRingCapacity,
                              capacity: eventRingCapacity)
        }
    }

    /// The "I closed my side" flag of `role`.
    func closedFlag(of role: Role) -> UnsafeMutableRawPointer {
        base + (role == .creator ? SegmentLayout.creatorClosedOffset : SegmentLayout.attacherClosedOffset)
    }

    private static func validateName(_ name: String) throws(IPCError) {
        let bytes = Array(name.utf8)
        guard bytes.count >= 2, bytes.count <= 255, bytes[0] == UInt8(ascii: "/"),
              !bytes.dropFirst().contains(UInt8(ascii: "/")), !bytes.contains(0) else {
            throw .invalidArgument("shared-memory name must be \"/\" followed by 1-254 characters without \"/\", "
                + "got \"\(name)\"")
        }
    }

    private static func map(fd: Int32, size: Int, name: String) throws(IPCError) -> UnsafeMutableRawPointer {
        guard let pointer = mmap(nil, size, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0), pointer != MAP_FAILED else {
            throw .lastSystemError("mmap(\(name), \(size))")
        }
        return pointer
    }
}

enum RingSelector { case request, event }

/// Raw pointers to one ring inside a mapped segment; the mapping outlives every `RingMemory` (the channel keeps the
/// segment alive).
struct RingMemory {
    let control: UnsafeMutableRawPointer
    let data: UnsafeMutableRawPointer
    let capacity: Int

    var tail: UnsafeMutableRawPointer { control + SegmentLayout.tailOffset }
    var head: UnsafeMutableRawPointer { control + SegmentLayout.headOffset }
    var dataSemaphore: UnsafeMutablePointer<sem_t> {
        (control + SegmentLayout.dataSemaphoreOffset).assumingMemoryBound(to: sem_t.self)
    }
    var consumerWaiting: UnsafeMutableRawPointer { control + SegmentLayout.consumerWaitingOffset }
    var spaceSemaphore: UnsafeMutablePointer<sem_t> {
        (control + SegmentLayout.spaceSemaphoreOffset).assumingMemoryBound(to: sem_t.self)
    }
    var producerWaiting: UnsafeMutableRawPointer { control + SegmentLayout.producerWaitingOffset }
}
