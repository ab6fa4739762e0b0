/// A dictionary key that compares strings by their exact UTF-8 bytes.
///
/// Swift's `String` equality is canonical equivalence, so "e\u{301}" == "é" and a `[String: Int32]` vocabulary
/// would merge two distinct tokens (real vocabularies contain both spellings). Tokenizers must be byte-exact.
struct ExactString: Hashable, Sendable {
    let value: String

    init(_ value: String) {
        var copy = value
        copy.makeContiguousUTF8()
        self.value = copy
    }

    static func == (a: ExactString, b: ExactString) -> Bool {
        a.value.utf8.elementsEqual(b.value.utf8)
    }

    func hash(into hasher: inout Hasher) {
        let hashed: Void? = value.utf8.withContiguousStorageIfAvailable { hasher.combine(bytes: UnsafeRawBufferPointer($0)) }
        if hashed == nil {
            for byte in value.utf8 { hasher.combine(byte) }
        }
    }
}
