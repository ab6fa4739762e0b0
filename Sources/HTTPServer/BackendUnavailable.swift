import Foundation
import ModelCatalog

/// The backend `modelhost serve` uses until a real inference backend is plugged in: it lists the catalog's models
/// truthfully and answers every generation, load and unload with a 503 that says why. It never produces text.
public struct BackendUnavailable: InferenceBackend {
    public let catalog: ModelCatalog
    public let reason: String

    public init(catalog: ModelCatalog, reason: String = "no inference backend: the worker supervisor is not wired into this build") {
        self.catalog = catalog
        self.reason = reason
    }

    public func listModels() async -> [ModelInfo] {
        catalog.entries().map { entry in
            ModelInfo(id: entry.id, contextLength: entry.contextLength, inputModalities: entry.inputModalities,
                      loaded: false, created: entry.created)
        }
    }

    public func generate(_ request: GenerationRequest) async throws(BackendError)
        -> AsyncThrowingStream<GenerationEvent, any Error>
    {
        _ = try resolve(request.model)
        throw .unavailable(reason)
    }

    public func load(model: String) async throws(BackendError) {
        _ = try resolve(model)
        throw .unavailable(reason)
    }

    public func unload(model: String) async throws(BackendError) {
        _ = try resolve(model)
        throw .unavailable(reason)
    }

    public func status() async -> BackendStatus {
        BackendStatus(models: [], workerRestarts: 0, ready: false)
    }

    /// Unknown or invalid ids still get their own statuses (404/400), so clients see the right error first.
    private func resolve(_ id: String) throws(BackendError) -> CatalogEntry {
        try catalog.entry(forBackend: id)
    }
}

extension ModelCatalog {
    /// The entry for `id`, with catalog failures as the backend errors that give each its HTTP status: unknown → 404,
    /// invalid or escaping ids → 400, unreadable models → 500 (details to the log).
    public func entry(forBackend id: String) throws(BackendError) -> CatalogEntry {
        do {
            return try resolve(id)
        } catch {
            switch error {
            case .notFound: throw .modelNotFound(id)
            case .invalidID, .outsideRoots: throw .badRequest(param: "model", message: error.message)
            case .unreadable: throw .internal(error.message)
            }
        }
    }
}
