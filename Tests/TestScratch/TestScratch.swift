import Foundation

/// Scratch directories and files for tests, removed when the test process exits.
///
/// Many fixtures live as long as the process (a staged plugin stays `dlopen`ed, a built worker fixture is shared by
/// every test), so they cannot be removed in a test's tear-down; removing them at exit, when every test and every
/// worker it started is done, keeps repeated runs from piling up in the temporary directory.
public enum TestScratch {
    private static let lock = NSLock()
    nonisolated(unsafe) private static var paths: [String] = []
    nonisolated(unsafe) private static var cleanupRegistered = false

    /// A new empty directory `<tmp>/<prefix>-<8 hex digits>`, removed at exit.
    public static func directory(_ prefix: String) throws -> URL {
        let url = FileManager.default.temporaryDirectory
            .appendingPathComponent("\(prefix)-\(UUID().uuidString.prefix(8))")
        try FileManager.default.createDirectory(at: url, withIntermediateDirectories: true)
        track(url.path)
        return url
    }

    /// Removes `path` (a file or a directory) at exit.
    public static func track(_ path: String) {
        lock.lock()
        defer { lock.unlock() }
        paths.append(path)
        if !cleanupRegistered {
            cleanupRegistered = true
            atexit { TestScratch.removeAll() }
        }
    }

    private static func removeAll() {
        lock.lock()
        let all = paths
        paths = []
        lock.unlock()
        for path in all { try? FileManager.default.removeItem(atPath: path) }
    }
}
