import Foundation
import ModelFormats
import XCTest

/// Malformed files must produce one actionable error, never a crash or an out-of-bounds read.
final class HostileInputTests: XCTestCase {
    /// A valid two-tensor file assembled by hand, so that single fields can be corrupted.
    private func validFile(
        alignment: Int = 32, secondOffset: UInt64 = 32, secondDims: [UInt64] = [8], secondType: UInt32 = 0,
        secondName: String = "b", dataBytes: Int = 64
    ) -> [UInt8] {
        var raw = RawGGUF()
        raw.header(tensors: 2, metadata: 1)
        raw.string("general.architecture")
        raw.u32(8)
        raw.string("x")
        raw.tensorInfo("a", dims: [8], type: 0, offset: 0)
        raw.tensorInfo(secondName, dims: secondDims, type: secondType, offset: secondOffset)
        raw.pad(to: alignment)
        raw.zeros(dataBytes)
        return raw.bytes
    }

    func testBaselineIsValid() throws {
        let file = try parse(validFile(), at: temporaryPath(self))
        XCTAssertEqual(file.tensors.map(\.byteCount), [32, 32])
        XCTAssertEqual(file.tensors[1].offset - file.tensors[0].offset, 32)
    }

    func testAcceptsVersion2() throws {
        var raw = RawGGUF()
        raw.header(version: 2, tensors: 0, metadata: 1)
        raw.string("general.architecture")
        raw.u32(8)
        raw.string("llama")
        let file = try parseInMemory(raw.bytes)
        XCTAssertEqual(file.version, 2)
        XCTAssertEqual(file.architecture, "llama")
    }

    func testRejectsNonGGUFAndUnsupportedVersions() {
        assertRejects(Array("not a model at all".utf8), containing: "not a GGUF file", self)
        assertRejects([], containing: "needs 4 bytes", self)
        var v1 = RawGGUF()
        v1.header(version: 1, tensors: 0, metadata: 0)
        assertRejects(v1.bytes, containing: "GGUF v1", self)
        var bigEndian = RawGGUF()
        bigEndian.header(version: UInt32(3).byteSwapped, tensors: 0, metadata: 0)
        assertRejects(bigEndian.bytes, containing: "big-endian", self)
    }

    func testRejectsBadTensorGeometry() {
        assertRejects(validFile(secondDims: [1, 1, 1, 1, 1]), containing: "has 5 dimensions", self)
        assertRejects(validFile(secondDims: []), containing: "has 0 dimensions", self)
        assertRejects(validFile(secondDims: [0]), containing: "dimension 0 = 0", self)
        assertRejects(validFile(secondDims: [UInt64.max]), containing: "dimension 0 = -1", self)
        assertRejects(validFile(secondDims: [1 << 40, 1 << 40]), containing: "overflows", self)
        assertRejects(validFile(secondDims: [8], secondType: 2), containing: "not a multiple of the Q4_0 block size 32", self)
        assertRejects(validFile(secondType: 4), containing: "unknown ggml type 4", self)
        assertRejects(validFile(secondType: 999), containing: "unknown ggml type 999", self)
    }

    func testRejectsBadPlacement() {
        assertRejects(
            validFile(secondOffset: 64), containing: "tensor 'b' data [", self)
        assertRejects(validFile(secondOffset: 64), containing: "runs past the end of the file", self)
        assertRejects(validFile(secondOffset: 0), containing: "overlap", self)
        assertRejects(validFile(secondOffset: 16), containing: "not a multiple of the file's alignment 32", self)
        assertRejects(validFile(secondOffset: UInt64.max - 31), containing: "past any file size", self)
        assertRejects(validFile(secondOffset: UInt64(Int.max) - 31), containing: "runs past the end", self)
        assertRejects(validFile(dataBytes: 40), containing: "runs past the end of the file", self)
        assertRejects(validFile(secondName: "a"), containing: "tensor 'a' appears twice", self)
    }

    func testRejectsBadMetadata() {
        var duplicate = RawGGUF()
        duplicate.header(tensors: 0, metadata: 2)
        for _ in 0..<2 {
            duplicate.string("k")
            duplicate.u32(0)
            duplicate.bytes.append(1)
        }
        assertRejects(duplicate.bytes, containing: "'k' appears twice", self)

        var badUTF8 = RawGGUF()
        badUTF8.header(tensors: 0, metadata: 1)
        badUTF8.string("k")
        badUTF8.u32(8)
        badUTF8.rawString([0x61, 0xFF, 0x62])
        assertRejects(badUTF8.bytes, containing: "not valid UTF-8", self)

        var surrogate = RawGGUF()
        surrogate.header(tensors: 0, metadata: 1)
        surrogate.rawString([0xED, 0xA0, 0x80])
        surrogate.zeros(16)
        assertRejects(surrogate.bytes, containing: "metadata key #0 at byte 24 is not valid UTF-8", self)

        var hugeArray = RawGGUF()
        hugeArray.header(tensors: 0, metadata: 1)
        hugeArray.string("tokenizer.ggml.tokens")
        hugeArray.u32(9)
        hugeArray.u32(8)
        hugeArray.u64(UInt64(1) << 62)
        assertRejects(hugeArray.bytes, containing: "declares 4611686018427387904 elements", self)

        var tooManyForFile = RawGGUF()
        tooManyForFile.header(tensors: 0, metadata: 1)
        tooManyForFile.string("k")
        tooManyForFile.u32(9)
        tooManyForFile.u32(5)
        tooManyForFile.u64(1000)
        tooManyForFile.zeros(100)
        assertRejects(tooManyForFile.bytes, containing: "more than the 100 remaining bytes can hold", self)

        var hugeString = RawGGUF()
        hugeString.header(tensors: 0, metadata: 1)
        hugeString.string("k")
        hugeString.u32(8)
        hugeString.u64(.max)
        assertRejects(hugeString.bytes, containing: "claims 18446744073709551615 bytes", self)

        var hugeCounts = RawGGUF()
        hugeCounts.header(tensors: .max, metadata: 0)
        assertRejects(hugeCounts.bytes, containing: "declares 18446744073709551615 tensors", self)

        var unknownType = RawGGUF()
        unknownType.header(tensors: 0, metadata: 1)
        unknownType.string("k")
        unknownType.u32(13)
        assertRejects(unknownType.bytes, containing: "unknown value type 13", self)

        var badBool = RawGGUF()
        badBool.header(tensors: 0, metadata: 1)
        badBool.string("k")
        badBool.u32(7)
        badBool.bytes.append(2)
        assertRejects(badBool.bytes, containing: "must be 0 or 1", self)

        var deep = RawGGUF()
        deep.header(tensors: 0, metadata: 1)
        deep.string("k")
        deep.u32(9)
        for _ in 0..<20 {
            deep.u32(9)
            deep.u64(1)
        }
        deep.zeros(64)
        assertRejects(deep.bytes, containing: "nests arrays deeper", self)

        var alignment = RawGGUF()
        alignment.header(tensors: 0, metadata: 1)
        alignment.string("general.alignment")
        alignment.u32(4)
        alignment.u32(24)
        assertRejects(alignment.bytes, containing: "general.alignment is uint32(24)", self)
    }

    // MARK: - Mutation fuzzing

    /// A small but complete file: metadata of every type and tensors of three types.
    private func seedFile() throws -> [UInt8] {
        var writer = try GGUFWriter()
        for (key, value) in WriterTests.everyType { try writer.set(key, value) }
        try writer.addTensor(name: "w", dimensions: [4, 2], values: (0..<8).map(Float.init))
        try writer.addTensor(name: "h", dimensions: [2], values: [1, 2], as: .f16)
        try writer.addTensor(name: "q", dimensions: [32], values: (0..<32).map(Float.init), as: .q8_0)
        return writer.serialized()
    }

    /// Parses `bytes`, which may be anything; returns whether it parsed. A crash fails the whole run.
    private func survives(_ bytes: [UInt8]) -> Bool {
        do {
            let file = try parseInMemory(bytes)
            for info in file.tensors {  // parsed files must describe only in-bounds data
                XCTAssertGreaterThanOrEqual(info.offset, file.dataOffset)
                XCTAssertLessThanOrEqual(info.offset + info.byteCount, bytes.count)
                _ = file.withData(for: info) { $0.reduce(0, &+) }
            }
            return true
        } catch is ModelFormatError {
            return false
        } catch {
            XCTFail("non-ModelFormatError thrown: \(error)")
            return false
        }
    }

    func testEveryTruncationThrowsOrParses() throws {
        let seed = try seedFile()
        var parsed = 0
        for length in 0..<seed.count where survives(Array(seed.prefix(length))) {
            parsed += 1
            // Only trailing alignment padding after the last tensor can be cut without losing anything.
            XCTAssertGreaterThan(length, seed.count - 32)
        }
        XCTAssertLessThan(parsed, 32)
        XCTAssertTrue(survives(seed))
    }

    func testRandomByteFlipsThrowOrParse() throws {
        let seed = try seedFile()
        var generator = SplitMix64(state: 0x5EED_0001)
        var rejected = 0
        for _ in 0..<20_000 {
            var bytes = seed
            for _ in 0..<Int.random(in: 1...4, using: &generator) {
                let index = Int.random(in: 0..<bytes.count, using: &generator)
                bytes[index] = UInt8.random(in: 0...255, using: &generator)
            }
            if !survives(bytes) { rejected += 1 }
        }
        XCTAssertGreaterThan(rejected, 0, "some mutations must hit structural fields")
    }

    func testHugeValuesInEveryCountFieldThrowOrParse() throws {
        let seed = try seedFile()
        let hostile: [UInt64] = [.max, .max - 1, 1 << 63, 1 << 62, 1 << 32, UInt64(UInt32.max), 1 << 31, 0]
        var generator = SplitMix64(state: 0x5EED_0002)
        // Overwrite every 8-byte-aligned and a random sample of unaligned positions with extreme 64-bit values.
        var positions = Array(stride(from: 8, to: seed.count - 8, by: 4))
        positions += (0..<200).map { _ in Int.random(in: 0..<(seed.count - 8), using: &generator) }
        for position in positions {
            for value in hostile {
                var bytes = seed
                withUnsafeBytes(of: value.littleEndian) { raw in
                    for (i, byte) in raw.enumerated() { bytes[position + i] = byte }
                }
                _ = survives(bytes)
            }
        }
    }
}
