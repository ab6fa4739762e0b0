import Foundation

/// Hugging Face's `BertNormalizer`, step for step and in its order: clean the text (drop control characters, U+0000
/// and U+FFFD; every whitespace character becomes a space), put spaces around CJK ideographs, strip accents (NFD,
/// then drop nonspacing marks), lowercase (per character, as Rust's `char::to_lowercase`: no final-sigma rule).
///
/// Works on UTF-8 and writes UTF-8. ASCII, the bulk of real input, takes a table lookup per byte; runs of other
/// characters go through the full per-scalar path. Splitting the work at ASCII bytes is exact: an ASCII character is
/// a starter that nothing decomposes into or reorders across, so NFD of the whole equals NFD of the pieces.
struct BertNormalizer: Sendable {
    let cleanText: Bool
    let handleChineseChars: Bool
    let stripAccents: Bool
    let lowercase: Bool
    /// What each ASCII byte becomes: the byte to write, or `dropped`.
    private let asciiOutput: [UInt8]
    private static let dropped: UInt8 = 0xFF

    init(cleanText: Bool, handleChineseChars: Bool, stripAccents: Bool, lowercase: Bool) {
        self.cleanText = cleanText
        self.handleChineseChars = handleChineseChars
        self.stripAccents = stripAccents
        self.lowercase = lowercase
        asciiOutput = (0..<128).map { (byte: Int) -> UInt8 in
            var value = UInt8(byte)
            if cleanText {
                // \t \n \r are whitespace, not control; 0x0B, 0x0C and 0x1C-0x1F are control (Cc) and go first.
                if value == 0x09 || value == 0x0A || value == 0x0D { return 0x20 }
                if value < 0x20 || value == 0x7F { return BertNormalizer.dropped }
            }
            if lowercase, (0x41...0x5A).contains(value) { value += 0x20 }
            return value
        }
    }

    /// Appends the normalized form of the UTF-8 text `input` to `output`.
    func normalize(_ input: UnsafeBufferPointer<UInt8>, into output: inout [UInt8]) {
        var run: [Unicode.Scalar] = []
        var i = 0
        let n = input.count
        while i < n {
            let byte = input[i]
            if byte < 0x80 {
                let out = asciiOutput[Int(byte)]
                if out != BertNormalizer.dropped { output.append(out) }
                i += 1
                continue
            }
            var end = i + 1
            while end < n && input[end] >= 0x80 { end += 1 }
            normalizeRun(UnsafeBufferPointer(rebasing: input[i..<end]), scratch: &run, into: &output)
            i = end
        }
    }

    /// A run of non-ASCII characters: clean and space CJK into `scratch` (decomposed and canonically ordered when
    /// accents are stripped), then drop marks and lowercase into `output`.
    private func normalizeRun(
        _ input: UnsafeBufferPointer<UInt8>, scratch: inout [Unicode.Scalar], into output: inout [UInt8]
    ) {
        scratch.removeAll(keepingCapacity: true)
        var i = 0
        while i < input.count {
            let (value, length) = UTF8Scalar.decode(input, at: i)
            i += length
            var scalar = Unicode.Scalar(value) ?? "\u{FFFD}"
            if cleanText {
                let flags = ScalarFlags.of(scalar)
                if value == 0xFFFD || flags & ScalarFlags.control != 0 { continue }
                if flags & ScalarFlags.whitespace != 0 { scalar = " " }
            }
            let spaced = handleChineseChars && BertNormalizer.isChineseChar(value)
            if spaced { scratch.append(" ") }
            if stripAccents {
                CanonicalDecomposition.append(scalar, to: &scratch)
            } else {
                scratch.append(scalar)
            }
            if spaced { scratch.append(" ") }
        }
        if stripAccents { CanonicalDecomposition.reorder(&scratch) }
        for scalar in scratch {
            let flags = ScalarFlags.of(scalar)
            if stripAccents && flags & ScalarFlags.nonspacingMark != 0 { continue }
            if lowercase && flags & ScalarFlags.changesWhenLowercased != 0 {
                for lower in scalar.properties.lowercaseMapping.unicodeScalars {
                    UTF8Scalar.append(lower.value, to: &output)
                }
            } else {
                UTF8Scalar.append(scalar.value, to: &output)
            }
        }
    }

    /// Hugging Face's `is_chinese_char`: the CJK Unified Ideographs blocks and their compatibility blocks (not kana,
    /// not hangul, which are written with spaces between words).
    static func isChineseChar(_ value: UInt32) -> Bool {
        switch value {
        case 0x4E00...0x9FFF, 0x3400...0x4DBF, 0x20000...0x2A6DF, 0x2A700...0x2B73F, 0x2B740...0x2B81F,
            0x2B920...0x2CEAF, 0xF900...0xFAFF, 0x2F800...0x2FA1F:
            return true
        default:
            return false
        }
    }
}

/// Unicode canonical decomposition (NFD) one scalar at a time, for accent stripping on the hot path.
///
/// The Swift standard library has no public NFD; Foundation's `decomposedStringWithCanonicalMapping` works on whole
/// strings and would allocate one per run. So the decompositions are read from Foundation once, for every scalar
/// that has one, into a table with a bitmap in front (most scalars have none); Hangul syllables are decomposed
/// arithmetically, and CJK unified ideographs, which never decompose, are not asked about.
enum CanonicalDecomposition {
    /// Appends the full canonical decomposition of `scalar` (itself when it has none).
    @inline(__always)
    static func append(_ scalar: Unicode.Scalar, to output: inout [Unicode.Scalar]) {
        let value = scalar.value
        if value < 0xC0 {
            output.append(scalar)
            return
        }
        let syllable = Int(value) - hangulBase
        if syllable >= 0 && syllable < hangulCount {
            // Unicode's algorithm (section 3.12): leading consonant, vowel, optional trailing consonant.
            output.append(Unicode.Scalar(UInt32(0x1100 + syllable / (21 * 28)))!)
            output.append(Unicode.Scalar(UInt32(0x1161 + (syllable % (21 * 28)) / 28))!)
            if syllable % 28 != 0 { output.append(Unicode.Scalar(UInt32(0x11A7 + syllable % 28))!) }
            return
        }
        let table = shared
        if Int(value) < table.limit, table.bitmap[Int(value) >> 6] & (1 << (UInt64(value) & 63)) != 0,
            let decomposed = table.mappings[value]
        {
            output.append(contentsOf: decomposed)
        } else {
            output.append(scalar)
        }
    }

    /// Canonical ordering: within each run of non-starters, a stable sort by combining class.
    static func reorder(_ scalars: inout [Unicode.Scalar]) {
        var i = 1
        while i < scalars.count {
            if ScalarFlags.of(scalars[i]) & ScalarFlags.combining != 0 {
                let ccc = scalars[i].properties.canonicalCombiningClass.rawValue
                var j = i
                while j > 0 {
                    let before = scalars[j - 1].properties.canonicalCombiningClass.rawValue
                    guard before > ccc else { break }  // a starter (0) or an equal/lower class stops the move
                    scalars.swapAt(j, j - 1)
                    j -= 1
                }
            }
            i += 1
        }
    }

    private static let hangulBase = 0xAC00
    private static let hangulCount = 19 * 21 * 28

    private struct Table: Sendable {
        let limit: Int
        let bitmap: [UInt64]
        let mappings: [UInt32: [Unicode.Scalar]]
    }

    /// Built on first use (a few milliseconds): one Foundation NFD call over every candidate scalar, each followed
    /// by a newline, which as an ASCII starter keeps the decompositions apart.
    private static let shared: Table = {
        let limit = 0x2FA20  // the last canonical decomposition is in CJK Compatibility Ideographs Supplement
        var candidates: [UInt32] = []
        var text = String.UnicodeScalarView()
        for value in UInt32(0xC0)..<UInt32(limit) {
            if Int(value) - hangulBase >= 0 && Int(value) - hangulBase < hangulCount { continue }
            if BertNormalizer.isChineseChar(value) && !(0xF900...0xFAFF).contains(value)
                && !(0x2F800...0x2FA1F).contains(value)
            {
                continue
            }
            // Decompositions never change once assigned; the ones Unicode added after 9.0 are not in HF's tables.
            guard let scalar = Unicode.Scalar(value), ScalarFlags.assigned(scalar, by: 9, 0) else { continue }
            switch scalar.properties.generalCategory {
            case .privateUse, .surrogate: continue
            default: break
            }
            candidates.append(value)
            text.append(scalar)
            text.append("\n")
        }
        let decomposed = String(text).decomposedStringWithCanonicalMapping.unicodeScalars
        var bitmap = [UInt64](repeating: 0, count: (limit + 63) / 64)
        var mappings: [UInt32: [Unicode.Scalar]] = [:]
        var index = 0
        var current: [Unicode.Scalar] = []
        for scalar in decomposed {
            guard scalar != "\n" else {
                if index < candidates.count {
                    let value = candidates[index]
                    if current.count != 1 || current[0].value != value {
                        mappings[value] = current
                        bitmap[Int(value) >> 6] |= 1 << (UInt64(value) & 63)
                    }
                }
                index += 1
                current.removeAll(keepingCapacity: true)
                continue
            }
            current.append(scalar)
        }
        return Table(limit: limit, bitmap: bitmap, mappings: mappings)
    }()
}

/// The character properties BERT's normalizer and pre-tokenizer test, as bits: one table load per scalar of the
/// Basic Multilingual Plane (a 64 KiB table built on first use), the standard library's property lookups (several
/// times slower, and the bulk of the work on non-Latin text) beyond it.
///
/// The properties are those of the Unicode versions Hugging Face `tokenizers` uses, not of the standard library's
/// (newer) one: general categories come from the `unicode_categories` crate, which has Unicode 8.0 tables, and NFD
/// from `unicode-normalization-alignments`, with Unicode 9.0 tables. A character added later is unassigned there:
/// not control, not punctuation, not a nonspacing mark, without a combining class or decomposition. The handful of
/// older characters whose category Unicode changed since 8.0 get their 8.0 category back (`unicode8Categories`).
/// Checked against `tokenizers` 0.23 on every code point (normalizer, pre-tokenizer and ids); the code points where
/// the two Unicode versions disagree are pinned by the `unicode_edges` of the WordPiece test fixture.
enum ScalarFlags {
    /// Hugging Face's `is_control` (for characters other than \t \n \r): general category Cc, Cf, Co (or Cs).
    /// Unassigned code points (Cn) are not control characters there, and are kept.
    static let control: UInt8 = 1
    /// Unicode White_Space, as Rust's `char::is_whitespace`.
    static let whitespace: UInt8 = 2
    /// General category P* (BERT adds the ASCII symbols itself).
    static let punctuation: UInt8 = 4
    /// General category Mn: what accent stripping removes after NFD.
    static let nonspacingMark: UInt8 = 8
    static let changesWhenLowercased: UInt8 = 16
    /// A nonzero canonical combining class: the scalars canonical ordering moves.
    static let combining: UInt8 = 32

    @inline(__always)
    static func of(_ scalar: Unicode.Scalar) -> UInt8 {
        scalar.value < 0x10000 ? bmp[Int(scalar.value)] : compute(scalar)
    }

    private static let bmp: [UInt8] = (0..<0x10000).map { value in
        Unicode.Scalar(UInt32(value)).map(compute) ?? control  // surrogates: Cs
    }

    /// Whether `scalar` was assigned in Unicode `major.minor` or earlier.
    static func assigned(_ scalar: Unicode.Scalar, by major: Int, _ minor: Int) -> Bool {
        guard let age = scalar.properties.age else { return false }
        return age.major < major || (age.major == major && age.minor <= minor)
    }

    /// Characters whose general category changed between Unicode 8.0 and the standard library's version, with
    /// their 8.0 category (only changes that move a character into or out of Cc/Cf/Co, P* or Mn matter).
    private static let unicode8Categories: [UInt32: Unicode.GeneralCategory] = [
        0x166D: .otherPunctuation,  // CANADIAN SYLLABICS CHI SIGN, now So
        0x1734: .nonspacingMark,  // HANUNOO SIGN PAMUDPOD, now Mc
        0x1885: .otherLetter, 0x1886: .otherLetter,  // MONGOLIAN LETTER ALI GALI BALUDA / THREE BALUDA, now Mn
        0xA9BD: .spacingMark,  // JAVANESE CONSONANT SIGN KERET, now Mn
        0x111C9: .otherPunctuation,  // SHARADA SANDHI MARK, now Mn
        0x1171E: .nonspacingMark,  // AHOM CONSONANT SIGN MEDIAL RA, now Mc
    ]

    private static func compute(_ scalar: Unicode.Scalar) -> UInt8 {
        let properties = scalar.properties
        var flags: UInt8 = 0
        if assigned(scalar, by: 8, 0) {
            switch unicode8Categories[scalar.value] ?? properties.generalCategory {
            case .control, .format, .privateUse, .surrogate: flags |= control
            case .connectorPunctuation, .dashPunctuation, .openPunctuation, .closePunctuation, .initialPunctuation,
                .finalPunctuation, .otherPunctuation:
                flags |= punctuation
            case .nonspacingMark: flags |= nonspacingMark
            default: break
            }
        }
        if properties.isWhitespace { flags |= whitespace }
        if properties.changesWhenLowercased { flags |= changesWhenLowercased }
        if properties.canonicalCombiningClass.rawValue != 0 && assigned(scalar, by: 9, 0) { flags |= combining }
        return flags
    }
}

/// UTF-8 encoding and decoding of single scalars on byte buffers that are known to be valid UTF-8 (they come from
/// Swift strings).
enum UTF8Scalar {
    /// The scalar starting at `i` and its length in bytes.
    @inline(__always)
    static func decode(_ bytes: UnsafeBufferPointer<UInt8>, at i: Int) -> (UInt32, Int) {
        let lead = UInt32(bytes[i])
        if lead < 0x80 { return (lead, 1) }
        if lead < 0xE0 { return ((lead & 0x1F) << 6 | UInt32(bytes[i + 1] & 0x3F), 2) }
        if lead < 0xF0 {
            return ((lead & 0x0F) << 12 | UInt32(bytes[i + 1] & 0x3F) << 6 | UInt32(bytes[i + 2] & 0x3F), 3)
        }
        let value = (lead & 0x07) << 18 | UInt32(bytes[i + 1] & 0x3F) << 12 | UInt32(bytes[i + 2] & 0x3F) << 6
            | UInt32(bytes[i + 3] & 0x3F)
        return (value, 4)
    }

    @inline(__always)
    static func append(_ value: UInt32, to output: inout [UInt8]) {
        switch value {
        case 0..<0x80:
            output.append(UInt8(value))
        case 0x80..<0x800:
            output.append(UInt8(0xC0 | value >> 6))
            output.append(UInt8(0x80 | value & 0x3F))
        case 0x800..<0x10000:
            output.append(UInt8(0xE0 | value >> 12))
            output.append(UInt8(0x80 | (value >> 6) & 0x3F))
            output.append(UInt8(0x80 | value & 0x3F))
        default:
            output.append(UInt8(0xF0 | value >> 18))
            output.append(UInt8(0x80 | (value >> 12) & 0x3F))
            output.append(UInt8(0x80 | (value >> 6) & 0x3F))
            output.append(UInt8(0x80 | value & 0x3F))
        }
    }

    /// Whether `byte` starts a character (is not a continuation byte).
    @inline(__always)
    static func isLead(_ byte: UInt8) -> Bool { byte & 0xC0 != 0x80 }
}
