import Foundation
import ModelFormats
import XCTest

/// Checks the reader against the `gguf` Python package's view of the default model
/// (Fixtures/smollm2_reference.json, written by scripts/fixtures/gguf_reference.py).
final class DefaultModelTests: XCTestCase {
    private func loadReference() throws -> [String: Any] {
        let data = try Data(contentsOf: fixtureURL("smollm2_reference.json"))
        return try XCTUnwrap(JSONSerialization.jsonObject(with: data) as? [String: Any])
    }

    func testHeaderAndTensorTableMatchReference() throws {
        let file = try GGUFFile(path: defaultModelPath())
        let reference = try loadReference()
        XCTAssertEqual(Int(file.version), reference["version"] as? Int)
        XCTAssertEqual(file.alignment, reference["alignment"] as? Int)
        XCTAssertEqual(file.dataOffset, reference["data_offset"] as? Int)
        XCTAssertEqual(file.architecture, "llama")

        let tensors = try XCTUnwrap(reference["tensors"] as? [[String: Any]])
        XCTAssertEqual(file.tensors.count, tensors.count)
        for (info, expected) in zip(file.tensors, tensors) {
            XCTAssertEqual(info.name, expected["name"] as? String)
            XCTAssertEqual(info.type.name, expected["type"] as? String, info.name)
            XCTAssertEqual(info.dimensions, expected["dimensions"] as? [Int], info.name)
            XCTAssertEqual(info.offset, expected["offset"] as? Int, info.name)
            XCTAssertEqual(info.byteCount, expected["byte_count"] as? Int, info.name)
            XCTAssertEqual(file.tensor(named: info.name), info)
            XCTAssertEqual(file.data(for: info).count, info.byteCount)
            let head = file.withData(for: info) { Self.fnv1a64(bytes: $0.prefix(4096)) }
            XCTAssertEqual(head, expected["head_fnv1a64"] as? String, info.name)
        }
        XCTAssertNil(file.tensor(named: "output.weight"), "SmolLM2 ties its output head to token_embd")
        let embedding = try XCTUnwrap(file.tensor(named: "token_embd.weight"))
        XCTAssertEqual(embedding.type, .q8_0)
        XCTAssertEqual(embedding.dimensions, [576, 49152])
        XCTAssertEqual(embedding.rowCount, 49152)
    }

    func testMetadataMatchesReference() throws {
        let file = try GGUFFile(path: defaultModelPath())
        let entries = try XCTUnwrap(try loadReference()["metadata"] as? [[String: Any]])
        XCTAssertEqual(file.metadataKeys, entries.map { $0["key"] as? String ?? "" })
        for entry in entries {
            let key = try XCTUnwrap(entry["key"] as? String)
            let value = try XCTUnwrap(file.metadata[key], key)
            let type = try XCTUnwrap(entry["type"] as? String)
            XCTAssertEqual(value.type.name, type, key)
            if type == "array" {
                let elements = try XCTUnwrap(value.arrayValue, key)
                XCTAssertEqual(elements.count, entry["count"] as? Int, key)
                XCTAssertEqual(elements.first?.type.name, entry["element_type"] as? String, key)
                let elementType = try XCTUnwrap(entry["element_type"] as? String)
                let texts = elements.map(Self.text)
                if let values = entry["values"] as? [Any] {
                    XCTAssertEqual(texts, values.map { Self.referenceText($0, type: elementType) }, key)
                } else {
                    let first = try XCTUnwrap(entry["first"] as? [Any]).map { Self.referenceText($0, type: elementType) }
                    let last = try XCTUnwrap(entry["last"] as? [Any]).map { Self.referenceText($0, type: elementType) }
                    XCTAssertEqual(Array(texts.prefix(first.count)), first, key)
                    XCTAssertEqual(Array(texts.suffix(last.count)), last, key)
                    XCTAssertEqual(Self.fnv1a64(texts), entry["fnv1a64"] as? String, key)
                }
            } else {
                XCTAssertEqual(Self.text(value), Self.referenceText(entry["value"] as Any, type: type), key)
            }
        }
        XCTAssertEqual(file.metadata["llama.block_count"]?.intValue, 30)
        XCTAssertEqual(file.metadata["llama.rope.freq_base"]?.doubleValue, 100_000)
        XCTAssertEqual(file.metadata["tokenizer.ggml.add_bos_token"]?.boolValue, false)
    }

    /// Parsing must not touch tensor data: the whole header of the 98 MB file parses in milliseconds.
    func testParsesQuickly() throws {
        let path = try defaultModelPath()
        _ = try GGUFFile(path: path)  // warm the page cache
        var best = Double.infinity
        for _ in 0..<5 {
            let start = DispatchTime.now().uptimeNanoseconds
            _ = try GGUFFile(path: path)
            best = min(best, Double(DispatchTime.now().uptimeNanoseconds - start) / 1e6)
        }
        print("GGUF parse of the default model: \(best) ms (best of 5)")
        // Generous bound (debug builds, shared CI machines): it catches per-byte work over the 98 MB of weights.
        XCTAssertLessThan(best, 500)
    }

    /// Our value rendered the way the fixture script renders Python values (str()).
    static func text(_ value: GGUFValue) -> String {
        switch value {
        case .string(let s): return s
        case .bool(let b): return b ? "True" : "False"
        case .float32(let f): return String(Double(f))
        case .float64(let d): return String(d)
        default: return value.intValue.map(String.init) ?? "\(value)"
        }
    }

    /// A reference JSON value of GGUF type `type`, rendered like `text(_: GGUFValue)`.
    static func referenceText(_ value: Any, type: String) -> String {
        switch type {
        case "string": return value as? String ?? "<not a string: \(value)>"
        case "bool": return (value as? Bool).map { $0 ? "True" : "False" } ?? "<not a bool: \(value)>"
        case "float32", "float64": return (value as? Double).map { String($0) } ?? "<not a number: \(value)>"
        default: return (value as? NSNumber).map { String($0.int64Value) } ?? "<not an integer: \(value)>"
        }
    }

    static func fnv1a64<S: Sequence>(bytes: S) -> String where S.Element == UInt8 {
        var hash: UInt64 = 0xcbf2_9ce4_8422_2325
        for byte in bytes { hash = (hash ^ UInt64(byte)) &* 0x100_0000_01b3 }
        let hex = String(hash, radix: 16)
        return String(repeating: "0", count: 16 - hex.count) + hex
    }

    static func fnv1a64(_ texts: [String]) -> String {
        var hash: UInt64 = 0xcbf2_9ce4_8422_2325
        for text in texts {
            for byte in text.utf8 + [0] {
                hash = (hash ^ UInt64(byte)) &* 0x100_0000_01b3
            }
        }
        let hex = String(hash, radix: 16)
        return String(repeating: "0", count: 16 - hex.count) + hex
    }
}
