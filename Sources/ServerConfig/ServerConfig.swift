import enum WorkerProtocol.KVCacheType
import Foundation
import struct Sampling.SamplingDefaults

/// Command-line values; each one, when set, wins over the environment.
public struct ConfigFlags: Sendable, Equatable {
    public var host: String?
    public var port: Int?
    public var adminHost: String?
    public var adminPort: Int?
    public var modelsDir: String?
    public var stateDir: String?
    public var pluginPath: String?
    /// Sampling values for requests that leave them out and whose model recommends none (`--temperature`, …).
    public var sampling: SamplingDefaults
    /// Browser origins allowed to call the API port (`--cors-origins`); nil = not set here.
    public var corsOrigins: [String]?
    public var shutdownGraceSeconds: Double?
    /// `--no-chat-page` sets false; nil = not set here.
    public var chatPage: Bool?
    /// `--prefix-cache-mib`; nil = not set here.
    public var prefixCacheMiB: Int?
    /// `--kv-cache-type` as given (checked by `resolve`); nil = not set here.
    public var kvCacheType: String?

    public init(
        host: String? = nil, port: Int? = nil, adminHost: String? = nil, adminPort: Int? = nil,
        modelsDir: String? = nil, stateDir: String? = nil, pluginPath: String? = nil,
        sampling: SamplingDefaults = SamplingDefaults(), corsOrigins: [String]? = nil,
        shutdownGraceSeconds: Double? = nil, chatPage: Bool? = nil, prefixCacheMiB: Int? = nil,
        kvCacheType: String? = nil
    ) {
        self.kvCacheType = kvCacheType
        self.chatPage = chatPage
        self.prefixCacheMiB = prefixCacheMiB
        self.host = host
        self.port = port
        self.adminHost = adminHost
        self.adminPort = adminPort
        self.modelsDir = modelsDir
        self.stateDir = stateDir
        self.pluginPath = pluginPath
        self.sampling = sampling
        self.corsOrigins = corsOrigins
        self.shutdownGraceSeconds = shutdownGraceSeconds
    }
}

/// Queue limits: how many requests may wait for a slot, and how long each priority waits before giving up.
public struct QueueSettings: Sendable, Equatable {
    public var maxDepth: Int
    public var highTimeoutSeconds: Double
    public var normalTimeoutSeconds: Double
    public var lowTimeoutSeconds: Double

    public init(maxDepth: Int = 50, high: Double = 120, normal: Double = 60, low: Double = 30) {
        self.maxDepth = maxDepth
        self.highTimeoutSeconds = high
        self.normalTimeoutSeconds = normal
        self.lowTimeoutSeconds = low
    }
}

/// The optional global token bucket (the original's `MLX_RATE_LIMIT_*`).
public struct RateLimitSettings: Sendable, Equatable {
    public var enabled: Bool
    public var requestsPerMinute: Int
    public var burst: Int

    public init(enabled: Bool = false, requestsPerMinute: Int = 60, burst: Int = 10) {
        self.enabled = enabled
        self.requestsPerMinute = requestsPerMinute
        self.burst = burst
    }
}

/// Everything `modelhost serve` needs, resolved once at start-up as flags > environment > RAM tier, and validated.
public struct ServerConfig: Sendable, Equatable {
    public var host: String
    public var port: Int
    public var adminHost: String
    public var adminPort: Int
    public var modelsDir: String
    public var stateDir: String
    public var pluginPath: String?
    /// `HF_HOME`: its `hub/` holds the Hugging Face cache layout the catalog also serves.
    public var hfHome: String
    /// Accepted bearer keys; empty means the API is open.
    public var apiKeys: [String]
    public var idleTimeoutSeconds: Int
    public var requestTimeoutSeconds: Int
    public var modelLoadTimeoutSeconds: Int
    public var maxConcurrentRequests: Int
    public var queue: QueueSettings
    public var rateLimit: RateLimitSettings
    /// Largest request body accepted; bigger bodies get 413. By default room for the most images a request may carry.
    public var maxBodyBytes: Int
    public var vision: VisionConfig
    public var tier: RAMTier
    public var totalRAMGiB: Int
    public var memorySource: String
    /// The memory all loaded models may use together (the tier's `memory_threshold_gb`).
    public var memoryBudgetGiB: Int
    /// Sampling values and the answer cap for requests that leave them out, where the model recommends none: every
    /// field set (flags > `MODELHOST_TEMPERATURE`… > `SamplingDefaults.server`).
    public var sampling: SamplingDefaults
    /// Origins whose browser pages may call the API port (CORS); empty = none (the default), `["*"]` = any.
    public var corsOrigins: [String]
    /// How long requests in flight at SIGTERM/SIGINT may still run before they are ended (`--shutdown-grace`).
    public var shutdownGraceSeconds: Double
    /// Whether `GET /` on the API port serves the browser chat page (`--no-chat-page`, `MODELHOST_CHAT_PAGE=false`).
    public var chatPage = true
    /// The KV memory, in MiB, each model's worker may keep in idle sequences for prefix reuse (`--prefix-cache-mib`,
    /// `MODELHOST_PREFIX_CACHE_MIB`; a preset's `prefix_cache_mib` for its model); 0 keeps none. By default an eighth
    /// of the memory budget: a few long conversations of a small model, or one of a 7-8 B model, stay warm, and a
    /// worker's memory after a long conversation returns to its loaded size plus at most this.
    public var prefixCacheMiB = 0
    /// How models' decoders store keys and values (`--kv-cache-type`, `MODELHOST_KV_CACHE_TYPE`; a preset's
    /// `kv_cache_type` for its model): `f32` by default (float32-class accuracy); `f16`, `bf16` (half the KV memory) or
    /// `q8_0` (about a quarter) speed up decoding at long contexts, at a measured cost in accuracy (README).
    public var kvCacheType = KVCacheType.f32

    public static let defaultHost = "127.0.0.1"
    public static let defaultPort = 11440
    public static let defaultAdminPort = 11441
    public static let defaultMaxBodyBytes = VisionConfig().bodyBytesForImages

    /// Resolves the configuration. `environment` is normally `ProcessInfo.processInfo.environment`; `memory` is the
    /// probed machine memory (see `SystemMemory.probe`).
    public static func resolve(
        flags: ConfigFlags, environment: [String: String], memory: SystemMemory
    ) throws(ConfigError) -> ServerConfig {
        let env = EnvironmentSource(environment)
        let ram = memory.roundedGiB
        let tier = RAMTier(ramGiB: ram)
        let home = environment["HOME"] ?? "/root"

        let envPort = try env.int(["MODELHOST_PORT"])
        let envAdminPort = try env.int(["MODELHOST_ADMIN_PORT", "MLX_ADMIN_PORT"])
        let vision = try VisionConfig.resolve(env, ramGiB: ram)
        let envGrace = try env.double(["MODELHOST_SHUTDOWN_GRACE"])
        var config = ServerConfig(
            host: flags.host ?? env.string("MODELHOST_HOST") ?? defaultHost,
            port: flags.port ?? envPort ?? defaultPort,
            adminHost: flags.adminHost ?? env.string("MODELHOST_ADMIN_HOST") ?? defaultHost,
            adminPort: flags.adminPort ?? envAdminPort ?? defaultAdminPort,
            modelsDir: flags.modelsDir ?? env.string("MODELHOST_MODELS_DIR") ?? "models",
            stateDir: flags.stateDir ?? env.string("MODELHOST_STATE_DIR")
                ?? (environment["XDG_STATE_HOME"].map { "\($0)/modelhost" } ?? "\(home)/.local/state/modelhost"),
            pluginPath: flags.pluginPath ?? env.string("MODELHOST_PLUGIN_PATH"),
            hfHome: env.string("MODELHOST_HF_HOME") ?? env.string("HF_HOME") ?? "\(home)/.cache/huggingface",
            apiKeys: [],
            idleTimeoutSeconds: try env.int(["MODELHOST_IDLE_TIMEOUT", "MLX_IDLE_TIMEOUT"]) ?? tier.idleTimeoutSeconds,
            requestTimeoutSeconds: try env.int(["MODELHOST_REQUEST_TIMEOUT", "MLX_REQUEST_TIMEOUT"])
                ?? tier.requestTimeoutSeconds,
            modelLoadTimeoutSeconds: try env.int(["MODELHOST_MODEL_LOAD_TIMEOUT", "MLX_MODEL_LOAD_TIMEOUT"])
                ?? tier.modelLoadTimeoutSeconds,
            maxConcurrentRequests: try env.int(["MODELHOST_MAX_CONCURRENT_REQUESTS", "MLX_MAX_CONCURRENT_REQUESTS"])
                ?? tier.maxConcurrentRequests,
            queue: QueueSettings(
                maxDepth: try env.int(["MODELHOST_QUEUE_MAX_DEPTH", "MLX_QUEUE_MAX_DEPTH"]) ?? 50,
                high: try env.double(["MODELHOST_QUEUE_TIMEOUT_HIGH", "MLX_QUEUE_TIMEOUT_HIGH"]) ?? 120,
                normal: try env.double(["MODELHOST_QUEUE_TIMEOUT_NORMAL", "MLX_QUEUE_TIMEOUT_NORMAL"]) ?? 60,
                low: try env.double(["MODELHOST_QUEUE_TIMEOUT_LOW", "MLX_QUEUE_TIMEOUT_LOW"]) ?? 30
            ),
            rateLimit: RateLimitSettings(
                enabled: try env.bool(["MODELHOST_RATE_LIMIT_ENABLED", "MLX_RATE_LIMIT_ENABLED"]) ?? false,
                requestsPerMinute: try env.int(["MODELHOST_RATE_LIMIT_RPM", "MLX_RATE_LIMIT_RPM"]) ?? 60,
                burst: try env.int(["MODELHOST_RATE_LIMIT_BURST", "MLX_RATE_LIMIT_BURST"]) ?? 10
            ),
            maxBodyBytes: try env.int(["MODELHOST_MAX_BODY_BYTES"]) ?? vision.bodyBytesForImages,
            vision: vision,
            tier: tier,
            totalRAMGiB: ram,
            memorySource: memory.source,
            memoryBudgetGiB: tier.memoryThresholdGiB(ramGiB: ram),
            sampling: flags.sampling.filled(from: SamplingDefaults(
                temperature: try env.double(["MODELHOST_TEMPERATURE"]), topK: try env.int(["MODELHOST_TOP_K"]),
                topP: try env.double(["MODELHOST_TOP_P"]), minP: try env.double(["MODELHOST_MIN_P"]),
                repetitionPenalty: try env.double(["MODELHOST_REPETITION_PENALTY"]),
                maxTokens: try env.int(["MODELHOST_MAX_TOKENS"])
            )).filled(from: .server),
            corsOrigins: flags.corsOrigins ?? CORSOriginList.parse(env.string("MODELHOST_CORS_ORIGINS")),
            shutdownGraceSeconds: flags.shutdownGraceSeconds ?? envGrace ?? 30
        )
        let envChatPage = try env.bool(["MODELHOST_CHAT_PAGE"])
        config.chatPage = flags.chatPage ?? envChatPage ?? true
        if let name = flags.kvCacheType ?? env.string("MODELHOST_KV_CACHE_TYPE") {
            guard let type = KVCacheType(rawValue: name) else {
                throw ConfigError("the KV cache type (--kv-cache-type or MODELHOST_KV_CACHE_TYPE) must be one of "
                    + "\(KVCacheType.names), got '\(name)'")
            }
            config.kvCacheType = type
        }
        let envPrefixCache = try env.int(["MODELHOST_PREFIX_CACHE_MIB"])
        config.prefixCacheMiB = flags.prefixCacheMiB ?? envPrefixCache ?? config.memoryBudgetGiB * 1024 / 8
        config.apiKeys = try APIKeySource.keys(
            inline: env.string("MODELHOST_API_KEYS"), file: env.string("MODELHOST_API_KEY_FILE"))
        try config.validate()
        return config
    }

    /// Checks ranges and cross-field rules; the first violation is thrown with the setting's name.
    public func validate() throws(ConfigError) {
        try Self.require((1...65535).contains(port), "port \(port) is out of range (expected 1–65535)")
        try Self.require((1...65535).contains(adminPort), "admin port \(adminPort) is out of range (expected 1–65535)")
        try Self.require(port != adminPort, "the API and admin ports are both \(port); give the admin API its own port")
        try Self.require(!host.isEmpty, "MODELHOST_HOST is empty (expected an address such as 127.0.0.1)")
        try Self.require(!adminHost.isEmpty, "the admin host is empty (expected an address such as 127.0.0.1)")
        try Self.require(!modelsDir.isEmpty, "the models directory is empty (set --models-dir or MODELHOST_MODELS_DIR)")
        try Self.require(!stateDir.isEmpty, "the state directory is empty (set --state-dir or MODELHOST_STATE_DIR)")
        try Self.require(idleTimeoutSeconds >= 0, "MODELHOST_IDLE_TIMEOUT must be ≥ 0 seconds, got \(idleTimeoutSeconds)")
        try Self.require(requestTimeoutSeconds > 0,
                         "MODELHOST_REQUEST_TIMEOUT must be > 0 seconds, got \(requestTimeoutSeconds)")
        try Self.require(modelLoadTimeoutSeconds > 0,
                         "MODELHOST_MODEL_LOAD_TIMEOUT must be > 0 seconds, got \(modelLoadTimeoutSeconds)")
        try Self.require((1...1000).contains(maxConcurrentRequests),
                         "MODELHOST_MAX_CONCURRENT_REQUESTS must be 1–1000, got \(maxConcurrentRequests)")
        try Self.require((0...10000).contains(queue.maxDepth),
                         "MODELHOST_QUEUE_MAX_DEPTH must be 0–10000, got \(queue.maxDepth)")
        try Self.require(queue.lowTimeoutSeconds > 0, "queue timeouts must be > 0 seconds")
        try Self.require(
            queue.highTimeoutSeconds >= queue.normalTimeoutSeconds
                && queue.normalTimeoutSeconds >= queue.lowTimeoutSeconds,
            "queue timeouts must satisfy high ≥ normal ≥ low, got \(queue.highTimeoutSeconds)/"
                + "\(queue.normalTimeoutSeconds)/\(queue.lowTimeoutSeconds)")
        if rateLimit.enabled {
            try Self.require(rateLimit.requestsPerMinute > 0,
                             "MODELHOST_RATE_LIMIT_RPM must be > 0, got \(rateLimit.requestsPerMinute)")
            try Self.require(rateLimit.burst >= 1 && rateLimit.burst <= rateLimit.requestsPerMinute,
                             "MODELHOST_RATE_LIMIT_BURST must be 1–RPM (\(rateLimit.requestsPerMinute)), "
                                + "got \(rateLimit.burst)")
        }
        try Self.require(maxBodyBytes >= 1024, "MODELHOST_MAX_BODY_BYTES must be ≥ 1024, got \(maxBodyBytes)")
        try vision.validate()
        if let (name, allowed) = sampling.invalidField {
            try Self.require(false, "the default \(name) must be \(allowed) (--\(name.replacingOccurrences(of: "_", with: "-")) "
                + "or MODELHOST_\(name.uppercased()))")
        }
        for origin in corsOrigins where origin != "*" {
            try Self.require(CORSOriginList.isOrigin(origin),
                             "CORS origin '\(origin)' is not an origin: expected scheme://host[:port] or *")
        }
        try Self.require(shutdownGraceSeconds >= 0 && shutdownGraceSeconds <= 3600,
                         "the shutdown grace (--shutdown-grace or MODELHOST_SHUTDOWN_GRACE) must be 0–3600 seconds, "
                            + "got \(shutdownGraceSeconds)")
        try Self.require(memoryBudgetGiB > 0, "the memory budget (\(memoryBudgetGiB) GiB) must be > 0")
        try Self.require((0...16_777_216).contains(prefixCacheMiB),
                         "the prefix cache (--prefix-cache-mib or MODELHOST_PREFIX_CACHE_MIB) must be 0–16777216 MiB, "
                            + "got \(prefixCacheMiB)")
    }

    private static func require(_ condition: Bool, _ message: @autoclosure () -> String) throws(ConfigError) {
        if !condition { throw ConfigError(message()) }
    }
}

/// Typed reads of environment variables, trying each name in order (the `MODELHOST_*` name first, then the
/// original's alias), so a bad value is reported under the name the operator actually set.
struct EnvironmentSource {
    let values: [String: String]

    init(_ values: [String: String]) {
        self.values = values
    }

    func string(_ name: String) -> String? {
        guard let value = values[name]?.trimmingCharacters(in: .whitespaces), !value.isEmpty else { return nil }
        return value
    }

    private func first(_ names: [String]) -> (String, String)? {
        for name in names {
            if let value = string(name) { return (name, value) }
        }
        return nil
    }

    func int(_ names: [String]) throws(ConfigError) -> Int? {
        guard let (name, text) = first(names) else { return nil }
        guard let value = Int(text) else { throw ConfigError("\(name)=\(text) is not an integer") }
        return value
    }

    func double(_ names: [String]) throws(ConfigError) -> Double? {
        guard let (name, text) = first(names) else { return nil }
        guard let value = Double(text), value.isFinite else { throw ConfigError("\(name)=\(text) is not a number") }
        return value
    }

    func bool(_ names: [String]) throws(ConfigError) -> Bool? {
        guard let (name, text) = first(names) else { return nil }
        switch text.lowercased() {
        case "1", "true", "yes", "on": return true
        case "0", "false", "no", "off": return false
        default: throw ConfigError("\(name)=\(text) is not a boolean (use 1/0, true/false)")
        }
    }
}

/// API keys from `MODELHOST_API_KEYS` (comma-separated) and/or a key file (one per line, `#` comments).
enum APIKeySource {
    static func keys(inline: String?, file: String?) throws(ConfigError) -> [String] {
        var keys = (inline ?? "").split(separator: ",").map { $0.trimmingCharacters(in: .whitespaces) }
        if let file {
            guard let data = FileManager.default.contents(atPath: file) else {
                throw ConfigError("MODELHOST_API_KEY_FILE=\(file) cannot be read")
            }
            for line in String(decoding: data, as: UTF8.self).split(whereSeparator: \.isNewline) {
                let key = line.trimmingCharacters(in: .whitespaces)
                if !key.hasPrefix("#") { keys.append(key) }
            }
        }
        keys.removeAll(where: \.isEmpty)
        if let bad = keys.first(where: { $0.contains(where: { $0.isWhitespace || !$0.isASCII }) }) {
            throw ConfigError("an API key contains whitespace or non-ASCII characters (\(bad.prefix(4))…)")
        }
        return keys
    }
}

/// `--cors-origins` / `MODELHOST_CORS_ORIGINS`: a comma-separated list of origins (`http://localhost:3000`), or `*`.
public enum CORSOriginList {
    public static func parse(_ text: String?) -> [String] {
        (text ?? "").split(separator: ",").map { $0.trimmingCharacters(in: .whitespaces) }.filter { !$0.isEmpty }
    }

    /// `scheme://host[:port]` with no path, as browsers send in the `Origin` header.
    public static func isOrigin(_ text: String) -> Bool {
        guard let url = URL(string: text), let scheme = url.scheme, ["http", "https"].contains(scheme.lowercased()),
              let host = url.host, !host.isEmpty else { return false }
        return url.path.isEmpty && url.query == nil && url.fragment == nil && url.user == nil
    }
}
