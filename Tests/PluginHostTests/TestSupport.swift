import Foundation
import ModelFormats
import ModelHostABI
import TestScratch
import XCTest

/// Paths and helpers shared by the plugin host tests: they build real plugins with the system C compiler, write real
/// manifests and GGUF files, and run the real `modelhost` executable.
enum TestSupport {
    static let repoRoot = URL(fileURLWithPath: #filePath).deletingLastPathComponent()
        .deletingLastPathComponent().deletingLastPathComponent()
    static let sdkInclude = repoRoot.appendingPathComponent("SDK/include").path
    static let fixtures = URL(fileURLWithPath: #filePath).deletingLastPathComponent().appendingPathComponent("Fixtures")

    /// The build products directory (the test runner sits beside the executables).
    static var productsDirectory: URL {
        let exe = (try? FileManager.default.destinationOfSymbolicLink(atPath: "/proc/self/exe")) ?? CommandLine.arguments[0]
        var dir = URL(fileURLWithPath: exe).deletingLastPathComponent()
        // On Linux the runner is <products>/<Package>PackageTests.xctest; be tolerant of bundle layouts too.
        while !FileManager.default.fileExists(atPath: dir.appendingPathComponent("modelhost").path), dir.path != "/" {
            dir = dir.deletingLastPathComponent()
        }
        return dir
    }

    static var modelhost: String { productsDirectory.appendingPathComponent("modelhost").path }

    /// The default model: MODELHOST_TEST_MODEL, else models/ in the repository (scripts/install-default-model).
    static func defaultModelPath() throws -> String {
        var candidates = [repoRoot.appendingPathComponent("models/SmolLM2-135M-Instruct.Q4_1.gguf").path]
        if let env = ProcessInfo.processInfo.environment["MODELHOST_TEST_MODEL"] { candidates.insert(env, at: 0) }
        guard let found = candidates.first(where: { FileManager.default.fileExists(atPath: $0) }) else {
            throw NSError(domain: "TestSupport", code: 2, userInfo: [NSLocalizedDescriptionKey:
                "the default model is missing; run scripts/install-default-model or set MODELHOST_TEST_MODEL"])
        }
        return found
    }

    /// The default embedding model's folder (sentence-transformers/all-MiniLM-L6-v2), or MODELHOST_TEST_EMBEDDING_MODEL.
    static func embeddingModelPath() throws -> String {
        var candidates = [repoRoot.appendingPathComponent("models/sentence-transformers/all-MiniLM-L6-v2").path]
        if let env = ProcessInfo.processInfo.environment["MODELHOST_TEST_EMBEDDING_MODEL"] { candidates.insert(env, at: 0) }
        guard let found = candidates.first(where: { FileManager.default.fileExists(atPath: $0 + "/model.safetensors") })
        else {
            throw NSError(domain: "TestSupport", code: 2, userInfo: [NSLocalizedDescriptionKey:
                "the embedding model is missing; run scripts/install-default-model --embeddings"])
        }
        return found
    }

    /// A new directory named after the calling test, removed when the test process exits.
    static func temporaryDirectory(_ name: String = #function) throws -> URL {
        try TestScratch.directory("mh-test-\(name.filter(\.isLetter))")
    }

    struct ProcessResult {
        let status: Int32
        let output: String
        let error: String
        let signaled: Bool
    }

    @discardableResult
    static func run(_ executable: String, _ arguments: [String], environment: [String: String]? = nil,
                    in directory: URL? = nil) throws -> ProcessResult {
        let p = Process()
        p.executableURL = URL(fileURLWithPath: executable)
        p.arguments = arguments
        if let environment { p.environment = ProcessInfo.processInfo.environment.merging(environment) { $1 } }
        if let directory { p.currentDirectoryURL = directory }
        let out = Pipe(), err = Pipe()
        p.standardOutput = out
        p.standardError = err
        try p.run()
        // Drain both pipes concurrently so neither can fill up and block the child.
        nonisolated(unsafe) var errData = Data()
        let group = DispatchGroup()
        group.enter()
        DispatchQueue.global().async {
            errData = err.fileHandleForReading.readDataToEndOfFile()
            group.leave()
        }
        let outData = out.fileHandleForReading.readDataToEndOfFile()
        group.wait()
        p.waitUntilExit()
        return ProcessResult(status: p.terminationStatus, output: String(decoding: outData, as: UTF8.self),
                             error: String(decoding: errData, as: UTF8.self),
                             signaled: p.terminationReason == .uncaughtSignal)
    }

    static func missingTool(_ name: String) -> NSError {
        NSError(domain: "TestSupport", code: 1,
                userInfo: [NSLocalizedDescriptionKey: "\(name) is not on PATH; install build-essential (.ci/run does)"])
    }

    static func which(_ tool: String) -> String? {
        for dir in (ProcessInfo.processInfo.environment["PATH"] ?? "/usr/bin").split(separator: ":") {
            let path = "\(dir)/\(tool)"
            if FileManager.default.isExecutableFile(atPath: path) { return path }
        }
        return nil
    }

    /// Compiles a C plugin with the system compiler against the SDK headers alone.
    static func compilePlugin(source: String, output: URL, defines: [String] = [], hideSymbols: Bool = true) throws {
        guard let cc = which("cc") else { throw missingTool("cc") }
        let r = try run(cc, ["-std=c11", "-O1", "-Wall", "-Wextra", "-Werror", "-fPIC", "-shared",
                             hideSymbols ? "-fvisibility=hidden" : "-fvisibility=default", "-I", sdkInclude] + defines.map { "-D\($0)" } + ["-o", output.path, source])
        guard r.status == 0 else { throw NSError(domain: "cc", code: Int(r.status), userInfo: [NSLocalizedDescriptionKey: r.error]) }
    }

    static func writeManifest(_ dir: URL, name: String, id: String, library: String, families: [String] = ["bigram"],
                              kind: String = "text-decoder", version: String = "1.0.0", priority: Int = 0,
                              requires: String? = nil, abiMinor: Int = 0) throws {
        var fields = [
            "\"id\": \"\(id)\"", "\"version\": \"\(version)\"", "\"kind\": \"\(kind)\"",
            "\"abi\": {\"major\": 1, \"minor\": \(abiMinor)}", "\"library\": \"\(library)\"", "\"runtime\": \"c\"",
            "\"families\": [\(families.map { "\"\($0)\"" }.joined(separator: ", "))]", "\"priority\": \(priority)",
        ]
        if let requires { fields.append("\"requires\": \(requires)") }
        try "{\(fields.joined(separator: ", "))}".write(to: dir.appendingPathComponent("\(name).plugin.json"),
                                                       atomically: true, encoding: .utf8)
    }

    /// A bigram model for the example plugin: logits[j][k] = row j, column k of a fixed table.
    static func bigramTable(vocab: Int) -> [Float] {
        (0..<vocab * vocab).map { i in Float((i * 37 + 11) % 101) / 10 - 5 }
    }

    static func writeBigramModel(_ path: URL, vocab: Int = 16, context: Int = 256) throws {
        var w = try GGUFWriter()
        try w.set("general.architecture", .string("bigram"))
        try w.set("bigram.vocab_size", .uint32(UInt32(vocab)))
        try w.set("bigram.context_length", .uint32(UInt32(context)))
        // GGUF lists dimensions innermost first.
        try w.addTensor(name: "bigram.logits", dimensions: [vocab, vocab], values: bigramTable(vocab: vocab))
        try w.write(to: path.path)
    }

    /// Builds the SDK's example plugin with its own Makefile (exactly as SDK/README.md says) into `dir`.
    static func buildExamplePlugin(into dir: URL) throws {
        guard let make = which("make") else { throw missingTool("make") }
        let r = try run(make, ["-s", "-C", repoRoot.appendingPathComponent("SDK/examples/bigram").path, "OUT=\(dir.path)"])
        guard r.status == 0 else { throw NSError(domain: "make", code: Int(r.status), userInfo: [NSLocalizedDescriptionKey: r.error + r.output]) }
    }
}

/// A status's message, for assertions.
func statusText(_ status: inout mh_status) -> String {
    withUnsafeBytes(of: &status.message) { raw in
        let bytes = raw.bindMemory(to: UInt8.self)
        return String(decoding: bytes.prefix(while: { $0 != 0 }), as: UTF8.self)
    }
}
