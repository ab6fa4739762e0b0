import IPC

/// The seeded frame generator of the stress tests (Tests/IPCPeer/main.swift holds the same code; the tests fail if the
/// two drift apart): frame `index` of `seed` has a deterministic size and content, so each side can verify
/// without keeping copies.
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
