import Foundation
import ModelFormats
import ModelHostABI

/// Checks a plugin the way a host uses it: manifest, symbols, version negotiation against older and newer hosts,
/// lifecycle and error paths. Each check runs in a fresh child process (`modelhost plugins verify --check NAME`), so a
/// plugin that crashes fails that check instead of killing the verifier.
public enum PluginVerifier {
    public struct CheckResult: Codable, Sendable {
        public let name: String
        public let passed: Bool
        public let detail: String
    }

    /// Check names in the order they run.
    public static let checks = [
        "manifest", "symbols", "load", "entry-idempotent", "host-older-minor", "host-newer-minor", "host-other-major",
        "null-arguments", "unknown-interface", "lifecycle", "error-paths", "model-roundtrip",
    ]

    /// Finds the manifest that names `library` in the library's directory.
    public static func manifestPath(for library: String) -> String? {
        let dir = URL(fileURLWithPath: library).deletingLastPathComponent()
        let name = URL(fileURLWithPath: library).lastPathComponent
        let entries = (try? FileManager.default.contentsOfDirectory(atPath: dir.path)) ?? []
        for entry in entries.sorted() where entry.hasSuffix(PluginManifest.fileSuffix) {
            let path = dir.appendingPathComponent(entry).path
            if let m = try? PluginManifest.load(path: path), m.library == name { return path }
        }
        return nil
    }

    /// Runs every check, each in a child process started from `executable` with `verify --check`.
    public static func verify(library: String, modelPath: String?, executable: String) -> [CheckResult] {
        checks.map { name in
            var arguments = ["plugins", "verify", "--check", name, library]
            if let modelPath { arguments += ["--model", modelPath] }
            return runChild(executable: executable, arguments: arguments, check: name)
        }
    }

    public static func runChild(executable: String, arguments: [String], check: String) -> CheckResult {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: executable)
        process.arguments = arguments
        let out = Pipe()
        process.standardOutput = out
        process.standardError = FileHandle.nullDevice
        do {
            try process.run()
        } catch {
            return CheckResult(name: check, passed: false, detail: "could not start the check process: \(error)")
        }
        // Read before waiting: a full pipe must never block the child (the seed's deadlock).
        let data = out.fileHandleForReading.readDataToEndOfFile()
        process.waitUntilExit()
        if process.terminationReason == .uncaughtSignal {
            let signal = process.terminationStatus
            let name = String(cString: strsignal(signal))
            return CheckResult(name: check, passed: false, detail: "the plugin crashed the host process (signal \(signal), \(name))")
        }
        guard let line = String(data: data, encoding: .utf8)?.split(separator: "\n").last,
              let result = try? JSONDecoder().decode(CheckResult.self, from: Data(line.utf8)) else {
            return CheckResult(name: check, passed: false,
                               detail: "the check process exited with status \(process.terminationStatus) and no result")
        }
        return result
    }

    /// Runs one check in this process (the child side).
    public static func runCheck(_ name: String, library: String, modelPath: String?) -> CheckResult {
        do {
            let detail = try perform(name, library: library, modelPath: modelPath)
            return CheckResult(name: name, passed: true, detail: detail)
        } catch let failure as CheckFailure {
            return CheckResult(name: name, passed: false, detail: failure.message)
        } catch {
            return CheckResult(name: name, passed: false, detail: "\(error)")
        }
    }

    struct CheckFailure: Error { let message: String }

    static func discovered(_ library: String) throws -> DiscoveredPlugin {
        guard let manifest = manifestPath(for: library) else {
            throw CheckFailure(message: "no *\(PluginManifest.fileSuffix) beside the library names it in 'library'")
        }
        let d = PluginDiscovery.inspect(manifestPath: manifest)
        if let r = d.rejection { throw CheckFailure(message: r.description) }
        guard d.libraryPath == URL(fileURLWithPath: library).standardizedFileURL.path else {
            throw CheckFailure(message: "manifest names another library")
        }
        return d
    }

    static func entry(_ library: String) throws -> mh_plugin_entry_v1_fn {
        guard let handle = dlopen(library, RTLD_NOW | RTLD_LOCAL) else {
            throw CheckFailure(message: "dlopen: \(String(cString: dlerror()))")
        }
        guard let symbol = dlsym(handle, MH_PLUGIN_ENTRY_V1_SYMBOL) else {
            throw CheckFailure(message: "no \(MH_PLUGIN_ENTRY_V1_SYMBOL) symbol")
        }
        return unsafeBitCast(symbol, to: mh_plugin_entry_v1_fn.self)
    }

    static func callEntry(_ entry: mh_plugin_entry_v1_fn, _ host: HostServices?) -> (Int32, UnsafePointer<mh_plugin_v1>?, String) {
        var out: UnsafePointer<mh_plugin_v1>?
        var status = mh_status()
        mh_status_init(&status)
        let rc = entry(host.map { UnsafePointer($0.table) }, &out, &status)
        return (rc, out, statusText(&status))
    }

    static func loadAndInit(_ library: String, host: HostServices) throws -> PluginContext {
        let plugin = try PluginLoader.load(try discovered(library), host: host)
        return try plugin.initialize()
    }

    static func perform(_ name: String, library: String, modelPath: String?) throws -> String {
        switch name {
        case "manifest":
            let d = try discovered(library)
            return "manifest \(d.manifestPath) is valid; CPU and ELF checks pass"
        case "symbols":
            _ = try discovered(library)
            let exported = try ELFCheck.exportedSymbols(path: library)
            guard exported.contains(MH_PLUGIN_ENTRY_V1_SYMBOL) else {
                throw CheckFailure(message: "\(MH_PLUGIN_ENTRY_V1_SYMBOL) is not exported")
            }
            let others = exported.filter { !$0.hasPrefix("mh_plugin_entry_v") }
            guard others.isEmpty else {
                throw CheckFailure(message: "exports \(others.count) symbols besides the entry (e.g. \(others.prefix(3).joined(separator: ", "))); hide them with -fvisibility=hidden or SDK/plugin-exports.map")
            }
            return "exports \(exported.joined(separator: ", ")) and nothing else"
        case "load":
            let p = try PluginLoader.load(try discovered(library), host: HostServices(threads: 1))
            return "loaded \(p.id) \(p.version) (runtime \(p.runtimeTag), requires host ABI ≥ 1.\(p.abiMinorRequired))"
        case "entry-idempotent":
            let e = try entry(library)
            let host = HostServices(threads: 1)
            let (rc1, d1, m1) = callEntry(e, host)
            let (rc2, d2, _) = callEntry(e, host)
            guard rc1 == 0, rc2 == 0 else { throw CheckFailure(message: "entry failed: \(m1)") }
            guard d1 == d2 else { throw CheckFailure(message: "entry returned different descriptors on two calls") }
            return "two calls return the same descriptor"
        case "host-older-minor":
            // ABI 1.0 is the oldest minor; a plugin that requires nothing newer must accept it.
            let p = try PluginLoader.load(try discovered(library), host: HostServices(threads: 1))
            let (rc, _, m) = callEntry(try entry(library), HostServices(threads: 1, abiMinor: 0,
                                                                        structSize: Int(MH_HOST_V1_SIZE_1_0)))
            if p.abiMinorRequired == 0 {
                guard rc == 0 else { throw CheckFailure(message: "plugin refuses a 1.0 host though it requires 1.0: \(m)") }
                return "accepts a host of ABI 1.0"
            }
            guard rc == MH_ERR_INCOMPATIBLE.rawValue, !m.isEmpty else {
                throw CheckFailure(message: "plugin requires 1.\(p.abiMinorRequired) but answered a 1.0 host with \(rc) '\(m)'")
            }
            return "refuses a 1.0 host cleanly: \(m)"
        case "host-newer-minor":
            let newer = HostServices(threads: 1, abiMinor: UInt16(MH_ABI_MINOR) + 7,
                                     structSize: MemoryLayout<mh_host_v1>.size + 64)
            let (rc, d, m) = callEntry(try entry(library), newer)
            guard rc == 0, d != nil else { throw CheckFailure(message: "plugin refuses a newer host (1.\(MH_ABI_MINOR + 7)): \(m)") }
            return "accepts a newer host (ABI 1.\(MH_ABI_MINOR + 7), larger table)"
        case "host-other-major":
            var messages: [String] = []
            for major: UInt16 in [0, 2] {
                let (rc, _, m) = callEntry(try entry(library), HostServices(threads: 1, abiMajor: major))
                guard rc != 0 else { throw CheckFailure(message: "plugin accepted a host of ABI \(major)") }
                guard !m.isEmpty else { throw CheckFailure(message: "plugin refused ABI \(major) with an empty message") }
                messages.append(m)
            }
            return "refuses hosts of ABI 0 and 2: \(messages[0])"
        case "null-arguments":
            let e = try entry(library)
            let (rc, _, m) = callEntry(e, nil)
            guard rc != 0, !m.isEmpty else { throw CheckFailure(message: "entry(NULL host) returned \(rc) '\(m)'") }
            let host = HostServices(threads: 1)
            let (_, d, _) = callEntry(e, host)
            guard let d else { throw CheckFailure(message: "entry failed") }
            var status = mh_status()
            mh_status_init(&status)
            var score: Int32 = 0
            let rcProbe = d.pointee.probe(host.table, nil, &score, &status)
            guard rcProbe != 0, !statusText(&status).isEmpty else {
                throw CheckFailure(message: "probe(NULL query) returned \(rcProbe) without a message")
            }
            mh_status_init(&status)
            let rcInit = d.pointee.`init`(host.table, nil, &status)
            guard rcInit != 0, !statusText(&status).isEmpty else {
                throw CheckFailure(message: "init(out = NULL) returned \(rcInit) without a message")
            }
            return "NULL host, query and out are refused with messages"
        case "unknown-interface":
            let context = try loadAndInit(library, host: HostServices(threads: 1))
            defer { context.shutdown() }
            guard context.interface("org.example.no-such-interface.v9") == nil else {
                throw CheckFailure(message: "get_interface returned a table for an unknown id")
            }
            guard context.plugin.descriptor.pointee.get_interface(context.raw, nil) == nil else {
                throw CheckFailure(message: "get_interface(NULL) returned a table")
            }
            let iid = kindInterface(context.plugin.manifest.kind)
            guard context.interface(iid) != nil else {
                throw CheckFailure(message: "the plugin does not implement \(iid) for its kind")
            }
            return "unknown ids give NULL; \(iid) is implemented"
        case "lifecycle":
            return try lifecycle(library, modelPath: modelPath)
        case "error-paths":
            return try errorPaths(library)
        case "model-roundtrip":
            return try modelRoundTrip(library, modelPath: modelPath)
        default:
            throw CheckFailure(message: "unknown check '\(name)'")
        }
    }

    static func kindInterface(_ kind: PluginKindName) -> String {
        switch kind {
        case .textDecoder: return MH_IID_TEXT_DECODER_V1
        case .visionEncoder: return MH_IID_VISION_ENCODER_V1
        case .imagePreprocessor: return MH_IID_IMAGE_PREPROCESSOR_V1
        case .textEncoder: return MH_IID_TEXT_ENCODER_V1
        }
    }

    /// An empty model: no tensors, no metadata. Opening it must fail with a message, never crash.
    final class EmptyWeights: ModelWeights, @unchecked Sendable {
        var format: UInt32 { UInt32(MH_FORMAT_GGUF.rawValue) }
        var tensorNames: [String] { [] }
        func tensorView(named: String) throws(WeightsError) -> WeightsTensor? { nil }
        func metadata(_ key: String) -> GGUFValue? { nil }
    }

    static func lifecycle(_ library: String, modelPath: String?) throws -> String {
        let host = HostServices(threads: 1)
        let context = try loadAndInit(library, host: host)
        if context.plugin.manifest.kind == .textEncoder {
            defer { context.shutdown() }
            return try encoderLifecycle(context, host: host, modelPath: modelPath)
        }
        guard context.plugin.manifest.kind == .textDecoder else {
            context.shutdown()
            return "init and shutdown succeed"
        }
        let decoder = try TextDecoderClient(context)
        let empty = WeightsService(EmptyWeights())
        do {
            _ = try decoder.openModel(weights: empty, path: "<empty>")
            throw CheckFailure(message: "model_open accepted a model with no tensors")
        } catch let error as PluginCallError {
            guard !error.message.isEmpty else { throw CheckFailure(message: "model_open failed without a message") }
        }
        var detail = "an empty model is refused with a message"
        if let modelPath {
            let weights = WeightsService(try openWeights(modelPath))
            for _ in 0..<3 {
                let model = try decoder.openModel(weights: weights, path: modelPath, maxSequences: 4)
                for _ in 0..<200 { try model.makeSequence(capacity: min(64, model.contextLength)).destroy() }
                model.close()
            }
            guard host.liveAllocationCount == 0 else {
                throw CheckFailure(message: "\(host.liveAllocationCount) host allocations (\(host.liveBytes) bytes) leaked after 3 open/close and 600 sequence cycles")
            }
            detail += "; 3 model and 600 sequence create/destroy cycles return every host allocation"
        }
        context.shutdown()
        return detail
    }

    /// A GGUF file or a Hugging Face folder, as the worker opens them.
    static func openWeights(_ path: String) throws -> ModelWeights {
        try openModelWeights(path: path)
    }

    static func expectFailure(_ what: String, _ body: () throws -> Void) throws {
        do {
            try body()
        } catch let error as PluginCallError {
            guard !error.message.isEmpty else { throw CheckFailure(message: "\(what): refused without a message") }
            return
        }
        throw CheckFailure(message: "\(what): accepted")
    }

    static func errorPaths(_ library: String) throws -> String {
        let host = HostServices(threads: 1)
        let context = try loadAndInit(library, host: host)
        defer { context.shutdown() }
        if context.plugin.manifest.kind == .textEncoder { return try encoderErrorPaths(context) }
        guard context.plugin.manifest.kind == .textDecoder,
              let raw = context.interface(MH_IID_TEXT_DECODER_V1) else { return "no decoder interface to exercise" }
        // Copy only what the plugin's table holds: a 1.0 table ends before seq_copy.
        var t = mh_text_decoder_v1()
        let held = min(Int(raw.load(as: UInt32.self)), MemoryLayout<mh_text_decoder_v1>.size)
        withUnsafeMutableBytes(of: &t) { $0.copyMemory(from: UnsafeRawBufferPointer(start: raw, count: held)) }
        var status = mh_status()
        var failures: [String] = []
        func check(_ name: String, _ rc: Int32) {
            if rc == 0 { failures.append("\(name) returned OK") }
            else if statusText(&status).isEmpty { failures.append("\(name) gave no message") }
            mh_status_init(&status)
        }
        mh_status_init(&status)
        var model: OpaquePointer?
        check("model_open(desc = NULL)", t.model_open(context.raw, nil, &model, &status))
        var info = mh_decoder_info()
        info.struct_size = UInt32(MemoryLayout<mh_decoder_info>.size)
        check("model_info(model = NULL)", t.model_info(nil, &info, &status))
        var seq: OpaquePointer?
        check("seq_create(model = NULL)", t.seq_create(nil, 16, &seq, &status))
        check("seq_truncate(seq = NULL)", t.seq_truncate(nil, 0, &status))
        check("forward(model = NULL)", t.forward(nil, nil, &status))
        if let copy = t.seq_copy { check("seq_copy(dst = NULL, src = NULL)", copy(nil, nil, 0, &status)) }
        t.model_close(nil)
        t.seq_destroy(nil)
        guard failures.isEmpty else { throw CheckFailure(message: failures.joined(separator: "; ")) }
        return "NULL models, sequences and batches are refused with messages; close/destroy(NULL) are no-ops"
    }

    static func modelRoundTrip(_ library: String, modelPath: String?) throws -> String {
        guard let modelPath else { return "skipped: pass --model to run a reference prompt" }
        let host = HostServices(threads: 2)
        let context = try loadAndInit(library, host: host)
        defer { context.shutdown() }
        if context.plugin.manifest.kind == .textEncoder {
            return try encoderRoundTrip(context, modelPath: modelPath)
        }
        guard context.plugin.manifest.kind == .textDecoder else { return "skipped: not a decoder" }
        let decoder = try TextDecoderClient(context)
        let weights = WeightsService(try openWeights(modelPath))
        let model = try decoder.openModel(weights: weights, path: modelPath, maxSequences: 2)
        defer { model.close() }
        let prompt: [Int32] = (0..<8).map { Int32(($0 * 7 + 1) % max(model.vocabularySize, 1)) }
        let a = try model.makeSequence(capacity: 32)
        let first = try model.forward([.init(sequence: a, input: .tokens(prompt))])[0]
        guard first.count == model.vocabularySize, first.allSatisfy(\.isFinite) else {
            throw CheckFailure(message: "logits are not \(model.vocabularySize) finite values")
        }
        // Prefix reuse: truncate to half and re-feed the rest; logits must match.
        try a.truncate(to: 4)
        let again = try model.forward([.init(sequence: a, input: .tokens(Array(prompt[4...])))])[0]
        let maxDiff = zip(first, again).map { abs($0 - $1) }.max() ?? 0
        guard maxDiff <= 1e-3 * max(1, first.map(abs).max() ?? 1) else {
            throw CheckFailure(message: "truncate + re-feed changed the logits by \(maxDiff)")
        }
        // Batched: two sequences in one call equal two single calls.
        let b = try model.makeSequence(capacity: 32)
        let c = try model.makeSequence(capacity: 32)
        let both = try model.forward([.init(sequence: b, input: .tokens(prompt)),
                                      .init(sequence: c, input: .tokens(Array(prompt.prefix(3))))])
        let diff = zip(both[0], first).map { abs($0 - $1) }.max() ?? 0
        guard diff <= 1e-3 * max(1, first.map(abs).max() ?? 1), b.length == 8, c.length == 3 else {
            throw CheckFailure(message: "a batched call differs from a single one by \(diff)")
        }
        var copied = ""
        if model.canCopySequences {
            // Prefix sharing: a copy of b's first half, continued, gives b's logits; b is untouched.
            let d = try model.makeSequence(capacity: 32)
            try d.copy(from: b, count: 4)
            guard d.length == 4, b.length == 8 else {
                throw CheckFailure(message: "seq_copy left lengths \(d.length) (copy) and \(b.length) (source), expected 4 and 8")
            }
            let continued = try model.forward([.init(sequence: d, input: .tokens(Array(prompt[4...])))])[0]
            let copyDiff = zip(continued, first).map { abs($0 - $1) }.max() ?? 0
            guard copyDiff <= 1e-3 * max(1, first.map(abs).max() ?? 1) else {
                throw CheckFailure(message: "a copied prefix, continued, differs from the original by \(copyDiff)")
            }
            do {
                try d.copy(from: c, count: 4)
                throw CheckFailure(message: "seq_copy copied 4 positions from a sequence holding 3")
            } catch is PluginCallError {}
            copied = "; a copied prefix continues identically (max diff \(copyDiff))"
        }
        do {
            _ = try model.forward([.init(sequence: c, input: .tokens([Int32(model.vocabularySize)]))])
            throw CheckFailure(message: "forward accepted a token id equal to the vocabulary size")
        } catch is PluginCallError {}
        guard c.length == 3 else { throw CheckFailure(message: "a refused forward changed the sequence length") }
        return "reference prompt gives finite logits; truncate/re-feed and batched decode agree (max diff \(maxDiff))" + copied
    }

    // MARK: Text encoders (ABI 1.2)

    static func encoderLifecycle(_ context: PluginContext, host: HostServices, modelPath: String?) throws -> String {
        let encoder = try TextEncoderClient(context)
        do {
            _ = try encoder.openModel(weights: WeightsService(EmptyWeights()), path: "<empty>")
            throw CheckFailure(message: "model_open accepted a model with no tensors")
        } catch let error as PluginCallError {
            guard !error.message.isEmpty else { throw CheckFailure(message: "model_open failed without a message") }
        }
        var detail = "an empty model is refused with a message"
        if let modelPath {
            let weights = WeightsService(try openWeights(modelPath))
            for _ in 0..<3 {
                let model = try encoder.openModel(weights: weights, path: modelPath)
                for _ in 0..<20 { _ = try model.encode([[1, 2, 3], [4, 5]]) }
            }
            guard host.liveAllocationCount == 0 else {
                throw CheckFailure(message: "\(host.liveAllocationCount) host allocations (\(host.liveBytes) bytes) leaked after 3 open/close cycles of 20 encode calls")
            }
            detail += "; 3 open/encode/close cycles return every host allocation"
        }
        return detail
    }

    static func encoderErrorPaths(_ context: PluginContext) throws -> String {
        guard let raw = context.interface(MH_IID_TEXT_ENCODER_V1) else { return "no encoder interface to exercise" }
        var t = mh_text_encoder_v1()
        let held = min(Int(raw.load(as: UInt32.self)), MemoryLayout<mh_text_encoder_v1>.size)
        withUnsafeMutableBytes(of: &t) { $0.copyMemory(from: UnsafeRawBufferPointer(start: raw, count: held)) }
        var status = mh_status()
        mh_status_init(&status)
        var failures: [String] = []
        func check(_ name: String, _ rc: Int32) {
            if rc == 0 { failures.append("\(name) returned OK") }
            else if statusText(&status).isEmpty { failures.append("\(name) gave no message") }
            mh_status_init(&status)
        }
        var model: OpaquePointer?
        check("model_open(desc = NULL)", t.model_open(context.raw, nil, &model, &status))
        var info = mh_encoder_info()
        info.struct_size = UInt32(MemoryLayout<mh_encoder_info>.size)
        check("model_info(model = NULL)", t.model_info(nil, &info, &status))
        check("encode(model = NULL, batch = NULL)", t.encode(nil, nil, &status))
        t.model_close(nil)
        guard failures.isEmpty else { throw CheckFailure(message: failures.joined(separator: "; ")) }
        return "NULL models and batches are refused with messages; close(NULL) is a no-op"
    }

    static func encoderRoundTrip(_ context: PluginContext, modelPath: String?) throws -> String {
        guard let modelPath else { return "skipped: pass --model to encode reference inputs" }
        let encoder = try TextEncoderClient(context)
        let weights = WeightsService(try openWeights(modelPath))
        let model = try encoder.openModel(weights: weights, path: modelPath)
        let n = model.embeddingLength
        let inputs: [[Int32]] = [[1, 2, 3, 4, 5, 6, 7], [8, 9], [10]].map { $0.map { $0 % Int32(model.vocabularySize) } }
        let together = try model.encode(inputs)
        guard together.count == inputs.count * n, together.allSatisfy(\.isFinite) else {
            throw CheckFailure(message: "encode did not give \(inputs.count) rows of \(n) finite values")
        }
        // Batch invariance: each input alone gives its row of the batched call.
        var maxDiff: Float = 0
        for (index, input) in inputs.enumerated() {
            let alone = try model.encode([input])
            for i in 0..<n { maxDiff = max(maxDiff, abs(alone[i] - together[index * n + i])) }
        }
        guard maxDiff <= 1e-4 else {
            throw CheckFailure(message: "an input encoded alone differs from its row in a batch by \(maxDiff)")
        }
        if model.normalized {
            for row in 0..<inputs.count {
                let norm = (0..<n).reduce(Float(0)) { $0 + together[row * n + $1] * together[row * n + $1] }.squareRoot()
                guard abs(norm - 1) < 1e-3 else {
                    throw CheckFailure(message: "the model reports normalized outputs, row \(row) has length \(norm)")
                }
            }
        }
        do {
            _ = try model.encode([[Int32(model.vocabularySize)]])
            throw CheckFailure(message: "encode accepted a token id equal to the vocabulary size")
        } catch is PluginCallError {}
        return "\(n)-dimensional \(model.pooling) vectors\(model.normalized ? ", unit length" : ""); a batch equals its inputs encoded alone (max diff \(maxDiff))"
    }
}
