/// A string-keyed dictionary that remembers insertion order, like a Python `dict`.
///
/// Chat templates print objects (`tojson`, `items()`, `{{ dict }}`) and the output must list keys in the order the
/// request gave them, so a plain `Dictionary` (unordered) cannot hold template objects.
public struct OrderedDict: Sendable, Equatable, Sequence {
    /// Keys in insertion order.
    public private(set) var keys: [String] = []
    private var storage: [String: JinjaValue] = [:]

    public init() {}

    /// Builds a dictionary from pairs; a repeated key keeps its first position and its last value (as Python does).
    public init(_ pairs: [(String, JinjaValue)]) {
        keys.reserveCapacity(pairs.count)
        storage.reserveCapacity(pairs.count)
        for (key, value) in pairs { self[key] = value }
    }

    public var count: Int { keys.count }
    public var isEmpty: Bool { keys.isEmpty }

    /// The values in key order.
    public var values: [JinjaValue] { keys.map { storage[$0]! } }

    /// Reads or writes a key; assigning `nil` removes it. A new key goes to the end.
    public subscript(key: String) -> JinjaValue? {
        get { storage[key] }
        set {
            if let newValue {
                if storage.updateValue(newValue, forKey: key) == nil { keys.append(key) }
            } else if storage.removeValue(forKey: key) != nil {
                keys.removeAll { $0 == key }
            }
        }
    }

    public func makeIterator() -> AnyIterator<(key: String, value: JinjaValue)> {
        var index = 0
        return AnyIterator {
            guard index < keys.count else { return nil }
            defer { index += 1 }
            let key = keys[index]
            return (key, storage[key]!)
        }
    }

    /// Python dict equality: same keys with equal values, order ignored.
    public static func == (lhs: OrderedDict, rhs: OrderedDict) -> Bool {
        guard lhs.count == rhs.count else { return false }
        for (key, value) in lhs.storage {
            guard let other = rhs.storage[key], other == value else { return false }
        }
        return true
    }
}
