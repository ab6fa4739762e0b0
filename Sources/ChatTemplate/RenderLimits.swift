/// Bounds on the work and memory of one render. A chat template comes from the model file, which is untrusted
/// input: without these, nested loops (`range(100000)` inside `range(100000)`) hold a worker for hours and a string
/// that doubles on every iteration exhausts its memory (both found by the jinja fuzz target). Real templates stay
/// far below every bound: they loop over the messages and tools once or twice and print a prompt that must fit the
/// model's context.
enum RenderLimits {
    /// Loop iterations plus macro calls in one render: real templates need thousands; this many run in a few tenths
    /// of a second.
    static let maxSteps = 100_000
    /// Any string a render builds, the output included.
    static let maxStringBytes = 16 << 20
    /// Any list a render builds (`range()` has its own, smaller limit).
    static let maxListItems = 1_000_000

    static func checkString(bytes: Int, _ what: String) throws(TemplateError) {
        guard bytes <= maxStringBytes else {
            throw TemplateError(.runtime, "\(what) would be larger than the \(maxStringBytes >> 20) MiB a template may build",
                                line: nil)
        }
    }

    static func checkList(count: Int, _ what: String) throws(TemplateError) {
        guard count <= maxListItems else {
            throw TemplateError(.runtime, "\(what) would hold more than the \(maxListItems) items a template may build",
                                line: nil)
        }
    }

    /// `s.replace(old, new)` before it is built, from the most it could grow: at most `len(s) / len(old)`
    /// replacements (`len(s) + 1` for an empty `old`). Conservative on purpose: counting the matches costs as much as
    /// the replacement, and a real template never comes near 16 MiB.
    static func checkReplace(_ s: String, _ old: String, _ new: String, count: Int) throws(TemplateError) {
        let length = s.utf8.count, oldLength = old.utf8.count, newLength = new.utf8.count
        guard newLength > oldLength else { return }
        var occurrences = oldLength == 0 ? length + 1 : length / oldLength
        if count >= 0 { occurrences = min(occurrences, count) }
        let grown = occurrences.multipliedReportingOverflow(by: newLength - oldLength)
        guard !grown.overflow else { throw TemplateError(.runtime, "replace() result is too large", line: nil) }
        try checkString(bytes: length + grown.partialValue, "replace() result")
    }

    static func checkJoin(_ parts: [String], separator: String) throws(TemplateError) {
        var total = 0
        for part in parts {
            total += part.utf8.count + separator.utf8.count
            try checkString(bytes: total, "join() result")
        }
    }
}
