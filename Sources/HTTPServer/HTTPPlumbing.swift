import Foundation
import HTTPTypes
import Hummingbird
import Logging

extension HTTPField.Name {
    static let retryAfter = HTTPField.Name("Retry-After")!
    static let allow = HTTPField.Name("Allow")!
    static let xPriority = HTTPField.Name("X-Priority")!
    static let xAcceleratorBuffering = HTTPField.Name("X-Accel-Buffering")!
}

extension Response {
    /// A JSON response with the given status.
    static func json(_ value: JSONValue, status: Int = 200) -> Response {
        Response(
            status: HTTPResponse.Status(code: status),
            headers: [.contentType: "application/json"],
            body: ResponseBody(byteBuffer: ByteBuffer(string: value.serialized)))
    }

    /// Whose error shape a route answers in: OpenAI's, Anthropic's (`/v1/messages`) or Ollama's (`/api/*`).
    enum ErrorDialect { case openAI, anthropic, ollama }

    static func error(_ error: APIError, dialect: ErrorDialect = .openAI) -> Response {
        let body: JSONValue
        switch dialect {
        case .openAI: body = error.body
        case .anthropic: body = AnthropicError.body(error)
        case .ollama: body = OllamaError.body(error)
        }
        var response = json(body, status: error.status)
        if let retryAfter = error.retryAfter { response.headers[.retryAfter] = String(retryAfter) }
        if let allow = error.allow { response.headers[.allow] = allow.joined(separator: ", ") }
        return response
    }
}

/// Turns every error that escapes a handler into OpenAI's error shape, on both ports: our `APIError`s as they are,
/// Hummingbird's own (unknown route, body too large) by status, anything else as a 500 whose details are logged.
/// It also counts every response in `modelhost_requests_total`.
struct OpenAIErrorMiddleware<Context: RequestContext>: RouterMiddleware {
    let logger: Logger
    let metrics: ServerMetrics
    /// This port's paths and their methods (`RouteMethods`): a known path asked with another method is a 405.
    let routes: [String: [String]]
    let maxBodyBytes: Int

    func handle(_ request: Request, context: Context, next: (Request, Context) async throws -> Response)
        async throws -> Response
    {
        let response: Response
        do {
            response = try await next(request, context)
        } catch {
            let path = request.uri.path
            response = .error(map(error, request: request),
                              dialect: AnthropicError.applies(to: path) ? .anthropic : OllamaError.applies(to: path) ? .ollama : .openAI)
        }
        metrics.request(endpoint: Self.endpointLabel(request.uri.path), status: Int(response.status.code))
        return response
    }

    private func map(_ error: any Error, request: Request) -> APIError {
        switch error {
        case let error as APIError:
            return error
        case let error as BackendError:
            if case let .internal(detail) = error { logger.error("backend error on \(request.uri.path): \(detail)") }
            if case let .workerDied(reason) = error { logger.error("worker died on \(request.uri.path): \(reason)") }
            return APIError(error)
        case let error as any HTTPResponseError:
            switch error.status.code {
            case 404:
                if let methods = RouteMethods.allowed(request.uri.path, in: routes) {
                    return .methodNotAllowed(request.method.rawValue, path: request.uri.path, allowed: methods)
                }
                return .notFound("no route \(request.method.rawValue) \(request.uri.path)")
            case 413: return .bodyTooLarge(limit: maxBodyBytes)
            case 400..<500:
                return APIError(status: Int(error.status.code), message: error.status.reasonPhrase,
                                type: "invalid_request_error")
            default:
                logger.error("HTTP error on \(request.uri.path): \(error)")
                return .internalError
            }
        case is CancellationError:
            // The client hung up (HangupDetector) and its work was stopped; nobody reads this answer. Counted as
            // nginx's 499 "client closed request" so that the metrics show abandoned requests apart from failures.
            logger.info("the client of \(request.uri.path) hung up; its work was cancelled")
            return APIError(status: 499, message: "client closed the request", type: "client_closed_request")
        default:
            logger.error("unexpected error on \(request.uri.path): \(error)")
            return .internalError
        }
    }

    /// A bounded label set: the routes of both ports (`RouteMethods`) by name, everything else "other".
    static func endpointLabel(_ path: String) -> String {
        if RouteMethods.api[path] != nil || RouteMethods.admin[path] != nil { return path }
        if path.hasPrefix("/v1/models/") { return "/v1/models/{id}" }
        return "other"
    }
}

/// `Authorization: Bearer <key>` when keys are configured. Liveness/readiness probes stay open so that
/// orchestrators can check the process without holding a key.
struct APIKeyMiddleware<Context: RequestContext>: RouterMiddleware {
    let keys: Set<String>
    /// The chat page itself is open: it holds no data, and asks for the key the API calls it makes need.
    static var openPaths: Set<String> { ["/", "/health", "/ready", "/admin/health", "/openapi.json"] }

    func handle(_ request: Request, context: Context, next: (Request, Context) async throws -> Response)
        async throws -> Response
    {
        guard !keys.isEmpty, !Self.openPaths.contains(request.uri.path) else {
            return try await next(request, context)
        }
        // OpenAI clients send `Authorization: Bearer`, Anthropic's `x-api-key`.
        let presented: [UInt8]
        if let header = request.headers[.authorization], header.hasPrefix("Bearer ") {
            presented = Array(header.dropFirst("Bearer ".count).utf8)
        } else if let name = HTTPField.Name("x-api-key"), let key = request.headers[name] {
            presented = Array(key.utf8)
        } else {
            throw APIError.unauthorized
        }
        // Compare against every key without early exit, so timing does not reveal a key's prefix.
        var matched = false
        for key in keys where Self.constantTimeEquals(Array(key.utf8), presented) { matched = true }
        guard matched else { throw APIError.unauthorized }
        return try await next(request, context)
    }

    static func constantTimeEquals(_ a: [UInt8], _ b: [UInt8]) -> Bool {
        var difference = UInt8(truncatingIfNeeded: a.count ^ b.count)
        for index in 0..<max(a.count, b.count) {
            difference |= (index < a.count ? a[index] : 0) ^ (index < b.count ? b[index] : 0)
        }
        return difference == 0
    }
}

extension Request {
    /// The body as JSON, bounded by `limit` (413 beyond it) and OpenAI-shaped 400 when malformed.
    func jsonBody(limit: Int) async throws -> JSONValue {
        try await jsonDocument(limit: limit).value
    }

    /// The body as JSON and as the text it was parsed from (for values that must keep the client's key order).
    func jsonDocument(limit: Int) async throws -> (value: JSONValue, text: [UInt8]) {
        let buffer: ByteBuffer
        do {
            buffer = try await body.collect(upTo: limit)
        } catch let error as any HTTPResponseError where error.status.code == 413 {
            throw APIError.bodyTooLarge(limit: limit)
        } catch {
            // Anything else failing here is the body's framing (a bad chunk size, a truncated chunk): the client's
            // fault, so a 400 that says what the parser saw, not a 500.
            throw APIError.invalid("the request body could not be read: \(error)", param: nil, code: "malformed_body")
        }
        guard buffer.readableBytes > 0 else {
            throw APIError.invalid("the request body is empty; send a JSON object", param: nil, code: "invalid_json")
        }
        let text = Array(buffer.readableBytesView)
        guard let value = JSONValue.parse(text) else { throw APIError.malformedJSON }
        return (value, text)
    }
}
