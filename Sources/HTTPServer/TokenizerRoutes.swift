import Hummingbird
import enum WorkerProtocol.TokenizerRequest
import struct WorkerProtocol.TokenizerReply

/// `POST /tokenize` and `POST /detokenize` (llama-server's names and fields), answered with the model's own
/// tokenizer in its worker, the one its prompts go through; the model is loaded if it is not.
///
/// They pass through authentication, metrics, the body limit and the request timeout like every API route, but not
/// the admission queue: they take no decode slot (the worker's request reader answers them without waiting for the
/// batch), and a token counter should not queue behind long generations.
enum TokenizerRoutes {
    static let defaultModel = "default"

    static func register(on router: Router<APIRequestContext>, state: ServerState) {
        router.post("/tokenize") { request, _ in
            var fields = try RequestFields(try await request.jsonBody(limit: state.options.maxBodyBytes))
            let model = try modelField(&fields)
            let content = try fields.require("content")
            guard case .string(let text) = content else {
                throw APIError.wrongType("content", expected: "a string", got: content)
            }
            let addSpecial = try fields.bool("add_special") ?? true
            let parseSpecial = try fields.bool("parse_special") ?? true
            let withPieces = try fields.bool("with_pieces") ?? false
            try fields.finish()
            let (id, reply) = try await run(state, model: model,
                                            .tokenize(text: text, addSpecial: addSpecial, parseSpecial: parseSpecial))
            let tokens: [JSONValue] = withPieces
                ? zip(reply.tokens, reply.pieces).map { id, piece in ["id": JSONValue(Int(id)), "piece": pieceJSON(piece)] }
                : reply.tokens.map { JSONValue(Int($0)) }
            return Response.json(["model": .string(id), "tokens": .array(tokens)])
        }
        router.post("/detokenize") { request, _ in
            var fields = try RequestFields(try await request.jsonBody(limit: state.options.maxBodyBytes))
            let model = try modelField(&fields)
            let value = try fields.require("tokens")
            guard case .array(let items) = value else {
                throw APIError.wrongType("tokens", expected: "an array of token ids", got: value)
            }
            var ids: [Int32] = []
            ids.reserveCapacity(items.count)
            for (index, item) in items.enumerated() {
                ids.append(Int32(try RequestFields.integer(item, param: "tokens[\(index)]", in: 0...Int64(Int32.max))))
            }
            try fields.finish()
            let (id, reply) = try await run(state, model: model, .detokenize(tokens: ids))
            return Response.json(["model": .string(id), "content": .string(reply.text)])
        }
    }

    /// `model` is optional here (llama-server serves one model): absent means the default model.
    private static func modelField(_ fields: inout RequestFields) throws(APIError) -> String {
        guard let value = fields.take("model") else { return defaultModel }
        guard case .string(let model) = value, !model.isEmpty else {
            throw APIError.wrongType("model", expected: "a non-empty string", got: value)
        }
        return model
    }

    /// The model's own id (aliases resolved, as responses name it) and the reply.
    private static func run(_ state: ServerState, model: String, _ request: TokenizerRequest) async throws
        -> (String, TokenizerReply)
    {
        guard let info = await state.backend.model(model) else { throw APIError(BackendError.modelNotFound(model)) }
        let timeout = Double(state.options.requestTimeout.components.seconds)
            + Double(state.options.requestTimeout.components.attoseconds) * 1e-18
        do {
            return (info.id, try await state.backend.tokenizer(model: info.id, request, timeout: timeout))
        } catch {
            throw APIError(error)
        }
    }

    /// A piece as text when it is whole UTF-8, otherwise its bytes (a token can hold part of a character), as
    /// llama-server does.
    static func pieceJSON(_ piece: [UInt8]) -> JSONValue {
        if let text = String(validating: piece, as: UTF8.self) { return .string(text) }
        return .array(piece.map { JSONValue(Int($0)) })
    }
}
