import ArgumentParser
import Foundation
import IPC

/// `modelhost bench-ipc`: the shared-memory transport's round-trip latency and 1 MiB throughput beside a Unix
/// socket baseline measured in the same run. The peer is this executable again (`modelhost bench-ipc-peer`).
struct BenchIPC: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "bench-ipc",
        abstract: "Measure the worker transport (p50/p99 round trip, 1 MiB throughput) against a Unix socket.")

    @Option(help: "Timed small-frame round trips.") var roundTrips = 20_000
    @Option(help: "1 MiB messages sent one way for the throughput figure.") var bulkMessages = 512
    @Option(help: "Ring capacity in bytes (a power of two).") var ringBytes = 4 << 20
    @Option(help: "Most nanoseconds a waiting side spins before it sleeps.") var spinNs = 20_000
    @Flag(help: "Exit with status 1 when a target is missed (p50 <= 1.5x socket, throughput >= 2x).")
    var checkTargets = false

    func validate() throws {
        guard roundTrips > 0, bulkMessages > 0, ringBytes > 0, spinNs >= 0 else {
            throw ValidationError("counts and sizes must be positive")
        }
    }

    func run() throws {
        var options = IPCBenchmark.Options()
        options.roundTrips = roundTrips
        options.warmupRoundTrips = min(options.warmupRoundTrips, roundTrips)
        options.bulkMessages = bulkMessages
        options.ringCapacity = ringBytes
        options.spinNanoseconds = UInt64(spinNs)
        let report: IPCBenchmark.Report
        do {
            report = try IPCBenchmark.run(options: options, peerExecutable: currentExecutable(),
                                          peerArguments: ["bench-ipc-peer"])
        } catch {
            throw RuntimeFailure("the transport benchmark failed: \(error)")
        }
        print(report)
        if checkTargets && !report.meetsTargets { throw ExitCode(1) }
    }
}

/// The benchmark's peer process (hidden: only `bench-ipc` starts it).
struct BenchIPCPeer: ParsableCommand {
    static let configuration = CommandConfiguration(commandName: "bench-ipc-peer", shouldDisplay: false)

    @Argument(parsing: .captureForPassthrough) var arguments: [String] = []

    func run() throws {
        let status = IPCBenchmark.runPeer(arguments: arguments)
        if status != 0 { throw ExitCode(status) }
    }
}
