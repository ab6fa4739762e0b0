import Foundation
import ModelFormats
import ModelHostABI
import PluginHost
import XCTest

/// Minors grow structs; neither side may hold the other to its own sizeof(). Two directions, both with the SDK's C
/// example plugin built by `cc`:
/// - built against a copy of the header in which every struct grew (as a later minor would make them), it still
///   loads on this host and serves, including a batch whose entries lie at this host's (smaller) stride;
/// - built against the current header, it loads and serves on a host that offers only ABI 1.0 tables.
final class ForwardCompatibilityTests: XCTestCase {
    static let vocab = 16

    /// The current headers with a field appended to every struct that carries `struct_size`, and a later minor.
    static func grownHeader(into include: URL) throws {
        let folder = include.appendingPathComponent("modelhost")
        try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
        var grown = 0
        let names = try FileManager.default.contentsOfDirectory(atPath: TestSupport.sdkInclude + "/modelhost")
        for name in names where name.hasSuffix(".h") {
            let source = try String(contentsOfFile: TestSupport.sdkInclude + "/modelhost/" + name, encoding: .utf8)
            var lines: [String] = []
            var inStruct = false, sized = false
            for line in source.components(separatedBy: "\n") {
                if line.hasPrefix("typedef struct mh_") && line.hasSuffix("{") { inStruct = true; sized = false }
                if inStruct && line.trimmingCharacters(in: .whitespaces) == "uint32_t struct_size;" { sized = true }
                if inStruct && line.hasPrefix("} mh_") {
                    if sized {
                        lines.append("    uint64_t added_by_a_later_minor[2];")
                        grown += 1
                    }
                    inStruct = false
                }
                lines.append(line.hasPrefix("#define MH_ABI_MINOR ") ? "#define MH_ABI_MINOR 9" : line)
            }
            try lines.joined(separator: "\n").write(to: folder.appendingPathComponent(name), atomically: true, encoding: .utf8)
        }
        XCTAssertGreaterThanOrEqual(grown, 21, "every sized struct grew")
    }

    /// Builds the example against `include` into `dir` with its manifest.
    static func buildExample(include: String, into dir: URL) throws {
        guard let cc = TestSupport.which("cc") else { throw TestSupport.missingTool("cc") }
        let example = TestSupport.repoRoot.appendingPathComponent("SDK/examples/bigram")
        let r = try TestSupport.run(cc, ["-std=c11", "-O1", "-Wall", "-Wextra", "-Werror", "-fPIC", "-shared",
                                         "-fvisibility=hidden", "-I", include, "-o",
                                         dir.appendingPathComponent("libmh_bigram.so").path,
                                         example.appendingPathComponent("bigram_decoder.c").path])
        XCTAssertEqual(r.status, 0, r.error)
        try FileManager.default.copyItem(at: example.appendingPathComponent("bigram.plugin.json"),
                                         to: dir.appendingPathComponent("bigram.plugin.json"))
    }

    /// Loads the plugin in `dir` on `host` and checks a three-sequence batch against the bigram table.
    func serve(_ dir: URL, host: HostServices, file: StaticString = #filePath, line: UInt = #line) throws {
        let modelPath = dir.appendingPathComponent("bigram.gguf")
        try TestSupport.writeBigramModel(modelPath, vocab: Self.vocab)
        let found = PluginDiscovery.discover(in: PluginSearchPath(directories: [dir.path]))
        XCTAssertNil(found.first?.rejection, "\(String(describing: found.first?.rejection))", file: file, line: line)
        let selected = try PluginSelector.select(PluginRequest(kind: .textDecoder, family: "bigram"), among: found, host: host)
        let context = try selected.plugin.initialize()
        defer { context.shutdown() }
        let model = try TextDecoderClient(context).openModel(
            weights: WeightsService(GGUFWeights(try GGUFFile(path: modelPath.path))), path: modelPath.path)
        defer { model.close() }
        XCTAssertEqual(model.vocabularySize, Self.vocab, file: file, line: line)
        let sequences = try (0..<3).map { _ in try model.makeSequence(capacity: 8) }
        let logits = try model.forward([
            .init(sequence: sequences[0], input: .tokens([1, 2])), .init(sequence: sequences[1], input: .tokens([9])),
            .init(sequence: sequences[2], input: .tokens([4, 5, 6])),
        ])
        let table = TestSupport.bigramTable(vocab: Self.vocab)
        for (index, last) in [2, 9, 6].enumerated() {
            XCTAssertEqual(logits[index], Array(table[last * Self.vocab..<(last + 1) * Self.vocab]),
                           "entry \(index) read at the host's stride", file: file, line: line)
        }
        XCTAssertEqual(sequences.map(\.length), [2, 1, 3], file: file, line: line)
    }

    func testAPluginBuiltAgainstALaterHeaderLoadsAndServesOnThisHost() throws {
        let dir = try TestSupport.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: dir) }
        let include = dir.appendingPathComponent("include")
        try Self.grownHeader(into: include)
        try Self.buildExample(include: include.path, into: dir)
        try serve(dir, host: HostServices(threads: 1))
    }

    func testAPluginLoadsAndServesOnAHostOfferingOnlyABI10Tables() throws {
        let dir = try TestSupport.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: dir) }
        try Self.buildExample(include: TestSupport.sdkInclude, into: dir)
        let host = HostServices(threads: 1, abiMinor: 0, structSize: Int(MH_HOST_V1_SIZE_1_0))
        XCTAssertEqual(host.table.pointee.struct_size, 64)
        try serve(dir, host: host)
    }
}
