/// Image input settings (the original server's `VISION_*` variables, seed-behaviour §5), resolved once at start-up.
public struct VisionConfig: Sendable, Equatable {
    /// `VISION_MAX_DIMENSION`: the auto-resize's longest side; by default from the machine's RAM (≥ 64 GiB → 1024,
    /// ≥ 32 GiB → 768, below → 512), since the encoder's work and memory grow with the pixels it is given.
    public var maxDimension: Int
    /// `VISION_AUTO_RESIZE` (true): false sends images to the model's own preprocessing at their stored size.
    public var autoResize: Bool
    /// `VISION_RESIZE_CACHE_ENABLED` / `_SIZE` / `_TTL`: the worker's cache of prepared images (true, 20, 3600 s).
    public var resizeCacheEnabled: Bool
    public var resizeCacheSize: Int
    public var resizeCacheTTLSeconds: Int
    /// `MODELHOST_VISION_MAX_IMAGE_BYTES`: the most bytes one decoded image may have (10 MiB); larger is a 413.
    public var maxImageBytes: Int
    /// `MODELHOST_VISION_MAX_IMAGES`: images per request, across all its messages (5); more is a 400.
    public var maxImagesPerRequest: Int
    /// `MODELHOST_VISION_MAX_PIXELS`: images with more pixels are refused from their header (50 MP).
    public var maxPixels: Int
    /// `MODELHOST_VISION_ALLOW_URLS` (false): fetch `http(s)` image URLs, public addresses only, no redirects.
    public var allowRemoteURLs: Bool

    public static let defaultMaxImageBytes = 10 << 20
    public static let defaultMaxImages = 5

    public init(
        maxDimension: Int = 512, autoResize: Bool = true, resizeCacheEnabled: Bool = true, resizeCacheSize: Int = 20,
        resizeCacheTTLSeconds: Int = 3600, maxImageBytes: Int = VisionConfig.defaultMaxImageBytes,
        maxImagesPerRequest: Int = VisionConfig.defaultMaxImages, maxPixels: Int = 50_000_000,
        allowRemoteURLs: Bool = false
    ) {
        self.maxDimension = maxDimension
        self.autoResize = autoResize
        self.resizeCacheEnabled = resizeCacheEnabled
        self.resizeCacheSize = resizeCacheSize
        self.resizeCacheTTLSeconds = resizeCacheTTLSeconds
        self.maxImageBytes = maxImageBytes
        self.maxImagesPerRequest = maxImagesPerRequest
        self.maxPixels = maxPixels
        self.allowRemoteURLs = allowRemoteURLs
    }

    /// The seed's RAM tiers for the auto-resize.
    public static func tierMaxDimension(ramGiB: Int) -> Int {
        ramGiB >= 64 ? 1024 : ramGiB >= 32 ? 768 : 512
    }

    /// The longest side the worker resizes to; 0 when the auto-resize is off.
    public var effectiveMaxDimension: Int { autoResize ? maxDimension : 0 }

    /// Cache entries the worker keeps; 0 when the cache is off.
    public var effectiveCacheEntries: Int { resizeCacheEnabled ? resizeCacheSize : 0 }

    /// A request body that carries the most images allowed, base64-encoded, plus 1 MiB of text.
    public var bodyBytesForImages: Int { maxImagesPerRequest * ((maxImageBytes + 2) / 3 * 4) + (1 << 20) }

    static func resolve(_ env: EnvironmentSource, ramGiB: Int) throws(ConfigError) -> VisionConfig {
        VisionConfig(
            maxDimension: try env.int(["VISION_MAX_DIMENSION", "MODELHOST_VISION_MAX_DIMENSION"])
                ?? tierMaxDimension(ramGiB: ramGiB),
            autoResize: try env.bool(["VISION_AUTO_RESIZE", "MODELHOST_VISION_AUTO_RESIZE"]) ?? true,
            resizeCacheEnabled: try env.bool(["VISION_RESIZE_CACHE_ENABLED"]) ?? true,
            resizeCacheSize: try env.int(["VISION_RESIZE_CACHE_SIZE"]) ?? 20,
            resizeCacheTTLSeconds: try env.int(["VISION_RESIZE_CACHE_TTL"]) ?? 3600,
            maxImageBytes: try env.int(["MODELHOST_VISION_MAX_IMAGE_BYTES"]) ?? defaultMaxImageBytes,
            maxImagesPerRequest: try env.int(["MODELHOST_VISION_MAX_IMAGES"]) ?? defaultMaxImages,
            maxPixels: try env.int(["MODELHOST_VISION_MAX_PIXELS"]) ?? 50_000_000,
            allowRemoteURLs: try env.bool(["MODELHOST_VISION_ALLOW_URLS"]) ?? false)
    }

    func validate() throws(ConfigError) {
        func require(_ ok: Bool, _ message: String) throws(ConfigError) { if !ok { throw ConfigError(message) } }
        try require((64...16384).contains(maxDimension), "VISION_MAX_DIMENSION must be 64–16384 px, got \(maxDimension)")
        try require((0...10000).contains(resizeCacheSize), "VISION_RESIZE_CACHE_SIZE must be 0–10000, got \(resizeCacheSize)")
        try require(resizeCacheTTLSeconds > 0, "VISION_RESIZE_CACHE_TTL must be > 0 seconds, got \(resizeCacheTTLSeconds)")
        try require((1024...(256 << 20)).contains(maxImageBytes),
                    "MODELHOST_VISION_MAX_IMAGE_BYTES must be 1 KiB–256 MiB, got \(maxImageBytes)")
        try require((0...64).contains(maxImagesPerRequest),
                    "MODELHOST_VISION_MAX_IMAGES must be 0–64, got \(maxImagesPerRequest)")
        try require((1...1_000_000_000).contains(maxPixels),
                    "MODELHOST_VISION_MAX_PIXELS must be 1–1e9, got \(maxPixels)")
    }
}
