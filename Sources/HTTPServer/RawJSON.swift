/// Spans of a request's JSON text, for the few values that must travel exactly as the client wrote them: tool
/// definitions (a chat template prints them key by key, as `apply_chat_template` does with the client's dicts) and
/// tool schemas (a call writes its arguments in the schema's property order). `JSONValue` sorts object keys, so
/// these are cut from the body's text instead. The text was already parsed as valid JSON.
enum RawJSON {
    /// The value of `key` in the object `text`, nil when the object lacks it.
    static func member(_ text: ArraySlice<UInt8>, _ key: String) -> ArraySlice<UInt8>? {
        var i = skipWhitespace(text, text.startIndex)
        guard i < text.endIndex, text[i] == UInt8(ascii: "{") else { return nil }
        i += 1
        let wanted = Array(key.utf8)
        while true {
            i = skipWhitespace(text, i)
            guard i < text.endIndex, text[i] == UInt8(ascii: "\"") else { return nil }
            let keyEnd = skipString(text, i)
            let name = JSONValue.parse(text[i..<keyEnd])
            i = skipWhitespace(text, keyEnd)
            guard i < text.endIndex, text[i] == UInt8(ascii: ":") else { return nil }
            let start = skipWhitespace(text, i + 1)
            let end = skipValue(text, start)
            if case .string(let s)? = name, Array(s.utf8) == wanted { return text[start..<end] }
            i = skipWhitespace(text, end)
            guard i < text.endIndex, text[i] == UInt8(ascii: ",") else { return nil }
            i += 1
        }
    }

    /// The elements of the array `text`.
    static func elements(_ text: ArraySlice<UInt8>) -> [ArraySlice<UInt8>] {
        var i = skipWhitespace(text, text.startIndex)
        guard i < text.endIndex, text[i] == UInt8(ascii: "[") else { return [] }
        i = skipWhitespace(text, i + 1)
        var out: [ArraySlice<UInt8>] = []
        if i < text.endIndex, text[i] == UInt8(ascii: "]") { return out }
        while i < text.endIndex {
            let end = skipValue(text, i)
            out.append(text[i..<end])
            i = skipWhitespace(text, end)
            guard i < text.endIndex, text[i] == UInt8(ascii: ",") else { break }
            i = skipWhitespace(text, i + 1)
        }
        return out
    }

    private static func skipWhitespace(_ t: ArraySlice<UInt8>, _ start: Int) -> Int {
        var i = start
        while i < t.endIndex, t[i] == 0x20 || t[i] == 0x0A || t[i] == 0x0D || t[i] == 0x09 { i += 1 }
        return i
    }

    /// Past the string that starts (with its quote) at `start`.
    private static func skipString(_ t: ArraySlice<UInt8>, _ start: Int) -> Int {
        var i = start + 1
        while i < t.endIndex {
            switch t[i] {
            case UInt8(ascii: "\\"): i += 2
            case UInt8(ascii: "\""): return i + 1
            default: i += 1
            }
        }
        return t.endIndex
    }

    /// Past the value that starts at `start`.
    private static func skipValue(_ t: ArraySlice<UInt8>, _ start: Int) -> Int {
        guard start < t.endIndex else { return t.endIndex }
        switch t[start] {
        case UInt8(ascii: "\""):
            return skipString(t, start)
        case UInt8(ascii: "{"), UInt8(ascii: "["):
            var depth = 0
            var i = start
            while i < t.endIndex {
                switch t[i] {
                case UInt8(ascii: "\""):
                    i = skipString(t, i)
                    continue
                case UInt8(ascii: "{"), UInt8(ascii: "["): depth += 1
                case UInt8(ascii: "}"), UInt8(ascii: "]"):
                    depth -= 1
                    if depth == 0 { return i + 1 }
                default: break
                }
                i += 1
            }
            return t.endIndex
        default:
            var i = start
            while i < t.endIndex, ![UInt8(ascii: ","), UInt8(ascii: "}"), UInt8(ascii: "]"), 0x20, 0x0A, 0x0D, 0x09]
                .contains(t[i]) { i += 1 }
            return i
        }
    }
}
