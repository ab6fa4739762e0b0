/// Stop strings that may span tokens: feed detokenized text pieces; get back what is safe to emit now. Text that
/// could still be the start of a stop string is held back; when a stop string completes, `stopped` becomes true and
/// the emitted text ends right before it (the stop string itself is never emitted). `finish()` returns what is held.
///
/// Matching is on UTF-8 bytes, i.e. on exact Unicode scalars: no normalisation, as OpenAI and llama.cpp do, and
/// because UTF-8 is self-synchronising a match always starts and ends on scalar boundaries, so every emitted piece is
/// valid text. When several stops could apply, the one that completes first in the text wins (at the same end, the
/// longer one, which starts earlier): this is the only rule that gives the same output however the text is split
/// into pieces, since a streaming caller cannot look past the current piece.
public struct StopMatcher: Sendable {
    private let stops: [[UInt8]]
    /// The held tail: the longest suffix of the text so far that is a proper prefix of some stop.
    private var held: [UInt8] = []
    public private(set) var stopped: Bool = false
    /// The stop string that ended the text, once `stopped` (e.g. for vLLM's `stop_reason`).
    public private(set) var matchedStop: String?

    /// Empty stop strings are ignored (they would match before any text).
    public init(stops: [String]) {
        self.stops = stops.map { Array($0.utf8) }.filter { !$0.isEmpty }
    }

    /// Adds a piece of text; returns what can be emitted now. After a stop completed, returns "" and ignores input.
    public mutating func append(_ text: String) -> String {
        guard !stopped else { return "" }
        if stops.isEmpty { return text }
        let newBytes = Array(text.utf8)
        if newBytes.isEmpty { return "" }
        let searchFrom = held.count
        var buffer = held
        buffer.append(contentsOf: newBytes)

        if let (start, stopIndex) = earliestCompletedStop(in: buffer, endingAfter: searchFrom) {
            stopped = true
            matchedStop = String(decoding: stops[stopIndex], as: UTF8.self)
            held = []
            return String(decoding: buffer[..<start], as: UTF8.self)
        }
        let keep = longestSuffixThatStartsAStop(buffer)
        held = Array(buffer[(buffer.count - keep)...])
        return String(decoding: buffer[..<(buffer.count - keep)], as: UTF8.self)
    }

    /// Returns the held text (it turned out not to start a stop: the generation ended) and clears it.
    public mutating func finish() -> String {
        defer { held = [] }
        return stopped ? "" : String(decoding: held, as: UTF8.self)
    }

    /// The match with the smallest end (then the earliest start) among matches ending past `endingAfter`: matches
    /// ending earlier would have been found by a previous `append`, and the held prefix contains none.
    private func earliestCompletedStop(in buffer: [UInt8], endingAfter boundary: Int) -> (start: Int, stop: Int)? {
        var best: (start: Int, end: Int, stop: Int)?
        for (index, stop) in stops.enumerated() {
            var start = Swift.max(0, boundary + 1 - stop.count)
            while start + stop.count <= buffer.count {
                if buffer[start] == stop[0] && buffer[start..<(start + stop.count)].elementsEqual(stop) {
                    let end = start + stop.count
                    if best == nil || end < best!.end || (end == best!.end && start < best!.start) {
                        best = (start, end, index)
                    }
                    break
                }
                start += 1
            }
        }
        return best.map { ($0.start, $0.stop) }
    }

    /// How many trailing bytes of `buffer` equal the first bytes of some stop (shorter than that stop).
    private func longestSuffixThatStartsAStop(_ buffer: [UInt8]) -> Int {
        var longest = 0
        for stop in stops {
            var length = Swift.min(stop.count - 1, buffer.count)
            while length > longest {
                if buffer[(buffer.count - length)...].elementsEqual(stop[..<length]) {
                    longest = length
                    break
                }
                length -= 1
            }
        }
        return longest
    }
}
