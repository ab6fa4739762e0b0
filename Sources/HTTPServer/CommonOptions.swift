import struct Sampling.SamplingDefaults

/// Options shared by chat and completions: sampling, limits, stop sequences, choices, output format, streaming.
struct CommonOptions {
    var sampling = SamplingParameters()
    /// The defaultable values the body itself set; the rest come from the model or the server once the model is known
    /// (`ParsedRequest.applyDefaults`).
    var explicit = SamplingDefaults()
    var maxTokens: Int?
    var stop: [String] = []
    var n = 1
    var logprobs: Int?
    var echo = false
    var responseFormat = ResponseFormat.text
    var stream = false
    var includeUsage = false

    static let maxTokensLimit: Int64 = 1 << 24

    init(_ fields: inout RequestFields, endpoint: ParsedRequest.Endpoint) throws(APIError) {
        explicit.temperature = try fields.double("temperature", in: 0...2)
        explicit.topP = try fields.double("top_p", in: 0...1)
        explicit.topK = try fields.int("top_k", in: 0...1_000_000)
        explicit.minP = try fields.double("min_p", in: 0...1)
        sampling.presencePenalty = try fields.double("presence_penalty", in: -2...2) ?? 0
        sampling.frequencyPenalty = try fields.double("frequency_penalty", in: -2...2) ?? 0
        if let penalty = try fields.double("repetition_penalty", in: 0...10) {
            guard penalty > 0 else { throw APIError.outOfRange("repetition_penalty", "greater than 0 and at most 10") }
            explicit.repetitionPenalty = penalty
        }
        // Until the model's and the server's defaults are applied, unset values are OpenAI's neutral ones.
        sampling.temperature = explicit.temperature ?? 1.0
        sampling.topP = explicit.topP ?? 1.0
        sampling.topK = explicit.topK ?? 0
        sampling.minP = explicit.minP ?? 0
        sampling.repetitionPenalty = explicit.repetitionPenalty ?? 1.0
        if let seed = try fields.int("seed", in: Int64.min...Int64.max) {
            sampling.seed = UInt64(bitPattern: Int64(seed))
        }
        if let bias = fields.take("logit_bias") {
            sampling.logitBias = try Self.logitBias(bias)
        }
        _ = try fields.string("user")  // Accepted for compatibility; identifies end users to OpenAI, meaningless here.
        // OpenAI's cache-routing hint. The prefix cache needs no key (it matches tokens), but a balancer in front of
        // replicas hashes it to keep a conversation on the replica that holds its prefix (deploy/README.md).
        _ = try fields.string("prompt_cache_key")

        // 0 is allowed on completions: with `echo` and `logprobs` it scores the prompt without generating, which is
        // how evaluation harnesses (lm-evaluation-harness) compute loglikelihoods.
        let maxTokens = try fields.int("max_tokens", in: (endpoint == .completions ? 0 : 1)...Self.maxTokensLimit)
        let maxCompletionTokens = endpoint == .chat
            ? try fields.int("max_completion_tokens", in: 1...Self.maxTokensLimit) : nil
        if let maxTokens, let maxCompletionTokens, maxTokens != maxCompletionTokens {
            throw APIError.invalid("'max_tokens' and 'max_completion_tokens' disagree; send only one",
                                   param: "max_completion_tokens")
        }
        // Chat without a limit takes the model's or the server's default later; completions keep OpenAI's (and
        // vLLM's) documented 16, which clients of that legacy endpoint are written against.
        self.maxTokens = maxCompletionTokens ?? maxTokens
            ?? (endpoint == .completions ? RequestParser.completionsDefaultMaxTokens : nil)

        if let stop = fields.take("stop") {
            self.stop = try Self.stopSequences(stop)
        }
        n = try fields.int("n", in: 1...RequestParser.maxChoices) ?? 1
        if let format = fields.take("response_format") {
            responseFormat = try Self.responseFormat(format)
        }
        stream = try fields.bool("stream") ?? false
        if let options = fields.take("stream_options") {
            guard stream else {
                throw APIError.invalid("'stream_options' is only allowed when 'stream' is true", param: "stream_options")
            }
            var nested = try RequestFields(options, name: "stream_options")
            includeUsage = try nested.bool("include_usage") ?? false
            try nested.finish(unsupported: ["include_obfuscation"])
        }
    }

    func request(id: String, model: String, input: GenerationInput, priority: Priority) -> GenerationRequest {
        GenerationRequest(
            id: id, model: model, input: input, sampling: sampling, maxTokens: maxTokens, stop: stop, n: n,
            logprobs: logprobs, echo: echo, responseFormat: responseFormat, priority: priority)
    }

    private static func stopSequences(_ value: JSONValue) throws(APIError) -> [String] {
        let items: [JSONValue]
        switch value {
        case .string: items = [value]
        case let .array(array): items = array
        default: throw APIError.wrongType("stop", expected: "a string or an array of strings", got: value)
        }
        guard items.count <= RequestParser.maxStopSequences else {
            throw APIError.outOfRange("stop", "at most \(RequestParser.maxStopSequences) sequences")
        }
        var result: [String] = []
        for (index, item) in items.enumerated() {
            guard case let .string(text) = item else {
                throw APIError.wrongType("stop[\(index)]", expected: "a string", got: item)
            }
            guard !text.isEmpty else { throw APIError.outOfRange("stop", "non-empty strings") }
            result.append(text)
        }
        return result
    }

    private static func logitBias(_ value: JSONValue) throws(APIError) -> [Int32: Double] {
        guard case let .object(entries) = value else {
            throw APIError.wrongType("logit_bias", expected: "an object of token id → bias", got: value)
        }
        guard entries.count <= 1024 else { throw APIError.outOfRange("logit_bias", "at most 1024 entries") }
        var bias: [Int32: Double] = [:]
        for (key, number) in entries {
            guard let token = Int32(key), token >= 0 else {
                throw APIError.invalid("'logit_bias' keys must be token ids (non-negative integers), got '\(key.prefix(40))'",
                                       param: "logit_bias")
            }
            let amount: Double
            switch number {
            case let .integer(v): amount = Double(v)
            case let .number(v): amount = v
            default: throw APIError.wrongType("logit_bias[\(key)]", expected: "a number", got: number)
            }
            guard (-100...100).contains(amount) else { throw APIError.outOfRange("logit_bias", "between -100 and 100") }
            bias[token] = amount
        }
        return bias
    }

    private static func responseFormat(_ value: JSONValue) throws(APIError) -> ResponseFormat {
        var fields = try RequestFields(value, name: "response_format")
        let format: ResponseFormat
        switch try fields.string("type") {
        case "text"?: format = .text
        case "json_object"?: format = .jsonObject
        case "json_schema"?:
            guard let spec = fields.take("json_schema") else {
                throw APIError.invalid("'response_format.json_schema' is required for type json_schema",
                                       param: "response_format.json_schema")
            }
            var schemaFields = try RequestFields(spec, name: "response_format.json_schema")
            guard let name = try schemaFields.string("name"), !name.isEmpty, name.count <= 64,
                  name.allSatisfy({ $0.isASCII && ($0.isLetter || $0.isNumber || $0 == "_" || $0 == "-") })
            else {
                throw APIError.invalid("'response_format.json_schema.name' is required: 1–64 of a-z, A-Z, 0-9, _ and -",
                                       param: "response_format.json_schema.name")
            }
            _ = try schemaFields.string("description")
            let strict = try schemaFields.bool("strict") ?? false
            guard let schema = schemaFields.take("schema") else {
                throw APIError.invalid("'response_format.json_schema.schema' is required",
                                       param: "response_format.json_schema.schema")
            }
            guard case .object = schema else {
                throw APIError.wrongType("response_format.json_schema.schema", expected: "an object", got: schema)
            }
            let text = schema.serialized
            guard text.utf8.count <= RequestParser.maxSchemaBytes else {
                throw APIError.outOfRange("response_format.json_schema.schema",
                                          "at most \(RequestParser.maxSchemaBytes) bytes of JSON")
            }
            guard schema.depth <= RequestParser.maxSchemaDepth else {
                throw APIError.outOfRange("response_format.json_schema.schema",
                                          "nested at most \(RequestParser.maxSchemaDepth) levels deep")
            }
            try schemaFields.finish()
            format = .jsonSchema(name: name, schema: text, strict: strict)
        case let other?:
            throw APIError.outOfRange("response_format.type", "one of text, json_object, json_schema (got '\(other.prefix(40))')")
        case nil:
            throw APIError.invalid("'response_format.type' is required", param: "response_format.type")
        }
        try fields.finish()
        return format
    }
}
