/// The one error type of ModelFormats: a single actionable line that names the file region at fault.
///
/// Model files come from users and from the network, so every structural problem in them is reported as a thrown
/// value instead of a trap; callers show `message` as-is.
public struct ModelFormatError: Error, CustomStringConvertible, Equatable, Sendable {
    public let message: String

    public init(_ message: String) {
        self.message = message
    }

    public var description: String { message }
}
