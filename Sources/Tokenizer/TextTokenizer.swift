/// A tokenizer: text to token ids and back, plus the special tokens the engine needs to frame and stop generation.
///
/// Implementations are immutable after loading apart from an internal, lock-protected cache, so one instance can be
/// shared by every request of a worker.
public protocol TextTokenizer: AnyObject, Sendable {
    /// Token ids for `text`. `addSpecial` adds the model's BOS/EOS as its metadata asks; `parseSpecial` lets
    /// special-token strings in `text` (such as `<|im_end|>`) become their tokens; when false they are tokenized as
    /// plain text, which is what untrusted user content needs. User-defined added tokens (not special) are matched
    /// either way, as llama.cpp and Hugging Face do.
    func encode(_ text: String, addSpecial: Bool, parseSpecial: Bool) -> [Int32]
    /// Text for `ids`; invalid UTF-8 (a sequence cut mid-character) becomes U+FFFD. Unknown ids are skipped.
    func decode(_ ids: [Int32], skipSpecial: Bool) -> String
    /// The bytes one token contributes to decoded output. `isFirst` matters for tokenizers that drop the leading
    /// space of the whole output (SentencePiece); `StreamingDetokenizer` builds on this.
    func decodedBytes(of id: Int32, isFirst: Bool, skipSpecial: Bool) -> [UInt8]
    var bosToken: Int32? { get }
    var eosToken: Int32? { get }
    /// Tokens that end a turn or the text (EOS, EOT, EOM and the model's known end markers): generation stops there.
    var endOfTurnTokens: Set<Int32> { get }
    var vocabularySize: Int { get }
    /// The token's vocabulary string, as stored in the model (byte-level or `▁` form); nil for an unknown id.
    func tokenText(_ id: Int32) -> String?
    /// The id whose vocabulary string is exactly `text`.
    func tokenID(_ text: String) -> Int32?
    /// Whether `id` is a control/special token (never part of plain text).
    func isSpecial(_ id: Int32) -> Bool
}

extension TextTokenizer {
    /// Encodes with special-token strings recognised.
    public func encode(_ text: String, addSpecial: Bool = true) -> [Int32] {
        encode(text, addSpecial: addSpecial, parseSpecial: true)
    }

    public func decode(_ ids: [Int32]) -> String {
        decode(ids, skipSpecial: false)
    }
}

/// Why a tokenizer could not be loaded: one actionable line.
public struct TokenizerError: Error, CustomStringConvertible, Equatable, Sendable {
    public let message: String

    public init(_ message: String) {
        self.message = message
    }

    public var description: String { message }
}

/// llama.cpp's token types (`tokenizer.ggml.token_type`), also derived for tokenizer.json vocabularies.
public enum TokenType: Int32, Sendable {
    case undefined = 0, normal = 1, unknown = 2, control = 3, userDefined = 4, unused = 5, byte = 6
}
