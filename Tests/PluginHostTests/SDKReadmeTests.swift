import Foundation
import XCTest

/// Follows SDK/README.md's C walk-through literally: make, verify (with and without a model), install through
/// MODELHOST_PLUGIN_PATH, list, and load through a worker.
final class SDKReadmeTests: XCTestCase {
    func testTheWalkThroughWorks() throws {
        let readme = try String(contentsOf: TestSupport.repoRoot.appendingPathComponent("SDK/README.md"), encoding: .utf8)
        for command in ["make OUT=/tmp/myplugins", "modelhost plugins verify /tmp/myplugins/libmh_bigram.so",
                        "modelhost plugins verify --model /tmp/myplugins/bigram.gguf /tmp/myplugins/libmh_bigram.so",
                        "export MODELHOST_PLUGIN_PATH=/tmp/myplugins", "modelhost plugins list",
                        "modelhost-worker --model /tmp/myplugins/bigram.gguf"] {
            XCTAssertTrue(readme.contains(command), "SDK/README.md no longer says '\(command)'; update this test")
        }
        let out = try TestSupport.temporaryDirectory()   // stands in for /tmp/myplugins
        defer { try? FileManager.default.removeItem(at: out) }
        let make = try XCTUnwrap(TestSupport.which("make"))
        let built = try TestSupport.run(make, ["OUT=\(out.path)"],
                                        in: TestSupport.repoRoot.appendingPathComponent("SDK/examples/bigram"))
        XCTAssertEqual(built.status, 0, built.output + built.error)
        let library = out.appendingPathComponent("libmh_bigram.so").path
        let model = out.appendingPathComponent("bigram.gguf").path
        XCTAssertEqual(try TestSupport.run(TestSupport.modelhost, ["plugins", "verify", library]).status, 0)
        let verified = try TestSupport.run(TestSupport.modelhost, ["plugins", "verify", "--model", model, library])
        XCTAssertEqual(verified.status, 0, verified.output)
        let env = ["MODELHOST_PLUGIN_PATH": out.path]
        let list = try TestSupport.run(TestSupport.modelhost, ["plugins", "list"], environment: env)
        XCTAssertTrue(list.output.contains("ok       org.modelhost.example.bigram 1.0.0"), list.output)
        let worker = try TestSupport.run(TestSupport.productsDirectory.appendingPathComponent("modelhost-worker").path,
                                         ["--model", model], environment: env)
        XCTAssertEqual(worker.status, 0, worker.error)
        XCTAssertTrue(worker.output.contains("loaded \(model) with org.modelhost.example.bigram 1.0.0: vocab 16"), worker.output)
    }
}
