import Foundation

/// What the HTTP layer sees while a generation runs: backend events, keep-alive ticks, and one terminal item.
enum PumpItem: Sendable {
    case event(GenerationEvent)
    /// Nothing arrived for a keep-alive interval (e.g. a long prefill); streams send an SSE comment.
    case tick
    case failed(APIError, logDetail: String?)
    case end
}

/// Merges the backend streams of one HTTP request (one per prompt) into a single sequence with choice indices
/// offset by `prompt * n`, one summed usage event at the end, periodic ticks, and the request deadline.
///
/// When the consumer stops iterating (client gone), every task is cancelled, which ends the iteration of the
/// backend streams and so fires their `onTermination`: that is how a disconnect reaches the worker.
enum EventPump {
    static func run(
        _ streams: [AsyncThrowingStream<GenerationEvent, any Error>], choicesPerPrompt n: Int,
        keepAlive: Duration?, deadline: ContinuousClock.Instant?
    ) -> Pump {
        let (items, continuation) = AsyncStream.makeStream(of: PumpItem.self)
        do {
            let reader = Task {
                do {
                    try await withThrowingTaskGroup(of: Void.self) { group in
                        for (prompt, stream) in streams.enumerated() {
                            group.addTask {
                                for try await event in stream {
                                    continuation.yield(.event(offset(event, by: prompt * n)))
                                }
                            }
                        }
                        try await group.waitForAll()
                    }
                } catch is CancellationError {
                    continuation.finish()
                    return
                } catch let error as BackendError {
                    continuation.yield(.failed(APIError(error), logDetail: String(describing: error)))
                    continuation.finish()
                    return
                } catch let error as APIError {
                    continuation.yield(.failed(error, logDetail: nil))
                    continuation.finish()
                    return
                } catch {
                    continuation.yield(.failed(.internalError, logDetail: String(describing: error)))
                    continuation.finish()
                    return
                }
                continuation.yield(.end)
                continuation.finish()
            }
            let ticker = Task {
                guard let keepAlive else { return }
                while !Task.isCancelled {
                    try await Task.sleep(for: keepAlive)
                    continuation.yield(.tick)
                }
            }
            let timer = Task {
                guard let deadline else { return }
                try await Task.sleep(until: deadline, clock: .continuous)
                continuation.yield(.failed(APIError(BackendError.timeout), logDetail: "request deadline passed"))
                continuation.finish()
            }
            let stop: @Sendable () -> Void = {
                reader.cancel()
                ticker.cancel()
                timer.cancel()
                continuation.finish()
            }
            continuation.onTermination = { _ in stop() }
            let fail: @Sendable (APIError, String) -> Void = { error, detail in
                continuation.yield(.failed(error, logDetail: detail))
                stop()
            }
            return Pump(items: items, stop: stop, fail: fail)
        }
    }

    private static func offset(_ event: GenerationEvent, by delta: Int) -> GenerationEvent {
        guard delta != 0 else { return event }
        switch event {
        case let .prompt(text, index, logprobs): return .prompt(text, index: index + delta, logprobs: logprobs)
        case let .text(text, index, logprobs): return .text(text, index: index + delta, logprobs: logprobs)
        case let .toolCall(call, index): return .toolCall(call, index: index + delta)
        case let .reasoning(text, index): return .reasoning(text, index: index + delta)
        case let .finished(index, reason): return .finished(index: index + delta, reason: reason)
        case .usage: return event
        }
    }
}

/// A running pump. The tasks feeding it hold its continuation, so dropping `items` alone would not stop them:
/// consumers call `stop()` when they leave, whatever the reason.
struct Pump: Sendable {
    let items: AsyncStream<PumpItem>
    let stop: @Sendable () -> Void
    /// Ends the generation from outside (shutdown): the consumer sees `.failed(error)` next, then the end.
    let fail: @Sendable (APIError, String) -> Void
}

/// Sums the usage events of several prompts into one (the consumer reports a single `usage`).
struct UsageTotals: Sendable, Equatable {
    var prompt = 0
    var completion = 0
    var cachedPrompt = 0
    var reported = false

    var imagePrompt = 0
    var imageCacheHits = 0
    var imageCacheMisses = 0

    mutating func add(_ usage: Usage) {
        prompt += usage.prompt
        completion += usage.completion
        cachedPrompt += usage.cachedPrompt
        imagePrompt += usage.imagePrompt
        imageCacheHits += usage.imageCacheHits
        imageCacheMisses += usage.imageCacheMisses
        reported = true
    }

    var json: JSONValue {
        var details: JSONValue = ["cached_tokens": JSONValue(cachedPrompt)]
        // Only image requests report image tokens, so text responses keep OpenAI's exact shape.
        if imagePrompt > 0, case .object(var fields) = details {
            fields["image_tokens"] = JSONValue(imagePrompt)
            details = .object(fields)
        }
        return ["prompt_tokens": JSONValue(prompt), "completion_tokens": JSONValue(completion),
                "total_tokens": JSONValue(prompt + completion), "prompt_tokens_details": details]
    }
}
