/// Why a `response_format` schema cannot be served: one actionable line, which the HTTP layer returns as a 400.
public struct ConstraintError: Error, CustomStringConvertible, Equatable, Sendable {
    public var message: String

    public init(_ message: String) {
        self.message = message
    }

    public var description: String { message }
}
