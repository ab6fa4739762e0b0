#if canImport(Glibc)
import Glibc
#endif

/// Environment access without Foundation's ProcessInfo caching, so tests that change the environment see it.
enum ProcessInfoLite {
    static func environment(_ name: String) -> String? {
        guard let value = getenv(name) else { return nil }
        return String(cString: value)
    }
}
