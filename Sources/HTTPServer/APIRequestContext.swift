import Hummingbird
import NIOCore

/// The request context of both ports: Hummingbird's basic context plus the request's connection, so that work
/// behind a non-streamed answer can stop when the client hangs up (a streamed answer notices on its next write;
/// a non-streamed one writes nothing until it is done).
public struct APIRequestContext: RequestContext {
    public var coreContext: CoreRequestContextStorage
    public let channel: any Channel

    public init(source: ApplicationRequestContextSource) {
        coreContext = .init(source: source)
        channel = source.channel
    }

    /// Runs `body` in a child task that is cancelled if the client hangs up first (`HangupDetector`) or the caller
    /// is cancelled. Cancellation reaches the worker through the backend's stream, as a streaming client's disconnect
    /// does.
    func cancellingOnDisconnect<T: Sendable>(_ body: @escaping @Sendable () async throws -> T) async throws -> T {
        let task = Task { try await body() }
        channel.closeFuture.whenComplete { _ in task.cancel() }
        if let detector = try? await channel.pipeline.handler(type: HangupDetector.self).get() {
            detector.hungUp?.futureResult.whenComplete { _ in task.cancel() }
        }
        return try await withTaskCancellationHandler { try await task.value } onCancel: { task.cancel() }
    }
}
