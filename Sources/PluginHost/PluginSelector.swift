import ModelHostABI

/// What a worker needs a plugin for.
public struct PluginRequest: Sendable {
    public var kind: PluginKindName
    public var family: String
    public var architecture: String
    public var quantization: String
    public var format: UInt32
    /// An explicit choice by plugin id (configuration or `MODELHOST_PLUGIN_PIN`); it beats every score.
    public var pin: String?
    /// Swift runtime tag of plugins already loaded in this worker: Swift plugins must share one runtime.
    public var runtimeTag: String?

    public init(kind: PluginKindName, family: String, architecture: String = "", quantization: String = "",
                format: UInt32 = UInt32(MH_FORMAT_GGUF.rawValue), pin: String? = nil, runtimeTag: String? = nil) {
        self.kind = kind
        self.family = family
        self.architecture = architecture
        self.quantization = quantization
        self.format = format
        self.pin = pin
        self.runtimeTag = runtimeTag
    }
}

/// One line of the selection table, kept for logs and `modelhost plugins list`.
public struct SelectionDecision: Sendable, CustomStringConvertible {
    public let id: String
    public let path: String
    public let score: Int32?
    public let priority: Int
    public let outcome: String
    public var description: String {
        "\(id) score=\(score.map(String.init) ?? "-") priority=\(priority): \(outcome) (\(path))"
    }
}

public struct SelectionError: Error, CustomStringConvertible, Sendable {
    public let message: String
    public let decisions: [SelectionDecision]
    public var description: String { message }
}

public enum PluginSelector {
    /// Chooses and loads the plugin for `request`: explicit pin, then probe score, then manifest priority, then id.
    /// Only plugins whose manifest matches the request's kind, family, architecture and quantization are loaded
    /// (to probe them), so a worker maps no plugin its model does not need.
    public static func select(_ request: PluginRequest, among plugins: [DiscoveredPlugin],
                              host: HostServices) throws(SelectionError) -> (plugin: LoadedPlugin, decisions: [SelectionDecision]) {
        var decisions: [SelectionDecision] = []
        var candidates = plugins.filter { p in
            guard let m = p.manifest, m.kind == request.kind else { return false }
            return m.supports(family: request.family, architecture: request.architecture,
                              quantization: request.quantization)
        }
        for c in candidates where !c.isAccepted {
            decisions.append(SelectionDecision(id: c.manifest?.id ?? "?", path: c.manifestPath, score: nil,
                                               priority: c.manifest?.priority ?? 0, outcome: c.rejection!.description))
        }
        candidates = candidates.filter(\.isAccepted)
        if let pin = request.pin {
            candidates = candidates.filter { $0.manifest?.id == pin }
            guard !candidates.isEmpty else {
                throw SelectionError(message: "the pinned plugin '\(pin)' is not installed or not usable for \(request.kind.rawValue) \(request.family)", decisions: decisions)
            }
        }
        var scored: [(LoadedPlugin, Int32)] = []
        for c in candidates {
            let m = c.manifest!
            if let tag = request.runtimeTag, m.runtime != "c", tag != "c", m.runtime != tag {
                decisions.append(SelectionDecision(id: m.id, path: c.libraryPath ?? "", score: nil, priority: m.priority ?? 0,
                                                   outcome: "skipped: runtime \(m.runtime) differs from this worker's \(tag)"))
                continue
            }
            do {
                let loaded = try PluginLoader.load(c, host: host)
                let score = try loaded.probe(family: request.family, architecture: request.architecture,
                                             quantization: request.quantization, format: request.format)
                decisions.append(SelectionDecision(id: m.id, path: loaded.libraryPath, score: score,
                                                   priority: m.priority ?? 0, outcome: score > 0 ? "candidate" : "declined by probe"))
                if score > 0 || request.pin != nil { scored.append((loaded, score)) }
            } catch let rejection as PluginRejection {
                decisions.append(SelectionDecision(id: m.id, path: c.libraryPath ?? "", score: nil, priority: m.priority ?? 0,
                                                   outcome: rejection.description))
            } catch {
                decisions.append(SelectionDecision(id: m.id, path: c.libraryPath ?? "", score: nil, priority: m.priority ?? 0,
                                                   outcome: "probe failed: \(error)"))
            }
        }
        let ordered = scored.sorted { a, b in
            if a.1 != b.1 { return a.1 > b.1 }
            let pa = a.0.manifest.priority ?? 0, pb = b.0.manifest.priority ?? 0
            if pa != pb { return pa > pb }
            return a.0.manifest.id < b.0.manifest.id
        }
        guard let winner = ordered.first else {
            let detail = decisions.isEmpty ? "no installed plugin declares it" : decisions.map(\.description).joined(separator: "; ")
            throw SelectionError(message: "no \(request.kind.rawValue) plugin can run family '\(request.family)'\(request.quantization.isEmpty ? "" : " (\(request.quantization))"): \(detail)", decisions: decisions)
        }
        return (winner.0, decisions)
    }
}

extension PluginSelector {
    /// Whether `family` names a text encoder (embedding) model: a usable text-encoder plugin lists it and no
    /// text-decoder plugin lists it by name. Read from manifests only, so the orchestrator can tell an embedding
    /// model from a generation model without loading either; the worker opens the model through that kind.
    public static func isEncoderFamily(_ family: String, among plugins: [DiscoveredPlugin]) -> Bool {
        func claims(_ kind: PluginKindName) -> Bool {
            plugins.contains { $0.isAccepted && $0.manifest?.kind == kind && $0.manifest?.families.contains(family) == true }
        }
        return !family.isEmpty && claims(.textEncoder) && !claims(.textDecoder)
    }
}
