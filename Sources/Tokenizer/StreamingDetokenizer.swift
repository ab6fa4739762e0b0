/// Turns tokens into text one at a time for streaming, never emitting a broken UTF-8 sequence: bytes of a
/// character split across tokens are held back until the character is complete.
///
/// The concatenation of everything `append` returned plus `finish()` equals `decode` of the same ids: invalid
/// bytes become U+FFFD exactly as a full decode would render them.
public struct StreamingDetokenizer {
    private let tokenizer: any TextTokenizer
    private let skipSpecial: Bool
    private var pending: [UInt8] = []
    private var emittedAnyToken = false

    public init(tokenizer: any TextTokenizer, skipSpecial: Bool = false) {
        self.tokenizer = tokenizer
        self.skipSpecial = skipSpecial
    }

    /// The text that `id` completes (possibly empty, when it ends mid-character).
    public mutating func append(_ id: Int32) -> String {
        let skipped = tokenizer.vocabularySize <= Int(id) || id < 0 || (skipSpecial && tokenizer.isSpecial(id))
        guard !skipped else { return "" }
        pending.append(contentsOf: tokenizer.decodedBytes(of: id, isFirst: !emittedAnyToken, skipSpecial: skipSpecial))
        emittedAnyToken = true
        let cut = UTF8Boundary.completePrefixLength(pending)
        guard cut > 0 else { return "" }
        let text = String(decoding: pending[..<cut], as: UTF8.self)
        pending.removeFirst(cut)
        return text
    }

    /// Whatever is still held back (an incomplete character, rendered as U+FFFD). Call at the end of the stream.
    public mutating func finish() -> String {
        defer { pending.removeAll() }
        return pending.isEmpty ? "" : String(decoding: pending, as: UTF8.self)
    }

    /// Bytes held back waiting for the rest of a character.
    public var pendingByteCount: Int { pending.count }
}

/// Where a UTF-8 byte stream can safely be cut.
enum UTF8Boundary {
    /// The length of the prefix of `bytes` that can be decoded now: everything except a trailing sequence that is
    /// valid so far but incomplete (a lead byte plus fewer continuation bytes than it announces, each in the range
    /// Unicode's table 3-7 allows). Invalid bytes are not held: decoding renders them as U+FFFD either way.
    static func completePrefixLength(_ bytes: [UInt8]) -> Int {
        let n = bytes.count
        // An incomplete sequence has at most 3 bytes; look for its lead byte among the last three.
        var start = n - 1
        while start >= 0 && start >= n - 3 {
            let byte = bytes[start]
            if byte & 0xC0 != 0x80 { break }  // not a continuation byte
            start -= 1
        }
        guard start >= 0 && start >= n - 3 else { return n }
        let lead = bytes[start]
        let length: Int
        switch lead {
        case 0xC2...0xDF: length = 2
        case 0xE0...0xEF: length = 3
        case 0xF0...0xF4: length = 4
        default: return n  // ASCII or an invalid lead byte: nothing to wait for
        }
        let available = n - start
        guard available < length else { return n }
        // The bytes after the lead must be valid so far, or the sequence can never complete.
        if available >= 2 {
            let second = bytes[start + 1]
            let range: ClosedRange<UInt8>
            switch lead {
            case 0xE0: range = 0xA0...0xBF
            case 0xED: range = 0x80...0x9F
            case 0xF0: range = 0x90...0xBF
            case 0xF4: range = 0x80...0x8F
            default: range = 0x80...0xBF
            }
            guard range.contains(second) else { return n }
        }
        return start
    }
}
