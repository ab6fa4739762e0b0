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

    /// The real path of `name` inside `realDirectory`, a real path this confinement already admitted, when it
    /// exists and stays inside the root. Only a link needs resolving: any other entry of a confined real directory is
    /// inside it, so one `lstat` replaces a `realpath` that would read the link of every component of the whole path
    /// again (every request resolves its model, which checks several files of one folder).
    func confined(_ name: String, in realDirectory: String) -> String? {
        let path = realDirectory + "/" + name
        guard !name.isEmpty, name != ".", name != "..", !name.contains("/") else { return confined(path) }
        var info = stat()
        guard lstat(path, &info) == 0 else { return nil }
        return (info.st_mode & mode_t(S_IFMT)) == mode_t(S_IFLNK) ? confined(path) : path
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
