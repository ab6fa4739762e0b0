/// Python `str` operations with Python's exact semantics.
///
/// Templates are written against Python strings: lengths, indices and slices count code points (not Swift
/// grapheme clusters), comparisons and searches are by code point (no Unicode canonical equivalence), and
/// `strip()`/`split()` use Python's whitespace set. Swift's `String` API differs on all of these, so every string
/// operation a template can reach goes through here.
enum PyText {
    /// `str.isspace()` for one code point: the characters Python's `strip()`/`split()` remove.
    static func isWhitespace(_ s: Unicode.Scalar) -> Bool {
        switch s.value {
        case 0x09...0x0D, 0x1C...0x20, 0x85, 0xA0, 0x1680, 0x2000...0x200A, 0x2028, 0x2029, 0x202F, 0x205F, 0x3000:
            return true
        default:
            return false
        }
    }

    /// Line boundaries of `str.splitlines()`.
    static func isLineBreak(_ s: Unicode.Scalar) -> Bool {
        switch s.value {
        case 0x0A, 0x0B, 0x0C, 0x0D, 0x1C, 0x1D, 0x1E, 0x85, 0x2028, 0x2029: return true
        default: return false
        }
    }

    static func length(_ s: String) -> Int { s.unicodeScalars.count }

    /// Code-point-exact equality (Swift's `==` treats canonically equivalent strings as equal; Python does not).
    static func equal(_ a: String, _ b: String) -> Bool { a.utf8.elementsEqual(b.utf8) }

    /// Code-point order, which is also UTF-8 byte order.
    static func less(_ a: String, _ b: String) -> Bool { a.utf8.lexicographicallyPrecedes(b.utf8) }

    // MARK: strip

    static func strip(_ s: String, chars: String?, left: Bool, right: Bool) -> String {
        let scalars = Array(s.unicodeScalars)
        let set: Set<UInt32>? = chars.map { Set($0.unicodeScalars.map(\.value)) }
        func removable(_ c: Unicode.Scalar) -> Bool { set?.contains(c.value) ?? isWhitespace(c) }
        var lo = 0
        var hi = scalars.count
        if left { while lo < hi, removable(scalars[lo]) { lo += 1 } }
        if right { while hi > lo, removable(scalars[hi - 1]) { hi -= 1 } }
        if lo == 0 && hi == scalars.count { return s }
        return make(scalars[lo..<hi])
    }

    static func make<C: Collection>(_ scalars: C) -> String where C.Element == Unicode.Scalar {
        var view = String.UnicodeScalarView()
        view.append(contentsOf: scalars)
        return String(view)
    }

    // MARK: search

    /// Byte offset of the first occurrence of `needle` in `hay` at or after `from`. UTF-8 is self-synchronizing,
    /// so a byte match of valid UTF-8 always starts and ends on code point boundaries.
    static func find(_ hay: [UInt8], _ needle: [UInt8], from: Int = 0) -> Int? {
        let n = needle.count
        if n == 0 { return from <= hay.count ? from : nil }
        guard hay.count >= n else { return nil }
        let first = needle[0]
        var i = from
        let last = hay.count - n
        while i <= last {
            if hay[i] == first {
                var j = 1
                while j < n && hay[i + j] == needle[j] { j += 1 }
                if j == n { return i }
            }
            i += 1
        }
        return nil
    }

    static func contains(_ hay: String, _ needle: String) -> Bool {
        find(Array(hay.utf8), Array(needle.utf8)) != nil
    }

    static func hasPrefix(_ s: String, _ prefix: String) -> Bool { s.utf8.starts(with: prefix.utf8) }

    static func hasSuffix(_ s: String, _ suffix: String) -> Bool {
        let a = s.utf8
        let b = suffix.utf8
        guard b.count <= a.count else { return false }
        return a.suffix(b.count).elementsEqual(b)
    }

    /// `str.count(sub)`: non-overlapping occurrences.
    static func count(_ s: String, _ sub: String) -> Int {
        if sub.isEmpty { return length(s) + 1 }
        let hay = Array(s.utf8)
        let needle = Array(sub.utf8)
        var n = 0
        var from = 0
        while let at = find(hay, needle, from: from) {
            n += 1
            from = at + needle.count
        }
        return n
    }

    /// `str.find(sub)` as a code point index, or -1.
    static func index(_ s: String, _ sub: String) -> Int {
        let hay = Array(s.utf8)
        guard let at = find(hay, Array(sub.utf8)) else { return -1 }
        return String(decoding: hay[0..<at], as: UTF8.self).unicodeScalars.count
    }

    // MARK: replace / split

    static func replace(_ s: String, _ old: String, _ new: String, count: Int = -1) -> String {
        if count == 0 { return s }
        if old.isEmpty {
            // Python inserts `new` before every code point and at the end.
            var out = ""
            var done = 0
            for c in s.unicodeScalars {
                if count < 0 || done < count { out += new; done += 1 }
                out.unicodeScalars.append(c)
            }
            if count < 0 || done < count { out += new }
            return out
        }
        let hay = Array(s.utf8)
        let needle = Array(old.utf8)
        guard var at = find(hay, needle) else { return s }
        var out: [UInt8] = []
        out.reserveCapacity(hay.count)
        var from = 0
        var done = 0
        let replacement = Array(new.utf8)
        while true {
            out.append(contentsOf: hay[from..<at])
            out.append(contentsOf: replacement)
            from = at + needle.count
            done += 1
            if count >= 0 && done >= count { break }
            guard let next = find(hay, needle, from: from) else { break }
            at = next
        }
        out.append(contentsOf: hay[from...])
        return String(decoding: out, as: UTF8.self)
    }

    /// `str.split(sep, maxsplit)`; `sep == nil` splits on whitespace runs and drops empty pieces.
    static func split(_ s: String, sep: String?, maxSplit: Int = -1) throws(TemplateError) -> [String] {
        guard let sep else {
            var parts: [String] = []
            var current = String.UnicodeScalarView()
            var inWord = false
            var scalars = s.unicodeScalars[...]
            while let c = scalars.first {
                if isWhitespace(c) {
                    if inWord {
                        parts.append(String(current))
                        current = String.UnicodeScalarView()
                        inWord = false
                        if maxSplit >= 0 && parts.count >= maxSplit {
                            let rest = strip(String(String.UnicodeScalarView(scalars)), chars: nil, left: true,
                                             right: false)
                            if !rest.isEmpty { parts.append(rest) }
                            return parts
                        }
                    }
                } else {
                    current.append(c)
                    inWord = true
                }
                scalars = scalars.dropFirst()
            }
            if inWord { parts.append(String(current)) }
            return parts
        }
        guard !sep.isEmpty else { throw TemplateError(.runtime, "split(): empty separator", line: nil) }
        let hay = Array(s.utf8)
        let needle = Array(sep.utf8)
        var parts: [String] = []
        var from = 0
        while maxSplit < 0 || parts.count < maxSplit, let at = find(hay, needle, from: from) {
            parts.append(String(decoding: hay[from..<at], as: UTF8.self))
            from = at + needle.count
        }
        parts.append(String(decoding: hay[from...], as: UTF8.self))
        return parts
    }

    /// `str.splitlines()` (without keepends).
    static func splitLines(_ s: String) -> [String] {
        var lines: [String] = []
        var current = String.UnicodeScalarView()
        var previousCR = false
        var pendingLine = false
        for c in s.unicodeScalars {
            if previousCR && c == "\n" {
                previousCR = false
                continue
            }
            previousCR = false
            if isLineBreak(c) {
                lines.append(String(current))
                current = String.UnicodeScalarView()
                previousCR = c == "\r"
                pendingLine = false
            } else {
                current.append(c)
                pendingLine = true
            }
        }
        if pendingLine { lines.append(String(current)) }
        return lines
    }

    // MARK: case

    static func upper(_ s: String) -> String { s.uppercased() }
    static func lower(_ s: String) -> String { s.lowercased() }

    private static func isCased(_ c: Unicode.Scalar) -> Bool {
        c.properties.isCased
    }

    /// `str.title()`: a cased character after a cased one is lowered, any other is title-cased.
    static func title(_ s: String) -> String {
        var out = ""
        var previousCased = false
        for c in s.unicodeScalars {
            if isCased(c) {
                out += previousCased ? c.properties.lowercaseMapping : c.properties.titlecaseMapping
                previousCased = true
            } else {
                out.unicodeScalars.append(c)
                previousCased = false
            }
        }
        return out
    }

    /// `str.capitalize()`: first code point title-cased, the rest lowered.
    static func capitalize(_ s: String) -> String {
        var scalars = s.unicodeScalars[...]
        guard let first = scalars.popFirst() else { return s }
        return first.properties.titlecaseMapping + String(String.UnicodeScalarView(scalars)).lowercased()
    }

    /// Jinja's `title` filter: words start after whitespace or one of `-([{<`; each word gets its first code point
    /// upper-cased and the rest lowered.
    static func jinjaTitle(_ s: String) -> String {
        var out = ""
        var word = String.UnicodeScalarView()
        func flush() {
            guard let first = word.first else { return }
            out += String(first).uppercased()
            out += String(String.UnicodeScalarView(word.dropFirst())).lowercased()
            word = String.UnicodeScalarView()
        }
        for c in s.unicodeScalars {
            if isWhitespace(c) || "-([{<".unicodeScalars.contains(c) {
                flush()
                out.unicodeScalars.append(c)
            } else {
                word.append(c)
            }
        }
        flush()
        return out
    }

    // MARK: indexing

    /// Resolves a Python index (negative counts from the end); nil when out of range.
    static func resolveIndex(_ i: Int, count: Int) -> Int? {
        let j = i < 0 ? i + count : i
        return j >= 0 && j < count ? j : nil
    }

    /// Widths and counts a template may ask for (`center`, `zfill`, `%5s`, `indent`): enough for any prompt, small
    /// enough that a hostile template cannot exhaust memory.
    static let maxWidth = 1_000_000

    /// The indices a Python slice `[start:stop:step]` selects from a sequence of `count` items.
    static func sliceIndices(count: Int, start: Int?, stop: Int?, step: Int?) throws(TemplateError) -> [Int] {
        let step = step ?? 1
        guard step != 0 else { throw TemplateError(.runtime, "slice step cannot be zero", line: nil) }
        func clamp(_ v: Int?, _ defaultValue: Int, lower: Int, upper: Int) -> Int {
            guard var v else { return defaultValue }
            if v < 0 { v = v < -count ? -1 : v + count }
            return min(max(v, lower), upper)
        }
        var result: [Int] = []
        // Steps are user input: stop on overflow instead of trapping.
        if step > 0 {
            let lo = clamp(start, 0, lower: 0, upper: count)
            let hi = clamp(stop, count, lower: 0, upper: count)
            var i = lo
            while i < hi {
                result.append(i)
                let (next, overflow) = i.addingReportingOverflow(step)
                if overflow { break }
                i = next
            }
        } else {
            let lo = clamp(start, count - 1, lower: -1, upper: count - 1)
            let hi = clamp(stop, -1, lower: -1, upper: count - 1)
            var i = lo
            while i > hi {
                result.append(i)
                let (next, overflow) = i.addingReportingOverflow(step)
                if overflow { break }
                i = next
            }
        }
        return result
    }
}
