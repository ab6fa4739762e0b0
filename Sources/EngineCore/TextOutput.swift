import Sampling
import Tokenizer

/// The text a request streams: tokens become text without ever splitting a UTF-8 character, and text that may be
/// the start of a stop string is held back until it is known not to be one. The stop string itself (and anything
/// after it) is never sent. Special tokens add no text.
public struct TextOutput {
    private var detokenizer: StreamingDetokenizer
    private var stops: StopMatcher

    public init(tokenizer: any TextTokenizer, stopStrings: [String]) {
        detokenizer = StreamingDetokenizer(tokenizer: tokenizer, skipSpecial: true)
        stops = StopMatcher(stops: stopStrings)
    }

    /// Whether a stop string has appeared; the request must end.
    public var stopped: Bool { stops.stopped }

    /// The text that is safe to send after `token`.
    public mutating func append(_ token: Int32) -> String {
        guard !stops.stopped else { return "" }
        return stops.append(detokenizer.append(token))
    }

    /// Everything still held back, at the end of the output.
    public mutating func finish() -> String {
        guard !stops.stopped else { return "" }
        let tail = stops.append(detokenizer.finish())
        return stops.stopped ? tail : tail + stops.finish()
    }
}
