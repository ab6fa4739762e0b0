import Foundation
import ModelCatalog

/// An error as OpenAI shapes it (`{"error": {"message", "type", "param", "code"}}`), with its HTTP status and an
/// optional `Retry-After`. Messages are for clients: internal details never go in here (they are logged).
public struct APIError: Error, Sendable, Equatable {
    public var status: Int
    public var message: String
    public var type: String
    public var param: String?
    public var code: String?
    /// Seconds, sent as `Retry-After`. Every 503 and 429 has one (1 s unless the error says otherwise), so clients and
    /// balancers always know when to come back.
    public var retryAfter: Int?
    /// For a 405: the methods the path answers, sent as `Allow`.
    public var allow: [String]?

    public init(status: Int, message: String, type: String, param: String? = nil, code: String? = nil,
                retryAfter: Int? = nil) {
        self.status = status
        self.message = message
        self.type = type
        self.param = param
        self.code = code
        self.retryAfter = retryAfter ?? (status == 503 || status == 429 ? Self.defaultRetryAfter : nil)
    }

    /// `Retry-After` of a 503 or 429 that names none.
    public static let defaultRetryAfter = 1

    public var body: JSONValue {
        ["error": ["message": .string(message), "type": .string(type), "param": JSONValue(param),
                   "code": JSONValue(code)]]
    }

    // MARK: - Common errors

    public static func invalid(_ message: String, param: String?, code: String? = nil) -> APIError {
        APIError(status: 400, message: message, type: "invalid_request_error", param: param, code: code)
    }

    public static func unsupported(_ param: String) -> APIError {
        invalid("'\(param)' is not supported by this server", param: param, code: "unsupported_parameter")
    }

    public static func unknownParameter(_ param: String) -> APIError {
        invalid("unrecognized request argument '\(param)'", param: param, code: "unknown_parameter")
    }

    public static func wrongType(_ param: String, expected: String, got: JSONValue) -> APIError {
        invalid("'\(param)' must be \(expected), got \(got.typeName)", param: param, code: "invalid_type")
    }

    public static func outOfRange(_ param: String, _ rule: String) -> APIError {
        invalid("'\(param)' must be \(rule)", param: param, code: "invalid_value")
    }

    public static let unauthorized = APIError(
        status: 401, message: "missing or invalid API key; send 'Authorization: Bearer <key>'",
        type: "authentication_error", code: "invalid_api_key")

    /// `GET`/`DELETE /v1/responses/{id}` of a response that is not kept (never stored, dropped, or deleted).
    static func responseNotFound(_ id: String) -> APIError {
        APIError(status: 404, message: "no stored response '\(id.prefix(80))'", type: "invalid_request_error",
                 param: "response_id", code: "response_not_found")
    }

    public static func notFound(_ message: String, code: String = "not_found") -> APIError {
        APIError(status: 404, message: message, type: "invalid_request_error", code: code)
    }

    public static func bodyTooLarge(limit: Int) -> APIError {
        APIError(status: 413, message: "request body exceeds \(limit) bytes", type: "invalid_request_error",
                 code: "request_too_large")
    }

    public static let malformedJSON = APIError.invalid(
        "the request body is not valid JSON", param: nil, code: "invalid_json")

    /// The server is shutting down: new requests are refused, and requests still running when the grace time ends
    /// are ended with this. Another replica (or this one, restarted) can take the retry.
    public static let shuttingDown = APIError(
        status: 503, message: "the server is shutting down; retry the request", type: "server_error",
        code: "shutting_down", retryAfter: 5)

    public static func methodNotAllowed(_ method: String, path: String, allowed: [String]) -> APIError {
        var error = APIError(status: 405, message: "\(path) does not answer \(method); use \(allowed.joined(separator: " or "))",
                             type: "invalid_request_error", code: "method_not_allowed")
        error.allow = allowed
        return error
    }

    public static let internalError = APIError(
        status: 500, message: "internal server error; the server log has details", type: "server_error",
        code: "internal_error")

    // MARK: - Mapping from lower layers

    public init(_ error: BackendError) {
        switch error {
        case let .modelNotFound(id):
            self = APIError(status: 404, message: "model '\(id)' does not exist; GET /v1/models lists the available ids",
                            type: "invalid_request_error", param: "model", code: "model_not_found")
        case let .badRequest(param, message):
            self = .invalid(message, param: param)
        case let .overloaded(retryAfter):
            self = APIError(status: 503, message: "the model is overloaded; retry after \(retryAfter) s",
                            type: "server_overloaded", code: "overloaded", retryAfter: max(1, retryAfter))
        case .workerDied:
            self = APIError(status: 502, message: "the model worker stopped unexpectedly; retry the request",
                            type: "server_error", code: "worker_died", retryAfter: 1)
        case .timeout:
            self = APIError(status: 504, message: "the request did not finish before its deadline",
                            type: "server_error", code: "timeout")
        case .internal:
            self = .internalError
        case let .unavailable(message):
            self = APIError(status: 503, message: message, type: "server_error", code: "backend_unavailable",
                            retryAfter: 30)
        }
    }

    public init(_ error: CatalogError) {
        switch error {
        case .notFound:
            self = APIError(status: 404, message: error.message, type: "invalid_request_error", param: "model",
                            code: "model_not_found")
        case .invalidID, .outsideRoots:
            self = .invalid(error.message, param: "model", code: "invalid_model")
        case .unreadable:
            self = APIError(status: 500, message: error.message, type: "server_error", param: "model",
                            code: "model_unreadable")
        }
    }
}
