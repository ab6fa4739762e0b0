import Foundation
import WorkerProtocol

/// The server log's account of one model load: what is loading (id, file, size, worker), how far it has got (each
/// quarter of the weights as the worker reports them), and how it ended. Loads of real models take seconds to
/// minutes; an operator watching the log should never wonder whether the server hangs.
///
/// Thread-safe: progress arrives on the worker connection's reader thread.
final class LoadAnnouncer: @unchecked Sendable {
    let model: String
    let path: String
    private let lock = NSLock()
    private var lastQuarter = 0

    init(model: String, path: String) {
        self.model = model
        self.path = path
    }

    func started(pid: Int32) {
        let bytes = (try? FileManager.default.attributesOfItem(atPath: path)[.size] as? NSNumber)?.int64Value
        let size = bytes.map { " (" + Self.megabytes($0) + ")" } ?? ""
        Self.log("loading \(model) from \(path)\(size) in worker \(pid)")
    }

    func progress(_ fraction: Float) {
        let quarter = Int(fraction * 4)
        let report: Bool = lock.withLock {
            guard quarter > lastQuarter, quarter < 4 else { return false }
            lastQuarter = quarter
            return true
        }
        if report { Self.log("loading \(model): \(quarter * 25)% of the weights") }
    }

    func finished(after elapsed: Duration, info: LoadedInfo) {
        let seconds = Double(elapsed.components.seconds) + Double(elapsed.components.attoseconds) * 1e-18
        Self.log("loaded \(model) in \(String(format: "%.2f", seconds)) s with \(info.pluginID) \(info.pluginVersion) "
                 + "(context \(info.contextLength) tokens)")
    }

    func failed(_ error: any Error) {
        Self.log("loading \(model) failed: \(error)")
    }

    static func megabytes(_ bytes: Int64) -> String {
        String(format: "%.1f MB", Double(bytes) / 1e6)
    }

    /// Beside the supervisor's other lines on standard error.
    static func log(_ line: String) {
        FileHandle.standardError.write(Data("supervisor: \(line)\n".utf8))
    }
}
