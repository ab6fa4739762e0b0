/// Why a model id could not be served. Each case carries a message fit for an API client: it names the id and
/// says what to change, and never reveals filesystem paths.
public enum CatalogError: Error, Equatable, Sendable {
    /// The id breaks the naming rules (characters, length, `..`, absolute paths).
    case invalidID(id: String, reason: String)
    /// No model with this id exists in any configured root.
    case notFound(id: String)
    /// The id names something whose real path lies outside the configured roots (a symlink escape).
    case outsideRoots(id: String)
    /// The model's files exist but their metadata could not be read.
    case unreadable(id: String, reason: String)

    public var message: String {
        switch self {
        case let .invalidID(id, reason):
            "invalid model id '\(id.prefix(80))': \(reason)"
        case let .notFound(id):
            "model '\(id)' does not exist; GET /v1/models lists the available ids"
        case let .outsideRoots(id):
            "model '\(id)' resolves outside the configured model directories and is refused"
        case let .unreadable(id, reason):
            "model '\(id)' cannot be read: \(reason)"
        }
    }
}
