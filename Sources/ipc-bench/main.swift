// ipc-bench: prints the shared-memory transport's figures beside a Unix-socket baseline measured in the same run.
//   ipc-bench [--round-trips N] [--bulk-messages N] [--ring-bytes N] [--spin-ns N]
// Exit status 0 when both targets are met (round trip p50 <= 1.5x the socket's, throughput >= 2x), 1 otherwise.
// It starts itself again as the peer (`ipc-bench peer ...`).
import Glibc
import IPC

let arguments = Array(CommandLine.arguments.dropFirst())
if arguments.first == "peer" {
    exit(IPCBenchmark.runPeer(arguments: Array(arguments.dropFirst())))
}

var options = IPCBenchmark.Options()
var index = 0
while index < arguments.count {
    let flag = arguments[index]
    guard index + 1 < arguments.count, let value = Int(arguments[index + 1]), value >= 0 else {
        fputs("usage: ipc-bench [--round-trips N] [--bulk-messages N] [--ring-bytes N] [--spin-ns N]\n", stderr)
        exit(2)
    }
    switch flag {
    case "--round-trips": options.roundTrips = value
    case "--bulk-messages": options.bulkMessages = value
    case "--ring-bytes": options.ringCapacity = value
    case "--spin-ns": options.spinNanoseconds = UInt64(value)
    default:
        fputs("ipc-bench: unknown option \(flag)\n", stderr)
        exit(2)
    }
    index += 2
}

do {
    let report = try IPCBenchmark.run(
        options: options, peerExecutable: "/proc/self/exe", peerArguments: ["peer"])
    print(report)
    exit(report.meetsTargets ? 0 : 1)
} catch {
    fputs("ipc-bench: \(error)\n", stderr)
    exit(1)
}
