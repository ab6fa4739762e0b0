import Foundation
import ModelFormats
import XCTest

/// Builds safetensors bytes in memory: header length, JSON header (padded with spaces to 8 bytes), data.
enum SafetensorsBytes {
    static func make(header: String, data: [UInt8]) -> [UInt8] {
        var h = Array(header.utf8)
        while h.count % 8 != 0 { h.append(0x20) }
        var out: [UInt8] = []
        withUnsafeBytes(of: UInt64(h.count).littleEndian) { out.append(contentsOf: $0) }
        return out + h + data
    }

    /// Two F32 tensors and one U32, back to back, with metadata.
    static let validHeader = #"{"__metadata__":{"format":"pt"},"a":{"dtype":"F32","shape":[2,3],"data_offsets":[0,24]},"#
        + #""b":{"dtype":"F16","shape":[4],"data_offsets":[24,32]},"c.weight":{"dtype":"U32","shape":[1,2],"data_offsets":[32,40]}}"#
    static let validData: [UInt8] = (0..<40).map { UInt8($0) }
    static var valid: [UInt8] { make(header: validHeader, data: validData) }
}

final class SafetensorsTests: XCTestCase {
    private func parse(_ bytes: [UInt8]) throws -> SafetensorsFile {
        try SafetensorsFile(file: MappedFile(copying: bytes, path: "test.safetensors"))
    }

    private func assertRefused(_ bytes: [UInt8], _ fragment: String, file: StaticString = #filePath, line: UInt = #line) {
        XCTAssertThrowsError(try parse(bytes), file: file, line: line) { error in
            let message = "\(error)"
            XCTAssertTrue(error is ModelFormatError, "not a ModelFormatError: \(error)", file: file, line: line)
            XCTAssertTrue(message.contains(fragment), "'\(message)' lacks '\(fragment)'", file: file, line: line)
            XCTAssertFalse(message.contains("\n"), "one line: \(message)", file: file, line: line)
        }
    }

    func testParsesAValidFile() throws {
        let f = try parse(SafetensorsBytes.valid)
        XCTAssertEqual(f.tensors.map(\.name), ["a", "b", "c.weight"])
        XCTAssertEqual(f.metadata, ["format": "pt"])
        let a = try XCTUnwrap(f.tensor(named: "a"))
        XCTAssertEqual(a.dtype, .f32)
        XCTAssertEqual(a.shape, [2, 3])
        XCTAssertEqual(Array(f.data(for: a)), Array(0..<24))
        let c = try XCTUnwrap(f.tensor(named: "c.weight"))
        XCTAssertEqual(Array(f.data(for: c)), Array(32..<40))
        XCTAssertNil(f.tensor(named: "missing"))
    }

    func testRefusesHostileHeaders() {
        let t = SafetensorsBytes.self
        assertRefused([1, 2, 3], "shorter than the 8-byte header length")
        var huge = t.valid
        huge.replaceSubrange(0..<8, with: [0, 0, 0, 0, 0, 0, 0, 0x7F])
        assertRefused(huge, "header length")
        var past = t.valid
        past.replaceSubrange(0..<8, with: [0, 0, 1, 0, 0, 0, 0, 0])
        assertRefused(past, "runs past the end")
        assertRefused(t.make(header: "[1,2]", data: []), "not a JSON object")
        assertRefused(t.make(header: #"{"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]}"#, data: Array(repeating: 0, count: 8)),
                      "invalid JSON")
        assertRefused(t.make(header: #"{"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]}}"#, data: [0, 0]), "outside")
        assertRefused(t.make(header: #"{"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]},"b":{"dtype":"F32","shape":[2],"data_offsets":[4,12]}}"#,
                             data: Array(repeating: 0, count: 12)), "overlap")
        assertRefused(t.make(header: #"{"a":{"dtype":"Q9","shape":[2],"data_offsets":[0,8]}}"#, data: Array(repeating: 0, count: 8)),
                      "unknown dtype 'Q9'")
        assertRefused(t.make(header: #"{"a":{"dtype":"F32","shape":[4294967296,4294967296,4294967296],"data_offsets":[0,8]}}"#,
                             data: Array(repeating: 0, count: 8)), "overflows")
        assertRefused(t.make(header: #"{"a":{"dtype":"F32","shape":[3],"data_offsets":[0,8]}}"#, data: Array(repeating: 0, count: 8)),
                      "needs 12")
        assertRefused(t.make(header: #"{"a":{"dtype":"F32","shape":[-1],"data_offsets":[0,8]}}"#, data: Array(repeating: 0, count: 8)),
                      "non-negative integer")
        assertRefused(t.make(header: #"{"a":{"dtype":"F32","shape":[2],"data_offsets":[8,0]}}"#, data: Array(repeating: 0, count: 8)),
                      "outside")
        assertRefused(t.make(header: #"{"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]},"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]}}"#,
                             data: Array(repeating: 0, count: 8)), "duplicate key")
        assertRefused(t.make(header: #"{"__metadata__":{"x":1}}"#, data: []), "not a string")
        assertRefused(t.make(header: String(repeating: "[", count: 200), data: []), "not a JSON object")
        assertRefused(t.make(header: "{\"a\":" + String(repeating: "[", count: 200), data: []), "nesting deeper")
    }

    /// Thousands of seeded mutations of a valid file (bytes flipped, digits changed, truncated, spliced): every one
    /// either parses into tensors that lie inside the file, or fails with a one-line ModelFormatError. A crash or an
    /// out-of-bounds read fails the run (the test process dies).
    func testMutationFuzzNeverCrashes() throws {
        var rng = SplitMix64(state: 0x5AFE_7E45)
        let base = SafetensorsBytes.valid
        let headerEnd = 8 + Int(base[0])
        let interesting: [UInt8] = Array("0123456789-.eE{}[]\",: ".utf8) + [0, 0xFF, 0x80, 0xC3]
        var accepted = 0, refused = 0
        for _ in 0..<5000 {
            var bytes = base
            for _ in 0..<(1 + Int(rng.next() % 4)) {
                let position = Int(rng.next() % UInt64(bytes.count))
                switch rng.next() % 6 {
                case 0: bytes[position] ^= UInt8(1 << (rng.next() % 8))
                case 1: bytes[position] = interesting[Int(rng.next() % UInt64(interesting.count))]
                case 2: bytes.removeSubrange(position..<min(bytes.count, position + 1 + Int(rng.next() % 8)))
                case 3: bytes.insert(interesting[Int(rng.next() % UInt64(interesting.count))], at: position)
                case 4: bytes = Array(bytes.prefix(Int(rng.next() % UInt64(bytes.count + 1))))
                default:
                    // Mutate inside the header's numbers most of the time, where the offsets and shapes are.
                    let p = 8 + Int(rng.next() % UInt64(headerEnd - 8))
                    if p < bytes.count, (0x30...0x39).contains(bytes[p]) { bytes[p] = 0x30 + UInt8(rng.next() % 10) }
                }
                if bytes.isEmpty { break }
            }
            do {
                let f = try parse(bytes)
                for t in f.tensors {
                    XCTAssertTrue(t.byteRange.lowerBound >= f.dataOffset && t.byteRange.upperBound <= bytes.count, t.name)
                    var sum = 0
                    for b in f.data(for: t) { sum &+= Int(b) } // touches every byte: a bad range would fault here
                    _ = sum
                }
                accepted += 1
            } catch let error as ModelFormatError {
                XCTAssertFalse(error.message.isEmpty)
                XCTAssertFalse(error.message.contains("\n"), error.message)
                refused += 1
            }
        }
        print("safetensors fuzz: \(accepted) mutations accepted, \(refused) refused")
        XCTAssertGreaterThan(refused, 2500)
        XCTAssertGreaterThan(accepted, 50)
    }

    func testJSONParserAndFlattening() throws {
        let v = try JSONParser.parse(Array(#" {"a": {"b": 1, "c": [1.5, "x\u00e9\ud83d\ude00"]}, "d": true, "e": null, "f": -0.25e1} "#.utf8),
                                     what: "test")
        XCTAssertEqual(v["a"]?["b"], .int(1))
        XCTAssertEqual(v["a"]?["c"], .array([.double(1.5), .string("xé😀")]))
        XCTAssertEqual(v["f"]?.doubleValue, -2.5)
        XCTAssertEqual(v.flattened().map(\.key), ["a.b", "a.c", "d", "e", "f"])
        for bad in ["", "{", "01", "1.", "\"\\x\"", "[1,]", "{\"a\" 1}", "tru", "\"\u{1}\"", "1e999", "{} x"] {
            XCTAssertThrowsError(try JSONParser.parse(Array(bad.utf8), what: "test"), bad)
        }
    }

    func testModelDirectoryWithIndexAndHostileShardNames() throws {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("st-\(getpid())-\(UInt32.random(in: 0...UInt32.max))")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: dir) }
        func write(_ name: String, _ bytes: [UInt8]) throws { try Data(bytes).write(to: dir.appendingPathComponent(name)) }
        XCTAssertThrowsError(try SafetensorsModel(directory: dir.path)) { XCTAssertTrue("\($0)".contains("config.json"), "\($0)") }
        try write("config.json", Array(#"{"model_type":"llama","rope_scaling":{"factor":8.0}}"#.utf8))
        XCTAssertThrowsError(try SafetensorsModel(directory: dir.path)) { XCTAssertTrue("\($0)".contains("no .safetensors"), "\($0)") }
        try write("model-1.safetensors", SafetensorsBytes.valid)
        try write("model-2.safetensors", SafetensorsBytes.make(header: #"{"d":{"dtype":"BF16","shape":[2],"data_offsets":[0,4]}}"#, data: [1, 2, 3, 4]))
        let listed = try SafetensorsModel(directory: dir.path)
        XCTAssertEqual(listed.tensorNames, ["a", "b", "c.weight", "d"])
        XCTAssertEqual(listed.config.flattened().map(\.key), ["model_type", "rope_scaling.factor"])
        XCTAssertFalse(listed.isMLXQuantized)
        try write("model.safetensors.index.json", Array(#"{"weight_map":{"a":"model-1.safetensors","d":"model-2.safetensors"}}"#.utf8))
        XCTAssertEqual(try SafetensorsModel(directory: dir.path).tensorNames.count, 4)
        try write("model.safetensors.index.json", Array(#"{"weight_map":{"a":"../etc/passwd.safetensors"}}"#.utf8))
        XCTAssertThrowsError(try SafetensorsModel(directory: dir.path)) { XCTAssertTrue("\($0)".contains("inside the directory"), "\($0)") }
        try write("model.safetensors.index.json", Array(#"{"weight_map":{"zz":"model-1.safetensors"}}"#.utf8))
        XCTAssertThrowsError(try SafetensorsModel(directory: dir.path)) { XCTAssertTrue("\($0)".contains("which lacks it"), "\($0)") }
        try FileManager.default.removeItem(at: dir.appendingPathComponent("model.safetensors.index.json"))
        try write("model-3.safetensors", SafetensorsBytes.make(header: #"{"a":{"dtype":"U8","shape":[1],"data_offsets":[0,1]}}"#, data: [9]))
        XCTAssertThrowsError(try SafetensorsModel(directory: dir.path)) { XCTAssertTrue("\($0)".contains("more than one file"), "\($0)") }
    }
}
