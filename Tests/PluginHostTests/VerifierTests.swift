import Foundation
import XCTest

/// `modelhost plugins verify` through the real executable: each check in its own child process.
final class VerifierTests: XCTestCase {
    var dir: URL!
    let source = TestSupport.fixtures.appendingPathComponent("variant_plugin.c").path

    override func setUpWithError() throws { dir = try TestSupport.temporaryDirectory() }
    override func tearDown() { try? FileManager.default.removeItem(at: dir) }

    func testTheExamplePluginPassesEveryCheckWithAModel() throws {
        try TestSupport.buildExamplePlugin(into: dir)
        let model = dir.appendingPathComponent("bigram.gguf")
        try TestSupport.writeBigramModel(model)
        let r = try TestSupport.run(TestSupport.modelhost, ["plugins", "verify", "--json", "--model", model.path,
                                                            dir.appendingPathComponent("libmh_bigram.so").path])
        XCTAssertEqual(r.status, 0, r.output + r.error)
        let report = try JSONSerialization.jsonObject(with: Data(r.output.utf8)) as? [String: Any]
        XCTAssertEqual(report?["passed"] as? Bool, true)
        let checks = report?["checks"] as? [[String: Any]] ?? []
        XCTAssertGreaterThanOrEqual(checks.count, 10)
        let roundtrip = checks.first { $0["name"] as? String == "model-roundtrip" }
        XCTAssertTrue((roundtrip?["detail"] as? String ?? "").contains("agree"), "\(String(describing: roundtrip))")
        let lifecycle = checks.first { $0["name"] as? String == "lifecycle" }
        XCTAssertTrue((lifecycle?["detail"] as? String ?? "").contains("600 sequence"), "\(String(describing: lifecycle))")
    }

    func testACrashingPluginFailsACheckInsteadOfKillingTheVerifier() throws {
        try TestSupport.compilePlugin(source: source, output: dir.appendingPathComponent("libcrash.so"),
                                      defines: ["VARIANT_CRASHING_PROBE"])
        try TestSupport.writeManifest(dir, name: "crash", id: "org.modelhost.test.variant", library: "libcrash.so")
        let r = try TestSupport.run(TestSupport.modelhost, ["plugins", "verify", dir.appendingPathComponent("libcrash.so").path])
        XCTAssertEqual(r.status, 1)
        XCTAssertFalse(r.signaled)
        XCTAssertTrue(r.output.contains("FAIL null-arguments: the plugin crashed the host process (signal 11"), r.output)
        XCTAssertTrue(r.output.contains("PASS load"), r.output)
    }

    func testABadPluginFailsWithItsReason() throws {
        try TestSupport.compilePlugin(source: source, output: dir.appendingPathComponent("libold.so"),
                                      defines: ["VARIANT_MINOR_REQUIRED=4"])
        try TestSupport.writeManifest(dir, name: "old", id: "org.modelhost.test.variant", library: "libold.so")
        let r = try TestSupport.run(TestSupport.modelhost, ["plugins", "verify", dir.appendingPathComponent("libold.so").path])
        XCTAssertEqual(r.status, 1)
        XCTAssertTrue(r.output.contains("FAIL load: rejected"), r.output)
        XCTAssertTrue(r.output.contains("needs host ABI ≥ 1.4"), r.output)
    }

    func testALibraryWithoutAManifestFails() throws {
        try TestSupport.compilePlugin(source: source, output: dir.appendingPathComponent("libloose.so"))
        let r = try TestSupport.run(TestSupport.modelhost, ["plugins", "verify", dir.appendingPathComponent("libloose.so").path])
        XCTAssertEqual(r.status, 1)
        XCTAssertTrue(r.output.contains("FAIL manifest: no *.plugin.json"), r.output)
    }

    func testPluginsListShowsAcceptedAndRejected() throws {
        try TestSupport.buildExamplePlugin(into: dir)
        try "{broken".write(to: dir.appendingPathComponent("broken.plugin.json"), atomically: true, encoding: .utf8)
        let r = try TestSupport.run(TestSupport.modelhost, ["plugins", "list", "--plugin-path", dir.path])
        XCTAssertEqual(r.status, 0, r.error)
        XCTAssertTrue(r.output.contains("ok       org.modelhost.example.bigram 1.0.0"), r.output)
        XCTAssertTrue(r.output.contains("REJECTED"), r.output)
        XCTAssertTrue(r.output.contains("[manifest]"), r.output)
    }

    /// "ok" means the server will take it: `list` loads each plugin in a child process, so one whose entry fails, that
    /// needs a newer host, or that crashes while loading is listed as refused with the reason.
    func testPluginsListLoadsEachPluginInAChildAndTellsTheTruth() throws {
        let source = TestSupport.fixtures.appendingPathComponent("variant_plugin.c").path
        for (name, defines, manifestMinor) in [("silent", ["VARIANT_ENTRY_FAILS_SILENTLY"], 0),
                                               ("needsnine", ["VARIANT_MINOR_REQUIRED=9"], 0),
                                               ("aborts", ["VARIANT_CONSTRUCTOR_ABORTS"], 0),
                                               ("future", [], 9)] {
            let sub = dir.appendingPathComponent(name)
            try FileManager.default.createDirectory(at: sub, withIntermediateDirectories: true)
            try TestSupport.compilePlugin(source: source, output: sub.appendingPathComponent("lib\(name).so"), defines: defines)
            try TestSupport.writeManifest(sub, name: name, id: "org.modelhost.test.\(name)", library: "lib\(name).so",
                                          abiMinor: manifestMinor)
        }
        try TestSupport.buildExamplePlugin(into: dir)
        let paths = ["silent", "needsnine", "aborts", "future"].map { dir.appendingPathComponent($0).path } + [dir.path]
        let r = try TestSupport.run(TestSupport.modelhost, ["plugins", "list", "--json"],
                                    environment: ["MODELHOST_PLUGIN_PATH": paths.joined(separator: ":")])
        XCTAssertEqual(r.status, 0, r.error)
        let json = try XCTUnwrap(try JSONSerialization.jsonObject(with: Data(r.output.utf8)) as? [String: Any])
        let rows = try XCTUnwrap(json["plugins"] as? [[String: Any]])
        func row(_ id: String) -> [String: Any]? { rows.first { $0["id"] as? String == id } }
        XCTAssertEqual(row("org.modelhost.example.bigram")?["accepted"] as? Bool, true, "\(rows)")
        XCTAssertNotNil(row("org.modelhost.example.bigram")?["probe"] as? String)
        for id in ["silent", "needsnine", "aborts"] {
            let refused = try XCTUnwrap(row("org.modelhost.test.\(id)"), "\(rows)")
            XCTAssertEqual(refused["accepted"] as? Bool, false, "\(refused)")
            XCTAssertEqual(refused["stage"] as? String, "load", "\(refused)")
            XCTAssertFalse((refused["reason"] as? String ?? "").isEmpty, "\(refused)")
        }
        // A manifest that asks for a newer host minor is refused before anything is loaded.
        let future = try XCTUnwrap(row("org.modelhost.test.future"))
        XCTAssertEqual(future["stage"] as? String, "abi-minor", "\(future)")
        XCTAssertNil(future["probe"] as? String)
        let plain = try TestSupport.run(TestSupport.modelhost, ["plugins", "list", "--no-probe"],
                                        environment: ["MODELHOST_PLUGIN_PATH": paths.joined(separator: ":")])
        XCTAssertTrue(plain.output.contains("unprobed org.modelhost.test.silent"), plain.output)
    }

    func testExportingMoreThanTheEntryFailsTheSymbolsCheck() throws {
        try TestSupport.compilePlugin(source: source, output: dir.appendingPathComponent("libleaky.so"), hideSymbols: false)
        try TestSupport.writeManifest(dir, name: "leaky", id: "org.modelhost.test.variant", library: "libleaky.so")
        let r = try TestSupport.run(TestSupport.modelhost, ["plugins", "verify", dir.appendingPathComponent("libleaky.so").path])
        XCTAssertEqual(r.status, 1)
        XCTAssertTrue(r.output.contains("FAIL symbols: exports"), r.output)
    }
}
