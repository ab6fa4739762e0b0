import Foundation
import ServerConfig
import struct Sampling.SamplingDefaults
import XCTest

/// Fake `/proc` and `/sys` files.
struct FakeFiles: SystemFileReader {
    var files: [String: String]
    func contents(of path: String) -> String? { files[path] }
}

final class ServerConfigTests: XCTestCase {
    let gib: UInt64 = 1 << 30

    func meminfo(gib count: UInt64) -> String {
        "MemTotal:       \(count * 1024 * 1024) kB\nMemFree:         1000 kB\n"
    }

    func memory(_ gigabytes: UInt64) -> SystemMemory {
        SystemMemory(totalBytes: gigabytes * gib, source: "test")
    }

    func testTiersMatchTheOriginalExactly() {
        XCTAssertEqual(RAMTier(ramGiB: 64), .high)
        XCTAssertEqual(RAMTier(ramGiB: 63), .medium)
        XCTAssertEqual(RAMTier(ramGiB: 24), .medium)
        XCTAssertEqual(RAMTier(ramGiB: 23), .low)
        XCTAssertEqual([RAMTier.high, .medium, .low].map(\.idleTimeoutSeconds), [600, 300, 180])
        XCTAssertEqual([RAMTier.high, .medium, .low].map(\.requestTimeoutSeconds), [600, 300, 180])
        XCTAssertEqual([RAMTier.high, .medium, .low].map(\.modelLoadTimeoutSeconds), [300, 180, 120])
        XCTAssertEqual([RAMTier.high, .medium, .low].map(\.maxConcurrentRequests), [10, 5, 3])
        XCTAssertEqual(RAMTier.high.memoryThresholdGiB(ramGiB: 128), 108)
        XCTAssertEqual(RAMTier.medium.memoryThresholdGiB(ramGiB: 32), 24)
        XCTAssertEqual(RAMTier.low.memoryThresholdGiB(ramGiB: 16), 12)
        XCTAssertEqual(RAMTier.low.memoryThresholdGiB(ramGiB: 8), 8)
    }

    func testMemoryProbeUsesTheTightestCgroupLimit() {
        let plain = SystemMemory.probe(FakeFiles(files: ["/proc/meminfo": meminfo(gib: 128)]))
        XCTAssertEqual(plain.roundedGiB, 128)
        XCTAssertEqual(plain.source, "meminfo")

        let v2 = SystemMemory.probe(FakeFiles(files: [
            "/proc/meminfo": meminfo(gib: 128), "/proc/self/cgroup": "0::/pod/abc\n",
            "/sys/fs/cgroup/pod/abc/memory.max": "\(16 * gib)\n", "/sys/fs/cgroup/memory.max": "max\n",
        ]))
        XCTAssertEqual(v2.roundedGiB, 16)
        XCTAssertTrue(v2.source.hasPrefix("cgroup v2"))

        let v1 = SystemMemory.probe(FakeFiles(files: [
            "/proc/meminfo": meminfo(gib: 64), "/sys/fs/cgroup/memory/memory.limit_in_bytes": "\(30 * gib)",
        ]))
        XCTAssertEqual(v1.roundedGiB, 30)
        XCTAssertTrue(v1.source.hasPrefix("cgroup v1"))

        let unlimitedV1 = SystemMemory.probe(FakeFiles(files: [
            "/proc/meminfo": meminfo(gib: 8), "/sys/fs/cgroup/memory/memory.limit_in_bytes": "9223372036854771712",
        ]))
        XCTAssertEqual(unlimitedV1.roundedGiB, 8)

        let nothing = SystemMemory.probe(FakeFiles(files: [:]))
        XCTAssertEqual(nothing.roundedGiB, SystemMemory.fallbackGiB)
        XCTAssertEqual(nothing.source, "fallback")
    }

    func testDefaultsComeFromTheTier() throws {
        let config = try ServerConfig.resolve(flags: ConfigFlags(), environment: ["HOME": "/home/u"], memory: memory(32))
        XCTAssertEqual(config.tier, .medium)
        XCTAssertEqual(config.host, "127.0.0.1")
        XCTAssertEqual(config.adminHost, "127.0.0.1")
        XCTAssertEqual(config.port, 11440)
        XCTAssertEqual(config.adminPort, 11441)
        XCTAssertEqual(config.idleTimeoutSeconds, 300)
        XCTAssertEqual(config.requestTimeoutSeconds, 300)
        XCTAssertEqual(config.maxConcurrentRequests, 5)
        XCTAssertEqual(config.memoryBudgetGiB, 24)
        XCTAssertEqual(config.hfHome, "/home/u/.cache/huggingface")
        XCTAssertEqual(config.stateDir, "/home/u/.local/state/modelhost")
        XCTAssertEqual(config.apiKeys, [])
        XCTAssertFalse(config.rateLimit.enabled)
        XCTAssertEqual(config.prefixCacheMiB, 24 * 1024 / 8, "an eighth of the memory budget")
    }

    func testPrefixCacheBudget() throws {
        let fromEnvironment = try ServerConfig.resolve(flags: ConfigFlags(),
                                                       environment: ["MODELHOST_PREFIX_CACHE_MIB": "64"],
                                                       memory: memory(32))
        XCTAssertEqual(fromEnvironment.prefixCacheMiB, 64)
        let fromFlag = try ServerConfig.resolve(flags: ConfigFlags(prefixCacheMiB: 0),
                                                environment: ["MODELHOST_PREFIX_CACHE_MIB": "64"], memory: memory(32))
        XCTAssertEqual(fromFlag.prefixCacheMiB, 0, "the flag wins, and 0 (no prefix cache) is allowed")
    }

    func testKVCacheType() throws {
        XCTAssertEqual(try ServerConfig.resolve(flags: ConfigFlags(), environment: [:], memory: memory(32)).kvCacheType, .f32)
        XCTAssertEqual(try ServerConfig.resolve(flags: ConfigFlags(), environment: ["MODELHOST_KV_CACHE_TYPE": "bf16"],
                                                memory: memory(32)).kvCacheType, .bf16)
        XCTAssertEqual(try ServerConfig.resolve(flags: ConfigFlags(kvCacheType: "q8_0"),
                                                environment: ["MODELHOST_KV_CACHE_TYPE": "bf16"],
                                                memory: memory(32)).kvCacheType, .q8_0, "the flag wins")
    }

    func testFlagsBeatEnvironmentBeatsAliasesBeatTier() throws {
        let environment = [
            "MODELHOST_PORT": "9000", "MODELHOST_ADMIN_PORT": "9001", "MLX_ADMIN_PORT": "9999",
            "MODELHOST_HOST": "0.0.0.0", "MLX_IDLE_TIMEOUT": "42", "MLX_REQUEST_TIMEOUT": "43",
            "MODELHOST_MAX_CONCURRENT_REQUESTS": "7", "MLX_MAX_CONCURRENT_REQUESTS": "2", "HF_HOME": "/hf",
            "MODELHOST_MODELS_DIR": "/env/models", "MLX_RATE_LIMIT_ENABLED": "1", "MLX_RATE_LIMIT_RPM": "120",
            "MLX_RATE_LIMIT_BURST": "20", "MODELHOST_API_KEYS": "k1, k2", "MLX_QUEUE_TIMEOUT_LOW": "5",
        ]
        let flags = ConfigFlags(port: 8000, modelsDir: "/flag/models", pluginPath: "/plugins")
        let config = try ServerConfig.resolve(flags: flags, environment: environment, memory: memory(8))
        XCTAssertEqual(config.port, 8000)  // flag over environment
        XCTAssertEqual(config.adminPort, 9001)  // MODELHOST_* over MLX_* alias
        XCTAssertEqual(config.host, "0.0.0.0")
        XCTAssertEqual(config.adminHost, "127.0.0.1")  // the admin API does not follow MODELHOST_HOST
        XCTAssertEqual(config.modelsDir, "/flag/models")
        XCTAssertEqual(config.pluginPath, "/plugins")
        XCTAssertEqual(config.idleTimeoutSeconds, 42)  // alias over tier (180)
        XCTAssertEqual(config.requestTimeoutSeconds, 43)
        XCTAssertEqual(config.modelLoadTimeoutSeconds, 120)  // tier
        XCTAssertEqual(config.maxConcurrentRequests, 7)
        XCTAssertEqual(config.hfHome, "/hf")
        XCTAssertEqual(config.rateLimit, RateLimitSettings(enabled: true, requestsPerMinute: 120, burst: 20))
        XCTAssertEqual(config.apiKeys, ["k1", "k2"])
        XCTAssertEqual(config.queue.lowTimeoutSeconds, 5)
    }

    /// Sampling defaults: flag > MODELHOST_* variable > llama-server's values; CORS origins likewise, off by default.
    func testSamplingDefaultsAndCORSOrigins() throws {
        let plain = try ServerConfig.resolve(flags: ConfigFlags(), environment: [:], memory: memory(8))
        XCTAssertEqual(plain.sampling, .server)
        XCTAssertEqual(plain.corsOrigins, [])
        XCTAssertEqual(plain.shutdownGraceSeconds, 30)
        XCTAssertTrue(plain.chatPage)
        let noPage = try ServerConfig.resolve(flags: ConfigFlags(), environment: ["MODELHOST_CHAT_PAGE": "false"],
                                              memory: memory(8))
        XCTAssertFalse(noPage.chatPage)
        let flagWins = try ServerConfig.resolve(flags: ConfigFlags(chatPage: false), environment: ["MODELHOST_CHAT_PAGE": "true"],
                                                memory: memory(8))
        XCTAssertFalse(flagWins.chatPage)

        let environment = ["MODELHOST_TEMPERATURE": "0.3", "MODELHOST_TOP_K": "10", "MODELHOST_MAX_TOKENS": "512",
                           "MODELHOST_CORS_ORIGINS": "http://localhost:3000, https://a.example"]
        var flags = ConfigFlags()
        flags.sampling = SamplingDefaults(temperature: 0.5, minP: 0.2)
        let config = try ServerConfig.resolve(flags: flags, environment: environment, memory: memory(8))
        XCTAssertEqual(config.sampling, SamplingDefaults(temperature: 0.5, topK: 10, topP: 0.95, minP: 0.2,
                                                         repetitionPenalty: 1.0, maxTokens: 512))
        XCTAssertEqual(config.corsOrigins, ["http://localhost:3000", "https://a.example"])
        flags.corsOrigins = ["*"]
        XCTAssertEqual(try ServerConfig.resolve(flags: flags, environment: environment, memory: memory(8)).corsOrigins,
                       ["*"])

        for (environment, expected) in [
            (["MODELHOST_TEMPERATURE": "3"], "temperature must be 0 to 2"),
            (["MODELHOST_TOP_P": "hot"], "MODELHOST_TOP_P=hot is not a number"),
            (["MODELHOST_MAX_TOKENS": "0"], "max_tokens must be 1 or more"),
            (["MODELHOST_CORS_ORIGINS": "localhost:3000"], "CORS origin 'localhost:3000' is not an origin"),
            (["MODELHOST_CORS_ORIGINS": "http://a.example/path"], "is not an origin"),
            (["MODELHOST_SHUTDOWN_GRACE": "-1"], "shutdown grace"),
        ] {
            XCTAssertThrowsError(try ServerConfig.resolve(flags: ConfigFlags(), environment: environment,
                                                          memory: memory(8))) { error in
                XCTAssertTrue("\(error)".contains(expected), "\(environment): \(error)")
            }
        }
    }

    func testAPIKeyFile() throws {
        let path = FileManager.default.temporaryDirectory.appendingPathComponent("keys-\(UUID().uuidString)").path
        try "# comment\nkey-a\n\n  key-b  \n".write(toFile: path, atomically: true, encoding: .utf8)
        defer { try? FileManager.default.removeItem(atPath: path) }
        let config = try ServerConfig.resolve(
            flags: ConfigFlags(), environment: ["MODELHOST_API_KEY_FILE": path, "MODELHOST_API_KEYS": "inline"],
            memory: memory(8))
        XCTAssertEqual(config.apiKeys, ["inline", "key-a", "key-b"])
        XCTAssertThrowsError(try ServerConfig.resolve(
            flags: ConfigFlags(), environment: ["MODELHOST_API_KEY_FILE": "/nonexistent/keys"], memory: memory(8)))
    }

    func testValidationMessagesNameTheSetting() {
        let cases: [([String: String], ConfigFlags, String)] = [
            (["MODELHOST_PORT": "abc"], ConfigFlags(), "MODELHOST_PORT=abc is not an integer"),
            (["MLX_IDLE_TIMEOUT": "-1"], ConfigFlags(), "MODELHOST_IDLE_TIMEOUT must be ≥ 0"),
            ([:], ConfigFlags(port: 70000), "port 70000 is out of range"),
            ([:], ConfigFlags(port: 5000, adminPort: 5000), "both 5000"),
            (["MLX_MAX_CONCURRENT_REQUESTS": "0"], ConfigFlags(), "MODELHOST_MAX_CONCURRENT_REQUESTS must be 1–1000"),
            (["MLX_RATE_LIMIT_ENABLED": "yes", "MLX_RATE_LIMIT_RPM": "5", "MLX_RATE_LIMIT_BURST": "10"], ConfigFlags(),
             "MODELHOST_RATE_LIMIT_BURST must be 1–RPM"),
            (["MLX_RATE_LIMIT_ENABLED": "maybe"], ConfigFlags(), "MLX_RATE_LIMIT_ENABLED=maybe is not a boolean"),
            (["MODELHOST_QUEUE_TIMEOUT_HIGH": "1", "MODELHOST_QUEUE_TIMEOUT_NORMAL": "2"], ConfigFlags(),
             "high ≥ normal ≥ low"),
            (["MODELHOST_API_KEYS": "has space"], ConfigFlags(), "whitespace"),
            ([:], ConfigFlags(prefixCacheMiB: -1), "the prefix cache (--prefix-cache-mib or MODELHOST_PREFIX_CACHE_MIB)"),
            (["MODELHOST_KV_CACHE_TYPE": "q4"], ConfigFlags(),
             "the KV cache type (--kv-cache-type or MODELHOST_KV_CACHE_TYPE) must be one of f32, f16, bf16, q8_0, got 'q4'"),
            (["MODELHOST_PREFIX_CACHE_MIB": "lots"], ConfigFlags(), "MODELHOST_PREFIX_CACHE_MIB=lots is not an integer"),
        ]
        for (environment, flags, expected) in cases {
            XCTAssertThrowsError(try ServerConfig.resolve(flags: flags, environment: environment, memory: memory(8))) {
                error in
                let message = (error as? ConfigError)?.message ?? ""
                XCTAssertTrue(message.contains(expected), "'\(message)' lacks '\(expected)'")
            }
        }
    }
}

final class VisionConfigTests: XCTestCase {
    func memory(_ gib: Int) -> SystemMemory { SystemMemory(totalBytes: UInt64(gib) << 30, source: "test") }

    /// The seed's RAM tiers for the auto-resize, its variables, and a body limit that fits the images allowed.
    func testTiersOverridesAndBodyLimit() throws {
        for (ram, side) in [(8, 512), (24, 512), (32, 768), (63, 768), (64, 1024), (128, 1024)] {
            let config = try ServerConfig.resolve(flags: ConfigFlags(), environment: [:], memory: memory(ram))
            XCTAssertEqual(config.vision.maxDimension, side, "\(ram) GiB")
            XCTAssertEqual(config.vision.effectiveMaxDimension, side)
        }
        let config = try ServerConfig.resolve(flags: ConfigFlags(), environment: [
            "VISION_MAX_DIMENSION": "640", "VISION_RESIZE_CACHE_ENABLED": "false", "VISION_RESIZE_CACHE_TTL": "60",
            "MODELHOST_VISION_MAX_IMAGES": "2",
        ], memory: memory(64))
        XCTAssertEqual(config.vision.maxDimension, 640)
        XCTAssertEqual(config.vision.effectiveCacheEntries, 0)
        XCTAssertEqual(config.vision.resizeCacheTTLSeconds, 60)
        XCTAssertGreaterThanOrEqual(config.maxBodyBytes, 2 * (10 << 20) * 4 / 3, "two base64 images of 10 MiB fit")
        let off = try ServerConfig.resolve(flags: ConfigFlags(), environment: ["VISION_AUTO_RESIZE": "0"], memory: memory(8))
        XCTAssertEqual(off.vision.effectiveMaxDimension, 0)
        XCTAssertThrowsError(try ServerConfig.resolve(flags: ConfigFlags(), environment: ["VISION_MAX_DIMENSION": "10"],
                                                      memory: memory(8))) {
            XCTAssertTrue("\($0)".contains("VISION_MAX_DIMENSION"), "\($0)")
        }
        XCTAssertThrowsError(try ServerConfig.resolve(flags: ConfigFlags(), environment: ["VISION_AUTO_RESIZE": "maybe"],
                                                      memory: memory(8)))
    }
}
