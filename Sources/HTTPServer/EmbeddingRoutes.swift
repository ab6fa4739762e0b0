import Foundation
import Hummingbird
import enum WorkerProtocol.EmbeddingInput
import struct WorkerProtocol.EmbedRequest
import struct WorkerProtocol.Embedding

/// `POST /v1/embeddings` (OpenAI's embeddings API) for embedding models (text encoders).
///
/// It takes the same path as generation: rate limit, body limit, drain check, model check, an admission slot held
/// until the answer is written, and the request timeout; a client that goes away cancels the work in the worker.
/// Token counts go to the same prompt-token metric.
public enum EmbeddingRoutes {
    /// OpenAI's per-request limit on inputs.
    static let maxInputs = 2048

    /// What the body asks for, checked.
    public struct Parsed: Sendable {
        var model: String
        var request: EmbedRequest
        var base64: Bool
        var dimensions: Int?
    }

    static func register(on router: Router<APIRequestContext>, state: ServerState) {
        router.post("/v1/embeddings") { request, context in
            let arrival = ContinuousClock.now
            try state.takeRateToken()
            let parsed = try parse(try await request.jsonBody(limit: state.options.maxBodyBytes))
            let (vectors, info, promptTokens) = try await run(parsed, request: request, context: context, state: state,
                                                              arrival: arrival, endpoint: "/v1/embeddings")
            return Response(status: .ok, headers: [.contentType: "application/json"],
                            body: ResponseBody(byteBuffer: ByteBuffer(string: render(vectors, model: info.id,
                                                                                     promptTokens: promptTokens,
                                                                                     base64: parsed.base64))))
        }
    }

    /// The embedding path every embeddings route takes once its body is parsed: drain check, model check, an
    /// admission slot held until the vectors are back, the request timeout, cancellation when the client goes away,
    /// the token and latency metrics.
    static func run(_ parsed: Parsed, request: Request, context: APIRequestContext, state: ServerState,
                    arrival: ContinuousClock.Instant, endpoint: String) async throws
        -> (vectors: [Embedding], info: ModelInfo, promptTokens: Int)
    {
        if state.drain.isDraining {
            state.metrics.rejection(reason: "shutting_down")
            throw APIError.shuttingDown
        }
        guard let info = await state.backend.model(parsed.model) else {
            throw APIError(BackendError.modelNotFound(parsed.model))
        }
        try check(parsed, against: info)
        let slot: AdmissionSlot
        do {
            slot = try await state.admission.acquire(priority: Priority(header: request.headers[.xPriority]))
        } catch let error as APIError {
            state.metrics.rejection(reason: error.code ?? "admission")
            throw error
        }
        let left = ContinuousClock.now.duration(to: arrival + state.options.requestTimeout)
        let timeout = max(0.001, Double(left.components.seconds) + Double(left.components.attoseconds) * 1e-18)
        let vectors: [Embedding]
        do {
            vectors = try await context.cancellingOnDisconnect { [backend = state.backend] in
                do throws(BackendError) {
                    return try await backend.embed(model: info.id, parsed.request, timeout: timeout)
                } catch {
                    throw APIError(error)
                }
            }
        } catch {
            await slot.release()
            throw error
        }
        await slot.release()
        if let dimensions = parsed.dimensions, let first = vectors.first, first.vector.count != dimensions {
            throw APIError.invalid(cannotShorten(info.id, first.vector.count), param: "dimensions",
                                   code: "unsupported_dimensions")
        }
        let promptTokens = vectors.reduce(0) { $0 + Int($1.promptTokens) }
        state.metrics.tokens(prompt: promptTokens, generated: 0, cachedPrompt: 0)
        state.metrics.requestDuration(endpoint: endpoint, ContinuousClock.now - arrival)
        return (vectors, info, promptTokens)
    }

    /// The body's fields; every input shape OpenAI accepts, and nothing silently ignored.
    public static func parse(_ body: JSONValue) throws(APIError) -> Parsed {
        var fields = try RequestFields(body)
        guard case .string(let model)? = fields.take("model"), !model.isEmpty else {
            throw APIError.invalid("'model' is required: the id of an embedding model (GET /v1/models lists them)",
                                   param: "model", code: "missing_required_parameter")
        }
        let inputs = try inputList(try fields.require("input"))
        var base64 = false
        if let format = try fields.string("encoding_format") {
            switch format {
            case "float": base64 = false
            case "base64": base64 = true
            default: throw APIError.invalid("'encoding_format' must be \"float\" or \"base64\"", param: "encoding_format")
            }
        }
        let dimensions = try fields.int("dimensions", in: 1...65_536)
        let truncate = try fields.bool("truncate") ?? false
        _ = try fields.string("user")  // An end-user id for abuse monitoring upstream; nothing to do with it here.
        try fields.finish()
        return Parsed(model: model, request: EmbedRequest(inputs: inputs, truncate: truncate), base64: base64,
                      dimensions: dimensions)
    }

    /// `input`: a string, a list of strings, a list of token ids (one input), or a list of token-id lists.
    static func inputList(_ value: JSONValue) throws(APIError) -> [EmbeddingInput] {
        func text(_ item: JSONValue, _ param: String) throws(APIError) -> EmbeddingInput {
            guard case .string(let s) = item else {
                throw APIError.wrongType(param, expected: "a string", got: item)
            }
            guard !s.isEmpty else { throw APIError.invalid("'\(param)' is an empty string", param: param) }
            return .text(s)
        }
        func tokens(_ items: [JSONValue], _ param: String) throws(APIError) -> EmbeddingInput {
            guard !items.isEmpty else { throw APIError.invalid("'\(param)' is an empty list of tokens", param: param) }
            var ids: [Int32] = []
            ids.reserveCapacity(items.count)
            for (index, item) in items.enumerated() {
                ids.append(Int32(try RequestFields.integer(item, param: "\(param)[\(index)]", in: 0...Int64(Int32.max))))
            }
            return .tokens(ids)
        }
        switch value {
        case .string:
            return [try text(value, "input")]
        case .array(let items):
            guard let first = items.first else { throw APIError.invalid("'input' is an empty list", param: "input") }
            guard items.count <= maxInputs else {
                throw APIError.invalid("'input' has \(items.count) items; at most \(maxInputs) are allowed per request",
                                       param: "input")
            }
            switch first {
            case .integer:
                return [try tokens(items, "input")]
            case .array:
                var result: [EmbeddingInput] = []
                for (index, item) in items.enumerated() {
                    guard case .array(let ids) = item else {
                        throw APIError.wrongType("input[\(index)]", expected: "a list of token ids, like input[0]", got: item)
                    }
                    result.append(try tokens(ids, "input[\(index)]"))
                }
                return result
            default:
                var result: [EmbeddingInput] = []
                for (index, item) in items.enumerated() { result.append(try text(item, "input[\(index)]")) }
                return result
            }
        default:
            throw APIError.wrongType("input", expected: "a string, a list of strings or a list of token ids", got: value)
        }
    }

    /// A generation model is refused here, and `dimensions` other than the model's own (it cannot shorten them).
    static func check(_ parsed: Parsed, against info: ModelInfo) throws(APIError) {
        guard info.kind == .embedding else {
            throw APIError.invalid("model '\(info.id)' generates text; /v1/embeddings needs an embedding model "
                + "(GET /v1/models shows each model's \"kind\")", param: "model", code: "model_not_embedding")
        }
        if let dimensions = parsed.dimensions, let own = info.embeddingDimension, dimensions != own {
            throw APIError.invalid(cannotShorten(info.id, own), param: "dimensions", code: "unsupported_dimensions")
        }
    }

    static func cannotShorten(_ model: String, _ own: Int) -> String {
        "model '\(model)' produces \(own)-dimensional embeddings and cannot shorten them (it was not trained for "
            + "truncated, Matryoshka-style vectors); leave out 'dimensions' or send \(own)"
    }

    /// OpenAI's response, written directly: thousands of floats go through no intermediate tree, each in its
    /// shortest round-trip form (or, for base64, as little-endian float32 bytes).
    static func render(_ vectors: [Embedding], model: String, promptTokens: Int, base64: Bool) -> String {
        var out = "{\"object\":\"list\",\"data\":["
        out.reserveCapacity(vectors.count * (base64 ? 2100 : 4200))
        for (index, embedding) in vectors.enumerated() {
            if index > 0 { out += "," }
            out += "{\"object\":\"embedding\",\"index\":\(index),\"embedding\":"
            if base64 {
                var bytes = [UInt8]()
                bytes.reserveCapacity(embedding.vector.count * 4)
                for value in embedding.vector {
                    let bits = value.bitPattern.littleEndian
                    withUnsafeBytes(of: bits) { bytes.append(contentsOf: $0) }
                }
                out += "\"" + Data(bytes).base64EncodedString() + "\""
            } else {
                out += "["
                for (i, value) in embedding.vector.enumerated() {
                    if i > 0 { out += "," }
                    out += value.isFinite ? value.description : "null"
                }
                out += "]"
            }
            out += "}"
        }
        out += "],\"model\":" + JSONValue.string(model).serialized
        out += ",\"usage\":{\"prompt_tokens\":\(promptTokens),\"total_tokens\":\(promptTokens)}}"
        return out
    }
}
