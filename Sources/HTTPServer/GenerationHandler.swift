import Foundation
import HTTPTypes
import Hummingbird
import Logging

/// Runs one chat or completions request: rate limit → parse → model check → admission → backend → response.
/// The admission slot is held until the last byte of the response (streamed or not) and released exactly once.
struct GenerationHandler: Sendable {
    let backend: any InferenceBackend
    let options: ServerOptions
    let admission: AdmissionController
    let rateLimiter: RateLimiter?
    let metrics: ServerMetrics
    let logger: Logger
    let drain: ShutdownDrain
    let responses: ResponseStore

    func handle(_ request: Request, endpoint: ParsedRequest.Endpoint) async throws -> Response {
        let arrival = ContinuousClock.now
        if let rateLimiter {
            do {
                try rateLimiter.take()
            } catch {
                metrics.rejection(reason: "rate_limited")
                throw error
            }
        }
        let (body, text) = try await request.jsonDocument(limit: options.maxBodyBytes)
        // Refused after the body is read: answering before it would reset a connection that is still sending.
        if drain.isDraining {
            metrics.rejection(reason: "shutting_down")
            throw APIError.shuttingDown
        }
        let priority = Priority(header: request.headers[.xPriority])
        let prefix: String
        switch endpoint {
        case .chat: prefix = "chatcmpl-"
        case .completions: prefix = "cmpl-"
        case .messages, .countTokens: prefix = "msg_"
        case .responses: prefix = "resp_"
        case .ollamaChat, .ollamaGenerate: prefix = "ollama-"
        }
        let id = prefix + UUID().uuidString.replacingOccurrences(of: "-", with: "").lowercased()
        var parsed: ParsedRequest
        var responseOptions: ResponsesAPI.Options?
        var ollama: OllamaAPI.Parsed?
        switch endpoint {
        case .responses:
            let (p, o) = try await ResponsesAPI.parse(body, raw: text, id: id, priority: priority, store: responses)
            parsed = p
            responseOptions = o
        case .chat: parsed = try RequestParser.chat(body, raw: text, id: id, priority: priority)
        case .completions: parsed = try RequestParser.completions(body, id: id, priority: priority)
        case .messages: parsed = try AnthropicMessages.parse(body, raw: text, id: id, priority: priority)
        case .countTokens:
            parsed = try AnthropicMessages.parse(body, raw: text, id: id, priority: priority, countOnly: true)
        case .ollamaChat, .ollamaGenerate:
            let o = endpoint == .ollamaChat ? try OllamaAPI.chat(body, raw: text, id: id, priority: priority)
                : try OllamaAPI.generate(body, raw: text, id: id, priority: priority)
            parsed = o.request
            ollama = o
        }
        let ignoredKeywords = try ToolFields.unenforceable(parsed)
        let model = try await checkModel(parsed)
        if let ollama, ollama.loadOnly {
            // Ollama's preload: an empty prompt loads the model and answers at once.
            do throws(BackendError) { try await backend.load(model: model?.id ?? parsed.model) } catch { throw APIError(error) }
            return .json(["model": .string(ollama.name), "created_at": OllamaAPI.timestamp(), "response": "",
                          "done": true, "done_reason": "load"])
        }
        // What the body left out: the model's own recommendations, else the server's defaults.
        parsed.applyDefaults(model?.recommendedSampling.filled(from: options.sampling) ?? options.sampling)
        try await ImageInputs(limits: options.images).resolve(&parsed)

        let slot: AdmissionSlot
        do {
            slot = try await admission.acquire(priority: priority)
        } catch let error as APIError {
            metrics.rejection(reason: error.code ?? "admission")
            throw error
        }
        let deadline = arrival + options.requestTimeout
        for index in parsed.requests.indices { parsed.requests[index].deadline = deadline }

        var streams: [AsyncThrowingStream<GenerationEvent, any Error>] = []
        do {
            try Task.checkCancellation()
            for generation in parsed.requests { streams.append(try await backend.generate(generation)) }
        } catch {
            await slot.release()
            throw error
        }
        let renderer = ResponseRenderer(
            endpoint: endpoint, id: id, model: parsed.model, created: Int(Date().timeIntervalSince1970),
            logprobs: parsed.requests[0].logprobs, includeUsage: parsed.includeUsage)
        let pump = EventPump.run(streams, choicesPerPrompt: parsed.n,
                                 keepAlive: parsed.stream ? options.keepAliveInterval : nil, deadline: deadline)
        // A shutdown whose grace time is over ends what is still running; a request arriving after that is refused.
        guard let drainID = drain.register(pump) else {
            pump.stop()
            await slot.release()
            throw APIError.shuttingDown
        }
        let timing = GenerationTiming(arrival: arrival, endpoint: endpoint.rawValue, metrics: metrics)
        let created = Int(Date().timeIntervalSince1970)
        if parsed.stream {
            let stream: Response
            if let responseOptions {
                stream = responsesStreamingResponse(pump, id: id, model: parsed.model, created: created,
                                                    options: responseOptions, slot: slot, timing: timing,
                                                    drainID: drainID)
            } else if endpoint == .messages {
                stream = anthropicStreamingResponse(pump, id: id, model: parsed.model, slot: slot, timing: timing,
                                                    drainID: drainID)
            } else if let ollama {
                stream = noting(ignored: ollama.ignored, ollamaStreamingResponse(
                    pump, parsed: ollama, id: id, slot: slot, timing: timing, drainID: drainID))
            } else {
                stream = streamingResponse(pump, renderer: renderer, parsed: parsed, slot: slot, timing: timing,
                                           drainID: drainID)
            }
            return noting(ignoredKeywords, stream)
        }
        do {
            let (choices, usage) = try await collect(pump.items, renderer: renderer, timing: timing)
            let response: Response
            switch endpoint {
            case .chat, .completions: response = .json(renderer.response(choices: choices, usage: usage))
            case .messages:
                response = .json(AnthropicMessages.message(id: id, model: parsed.model, choice: choices[0] ?? .init(),
                                                           usage: usage))
            case .countTokens: response = .json(["input_tokens": JSONValue(usage.prompt)])
            case .ollamaChat, .ollamaGenerate:
                response = noting(ignored: ollama!.ignored, .json(OllamaAPI.answer(
                    ollama!, choice: choices[0] ?? .init(), usage: usage, timing: timing)))
            case .responses:
                let choice = choices[0] ?? .init()
                let options = responseOptions!
                let object = ResponsesAPI.object(id: id, model: parsed.model, created: created, options: options,
                                                 choice: choice, usage: usage,
                                                 status: ResponsesAPI.status(choice.finishReason))
                if options.store {
                    await responses.put(id, .init(object: object, conversation: options.conversation
                                                  + [ResponsesAPI.assistantTurn(choice)]))
                }
                response = .json(object)
            }
            pump.stop()
            drain.unregister(drainID)
            await slot.release()
            return noting(ignoredKeywords, response)
        } catch {
            pump.stop()
            drain.unregister(drainID)
            await slot.release()
            throw error
        }
    }

    /// The response with `X-ModelHost-Ignored-Schema-Keywords` when tool schemas have keywords calls are not held
    /// to (printable ASCII only: anything else in a path shows as `?`).
    private func noting(_ keywords: [String], _ response: Response) -> Response {
        guard !keywords.isEmpty, let name = HTTPField.Name(ToolFields.ignoredHeader) else { return response }
        var response = response
        let value = String(keywords.joined(separator: "; ").unicodeScalars.map {
            $0.isASCII && $0.value >= 0x20 && $0.value < 0x7F ? Character($0) : "?"
        })
        response.headers[name] = value
        return response
    }

    /// The response with `X-ModelHost-Ignored-Options` naming the Ollama options accepted without effect.
    private func noting(ignored: [String], _ response: Response) -> Response {
        guard !ignored.isEmpty, let name = HTTPField.Name(OllamaAPI.ignoredHeader) else { return response }
        var response = response
        response.headers[name] = ignored.joined(separator: ", ")
        return response
    }

    /// Unknown models are 404 before any slot is taken; images sent to a text-only model are 400. Returns the model
    /// (nil only for a `default` alias the backend resolves by itself later).
    private func checkModel(_ parsed: ParsedRequest) async throws -> ModelInfo? {
        guard let info = await backend.model(parsed.model) else {
            if parsed.model == "default" { return nil }  // The backend resolves its own alias.
            throw APIError(BackendError.modelNotFound(parsed.model))
        }
        guard info.kind == .generation else {
            throw APIError.invalid("model '\(info.id)' is an embedding model (a text encoder): it answers "
                + "/v1/embeddings, not text generation", param: "model", code: "model_not_generative")
        }
        guard !info.inputModalities.contains("image") else { return info }
        for request in parsed.requests {
            guard case let .chat(messages) = request.input else { continue }
            for (index, message) in messages.enumerated() {
                if message.content.contains(where: \.isImage) {
                    throw APIError.invalid("model '\(info.id)' accepts text only; remove the image parts",
                                           param: "messages[\(index)].content", code: "unsupported_modality")
                }
            }
        }
        return info
    }

    /// The whole answer: every choice's text, calls and reasoning, and the summed usage.
    private func collect(_ pump: AsyncStream<PumpItem>, renderer: ResponseRenderer, timing: GenerationTiming)
        async throws -> (choices: [Int: ResponseRenderer.Choice], usage: UsageTotals)
    {
        var choices: [Int: ResponseRenderer.Choice] = [:]
        var usage = UsageTotals()
        for await item in pump {
            switch item {
            case let .event(event):
                switch event {
                case let .prompt(text, index, logprobs):
                    choices[index, default: .init()].append(text, logprobs)
                case let .text(text, index, logprobs):
                    timing.text(index: index)
                    choices[index, default: .init()].append(text, logprobs)
                case let .toolCall(call, index):
                    timing.text(index: index)
                    choices[index, default: .init()].append(call)
                case let .reasoning(text, index):
                    timing.text(index: index)
                    choices[index, default: .init()].reasoning += text
                case let .finished(index, reason):
                    choices[index, default: .init()].finishReason = reason
                case let .usage(counts):
                    usage.add(counts)
                }
            case .tick:
                continue
            case let .failed(error, detail):
                if let detail { logger.error("generation \(renderer.id) failed: \(detail)") }
                throw error
            case .end:
                timing.finish(usage)
                return (choices, usage)
            }
        }
        throw CancellationError()
    }

    /// The Responses API's event stream; the finished response is stored like a whole one.
    private func responsesStreamingResponse(
        _ pump: Pump, id: String, model: String, created: Int, options: ResponsesAPI.Options, slot: AdmissionSlot,
        timing: GenerationTiming, drainID: Int
    ) -> Response {
        let logger = self.logger
        let store = self.responses
        return eventStream(pump, id: id, slot: slot, drainID: drainID) { sse in
            var events = ResponsesStream(id: id)
            var choice = ResponseRenderer.Choice()
            let running = ResponsesAPI.object(id: id, model: model, created: created, options: options, choice: nil,
                                              usage: nil, status: "in_progress")
            for (name, value) in events.started(running) { try await sse.event(name, value) }
            var usage = UsageTotals()
            loop: for await item in pump.items {
                var out: [(String, JSONValue)] = []
                switch item {
                case let .event(event):
                    switch event {
                    case let .text(text, index, _):
                        timing.text(index: index)
                        choice.text += text
                        if !text.isEmpty { out = events.text(text) }
                    case let .reasoning(text, index):
                        timing.text(index: index)
                        choice.reasoning += text
                        out = events.reasoning(text)
                    case let .toolCall(call, index):
                        timing.text(index: index)
                        choice.append(call)
                        out = events.call(call)
                    case let .finished(_, reason):
                        choice.finishReason = reason
                    case let .usage(counts):
                        usage.add(counts)
                    case .prompt:
                        break
                    }
                case .tick:
                    try await sse.comment("keep-alive")
                case let .failed(error, detail):
                    if let detail { logger.error("stream \(id) failed: \(detail)") }
                    let (name, value) = events.failed(error)
                    try await sse.event(name, value)
                    break loop
                case .end:
                    timing.finish(usage)
                    let status = ResponsesAPI.status(choice.finishReason)
                    let object = ResponsesAPI.object(id: id, model: model, created: created, options: options,
                                                     choice: choice, usage: usage, status: status)
                    if options.store {
                        await store.put(id, .init(object: object, conversation: options.conversation
                                                  + [ResponsesAPI.assistantTurn(choice)]))
                    }
                    out = events.finished(object, status: status)
                }
                for (name, value) in out { try await sse.event(name, value) }
            }
            try await sse.finish()
        }
    }

    /// Anthropic's event stream for `/v1/messages` with `stream: true`.
    private func anthropicStreamingResponse(
        _ pump: Pump, id: String, model: String, slot: AdmissionSlot, timing: GenerationTiming, drainID: Int
    ) -> Response {
        let logger = self.logger
        return eventStream(pump, id: id, slot: slot, drainID: drainID) { sse in
            var events = AnthropicStream(id: id, model: model)
            for (name, value) in events.start() { try await sse.event(name, value) }
            var usage = UsageTotals()
            var reason: FinishReason?
            loop: for await item in pump.items {
                var out: [(String, JSONValue)] = []
                switch item {
                case let .event(event):
                    switch event {
                    case let .text(text, index, _):
                        timing.text(index: index)
                        if !text.isEmpty { out = events.text(text) }
                    case let .reasoning(text, index):
                        timing.text(index: index)
                        out = events.thinking(text)
                    case let .toolCall(call, index):
                        timing.text(index: index)
                        out = events.tool(call)
                    case let .finished(_, finish):
                        reason = finish
                    case let .usage(counts):
                        usage.add(counts)
                    case .prompt:
                        break
                    }
                case .tick:
                    out = [("ping", ["type": "ping"])]
                case let .failed(error, detail):
                    if let detail { logger.error("stream \(id) failed: \(detail)") }
                    try await sse.event("error", AnthropicError.body(error))
                    break loop
                case .end:
                    timing.finish(usage)
                    out = events.finish(reason, usage: usage)
                }
                for (name, value) in out { try await sse.event(name, value) }
            }
            try await sse.finish()
        }
    }

    /// Ollama's stream: one JSON object per line, text and thoughts as they come, calls whole (Ollama's clients
    /// expect complete arguments), and a closing object with `done: true`, the counts and the durations.
    private func ollamaStreamingResponse(
        _ pump: Pump, parsed: OllamaAPI.Parsed, id: String, slot: AdmissionSlot, timing: GenerationTiming, drainID: Int
    ) -> Response {
        let logger = self.logger
        var response = eventStream(pump, id: id, slot: slot, drainID: drainID) { sse in
            var usage = UsageTotals()
            var choice = ResponseRenderer.Choice()
            loop: for await item in pump.items {
                switch item {
                case let .event(event):
                    switch event {
                    case let .text(text, index, _):
                        timing.text(index: index)
                        if !text.isEmpty { try await sse.line(OllamaAPI.piece(parsed, text: text)) }
                    case let .reasoning(text, index):
                        timing.text(index: index)
                        if !text.isEmpty { try await sse.line(OllamaAPI.piece(parsed, thinking: text)) }
                    case let .toolCall(call, index):
                        timing.text(index: index)
                        choice.append(call)
                    case let .finished(_, reason):
                        choice.finishReason = reason
                    case let .usage(counts):
                        usage.add(counts)
                    case .prompt:
                        break
                    }
                case .tick:
                    continue
                case let .failed(error, detail):
                    if let detail { logger.error("stream \(id) failed: \(detail)") }
                    try await sse.line(OllamaError.body(error))
                    break loop
                case .end:
                    timing.finish(usage)
                    if case .object(var last) = OllamaAPI.piece(parsed) {
                        if !choice.toolCalls.isEmpty, case .object(var message)? = last["message"] {
                            message["tool_calls"] = OllamaAPI.toolCalls(choice.toolCalls)
                            last["message"] = .object(message)
                        }
                        OllamaAPI.closing(&last, reason: choice.finishReason, usage: usage, timing: timing)
                        try await sse.line(.object(last))
                    }
                    break loop
                }
            }
            try await sse.finish()
        }
        response.headers[.contentType] = "application/x-ndjson"
        return response
    }

    private func streamingResponse(
        _ pump: Pump, renderer: ResponseRenderer, parsed: ParsedRequest, slot: AdmissionSlot,
        timing: GenerationTiming, drainID: Int
    ) -> Response {
        let logger = self.logger
        let choiceCount = parsed.requests.count * parsed.n
        return eventStream(pump, id: renderer.id, slot: slot, drainID: drainID) { sse in
            if renderer.endpoint == .chat {
                for index in 0..<choiceCount { try await sse.data(renderer.roleChunk(index: index)) }
            }
            var usage = UsageTotals()
            var written: [Int: Int] = [:]
            loop: for await item in pump.items {
                switch item {
                case let .event(event):
                    switch event {
                    case let .prompt(text, index, logprobs), let .text(text, index, logprobs):
                        if case .text = event { timing.text(index: index) }
                        try await sse.data(renderer.textChunk(index: index, text: text, tokens: logprobs,
                                                              offset: written[index, default: 0]))
                        written[index, default: 0] += text.count
                    case let .toolCall(call, index):
                        timing.text(index: index)
                        try await sse.data(renderer.toolCallChunk(index: index, call: call))
                    case let .reasoning(text, index):
                        timing.text(index: index)
                        try await sse.data(renderer.reasoningChunk(index: index, text: text))
                    case let .finished(index, reason):
                        try await sse.data(renderer.finishChunk(index: index, reason: reason))
                    case let .usage(counts):
                        usage.add(counts)
                    }
                case .tick:
                    try await sse.comment("keep-alive")
                case let .failed(error, detail):
                    if let detail { logger.error("stream \(renderer.id) failed: \(detail)") }
                    try await sse.data(error.body)
                    break loop
                case .end:
                    timing.finish(usage)
                    if parsed.includeUsage { try await sse.data(renderer.usageChunk(usage)) }
                    break loop
                }
            }
            try await sse.done()
        }
    }
}

extension GenerationHandler {
    /// A server-sent-event response whose events `write` produces. However it ends (finished, failed, or the client
    /// gone, which leaving ends the pump and so cancels the backend's generation), the pump stops, the drain forgets
    /// it and the admission slot is released, once.
    fileprivate func eventStream(_ pump: Pump, id: String, slot: AdmissionSlot, drainID: Int,
                                 _ write: @escaping @Sendable (inout SSEWriter) async throws -> Void) -> Response {
        let logger = self.logger
        let drain = self.drain
        let body = ResponseBody { writer in
            var sse = SSEWriter(writer: writer)
            do {
                try await write(&sse)
            } catch {
                logger.info("stream \(id) ended early: \(error)")
            }
            pump.stop()
            drain.unregister(drainID)
            await slot.release()
        }
        return Response(
            status: .ok,
            headers: [.contentType: "text/event-stream", .cacheControl: "no-cache", .xAcceleratorBuffering: "no"],
            body: body)
    }
}

/// Server-sent events on a Hummingbird body writer.
struct SSEWriter {
    var writer: any ResponseBodyWriter

    mutating func data(_ value: JSONValue) async throws {
        try await writer.write(ByteBuffer(string: "data: \(value.serialized)\n\n"))
    }

    /// One JSON object and a newline (Ollama's newline-delimited stream, on the same writer).
    mutating func line(_ value: JSONValue) async throws {
        try await writer.write(ByteBuffer(string: value.serialized + "\n"))
    }

    /// A named event (Anthropic's stream: `event: message_start` and so on).
    mutating func event(_ name: String, _ value: JSONValue) async throws {
        try await writer.write(ByteBuffer(string: "event: \(name)\ndata: \(value.serialized)\n\n"))
    }

    mutating func comment(_ text: String) async throws {
        try await writer.write(ByteBuffer(string: ": \(text)\n\n"))
    }

    mutating func done() async throws {
        try await writer.write(ByteBuffer(string: "data: [DONE]\n\n"))
        try await finish()
    }

    /// Ends the body (streams whose protocol has no closing sentinel).
    mutating func finish() async throws {
        try await writer.finish(nil)
    }
}

/// Records time-to-first-token, inter-token gaps, end-to-end latency and token counts of one request.
final class GenerationTiming: @unchecked Sendable {
    private let arrival: ContinuousClock.Instant
    private let endpoint: String
    private let metrics: ServerMetrics
    private let lock = NSLock()
    private var first = true
    private var firstAt: ContinuousClock.Instant?
    private var lastByChoice: [Int: ContinuousClock.Instant] = [:]

    init(arrival: ContinuousClock.Instant, endpoint: String, metrics: ServerMetrics) {
        self.arrival = arrival
        self.endpoint = endpoint
        self.metrics = metrics
    }

    func text(index: Int) {
        let now = ContinuousClock.now
        lock.lock()
        let isFirst = first
        first = false
        if isFirst { firstAt = now }
        let previous = lastByChoice.updateValue(now, forKey: index)
        lock.unlock()
        if isFirst { metrics.timeToFirstToken(now - arrival) }
        if let previous { metrics.interToken(now - previous) }
    }

    /// Nanoseconds since arrival, and from arrival to the first output (nil before it).
    func elapsed() -> (total: Int64, toFirst: Int64?) {
        let first = lock.withLock { firstAt }
        return ((ContinuousClock.now - arrival).nanoseconds, first.map { ($0 - arrival).nanoseconds })
    }

    func finish(_ usage: UsageTotals) {
        metrics.requestDuration(endpoint: endpoint, ContinuousClock.now - arrival)
        metrics.tokens(prompt: usage.prompt, generated: usage.completion, cachedPrompt: usage.cachedPrompt)
        metrics.images(tokens: usage.imagePrompt, cacheHits: usage.imageCacheHits, cacheMisses: usage.imageCacheMisses)
    }
}

extension Duration {
    /// Whole nanoseconds (Ollama's durations).
    var nanoseconds: Int64 { components.seconds * 1_000_000_000 + components.attoseconds / 1_000_000_000 }
}
