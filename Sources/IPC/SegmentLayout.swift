import CSupport
import Glibc

/// Byte offsets of everything inside a segment. Both processes compute the same offsets from the header's fields,
/// and `validate` refuses any header that would put a ring outside the mapping.
///
/// ```
/// page 0   segment header (magic, version, sizes, pids, closed flags)
///          +1024 request-ring control block, +1536 event-ring control block
/// page 1…  request-ring data (power of two bytes), then event-ring data
/// ```
/// A control block spreads its fields over 128-byte lines (two 64-byte lines, so the adjacent-line prefetcher does
/// not recreate false sharing): producer position, consumer position, "data available" semaphore + consumer-waiting
/// flag, "space available" semaphore + producer-waiting flag.
enum SegmentLayout {
    /// "MHIPCSEG" read as a little-endian integer. Written last by the creator, so an attacher never sees a half
    /// initialised header with a valid magic.
    static let magic: UInt64 = 0x4745_5343_5049_484D
    /// Bumped whenever any offset or the frame format changes.
    static let version: UInt32 = 1
    static let headerSize = 4096

    // Header fields.
    static let magicOffset = 0
    static let versionOffset = 8
    static let headerSizeOffset = 12
    static let totalSizeOffset = 16
    static let requestCapacityOffset = 24
    static let eventCapacityOffset = 32
    static let creatorPIDOffset = 40
    static let attacherPIDOffset = 44
    static let creatorClosedOffset = 48
    static let attacherClosedOffset = 52
    static let semaphoreSizeOffset = 56
    static let requestControlOffset = 1024
    static let eventControlOffset = 1536

    // Control-block fields (relative to the block).
    static let tailOffset = 0
    static let headOffset = 128
    static let dataSemaphoreOffset = 256
    static let consumerWaitingOffset = 256 + 64
    static let spaceSemaphoreOffset = 384
    static let producerWaitingOffset = 384 + 64

    static let minimumRingCapacity = 4096
    static let maximumRingCapacity = 1 << 30

    /// Where the data of each ring starts and the total size, for the given capacities.
    static func dataOffsets(requestCapacity: Int, eventCapacity: Int) -> (request: Int, event: Int, total: Int) {
        (headerSize, headerSize + requestCapacity, headerSize + requestCapacity + eventCapacity)
    }

    static func checkCapacity(_ capacity: Int, _ what: String) throws(IPCError) {
        guard capacity >= minimumRingCapacity, capacity <= maximumRingCapacity, capacity & (capacity - 1) == 0 else {
            throw .invalidArgument(
                "\(what) ring capacity must be a power of two between \(minimumRingCapacity) and "
                    + "\(maximumRingCapacity) bytes, got \(capacity)")
        }
    }

    /// Checks, before any ring is touched, that a mapped header matches this build and fits the mapping.
    static func validate(header base: UnsafeRawPointer, mappedSize: Int) throws(IPCError) {
        let foundMagic = mh_atomic_load_acquire_u64(base + magicOffset)
        guard foundMagic == magic else {
            throw .layoutMismatch(
                "bad magic 0x\(String(foundMagic, radix: 16)); not a ModelHost segment, or its creator has not "
                    + "finished initialising it")
        }
        let foundVersion = base.loadUnaligned(fromByteOffset: versionOffset, as: UInt32.self)
        guard foundVersion == version else {
            throw .layoutMismatch(
                "segment layout version \(foundVersion), this build speaks \(version); orchestrator and worker "
                    + "come from different builds")
        }
        let foundHeader = base.loadUnaligned(fromByteOffset: headerSizeOffset, as: UInt32.self)
        let semSize = base.loadUnaligned(fromByteOffset: semaphoreSizeOffset, as: UInt32.self)
        guard foundHeader == UInt32(headerSize), semSize == UInt32(mh_sem_size()) else {
            throw .layoutMismatch("header size \(foundHeader) / semaphore size \(semSize) differ from this build's")
        }
        let request = Int(truncatingIfNeeded: base.loadUnaligned(fromByteOffset: requestCapacityOffset, as: UInt64.self))
        let event = Int(truncatingIfNeeded: base.loadUnaligned(fromByteOffset: eventCapacityOffset, as: UInt64.self))
        do {
            try checkCapacity(request, "request")
            try checkCapacity(event, "event")
        } catch {
            throw .layoutMismatch("header declares invalid ring sizes: \(error)")
        }
        let total = Int(truncatingIfNeeded: base.loadUnaligned(fromByteOffset: totalSizeOffset, as: UInt64.self))
        let expected = dataOffsets(requestCapacity: request, eventCapacity: event).total
        guard total == expected, total <= mappedSize else {
            throw .layoutMismatch(
                "header declares \(total) bytes (rings need \(expected)) but the object has \(mappedSize) bytes")
        }
    }
}
