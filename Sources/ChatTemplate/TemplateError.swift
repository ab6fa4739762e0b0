/// Why a template could not be parsed or rendered, with the template line it happened on.
public struct TemplateError: Error, CustomStringConvertible, Sendable, Equatable {
    public enum Kind: Sendable, Equatable {
        /// The template text is not valid Jinja.
        case syntax
        /// Valid Jinja that this interpreter does not implement (a tag, filter, test or method).
        case unsupported
        /// An error while rendering: wrong types, undefined values used, bad arguments.
        case runtime
        /// The template called `raise_exception(message)`: the request does not fit the template's rules.
        case raised
        /// Context data given by the caller is malformed (bad JSON).
        case invalidInput
    }

    public let kind: Kind
    public let message: String
    /// 1-based template line, or `nil` when the error is not tied to a line (JSON input).
    public let line: Int?

    public init(_ kind: Kind, _ message: String, line: Int?) {
        self.kind = kind
        self.message = message
        self.line = line
    }

    public var description: String {
        switch kind {
        case .raised: return message
        default:
            if let line { return "template line \(line): \(message)" }
            return message
        }
    }

    static func syntax(_ message: String, line: Int) -> TemplateError { TemplateError(.syntax, message, line: line) }
    static func unsupported(_ message: String, line: Int) -> TemplateError {
        TemplateError(.unsupported, message, line: line)
    }
}
