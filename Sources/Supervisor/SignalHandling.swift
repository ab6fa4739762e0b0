import Dispatch
import Foundation

/// The one owner of process signals in the orchestrator. SIGPIPE is ignored (a vanished client is an I/O error, not
/// a reason to die); each handled signal (SIGTERM and SIGINT by default) is routed through a Dispatch signal source,
/// so `handler` runs in normal context on `queue`, never inside a signal handler, and can start an orderly shutdown.
///
/// On Linux a Dispatch signal source reads a signalfd and blocks the signal in whichever thread it would otherwise
/// hit; children inherit ignored dispositions and blocked masks across exec, so `modelhost-worker` restores the
/// defaults and unblocks these signals first thing. Create this before starting other threads.
public final class SignalHandling: @unchecked Sendable {
    private var sources: [DispatchSourceSignal] = []

    public init(signals: [Int32] = [SIGTERM, SIGINT], queue: DispatchQueue = DispatchQueue(label: "signals"),
                handler: @escaping @Sendable (Int32) -> Void) {
        signal(SIGPIPE, SIG_IGN)
        for number in signals {
            // The default action must not run; the source still observes the signal.
            signal(number, SIG_IGN)
            let source = DispatchSource.makeSignalSource(signal: number, queue: queue)
            source.setEventHandler { handler(number) }
            source.resume()
            sources.append(source)
        }
    }

    /// Stops observing (the signals stay ignored).
    public func cancel() {
        sources.forEach { $0.cancel() }
        sources.removeAll()
    }

    deinit { cancel() }
}
