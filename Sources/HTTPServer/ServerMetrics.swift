import Foundation
import Prometheus
import Synchronization
import struct WorkerProtocol.WorkerLoad

/// The `modelhost_*` Prometheus metrics, kept in a registry owned by one server instance (no global state, so tests
/// can run several servers in one process).
public final class ServerMetrics: Sendable {
    public let registry = PrometheusCollectorRegistry()
    private let latencyBuckets: [Duration] = [
        .milliseconds(5), .milliseconds(10), .milliseconds(25), .milliseconds(50), .milliseconds(100),
        .milliseconds(250), .milliseconds(500), .seconds(1), .milliseconds(2500), .seconds(5), .seconds(10),
        .seconds(30), .seconds(60), .seconds(120),
    ]
    private let reportedRestarts = Mutex(0)

    public init() {}

    /// `modelhost_<name>`; a `_total`/`_seconds` suffix becomes the descriptor's unit.
    private func descriptor(_ name: String, _ help: String) -> MetricNameDescriptor {
        for unit in ["total", "seconds"] where name.hasSuffix("_\(unit)") {
            return MetricNameDescriptor(namespace: "modelhost", metricName: String(name.dropLast(unit.count + 1)),
                                        unitName: unit, helpText: help)
        }
        return MetricNameDescriptor(namespace: "modelhost", metricName: name, unitName: "", helpText: help)
    }

    public func request(endpoint: String, status: Int) {
        registry.makeCounter(descriptor: descriptor("requests_total", "HTTP requests by endpoint and status"),
                             labels: [("endpoint", endpoint), ("status", String(status))]).increment()
    }

    public func requestDuration(endpoint: String, _ duration: Duration) {
        registry.makeDurationHistogram(
            descriptor: descriptor("request_duration_seconds", "End-to-end request latency"),
            labels: [("endpoint", endpoint)], buckets: latencyBuckets
        ).record(duration)
    }

    public func timeToFirstToken(_ duration: Duration) {
        registry.makeDurationHistogram(
            descriptor: descriptor("time_to_first_token_seconds", "Time from arrival to the first generated text"),
            buckets: latencyBuckets
        ).record(duration)
    }

    public func interToken(_ duration: Duration) {
        registry.makeDurationHistogram(
            descriptor: descriptor("inter_token_latency_seconds", "Time between successive text deltas of a choice"),
            buckets: latencyBuckets
        ).record(duration)
    }

    public func tokens(prompt: Int, generated: Int, cachedPrompt: Int) {
        registry.makeCounter(descriptor: descriptor("prompt_tokens_total", "Prompt tokens processed"))
            .increment(by: Int64(prompt))
        registry.makeCounter(descriptor: descriptor("generated_tokens_total", "Tokens generated"))
            .increment(by: Int64(generated))
        registry.makeCounter(descriptor: descriptor("cached_prompt_tokens_total", "Prompt tokens served from the prefix cache"))
            .increment(by: Int64(cachedPrompt))
        let hits = registry.makeCounter(descriptor: descriptor("prefix_cache_hits_total", "Requests that reused a cached prompt prefix"))
        if cachedPrompt > 0 { hits.increment() }
    }

    /// Image input: positions filled by image embeddings, and the worker's image cache (the original server's resize
    /// cache) hits and misses.
    public func images(tokens: Int, cacheHits: Int, cacheMisses: Int) {
        registry.makeCounter(descriptor: descriptor("image_tokens_total", "Prompt positions filled by image embeddings"))
            .increment(by: Int64(tokens))
        registry.makeCounter(descriptor: descriptor("vision_resize_cache_hits_total",
                                                    "Images served from the workers' prepared-image cache"))
            .increment(by: Int64(cacheHits))
        registry.makeCounter(descriptor: descriptor("vision_resize_cache_misses_total",
                                                    "Images prepared (decoded, resized, encoded) afresh"))
            .increment(by: Int64(cacheMisses))
    }

    public func rejection(reason: String) {
        registry.makeCounter(descriptor: descriptor("rejections_total", "Requests refused before generation, by reason"),
                             labels: [("reason", reason)]).increment()
    }

    /// Refreshes the gauges that mirror other components' state; called before each scrape.
    public func observe(admission: AdmissionSnapshot, backend: BackendStatus) {
        registry.makeGauge(descriptor: descriptor("queue_depth", "Requests waiting for a slot"))
            .set(Double(admission.queueDepth))
        registry.makeGauge(descriptor: descriptor("running_requests", "Requests holding a slot"))
            .set(Double(admission.active))
        registry.makeGauge(descriptor: descriptor("loaded_models", "Models loaded in workers"))
            .set(Double(backend.models.filter { $0.state != "absent" && $0.state != "unloading" }.count))
        // Per model, for balancers and autoscalers. A model without a worker reports zeros (its series stay, so a
        // dashboard sees it go idle rather than vanish).
        for model in backend.models {
            let labels = [("model", model.id)]
            let load = model.load ?? WorkerLoad()
            registry.makeGauge(descriptor: descriptor("model_requests_in_flight", "Requests sent to the model's worker and not finished"),
                               labels: labels).set(Double(model.inFlight))
            registry.makeGauge(descriptor: descriptor("model_queued_requests", "Requests the worker accepted that wait for a free sequence"),
                               labels: labels).set(Double(load.waiting))
            registry.makeGauge(descriptor: descriptor("kv_positions_used", "KV cache positions holding running requests' tokens"),
                               labels: labels).set(Double(load.kvPositionsUsed))
            registry.makeGauge(descriptor: descriptor("kv_positions_free", "KV cache positions running requests can still fill (sequences x context - used)"),
                               labels: labels).set(Double(load.kvPositionsFree))
            registry.makeGauge(descriptor: descriptor("kv_positions_cached", "KV cache positions held by idle prefix-cache sequences"),
                               labels: labels).set(Double(load.kvPositionsCached))
        }
        let delta = reportedRestarts.withLock { reported in
            defer { reported = max(reported, backend.workerRestarts) }
            return max(0, backend.workerRestarts - reported)
        }
        registry.makeCounter(descriptor: descriptor("worker_restarts_total", "Workers restarted after a crash"))
            .increment(by: Int64(delta))
    }

    public func exposition() -> String {
        registry.emitToString()
    }
}
