#!/usr/bin/env python3
"""Side-by-side speed of ModelHost and llama.cpp (llama-cpp-python) on one GGUF.

By default ModelHost runs as serving runs it: `modelhost bench` (a worker process, the plugin through the ABI, the
shared-memory rings). `--bench .build/release/llama-bench` measures the kernels in-process instead. Runs are
interleaved (ours, theirs, ours, theirs, ...) so that load from other processes hits both alike; prints the medians
and the ratios. Same model, same thread count, a 500-token prompt and 128 greedy tokens.

Several files (`--model A --model B`, e.g. the formats `llama_quantize.py` writes) run one after another and end
with one table of ratios. `--avx2` runs ModelHost's kernels on their AVX2 code even on an AVX-512 host
(MODELHOST_NO_AVX512=1; the decode kernels are AVX2 code either way, prefill's expand-and-multiply kernels switch);
llama.cpp runs as it was built.

Usage:  scripts/setup --bench && scripts/build
        python3 scripts/bench/llama_compare.py [--model PATH ...] [--threads 1,2] [--repeat 3] [--bench PATH] [--avx2]
"""
import argparse
import json
import os
import resource
import statistics
import subprocess
import sys
import time

import numpy as np

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def ours(bench, model, threads, prompt, gen, avx2=False):
    common = ["--model", model, "--threads", str(threads), "--prompt-tokens", str(prompt), "--gen-tokens", str(gen),
              "--json"]
    env = dict(os.environ, MODELHOST_NO_AVX512="1") if avx2 else None
    if os.path.basename(bench) == "modelhost":
        out = subprocess.run([bench, "bench"] + common, check=True, capture_output=True, text=True, env=env).stdout
        return json.loads(out)
    out = subprocess.run([bench] + common + ["--repeat", "1"], check=True, capture_output=True, text=True,
                         env=env).stdout
    return json.loads(out.strip().splitlines()[-1])


def theirs(model, threads, prompt, gen):
    """llama.cpp in a child process (so that its peak RSS is its own); greedy on the last token's logits."""
    code = f"""
import json, resource, time, numpy as np, llama_cpp
from llama_cpp import Llama
t0 = time.perf_counter()
llm = Llama(model_path={model!r}, n_threads={threads}, n_threads_batch={threads}, n_ctx=1024, n_batch=512,
            verbose=False)
t1 = time.perf_counter()
rng = np.random.default_rng(0)
prompt = [int(t) for t in rng.integers(256, llm.n_vocab(), size={prompt})]
t2 = time.perf_counter()
llm.eval(prompt)
t3 = time.perf_counter()
for _ in range({gen}):
    logits = np.ctypeslib.as_array(llama_cpp.llama_get_logits_ith(llm.ctx, -1), shape=(llm.n_vocab(),))
    tok = int(np.argmax(logits))
    llm.eval([tok])
t4 = time.perf_counter()
print(json.dumps({{"load_seconds": t1 - t0, "prefill_tokens_per_second": {prompt} / (t3 - t2),
                  "decode_tokens_per_second": {gen} / (t4 - t3),
                  "peak_rss_bytes": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024}}))
"""
    out = subprocess.run([sys.executable, "-c", code], check=True, capture_output=True, text=True).stdout
    return json.loads(out.strip().splitlines()[-1])


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--model", action="append", help="a GGUF file (repeat for several; default: the default model)")
    ap.add_argument("--threads", default="1,2")
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--prompt-tokens", type=int, default=500)
    ap.add_argument("--gen-tokens", type=int, default=128)
    ap.add_argument("--bench", default=os.path.join(ROOT, ".build", "release", "modelhost"))
    ap.add_argument("--avx2", action="store_true", help="ModelHost's kernels on their AVX2 code (MODELHOST_NO_AVX512)")
    args = ap.parse_args()
    models = args.model or [os.environ.get("MODELHOST_TEST_MODEL",
                                           os.path.join(ROOT, "models", "SmolLM2-135M-Instruct.Q4_1.gguf"))]
    keys = ["load_seconds", "prefill_tokens_per_second", "decode_tokens_per_second", "peak_rss_bytes"]
    summary = []
    for model in models:
        print(f"== {os.path.basename(model)}" + (" (ModelHost on AVX2 code)" if args.avx2 else ""))
        for threads in [int(t) for t in args.threads.split(",")]:
            runs = {"modelhost": [], "llama.cpp": []}
            for _ in range(args.repeat):
                runs["modelhost"].append(ours(args.bench, model, threads, args.prompt_tokens, args.gen_tokens,
                                              args.avx2))
                runs["llama.cpp"].append(theirs(model, threads, args.prompt_tokens, args.gen_tokens))
            med = {name: {k: statistics.median(r[k] for r in rs) for k in keys} for name, rs in runs.items()}
            print(f"threads {threads} (median of {args.repeat}, interleaved runs)")
            for name in ("modelhost", "llama.cpp"):
                m = med[name]
                print(f"  {name:10s} load {m['load_seconds']:.3f} s  prefill {m['prefill_tokens_per_second']:7.1f} tok/s"
                      f"  decode {m['decode_tokens_per_second']:6.1f} tok/s  peak RSS {m['peak_rss_bytes'] / 1e6:.0f} MB")
            a, b = med["modelhost"], med["llama.cpp"]
            prefill = a['prefill_tokens_per_second'] / b['prefill_tokens_per_second']
            decode = a['decode_tokens_per_second'] / b['decode_tokens_per_second']
            print(f"  ratios     prefill {prefill:.2f}x  decode {decode:.2f}x"
                  f"  peak RSS / file {a['peak_rss_bytes'] / os.path.getsize(os.path.realpath(model)):.2f}")
            summary.append((os.path.basename(model), threads, prefill, decode))
    if len(models) > 1:
        print("\nfile | threads | prefill ratio | decode ratio")
        for name, threads, prefill, decode in summary:
            print(f"{name} | {threads} | {prefill:.2f}x | {decode:.2f}x")


if __name__ == "__main__":
    main()
