import Foundation

// What the command-line front ends share (`modelhost` and the test harness `modelhost-supervise`): reading input
// lines, honouring an early signal, finding the running executable, reporting a runtime failure.

/// Path of the running executable, for re-executing it (verifier checks run in child processes).
public func currentExecutable() -> String {
    (try? FileManager.default.destinationOfSymbolicLink(atPath: "/proc/self/exe")) ?? CommandLine.arguments[0]
}

/// A failure while running a well-formed command (a directory that cannot be created, a model that is missing, a
/// worker that fails): argument-parser prints it as one `Error: …` line and exits 1, without the usage text that a
/// `ValidationError` adds, which is only for mistakes on the command line.
public struct RuntimeFailure: Error, CustomStringConvertible {
    public let description: String

    public init(_ description: String) { self.description = description }
}

/// Lets a signal that arrives before the session (or server) exists still be honoured once it does; later signals go
/// straight to the installed action (`serve` ends its grace time on a second one).
public final class ShutdownHook: @unchecked Sendable {
    private let lock = NSLock()
    private var action: ((String) -> Void)?
    private var early: String?

    public init() {}

    public func fire(reason: String) {
        let run = lock.withLock { () -> ((String) -> Void)? in
            if action == nil { early = reason }
            return action
        }
        run?(reason)
    }

    public func install(_ action: @escaping (String) -> Void) {
        let pending = lock.withLock { () -> String? in
            self.action = action
            return early
        }
        if let pending { action(pending) }
    }
}

/// SIGHUP's action (reload the presets): a signal before the action is installed finds nothing loaded yet to reload,
/// and is dropped.
public final class ReloadHook: @unchecked Sendable {
    private let lock = NSLock()
    private var action: (() -> Void)?

    public init() {}

    public func fire() { lock.withLock { action }?() }

    public func install(_ action: @escaping () -> Void) { lock.withLock { self.action = action } }
}

/// Lines from standard input with `read(2)`, retrying a read that a signal interrupts, so that nothing but a real end
/// of input (Ctrl-D) ends a chat. It holds no stdio lock while it waits: a thread blocked in Swift's `readLine` holds
/// stdin's, which exit() takes on newer glibc (Debian 13), so a process reading input on a thread could not exit.
public final class LineReader {
    public init() {}

    private var pending: [UInt8] = []
    private var ended = false

    public func readLine() -> String? {
        while true {
            if let newline = pending.firstIndex(of: 10) {
                var line = Array(pending[..<newline])
                pending.removeSubrange(...newline)
                if line.last == 13 { line.removeLast() }
                return String(decoding: line, as: UTF8.self)
            }
            if ended {
                guard !pending.isEmpty else { return nil }
                defer { pending.removeAll() }
                return String(decoding: pending, as: UTF8.self)
            }
            var chunk = [UInt8](repeating: 0, count: 4096)
            let count = chunk.withUnsafeMutableBytes { Foundation.read(0, $0.baseAddress!, $0.count) }
            if count < 0 {
                if errno == EINTR { continue }
                ended = true
            } else if count == 0 {
                ended = true
            } else {
                pending.append(contentsOf: chunk[..<count])
            }
        }
    }
}
