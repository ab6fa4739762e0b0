/// The pre-tokenizers of the byte-level BPE models, as hand-written scanners that reproduce the regexes of
/// llama.cpp and Hugging Face `tokenizers` match for match (no regex engine on the hot path).
///
/// Each scanner returns the end of the piece that starts at a position; alternatives are tried in the regex's
/// order, with the backtracking of `\s+(?!\S)` and `\s*[\r\n]+` worked out by hand.
public enum PreTokenizer: String, Sendable, CaseIterable {
    /// GPT-2: `'s|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+`.
    case gpt2
    /// SmolLM / StarCoder: every `\p{N}` is its own piece, then GPT-2 on the text between them.
    case smollm
    /// Llama 3: `(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,3}| ?[^\s\p{L}\p{N}]+[\r\n]*|`
    /// `\s*[\r\n]+|\s+(?!\S)|\s+`.
    case llama3
    /// Qwen 2: Llama 3's expression with single digits (`\p{N}`).
    case qwen2

    /// The pre-tokenizer llama.cpp uses for a `tokenizer.ggml.pre` value (its `llama_vocab` name groups), or nil
    /// when unsupported. llama.cpp's own "default" expression (files without the key) is deliberately absent.
    public init?(ggmlName: String) {
        switch ggmlName {
        case "gpt-2", "phi-2", "mpt", "olmo", "jais", "trillion", "exaone4", "mellum", "a.x-4.0", "gigachat":
            self = .gpt2
        case "smollm", "starcoder", "refact", "command-r", "codeshell", "exaone", "minerva-7b":
            self = .smollm
        case "llama3", "llama-v3", "llama-bpe", "falcon3", "falcon-h1", "pixtral", "midm-2.0", "lfm2":
            self = .llama3
        case "qwen2", "deepseek-r1-qwen", "kormo", "megrez", "stablelm2":
            self = .qwen2
        default:
            return nil
        }
    }

    /// Calls `emit` with the scalar-index range of each piece of `text[range]`, in order, covering it exactly.
    func split(_ text: ScalarText, range: Range<Int>, emit: (Range<Int>) -> Void) {
        switch self {
        case .gpt2:
            scan(text, range, emit, piece: PreTokenizer.gpt2Piece)
        case .smollm:
            var start = range.lowerBound
            for index in range where text.classes[index] == .number {
                if start < index { scan(text, start..<index, emit, piece: PreTokenizer.gpt2Piece) }
                emit(index..<(index + 1))
                start = index + 1
            }
            if start < range.upperBound { scan(text, start..<range.upperBound, emit, piece: PreTokenizer.gpt2Piece) }
        case .llama3:
            scan(text, range, emit) { PreTokenizer.llama3Piece($0, $1, $2, maxDigits: 3) }
        case .qwen2:
            scan(text, range, emit) { PreTokenizer.llama3Piece($0, $1, $2, maxDigits: 1) }
        }
    }

    private func scan(
        _ text: ScalarText, _ range: Range<Int>, _ emit: (Range<Int>) -> Void,
        piece: (ScalarText, Int, Int) -> Int
    ) {
        var position = range.lowerBound
        while position < range.upperBound {
            let end = piece(text, position, range.upperBound)
            emit(position..<end)
            position = end
        }
    }

    /// `'s|'t|'re|'ve|'m|'ll|'d`, optionally case-insensitive: the end of the contraction at `i`, or nil.
    private static func contraction(_ s: [UInt32], _ i: Int, _ end: Int, ignoreCase: Bool) -> Int? {
        guard s[i] == 0x27, i + 1 < end else { return nil }
        func lower(_ v: UInt32) -> UInt32 { ignoreCase && v >= 0x41 && v <= 0x5A ? v + 0x20 : v }
        let a = lower(s[i + 1])
        if a == 0x73 || a == 0x74 || a == 0x6D || a == 0x64 { return i + 2 }  // s t m d
        guard i + 2 < end else { return nil }
        let b = lower(s[i + 2])
        if (a == 0x72 && b == 0x65) || (a == 0x76 && b == 0x65) || (a == 0x6C && b == 0x6C) { return i + 3 }  // re ve ll
        return nil
    }

    /// End of the whitespace run starting at `i`.
    private static func whitespaceRun(_ c: [CharacterClass], _ i: Int, _ end: Int) -> Int {
        var j = i
        while j < end && c[j].isWhitespace { j += 1 }
        return j
    }

    /// `\s+(?!\S)|\s+` at a whitespace position: the whole run at the end of the text; otherwise all but its last
    /// character (which then prefixes the next word), or the single character when the run has length one.
    private static func trailingWhitespace(runEnd: Int, start: Int, end: Int) -> Int {
        if runEnd == end || runEnd - start == 1 { return runEnd }
        return runEnd - 1
    }

    private static func run(_ c: [CharacterClass], from i: Int, _ end: Int, of cls: CharacterClass) -> Int {
        var j = i
        while j < end && c[j] == cls { j += 1 }
        return j
    }

    static func gpt2Piece(_ text: ScalarText, _ i: Int, _ end: Int) -> Int {
        let s = text.scalars
        let c = text.classes
        if let stop = contraction(s, i, end, ignoreCase: false) { return stop }
        // ` ?\p{L}+`, ` ?\p{N}+`, ` ?[^\s\p{L}\p{N}]+`
        var j = i
        if s[i] == 0x20 && i + 1 < end && !c[i + 1].isWhitespace { j = i + 1 }
        let cls = c[j]
        if !cls.isWhitespace { return run(c, from: j, end, of: cls) }
        return trailingWhitespace(runEnd: whitespaceRun(c, i, end), start: i, end: end)
    }

    static func llama3Piece(_ text: ScalarText, _ i: Int, _ end: Int, maxDigits: Int) -> Int {
        let s = text.scalars
        let c = text.classes
        if let stop = contraction(s, i, end, ignoreCase: true) { return stop }
        let cls = c[i]
        // `[^\r\n\p{L}\p{N}]?\p{L}+`
        if cls == .letter { return run(c, from: i, end, of: .letter) }
        if cls != .newline && cls != .number && i + 1 < end && c[i + 1] == .letter {
            return run(c, from: i + 1, end, of: .letter)
        }
        // `\p{N}{1,n}`
        if cls == .number {
            var j = i
            while j < end && j - i < maxDigits && c[j] == .number { j += 1 }
            return j
        }
        // ` ?[^\s\p{L}\p{N}]+[\r\n]*`
        var j = i
        if s[i] == 0x20 && i + 1 < end && c[i + 1] == .other { j = i + 1 }
        if c[j] == .other {
            return run(c, from: run(c, from: j, end, of: .other), end, of: .newline)
        }
        // `\s*[\r\n]+`: up to and including the run's last newline.
        let runEnd = whitespaceRun(c, i, end)
        var k = runEnd - 1
        while k >= i && c[k] != .newline { k -= 1 }
        if k >= i { return k + 1 }
        return trailingWhitespace(runEnd: runEnd, start: i, end: end)
    }
}

/// Text as Unicode scalars with their character classes and UTF-8 offsets, built once per encode call.
struct ScalarText {
    var scalars: [UInt32] = []
    var classes: [CharacterClass] = []
    /// `utf8Offsets[i]` is the byte offset of scalar `i`; one extra entry holds the total length.
    var utf8Offsets: [Int] = []

    init(utf8 bytes: UnsafeBufferPointer<UInt8>) {
        scalars.reserveCapacity(bytes.count)
        classes.reserveCapacity(bytes.count)
        utf8Offsets.reserveCapacity(bytes.count + 1)
        var i = 0
        let n = bytes.count
        // The input comes from a Swift String, so it is valid UTF-8 and lead bytes give the length.
        while i < n {
            let b0 = UInt32(bytes[i])
            var value: UInt32
            var length: Int
            if b0 < 0x80 {
                value = b0
                length = 1
            } else if b0 < 0xE0 {
                value = (b0 & 0x1F) << 6 | (UInt32(bytes[i + 1]) & 0x3F)
                length = 2
            } else if b0 < 0xF0 {
                value = (b0 & 0x0F) << 12 | (UInt32(bytes[i + 1]) & 0x3F) << 6 | (UInt32(bytes[i + 2]) & 0x3F)
                length = 3
            } else {
                value = (b0 & 0x07) << 18 | (UInt32(bytes[i + 1]) & 0x3F) << 12 | (UInt32(bytes[i + 2]) & 0x3F) << 6
                    | (UInt32(bytes[i + 3]) & 0x3F)
                length = 4
            }
            scalars.append(value)
            classes.append(CharacterClass.of(value))
            utf8Offsets.append(i)
            i += length
        }
        utf8Offsets.append(n)
    }
}
