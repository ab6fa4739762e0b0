import Foundation

/// Decides whether a path lies inside a root once every symlink is resolved, so a link planted inside a model
/// directory (or an HF snapshot) cannot make the catalog open files elsewhere.
struct RootConfinement {
    /// The root's own real path.
    let realRoot: String

    /// nil when the root does not exist.
    init?(root: String) {
        guard let real = Self.realPath(root) else { return nil }
        realRoot = real
    }

    /// The real path of `path` if it exists and lies inside the root (or is the root), else nil.
    func confined(_ path: String) -> String? {
        guard let real = Self.realPath(path) else { return nil }
        return Self.isInside(real, root: realRoot) ? real : nil
    }

    static func isInside(_ real: String, root: String) -> Bool {
        real == root || real.hasPrefix(root.hasSuffix("/") ? root : root + "/")
    }

    /// `realpath(3)`: resolves every symlink; nil when the path does not exist.
    static func realPath(_ path: String) -> String? {
        guard let resolved = realpath(path, nil) else { return nil }
        defer { free(resolved) }
        return String(cString: resolved)
    }
}
