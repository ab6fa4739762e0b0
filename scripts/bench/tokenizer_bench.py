#!/usr/bin/env python3
"""Tokenization throughput of ModelHost (Swift, one thread) beside Hugging Face `tokenizers` (Rust, one thread),
measured in the same run on the same text.

The text is the tokenizer test corpus (Tests/TokenizerTests/Fixtures/corpus.jsonl) plus a larger, less repetitive
synthetic corpus generated from it, so that the word caches of both tokenizers see realistic miss rates.
ModelHost's side is the `tokenizer-bench` executable (Sources/tokenizer-bench); HF's tokenizer is built from the
same GGUF vocabulary and merges as in scripts/fixtures/tokenizer_reference.py.

Usage: pip install tokenizers gguf
       swift build -c release --product tokenizer-bench
       python3 scripts/bench/tokenizer_bench.py [--model MODEL.gguf] [--bin .build/release/tokenizer-bench]
"""
import argparse
import json
import os
import random
import subprocess
import sys
import tempfile
import time

os.environ["RAYON_NUM_THREADS"] = "1"          # HF tokenizers: one thread, like the Swift side
os.environ["TOKENIZERS_PARALLELISM"] = "false"

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
sys.path.insert(0, os.path.join(ROOT, "scripts", "fixtures"))
import tokenizer_reference as ref  # noqa: E402


def synthetic_corpus(lines, target_bytes, seed=7):
    """Mixes corpus lines with random letter strings so that most words are new (a cache-hostile workload)."""
    rng = random.Random(seed)
    out, size = [], 0
    alphabet = "abcdefghijklmnopqrstuvwxyzéüöñ"
    while size < target_bytes:
        words = [rng.choice(lines)] + ["".join(rng.choice(alphabet) for _ in range(rng.randrange(2, 12)))
                                        for _ in range(rng.randrange(3, 20))]
        rng.shuffle(words)
        line = " ".join(words)
        out.append(line)
        size += len(line.encode("utf-8"))
    return out


def hf_throughput(tk, lines, repeat):
    data = sum(len(line.encode("utf-8")) for line in lines)
    start = time.perf_counter()
    tk.encode_batch(lines, add_special_tokens=False)
    cold = data / (time.perf_counter() - start) / 1e6
    start = time.perf_counter()
    for _ in range(repeat):
        tk.encode_batch(lines, add_special_tokens=False)
    warm = data * repeat / (time.perf_counter() - start) / 1e6
    return cold, warm


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--model", default=os.environ.get("MODELHOST_TEST_MODEL", ref.DEFAULT_MODEL))
    parser.add_argument("--bin", default=os.path.join(ROOT, ".build", "release", "tokenizer-bench"))
    parser.add_argument("--repeat", type=int, default=5)
    args = parser.parse_args()

    with open(os.path.join(ref.OUT, "corpus.jsonl"), encoding="utf-8") as f:
        corpus = [json.loads(line) for line in f]
    workloads = {"test corpus": corpus, "synthetic 2 MB": synthetic_corpus(corpus, 2_000_000)}
    tk = ref.smollm2_tokenizer(args.model, "smollm")
    print(f"{'workload':<16} {'engine':<28} {'cold MB/s':>10} {'warm MB/s':>10}")
    for name, lines in workloads.items():
        with tempfile.NamedTemporaryFile("w", suffix=".jsonl", delete=False, encoding="utf-8") as f:
            for line in lines:
                f.write(json.dumps(line, ensure_ascii=False) + "\n")
            path = f.name
        try:
            result = subprocess.run([args.bin, args.model, path, str(args.repeat)], check=True,
                                    capture_output=True, text=True)
            swift = json.loads(result.stdout)
        finally:
            os.unlink(path)
        cold, warm = hf_throughput(tk, lines, args.repeat)
        print(f"{name:<16} {'ModelHost (Swift, 1 thread)':<28} {swift['cold_mb_per_s']:>10.1f} "
              f"{swift['warm_mb_per_s']:>10.1f}")
        print(f"{name:<16} {'HF tokenizers (1 thread)':<28} {cold:>10.1f} {warm:>10.1f}")


if __name__ == "__main__":
    main()
