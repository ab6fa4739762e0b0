// ipc-peer: the other process of the IPC tests. It plays the worker side of a segment (or, for the worker-side
// death test, the orchestrator side) and does what its arguments say:
//
//   ipc-peer echo <segment>                 echo every frame back until a frame of type `stopType`
//   ipc-peer generate <segment> <seed> <count> <ringCapacity>
//                                           send `count` seeded frames (sizes as in the stress test)
//   ipc-peer hang <segment>                 attach and never read (the sender's ring fills)
//   ipc-peer hold <segment>                 create the segment as orchestrator and sleep
//   ipc-peer expect-peer-death <segment>    attach and wait for a frame: exit 0 once the creator's death is
//                                           noticed, 1 on a frame or a timeout
// Exit status 2 = bad arguments, 3 = IPC error (printed on stderr).
import Glibc
import IPC

let stopType: UInt32 = 0xFFFF_FFFF

func fail(_ message: String, status: Int32) -> Never {
    fputs("ipc-peer: \(message)\n", stderr)
    exit(status)
}

/// The seeded frame generator shared with the stress test (Tests/IPCTests/TestPattern.swift holds the same code;
/// the stress tests fail if the two drift apart): frame `index` of `seed` has a deterministic size and content, so
/// each side can verify without keeping copies.
enum TestPattern {
    static func mix(_ value: UInt64) -> UInt64 {
        var z = value &+ 0x9E37_79B9_7F4A_7C15
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }

    static func size(seed: UInt64, index: UInt64, ringCapacity: Int) -> Int {
        let r = mix(seed ^ (index &* 0xD1B5_4A32_D192_ED03))
        let bucket = r % 1000
        let value = Int((r >> 20) % UInt64(Int32.max))
        let chunk = ringCapacity / 2 - 32
        switch bucket {
        case 0..<550: return value % 33
        case 550..<850: return 33 + value % 480
        case 850..<940: return 513 + value % max(1, chunk - 513)
        case 940..<990: return chunk - 16 + value % 32
        default: return ringCapacity / 2 + value % (ringCapacity * 2)
        }
    }

    static func fill(_ buffer: UnsafeMutableRawBufferPointer, seed: UInt64, index: UInt64) {
        var state = mix(seed &+ index)
        var offset = 0
        while offset + 8 <= buffer.count {
            state = mix(state)
            buffer.storeBytes(of: state.littleEndian, toByteOffset: offset, as: UInt64.self)
            offset += 8
        }
        if offset < buffer.count {
            state = mix(state)
            withUnsafeBytes(of: state.littleEndian) { word in
                for i in 0..<(buffer.count - offset) { buffer[offset + i] = word[i] }
            }
        }
    }

    static func frame(seed: UInt64, index: UInt64, ringCapacity: Int) -> Frame {
        let size = size(seed: seed, index: index, ringCapacity: ringCapacity)
        let payload = [UInt8](unsafeUninitializedCapacity: size) { buffer, count in
            fill(UnsafeMutableRawBufferPointer(buffer), seed: seed, index: index)
            count = size
        }
        return Frame(type: UInt32(truncatingIfNeeded: index % 65_521), requestID: index, payload: payload)
    }
}

func attachChannel(_ name: String) throws(IPCError) -> RingChannel {
    let segment = try SharedMemorySegment.attach(name: name)
    return try RingChannel(segment: segment, peer: .pid(segment.creatorPID))
}

func run(_ arguments: [String]) throws(IPCError) {
    guard arguments.count >= 2 else { fail("usage: ipc-peer <mode> <segment> ...", status: 2) }
    let mode = arguments[0]
    let name = arguments[1]
    switch mode {
    case "echo":
        let channel = try attachChannel(name)
        while true {
            guard let frame = try channel.receive(deadline: .after(seconds: 60)) else {
                fail("no frame for 60 s", status: 3)
            }
            if frame.type == stopType { break }
            try channel.send(frame, deadline: .after(seconds: 60))
        }
        channel.close()
    case "generate":
        guard arguments.count == 5, let seed = UInt64(arguments[2]), let count = UInt64(arguments[3]),
              let capacity = Int(arguments[4]) else { fail("usage: generate <segment> <seed> <count> <ring>", status: 2) }
        let channel = try attachChannel(name)
        for index in 0..<count {
            try channel.send(TestPattern.frame(seed: seed, index: index, ringCapacity: capacity),
                             deadline: .after(seconds: 60))
        }
        _ = try channel.receive(deadline: .after(seconds: 60))  // the test's "done", so the ring is drained first
    case "hang":
        // Keep the channel open (dropping it would close this side, which the test must not see).
        let channel = try attachChannel(name)
        withExtendedLifetime(channel) { while true { pause() } }
    case "hold":
        let segment = try SharedMemorySegment.create(name: name, requestRingCapacity: 4096, eventRingCapacity: 4096)
        withExtendedLifetime(segment) { while true { pause() } }
    case "expect-peer-death":
        let channel = try attachChannel(name)
        do throws(IPCError) {
            _ = try channel.receive(deadline: .after(seconds: 30))
            fail("received a frame or timed out instead of noticing the creator's death", status: 1)
        } catch .peerDied {
            exit(0)
        }
    default:
        fail("unknown mode \(mode)", status: 2)
    }
}

do {
    try run(Array(CommandLine.arguments.dropFirst()))
} catch {
    fail("\(error)", status: 3)
}
