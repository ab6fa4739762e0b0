import Foundation
import Hummingbird
import Logging
import ServiceLifecycle

/// State shared by the handlers of both ports.
final class ServerState: Sendable {
    let backend: any InferenceBackend
    let options: ServerOptions
    let admission: AdmissionController
    let rateLimiter: RateLimiter?
    let metrics: ServerMetrics
    let logger: Logger
    let drain = ShutdownDrain()
    /// `/v1/responses` kept for `previous_response_id` and retrieval.
    let responses = ResponseStore()
    let started = ContinuousClock.now

    init(backend: any InferenceBackend, options: ServerOptions, metrics: ServerMetrics, logger: Logger) {
        self.backend = backend
        self.options = options
        self.metrics = metrics
        self.logger = logger
        admission = AdmissionController(
            maxActive: options.maxConcurrentRequests, maxQueueDepth: options.queue.maxDepth,
            timeouts: options.queueTimeouts)
        rateLimiter = options.rateLimit.enabled
            ? RateLimiter(requestsPerMinute: options.rateLimit.requestsPerMinute, burst: options.rateLimit.burst)
            : nil
    }

    var generationHandler: GenerationHandler {
        GenerationHandler(backend: backend, options: options, admission: admission, rateLimiter: rateLimiter,
                          metrics: metrics, logger: logger, drain: drain, responses: responses)
    }

    var uptimeSeconds: Int { Int((ContinuousClock.now - started).components.seconds) }

    /// Takes a rate-limit token (when the limit is on), or throws its 429 and counts the rejection.
    func takeRateToken() throws {
        guard let rateLimiter else { return }
        do {
            try rateLimiter.take()
        } catch {
            metrics.rejection(reason: "rate_limited")
            throw error
        }
    }
}

/// The two HTTP servers (OpenAI API and admin API) over one backend.
public final class ModelHostServer: Sendable {
    let state: ServerState
    public var metrics: ServerMetrics { state.metrics }
    /// The bounded-shutdown state (see `beginShutdown`).
    public var drain: ShutdownDrain { state.drain }

    public init(backend: any InferenceBackend, options: ServerOptions, logger: Logger = Logger(label: "modelhost.http")) {
        state = ServerState(backend: backend, options: options, metrics: ServerMetrics(), logger: logger)
    }

    /// A running pair of servers with their bound ports.
    public struct Running: Sendable {
        public let apiPort: Int
        public let adminPort: Int
        let task: Task<Void, any Error>
        let group: ServiceGroup

        /// Stops both servers (graceful shutdown: in-flight requests finish) and waits for them to finish.
        public func stop() async {
            await group.triggerGracefulShutdown()
            _ = await task.result
        }

        /// Waits until the servers stop (a signal, or a failure such as a port already in use).
        public func wait() async throws {
            try await task.value
        }

        /// Stops accepting connections at once; the servers stop when their last request has ended.
        public func stopAccepting() async {
            await group.triggerGracefulShutdown()
        }
    }

    /// A bounded shutdown: `/ready` turns 503 and new generations are refused at once, the listeners close, and
    /// generations still running after `grace` are ended (`ShutdownDrain`). Returns how many were in flight.
    /// Calling it again (a second signal) ends them now.
    @discardableResult
    public func beginShutdown(_ running: Running, grace: Duration) -> Int {
        if state.drain.isDraining {
            let ended = state.drain.expire()
            state.logger.notice("shutdown: second signal; ended \(ended) request(s) still running")
            return ended
        }
        let inFlight = state.drain.begin()
        state.logger.notice(
            "shutdown: /ready answers 503, new requests are refused; \(inFlight) request(s) in flight get \(grace) to finish")
        let drain = state.drain, logger = state.logger
        Task { await running.stopAccepting() }
        Task {
            try? await Task.sleep(for: grace)
            let ended = drain.expire()
            if ended > 0 { logger.notice("shutdown: grace time over; ended \(ended) request(s) still running") }
        }
        return inFlight
    }

    /// Binds both ports and returns once both accept connections. With `handleSignals`, SIGTERM/SIGINT shut
    /// both down gracefully (one owner for signals: this service group).
    public func start(handleSignals: Bool = false) async throws -> Running {
        let ports = PortCollector()
        let api = makeApplication(
            name: "api", host: state.options.host, port: state.options.port, corsOrigins: state.options.corsOrigins,
            onRunning: { await ports.set(api: $0) }
        ) { router in OpenAIRoutes.register(on: router, state: state) }
        // No CORS on the admin port, whatever the configuration says: pages must not manage models.
        let admin = makeApplication(
            name: "admin", host: state.options.adminHost, port: state.options.adminPort, corsOrigins: [],
            onRunning: { await ports.set(admin: $0) }
        ) { router in AdminRoutes.register(on: router, state: state) }
        let group = ServiceGroup(configuration: .init(
            services: [api, admin], gracefulShutdownSignals: handleSignals ? [.sigterm, .sigint] : [],
            logger: state.logger))
        let task = Task {
            do {
                try await group.run()
            } catch {
                await ports.fail(error)
                throw error
            }
        }
        let (apiPort, adminPort) = try await ports.wait()
        return Running(apiPort: apiPort, adminPort: adminPort, task: task, group: group)
    }

    private func makeApplication(
        name: String, host: String, port: Int, corsOrigins: [String],
        onRunning: @escaping @Sendable (Int) async -> Void, routes: (Router<APIRequestContext>) -> Void
    ) -> some Service {
        let router = Router(context: APIRequestContext.self)
        // Outermost, so that error responses carry the CORS headers too (a page must be able to read a 401 or 429),
        // and preflights are answered before authentication.
        if !corsOrigins.isEmpty { router.middlewares.add(CORSPolicyMiddleware(origins: corsOrigins)) }
        router.middlewares.add(OpenAIErrorMiddleware(logger: state.logger, metrics: state.metrics,
                                                     routes: name == "api" ? RouteMethods.api : RouteMethods.admin,
                                                     maxBodyBytes: state.options.maxBodyBytes))
        router.middlewares.add(APIKeyMiddleware(keys: state.options.apiKeys))
        routes(router)
        return Application(
            router: router,
            server: .http1(configuration: .init(additionalChannelHandlers: [MalformedHTTPResponder(), HangupDetector()])),
            configuration: .init(address: .hostname(host, port: port), serverName: "modelhost-\(name)"),
            onServerRunning: { channel in await onRunning(channel.localAddress?.port ?? port) },
            logger: state.logger)
    }
}

/// Collects the two bound ports (or the first start-up failure) for `start()`.
private actor PortCollector {
    private var api: Int?
    private var admin: Int?
    private var failure: (any Error)?
    private var waiter: CheckedContinuation<(Int, Int), any Error>?

    func set(api port: Int) { api = port; deliver() }
    func set(admin port: Int) { admin = port; deliver() }
    func fail(_ error: any Error) { failure = error; deliver() }

    func wait() async throws -> (Int, Int) {
        try await withCheckedThrowingContinuation { continuation in
            waiter = continuation
            deliver()
        }
    }

    private func deliver() {
        guard let waiter else { return }
        if let failure {
            self.waiter = nil
            waiter.resume(throwing: failure)
        } else if let api, let admin {
            self.waiter = nil
            waiter.resume(returning: (api, admin))
        }
    }
}
