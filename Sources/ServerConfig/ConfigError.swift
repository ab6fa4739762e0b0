/// A configuration problem found at start-up. The message names the setting (flag or environment variable), the
/// offending value and what is expected, so the operator can fix it without reading code.
public struct ConfigError: Error, Equatable, CustomStringConvertible, Sendable {
    public let message: String

    public init(_ message: String) {
        self.message = message
    }

    public var description: String { message }
}
