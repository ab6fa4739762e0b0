import Foundation
import HTTPTypes
import Hummingbird
import Logging
import struct Sampling.SamplingDefaults

/// Which methods each path of a port answers, for 405 answers (with `Allow`) to a known path asked with another
/// method. Kept beside the registrations below; `OpenAPISpecTests` checks the API port's against the document.
public enum RouteMethods {
    public static let api: [String: [String]] = [
        "/": ["GET"], "/v1/chat/completions": ["POST"], "/v1/completions": ["POST"], "/v1/models": ["GET"],
        "/v1/models/*": ["GET"], "/openapi.json": ["GET"], "/health": ["GET"], "/ready": ["GET"],
        "/tokenize": ["POST"], "/detokenize": ["POST"], "/v1/embeddings": ["POST"], "/v1/messages": ["POST"],
        "/v1/messages/count_tokens": ["POST"], "/v1/responses": ["POST"], "/v1/responses/*": ["GET", "DELETE"],
        // Ollama's native API.
        "/api/chat": ["POST"], "/api/generate": ["POST"], "/api/embed": ["POST"], "/api/show": ["POST"],
        "/api/tags": ["GET"], "/api/ps": ["GET"], "/api/version": ["GET"],
    ]
    public static let admin: [String: [String]] = [
        "/admin/status": ["GET"], "/admin/load": ["POST"], "/admin/unload": ["POST"], "/admin/health": ["GET"],
        "/admin/reload": ["POST"], "/admin/pull": ["POST"],
        "/admin/queue": ["GET"], "/admin/capabilities": ["GET"], "/metrics": ["GET"],
    ]

    /// The methods `path` answers on a port with `table`; nil for an unknown path.
    public static func allowed(_ path: String, in table: [String: [String]]) -> [String]? {
        if let methods = table[path] { return methods }
        return table.first { key, _ in key.hasSuffix("/*") && path.hasPrefix(key.dropLast()) && path.count > key.count - 1 }?
            .value
    }
}

/// The OpenAI API port: generation, model listing, liveness and readiness.
enum OpenAIRoutes {
    static func register(on router: Router<APIRequestContext>, state: ServerState) {
        let handler = state.generationHandler
        // A non-streamed answer's work stops when its client hangs up; a streamed one's handler returns at once.
        router.post("/v1/chat/completions") { request, context in
            try await context.cancellingOnDisconnect { try await handler.handle(request, endpoint: .chat) }
        }
        router.post("/v1/completions") { request, context in
            try await context.cancellingOnDisconnect { try await handler.handle(request, endpoint: .completions) }
        }
        router.post("/v1/messages") { request, context in
            try await context.cancellingOnDisconnect { try await handler.handle(request, endpoint: .messages) }
        }
        router.post("/v1/messages/count_tokens") { request, context in
            try await context.cancellingOnDisconnect { try await handler.handle(request, endpoint: .countTokens) }
        }
        router.post("/v1/responses") { request, context in
            try await context.cancellingOnDisconnect { try await handler.handle(request, endpoint: .responses) }
        }
        router.get("/v1/responses/:id") { _, context in
            let id = context.parameters.get("id") ?? ""
            guard let entry = await state.responses.get(id) else { throw APIError.responseNotFound(id) }
            return Response.json(entry.object)
        }
        router.delete("/v1/responses/:id") { _, context in
            let id = context.parameters.get("id") ?? ""
            guard await state.responses.delete(id) else { throw APIError.responseNotFound(id) }
            return Response.json(["id": .string(id), "object": "response", "deleted": true])
        }
        router.get("/") { _, _ in
            guard state.options.chatPage else {
                throw APIError.notFound("the chat page is turned off on this server (--no-chat-page)")
            }
            return ChatPage.response
        }
        TokenizerRoutes.register(on: router, state: state)
        OllamaRoutes.register(on: router, state: state)
        EmbeddingRoutes.register(on: router, state: state)
        router.get("/v1/models") { _, _ in
            let models = await state.backend.listModels()
            return Response.json(["object": "list", "data": .array(models.map {
                modelJSON($0, serverDefaults: state.options.sampling)
            })])
        }
        // Ids may be `org/name`, so the rest of the path is the id (`default` resolves to the default model).
        router.get("/v1/models/**") { _, context in
            let id = context.parameters.getCatchAll().joined(separator: "/")
            guard let model = await state.backend.model(id) else {
                throw APIError(BackendError.modelNotFound(id))
            }
            return Response.json(modelJSON(model, serverDefaults: state.options.sampling))
        }
        router.get("/openapi.json") { _, _ in
            Response(status: .ok, headers: [.contentType: "application/json"],
                     body: ResponseBody(byteBuffer: ByteBuffer(string: OpenAPISpec.json)))
        }
        router.get("/health") { _, _ in
            Response.json(["status": "ok", "uptime_seconds": JSONValue(state.uptimeSeconds)])
        }
        router.get("/ready") { _, _ in
            let admission = await state.admission.snapshot()
            let backend = await state.backend.status()
            let queueOpen = admission.active < admission.maxActive || admission.queueDepth < admission.maxQueueDepth
            let shuttingDown = state.drain.isDraining
            let ready = backend.ready && queueOpen && !shuttingDown
            var response = Response.json(
                ["ready": .bool(ready),
                 "conditions": ["backend_ready": .bool(backend.ready), "queue_available": .bool(queueOpen),
                                "shutting_down": .bool(shuttingDown)],
                 "slots_available": JSONValue(max(0, admission.maxActive - admission.active))],
                status: ready ? 200 : 503)
            if !ready {
                response.headers[.retryAfter] = String(shuttingDown ? APIError.shuttingDown.retryAfter ?? 5
                                                       : AdmissionController.retryAfterSeconds)
            }
            return response
        }
    }

    /// A model as the API lists it, with the sampling defaults a request to it gets for what it leaves out, and where
    /// each comes from (`model`: its own files recommend it; `server`: the server's default).
    static func modelJSON(_ model: ModelInfo, serverDefaults: SamplingDefaults) -> JSONValue {
        if model.kind == .embedding {
            // Sampling means nothing to an encoder: it shows what it embeds into instead.
            return [
                "id": .string(model.id), "object": "model", "created": JSONValue(Int(model.created.timeIntervalSince1970)),
                "owned_by": .string(model.ownedBy), "context_length": model.contextLength.map { JSONValue($0) } ?? .null,
                "input_modalities": .array(model.inputModalities.map(JSONValue.string)), "loaded": .bool(model.loaded),
                "kind": "embedding", "embedding_dimension": model.embeddingDimension.map { JSONValue($0) } ?? .null,
            ]
        }
        let recommended = Set(model.recommendedSampling.fields.map(\.name))
        let effective = model.recommendedSampling.filled(from: serverDefaults)
        return [
            "kind": "generation",
            "id": .string(model.id), "object": "model", "created": JSONValue(Int(model.created.timeIntervalSince1970)),
            "owned_by": .string(model.ownedBy), "context_length": model.contextLength.map { JSONValue($0) } ?? .null,
            "input_modalities": .array(model.inputModalities.map(JSONValue.string)), "loaded": .bool(model.loaded),
            "defaults": effective.json,
            "defaults_source": .object(Dictionary(uniqueKeysWithValues: effective.fields.map {
                ($0.name, JSONValue.string(recommended.contains($0.name) ? "model" : "server"))
            })),
        ]
    }
}

/// The admin port: status, load/unload, health, queue, capabilities and Prometheus metrics.
enum AdminRoutes {
    static func register(on router: Router<APIRequestContext>, state: ServerState) {
        router.get("/admin/status") { _, _ in
            let backend = await state.backend.status()
            return Response.json([
                "status": "running", "version": .string(ServerOptions.version),
                "uptime_seconds": JSONValue(state.uptimeSeconds),
                "models": .array(backend.models.map(statusJSON)),
                "worker_restarts": JSONValue(backend.workerRestarts),
                "config": state.options.configSummary,
            ])
        }
        router.post("/admin/load") { request, _ in
            let model = try await modelParameter(request, state: state)
            let started = ContinuousClock.now
            try await state.backend.load(model: model)
            let elapsed = ContinuousClock.now - started
            return Response.json(["status": "success", "model": .string(model),
                                  "load_seconds": .number(Double(elapsed.components.seconds)
                                      + Double(elapsed.components.attoseconds) * 1e-18)])
        }
        router.post("/admin/pull") { request, _ in
            var fields = try RequestFields(try await request.jsonBody(limit: 64 * 1024))
            guard let spec = try fields.string("model"), !spec.isEmpty else {
                throw APIError.invalid("'model' is required: ORG/NAME or ORG/NAME:FILE-OR-QUANT", param: "model",
                                       code: "missing_required_parameter")
            }
            let stream = try fields.bool("stream") ?? true
            try fields.finish()
            return try await PullRoute.respond(spec, stream: stream, backend: state.backend, logger: state.logger)
        }
        router.post("/admin/reload") { _, _ in
            do throws(BackendError) {
                let names = try await state.backend.reloadPresets()
                state.logger.notice("presets reloaded: \(names.count) preset(s)")
                return Response.json(["status": "reloaded", "presets": .array(names.map(JSONValue.string))])
            } catch {
                throw APIError(error)
            }
        }
        router.post("/admin/unload") { request, _ in
            let model = try await modelParameter(request, state: state)
            try await state.backend.unload(model: model)
            return Response.json(["status": "success", "model_unloaded": .string(model)])
        }
        router.get("/admin/health") { _, _ in
            let backend = await state.backend.status()
            return Response.json(["status": .string(backend.ready ? "healthy" : "degraded"),
                                  "version": .string(ServerOptions.version)])
        }
        router.get("/admin/queue") { _, _ in
            let queue = await state.admission.snapshot()
            return Response.json([
                "enabled": true, "active_slots": JSONValue(queue.active), "max_slots": JSONValue(queue.maxActive),
                "queue_depth": JSONValue(queue.queueDepth), "max_queue_depth": JSONValue(queue.maxQueueDepth),
                "utilization": .number(Double(queue.active) / Double(max(1, queue.maxActive))),
                "waiting_by_priority": .object(Dictionary(uniqueKeysWithValues: Priority.allCases.map {
                    ($0.name, JSONValue(queue.queued[$0] ?? 0))
                })),
                "totals": ["enqueued": JSONValue(queue.totalEnqueued), "completed": JSONValue(queue.totalCompleted),
                           "timeouts": JSONValue(queue.totalTimeouts), "rejected": JSONValue(queue.totalRejected)],
                "avg_wait_time_ms": .number(queue.averageWaitSeconds * 1000),
            ])
        }
        router.get("/admin/capabilities") { _, _ in
            let models = await state.backend.listModels()
            return Response.json(["models": .array(models.map { model in
                ["id": .string(model.id), "capabilities": [
                    "text": .bool(model.inputModalities.contains("text")),
                    "vision": .bool(model.inputModalities.contains("image")),
                ], "detection_method": "model_metadata"]
            })])
        }
        router.get("/metrics") { _, _ in
            state.metrics.observe(admission: await state.admission.snapshot(), backend: await state.backend.status())
            return Response(
                status: .ok, headers: [.contentType: "text/plain; version=0.0.4; charset=utf-8"],
                body: ResponseBody(byteBuffer: ByteBuffer(string: state.metrics.exposition())))
        }
    }

    /// `{"model": id}` in a JSON body, or the original server's `?model_path=id`.
    private static func modelParameter(_ request: Request, state: ServerState) async throws -> String {
        if let query = request.uri.queryParameters.get("model_path") ?? request.uri.queryParameters.get("model") {
            guard !query.isEmpty else { throw APIError.invalid("'model_path' is empty", param: "model_path") }
            return query
        }
        var fields = try RequestFields(try await request.jsonBody(limit: state.options.maxBodyBytes))
        guard let model = try fields.string("model"), !model.isEmpty else {
            throw APIError.invalid("send {\"model\": \"<id>\"} or ?model_path=<id>", param: "model",
                                   code: "missing_required_parameter")
        }
        try fields.finish()
        return model
    }

    static func statusJSON(_ model: ModelStatus) -> JSONValue {
        ["id": .string(model.id), "state": .string(model.state),
         "pid": model.pid.map { JSONValue(Int($0)) } ?? .null,
         "rss_bytes": model.rssBytes.map { JSONValue.integer(Int64(clamping: $0)) } ?? .null,
         "requests_in_flight": JSONValue(model.inFlight),
         "load_progress": model.loadProgress.map { JSONValue.number(($0 * 1000).rounded() / 1000) } ?? .null,
         "loaded_since": model.loadedSince.map { .string(ISO8601DateFormatter().string(from: $0)) } ?? .null,
         "queued_in_worker": model.load.map { JSONValue(Int($0.waiting)) } ?? .null,
         "kv_cache_type": model.kvCacheType.map { .string($0.rawValue) } ?? .null,
         "kv_positions": model.load.map { load in
             ["used": .integer(Int64(clamping: load.kvPositionsUsed)), "free": .integer(Int64(clamping: load.kvPositionsFree)),
              "capacity": .integer(Int64(clamping: load.kvPositionsCapacity)),
              "cached": .integer(Int64(clamping: load.kvPositionsCached))]
         } ?? .null]
    }
}
