import Foundation
import HTTPTypes
import Hummingbird
import struct Sampling.SamplingDefaults
import struct WorkerProtocol.EmbedRequest

/// Ollama's routes on the API port (see `OllamaAPI`): generation goes through `GenerationHandler` like every other
/// generation route; embeddings through `EmbeddingRoutes.run`; the listing routes describe the catalog.
enum OllamaRoutes {
    static func register(on router: Router<APIRequestContext>, state: ServerState) {
        let handler = state.generationHandler
        router.post("/api/chat") { request, context in
            try await context.cancellingOnDisconnect { try await handler.handle(request, endpoint: .ollamaChat) }
        }
        router.post("/api/generate") { request, context in
            try await context.cancellingOnDisconnect { try await handler.handle(request, endpoint: .ollamaGenerate) }
        }
        router.post("/api/embed") { request, context in
            let arrival = ContinuousClock.now
            try state.takeRateToken()
            let (parsed, name, ignored) = try embedRequest(try await request.jsonBody(limit: state.options.maxBodyBytes))
            let (vectors, _, promptTokens) = try await EmbeddingRoutes.run(
                parsed, request: request, context: context, state: state, arrival: arrival, endpoint: "/api/embed")
            let body: JSONValue = [
                "model": .string(name),
                "embeddings": .array(vectors.map { .array($0.vector.map { JSONValue.number(Double($0)) }) }),
                "total_duration": .integer((ContinuousClock.now - arrival).nanoseconds),
                "load_duration": 0, "prompt_eval_count": JSONValue(promptTokens)]
            var response = Response.json(body)
            if !ignored.isEmpty, let header = HTTPField.Name(OllamaAPI.ignoredHeader) {
                response.headers[header] = ignored.joined(separator: ", ")
            }
            return response
        }
        router.get("/api/version") { _, _ in
            Response.json(["version": .string(OllamaAPI.apiVersion)])
        }
        router.get("/api/tags") { _, _ in
            let models = await state.backend.listModels()
            return Response.json(["models": .array(models.map { summary($0) })])
        }
        router.get("/api/ps") { _, _ in
            let status = await state.backend.status()
            var running: [JSONValue] = []
            for model in status.models where model.pid != nil {
                guard let info = await state.backend.model(model.id) else { continue }
                guard case .object(var entry) = summary(info) else { continue }
                entry["size"] = .integer(Int64(clamping: model.rssBytes ?? 0))
                entry["size_vram"] = 0
                entry["context_length"] = info.contextLength.map { JSONValue($0) } ?? .null
                running.append(.object(entry))
            }
            return Response.json(["models": .array(running)])
        }
        router.post("/api/show") { request, _ in
            var fields = try RequestFields(try await request.jsonBody(limit: state.options.maxBodyBytes))
            guard let name = try fields.string("model") ?? fields.string("name"), !name.isEmpty else {
                throw APIError.invalid("'model' is required", param: "model", code: "missing_required_parameter")
            }
            _ = try fields.bool("verbose")
            try fields.finish()
            guard let info = await state.backend.model(OllamaAPI.modelID(name)) else {
                throw APIError(BackendError.modelNotFound(name))
            }
            return Response.json(show(info, name: name, serverDefaults: state.options.sampling))
        }
    }

    /// `/api/embed`: `input` a string or a list of strings; `truncate` defaults to true, as in Ollama.
    static func embedRequest(_ body: JSONValue) throws(APIError) -> (EmbeddingRoutes.Parsed, String, [String]) {
        var fields = try RequestFields(body)
        guard let name = try fields.string("model"), !name.isEmpty else {
            throw APIError.invalid("'model' is required", param: "model", code: "missing_required_parameter")
        }
        let input = try fields.require("input")
        if case .array(let items) = input, items.contains(where: { if case .string = $0 { false } else { true } }) {
            throw APIError.wrongType("input", expected: "a string or a list of strings", got: input)
        }
        let inputs = try EmbeddingRoutes.inputList(input)
        let truncate = try fields.bool("truncate") ?? true
        let dimensions = try fields.int("dimensions", in: 1...65_536)
        var ignored: [String] = []
        if fields.take("keep_alive") != nil { ignored.append("keep_alive") }
        if let options = fields.take("options"), options != .null {
            var o = try RequestFields(options, name: "options")
            for key in OllamaAPI.ignoredOptions.sorted() where o.take(key) != nil { ignored.append(key) }
            try o.finish()
        }
        try fields.finish()
        return (EmbeddingRoutes.Parsed(model: OllamaAPI.modelID(name), request: EmbedRequest(inputs: inputs, truncate: truncate),
                                       base64: false, dimensions: dimensions), name, ignored)
    }

    /// A model as `/api/tags` lists it.
    static func summary(_ info: ModelInfo) -> JSONValue {
        let family = info.architecture ?? ""
        return [
            "name": .string(info.id), "model": .string(info.id),
            "modified_at": OllamaAPI.timestamp(info.created),
            "size": .integer(info.sizeBytes ?? 0),
            "details": ["parent_model": "", "format": .string(info.format ?? ""), "family": .string(family),
                        "families": family.isEmpty ? .null : [.string(family)],
                        "parameter_size": "", "quantization_level": ""],
        ]
    }

    /// `/api/show`: what the model is and does, and the sampling values a request to it gets by default.
    static func show(_ info: ModelInfo, name: String, serverDefaults: SamplingDefaults) -> JSONValue {
        var capabilities: [JSONValue] = info.kind == .embedding ? ["embedding"] : ["completion", "tools"]
        if info.inputModalities.contains("image") { capabilities.append("vision") }
        let defaults = info.recommendedSampling.filled(from: serverDefaults)
        var parameters: [String] = []
        if let v = defaults.temperature { parameters.append("temperature \(v)") }
        if let v = defaults.topK { parameters.append("top_k \(v)") }
        if let v = defaults.topP { parameters.append("top_p \(v)") }
        if let v = defaults.minP { parameters.append("min_p \(v)") }
        if let v = defaults.repetitionPenalty { parameters.append("repeat_penalty \(v)") }
        if let v = defaults.maxTokens { parameters.append("num_predict \(v)") }
        let architecture = info.architecture ?? ""
        var modelInfo: [String: JSONValue] = ["general.architecture": .string(architecture)]
        if !architecture.isEmpty {
            if let context = info.contextLength { modelInfo["\(architecture).context_length"] = JSONValue(context) }
            if let width = info.embeddingDimension { modelInfo["\(architecture).embedding_length"] = JSONValue(width) }
        }
        guard case .object(let summary) = summary(info) else { return .null }
        return [
            "modelfile": "", "template": "", "license": "",
            "parameters": .string(parameters.joined(separator: "\n")),
            "details": summary["details"] ?? .null,
            "model_info": .object(modelInfo),
            "capabilities": .array(capabilities),
            "modified_at": OllamaAPI.timestamp(info.created),
        ]
    }
}
