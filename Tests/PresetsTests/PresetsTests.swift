import Presets
import Sampling
import XCTest

/// The presets file: every key read into its setting, and every mistake an error with file, line and column.
final class PresetsTests: XCTestCase {
    func testEveryKey() throws {
        let catalog = try PresetCatalog.parse("""
            # ModelHost presets
            models:
              smollm2:135m:
                model: SmolLM2-135M-Instruct.Q4_1
                aliases: [smollm2, default]
                context_length: 4096
                max_tokens: 512
                sampling: {temperature: 0.7, top_k: 40, top_p: 0.9, min_p: 0.05, repetition_penalty: 1.1}
                kv_cache_type: f16
                threads: 2
                idle_timeout: 300
                prefix_cache_mib: 256
                plugin: org.modelhost.llama
                load_at_start: true
              minilm:
                model: sentence-transformers/all-MiniLM-L6-v2
            """, path: "presets.yaml")
        XCTAssertEqual(catalog.presets.map(\.name), ["smollm2:135m", "minilm"])
        let p = try XCTUnwrap(catalog.preset(named: "smollm2"))
        XCTAssertEqual(p.name, "smollm2:135m")
        XCTAssertEqual(p.model, "SmolLM2-135M-Instruct.Q4_1")
        XCTAssertEqual(p.aliases, ["smollm2", "default"])
        XCTAssertEqual(p.contextLength, 4096)
        XCTAssertEqual(p.sampling, SamplingDefaults(temperature: 0.7, topK: 40, topP: 0.9, minP: 0.05,
                                                    repetitionPenalty: 1.1, maxTokens: 512))
        XCTAssertEqual(p.kvCacheType, .f16)
        XCTAssertEqual(p.threads, 2)
        XCTAssertEqual(p.idleTimeout, 300)
        XCTAssertEqual(p.prefixCacheMiB, 256)
        XCTAssertEqual(p.plugin, "org.modelhost.llama")
        XCTAssertTrue(p.loadAtStart)
        XCTAssertEqual(catalog.preset(named: "default")?.name, "smollm2:135m")
        let minilm = try XCTUnwrap(catalog.preset(named: "minilm"))
        XCTAssertEqual(minilm.aliases, [])
        XCTAssertNil(minilm.contextLength)
        XCTAssertFalse(minilm.loadAtStart)
        XCTAssertNil(catalog.preset(named: "SmolLM2-135M-Instruct.Q4_1"), "a catalog id is not a preset name")
        XCTAssertEqual(try PresetCatalog.parse("", path: "empty.yaml").presets, [])
    }

    func testMistakesNameFileLineAndColumn() {
        let cases: [(String, String)] = [
            ("models:\n  a:\n    model: m\n    tempreature: 1\n", "p.yaml:4:5: unknown key 'tempreature'"),
            ("models:\n  a:\n    model: m\n    sampling: {temp: 1}\n", "p.yaml:4:16: unknown sampling key 'temp'"),
            ("modles:\n  a: {model: m}\n", "p.yaml:1:1: unknown key 'modles'"),
            ("models:\n  a:\n    aliases: [x]\n", "p.yaml:3:5: preset 'a' needs 'model'"),
            ("models:\n  a:\n    model: m\n    threads: two\n", "p.yaml:4:14: 'threads' must be an integer"),
            ("models:\n  a:\n    model: m\n    threads: 0\n", "p.yaml:4:14: 'threads' must be an integer in 1...1024"),
            ("models:\n  a:\n    model: m\n    context_length: 8\n", "p.yaml:4:21: 'context_length' must be an integer"),
            ("models:\n  a:\n    model: m\n    max_tokens: -1\n", "p.yaml:4:17: 'max_tokens' must be an integer"),
            ("models:\n  a:\n    model: m\n    sampling: {temperature: 3}\n", "'temperature' must be a number in 0.0...2.0"),
            ("models:\n  a:\n    model: m\n    sampling: {top_p: high}\n", "'top_p' must be a number"),
            ("models:\n  a:\n    model: m\n    idle_timeout: -5\n", "p.yaml:4:19: 'idle_timeout' must be a number"),
            ("models:\n  a:\n    model: m\n    prefix_cache_mib: -1\n", "p.yaml:4:23: 'prefix_cache_mib' must be"),
            ("models:\n  a:\n    model: m\n    load_at_start: maybe\n", "p.yaml:4:20: 'load_at_start' must be true or false"),
            ("models:\n  a:\n    model: m\n    kv_cache_type: q4_0\n", "p.yaml:4:20: kv_cache_type 'q4_0' is not available (f32, f16, bf16, q8_0)"),
            ("models:\n  a:\n    model: m\n    aliases: b\n", "p.yaml:4:14: 'aliases' must be a list"),
            ("models:\n  a:\n    model: m\n    plugin: ''\n", "'plugin' must be a non-empty string"),
            ("models:\n  a: {model: m, aliases: [b]}\n  b: {model: n}\n", "'b' names both preset 'a' and preset 'b'"),
            ("models: [a, b]\n", "p.yaml:1:9: models must be a mapping"),
            ("models:\n  a: {model: m\n", "p.yaml: not valid YAML"),
        ]
        for (text, expected) in cases {
            do {
                _ = try PresetCatalog.parse(text, path: "p.yaml")
                XCTFail("accepted:\n\(text)")
            } catch {
                XCTAssertTrue(error.message.contains(expected), "\(error.message)\n  expected: \(expected)\n\(text)")
            }
        }
    }
}
