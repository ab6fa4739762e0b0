/// The markers a reasoning model writes its thoughts between (`<think>` ... `</think>`), read from its chat template:
/// a template that strips or re-inserts `<think>` blocks belongs to a model that writes them.
public struct ReasoningMarkers: Sendable, Equatable {
    public var open: String
    public var close: String

    public init(open: String, close: String) {
        self.open = open
        self.close = close
    }

    public init?(templateSource: String?) {
        guard let source = templateSource, source.contains("<think>"), source.contains("</think>") else { return nil }
        self.init(open: "<think>", close: "</think>")
    }

    /// Whether a rendered prompt leaves the model inside a thought (templates that end the generation prompt with
    /// `<think>\n`, so the output begins with thinking and only the closing marker appears).
    public func opens(_ prompt: String) -> Bool {
        var end = prompt.endIndex
        while end > prompt.startIndex, prompt[prompt.index(before: end)].isWhitespace { end = prompt.index(before: end) }
        return prompt[..<end].hasSuffix(open)
    }
}

/// Splits streamed output into reasoning (between the markers) and the answer, so thoughts never reach `content`
/// or a tool call. Text that may be the start of a marker is held back until the next piece decides.
public struct ReasoningSplitter: Sendable {
    public enum Piece: Equatable, Sendable {
        case reasoning(String)
        case content(String)
    }

    private let markers: ReasoningMarkers
    private var inside: Bool
    /// Whether a thought may still begin: only before any answer text (a `<think>` later in the answer is text).
    private var mayOpen: Bool
    private var held = ""

    public init(markers: ReasoningMarkers, startsInside: Bool) {
        self.markers = markers
        inside = startsInside
        mayOpen = !startsInside
    }

    public mutating func feed(_ text: String) -> [Piece] {
        held += text
        var out: [Piece] = []
        while !held.isEmpty {
            if inside {
                if let range = held.range(of: markers.close) {
                    append(.reasoning(String(held[..<range.lowerBound])), to: &out)
                    held = String(held[range.upperBound...])
                    inside = false
                    // The answer usually follows after blank lines; they belong to neither part.
                    held = String(held.drop { $0 == "\n" })
                    if held.isEmpty { skipNewlines = true }
                    continue
                }
                let keep = Self.partialSuffix(held, of: markers.close)
                append(.reasoning(String(held.dropLast(keep))), to: &out)
                held = String(held.suffix(keep))
                return out
            }
            if skipNewlines {
                held = String(held.drop { $0 == "\n" })
                if held.isEmpty { return out }
                skipNewlines = false
            }
            if mayOpen {
                let trimmed = held.drop { $0.isWhitespace }
                if trimmed.hasPrefix(markers.open) {
                    held = String(trimmed.dropFirst(markers.open.count))
                    inside = true
                    mayOpen = false
                    continue
                }
                if markers.open.hasPrefix(trimmed) { return out }  // undecided: a marker may be starting
                mayOpen = false
            }
            append(.content(held), to: &out)
            held = ""
        }
        return out
    }

    /// The end of the output: anything held back is what it seemed to be.
    public mutating func finish() -> [Piece] {
        defer { held = "" }
        guard !held.isEmpty else { return [] }
        if inside { return [.reasoning(held)] }
        return mayOpen && held.allSatisfy(\.isWhitespace) ? [] : [.content(held)]
    }

    private var skipNewlines = false

    private func append(_ piece: Piece, to out: inout [Piece]) {
        switch piece {
        case .reasoning(let s) where s.isEmpty, .content(let s) where s.isEmpty: return
        default: out.append(piece)
        }
    }

    /// Characters at the end of `text` that begin `marker` (a marker cut between two pieces).
    private static func partialSuffix(_ text: String, of marker: String) -> Int {
        let m = Array(marker)
        let t = Array(text.suffix(m.count - 1))
        var k = min(t.count, m.count - 1)
        while k > 0 {
            if Array(t.suffix(k)) == Array(m.prefix(k)) { return k }
            k -= 1
        }
        return 0
    }
}
