import ModelCatalog

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
