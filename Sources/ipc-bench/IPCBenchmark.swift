import CSupport
import IPC
import Glibc

/// Measures the shared-memory transport against a Unix-domain stream socket in the same run, between two real
/// processes: small-frame round-trip latency (p50/p99) and one-way throughput of 1 MiB messages. The peer is the
/// caller's own executable started again with `peerArguments` (the CLI passes its `bench-ipc --peer`-style argv),
/// whose main must hand the remaining arguments to `IPCBenchmark.runPeer`.
///
/// Both transports do the same work: the receiver copies every payload into a private buffer, and the socket reader
/// is buffered (one `read` per frame when it fits), so the comparison is not rigged by extra syscalls.
public enum IPCBenchmark {
    public struct Options: Sendable {
        /// Timed small round trips per transport (after `warmupRoundTrips` untimed ones).
        public var roundTrips = 20_000
        public var warmupRoundTrips = 2_000
        public var smallPayloadBytes = 64
        /// Messages of `bulkMessageBytes` sent one way per transport for the throughput figure.
        public var bulkMessages = 512
        public var bulkMessageBytes = 1 << 20
        /// Request-ring size; the event ring (acks, echoes) is 1 MiB.
        public var ringCapacity = 4 << 20
        /// The rings' spin before sleeping, on both sides (`RingChannel.spinNanoseconds`); 0 measures the pure
        /// semaphore path.
        public var spinNanoseconds: UInt64 = 20_000
        public init() {}
    }

    /// Figures of one run; latencies in nanoseconds, throughput in bytes per second.
    public struct Report: Sendable, CustomStringConvertible {
        public var ringRoundTripP50: Double
        public var ringRoundTripP99: Double
        public var socketRoundTripP50: Double
        public var socketRoundTripP99: Double
        public var ringThroughput: Double
        public var socketThroughput: Double
        public var options: Options

        /// Ring p50 over socket p50; the target is at most 1.5.
        public var roundTripRatio: Double { ringRoundTripP50 / socketRoundTripP50 }
        /// Ring throughput over socket throughput; the target is at least 2.
        public var throughputRatio: Double { ringThroughput / socketThroughput }
        public var meetsTargets: Bool { roundTripRatio <= 1.5 && throughputRatio >= 2 }

        public var description: String {
            func us(_ ns: Double) -> String { format(ns / 1000, 2) + " µs" }
            func gib(_ bps: Double) -> String { format(bps / Double(1 << 30), 2) + " GiB/s" }
            return """
                small-frame round trip (\(options.smallPayloadBytes) B, \(options.roundTrips) timed, ring spin \(options.spinNanoseconds) ns)
                  shared-memory ring   p50 \(us(ringRoundTripP50))   p99 \(us(ringRoundTripP99))
                  unix socket          p50 \(us(socketRoundTripP50))   p99 \(us(socketRoundTripP99))
                  ring/socket p50 ratio \(format(roundTripRatio, 2)) (target <= 1.5)
                throughput (\(options.bulkMessages) x \(options.bulkMessageBytes) B one way)
                  shared-memory ring   \(gib(ringThroughput))
                  unix socket          \(gib(socketThroughput))
                  ring/socket ratio \(format(throughputRatio, 2)) (target >= 2)
                """
        }
    }

    enum Message: UInt32 { case echo = 1, bulk = 2, bulkEnd = 3, stop = 4 }

    /// Runs the whole benchmark. Throws when a peer cannot be started or a transport fails.
    public static func run(
        options: Options = Options(), peerExecutable: String, peerArguments: [String]
    ) throws(IPCError) -> Report {
        guard options.roundTrips > 0, options.bulkMessages > 0, options.smallPayloadBytes >= 0,
              options.bulkMessageBytes > 0 else { throw .invalidArgument("benchmark counts and sizes must be positive") }
        let ring = try RingSide(options: options, peerExecutable: peerExecutable, peerArguments: peerArguments)
        defer { ring.finish() }
        let socket = try SocketSide(options: options, peerExecutable: peerExecutable, peerArguments: peerArguments)
        defer { socket.finish() }
        let small = [UInt8](repeating: 0x5A, count: options.smallPayloadBytes)
        var bulk = [UInt8](repeating: 0, count: options.bulkMessageBytes)
        for i in bulk.indices { bulk[i] = UInt8(truncatingIfNeeded: i &* 31) }

        let ringLatency = try measureRoundTrips(options) { () throws(IPCError) in try ring.roundTrip(small) }
        let socketLatency = try measureRoundTrips(options) { () throws(IPCError) in try socket.roundTrip(small) }
        let ringSeconds = try ring.stream(bulk, count: options.bulkMessages)
        let socketSeconds = try socket.stream(bulk, count: options.bulkMessages)
        let bytes = Double(options.bulkMessages) * Double(options.bulkMessageBytes)
        return Report(
            ringRoundTripP50: ringLatency.p50, ringRoundTripP99: ringLatency.p99,
            socketRoundTripP50: socketLatency.p50, socketRoundTripP99: socketLatency.p99,
            ringThroughput: bytes / ringSeconds, socketThroughput: bytes / socketSeconds, options: options)
    }

    private static func measureRoundTrips(
        _ options: Options, _ roundTrip: () throws(IPCError) -> Void
    ) throws(IPCError) -> (p50: Double, p99: Double) {
        for _ in 0..<options.warmupRoundTrips { try roundTrip() }
        var samples = [UInt64](repeating: 0, count: options.roundTrips)
        for i in samples.indices {
            let start = mh_monotonic_ns()
            try roundTrip()
            samples[i] = mh_monotonic_ns() - start
        }
        samples.sort()
        func percentile(_ p: Double) -> Double {
            Double(samples[min(samples.count - 1, Int(Double(samples.count) * p))])
        }
        return (percentile(0.50), percentile(0.99))
    }

    // MARK: Host sides

    private final class RingSide {
        let channel: RingChannel
        let process: SpawnedProcess
        var receiveBuffer: UnsafeMutableRawBufferPointer

        init(options: Options, peerExecutable: String, peerArguments: [String]) throws(IPCError) {
            let name = try IPCNames.random().segmentName(worker: "bench")
            let segment = try SharedMemorySegment.create(
                name: name, requestRingCapacity: options.ringCapacity, eventRingCapacity: 1 << 20)
            // The peer maps the segment by name before we unlink it; unlinking early means nothing leaks if we die.
            do throws(IPCError) {
                process = try SpawnedProcess.spawn(
                    executable: peerExecutable, arguments: peerArguments + ["ring", name, "\(options.spinNanoseconds)"])
                channel = try RingChannel(
                    segment: segment, peer: .pid(process.pid), spinNanoseconds: options.spinNanoseconds)
                // Set-up only, not a measured path: a short poll until the peer has mapped the segment.
                let attachDeadline = IPCDeadline.after(seconds: 10)
                while segment.attacherPID == 0 {
                    if process.poll() != nil { throw IPCError.peerDied(pid: process.pid) }
                    if attachDeadline.hasPassed {
                        process.signal(SIGKILL)
                        process.wait()
                        throw IPCError.timedOut
                    }
                    usleep(1000)
                }
                receiveBuffer = .allocate(byteCount: max(64, options.smallPayloadBytes), alignment: 16)
            } catch {
                _ = try? segment.unlink()
                throw error
            }
            try segment.unlink()
        }

        func roundTrip(_ payload: [UInt8]) throws(IPCError) {
            try send(.echo, payload)
            let buffer = receiveBuffer
            let received = try channel.withNextFrame(deadline: .after(seconds: 10)) { frame in
                buffer.copyMemory(from: UnsafeRawBufferPointer(rebasing: frame.payload.prefix(buffer.count)))
                return frame.payload.count
            }
            guard received == payload.count else { throw .corrupt("echo of \(payload.count) bytes came back as \(String(describing: received))") }
        }

        func stream(_ payload: [UInt8], count: Int) throws(IPCError) -> Double {
            let start = mh_monotonic_ns()
            for _ in 0..<count { try send(.bulk, payload) }
            try send(.bulkEnd, [])
            guard let ack = try channel.receive(deadline: .after(seconds: 60)), ack.type == Message.bulkEnd.rawValue
            else { throw .timedOut }
            return Double(mh_monotonic_ns() - start) / 1e9
        }

        private func send(_ type: Message, _ payload: [UInt8]) throws(IPCError) {
            let result: Result<Void, IPCError> = payload.withUnsafeBytes { bytes in
                do throws(IPCError) {
                    try channel.send(type: type.rawValue, requestID: 0, payload: bytes, deadline: .after(seconds: 10))
                    return .success(())
                } catch { return .failure(error) }
            }
            try result.get()
        }

        func finish() {
            try? send(.stop, [])
            process.wait()
            receiveBuffer.deallocate()
        }
    }

    private final class SocketSide {
        let stream: FramedSocket
        let process: SpawnedProcess

        init(options: Options, peerExecutable: String, peerArguments: [String]) throws(IPCError) {
            var fds: [Int32] = [0, 0]
            guard socketpair(AF_UNIX, Int32(SOCK_STREAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0, &fds) == 0 else {
                throw .lastSystemError("socketpair")
            }
            defer { Glibc.close(fds[1]) }
            do throws(IPCError) {
                process = try SpawnedProcess.spawn(
                    executable: peerExecutable, arguments: peerArguments + ["socket", "3"],
                    inheriting: [(parent: fds[1], child: 3)])
            } catch {
                Glibc.close(fds[0])
                throw error
            }
            stream = FramedSocket(fd: fds[0], maxPayload: max(options.bulkMessageBytes, options.smallPayloadBytes))
        }

        func roundTrip(_ payload: [UInt8]) throws(IPCError) {
            try stream.write(type: Message.echo.rawValue, payload)
            let (_, length) = try stream.read()
            guard length == payload.count else { throw .corrupt("echo of \(payload.count) bytes came back as \(length)") }
        }

        func stream(_ payload: [UInt8], count: Int) throws(IPCError) -> Double {
            let start = mh_monotonic_ns()
            for _ in 0..<count { try stream.write(type: Message.bulk.rawValue, payload) }
            try stream.write(type: Message.bulkEnd.rawValue, [])
            let (type, _) = try stream.read()
            guard type == Message.bulkEnd.rawValue else { throw .corrupt("unexpected reply type \(type)") }
            return Double(mh_monotonic_ns() - start) / 1e9
        }

        func finish() {
            try? stream.write(type: Message.stop.rawValue, [])
            stream.close()
            process.wait()
        }
    }

    // MARK: Peer

    /// The peer's main: `ring <segment> <spin-ns>` or `socket <fd>`. Returns the process exit status.
    public static func runPeer(arguments: [String]) -> Int32 {
        do throws(IPCError) {
            switch (arguments.first, arguments.count) {
            case ("ring", 3):
                guard let spin = UInt64(arguments[2]) else { throw .invalidArgument("bad spin \(arguments[2])") }
                try ringPeer(segmentName: arguments[1], spinNanoseconds: spin)
            case ("socket", 2):
                guard let fd = Int32(arguments[1]) else { throw .invalidArgument("bad descriptor \(arguments[1])") }
                try socketPeer(fd: fd)
            default:
                throw .invalidArgument("peer arguments must be `ring <segment> <spin-ns>` or `socket <fd>`")
            }
            return 0
        } catch {
            fputs("ipc benchmark peer: \(error)\n", stderr)
            return 1
        }
    }

    private static func ringPeer(segmentName: String, spinNanoseconds: UInt64) throws(IPCError) {
        let segment = try SharedMemorySegment.attach(name: segmentName)
        let channel = try RingChannel(
            segment: segment, peer: .pid(segment.creatorPID), spinNanoseconds: spinNanoseconds)
        let buffer = UnsafeMutableRawBufferPointer.allocate(byteCount: 256 << 20, alignment: 64)
        defer { buffer.deallocate() }
        while true {
            let received = try channel.withNextFrame(deadline: .after(seconds: 60)) { frame -> (UInt32, Int) in
                let count = min(frame.payload.count, buffer.count)
                if count > 0 {
                    buffer.baseAddress!.copyMemory(from: frame.payload.baseAddress!, byteCount: count)
                }
                return (frame.type, count)
            }
            guard let (type, count) = received else { throw .invalidArgument("benchmark host sent nothing for 60 s") }
            switch Message(rawValue: type) {
            case .echo:
                try channel.send(type: type, requestID: 0, payload: UnsafeRawBufferPointer(rebasing: buffer[0..<count]),
                                 deadline: .after(seconds: 10))
            case .bulk:
                continue
            case .bulkEnd:
                try channel.send(type: type, requestID: 0, payload: UnsafeRawBufferPointer(start: nil, count: 0),
                                 deadline: .after(seconds: 10))
            case .stop, .none:
                return
            }
        }
    }

    private static func socketPeer(fd: Int32) throws(IPCError) {
        let stream = FramedSocket(fd: fd, maxPayload: 256 << 20)
        defer { stream.close() }
        var echo: [UInt8] = []
        while true {
            let (type, length) = try stream.read()
            switch Message(rawValue: type) {
            case .echo:
                echo.removeAll(keepingCapacity: true)
                echo.append(contentsOf: UnsafeRawBufferPointer(rebasing: stream.lastPayload.prefix(length)))
                try stream.write(type: type, echo)
            case .bulk:
                continue
            case .bulkEnd:
                try stream.write(type: type, [])
            case .stop, .none:
                return
            }
        }
    }

    static func format(_ value: Double, _ decimals: Int) -> String {
        var scale = 1.0
        for _ in 0..<decimals { scale *= 10 }
        let rounded = (value * scale).rounded() / scale
        let text = String(rounded)
        guard let dot = text.firstIndex(of: ".") else { return text }
        let fraction = text[text.index(after: dot)...]
        return String(text[..<dot]) + "." + fraction + String(repeating: "0", count: max(0, decimals - fraction.count))
    }
}
