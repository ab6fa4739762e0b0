import Foundation
import ModelFormats
import XCTest

final class WriterTests: XCTestCase {
    static let everyType: [(String, GGUFValue)] = [
        ("t.uint8", .uint8(200)), ("t.int8", .int8(-100)), ("t.uint16", .uint16(60000)), ("t.int16", .int16(-30000)),
        ("t.uint32", .uint32(4_000_000_000)), ("t.int32", .int32(-2_000_000_000)), ("t.float32", .float32(1.5)),
        ("t.bool", .bool(true)), ("t.string", .string("héllo wörld 🌍")), ("t.uint64", .uint64(.max)),
        ("t.int64", .int64(.min)), ("t.float64", .float64(-2.25e300)),
        ("t.array.strings", .array([.string("a"), .string(""), .string("ü")])),
        ("t.array.ints", .array([.int32(1), .int32(-2)])),
        ("t.array.nested", .array([.array([.uint8(1)]), .array([.uint8(2), .uint8(3)])])),
        ("t.array.empty", .array([])),
    ]

    func testMetadataOfEveryTypeRoundTrips() throws {
        var writer = try GGUFWriter()
        for (key, value) in Self.everyType { try writer.set(key, value) }
        try writer.set("t.uint8", .uint8(7))  // replacing keeps the original position
        let path = temporaryPath(self)
        try writer.write(to: path)
        let file = try GGUFFile(path: path)
        XCTAssertEqual(file.version, 3)
        XCTAssertEqual(file.metadataKeys, Self.everyType.map(\.0))
        for (key, value) in Self.everyType where key != "t.uint8" {
            XCTAssertEqual(file.metadata[key], value, key)
        }
        XCTAssertEqual(file.metadata["t.uint8"], .uint8(7))
        XCTAssertTrue(file.tensors.isEmpty)
    }

    func testTensorsRoundTripWithAlignment() throws {
        var writer = try GGUFWriter(alignment: 64)
        try writer.set("general.architecture", .string("test"))
        let a = (0..<12).map { Float($0) - 5.5 }
        let b = (0..<64).map { Float(sin(Double($0))) }
        try writer.addTensor(name: "a", dimensions: [3, 4], values: a)
        try writer.addTensor(name: "b16", dimensions: [64], values: b, as: .f16)
        try writer.addTensor(name: "bq", dimensions: [32, 2], values: b, as: .q8_0)
        let path = temporaryPath(self)
        try writer.write(to: path)
        let file = try GGUFFile(path: path)
        XCTAssertEqual(file.alignment, 64)
        XCTAssertEqual(file.metadata["general.alignment"], .uint32(64))
        XCTAssertEqual(file.architecture, "test")
        XCTAssertEqual(file.tensors.map(\.name), ["a", "b16", "bq"])
        for info in file.tensors { XCTAssertEqual(info.offset % 64, 0, info.name) }

        let infoA = try XCTUnwrap(file.tensor(named: "a"))
        XCTAssertEqual(infoA.dimensions, [3, 4])
        XCTAssertEqual(infoA.elementCount, 12)
        XCTAssertEqual(try file.withData(for: infoA) { try GGMLEncoding.decode($0, as: .f32) }, a)

        let info16 = try XCTUnwrap(file.tensor(named: "b16"))
        XCTAssertEqual(info16.byteCount, 128)
        for (x, y) in zip(try file.withData(for: info16) { try GGMLEncoding.decode($0, as: .f16) }, b) {
            XCTAssertEqual(x, y, accuracy: 1e-3)
        }
        let infoQ = try XCTUnwrap(file.tensor(named: "bq"))
        XCTAssertEqual(infoQ.type, .q8_0)
        XCTAssertEqual(infoQ.byteCount, 68)
        for (x, y) in zip(try file.withData(for: infoQ) { try GGMLEncoding.decode($0, as: .q8_0) }, b) {
            XCTAssertEqual(x, y, accuracy: 1.0 / 127 * 0.5 + 1e-3)  // half a quantization step of a |x|≤1 block
        }
    }

    func testQ8_0MatchesGGMLReferenceQuantizer() throws {
        // Block max 2.54 → scale 0.02 (as f16), so 1.0 → round(50.0) = 50 and -0.01 → round(-0.5) = -1 (away from 0).
        var values = [Float](repeating: 0, count: 32)
        values[0] = 2.54
        values[1] = 1.0
        values[2] = -0.01
        let bytes = try GGMLEncoding.encode(values, as: .q8_0)
        XCTAssertEqual(bytes.count, 34)
        XCTAssertEqual(UInt16(bytes[0]) | UInt16(bytes[1]) << 8, Float16(Float(2.54) / 127).bitPattern)
        XCTAssertEqual(Int8(bitPattern: bytes[2]), 127)
        XCTAssertEqual(Int8(bitPattern: bytes[3]), 50)
        XCTAssertEqual(Int8(bitPattern: bytes[4]), -1)
        XCTAssertEqual(try GGMLEncoding.encode([Float](repeating: 0, count: 32), as: .q8_0), [UInt8](repeating: 0, count: 34))
    }

    func testWriterRejectsInvalidInput() throws {
        var writer = try GGUFWriter()
        XCTAssertThrowsError(try writer.set("mixed", .array([.int32(1), .string("x")])))
        XCTAssertThrowsError(try writer.set("", .bool(true)))
        XCTAssertThrowsError(try writer.addTensor(name: "q", dimensions: [31], values: Array(repeating: 0, count: 31), as: .q8_0))
        XCTAssertThrowsError(try writer.addTensor(name: "n", dimensions: [2, 2], values: [1, 2, 3]))
        XCTAssertThrowsError(try writer.addTensor(name: "z", dimensions: [0], values: []))
        XCTAssertThrowsError(try writer.addTensor(name: "r", type: .f32, dimensions: [2], bytes: [0, 0, 0]))
        XCTAssertThrowsError(try GGMLEncoding.encode([1], as: .q4_0))
        try writer.addTensor(name: "ok", dimensions: [1], values: [1])
        XCTAssertThrowsError(try writer.addTensor(name: "ok", dimensions: [1], values: [1]))
        XCTAssertThrowsError(try GGUFWriter(alignment: 24))
    }

    func testTypeGeometryMatchesGGML() {
        // Block sizes from ggml-common.h (the `gguf` package's GGML_QUANT_SIZES agrees except for the unstored Q8_1).
        XCTAssertEqual(GGMLType.q4_1.blockElements, 32)
        XCTAssertEqual(GGMLType.q4_1.blockBytes, 20)
        XCTAssertEqual(GGMLType.q6_K.blockBytes, 210)
        XCTAssertEqual(GGMLType.iq4_xs.blockBytes, 136)
        XCTAssertEqual(GGMLType.q4_K.rowBytes(elements: 512), 288)
        XCTAssertNil(GGMLType.q4_K.rowBytes(elements: 100))
        XCTAssertEqual(GGMLType.bf16.name, "BF16")
        XCTAssertEqual(GGMLType.iq2_xxs.name, "IQ2_XXS")
        XCTAssertNil(GGMLType(rawValue: 4), "Q4_2 was removed from ggml")
    }
}

final class MappedFileTests: XCTestCase {
    func testMapsFilesAndMemoryAndReportsErrors() throws {
        let path = temporaryPath(self, suffix: ".bin")
        try Data([1, 2, 3]).write(to: URL(fileURLWithPath: path))
        // `bytes` is valid only while the MappedFile lives: keep each one in a variable.
        let mapped = try MappedFile(path: path)
        withExtendedLifetime(mapped) { XCTAssertEqual(Array(mapped.bytes), [1, 2, 3]) }
        let copied = try MappedFile(copying: [4, 5])
        withExtendedLifetime(copied) { XCTAssertEqual(Array(copied.bytes), [4, 5]) }
        XCTAssertEqual(try MappedFile(copying: []).bytes.count, 0)
        let empty = temporaryPath(self, suffix: ".bin")
        try Data().write(to: URL(fileURLWithPath: empty))
        XCTAssertEqual(try MappedFile(path: empty).bytes.count, 0)
        XCTAssertThrowsError(try MappedFile(path: "/nonexistent/model.gguf")) { error in
            XCTAssertTrue("\(error)".contains("cannot open '/nonexistent/model.gguf'"))
        }
        XCTAssertThrowsError(try MappedFile(path: NSTemporaryDirectory())) { error in
            XCTAssertTrue("\(error)".contains("is not a regular file"))
        }
    }
}
