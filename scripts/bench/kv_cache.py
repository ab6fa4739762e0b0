#!/usr/bin/env python3
"""Decode speed and memory of the KV cache types (f32, f16, bf16, q8_0) side by side, at a long context.

Runs `llama-bench` (the Llama kernels in-process, no server) on one GGUF with each `--kv-cache-type`, interleaved
round by round (f32, f16, bf16, f32, ...) so that load from other processes falls on every type alike, and prints the
median decode and prefill tokens/s, the peak RSS, and each type's decode speed as a ratio to f32's. At 2,000
positions of context the cache is about half of what one decode step reads for the default model (46 KB per
position in float32 against ~90 MB of weights), so a 16-bit cache should decode markedly faster there.

Usage: scripts/build   (builds llama-bench with everything else)
       python3 scripts/bench/kv_cache.py [--model PATH] [--threads 1,2] [--context 2000] [--gen 128] [--rounds 5]
"""
import argparse
import json
import os
import statistics
import subprocess
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
TYPES = ["f32", "f16", "bf16", "q8_0"]


def run(bench, model, threads, context, gen, cache_type):
    out = subprocess.run([bench, "--model", model, "--threads", str(threads), "--prompt-tokens", str(context),
                          "--gen-tokens", str(gen), "--repeat", "1", "--json", "--kv-cache-type", cache_type],
                         check=True, capture_output=True, text=True).stdout
    return json.loads(out.strip().splitlines()[-1])


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--model", default=os.path.join(ROOT, "models", "SmolLM2-135M-Instruct.Q4_1.gguf"))
    parser.add_argument("--bench", default=os.path.join(ROOT, ".build", "release", "llama-bench"))
    parser.add_argument("--threads", default="1,2")
    parser.add_argument("--context", type=int, default=2000, help="prompt tokens before the timed decode")
    parser.add_argument("--gen", type=int, default=128, help="decode steps timed")
    parser.add_argument("--rounds", type=int, default=5)
    args = parser.parse_args()
    if not os.path.exists(args.bench):
        sys.exit(f"{args.bench} not found: run scripts/build")
    print(f"{os.path.basename(args.model)}: {args.context}-token context, {args.gen} decode steps, "
          f"{args.rounds} rounds interleaved; medians")
    print(f"{'threads':>7} {'cache':>5} {'decode tok/s':>13} {'range':>13} {'prefill tok/s':>14} {'peak RSS':>9} "
          f"{'decode vs f32':>14}")
    for threads in [int(t) for t in args.threads.split(",")]:
        results = {t: [] for t in TYPES}
        for round_index in range(args.rounds):
            order = TYPES if round_index % 2 == 0 else list(reversed(TYPES))
            for cache_type in order:
                results[cache_type].append(run(args.bench, args.model, threads, args.context, args.gen, cache_type))
        base = statistics.median(r["decode_tokens_per_second"] for r in results["f32"])
        for cache_type in TYPES:
            decode = [r["decode_tokens_per_second"] for r in results[cache_type]]
            prefill = statistics.median(r["prefill_tokens_per_second"] for r in results[cache_type])
            rss = max(r["peak_rss_bytes"] for r in results[cache_type]) / 1e6
            median = statistics.median(decode)
            print(f"{threads:>7} {cache_type:>5} {median:>13.1f} {min(decode):>6.1f}-{max(decode):<6.1f} "
                  f"{prefill:>14.1f} {rss:>7.0f}MB {median / base:>13.2f}x")


if __name__ == "__main__":
    main()
