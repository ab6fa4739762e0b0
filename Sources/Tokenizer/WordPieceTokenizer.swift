/// Everything a loader (tokenizer.json or GGUF) extracts for a WordPiece (BERT-family) tokenizer.
struct WordPieceDefinition {
    /// Token strings by id (vocabulary and added tokens); ids no entry names are empty strings.
    var tokens: [String]
    /// The model's vocabulary (added tokens that are not in it are not pieces WordPiece can produce).
    var vocabulary: [(String, Int32)]
    /// Added tokens, split out of the text before the model sees it.
    var addedTokens: [AddedToken]
    var unknown: Int32
    var continuingSubwordPrefix: String
    /// Words longer than this, in characters, become the unknown token whole.
    var maxInputCharsPerWord: Int
    /// nil: the text goes to the pre-tokenizer as it is.
    var normalizer: BertNormalizer?
    /// What `addSpecial` puts before and after the text (the post-processor's single-sequence template).
    var prefixIDs: [Int32]
    var suffixIDs: [Int32]
    var decoder: WordPieceDecoder
    var cls: Int32?
    var sep: Int32?

    struct AddedToken {
        var text: String
        var entry: SpecialTokenMatcher.Entry
        var special: Bool
        /// Matched in the normalized text (with the normalized spelling) rather than in the raw input.
        var normalized: Bool
    }
}

/// Hugging Face's WordPiece decoder: tokens joined with spaces, except that a continuation piece ("##ing") glues
/// onto the one before with its prefix removed; the first token is left as it is. `cleanup` then applies BERT's
/// detokenization rules (" ." → ".", " n't" → "n't", ...) to each token's text on its own, as `tokenizers` does, so
/// in practice it removes the space before `.`, `?`, `!` and `,`. A null decoder is the same without prefix
/// handling or cleanup: tokens joined with spaces.
struct WordPieceDecoder: Sendable {
    var prefix: String?
    var cleanup: Bool

    /// The bytes `token` contributes: as the first token of the output, or after others.
    func bytes(of token: String, isFirst: Bool) -> [UInt8] {
        var bytes = Array(token.utf8)
        if !isFirst {
            if let prefix, !prefix.isEmpty, token.utf8.starts(with: prefix.utf8) {
                bytes.removeFirst(prefix.utf8.count)
            } else {
                bytes.insert(0x20, at: 0)
            }
        }
        return cleanup ? WordPieceDecoder.cleanup(bytes) : bytes
    }

    private static let cleanupRules: [([UInt8], [UInt8])] = [
        (" .", "."), (" ?", "?"), (" !", "!"), (" ,", ","), (" ' ", "'"), (" n't", "n't"), (" 'm", "'m"),
        (" do not", " don't"), (" 's", "'s"), (" 've", "'ve"), (" 're", "'re"),
    ].map { (Array($0.0.utf8), Array($0.1.utf8)) }

    /// The rules in order, each replacing every non-overlapping occurrence left to right (Rust's `str::replace`).
    static func cleanup(_ input: [UInt8]) -> [UInt8] {
        var text = input
        for (pattern, replacement) in cleanupRules where contains(text, pattern) {
            var out: [UInt8] = []
            out.reserveCapacity(text.count)
            var i = 0
            while i < text.count {
                if text[i] == pattern[0], i + pattern.count <= text.count,
                    text[i..<i + pattern.count].elementsEqual(pattern)
                {
                    out.append(contentsOf: replacement)
                    i += pattern.count
                } else {
                    out.append(text[i])
                    i += 1
                }
            }
            text = out
        }
        return text
    }

    private static func contains(_ text: [UInt8], _ pattern: [UInt8]) -> Bool {
        guard text.count >= pattern.count else { return false }
        for start in 0...(text.count - pattern.count) where text[start] == pattern[0] {
            if text[start..<start + pattern.count].elementsEqual(pattern) { return true }
        }
        return false
    }
}

/// BERT's tokenizer as Hugging Face `tokenizers` runs it from a tokenizer.json: added tokens split out of the raw
/// text, `BertNormalizer`, `BertPreTokenizer` (split on whitespace, every punctuation character a word of its own),
/// the WordPiece model (greedy longest match first, continuation pieces prefixed "##"; a word with any part the
/// vocabulary cannot cover becomes one unknown token), then the post-processor's [CLS] … [SEP].
///
/// Immutable after loading, so one instance serves every request of a worker.
final class WordPieceTokenizer: TextTokenizer {
    private let tokens: [String]
    /// Pieces that may start a word: the whole vocabulary.
    private let wordStarts: PieceTable
    /// Pieces that continue a word, keyed without their prefix, so that a probe needs no concatenation.
    private let continuations: PieceTable
    private let unknown: Int32
    private let maxInputCharsPerWord: Int
    private let normalizer: BertNormalizer?
    /// Added tokens matched in the raw text: all of them, and the user-defined (not special) ones alone, which
    /// are split out even when special-token strings are to be read as text (as Hugging Face does).
    private let rawTokens: SpecialTokenMatcher
    private let rawUserDefined: SpecialTokenMatcher
    /// Added tokens with `normalized: true`, matched in the normalized text by their normalized spelling.
    private let normalizedTokens: SpecialTokenMatcher
    private let normalizedUserDefined: SpecialTokenMatcher
    private let special: Set<Int32>
    private let idForText: [ExactString: Int32]
    private let prefixIDs: [Int32]
    private let suffixIDs: [Int32]
    /// Decoded bytes of each token as the first of the output, and after another token.
    private let firstBytes: [[UInt8]]
    private let followingBytes: [[UInt8]]
    let bosToken: Int32?
    let eosToken: Int32?
    let endOfTurnTokens: Set<Int32>

    init(_ definition: WordPieceDefinition) {
        unknown = definition.unknown
        maxInputCharsPerWord = definition.maxInputCharsPerWord
        normalizer = definition.normalizer
        prefixIDs = definition.prefixIDs
        suffixIDs = definition.suffixIDs
        bosToken = definition.cls
        eosToken = definition.sep
        endOfTurnTokens = definition.sep.map { [$0] } ?? []

        var starts = PieceTable()
        var continuing = PieceTable()
        let prefix = Array(definition.continuingSubwordPrefix.utf8)
        for (piece, id) in definition.vocabulary {
            let bytes = Array(piece.utf8)
            starts.add(bytes, value: id)
            if bytes.starts(with: prefix) && bytes.count > prefix.count { continuing.add(bytes[prefix.count...], value: id) }
        }
        wordStarts = starts
        continuations = continuing

        var raw = SpecialTokenMatcher()
        var rawUser = SpecialTokenMatcher()
        var normalized = SpecialTokenMatcher()
        var normalizedUser = SpecialTokenMatcher()
        var special = Set<Int32>()
        var tokens = definition.tokens
        for added in definition.addedTokens {
            if added.special { special.insert(added.entry.id) }
            if added.normalized {
                var spelling = added.text
                if let normalizer = definition.normalizer {
                    var bytes: [UInt8] = []
                    spelling.withUTF8 { normalizer.normalize($0, into: &bytes) }
                    spelling = String(decoding: bytes, as: UTF8.self)
                }
                // Hugging Face stores (and decodes) a normalized added token by its normalized spelling.
                if tokens.indices.contains(Int(added.entry.id)) { tokens[Int(added.entry.id)] = spelling }
                normalized.add(spelling, entry: added.entry)
                if !added.special { normalizedUser.add(spelling, entry: added.entry) }
            } else {
                raw.add(added.text, entry: added.entry)
                if !added.special { rawUser.add(added.text, entry: added.entry) }
            }
        }
        rawTokens = raw
        rawUserDefined = rawUser
        normalizedTokens = normalized
        normalizedUserDefined = normalizedUser
        self.special = special

        self.tokens = tokens
        // Added tokens by their spelling in tokenizer.json first, as Hugging Face's token_to_id looks them up.
        var ids: [ExactString: Int32] = [:]
        ids.reserveCapacity(tokens.count)
        for added in definition.addedTokens where ids[ExactString(added.text)] == nil {
            ids[ExactString(added.text)] = added.entry.id
        }
        for (index, token) in tokens.enumerated() where !token.isEmpty && ids[ExactString(token)] == nil {
            ids[ExactString(token)] = Int32(index)
        }
        idForText = ids
        // Ids no entry names (empty strings) decode to nothing.
        firstBytes = tokens.map { $0.isEmpty ? [] : definition.decoder.bytes(of: $0, isFirst: true) }
        followingBytes = tokens.map { $0.isEmpty ? [] : definition.decoder.bytes(of: $0, isFirst: false) }
    }

    var vocabularySize: Int { tokens.count }

    func tokenText(_ id: Int32) -> String? {
        tokens.indices.contains(Int(id)) ? tokens[Int(id)] : nil
    }

    func tokenID(_ text: String) -> Int32? {
        idForText[ExactString(text)]
    }

    /// Added tokens marked special ([CLS], [SEP], [PAD], [MASK], [UNK]): the ones `skipSpecial` drops.
    func isSpecial(_ id: Int32) -> Bool {
        special.contains(id)
    }

    // MARK: Encoding

    func encode(_ text: String, addSpecial: Bool, parseSpecial: Bool) -> [Int32] {
        var output: [Int32] = []
        output.reserveCapacity(text.utf8.count / 4 + 4)
        if addSpecial { output.append(contentsOf: prefixIDs) }
        var utf8 = text
        utf8.withUTF8 { bytes in
            let matcher = parseSpecial ? rawTokens : rawUserDefined
            var normalized: [UInt8] = []
            for fragment in WordPieceTokenizer.split(bytes, with: matcher) {
                switch fragment {
                case .token(let id):
                    output.append(id)
                case .text(let range):
                    let segment = UnsafeBufferPointer(rebasing: bytes[range])
                    guard let normalizer else {
                        encodeNormalized(segment, parseSpecial: parseSpecial, into: &output)
                        continue
                    }
                    normalized.removeAll(keepingCapacity: true)
                    normalized.reserveCapacity(segment.count + 16)
                    normalizer.normalize(segment, into: &normalized)
                    normalized.withUnsafeBufferPointer { encodeNormalized($0, parseSpecial: parseSpecial, into: &output) }
                }
            }
        }
        if addSpecial { output.append(contentsOf: suffixIDs) }
        return output
    }

    private static func split(_ bytes: UnsafeBufferPointer<UInt8>, with matcher: SpecialTokenMatcher)
        -> [SpecialTokenMatcher.Fragment]
    {
        if matcher.isEmpty { return bytes.isEmpty ? [] : [.text(0..<bytes.count)] }
        return matcher.split(bytes)
    }

    /// Normalized text: added tokens with a normalized spelling, then pre-tokenizer and model on what is left.
    private func encodeNormalized(_ text: UnsafeBufferPointer<UInt8>, parseSpecial: Bool, into output: inout [Int32]) {
        let matcher = parseSpecial ? normalizedTokens : normalizedUserDefined
        guard !matcher.isEmpty else {
            BertPreTokenizer.split(text) { encodeWord(UnsafeBufferPointer(rebasing: text[$0]), into: &output) }
            return
        }
        for fragment in matcher.split(text) {
            switch fragment {
            case .token(let id):
                output.append(id)
            case .text(let range):
                let part = UnsafeBufferPointer(rebasing: text[range])
                BertPreTokenizer.split(part) { encodeWord(UnsafeBufferPointer(rebasing: part[$0]), into: &output) }
            }
        }
    }

    /// The WordPiece model on one word: at each position the longest vocabulary piece (a continuation piece after
    /// the first), shrinking a character at a time; if some position has none, the whole word is unknown.
    private func encodeWord(_ word: UnsafeBufferPointer<UInt8>, into output: inout [Int32]) {
        // Characters ≤ bytes: only a word of more bytes than the limit can have too many characters.
        if word.count > maxInputCharsPerWord {
            var characters = 0
            for byte in word where UTF8Scalar.isLead(byte) { characters += 1 }
            if characters > maxInputCharsPerWord {
                output.append(unknown)
                return
            }
        }
        let mark = output.count
        var start = 0
        while start < word.count {
            guard let (id, end) = longestPiece(in: start == 0 ? wordStarts : continuations, word, from: start) else {
                output.removeSubrange(mark...)
                output.append(unknown)
                return
            }
            output.append(id)
            start = end
        }
    }

    /// The longest key of `table` that `word[start...]` starts with, and where it ends.
    @inline(__always)
    private func longestPiece(in table: PieceTable, _ word: UnsafeBufferPointer<UInt8>, from start: Int) -> (Int32, Int)? {
        // No piece is longer than the table's longest key; start there, on a character boundary.
        var end = min(word.count, start + table.maxKeyLength)
        while end < word.count && end > start && !UTF8Scalar.isLead(word[end]) { end -= 1 }
        while end > start {
            if let id = table.value(for: UnsafeBufferPointer(rebasing: word[start..<end])) { return (id, end) }
            end -= 1
            while end > start && !UTF8Scalar.isLead(word[end]) { end -= 1 }
        }
        return nil
    }

    // MARK: Decoding

    func decodedBytes(of id: Int32, isFirst: Bool, skipSpecial: Bool) -> [UInt8] {
        guard tokens.indices.contains(Int(id)), !(skipSpecial && isSpecial(id)) else { return [] }
        return isFirst ? firstBytes[Int(id)] : followingBytes[Int(id)]
    }

    func decode(_ ids: [Int32], skipSpecial: Bool) -> String {
        var bytes: [UInt8] = []
        var isFirst = true
        for id in ids {
            guard tokens.indices.contains(Int(id)), !tokens[Int(id)].isEmpty, !(skipSpecial && isSpecial(id)) else {
                continue
            }
            bytes.append(contentsOf: isFirst ? firstBytes[Int(id)] : followingBytes[Int(id)])
            isFirst = false
        }
        return String(decoding: bytes, as: UTF8.self)
    }
}

/// Hugging Face's `BertPreTokenizer`: words are split at whitespace (removed) and at every punctuation character
/// (kept as a word of its own). Punctuation is Unicode's P* categories plus all ASCII symbols
/// (`char::is_ascii_punctuation`: `$`, `+`, `<`, `=`, `>`, `^`, `` ` ``, `|` and `~` are not P* but count).
enum BertPreTokenizer {
    private enum Kind: UInt8 { case word, whitespace, punctuation }

    private static let ascii: [Kind] = (0..<128).map { value -> Kind in
        switch value {
        case 0x09...0x0D, 0x20: return .whitespace
        case 33...47, 58...64, 91...96, 123...126: return .punctuation
        default: return .word
        }
    }

    @inline(__always)
    private static func kind(_ value: UInt32) -> Kind {
        if value < 0x80 { return ascii[Int(value)] }
        let flags = ScalarFlags.of(Unicode.Scalar(value) ?? "\u{FFFD}")
        if flags & ScalarFlags.whitespace != 0 { return .whitespace }
        return flags & ScalarFlags.punctuation != 0 ? .punctuation : .word
    }

    /// Calls `emit` with the byte range of each word of the UTF-8 `text`, in order.
    static func split(_ text: UnsafeBufferPointer<UInt8>, emit: (Range<Int>) -> Void) {
        var wordStart = -1
        var i = 0
        while i < text.count {
            let (value, length) = UTF8Scalar.decode(text, at: i)
            switch kind(value) {
            case .word:
                if wordStart < 0 { wordStart = i }
            case .whitespace:
                if wordStart >= 0 { emit(wordStart..<i) }
                wordStart = -1
            case .punctuation:
                if wordStart >= 0 { emit(wordStart..<i) }
                wordStart = -1
                emit(i..<i + length)
            }
            i += length
        }
        if wordStart >= 0 { emit(wordStart..<text.count) }
    }
}
