import Glibc

/// Derives every shared-memory name of one orchestrator run from a single random root, so a crashed run's leftovers
/// are found by prefix (`/dev/shm/mh-<root>-*`) and names never need to be randomised independently on each side.
public struct IPCNames: Sendable, Hashable {
    /// Lower-case hex, 16 characters: 64 random bits make a collision with a live run negligible.
    public let root: String

    /// The prefix every name of this root starts with, without the leading slash (as it appears in /dev/shm).
    public var fileNamePrefix: String { "mh-\(root)-" }

    /// Uses an existing root (read back from the registry, or passed to a worker). Throws on anything but 1–32
    /// characters of [a-z0-9], because the root becomes part of a file name in /dev/shm.
    public init(root: String) throws(IPCError) {
        guard (1...32).contains(root.utf8.count),
              root.utf8.allSatisfy({ ($0 >= 0x30 && $0 <= 0x39) || ($0 >= 0x61 && $0 <= 0x7A) }) else {
            throw .invalidArgument("IPC name root must be 1-32 characters of [a-z0-9], got \"\(root)\"")
        }
        self.root = root
    }

    /// A fresh random root for a new orchestrator run.
    public static func random() -> IPCNames {
        var generator = SystemRandomNumberGenerator()
        let value = generator.next() as UInt64
        var hex = String(value, radix: 16)
        hex = String(repeating: "0", count: 16 - hex.count) + hex
        // Cannot fail: 16 hex digits satisfy the root rule.
        return try! IPCNames(root: hex)
    }

    /// The POSIX shared-memory name (leading slash) of the segment for `worker`, which must be 1–64 characters of
    /// [A-Za-z0-9_.] so that it cannot smuggle a slash or another root's prefix into the name.
    public func segmentName(worker: String) throws(IPCError) -> String {
        guard (1...64).contains(worker.utf8.count),
              worker.utf8.allSatisfy({ c in
                  (c >= 0x30 && c <= 0x39) || (c >= 0x41 && c <= 0x5A) || (c >= 0x61 && c <= 0x7A) || c == 0x5F
                      || c == 0x2E
              }) else {
            throw .invalidArgument("worker name must be 1-64 characters of [A-Za-z0-9_.], got \"\(worker)\"")
        }
        return "/\(fileNamePrefix)\(worker)"
    }

    /// Whether a /dev/shm file name (no slash) belongs to this root.
    public func owns(fileName: String) -> Bool { fileName.hasPrefix(fileNamePrefix) }
}
