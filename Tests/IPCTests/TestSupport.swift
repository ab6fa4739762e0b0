import Foundation
import Glibc
import IPC
import XCTest

/// Helpers shared by the IPC tests: locating the peer executable, unique segment names, timing.
enum TestSupport {
    /// The `ipc-peer` executable SwiftPM builds next to the test bundle (the test target depends on it).
    static func peerExecutable() throws -> String {
        var buffer = [CChar](repeating: 0, count: 4096)
        let n = readlink("/proc/self/exe", &buffer, buffer.count - 1)
        guard n > 0 else { throw XCTSkip("cannot resolve /proc/self/exe") }
        let exe = String(decoding: buffer[0..<n].map { UInt8(bitPattern: $0) }, as: UTF8.self)
        let directory = (exe as NSString).deletingLastPathComponent
        let candidates = [directory + "/ipc-peer", (directory as NSString).deletingLastPathComponent + "/ipc-peer"]
        guard let found = candidates.first(where: { FileManager.default.isExecutableFile(atPath: $0) }) else {
            XCTFail("ipc-peer not found next to the test bundle (looked at \(candidates)); build it with the tests")
            throw CocoaError(.fileNoSuchFile)
        }
        return found
    }

    /// A segment name under a fresh random root, so parallel or repeated runs never collide.
    static func uniqueSegmentName(_ label: String) -> String {
        try! IPCNames.random().segmentName(worker: label)
    }

    static func sharedMemoryFileExists(_ name: String) -> Bool {
        FileManager.default.fileExists(atPath: "/dev/shm" + name)
    }

    static func spawnPeer(_ arguments: [String]) throws -> SpawnedProcess {
        try SpawnedProcess.spawn(executable: peerExecutable(), arguments: arguments)
    }

    /// Waits (10 ms steps) until `condition` holds or `seconds` pass; returns whether it held.
    static func eventually(within seconds: Double, _ condition: () -> Bool) -> Bool {
        let deadline = IPCDeadline.after(seconds: seconds)
        while !deadline.hasPassed {
            if condition() { return true }
            usleep(10_000)
        }
        return condition()
    }

    static func elapsedSeconds(since start: IPCDeadline) -> Double {
        Double(IPCDeadline.now.uptimeNanoseconds - start.uptimeNanoseconds) / 1e9
    }

    /// Runs `body` on a new thread; the returned closure joins it.
    static func background(_ body: @escaping @Sendable () -> Void) -> () -> Void {
        let done = DispatchSemaphore(value: 0)
        let thread = Thread {
            body()
            done.signal()
        }
        thread.stackSize = 8 << 20
        thread.start()
        return { done.wait() }
    }
}

/// A value shared between the test thread and a helper thread, guarded by a lock.
final class Box<Value>: @unchecked Sendable {
    private let lock = NSLock()
    private var stored: Value
    init(_ value: Value) { stored = value }

    var value: Value {
        get { lock.withLock { stored } }
        set { lock.withLock { stored = newValue } }
    }
}
