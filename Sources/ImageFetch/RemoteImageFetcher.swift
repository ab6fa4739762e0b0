import Dispatch
import Foundation
import ImageFetchC

/// Why a remote image was not fetched; `tooLarge` maps to 413, the rest to 400.
public struct RemoteImageError: Error, Sendable, Equatable, CustomStringConvertible {
    public let message: String
    public let tooLarge: Bool
    public var description: String { message }
}

/// Fetches `http(s)` image URLs for the API when the operator enables it (`MODELHOST_VISION_ALLOW_URLS`), with the
/// defences a server that fetches for clients needs (SSRF): the host is resolved here and EVERY address must be public
/// (`IPAddress.isPublic`); the connection goes to the checked address only (pinned, so DNS cannot answer differently
/// the second time); redirects are refused, not followed; no proxy; a size cap and a time limit. libcurl does the
/// HTTP and TLS.
public struct RemoteImageFetcher: Sendable {
    public let maxBytes: Int
    public let timeoutMilliseconds: Int
    /// Which addresses may be connected to; `IPAddress.isPublic` in production. Tests that serve from loopback pass
    /// their own.
    let acceptAddress: @Sendable (IPAddress) -> Bool

    public init(maxBytes: Int, timeoutMilliseconds: Int = 10_000,
                acceptAddress: @escaping @Sendable (IPAddress) -> Bool = { $0.isPublic }) {
        self.maxBytes = maxBytes
        self.timeoutMilliseconds = timeoutMilliseconds
        self.acceptAddress = acceptAddress
    }

    public func fetch(_ url: String) async throws(RemoteImageError) -> [UInt8] {
        let result: Result<[UInt8], RemoteImageError> = await withCheckedContinuation { continuation in
            DispatchQueue.global().async { continuation.resume(returning: fetchBlocking(url)) }
        }
        return try result.get()
    }

    func fetchBlocking(_ url: String) -> Result<[UInt8], RemoteImageError> {
        func fail(_ message: String, tooLarge: Bool = false) -> Result<[UInt8], RemoteImageError> {
            .failure(RemoteImageError(message: message, tooLarge: tooLarge))
        }
        guard let components = URLComponents(string: url), let scheme = components.scheme?.lowercased(),
              scheme == "http" || scheme == "https", var host = components.host, !host.isEmpty else {
            return fail("the image URL must be http:// or https:// with a host")
        }
        guard components.user == nil, components.password == nil else { return fail("image URLs may not carry credentials") }
        if host.hasPrefix("[") && host.hasSuffix("]") { host = String(host.dropFirst().dropLast()) }
        let port = components.port ?? (scheme == "https" ? 443 : 80)
        let addresses = resolveAddresses(host)
        guard let first = addresses.first else { return fail("the image URL's host \(host) does not resolve") }
        if let refused = addresses.first(where: { !acceptAddress($0) }) {
            return fail("the image URL's host \(host) resolves to \(refused), a loopback, private, link-local or "
                + "reserved address; the server does not fetch from such addresses")
        }
        var result = mh_fetch_result()
        mh_fetch(url, host, Int32(port), first.description, maxBytes, timeoutMilliseconds, &result)
        defer { mh_fetch_free(&result) }
        let message = withUnsafeBytes(of: &result.message) { String(decoding: $0.prefix(while: { $0 != 0 }), as: UTF8.self) }
        switch result.outcome {
        case Int32(MH_FETCH_OK.rawValue):
            guard let data = result.data, result.length > 0 else { return fail("the image URL returned no data") }
            return .success(Array(UnsafeBufferPointer(start: data, count: result.length)))
        case Int32(MH_FETCH_TOO_LARGE.rawValue):
            return fail("the image at the URL is larger than \(maxBytes) bytes", tooLarge: true)
        default:
            return fail("fetching the image failed: \(message)")
        }
    }
}
