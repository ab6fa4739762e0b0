import Foundation
import WorkerProtocol

/// One model the supervisor may run: where its file is and how its worker loads it.
public struct ModelSpec: Sendable, Equatable {
    /// The id requests name (for the line protocol and, later, the API's `model` field).
    public var id: String
    /// Absolute path of the model file.
    public var path: String
    /// Plugin family; empty means "the file's general.architecture".
    public var family: String
    public var pluginPin: String
    /// Extra plugin directories the worker searches first.
    public var pluginPaths: [String]
    public var threads: Int
    /// Sequences one worker decodes together.
    public var maxSequences: Int
    /// What a loaded worker is expected to occupy, for the memory budget. 0: not given here, so the supervisor asks
    /// `SupervisorConfiguration.estimateWorkerBytes` when it is about to start the worker (and a 0 from there too
    /// means unknown: it never evicts for it).
    public var estimatedBytes: UInt64
    /// The vision projector (see `LoadRequest.projectorPath`); empty for a text-only model.
    public var projectorPath: String
    public var vision: VisionSettings
    /// The context to serve (see `LoadRequest.contextLength`); 0 for the model's own.
    public var contextLength = 0
    /// Unload this model after this many idle seconds instead of the server's setting; 0 keeps it loaded.
    public var idleUnloadAfter: Double?
    /// The worker's prefix-cache budget (see `LoadRequest.prefixCacheBytes`).
    public var prefixCacheBytes: UInt64 = LoadRequest.defaultPrefixCacheBytes
    /// How the worker's decoder stores keys and values (see `LoadRequest.kvCacheType`).
    public var kvCacheType: KVCacheType = .f32

    public init(id: String, path: String, family: String = "", pluginPin: String = "", pluginPaths: [String] = [],
                threads: Int = ProcessInfo.processInfo.activeProcessorCount, maxSequences: Int = 16,
                estimatedBytes: UInt64 = 0, projectorPath: String = "", vision: VisionSettings = VisionSettings()) {
        self.id = id
        self.path = path
        self.family = family
        self.pluginPin = pluginPin
        self.pluginPaths = pluginPaths
        self.threads = threads
        self.maxSequences = maxSequences
        self.estimatedBytes = estimatedBytes
        self.projectorPath = projectorPath
        self.vision = vision
    }
}

/// Everything the supervisor's policies depend on, with production defaults; tests shorten the timers.
public struct SupervisorConfiguration: Sendable {
    /// Holds the registry, its lock and the worker logs.
    public var stateDirectory: String
    /// Absolute path of `modelhost-worker`.
    public var workerExecutable: String
    public var models: [ModelSpec]
    /// A worker that has not reported `loaded` by then is killed.
    public var loadTimeout: Double = 120
    /// How long a worker asked to stop may take before it is SIGKILLed.
    public var stopGrace: Double = 5
    /// How long a request past its deadline may take to honour the cancel before its worker is SIGKILLed.
    public var cancelGrace: Double = 2
    /// A loaded worker is pinged every `livenessInterval` seconds; one that answers nothing for `livenessTimeout`
    /// seconds (stopped, or stuck as a whole process) is killed as hung, and the requests it had not started are run
    /// again on its replacement. nil turns the probe off.
    public var livenessTimeout: Double? = 5
    public var livenessInterval: Double = 1
    /// Unload a model whose worker has been idle this long; nil keeps it loaded.
    public var idleUnloadAfter: Double?
    /// The memory all loaded models may occupy together (by their `estimatedBytes`); loading one beyond it first
    /// unloads idle models, least recently used first. nil: no limit.
    public var memoryBudgetBytes: UInt64?
    /// What a worker for `spec` (one without `estimatedBytes`) will occupy. It is asked only when that worker is
    /// about to start under a memory budget, never per request: measuring may read the file system (`serve` sums
    /// the weight files), and a request to a running model must not pay for it. The default knows nothing (0).
    public var estimateWorkerBytes: @Sendable (ModelSpec) -> UInt64 = { _ in 0 }
    /// Crash-loop policy (see `CrashHistory`).
    public var crashLoopThreshold = 3
    public var crashWindow: Double = 60
    public var crashBaseBackoff: Double = 1
    public var crashMaxBackoff: Double = 60
    /// Added to the worker's environment, which otherwise holds only `WorkerEnvironment.inherited` of the
    /// orchestrator's.
    public var workerEnvironment: [String: String] = [:]
    /// Where POSIX shared memory appears as files (for the registry's sweep).
    public var sharedMemoryDirectory = "/dev/shm"
    public var requestRingCapacity = 1 << 20
    public var eventRingCapacity = 1 << 20

    public init(stateDirectory: String, workerExecutable: String, models: [ModelSpec]) {
        self.stateDirectory = stateDirectory
        self.workerExecutable = workerExecutable
        self.models = models
    }
}

/// Per-request policy.
public struct GenerateOptions: Sendable {
    /// Seconds from submission until the request is cancelled (and its worker killed if it does not stop).
    public var timeout: Double?

    public init(timeout: Double? = nil) { self.timeout = timeout }
}

/// A model's state for status reports.
public struct ModelStatus: Sendable, Equatable {
    public var id: String
    public var state: ModelState
    public var workerPID: Int32?
    public var recentCrashes: Int
    /// When the current worker reported `loaded`.
    public var loadedSince: Date?
    public var info: LoadedInfo?
    /// While loading: the share of the weights the worker has taken in so far (0...1); nil otherwise.
    public var loadProgress: Double?
    /// The worker's load as of its last pong; nil without a worker, or before its first pong.
    public var load: WorkerLoad?
}

/// What a worker process sees of the orchestrator's environment: an explicit list, never the rest. Workers run
/// third-party plugins, and the orchestrator's environment holds secrets (`MODELHOST_API_KEYS`, cloud credentials,
/// tokens); a plugin gets what the ABI hands it, and the process what it needs to run.
public enum WorkerEnvironment {
    /// Variables passed through by name: finding programs and libraries, locale and time zone, temporary files,
    /// the C library's and sanitizers' tuning, the plugin search settings the worker itself reads, and the kernels'
    /// switch to their AVX2 code on an AVX-512 host (`MODELHOST_NO_AVX512`, for benchmarks of the AVX2 path).
    public static let names: Set<String> = [
        "PATH", "HOME", "USER", "LOGNAME", "LANG", "LANGUAGE", "TZ", "TMPDIR", "LD_LIBRARY_PATH", "GLIBC_TUNABLES",
        "MALLOC_ARENA_MAX", "ASAN_OPTIONS", "LSAN_OPTIONS", "UBSAN_OPTIONS", "TSAN_OPTIONS",
        "MODELHOST_PLUGIN_PATH", "MODELHOST_PLUGIN_PIN", "MODELHOST_NO_AVX512",
    ]
    /// Passed through by prefix: locale categories, and the test hooks (`MODELHOST_TEST_CPU_FEATURES`, …) that let
    /// tests play another CPU or keep a worker alive past its parent.
    public static let prefixes = ["LC_", "MODELHOST_TEST_"]

    /// The part of `environment` a worker inherits.
    public static func inherited(from environment: [String: String]) -> [String: String] {
        environment.filter { key, _ in names.contains(key) || prefixes.contains { key.hasPrefix($0) } }
    }
}
