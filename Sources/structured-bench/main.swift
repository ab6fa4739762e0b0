// structured-bench: what JSON-schema constrained decoding costs per token on a real vocabulary.
//
//   structured-bench [--model PATH] [--tokens N] [--show N] [--worst]
//
// Prints the vocabulary's one-time build cost, each schema's compile cost, and the mean (and p50/p99) cost of
// mask + accept per generated token, with random logits, for a nested schema (also with length bounds on its strings)
// and for json_object mode. One thread.
// --show N prints the first N outputs of each; --worst prints where the slowest step happened.
import Foundation
import ModelFormats
import StructuredOutput
import Tokenizer

let nestedSchema = """
{"type":"object","properties":{
  "name":{"type":"string"},"age":{"type":"integer"},"email":{"type":["string","null"]},
  "address":{"type":"object","properties":{"street":{"type":"string"},"city":{"type":"string"},
     "zip":{"type":"string"},"country":{"enum":["US","FR","DE","JP"]}},"required":["street","city"],
     "additionalProperties":false},
  "orders":{"type":"array","maxItems":4,"items":{"type":"object","properties":{
     "id":{"type":"integer"},"total":{"type":"number"},"status":{"enum":["open","paid","shipped"]},
     "items":{"type":"array","items":{"$ref":"#/$defs/item"}}},"required":["id","status"],
     "additionalProperties":false}},
  "notes":{"anyOf":[{"type":"string"},{"type":"array","items":{"type":"string"}}]},
  "active":{"type":"boolean"}},
 "required":["name","age","address","orders"],"additionalProperties":false,
 "$defs":{"item":{"type":"object","properties":{"sku":{"type":"string"},"qty":{"type":"integer"}},
     "required":["sku","qty"],"additionalProperties":false}}}
"""

/// The same shape with length bounds on every string (the bounded-string mask path).
let boundedSchema = nestedSchema
    .replacingOccurrences(of: #"{"type":"string"}"#, with: #"{"type":"string","minLength":2,"maxLength":40}"#)

func argument(_ name: String) -> String? {
    let args = CommandLine.arguments
    guard let i = args.firstIndex(of: name), i + 1 < args.count else { return nil }
    return args[i + 1]
}

func modelPath() -> String {
    if let path = argument("--model") { return path }
    if let env = ProcessInfo.processInfo.environment["MODELHOST_TEST_MODEL"], !env.isEmpty { return env }
    for path in ["models/SmolLM2-135M-Instruct.Q4_1.gguf", "/work/models/SmolLM2-135M-Instruct.Q4_1.gguf"]
    where FileManager.default.fileExists(atPath: path) {
        return path
    }
    FileHandle.standardError.write(Data("structured-bench: no model; pass --model PATH or set MODELHOST_TEST_MODEL\n".utf8))
    exit(2)
}

func now() -> UInt64 { DispatchTime.now().uptimeNanoseconds }

let tokenTarget = Int(argument("--tokens") ?? "") ?? 20000
let show = Int(argument("--show") ?? "") ?? 0
let tokenizer: any TextTokenizer
do {
    tokenizer = try Tokenizers.load(gguf: GGUFFile(path: modelPath()))
} catch {
    FileHandle.standardError.write(Data("structured-bench: \(error)\n".utf8))
    exit(1)
}
var t0 = now()
let bytes: [[UInt8]?] = (0..<Int32(tokenizer.vocabularySize)).map { id in
    tokenizer.isSpecial(id) ? nil : tokenizer.decodedBytes(of: id, isFirst: false, skipSpecial: false)
}
let vocabulary = ConstraintVocabulary(tokenBytes: bytes, endTokens: tokenizer.endOfTurnTokens)
print(String(format: "vocabulary: %d tokens, built in %.1f ms (once per model)", vocabulary.count,
             Double(now() - t0) / 1e6))

var seed: UInt64 = 0x1234_5678
func random() -> UInt64 {
    seed = seed &* 6364136223846793005 &+ 1442695040888963407
    return seed >> 33
}

for (label, schema) in [("nested schema", Optional(nestedSchema)), ("bounded strings", Optional(boundedSchema)),
                         ("json_object", nil)] {
    t0 = now()
    var compiles = 0
    while now() - t0 < 200_000_000 {
        _ = try! JSONConstraint(schemaJSON: schema, vocabulary: vocabulary)
        compiles += 1
    }
    let compileMicros = Double(now() - t0) / 1e3 / Double(compiles)
    var logits = [Float](repeating: 0, count: vocabulary.count)
    var costs: [Double] = []
    var outputs = 0
    var worst = (cost: 0.0, context: "")
    while costs.count < tokenTarget {
        var constraint = try! JSONConstraint(schemaJSON: schema, vocabulary: vocabulary)
        var text: [UInt8] = []
        outputs += 1
        for _ in 0..<400 where !constraint.mustEnd {
            for i in logits.indices { logits[i] = Float(random() & 0xFFFF) }
            let start = now()
            logits.withUnsafeMutableBufferPointer { constraint.mask($0) }
            var best = -Float.infinity, pick = 0
            for i in logits.indices where logits[i] > best { best = logits[i]; pick = i }
            let ok = constraint.accept(Int32(pick))
            costs.append(Double(now() - start) / 1e3)
            precondition(ok, "a token allowed by the mask was rejected")
            if costs.count > 1, costs.last! > worst.cost {
                worst = (costs.last!, String(decoding: text.suffix(60), as: UTF8.self))
            }
            text += vocabulary.bytes(of: Int32(pick)) ?? []
            if vocabulary.bytes(of: Int32(pick)) == nil { break }
        }
        if outputs <= show { print("  output \(outputs): \(String(decoding: text.prefix(400), as: UTF8.self))") }
    }
    let sorted = costs.sorted()
    let mean = costs.reduce(0, +) / Double(costs.count)
    print(String(format: "%@: compile %.0f µs; mask+accept per token: mean %.1f µs, p50 %.1f µs, p99 %.1f µs, max %.0f µs (%d tokens, %d outputs)",
                 label, compileMicros, mean, sorted[sorted.count / 2], sorted[sorted.count * 99 / 100],
                 sorted.last!, costs.count, outputs))
    if CommandLine.arguments.contains("--worst") { print("  slowest step after: \(worst.context.debugDescription)") }
}
