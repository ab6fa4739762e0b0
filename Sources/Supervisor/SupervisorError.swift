import Foundation
import WorkerProtocol

/// Why a supervised request or model operation failed. Every case says what happened and, where the caller can act,
/// what to do; `category` maps it onto the error classes a front end turns into status codes.
public enum SupervisorError: Error, Equatable, Sendable, CustomStringConvertible {
    /// The worker process died while the request was in flight (or while loading).
    case workerCrashed(model: String, pid: Int32, termination: String)
    /// The model's workers crashed `crashes` times within the crash window; no new worker is started before the
    /// back-off ends.
    case crashLoop(model: String, crashes: Int, retryAfterSeconds: Double, lastTermination: String)
    /// The request passed its deadline; it was cancelled (or its worker killed when it did not stop).
    case deadlineExceeded(model: String, seconds: Double, workerKilled: Bool)
    /// The worker could not load the model.
    case loadFailed(model: String, WorkerFailure)
    /// The worker reported a failure for this request.
    case requestFailed(WorkerFailure)
    /// No model of that id is configured.
    case unknownModel(String)
    /// The supervisor is shutting down and takes no new work.
    case shuttingDown
    /// The model was unloaded (explicitly or because its supervisor stopped) while the request ran.
    case unloaded(model: String)
    /// Spawning or talking to a worker failed at the operating-system level.
    case system(String)

    public var category: ErrorCategory {
        switch self {
        case .workerCrashed, .crashLoop, .system, .unloaded: return .workerFailure
        case .deadlineExceeded: return .timeout
        case .loadFailed(_, let failure), .requestFailed(let failure): return failure.category
        case .unknownModel: return .badRequest
        case .shuttingDown: return .overloaded
        }
    }

    /// A stable machine-readable name for logs and the line protocol.
    public var code: String {
        switch self {
        case .workerCrashed: return "workerCrashed"
        case .crashLoop: return "crashLoop"
        case .deadlineExceeded: return "deadlineExceeded"
        case .loadFailed: return "loadFailed"
        case .requestFailed: return "requestFailed"
        case .unknownModel: return "unknownModel"
        case .shuttingDown: return "shuttingDown"
        case .unloaded: return "unloaded"
        case .system: return "system"
        }
    }

    public var description: String {
        switch self {
        case .workerCrashed(let model, let pid, let termination):
            return "the worker for model \(model) (pid \(pid)) crashed: \(termination); "
                + "the next request starts a fresh one"
        case .crashLoop(let model, let crashes, let retry, let last):
            return "the worker for model \(model) crashed \(crashes) times in a row (last: \(last)); backing off, "
                + "retry in \(String(format: "%.1f", retry)) s or check the worker log"
        case .deadlineExceeded(let model, let seconds, let killed):
            return "the request to model \(model) passed its \(String(format: "%.3g", seconds)) s deadline and was "
                + (killed ? "stopped by killing its worker, which did not honour the cancel" : "cancelled")
        case .loadFailed(let model, let failure): return "model \(model) failed to load: \(failure.message)"
        case .requestFailed(let failure): return failure.message
        case .unknownModel(let id): return "no model \"\(id)\" is configured"
        case .shuttingDown: return "the server is shutting down and accepts no new requests"
        case .unloaded(let model): return "model \(model) was unloaded while the request ran"
        case .system(let message): return message
        }
    }
}

/// Human-readable name of a termination, naming the signal ("signal 9 (SIGKILL)").
func describe(_ termination: String, signal: Int32?) -> String {
    guard let signal else { return termination }
    let names: [Int32: String] = [SIGKILL: "SIGKILL", SIGSEGV: "SIGSEGV", SIGABRT: "SIGABRT", SIGTERM: "SIGTERM",
                                  SIGBUS: "SIGBUS", SIGILL: "SIGILL", SIGFPE: "SIGFPE", SIGINT: "SIGINT"]
    return "killed by signal \(signal) (\(names[signal] ?? "unknown"))"
}
