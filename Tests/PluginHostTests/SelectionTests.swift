import Foundation
import PluginHost
import XCTest

/// Selection order: explicit pin > probe score > manifest priority > id; only matching manifests are loaded.
final class SelectionTests: XCTestCase {
    var dir: URL!
    let source = TestSupport.fixtures.appendingPathComponent("variant_plugin.c").path

    override func setUpWithError() throws { dir = try TestSupport.temporaryDirectory() }
    override func tearDown() { try? FileManager.default.removeItem(at: dir) }

    func add(_ name: String, id: String, score: Int, priority: Int, families: [String] = ["bigram"]) throws {
        try TestSupport.compilePlugin(source: source, output: dir.appendingPathComponent("lib\(name).so"),
                                      defines: ["VARIANT_ID=\"\(id)\"", "VARIANT_SCORE=\(score)"])
        try TestSupport.writeManifest(dir, name: name, id: id, library: "lib\(name).so", families: families,
                                      priority: priority)
    }

    func select(pin: String? = nil, family: String = "bigram") throws -> (LoadedPlugin, [SelectionDecision]) {
        let found = PluginDiscovery.discover(in: PluginSearchPath(directories: [dir.path]))
        let r = try PluginSelector.select(PluginRequest(kind: .textDecoder, family: family, pin: pin), among: found,
                                          host: HostServices(threads: 1))
        return (r.plugin, r.decisions)
    }

    func testHigherScoreWinsOverPriority() throws {
        try add("a", id: "org.test.a", score: 5, priority: 0)
        try add("b", id: "org.test.b", score: 2, priority: 100)
        XCTAssertEqual(try select().0.id, "org.test.a")
    }

    func testPriorityBreaksScoreTiesThenId() throws {
        try add("a", id: "org.test.a", score: 3, priority: 1)
        try add("b", id: "org.test.b", score: 3, priority: 7)
        try add("c", id: "org.test.c", score: 3, priority: 7)
        XCTAssertEqual(try select().0.id, "org.test.b")
    }

    func testAPinBeatsEverything() throws {
        try add("a", id: "org.test.a", score: 9, priority: 9)
        try add("b", id: "org.test.b", score: 1, priority: 0)
        XCTAssertEqual(try select(pin: "org.test.b").0.id, "org.test.b")
        XCTAssertThrowsError(try select(pin: "org.test.none")) { error in
            XCTAssertTrue("\(error)".contains("pinned plugin 'org.test.none'"))
        }
    }

    func testZeroScoreMeansCannotRunHere() throws {
        try add("a", id: "org.test.a", score: 0, priority: 9)
        XCTAssertThrowsError(try select()) { error in
            XCTAssertTrue("\(error)".contains("declined by probe"), "\(error)")
        }
    }

    func testOtherFamiliesAreNeverLoaded() throws {
        try add("a", id: "org.test.a", score: 1, priority: 0)
        // A plugin for another family whose library would kill the process if it were loaded.
        try TestSupport.compilePlugin(source: source, output: dir.appendingPathComponent("libbomb.so"),
                                      defines: ["VARIANT_CONSTRUCTOR_ABORTS"])
        try TestSupport.writeManifest(dir, name: "bomb", id: "org.test.bomb", library: "libbomb.so", families: ["qwen2"],
                                      priority: 1000)
        XCTAssertEqual(try select().0.id, "org.test.a")
        let maps = try String(contentsOfFile: "/proc/self/maps", encoding: .utf8)
        XCTAssertFalse(maps.contains("libbomb.so"))
    }
}
