// llama-bench: load time, prefill and decode speed and peak RSS of the Llama kernels on a GGUF model, in-process.
// Usage: llama-bench [--model PATH] [--threads 1,2] [--prompt-tokens 500] [--gen-tokens 128] [--repeat 3] [--json]
//                    [--kv-cache-type f32|f16|bf16|q8_0]
//        llama-bench --kernels   (matrix-vector kernel timings on single matrices)
//        llama-bench --batch 8 [--prompt-tokens 50] [--gen-tokens 64]
//                                (N sequences as concurrent requests: their prompts in one step, then N-row decode
//                                 steps; prints aggregate tokens/s beside one sequence alone, measured in the same run)
#if canImport(Glibc)
import Glibc
#endif
import LlamaGGUFSource
import LlamaKernels

struct Options {
    var model = ProcessInfoLite.environment("MODELHOST_TEST_MODEL") ?? "/work/models/SmolLM2-135M-Instruct.Q4_1.gguf"
    var threads = [1, 2]
    var promptTokens = 500
    var genTokens = 128
    var repeats = 3
    /// Times the decode matrix-vector kernels on one layer's weights (cache-resident) instead of the whole model.
    var kernelsOnly = false
    /// One JSON object per thread count (keys as `modelhost bench --json`), for scripts/bench/llama_compare.py.
    var json = false
    /// Sequences decoded together (0: the single-sequence benchmark).
    var batch = 0
    var cacheType = KVCacheType.f32

    init(_ args: [String]) throws {
        var i = 0
        func value() throws -> String {
            i += 1
            guard i < args.count else { throw BenchError("missing value after \(args[i - 1])") }
            return args[i]
        }
        while i < args.count {
            switch args[i] {
            case "--model": model = try value()
            case "--threads": threads = try value().split(separator: ",").map { try Self.positive(String($0)) }
            case "--prompt-tokens": promptTokens = try Self.positive(try value())
            case "--gen-tokens": genTokens = try Self.positive(try value())
            case "--repeat": repeats = try Self.positive(try value())
            case "--kernels": kernelsOnly = true
            case "--json": json = true
            case "--batch": batch = try Self.positive(try value())
            case "--kv-cache-type":
                let name = try value()
                guard let type = KVCacheType(rawValue: name) else { throw BenchError("unknown KV cache type '\(name)'") }
                cacheType = type
            default: throw BenchError("unknown option \(args[i])")
            }
            i += 1
        }
    }

    static func positive(_ s: String) throws -> Int {
        guard let v = Int(s), v > 0 else { throw BenchError("expected a positive integer, got '\(s)'") }
        return v
    }
}

struct BenchError: Error, CustomStringConvertible {
    let description: String
    init(_ message: String) { description = message }
}

enum ProcessInfoLite {
    static func environment(_ name: String) -> String? { getenv(name).map { String(cString: $0) } }
}

/// CPU time consumed by the whole process (all threads), in seconds.
func cpuTime() -> Double {
    var ts = timespec()
    clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts)
    return Double(ts.tv_sec) + Double(ts.tv_nsec) * 1e-9
}

func now() -> Double {
    var ts = timespec()
    clock_gettime(CLOCK_MONOTONIC, &ts)
    return Double(ts.tv_sec) + Double(ts.tv_nsec) * 1e-9
}

/// Peak resident set size (VmHWM) in bytes.
func peakRSS() -> Int {
    guard let f = fopen("/proc/self/status", "r") else { return 0 }
    defer { fclose(f) }
    var line = [CChar](repeating: 0, count: 256)
    while fgets(&line, 256, f) != nil {
        let s = String(cString: line)
        if s.hasPrefix("VmHWM:") {
            let kb = s.split(separator: " ").compactMap { Int($0) }.first ?? 0
            return kb * 1024
        }
    }
    return 0
}

func argmax(_ v: [Float]) -> Int32 {
    var best = 0
    for i in 1..<v.count where v[i] > v[best] { best = i }
    return Int32(best)
}

/// `value` with `digits` decimals (no Foundation in this target).
func fixed(_ value: Double, _ digits: Int) -> String {
    var scale = 1.0
    for _ in 0..<digits { scale *= 10 }
    let scaled = Int((value * scale).rounded())
    guard digits > 0 else { return String(scaled) }
    let whole = scaled / Int(scale), fraction = abs(scaled % Int(scale))
    var f = String(fraction)
    while f.count < digits { f = "0" + f }
    return "\(whole).\(f)"
}

/// Nanoseconds per 32-element block-row of the matrix-vector kernels on a cache-resident matrix and on the whole
/// output head (memory-resident), to tell compute limits from memory limits; for the repacked matrices, also
/// multiply-adds per nanosecond of the several-row products (4, 8 and 64 rows).
func kernelBench(model: String) throws {
    let source = try GGUFWeightSource(path: model)
    let config = try LlamaConfig(from: source)
    let cases: [(String, Int, Int)] = [("blk.0.ffn_down.weight", config.embedding, config.feedForward),
                                       ("blk.0.ffn_up.weight", config.feedForward, config.embedding),
                                       ("token_embd.weight", config.vocabulary, config.embedding)]
    for (name, rows, columns) in cases {
        guard let view = source.tensor(name) else { throw BenchError("no tensor \(name)") }
        let file = try WeightMatrix(view, rows: rows, columns: columns)
        for w in [file, Interleaved8.pack(file, pool: ThreadPool(threads: 1))] {
        let x = (0..<columns).map { Float(($0 * 37) % 101) / 50 - 1 }
        var y = [Float](repeating: 0, count: rows)
        var sums = [Float](repeating: 0, count: MatMul.preparedInputCount(columns: columns))
        var scratch = [Float](repeating: 0, count: MatMul.scratchCount(columns: columns))
        MatMul.prepareQ4_1Input(x, columns: columns, into: &sums)
        let iterations = max(3, 200_000_000 / (rows * columns))
        let t0 = now()
        for _ in 0..<iterations {
            MatMul.multiply(w, x, n: 1, &y, ldy: rows, rowRange: 0..<rows, scratch: &scratch, sums: sums)
        }
        let seconds = now() - t0
        let blockRows = Double(iterations * rows * columns / 32)
        let gbps = Double(iterations * rows * w.rowBytes) / seconds / 1e9
        print("\(name) \(w.type) \(w.layout) \(rows)x\(columns): \(fixed(seconds / blockRows * 1e9, 2)) ns/block-row, "
              + "\(fixed(gbps, 1)) GB/s")
        // Several rows at once (a batched decode step, a prompt chunk): compute bound, so multiply-adds per ns.
        guard w.layout == .interleaved8 else { continue }
        for n in [4, 8, 64] {
            let xs = (0..<(n * columns)).map { Float(($0 * 37) % 101) / 50 - 1 }
            var ys = [Float](repeating: 0, count: n * rows)
            let repeats = max(3, 400_000_000 / (n * rows * columns))
            let start = now()
            for _ in 0..<repeats {
                MatMul.multiply(w, xs, n: n, &ys, ldy: rows, rowRange: 0..<rows, scratch: &scratch, sums: nil)
            }
            let macs = Double(repeats * n * rows * columns) / (now() - start) / 1e9
            print("\(name) \(w.type) \(w.layout) \(rows)x\(columns), \(n) rows: \(fixed(macs, 1)) multiply-adds/ns")
        }
        }
    }
}

func median(_ v: [Double]) -> Double { v.sorted()[v.count / 2] }

/// Concurrent requests as the server runs them: `batch` prompts of `promptTokens` prefilled in one step, then
/// `genTokens` steps that each decode one token of every sequence. The same with one sequence runs first, so the
/// ratio is measured side by side.
func batchBench(_ options: Options) throws {
    let source = try GGUFWeightSource(path: options.model)
    let config = try LlamaConfig(from: source)
    for threads in options.threads {
        let model = try LlamaModel(source: source, config: config, threads: threads)
        var results: [(Int, Double, Double)] = []
        for n in [1, options.batch] {
            var prefill: [Double] = [], decode: [Double] = []
            for _ in 0..<options.repeats {
                let sequences = try (0..<n).map { _ in
                    try model.makeSequence(capacity: options.promptTokens + options.genTokens + 1,
                                           cacheType: options.cacheType)
                }
                let prompts: [[Int32]] = (0..<n).map { s in
                    (0..<options.promptTokens).map { Int32(256 + (s * 7919 + $0 * 104_729) % (config.vocabulary - 256)) }
                }
                let t0 = now()
                var logits = try model.forward(zip(sequences, prompts).map {
                    LlamaBatchEntry(sequence: $0.0, input: .tokens($0.1), logits: .last)
                })
                let t1 = now()
                for _ in 0..<options.genTokens {
                    logits = try model.forward(zip(sequences, logits).map {
                        LlamaBatchEntry(sequence: $0.0, input: .tokens([argmax($0.1)]), logits: .last)
                    })
                }
                let t2 = now()
                prefill.append(Double(n * options.promptTokens) / (t1 - t0))
                decode.append(Double(n * options.genTokens) / (t2 - t1))
            }
            results.append((n, median(prefill), median(decode)))
        }
        let (_, p1, d1) = results[0], (n, pn, dn) = results[1]
        print("threads \(threads): 1 sequence: prefill \(fixed(p1, 1)) tok/s, decode \(fixed(d1, 1)) tok/s; "
              + "\(n) sequences: prefill \(fixed(pn, 1)) tok/s, decode \(fixed(dn, 1)) tok/s aggregate = "
              + "\(fixed(dn / d1, 2))x one sequence (\(options.promptTokens)-token prompts, \(options.genTokens) steps, "
              + "median of \(options.repeats))")
    }
}

do {
    let options = try Options(Array(CommandLine.arguments.dropFirst()))
    if options.kernelsOnly {
        try kernelBench(model: options.model)
        exit(0)
    }
    if options.batch > 0 {
        try batchBench(options)
        exit(0)
    }
    for threads in options.threads {
        var loads: [Double] = [], prefills: [Double] = [], decodes: [Double] = [], decodeCPU: [Double] = []
        for _ in 0..<options.repeats {
            let t0 = now()
            let source = try GGUFWeightSource(path: options.model)
            let config = try LlamaConfig(from: source)
            let model = try LlamaModel(source: source, config: config, threads: threads)
            let t1 = now()
            // A deterministic pseudo-random prompt: speed does not depend on the token values.
            var state: UInt64 = 0x9E37_79B9_7F4A_7C15
            let prompt: [Int32] = (0..<options.promptTokens).map { _ in
                state = state &* 6_364_136_223_846_793_005 &+ 1_442_695_040_888_963_407
                return Int32(truncatingIfNeeded: (state >> 33) % UInt64(config.vocabulary - 256)) + 256
            }
            let sequence = try model.makeSequence(capacity: options.promptTokens + options.genTokens + 1,
                                                  cacheType: options.cacheType)
            let t2 = now()
            var logits = try model.forward([LlamaBatchEntry(sequence: sequence, input: .tokens(prompt), logits: .last)])[0]
            let t3 = now(), c3 = cpuTime()
            for _ in 0..<options.genTokens {
                let next = argmax(logits)
                logits = try model.forward([LlamaBatchEntry(sequence: sequence, input: .tokens([next]), logits: .last)])[0]
            }
            let t4 = now(), c4 = cpuTime()
            loads.append(t1 - t0)
            prefills.append(Double(options.promptTokens) / (t3 - t2))
            decodes.append(Double(options.genTokens) / (t4 - t3))
            decodeCPU.append(Double(options.genTokens) / (c4 - c3))
        }
        if options.json {
            print("{\"threads\":\(threads),\"prompt_tokens\":\(options.promptTokens),\"gen_tokens\":\(options.genTokens),"
                  + "\"load_seconds\":\(median(loads)),\"prefill_tokens_per_second\":\(median(prefills)),"
                  + "\"decode_tokens_per_second\":\(median(decodes)),\"decode_tokens_per_cpu_second\":\(median(decodeCPU)),"
                  + "\"peak_rss_bytes\":\(peakRSS())}")
            continue
        }
        let prefillRuns = prefills.map { fixed($0, 0) }.joined(separator: "/")
        let decodeRuns = decodes.map { fixed($0, 1) }.joined(separator: "/")
        var line = "threads \(threads): load \(fixed(median(loads), 3)) s, prefill \(fixed(median(prefills), 1)) tok/s, "
        line += "decode \(fixed(median(decodes), 1)) tok/s, peak RSS \(fixed(Double(peakRSS()) / 1e6, 0)) MB "
        line += "(median of \(options.repeats); prefill runs \(prefillRuns), decode runs \(decodeRuns); "
        line += "decode tokens per CPU-second \(fixed(median(decodeCPU), 1)), which on a shared machine estimates "
        line += "the unloaded 1-thread speed)"
        print(line)
    }
} catch {
    fputs("llama-bench: \(error)\n", stderr)
    exit(1)
}
