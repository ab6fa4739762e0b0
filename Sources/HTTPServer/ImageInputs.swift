import Foundation
import ImageFetch

/// How many images a request may carry and how large each may be (the original server's limits: 5 images across all
/// messages, 10 MiB each).
public struct ImageLimits: Sendable, Equatable {
    public var maxImages: Int
    public var maxImageBytes: Int
    /// Whether `http(s)` image URLs are fetched (off by default; see `RemoteImageFetcher` for the defences).
    public var allowRemoteURLs: Bool
    public var fetchTimeoutMilliseconds: Int

    public init(maxImages: Int = 5, maxImageBytes: Int = 10 << 20, allowRemoteURLs: Bool = false,
                fetchTimeoutMilliseconds: Int = 10_000) {
        self.maxImages = maxImages
        self.maxImageBytes = maxImageBytes
        self.allowRemoteURLs = allowRemoteURLs
        self.fetchTimeoutMilliseconds = fetchTimeoutMilliseconds
    }
}

/// Turns the `image_url` parts of a parsed chat request into image bytes, enforcing the limits: more images than
/// allowed is a 400, an image over the size limit a 413 (decided from the base64 length, before decoding), a malformed
/// data URL a 400. `http(s)` URLs are refused unless the operator allows them: a server that fetches for its clients
/// can be made to reach hosts on its own network (SSRF), so fetching is opt-in and guarded (`RemoteImageFetcher`).
/// Whether the bytes are a valid image is the worker's image preprocessor's call (its header check also refuses
/// decompression bombs), which answers before any decoding.
public struct ImageInputs: Sendable {
    public let limits: ImageLimits
    /// Fetches http(s) URLs when the operator allows them; nil refuses them.
    public let fetcher: RemoteImageFetcher?

    public init(limits: ImageLimits, fetcher: RemoteImageFetcher? = nil) {
        self.limits = limits
        self.fetcher = fetcher ?? (limits.allowRemoteURLs
            ? RemoteImageFetcher(maxBytes: limits.maxImageBytes, timeoutMilliseconds: limits.fetchTimeoutMilliseconds)
            : nil)
    }

    public func resolve(_ parsed: inout ParsedRequest) async throws(APIError) {
        for r in parsed.requests.indices {
            guard case var .chat(messages) = parsed.requests[r].input else { continue }
            var count = 0
            for m in messages.indices {
                for p in messages[m].content.indices {
                    guard case let .imageURL(url, detail) = messages[m].content[p] else { continue }
                    let param = "messages[\(m)].content[\(p)].image_url.url"
                    count += 1
                    if count > limits.maxImages {
                        throw APIError.invalid(
                            "a request may carry at most \(limits.maxImages) images; this one has more",
                            param: param, code: "too_many_images")
                    }
                    messages[m].content[p] = .image(try await bytes(url, param: param), detail: detail)
                }
            }
            parsed.requests[r].input = .chat(messages)
        }
    }

    /// The bytes behind an image URL: decoded from a data URL, or fetched when remote URLs are allowed.
    func bytes(_ url: String, param: String) async throws(APIError) -> [UInt8] {
        let lower = url.prefix(16).lowercased()
        guard lower.hasPrefix("http://") || lower.hasPrefix("https://") else { return try decode(url, param: param) }
        guard let fetcher else {
            throw APIError.invalid(
                "remote image URLs are not fetched by this server (MODELHOST_VISION_ALLOW_URLS is off); send the "
                    + "image inline as 'data:image/<png|jpeg|webp|gif>;base64,<data>'", param: param,
                code: "unsupported_image_url")
        }
        do {
            return try await fetcher.fetch(url)
        } catch where error.tooLarge {
            throw APIError(status: 413, message: error.message, type: "invalid_request_error", param: param,
                           code: "image_too_large")
        } catch {
            throw APIError.invalid(error.message, param: param, code: "image_fetch_failed")
        }
    }

    /// The bytes of a `data:image/<type>;base64,<payload>` URL.
    public func decode(_ url: String, param: String) throws(APIError) -> [UInt8] {
        let lower = url.prefix(16).lowercased()
        if lower.hasPrefix("http://") || lower.hasPrefix("https://") {
            throw APIError.invalid("a remote image URL is not a data URL", param: param, code: "unsupported_image_url")
        }
        guard lower.hasPrefix("data:") else {
            throw APIError.invalid("an image URL must be 'data:image/<type>;base64,<data>'", param: param,
                                   code: "invalid_image_url")
        }
        guard let comma = url.firstIndex(of: ",") else {
            throw APIError.invalid("the data URL has no ',' before its data", param: param, code: "invalid_image_url")
        }
        let header = url[url.index(url.startIndex, offsetBy: 5)..<comma].lowercased()
        let attributes = header.split(separator: ";", omittingEmptySubsequences: false)
        guard let mediaType = attributes.first, mediaType.hasPrefix("image/"), mediaType.count > 6 else {
            throw APIError.invalid("the data URL's media type must be image/<type>, got '\(header.prefix(40))'",
                                   param: param, code: "invalid_image_url")
        }
        guard attributes.dropFirst().contains("base64") else {
            throw APIError.invalid("the data URL must be base64-encoded (';base64,')", param: param,
                                   code: "invalid_image_url")
        }
        let payload = url.utf8[url.utf8.index(after: comma)...]
        // Three bytes per four characters, less padding: the size is known before anything is decoded.
        let padding = payload.reversed().prefix(2).filter { $0 == UInt8(ascii: "=") }.count
        let decodedSize = payload.count / 4 * 3 - padding
        if decodedSize > limits.maxImageBytes {
            throw APIError(status: 413,
                           message: "an image may be at most \(limits.maxImageBytes) bytes; this one is \(decodedSize)",
                           type: "invalid_request_error", param: param, code: "image_too_large")
        }
        guard payload.count % 4 == 0, let data = Data(base64Encoded: Data(payload)), !data.isEmpty else {
            throw APIError.invalid("the image's base64 data is malformed", param: param, code: "invalid_image_data")
        }
        return [UInt8](data)
    }
}
