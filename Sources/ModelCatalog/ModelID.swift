/// Model id rules. An id is `NAME` (a `.gguf` file) or `org/name` (a Hugging Face layout); it is only ever used to
/// look up an entry found by listing a root, and is validated first so that no id can spell a path.
public enum ModelID {
    public static let maxLength = 200

    /// Throws `invalidID` unless `id` is 1–200 ASCII characters from `[A-Za-z0-9._-]`, with at most one `/`
    /// separating two non-empty components, none of which is `.`/`..` or starts with `.` or `-`; `org/name` may end
    /// with `:SELECTOR` (same characters), which picks one GGUF file of a Hugging Face repository (`:Q4_K_M`).
    public static func validate(_ id: String) throws(CatalogError) {
        if let colon = id.firstIndex(of: ":") {
            let repo = String(id[..<colon]), selector = String(id[id.index(after: colon)...])
            guard repo.contains("/") else {
                throw .invalidID(id: id, reason: "':SELECTOR' follows an org/name repository id")
            }
            try validate(repo)
            guard !selector.isEmpty, !selector.contains("/"), !selector.contains(":") else {
                throw .invalidID(id: id, reason: "':' is followed by a file name or quantization, like ':Q4_K_M'")
            }
            try validate(selector)
            return
        }
        guard !id.isEmpty else { throw .invalidID(id: id, reason: "it is empty") }
        guard id.utf8.count <= maxLength else {
            throw .invalidID(id: id, reason: "it is longer than \(maxLength) characters")
        }
        for byte in id.utf8 {
            let allowed = (byte >= 0x30 && byte <= 0x39) || (byte >= 0x41 && byte <= 0x5A) || (byte >= 0x61 && byte <= 0x7A)
                || byte == UInt8(ascii: ".") || byte == UInt8(ascii: "_") || byte == UInt8(ascii: "-")
                || byte == UInt8(ascii: "/")
            guard allowed else {
                throw .invalidID(id: id, reason: "only letters, digits, '.', '_', '-' and one '/' are allowed")
            }
        }
        let components = id.split(separator: "/", omittingEmptySubsequences: false)
        guard components.count <= 2 else { throw .invalidID(id: id, reason: "at most one '/' (org/name) is allowed") }
        for component in components {
            guard !component.isEmpty else { throw .invalidID(id: id, reason: "it has an empty path component") }
            guard component.first != ".", component.first != "-" else {
                throw .invalidID(id: id, reason: "a component may not start with '.' or '-'")
            }
        }
    }
}
