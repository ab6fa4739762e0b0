import Foundation

/// How a vocabulary turns text into initial symbols and back.
enum TokenizerStyle: Sendable {
    /// GPT-2 style: pre-tokenize, map bytes to the printable alphabet, merge. `ignoreMerges` emits a whole
    /// pre-token directly when it is itself in the vocabulary (Llama 3).
    case byteLevel(PreTokenizer, ignoreMerges: Bool)
    /// SentencePiece style: spaces become `▁`, characters are the initial symbols, characters missing from the
    /// vocabulary fall back to `<0xXX>` byte tokens.
    case sentencePiece(SentencePieceOptions)
}

struct SentencePieceOptions: Sendable {
    enum Prefix: Sendable {
        /// Prepend `▁` to every text segment (HF `Prepend` normalizer; llama.cpp's "after a special token" rule).
        case everySegment
        /// Only to a segment at the very start of the input (HF Metaspace `prepend_scheme: first`).
        case firstSegment
        case never
    }

    var prefix: Prefix = .everySegment
    /// Split each segment into words before every `▁` (HF Metaspace `split: true`).
    var splitWords = false
    var byteFallback = true
    /// Collapse consecutive unknown tokens into one (HF `fuse_unk`).
    var fuseUnknown = true
    /// Drop one leading space from decoded output (the inverse of the prefix).
    var stripLeadingSpace = true
}

/// Everything a loader extracts from a model's tokenizer description.
struct TokenizerDefinition {
    var tokens: [String]
    var types: [TokenType]
    var merges: MergeTable
    var style: TokenizerStyle
    /// Strings split out of the input before tokenization: (text, entry).
    var specialStrings: [(String, SpecialTokenMatcher.Entry)]
    var bos: Int32?
    var eos: Int32?
    var unknown: Int32?
    var addBOS: Bool
    var addEOS: Bool
    var endOfTurn: Set<Int32>
    /// Unicode NFC on each text segment before tokenization (tokenizer.json `NFC` normalizer, e.g. Qwen 2).
    var normalizeNFC = false
}

/// The one tokenizer implementation: byte-level BPE and SentencePiece-style BPE share vocabulary handling,
/// special-token splitting, merging (`MergeTable`) and decoding; only symbol initialisation differs.
final class BPETokenizer: TextTokenizer, @unchecked Sendable {
    private let tokens: [String]
    private let types: [TokenType]
    private let merges: MergeTable
    private let style: TokenizerStyle
    /// Every added/special token string; used when special tokens are parsed.
    private let specials: SpecialTokenMatcher
    /// Only user-defined (non-special added) tokens: llama.cpp and HF split these out even when special-token
    /// strings are to be treated as text.
    private let userDefinedSpecials: SpecialTokenMatcher
    private let idForText: [ExactString: Int32]
    /// Decoded bytes of every token (without the first-token space strip).
    private let bytesForToken: [[UInt8]]
    /// Byte-level: the id of each byte's one-character token. SentencePiece: the `<0xXX>` token of each byte.
    private let byteTokens: [Int32]
    private let unknown: Int32?
    let bosToken: Int32?
    let eosToken: Int32?
    let endOfTurnTokens: Set<Int32>
    private let addBOS: Bool
    private let addEOS: Bool
    private let normalizeNFC: Bool

    /// Pre-token → ids. Real text repeats words constantly; the cache makes those a dictionary hit.
    private var cache: [ExactString: [Int32]] = [:]
    private let cacheLock = NSLock()
    private static let cacheLimit = 65_536

    init(_ definition: TokenizerDefinition) {
        tokens = definition.tokens
        types = definition.types
        merges = definition.merges
        style = definition.style
        unknown = definition.unknown
        bosToken = definition.bos
        eosToken = definition.eos
        addBOS = definition.addBOS
        addEOS = definition.addEOS
        endOfTurnTokens = definition.endOfTurn
        normalizeNFC = definition.normalizeNFC
        var ids: [ExactString: Int32] = [:]
        ids.reserveCapacity(tokens.count)
        for (index, token) in tokens.enumerated() where ids[ExactString(token)] == nil {
            ids[ExactString(token)] = Int32(index)
        }
        idForText = ids
        var matcher = SpecialTokenMatcher()
        var userDefinedMatcher = SpecialTokenMatcher()
        for (text, entry) in definition.specialStrings {
            matcher.add(text, entry: entry)
            if definition.types.indices.contains(Int(entry.id)), definition.types[Int(entry.id)] == .userDefined {
                userDefinedMatcher.add(text, entry: entry)
            }
        }
        specials = matcher
        userDefinedSpecials = userDefinedMatcher

        switch definition.style {
        case .byteLevel:
            byteTokens = (0..<256).map { ids[ExactString(String(ByteLevelMapping.scalarForByte[$0]))] ?? -1 }
            bytesForToken = zip(tokens, types).map { token, type in
                if type == .control || type == .userDefined { return Array(token.utf8) }
                return ByteLevelMapping.decode(token) ?? Array(token.utf8)
            }
        case .sentencePiece:
            byteTokens = (0..<256).map { ids[ExactString(BPETokenizer.byteTokenText(UInt8($0)))] ?? -1 }
            bytesForToken = zip(tokens, types).map { token, type in
                if type == .byte, let byte = BPETokenizer.parseByteToken(token) { return [byte] }
                if type == .control || type == .unknown { return Array(token.utf8) }
                return BPETokenizer.metaspaceToSpace(Array(token.utf8))
            }
        }
    }

    var vocabularySize: Int { tokens.count }

    func tokenText(_ id: Int32) -> String? {
        tokens.indices.contains(Int(id)) ? tokens[Int(id)] : nil
    }

    func tokenID(_ text: String) -> Int32? {
        idForText[ExactString(text)]
    }

    func isSpecial(_ id: Int32) -> Bool {
        guard types.indices.contains(Int(id)) else { return false }
        let type = types[Int(id)]
        return type == .control || type == .unknown
    }

    // MARK: Encoding

    func encode(_ text: String, addSpecial: Bool, parseSpecial: Bool) -> [Int32] {
        var output: [Int32] = []
        output.reserveCapacity(text.utf8.count / 3 + 2)
        if addSpecial, addBOS, let bos = bosToken { output.append(bos) }
        var utf8 = text
        utf8.withUTF8 { bytes in
            let matcher = parseSpecial ? specials : userDefinedSpecials
            let fragments: [SpecialTokenMatcher.Fragment] =
                matcher.isEmpty ? (bytes.isEmpty ? [] : [.text(0..<bytes.count)]) : matcher.split(bytes)
            for fragment in fragments {
                switch fragment {
                case .token(let id):
                    output.append(id)
                case .text(let range):
                    let segment = UnsafeBufferPointer(rebasing: bytes[range])
                    if normalizeNFC {
                        var normalized = String(decoding: segment, as: UTF8.self).precomposedStringWithCanonicalMapping
                        normalized.withUTF8 { encodeSegment($0, atStart: range.lowerBound == 0, into: &output) }
                    } else {
                        encodeSegment(segment, atStart: range.lowerBound == 0, into: &output)
                    }
                }
            }
        }
        if addSpecial, addEOS, let eos = eosToken { output.append(eos) }
        return output
    }

    private func encodeSegment(_ segment: UnsafeBufferPointer<UInt8>, atStart: Bool, into output: inout [Int32]) {
        switch style {
        case .byteLevel(let preTokenizer, let ignoreMerges):
            encodeByteLevel(segment, preTokenizer: preTokenizer, ignoreMerges: ignoreMerges, into: &output)
        case .sentencePiece(let options):
            encodeSentencePiece(segment, atStart: atStart, options: options, into: &output)
        }
    }

    private func encodeByteLevel(
        _ bytes: UnsafeBufferPointer<UInt8>, preTokenizer: PreTokenizer, ignoreMerges: Bool, into output: inout [Int32]
    ) {
        let text = ScalarText(utf8: bytes)
        preTokenizer.split(text, range: 0..<text.scalars.count) { range in
            let piece = UnsafeBufferPointer(
                rebasing: bytes[text.utf8Offsets[range.lowerBound]..<text.utf8Offsets[range.upperBound]])
            let key = ExactString(String(decoding: piece, as: UTF8.self))
            if let cached = cachedIDs(key) {
                output.append(contentsOf: cached)
                return
            }
            var symbols: [Int32]
            if ignoreMerges, let whole = idForText[ExactString(ByteLevelMapping.encode(piece))] {
                symbols = [whole]
            } else {
                symbols = []
                symbols.reserveCapacity(piece.count)
                for byte in piece {
                    let id = byteTokens[Int(byte)]
                    if id >= 0 {
                        symbols.append(id)
                    } else if let unknown {
                        symbols.append(unknown)
                    }
                }
                merges.apply(&symbols)
            }
            store(key, symbols)
            output.append(contentsOf: symbols)
        }
    }

    private func encodeSentencePiece(
        _ bytes: UnsafeBufferPointer<UInt8>, atStart: Bool, options: SentencePieceOptions, into output: inout [Int32]
    ) {
        // Scalar-level work throughout: `▁` followed by a combining mark is one Character but two scalars, and
        // SentencePiece (like Hugging Face) treats it as two symbols.
        var scalars: [Unicode.Scalar] = []
        scalars.reserveCapacity(bytes.count + 1)
        let prefix: Bool
        switch options.prefix {
        case .everySegment: prefix = true
        case .firstSegment: prefix = atStart
        case .never: prefix = false
        }
        if prefix { scalars.append(BPETokenizer.metaspace) }
        for scalar in String(decoding: bytes, as: UTF8.self).unicodeScalars {
            scalars.append(scalar == " " ? BPETokenizer.metaspace : scalar)
        }
        guard options.splitWords else {
            output.append(contentsOf: sentencePieceWord(scalars[...], options: options))
            return
        }
        var wordStart = 0
        for index in scalars.indices where scalars[index] == BPETokenizer.metaspace && index > wordStart {
            output.append(contentsOf: sentencePieceWord(scalars[wordStart..<index], options: options))
            wordStart = index
        }
        if wordStart < scalars.count {
            output.append(contentsOf: sentencePieceWord(scalars[wordStart...], options: options))
        }
    }

    private static let metaspace: Unicode.Scalar = "\u{2581}"

    private func sentencePieceWord(_ word: ArraySlice<Unicode.Scalar>, options: SentencePieceOptions) -> [Int32] {
        var keyScalars = String.UnicodeScalarView()
        keyScalars.append(contentsOf: word)
        let key = ExactString(String(keyScalars))
        if let cached = cachedIDs(key) { return cached }
        var symbols: [Int32] = []
        symbols.reserveCapacity(word.count)
        var lastWasUnknown = false
        for scalar in word {
            let text = String(scalar)
            if let id = idForText[ExactString(text)], types[Int(id)] != .control {
                symbols.append(id)
                lastWasUnknown = false
                continue
            }
            let scalarBytes = Array(text.utf8)
            if options.byteFallback, scalarBytes.allSatisfy({ byteTokens[Int($0)] >= 0 }) {
                symbols.append(contentsOf: scalarBytes.map { byteTokens[Int($0)] })
                lastWasUnknown = false
            } else if let unknown {
                if !(options.fuseUnknown && lastWasUnknown) { symbols.append(unknown) }
                lastWasUnknown = true
            }
        }
        merges.apply(&symbols)
        store(key, symbols)
        return symbols
    }

    private func cachedIDs(_ key: ExactString) -> [Int32]? {
        cacheLock.lock()
        defer { cacheLock.unlock() }
        return cache[key]
    }

    private func store(_ key: ExactString, _ ids: [Int32]) {
        guard key.value.utf8.count <= 256 else { return }  // long runs are rare and would crowd the cache
        cacheLock.lock()
        defer { cacheLock.unlock() }
        if cache.count >= BPETokenizer.cacheLimit { cache.removeAll(keepingCapacity: true) }
        cache[key] = ids
    }

    // MARK: Decoding

    func decodedBytes(of id: Int32, isFirst: Bool, skipSpecial: Bool) -> [UInt8] {
        guard bytesForToken.indices.contains(Int(id)) else { return [] }
        if skipSpecial && isSpecial(id) { return [] }
        let bytes = bytesForToken[Int(id)]
        if isFirst, case .sentencePiece(let options) = style, options.stripLeadingSpace, bytes.first == 0x20 {
            return Array(bytes.dropFirst())
        }
        return bytes
    }

    func decode(_ ids: [Int32], skipSpecial: Bool) -> String {
        var bytes: [UInt8] = []
        var isFirst = true
        for id in ids {
            guard bytesForToken.indices.contains(Int(id)), !(skipSpecial && isSpecial(id)) else { continue }
            bytes.append(contentsOf: decodedBytes(of: id, isFirst: isFirst, skipSpecial: skipSpecial))
            isFirst = false
        }
        return String(decoding: bytes, as: UTF8.self)
    }

    /// Replaces every `▁` (E2 96 81) with a space, bytewise: UTF-8 is self-synchronising, so no false matches.
    static func metaspaceToSpace(_ bytes: [UInt8]) -> [UInt8] {
        var out: [UInt8] = []
        out.reserveCapacity(bytes.count)
        var i = 0
        while i < bytes.count {
            if i + 2 < bytes.count && bytes[i] == 0xE2 && bytes[i + 1] == 0x96 && bytes[i + 2] == 0x81 {
                out.append(0x20)
                i += 3
            } else {
                out.append(bytes[i])
                i += 1
            }
        }
        return out
    }

    /// "<0x0A>": the spelling of SentencePiece byte-fallback tokens.
    static func byteTokenText(_ byte: UInt8) -> String {
        let hex = String(byte, radix: 16, uppercase: true)
        return "<0x" + (byte < 16 ? "0" : "") + hex + ">"
    }

    static func parseByteToken(_ token: String) -> UInt8? {
        let utf8 = Array(token.utf8)
        guard utf8.count == 6, token.hasPrefix("<0x"), token.hasSuffix(">") else { return nil }
        return UInt8(String(decoding: utf8[3..<5], as: UTF8.self), radix: 16)
    }
}
