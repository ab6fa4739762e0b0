import Foundation
import ServerConfig
import struct Sampling.SamplingDefaults

/// What the HTTP layer needs from the configuration, with test-friendly knobs (ports may be 0 for an ephemeral
/// port; keep-alive and timeouts may be short).
public struct ServerOptions: Sendable {
    public var host: String
    public var port: Int
    public var adminHost: String
    public var adminPort: Int
    public var apiKeys: Set<String>
    public var maxBodyBytes: Int
    /// Image parts: how many per request and how large each may be.
    public var images: ImageLimits
    /// Deadline of a whole generation, from arrival to the last token.
    public var requestTimeout: Duration
    /// An SSE comment is sent when a stream has been silent this long (e.g. during a long prefill).
    public var keepAliveInterval: Duration
    public var maxConcurrentRequests: Int
    public var queue: QueueSettings
    public var rateLimit: RateLimitSettings
    /// Shown by `/admin/status` (already free of secrets).
    public var configSummary: JSONValue
    /// Sampling values and the chat answer cap for requests that leave them out and whose model recommends none.
    public var sampling: SamplingDefaults
    /// Origins allowed to call the API port from a browser (CORS): empty = none, `*` = any. Never the admin port.
    public var corsOrigins: [String]
    /// `GET /` serves the chat page.
    public var chatPage = true

    public static let version = "0.1.0"

    public init(
        host: String = "127.0.0.1", port: Int = 0, adminHost: String = "127.0.0.1", adminPort: Int = 0,
        apiKeys: Set<String> = [], maxBodyBytes: Int = ServerConfig.defaultMaxBodyBytes,
        requestTimeout: Duration = .seconds(300), keepAliveInterval: Duration = .seconds(10),
        maxConcurrentRequests: Int = 4, queue: QueueSettings = QueueSettings(),
        rateLimit: RateLimitSettings = RateLimitSettings(), images: ImageLimits = ImageLimits(),
        configSummary: JSONValue = [:], sampling: SamplingDefaults = .server, corsOrigins: [String] = []
    ) {
        self.host = host
        self.port = port
        self.adminHost = adminHost
        self.adminPort = adminPort
        self.apiKeys = apiKeys
        self.maxBodyBytes = maxBodyBytes
        self.requestTimeout = requestTimeout
        self.keepAliveInterval = keepAliveInterval
        self.maxConcurrentRequests = maxConcurrentRequests
        self.queue = queue
        self.rateLimit = rateLimit
        self.images = images
        self.configSummary = configSummary
        self.sampling = sampling
        self.corsOrigins = corsOrigins
    }

    public init(config: ServerConfig) {
        self.init(
            host: config.host, port: config.port, adminHost: config.adminHost, adminPort: config.adminPort,
            apiKeys: Set(config.apiKeys), maxBodyBytes: config.maxBodyBytes,
            requestTimeout: .seconds(config.requestTimeoutSeconds), maxConcurrentRequests: config.maxConcurrentRequests,
            queue: config.queue, rateLimit: config.rateLimit,
            images: ImageLimits(maxImages: config.vision.maxImagesPerRequest, maxImageBytes: config.vision.maxImageBytes,
                                allowRemoteURLs: config.vision.allowRemoteURLs),
            configSummary: [
                "host": .string(config.host), "port": JSONValue(config.port),
                "admin_host": .string(config.adminHost), "admin_port": JSONValue(config.adminPort),
                "models_dir": .string(config.modelsDir), "state_dir": .string(config.stateDir),
                "plugin_path": JSONValue(config.pluginPath), "machine_type": .string(config.tier.rawValue),
                "total_ram_gb": JSONValue(config.totalRAMGiB), "memory_source": .string(config.memorySource),
                "memory_budget_gb": JSONValue(config.memoryBudgetGiB),
                "idle_timeout_seconds": JSONValue(config.idleTimeoutSeconds),
                "request_timeout_seconds": JSONValue(config.requestTimeoutSeconds),
                "model_load_timeout_seconds": JSONValue(config.modelLoadTimeoutSeconds),
                "max_concurrent_requests": JSONValue(config.maxConcurrentRequests),
                "queue_max_depth": JSONValue(config.queue.maxDepth),
                "rate_limit_enabled": .bool(config.rateLimit.enabled),
                "api_keys_configured": JSONValue(config.apiKeys.count),
                "max_body_bytes": JSONValue(config.maxBodyBytes),
                "vision_max_dimension": JSONValue(config.vision.effectiveMaxDimension),
                "vision_max_images": JSONValue(config.vision.maxImagesPerRequest),
                "vision_allow_urls": .bool(config.vision.allowRemoteURLs),
                "vision_max_image_bytes": JSONValue(config.vision.maxImageBytes),
                "vision_resize_cache_size": JSONValue(config.vision.effectiveCacheEntries),
                "vision_resize_cache_ttl_seconds": JSONValue(config.vision.resizeCacheTTLSeconds),
                "sampling_defaults": config.sampling.json,
                "cors_origins": .array(config.corsOrigins.map(JSONValue.string)),
                "shutdown_grace_seconds": .number(config.shutdownGraceSeconds),
                "chat_page": .bool(config.chatPage),
            ], sampling: config.sampling, corsOrigins: config.corsOrigins)
        chatPage = config.chatPage
    }

    var queueTimeouts: [Priority: Duration] {
        [.high: .milliseconds(Int64(queue.highTimeoutSeconds * 1000)),
         .normal: .milliseconds(Int64(queue.normalTimeoutSeconds * 1000)),
         .low: .milliseconds(Int64(queue.lowTimeoutSeconds * 1000))]
    }
}
