/// The character classes the pre-tokenizer regexes test (`\p{L}`, `\p{N}`, `\s`, `[\r\n]`), with an ASCII table so
/// that the common case costs one array load.
enum CharacterClass: UInt8 {
    case letter, number, whitespace, newline, other

    var isWhitespace: Bool { self == .whitespace || self == .newline }

    private static let ascii: [CharacterClass] = (0..<128).map { value -> CharacterClass in
        let scalar = Unicode.Scalar(UInt8(value))
        switch scalar {
        case "\r", "\n": return .newline
        case " ", "\t", "\u{0B}", "\u{0C}": return .whitespace
        case "a"..."z", "A"..."Z": return .letter
        case "0"..."9": return .number
        default: return .other
        }
    }

    static func of(_ value: UInt32) -> CharacterClass {
        if value < 128 { return ascii[Int(value)] }
        guard let scalar = Unicode.Scalar(value) else { return .other }
        let properties = scalar.properties
        // Oniguruma's \s is Unicode White_Space (U+0085, NBSP, U+2028, ideographic space, ...).
        if properties.isWhitespace { return .whitespace }
        switch properties.generalCategory {
        case .uppercaseLetter, .lowercaseLetter, .titlecaseLetter, .modifierLetter, .otherLetter:
            return .letter
        case .decimalNumber, .letterNumber, .otherNumber:
            return .number
        default:
            return .other
        }
    }
}
