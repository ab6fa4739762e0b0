import Foundation
import XCTest

/// Every plugin in the repository's Plugins/ folder passes `modelhost plugins verify`, with the default model for
/// decoders. The libraries come from the build products (scripts/build builds them); manifests from the source tree.
final class RepositoryPluginsTests: XCTestCase {
    func testEveryRepositoryPluginVerifies() throws {
        let pluginsDir = TestSupport.repoRoot.appendingPathComponent("Plugins")
        let manifests = try FileManager.default.contentsOfDirectory(atPath: pluginsDir.path).flatMap { sub -> [URL] in
            let dir = pluginsDir.appendingPathComponent(sub)
            return ((try? FileManager.default.contentsOfDirectory(atPath: dir.path)) ?? [])
                .filter { $0.hasSuffix(".plugin.json") }.map { dir.appendingPathComponent($0) }
        }
        XCTAssertFalse(manifests.isEmpty, "no plugin manifests under Plugins/")
        let model = try TestSupport.defaultModelPath()
        for manifest in manifests {
            let json = try JSONSerialization.jsonObject(with: Data(contentsOf: manifest)) as? [String: Any]
            let library = try XCTUnwrap(json?["library"] as? String)
            let built = TestSupport.productsDirectory.appendingPathComponent(library)
            guard FileManager.default.fileExists(atPath: built.path) else {
                XCTFail("\(library) is not in \(TestSupport.productsDirectory.path): build with scripts/build first")
                continue
            }
            let staged = try TestSupport.temporaryDirectory()
            try FileManager.default.copyItem(at: built, to: staged.appendingPathComponent(library))
            try FileManager.default.copyItem(at: manifest, to: staged.appendingPathComponent(manifest.lastPathComponent))
            let r = try TestSupport.run(TestSupport.modelhost, ["plugins", "verify", "--model", model,
                                                                staged.appendingPathComponent(library).path])
            XCTAssertEqual(r.status, 0, "\(manifest.lastPathComponent):\n\(r.output)\(r.error)")
            XCTAssertTrue(r.output.contains("PASS model-roundtrip: reference prompt"), r.output)
            try? FileManager.default.removeItem(at: staged)
        }
    }
}
