import HTTPTypes
import Hummingbird

extension HTTPField.Name {
    static let accessControlRequestHeaders = HTTPField.Name("Access-Control-Request-Headers")!
    static let accessControlRequestMethod = HTTPField.Name("Access-Control-Request-Method")!
}

/// Cross-origin access to the API port for browser pages (a chat UI on another port, a notebook), off unless the
/// operator lists origins (`--cors-origins`). Never installed on the admin port: a web page must not be able to load
/// or unload models.
///
/// Written here rather than using Hummingbird's `CORSMiddleware` for two things it cannot do: allow a configured
/// list of origins (its `oneOf` is variadic, so a list read at start-up cannot be passed), and allow the headers a
/// preflight asks for. Browser SDKs send their own (`x-stainless-*` from OpenAI's), and `Authorization` is not covered
/// by a `*` wildcard, so a fixed header list breaks real clients; echoing the request's list is what llama-server and
/// vLLM's defaults amount to.
///
/// - A request without `Origin` is not cross-origin and passes untouched.
/// - An origin that is not allowed gets no CORS headers (the browser then blocks the page); its preflight is answered
///   like any unknown route, and the request itself still runs, since CORS protects the page, not the server.
/// - A preflight (`OPTIONS` with `Access-Control-Request-Method`) from an allowed origin is answered here, 204, before
///   authentication: browsers never send credentials on a preflight.
struct CORSPolicyMiddleware<Context: RequestContext>: RouterMiddleware {
    /// Allowed origins, exactly as browsers send them (`http://localhost:3000`); `*` allows any.
    let origins: Set<String>
    /// How long a browser may cache a preflight answer.
    static var maxAgeSeconds: Int { 600 }
    static var allowedMethods: String { "GET, POST" }
    /// The headers a preflight is granted when it names none.
    static var defaultHeaders: String { "Authorization, Content-Type, X-Priority" }
    /// Response headers a page's script may read beyond the CORS-safelisted ones.
    static var exposedHeaders: String {
        "Retry-After, \(ToolFields.ignoredHeader), \(OllamaAPI.ignoredHeader)"
    }

    init(origins: [String]) {
        self.origins = Set(origins)
    }

    func allowedOrigin(_ origin: String) -> String? {
        if origins.contains("*") { return "*" }
        return origins.contains(origin) ? origin : nil
    }

    func handle(_ request: Request, context: Context, next: (Request, Context) async throws -> Response)
        async throws -> Response
    {
        guard let origin = request.headers[.origin], let allowed = allowedOrigin(origin) else {
            return try await next(request, context)
        }
        var headers = HTTPFields()
        headers[.accessControlAllowOrigin] = allowed
        if allowed != "*" { headers[.vary] = "Origin" }
        if request.method == .options, request.headers[.accessControlRequestMethod] != nil {
            headers[.accessControlAllowMethods] = Self.allowedMethods
            headers[.accessControlAllowHeaders] = request.headers[.accessControlRequestHeaders] ?? Self.defaultHeaders
            headers[.accessControlMaxAge] = String(Self.maxAgeSeconds)
            return Response(status: .noContent, headers: headers)
        }
        headers[.accessControlExposeHeaders] = Self.exposedHeaders
        var response = try await next(request, context)
        for field in headers { response.headers.append(field) }
        return response
    }
}
