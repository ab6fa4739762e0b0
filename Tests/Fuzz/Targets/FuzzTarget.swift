import Foundation

/// One fuzz target: a parser (or a parser and what runs on its output) that takes hostile bytes.
///
/// A target must never crash, hang or grow without bound on any input. Errors the parser throws are the expected
/// answer to bad input; a property the target checks on what did parse (a round trip, a grammar that never strands
/// generation) is reported with `FuzzFailure.report`, which traps so that libFuzzer records the input.
///
/// The same targets run in two ways: under libFuzzer (`scripts/fuzz`, an ASan + coverage build of
/// `modelhost-fuzz`), and in the ordinary test build, where `FuzzRegressionTests` replays the committed corpora
/// (`Tests/Fuzz/Corpus/<name>/`, which include every input that once crashed) so a fixed bug stays fixed.
public struct FuzzTarget: Sendable {
    /// The corpus folder name and the name `scripts/fuzz` and `modelhost-fuzz` accept.
    public let name: String
    /// What the input bytes are, for `modelhost-fuzz --list`.
    public let summary: String
    /// libFuzzer's `-max_len` for this target: inputs larger than the seeds need not be explored.
    public let maxLength: Int
    public let run: @Sendable (_ input: [UInt8]) -> Void

    public static let all: [FuzzTarget] = [
        FormatTargets.gguf, FormatTargets.safetensors, FormatTargets.modelFolder,
        TextTargets.json, TextTargets.jinja, TextTargets.tokenizerJSON, TextTargets.tokenize,
        SchemaTarget.schema,
        WireTargets.messages, WireTargets.ring,
    ]

    public static func named(_ name: String) -> FuzzTarget? { all.first { $0.name == name } }
}

/// A property a target checks did not hold.
enum FuzzFailure {
    static func report(_ target: String, _ message: String) -> Never {
        fatalError("fuzz target '\(target)': \(message)")
    }
}

/// Splits an input into the parts a multi-file target needs. The separator is plain text so that seeds stay
/// readable and libFuzzer's dictionary-free mutations keep it intact often enough.
public enum InputParts {
    static let separator = Array("\n#~#\n".utf8)

    public static func split(_ input: [UInt8], count: Int) -> [[UInt8]] {
        var parts: [[UInt8]] = []
        var start = 0
        var i = 0
        while i + separator.count <= input.count, parts.count < count - 1 {
            if input[i..<(i + separator.count)].elementsEqual(separator) {
                parts.append(Array(input[start..<i]))
                i += separator.count
                start = i
            } else {
                i += 1
            }
        }
        parts.append(Array(input[start...]))
        while parts.count < count { parts.append([]) }
        return parts
    }
}

/// A private scratch folder for targets whose parser reads files (model folders, tokenizer.json), in `/dev/shm`
/// when it exists so that a long run does not wear a disk. Removed at exit.
final class ScratchFolder: @unchecked Sendable {
    static let shared = ScratchFolder()
    let path: String

    private init() {
        let base = FileManager.default.fileExists(atPath: "/dev/shm") ? "/dev/shm" : NSTemporaryDirectory()
        var template = Array("\(base)/modelhost-fuzz-XXXXXX".utf8CString)
        let made = template.withUnsafeMutableBufferPointer { mkdtemp($0.baseAddress!) }
        precondition(made != nil, "cannot create a scratch folder under \(base)")
        path = String(cString: template)
        scratchFolderToRemove = path
        atexit { if let folder = scratchFolderToRemove { try? FileManager.default.removeItem(atPath: folder) } }
    }

    /// A fresh, empty sub-folder `name` (its previous contents removed).
    func reset(_ name: String) -> String {
        let folder = path + "/" + name
        try? FileManager.default.removeItem(atPath: folder)
        try? FileManager.default.createDirectory(atPath: folder, withIntermediateDirectories: true)
        return folder
    }

    func write(_ bytes: [UInt8], to path: String) {
        FileManager.default.createFile(atPath: path, contents: Data(bytes))
    }
}

nonisolated(unsafe) private var scratchFolderToRemove: String?

/// Where the committed test fixtures are, found from this file's location in the checkout.
enum Fixtures {
    static let testsDirectory = URL(fileURLWithPath: #filePath)
        .deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent().path

    static func path(_ relative: String) -> String { testsDirectory + "/" + relative }
}
