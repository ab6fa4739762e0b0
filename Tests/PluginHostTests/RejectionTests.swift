import Foundation
import ModelHostABI
import PluginHost
import XCTest

/// Purpose-built bad plugins, one per rejection stage; each must be refused at its stage with its own message.
final class RejectionTests: XCTestCase {
    var dir: URL!
    let source = TestSupport.fixtures.appendingPathComponent("variant_plugin.c").path

    override func setUpWithError() throws { dir = try TestSupport.temporaryDirectory() }
    override func tearDown() { try? FileManager.default.removeItem(at: dir) }

    /// Builds a variant into its own directory with a manifest and returns what loading it does.
    func attempt(_ name: String, defines: [String] = [], manifestID: String = "org.modelhost.test.variant",
                 requires: String? = nil, environment: [String: String] = [:],
                 patch: ((URL) throws -> Void)? = nil) throws -> PluginRejection? {
        let sub = dir.appendingPathComponent(name)
        try FileManager.default.createDirectory(at: sub, withIntermediateDirectories: true)
        let lib = sub.appendingPathComponent("lib\(name).so")
        try TestSupport.compilePlugin(source: source, output: lib, defines: defines)
        try patch?(lib)
        try TestSupport.writeManifest(sub, name: name, id: manifestID, library: lib.lastPathComponent, requires: requires)
        let cpu: CPUFeatureSet = environment["cpu"].map { names in
            names.split(separator: ",").reduce(into: CPUFeatureSet()) { $0.insert(CPUFeatureSet.named(String($1))!) }
        } ?? .host
        let found = PluginDiscovery.inspect(manifestPath: sub.appendingPathComponent("\(name).plugin.json").path, cpu: cpu)
        do {
            _ = try PluginLoader.load(found, host: HostServices(threads: 1))
            return nil
        } catch {
            return error
        }
    }

    func assertRejected(_ r: PluginRejection?, _ stage: PluginRejection.Stage, _ fragment: String,
                        file: StaticString = #filePath, line: UInt = #line) {
        guard let r else { return XCTFail("was accepted", file: file, line: line) }
        XCTAssertEqual(r.stage, stage, r.description, file: file, line: line)
        XCTAssertTrue(r.message.contains(fragment), "'\(r.message)' lacks '\(fragment)'", file: file, line: line)
        XCTAssertFalse(r.description.contains("\n"), "one line please", file: file, line: line)
    }

    func testTheUnmodifiedVariantLoads() throws {
        XCTAssertNil(try attempt("good"))
    }

    func testBadManifests() throws {
        let sub = dir.appendingPathComponent("manifests")
        try FileManager.default.createDirectory(at: sub, withIntermediateDirectories: true)
        let cases: [(String, String)] = [
            ("{not json", "not valid JSON"),
            (#"{"id": "x", "version": "1.0.0", "kind": "text-decoder", "library": "a.so", "runtime": "c", "families": ["a"]}"#, "'abi'"),
            (#"{"id": "x y", "version": "1.0.0", "kind": "text-decoder", "abi": {"major":1,"minor":0}, "library": "a.so", "runtime": "c", "families": ["a"]}"#, "'id'"),
            (#"{"id": "x", "version": "one", "kind": "text-decoder", "abi": {"major":1,"minor":0}, "library": "a.so", "runtime": "c", "families": ["a"]}"#, "semantic version"),
            (#"{"id": "x", "version": "1.0.0", "kind": "tokenizer", "abi": {"major":1,"minor":0}, "library": "a.so", "runtime": "c", "families": ["a"]}"#, "'kind'"),
            (#"{"id": "x", "version": "1.0.0", "kind": "text-decoder", "abi": {"major":1,"minor":0}, "library": "../a.so", "runtime": "c", "families": ["a"]}"#, "not a path"),
            (#"{"id": "x", "version": "1.0.0", "kind": "text-decoder", "abi": {"major":1,"minor":0}, "library": "a.so", "runtime": "c", "families": ["a"], "requires": {"cpu": "x86_64-v9"}}"#, "unknown CPU level"),
            (#"{"id": "x", "version": "1.0.0", "kind": "text-decoder", "abi": {"major":1,"minor":0}, "library": "missing.so", "runtime": "c", "families": ["a"]}"#, "does not exist"),
        ]
        for (i, (json, fragment)) in cases.enumerated() {
            let path = sub.appendingPathComponent("m\(i).plugin.json")
            try json.write(to: path, atomically: true, encoding: .utf8)
            assertRejected(PluginDiscovery.inspect(manifestPath: path.path).rejection, .manifest, fragment)
        }
    }

    func testCPUFeaturesAreCheckedBeforeAnyCodeRuns() throws {
        // The library aborts the process if it is ever loaded; the test surviving proves no dlopen happened.
        let r = try attempt("avx2only", defines: ["VARIANT_CONSTRUCTOR_ABORTS"], requires: #"{"cpu": "x86_64-v3"}"#,
                            environment: ["cpu": "sse4.2,popcnt"])
        assertRejected(r, .cpu, "avx2")
        let r2 = try attempt("vnni", defines: ["VARIANT_CONSTRUCTOR_ABORTS"], requires: #"{"cpu_features": ["avx512vnni"]}"#,
                             environment: ["cpu": "avx2,fma"])
        assertRejected(r2, .cpu, "avx512vnni")
    }

    func testTheCPUOverrideReachesDiscoveryThroughTheEnvironment() throws {
        let sub = dir.appendingPathComponent("env")
        try FileManager.default.createDirectory(at: sub, withIntermediateDirectories: true)
        try TestSupport.compilePlugin(source: source, output: sub.appendingPathComponent("libv.so"))
        try TestSupport.writeManifest(sub, name: "v", id: "org.modelhost.test.variant", library: "libv.so",
                                      requires: #"{"cpu": "x86_64-v3"}"#)
        let r = try TestSupport.run(TestSupport.modelhost, ["plugins", "list", "--json", "--plugin-path", sub.path],
                                    environment: ["MODELHOST_TEST_CPU_FEATURES": "sse4.2"])
        XCTAssertEqual(r.status, 0, r.error)
        XCTAssertTrue(r.output.contains("\"stage\" : \"cpu\""), r.output)
    }

    func testASwiftPluginFromAnotherToolchainIsRefusedBeforeLoading() throws {
        let sub = dir.appendingPathComponent("swift59")
        try FileManager.default.createDirectory(at: sub, withIntermediateDirectories: true)
        try TestSupport.compilePlugin(source: source, output: sub.appendingPathComponent("libs.so"),
                                      defines: ["VARIANT_CONSTRUCTOR_ABORTS"])
        try #"{"id": "org.modelhost.test.variant", "version": "1.0.0", "kind": "text-decoder", "abi": {"major": 1, "minor": 0}, "library": "libs.so", "runtime": "swift-5.9", "families": ["bigram"]}"#
            .write(to: sub.appendingPathComponent("s.plugin.json"), atomically: true, encoding: .utf8)
        let found = PluginDiscovery.inspect(manifestPath: sub.appendingPathComponent("s.plugin.json").path)
        assertRejected(found.rejection, .runtime, "built for the swift-5.9 runtime")
    }

    func testWrongMachineAndNonELFLibraries() throws {
        let r = try attempt("aarch64", patch: { lib in
            var bytes = try Data(contentsOf: lib)
            bytes[18] = 183; bytes[19] = 0   // e_machine = EM_AARCH64
            try bytes.write(to: lib)
        })
        assertRejected(r, .elf, "built for aarch64")
        let r2 = try attempt("text", patch: { lib in try "not a library".write(to: lib, atomically: true, encoding: .utf8) })
        assertRejected(r2, .elf, "not an ELF")
        let r3 = try attempt("elf32", patch: { lib in
            var bytes = try Data(contentsOf: lib)
            bytes[4] = 1   // ELFCLASS32
            try bytes.write(to: lib)
        })
        assertRejected(r3, .elf, "32-bit")
    }

    func testDlopenFailureCarriesDlerror() throws {
        assertRejected(try attempt("undef", defines: ["VARIANT_UNDEFINED_SYMBOL"]), .dlopen,
                       "modelhost_test_symbol_that_does_not_exist")
    }

    func testMissingEntrySymbol() throws {
        assertRejected(try attempt("noentry", defines: ["VARIANT_NO_ENTRY"]), .entrySymbol, "mh_plugin_entry_v1")
    }

    func testAnotherABIMajor() throws {
        assertRejected(try attempt("v2only", defines: ["VARIANT_ENTRY_V2_ONLY"]), .abiMajor, "targets ABI 2")
        assertRejected(try attempt("major2", defines: ["VARIANT_MAJOR=2"]), .abiMajor, "descriptor says ABI 2")
    }

    /// A decoder built against the 1.0 header (a table without seq_copy) still loads; the host never reads past
    /// its table and simply does without copying. A table shorter than 1.0's is refused.
    func testADecoderTableFromTheABI10HeaderIsAccepted() throws {
        func client(_ name: String, tableSize: Int) throws -> TextDecoderClient {
            let sub = dir.appendingPathComponent(name)
            try FileManager.default.createDirectory(at: sub, withIntermediateDirectories: true)
            let lib = sub.appendingPathComponent("lib\(name).so")
            try TestSupport.compilePlugin(source: source, output: lib, defines: ["VARIANT_DECODER_TABLE_SIZE=\(tableSize)"])
            try TestSupport.writeManifest(sub, name: name, id: "org.modelhost.test.variant", library: lib.lastPathComponent)
            let found = PluginDiscovery.inspect(manifestPath: sub.appendingPathComponent("\(name).plugin.json").path, cpu: .host)
            return try TextDecoderClient(try PluginLoader.load(found, host: HostServices(threads: 1)).initialize())
        }
        let v10 = MemoryLayout<mh_text_decoder_v1>.offset(of: \.seq_copy)!
        XCTAssertEqual(v10, 72)
        XCTAssertFalse(try client("table10", tableSize: v10).canCopySequences)
        XCTAssertThrowsError(try client("table9", tableSize: v10 - 8)) {
            XCTAssertTrue("\($0)".contains("too small"), "\($0)")
        }
    }

    func testHostMinorTooOld() throws {
        assertRejected(try attempt("minor9", defines: ["VARIANT_MINOR_REQUIRED=9"]), .abiMinor, "needs host ABI ≥ 1.9")
    }

    func testDescriptorTooSmall() throws {
        assertRejected(try attempt("small", defines: ["VARIANT_STRUCT_SIZE=16"]), .structSize, "struct_size is 16 bytes")
    }

    func testEntryThatFailsWithoutAMessage() throws {
        assertRejected(try attempt("silent", defines: ["VARIANT_ENTRY_FAILS_SILENTLY"]), .entryFailed, "no message")
    }

    func testManifestAndDescriptorDisagree() throws {
        assertRejected(try attempt("mismatch", manifestID: "org.modelhost.test.other"), .manifestMismatch,
                       "id \"org.modelhost.test.variant\" vs manifest \"org.modelhost.test.other\"")
    }

    func testEveryStageHasItsOwnMessage() throws {
        let messages = [
            try attempt("s1", defines: ["VARIANT_UNDEFINED_SYMBOL"]), try attempt("s2", defines: ["VARIANT_NO_ENTRY"]),
            try attempt("s3", defines: ["VARIANT_MAJOR=2"]), try attempt("s4", defines: ["VARIANT_MINOR_REQUIRED=3"]),
            try attempt("s5", defines: ["VARIANT_STRUCT_SIZE=8"]), try attempt("s6", manifestID: "org.other"),
        ].compactMap { $0?.message }
        XCTAssertEqual(Set(messages).count, 6)
    }
}
