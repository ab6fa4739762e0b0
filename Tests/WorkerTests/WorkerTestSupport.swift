import Foundation
import ModelFormats
import Supervisor
import TestScratch
import WorkerProtocol
import XCTest

/// Shared helpers of the worker tests: build the test plugin with `cc`, write its tiny model, find the executables,
/// and inspect processes, /dev/shm and the registry from outside.
enum WorkerTestSupport {
    static let repoRoot = URL(fileURLWithPath: #filePath).resolvingSymlinksInPath().deletingLastPathComponent()
        .deletingLastPathComponent().deletingLastPathComponent()
    static let fixtures = URL(fileURLWithPath: #filePath).deletingLastPathComponent().appendingPathComponent("Fixtures")

    // Commands of Fixtures/test_plugin.c (the first prompt token).
    static let echo: Int32 = 1, eos: Int32 = 2, stall: Int32 = 3, allocate: Int32 = 4, segv: Int32 = 5
    static let abort: Int32 = 6, hang: Int32 = 7, stats: Int32 = 8

    /// The build products directory: the test bundle sits beside the executables.
    static var productsDirectory: URL {
        let exe = (try? FileManager.default.destinationOfSymbolicLink(atPath: "/proc/self/exe")) ?? CommandLine.arguments[0]
        var dir = URL(fileURLWithPath: exe).deletingLastPathComponent()
        while !FileManager.default.fileExists(atPath: dir.appendingPathComponent("modelhost-worker").path), dir.path != "/" {
            dir = dir.deletingLastPathComponent()
        }
        return dir
    }

    static var workerExecutable: String { productsDirectory.appendingPathComponent("modelhost-worker").path }
    static var modelhost: String { productsDirectory.appendingPathComponent("modelhost").path }

    /// A new directory named after the calling test, removed when the test process exits.
    static func temporaryDirectory(_ name: String = #function) throws -> URL {
        try TestScratch.directory("mh-worker-\(name.filter(\.isLetter).prefix(40))")
    }

    /// A directory holding the compiled test plugin and its manifest, plus the model file it serves. Built once
    /// per test process.
    struct Fixture {
        let pluginDirectory: String
        let modelPath: String
    }

    private static let fixtureLock = NSLock()
    nonisolated(unsafe) private static var cached: Fixture?

    static func fixture() throws -> Fixture {
        try fixtureLock.withLock {
            if let cached { return cached }
            let dir = try temporaryDirectory("fixture")
            let library = dir.appendingPathComponent("libmh_test_worker.so")
            guard let cc = which("cc") else {
                throw NSError(domain: "WorkerTests", code: 1,
                              userInfo: [NSLocalizedDescriptionKey: "cc is not on PATH; install build-essential"])
            }
            let r = try run(cc, ["-std=c11", "-O1", "-Wall", "-Wextra", "-Werror", "-fPIC", "-shared",
                                 "-fvisibility=hidden", "-I", repoRoot.appendingPathComponent("SDK/include").path,
                                 "-o", library.path, fixtures.appendingPathComponent("test_plugin.c").path])
            guard r.status == 0 else {
                throw NSError(domain: "cc", code: Int(r.status), userInfo: [NSLocalizedDescriptionKey: r.output])
            }
            let manifest = """
                {"id": "org.modelhost.test.worker", "version": "1.0.0", "kind": "text-decoder",
                 "abi": {"major": 1, "minor": 0}, "library": "libmh_test_worker.so", "runtime": "c",
                 "families": ["mhtest"], "priority": 0}
                """
            try manifest.write(to: dir.appendingPathComponent("test_worker.plugin.json"), atomically: true,
                               encoding: .utf8)
            let model = dir.appendingPathComponent("mhtest.gguf")
            var writer = try GGUFWriter()
            try writer.set("general.architecture", .string("mhtest"))
            try writer.set("mhtest.vocab_size", .uint32(4096))
            try writer.set("mhtest.context_length", .uint32(4096))
            try writer.set("tokenizer.ggml.eos_token_id", .uint32(UInt32(eos)))
            try writer.addTensor(name: "mhtest.unused", dimensions: [16], values: [Float](repeating: 0, count: 16))
            try writer.write(to: model.path)
            let fixture = Fixture(pluginDirectory: dir.path, modelPath: model.path)
            cached = fixture
            return fixture
        }
    }

    /// A supervisor configuration for the test plugin's model, with short timers.
    static func configuration(stateDirectory: URL, maxSequences: Int = 16) throws -> SupervisorConfiguration {
        let fixture = try fixture()
        var configuration = SupervisorConfiguration(
            stateDirectory: stateDirectory.path, workerExecutable: workerExecutable,
            models: [ModelSpec(id: "test", path: fixture.modelPath, pluginPaths: [fixture.pluginDirectory], threads: 1,
                               maxSequences: maxSequences)])
        configuration.loadTimeout = 30
        configuration.stopGrace = 2
        configuration.cancelGrace = 0.5
        return configuration
    }

    /// Collects a request's whole stream: the tokens, the completion, or the error that ended it.
    struct Outcome {
        var tokens: [Int32] = []
        var completion: Completion?
        var error: Error?
    }

    static func collect(_ stream: AsyncThrowingStream<WorkerEvent, Error>) async -> Outcome {
        var outcome = Outcome()
        do {
            for try await event in stream {
                switch event {
                case .delta(let delta): outcome.tokens += delta.tokens
                case .done(let completion): outcome.completion = completion
                default: break
                }
            }
        } catch {
            outcome.error = error
        }
        return outcome
    }

    // MARK: Looking at processes and names from outside

    /// True while `pid` exists and is not a zombie.
    static func isRunning(_ pid: Int32) -> Bool {
        guard let stat = try? String(contentsOfFile: "/proc/\(pid)/stat", encoding: .utf8),
              let close = stat.lastIndex(of: ")") else { return false }
        let state = stat[stat.index(after: close)...].drop(while: { $0 == " " }).first
        return state != "Z" && state != "X"
    }

    /// True while /proc has any entry for `pid` (a zombie included).
    static func hasProcEntry(_ pid: Int32) -> Bool { FileManager.default.fileExists(atPath: "/proc/\(pid)") }

    static func waitUntil(timeout: Double, _ condition: () -> Bool) -> Bool {
        let end = Date().addingTimeInterval(timeout)
        while Date() < end {
            if condition() { return true }
            usleep(10_000)
        }
        return condition()
    }

    static func sharedMemoryFiles(prefix: String) -> [String] {
        ((try? FileManager.default.contentsOfDirectory(atPath: "/dev/shm")) ?? []).filter { $0.hasPrefix(prefix) }
    }

    /// VmRSS of `pid` in KiB.
    static func residentKilobytes(_ pid: Int32) -> Int {
        guard let status = try? String(contentsOfFile: "/proc/\(pid)/status", encoding: .utf8) else { return 0 }
        for line in status.split(separator: "\n") where line.hasPrefix("VmRSS:") {
            return Int(line.split(separator: " ").dropFirst().first ?? "") ?? 0
        }
        return 0
    }

    /// The registry document: (worker pids, shared-memory names, roots).
    static func registryContents(_ stateDirectory: URL) throws -> (pids: [Int32], names: [String], roots: [String]) {
        let data = try Data(contentsOf: stateDirectory.appendingPathComponent("workers.json"))
        let object = try XCTUnwrap(try JSONSerialization.jsonObject(with: data) as? [String: Any])
        let workers = (object["workers"] as? [[String: Any]]) ?? []
        let pids = workers.compactMap { ($0["identity"] as? [String: Any])?["pid"] as? Int }.map { Int32($0) }
        let names = workers.flatMap { ($0["sharedMemoryNames"] as? [String]) ?? [] }
        return (pids, names, (object["roots"] as? [String]) ?? [])
    }

    // MARK: Running tools

    struct ProcessResult {
        let status: Int32
        let output: String
    }

    /// Runs a tool to completion with stdout and stderr in one temporary file (never an undrained pipe).
    static func run(_ executable: String, _ arguments: [String]) throws -> ProcessResult {
        let log = FileManager.default.temporaryDirectory.appendingPathComponent("mh-run-\(UUID().uuidString).log")
        _ = FileManager.default.createFile(atPath: log.path, contents: nil)
        defer { try? FileManager.default.removeItem(at: log) }
        let handle = try FileHandle(forWritingTo: log)
        let p = Process()
        p.executableURL = URL(fileURLWithPath: executable)
        p.arguments = arguments
        p.standardOutput = handle
        p.standardError = handle
        try p.run()
        p.waitUntilExit()
        try handle.close()
        return ProcessResult(status: p.terminationStatus, output: (try? String(contentsOf: log, encoding: .utf8)) ?? "")
    }

    static func which(_ tool: String) -> String? {
        for dir in (ProcessInfo.processInfo.environment["PATH"] ?? "/usr/bin").split(separator: ":") {
            let path = "\(dir)/\(tool)"
            if FileManager.default.isExecutableFile(atPath: path) { return path }
        }
        return nil
    }
}
