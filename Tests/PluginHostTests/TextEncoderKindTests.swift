import Foundation
import ModelFormats
import ModelHostABI
import PluginHost
import XCTest

/// The text encoder kind (ABI 1.2) through the SDK's C example (SDK/examples/bagofwords), built by `cc` from the
/// SDK's headers alone: it verifies, serves batches at the host's stride, and meets hosts older and newer than
/// itself the way the ABI's versioning rules say.
final class TextEncoderKindTests: XCTestCase {
    static let vocab = 64, dim = 8
    static let example = TestSupport.repoRoot.appendingPathComponent("SDK/examples/bagofwords")

    /// Builds the example against `include` into `dir`, with its manifest and its model (the example's own script).
    static func buildExample(include: String = TestSupport.sdkInclude, into dir: URL) throws {
        guard let cc = TestSupport.which("cc") else { throw TestSupport.missingTool("cc") }
        let r = try TestSupport.run(cc, ["-std=c11", "-O1", "-Wall", "-Wextra", "-Werror", "-fPIC", "-shared",
                                         "-fvisibility=hidden", "-I", include, "-o",
                                         dir.appendingPathComponent("libmh_bow.so").path,
                                         example.appendingPathComponent("bow_encoder.c").path, "-lm"])
        XCTAssertEqual(r.status, 0, r.error)
        try FileManager.default.copyItem(at: example.appendingPathComponent("bow.plugin.json"),
                                         to: dir.appendingPathComponent("bow.plugin.json"))
        let model = try TestSupport.run("/usr/bin/env", ["python3", example.appendingPathComponent("make_model.py").path,
                                                         dir.appendingPathComponent("bow.gguf").path])
        XCTAssertEqual(model.status, 0, model.error)
    }

    /// The example's vector for `tokens`: the mean of the table's rows, scaled to unit length (make_model.py's table).
    static func expected(_ tokens: [Int32]) -> [Float] {
        let table: [Float] = (0..<(vocab * dim)).map { (i: Int) -> Float in
            let step = (i * 37 + 11) % 101
            return Float(step) / 10 - 5
        }
        var row = [Float](repeating: 0, count: dim)
        for token in tokens {
            for k in 0..<dim { row[k] += table[Int(token) * dim + k] }
        }
        var norm = 0.0
        for k in 0..<dim {
            row[k] /= Float(tokens.count)
            norm += Double(row[k]) * Double(row[k])
        }
        return row.map { $0 * Float(1 / norm.squareRoot()) }
    }

    func encode(_ dir: URL, host: HostServices) throws -> (EncoderModelHandle, [Float]) {
        let found = PluginDiscovery.discover(in: PluginSearchPath(directories: [dir.path]))
        XCTAssertNil(found.first?.rejection, "\(String(describing: found.first?.rejection))")
        XCTAssertTrue(PluginSelector.isEncoderFamily("bow", among: found))
        XCTAssertFalse(PluginSelector.isEncoderFamily("llama", among: found))
        let selected = try PluginSelector.select(PluginRequest(kind: .textEncoder, family: "bow"), among: found, host: host)
        let context = try selected.plugin.initialize()
        let path = dir.appendingPathComponent("bow.gguf").path
        let model = try TextEncoderClient(context).openModel(
            weights: WeightsService(GGUFWeights(try GGUFFile(path: path))), path: path)
        return (model, try model.encode([[1, 2, 3], [9], [4, 5, 6, 7, 8]]))
    }

    func testTheExampleVerifiesAndEncodesAtTheHostsStride() throws {
        let dir = try TestSupport.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: dir) }
        try Self.buildExample(into: dir)
        let r = try TestSupport.run(TestSupport.modelhost, ["plugins", "verify", "--model",
                                                            dir.appendingPathComponent("bow.gguf").path,
                                                            dir.appendingPathComponent("libmh_bow.so").path])
        XCTAssertEqual(r.status, 0, r.output + r.error)
        XCTAssertTrue(r.output.contains("PASS model-roundtrip: 8-dimensional mean vectors, unit length"), r.output)
        XCTAssertTrue(r.output.contains("PASS host-older-minor: refuses a 1.0 host cleanly"), r.output)

        let (model, vectors) = try encode(dir, host: HostServices(threads: 1))
        XCTAssertEqual(model.embeddingLength, Self.dim)
        XCTAssertEqual(model.pooling, .mean)
        XCTAssertTrue(model.normalized)
        let inputs: [[Int32]] = [[1, 2, 3], [9], [4, 5, 6, 7, 8]]
        for (index, tokens) in inputs.enumerated() {
            let row = Array(vectors[index * Self.dim..<(index + 1) * Self.dim])
            XCTAssertEqual(row, Self.expected(tokens), accuracy: 1e-6)
        }
        XCTAssertThrowsError(try model.encode([[Int32(Self.vocab)]])) { error in
            XCTAssertTrue("\(error)".contains("outside 0..63"), "\(error)")
        }
    }

    /// A plugin built against a later minor (every struct grown) still reads this host's smaller input entries at
    /// the host's stride and writes only as much of the info struct as this host's holds.
    func testAnEncoderBuiltAgainstALaterHeaderServesOnThisHost() throws {
        let dir = try TestSupport.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: dir) }
        let include = dir.appendingPathComponent("include")
        try ForwardCompatibilityTests.grownHeader(into: include)
        try Self.buildExample(include: include.path, into: dir)
        let (_, vectors) = try encode(dir, host: HostServices(threads: 1))
        XCTAssertEqual(Array(vectors[Self.dim..<2 * Self.dim]), Self.expected([9]), accuracy: 1e-6)
        XCTAssertEqual(Array(vectors[2 * Self.dim..<3 * Self.dim]), Self.expected([4, 5, 6, 7, 8]), accuracy: 1e-6)
    }

    /// A host of ABI 1.1 knows no text encoders: the plugin refuses it at its entry with a message, and the host's
    /// loader reports that instead of loading it. Older plugins of the other kinds load on this 1.2 host unchanged
    /// (ForwardCompatibilityTests serves the 1.0 bigram example here).
    func testAHostOlderThan12IsRefusedCleanly() throws {
        let dir = try TestSupport.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: dir) }
        try Self.buildExample(into: dir)
        let found = PluginDiscovery.discover(in: PluginSearchPath(directories: [dir.path]))
        let older = HostServices(threads: 1, abiMinor: 1, structSize: Int(MH_HOST_V1_SIZE_1_0))
        XCTAssertThrowsError(try PluginLoader.load(found[0], host: older)) { error in
            XCTAssertTrue("\(error)".contains("needs host ABI >= 1.2"), "\(error)")
        }
    }
}

private func XCTAssertEqual(_ a: [Float], _ b: [Float], accuracy: Float, file: StaticString = #filePath,
                            line: UInt = #line) {
    XCTAssertEqual(a.count, b.count, file: file, line: line)
    for (x, y) in zip(a, b) { XCTAssertEqual(x, y, accuracy: accuracy, file: file, line: line) }
}
