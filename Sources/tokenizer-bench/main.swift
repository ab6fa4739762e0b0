// tokenizer-bench: single-thread tokenization throughput of ModelHost's tokenizer, for
// scripts/bench/tokenizer_bench.py (which prints it beside Hugging Face `tokenizers` measured in the same run).
//
// Usage: tokenizer-bench <model.gguf | tokenizer.json> <corpus.jsonl> [repeat]
// Reads one JSON string per line and prints one JSON object: the first pass over a freshly loaded tokenizer
// ("cold": every word goes through BPE) and `repeat` further passes ("warm": words hit the cache, as in a running
// server), each in MB/s of UTF-8 input, and the time taken to load the tokenizer.
import Foundation
import ModelFormats
import Tokenizer

func fail(_ message: String) -> Never {
    FileHandle.standardError.write(Data((message + "\n").utf8))
    exit(2)
}

let arguments = CommandLine.arguments
guard arguments.count >= 3 else { fail("usage: tokenizer-bench <model.gguf | tokenizer.json> <corpus.jsonl> [repeat]") }
let repeatCount = arguments.count > 3 ? Int(arguments[3]) ?? 5 : 5
do {
    let loadStart = DispatchTime.now().uptimeNanoseconds
    let tokenizer: any TextTokenizer = arguments[1].hasSuffix(".json")
        ? try Tokenizers.load(tokenizerJSON: arguments[1])
        : try Tokenizers.load(gguf: GGUFFile(path: arguments[1]))
    let loadSeconds = Double(DispatchTime.now().uptimeNanoseconds - loadStart) / 1e9
    guard let text = try? String(contentsOfFile: arguments[2], encoding: .utf8) else { fail("cannot read \(arguments[2])") }
    let lines: [String] = text.split(separator: "\n").compactMap {
        try? JSONSerialization.jsonObject(with: Data($0.utf8), options: .fragmentsAllowed) as? String
    }
    let bytesPerPass = lines.reduce(0) { $0 + $1.utf8.count }
    var tokens = 0
    let coldStart = DispatchTime.now().uptimeNanoseconds
    for line in lines { tokens += tokenizer.encode(line, addSpecial: false).count }
    let coldSeconds = Double(DispatchTime.now().uptimeNanoseconds - coldStart) / 1e9
    let start = DispatchTime.now().uptimeNanoseconds
    for _ in 0..<repeatCount {
        for line in lines { _ = tokenizer.encode(line, addSpecial: false) }
    }
    let seconds = Double(DispatchTime.now().uptimeNanoseconds - start) / 1e9
    let warm = Double(bytesPerPass * repeatCount) / seconds / 1e6
    print(#"{"load_seconds": \#(loadSeconds), "bytes_per_pass": \#(bytesPerPass), "tokens_per_pass": \#(tokens), "cold_mb_per_s": \#(Double(bytesPerPass) / coldSeconds / 1e6), "warm_mb_per_s": \#(warm)}"#)
} catch {
    fail("tokenizer-bench: \(error)")
}
