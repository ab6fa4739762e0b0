import Foundation
import ModelFormats
import StructuredOutput
import Tokenizer
import XCTest

/// The default model's tokenizer and its constraint vocabulary, loaded once per test process.
enum Model {
    static let path: String? = {
        let name = "SmolLM2-135M-Instruct.Q4_1.gguf"
        var candidates: [String] = []
        if let env = ProcessInfo.processInfo.environment["MODELHOST_TEST_MODEL"], !env.isEmpty { candidates.append(env) }
        candidates.append(Repo.root.appendingPathComponent("models/\(name)").path)
        candidates.append("/work/models/\(name)")
        return candidates.first { FileManager.default.fileExists(atPath: $0) }
    }()

    static let tokenizer: (any TextTokenizer)? = {
        guard let path else { return nil }
        return try? Tokenizers.load(gguf: GGUFFile(path: path))
    }()

    static let vocabulary: ConstraintVocabulary? = tokenizer.map(makeVocabulary)

    /// What the worker does: each token's decoded bytes, nil for special tokens; EOS/EOT end the output.
    static func makeVocabulary(_ tokenizer: any TextTokenizer) -> ConstraintVocabulary {
        let bytes: [[UInt8]?] = (0..<Int32(tokenizer.vocabularySize)).map { id in
            tokenizer.isSpecial(id) ? nil : tokenizer.decodedBytes(of: id, isFirst: false, skipSpecial: false)
        }
        return ConstraintVocabulary(tokenBytes: bytes, endTokens: tokenizer.endOfTurnTokens)
    }

    /// Fails (never skips) when the model is missing: CI installs it first.
    static func require(file: StaticString = #filePath, line: UInt = #line) throws
        -> (tokenizer: any TextTokenizer, vocabulary: ConstraintVocabulary)
    {
        guard let tokenizer, let vocabulary else {
            XCTFail("default model not found or unreadable (MODELHOST_TEST_MODEL, models/, /work/models/); set "
                + "MODELHOST_TEST_MODEL or run scripts/install-default-model", file: file, line: line)
            throw ConstraintError("default model missing")
        }
        return (tokenizer, vocabulary)
    }
}

enum Repo {
    static let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
        .deletingLastPathComponent()
}

/// A small deterministic generator (SplitMix64) so sampled outputs are the same on every machine.
struct SeededRandom: RandomNumberGenerator {
    var state: UInt64

    init(seed: UInt64) {
        state = seed
    }

    mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }
}

extension JSONConstraint {
    /// Every token `accept` takes now, found by trying each one: what `allowedTokens()` must equal.
    func acceptedByTrial(_ vocabulary: ConstraintVocabulary) -> Set<Int32> {
        var accepted = Set<Int32>()
        for id in 0..<Int32(vocabulary.count) {
            var copy = self
            if copy.accept(id) { accepted.insert(id) }
        }
        return accepted
    }

    /// Feeds `text` as the tokenizer splits it; false at the first token the constraint rejects.
    mutating func feed(_ text: String, tokenizer: any TextTokenizer) -> Bool {
        for token in tokenizer.encode(text, addSpecial: false, parseSpecial: false) where !accept(token) {
            return false
        }
        return true
    }

    /// Feeds `bytes` one single-byte token at a time (how a model would spell text the vocabulary lacks).
    mutating func feedBytes(_ bytes: [UInt8], vocabulary: ConstraintVocabulary) -> Bool {
        for b in bytes {
            guard let token = vocabulary.token(forByte: b), accept(token) else { return false }
        }
        return true
    }
}

/// Samples one output through the mask: random logits, argmax of what the mask leaves. After `softCap` tokens it
/// steers toward closing: of the single-byte tokens the constraint accepts, it takes one that shortens the
/// shortest completion (the output stays valid because every pick goes through `accept`).
struct Sampler {
    let vocabulary: ConstraintVocabulary
    var softCap = 40
    var hardCap = 1500

    struct Result {
        var bytes: [UInt8] = []
        var tokens = 0
        var ended = false
        var failure: String?
    }

    func generate(_ constraint: inout JSONConstraint, rng: inout SeededRandom) -> Result {
        var result = Result()
        var logits = [Float](repeating: 0, count: vocabulary.count)
        while result.tokens < hardCap {
            if constraint.mustEnd { result.ended = true; return result }
            let token: Int32
            if result.tokens < softCap {
                for i in logits.indices { logits[i] = Float(rng.next() >> 40) }
                logits.withUnsafeMutableBufferPointer { constraint.mask($0) }
                var best = -Float.infinity, pick = -1
                for i in logits.indices where logits[i] > best { best = logits[i]; pick = i }
                guard pick >= 0 else { result.failure = "mask allowed no token"; return result }
                token = Int32(pick)
            } else {
                if constraint.isComplete { result.ended = true; return result }
                var best = Int.max, choices: [Int32] = []
                for b in 0..<256 {
                    guard let t = vocabulary.token(forByte: UInt8(b)) else { continue }
                    var copy = constraint
                    guard copy.accept(t) else { continue }
                    let left = copy.minimumBytesToComplete
                    if left < best { best = left; choices = [t] } else if left == best { choices.append(t) }
                }
                guard !choices.isEmpty else { result.failure = "no single-byte token continues the value"; return result }
                token = choices[Int(rng.next() % UInt64(choices.count))]
            }
            if vocabulary.bytes(of: token) == nil {
                guard constraint.accept(token) else { result.failure = "end token masked in but rejected"; return result }
                result.ended = true
                return result
            }
            guard constraint.accept(token) else {
                result.failure = "token \(token) allowed by the mask but rejected by accept"
                return result
            }
            result.bytes += vocabulary.bytes(of: token)!
            result.tokens += 1
        }
        result.failure = "no end after \(hardCap) tokens"
        return result
    }
}
