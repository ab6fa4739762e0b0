/// GPT-2's reversible byte ↔ character mapping. Byte-level BPE vocabularies store every byte as a printable
/// character so that merges can be written as text: printable Latin-1 bytes map to themselves, the other 68 bytes
/// to U+0100 upwards in byte order (so a space is "Ġ" and a newline "Ċ").
enum ByteLevelMapping {
    /// The scalar that stands for each byte.
    static let scalarForByte: [Unicode.Scalar] = {
        var table = [Unicode.Scalar](repeating: " ", count: 256)
        var next: UInt32 = 256
        for byte in 0..<256 {
            let printable = (0x21...0x7E).contains(byte) || (0xA1...0xAC).contains(byte) || (0xAE...0xFF).contains(byte)
            if printable {
                table[byte] = Unicode.Scalar(UInt8(byte))
            } else {
                table[byte] = Unicode.Scalar(next)!
                next += 1
            }
        }
        return table
    }()

    /// The byte each mapped scalar stands for (nil for scalars outside the mapping).
    static func byte(for scalar: Unicode.Scalar) -> UInt8? {
        let value = scalar.value
        if value < 256 {
            let byte = UInt8(value)
            return scalarForByte[Int(byte)] == scalar ? byte : nil
        }
        return byteForHighScalar[value]
    }

    private static let byteForHighScalar: [UInt32: UInt8] = {
        var map: [UInt32: UInt8] = [:]
        for (byte, scalar) in scalarForByte.enumerated() where scalar.value >= 256 {
            map[scalar.value] = UInt8(byte)
        }
        return map
    }()

    /// The vocabulary spelling of raw bytes.
    static func encode<S: Sequence>(_ bytes: S) -> String where S.Element == UInt8 {
        var scalars = String.UnicodeScalarView()
        for byte in bytes { scalars.append(scalarForByte[Int(byte)]) }
        return String(scalars)
    }

    /// Raw bytes of a vocabulary string, or nil if it contains a character outside the mapping (such tokens are
    /// added tokens, whose text is used as-is).
    static func decode(_ text: String) -> [UInt8]? {
        var bytes: [UInt8] = []
        bytes.reserveCapacity(text.unicodeScalars.count)
        for scalar in text.unicodeScalars {
            guard let byte = byte(for: scalar) else { return nil }
            bytes.append(byte)
        }
        return bytes
    }
}
