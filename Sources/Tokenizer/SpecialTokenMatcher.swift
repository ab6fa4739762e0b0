/// Finds special/added token strings in text, leftmost-longest (as Hugging Face's added-vocabulary splitter does),
/// with a byte trie so that text without specials costs one table probe per byte.
struct SpecialTokenMatcher: Sendable {
    struct Entry: Sendable {
        let id: Int32
        /// Swallow whitespace before / after the match (tokenizer.json `lstrip` / `rstrip`).
        let stripLeft: Bool
        let stripRight: Bool
    }

    /// A text run or a matched token; `range` is in UTF-8 bytes of the input.
    enum Fragment: Equatable {
        case text(Range<Int>)
        case token(Int32)
    }

    private var children: [[UInt8: Int32]] = [[:]]
    private var terminal: [Int32: Entry] = [:]
    private var firstBytes = [Bool](repeating: false, count: 256)

    var isEmpty: Bool { terminal.isEmpty }

    mutating func add(_ text: String, entry: Entry) {
        let bytes = Array(text.utf8)
        guard !bytes.isEmpty else { return }
        var node: Int32 = 0
        for byte in bytes {
            if let child = children[Int(node)][byte] {
                node = child
            } else {
                children.append([:])
                let child = Int32(children.count - 1)
                children[Int(node)][byte] = child
                node = child
            }
        }
        terminal[node] = entry
        firstBytes[Int(bytes[0])] = true
    }

    /// Splits `bytes` into text runs and special tokens.
    func split(_ bytes: UnsafeBufferPointer<UInt8>) -> [Fragment] {
        var fragments: [Fragment] = []
        var textStart = 0
        var i = 0
        let n = bytes.count
        while i < n {
            guard firstBytes[Int(bytes[i])], let (end, entry) = longestMatch(bytes, at: i) else {
                i += 1
                continue
            }
            var textEnd = i
            if entry.stripLeft {
                while textEnd > textStart && SpecialTokenMatcher.isSpace(bytes[textEnd - 1]) { textEnd -= 1 }
            }
            if textStart < textEnd { fragments.append(.text(textStart..<textEnd)) }
            fragments.append(.token(entry.id))
            var next = end
            if entry.stripRight {
                while next < n && SpecialTokenMatcher.isSpace(bytes[next]) { next += 1 }
            }
            textStart = next
            i = next
        }
        if textStart < n { fragments.append(.text(textStart..<n)) }
        return fragments
    }

    private func longestMatch(_ bytes: UnsafeBufferPointer<UInt8>, at start: Int) -> (Int, Entry)? {
        var node: Int32 = 0
        var best: (Int, Entry)?
        var i = start
        while i < bytes.count, let child = children[Int(node)][bytes[i]] {
            node = child
            i += 1
            if let entry = terminal[node] { best = (i, entry) }
        }
        return best
    }

    private static func isSpace(_ byte: UInt8) -> Bool {
        byte == 0x20 || byte == 0x09 || byte == 0x0A || byte == 0x0D
    }
}
