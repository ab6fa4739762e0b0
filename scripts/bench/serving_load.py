#!/usr/bin/env python3
"""Serving benchmark: ModelHost's `modelhost serve` and llama-cpp-python's OpenAI server on the same GGUF, same
machine, same script run, one server at a time (the machine has 2 cores). Prints figures and ratios:

  - single-stream decode tokens/s, and aggregate tokens/s of 8 concurrent streaming clients (ratio to single:
    median of 3 rounds, each measuring one then the other);
  - time to first token (p50) of a ~40-token chat prompt, each request a different question;
  - prefix cache: time to first token of a long conversation's next turn, cold vs. warm.

Usage: scripts/bench/serving_load.py [--model models/SmolLM2-135M-Instruct.Q4_1.gguf] [--skip-llama]
Needs: a release build (scripts/build); for the peer, `pip install llama-cpp-python fastapi uvicorn sse-starlette
starlette-context pydantic-settings`.
"""
import argparse
import json
import os
import statistics
import threading
import time

import servers
from servers import ROOT, catalog_id, llama_cpp_server, modelhost_server, stream_chat
END_TOKENS_BANNED = {"0": -100, "2": -100}   # SmolLM2's <|endoftext|> and <|im_end|>: fixed-length outputs


def question(i):
    subjects = ["rivers", "mountains", "deserts", "forests", "oceans", "volcanoes", "glaciers", "islands",
                "lakes", "canyons", "valleys", "plains"]
    return [{"role": "user", "content": f"In two or three sentences, tell me something interesting about the "
                                        f"{subjects[i % len(subjects)]} of country number {i} in your list."}]


def long_conversation():
    turns = []
    for i in range(12):
        turns.append({"role": "user", "content": f"Question {i}: describe, in some detail, the history, climate, "
                                                 f"economy and culture of the region number {i} of Europe."})
        turns.append({"role": "assistant", "content": "It is a region with a long and varied history, a temperate "
                      "climate, an economy built on trade, farming and services, and a culture of music, food and "
                      "festivals that visitors remember. " * 2})
    return turns


def single_stream(port, prompt_index, gen_tokens):
    """Decode tokens/s of one streaming request alone (after its first token)."""
    _, first, end, tokens = stream_chat(port, question(prompt_index), gen_tokens, END_TOKENS_BANNED)
    return (tokens - 1) / (end - first)


def concurrent_streams(port, round_index, gen_tokens, clients=8, per_client=2):
    """`clients` streaming clients, `per_client` requests each, every prompt different: generated tokens per second
    of wall time (their prompts' prefill included), and the errors."""
    errors, lock, generated = [], threading.Lock(), [0]

    def client(k):
        for j in range(per_client):
            try:
                _, _, _, tokens = stream_chat(port, question(10 + 100 * round_index + k * per_client + j),
                                              gen_tokens, END_TOKENS_BANNED)
                with lock:
                    generated[0] += tokens
            except Exception as e:  # noqa: BLE001 - every failure is reported
                with lock:
                    errors.append(str(e))

    threads = [threading.Thread(target=client, args=(k,)) for k in range(clients)]
    t0 = time.perf_counter()
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return generated[0] / (time.perf_counter() - t0), errors


def measure(port, label, gen_tokens=128, rounds=3):
    results = {}
    # Warm-up (loads the model on ModelHost, JIT-free on both).
    stream_chat(port, question(99), 4)

    # Single stream vs. 8 concurrent clients, side by side: each round measures one then the other, and the ratio is
    # the median of the rounds' ratios (the machine is shared, so one lone measurement of each is not enough).
    singles, aggregates, ratios, errors = [], [], [], []
    for r in range(rounds):
        single = single_stream(port, 1 + r, gen_tokens)
        aggregate, failures = concurrent_streams(port, r, gen_tokens // 2)
        singles.append(single)
        aggregates.append(aggregate)
        ratios.append(aggregate / single)
        errors += failures
    results["single_stream_tokens_per_second"] = statistics.median(singles)
    results["concurrent_clients"] = 8
    results["concurrent_errors"] = len(errors)
    results["aggregate_tokens_per_second"] = statistics.median(aggregates)
    results["aggregate_over_single"] = statistics.median(ratios)
    results["aggregate_over_single_rounds"] = [round(x, 2) for x in ratios]
    if errors:
        results["first_error"] = errors[0]

    # Time to first token, ~40-token prompts, each different.
    ttft = []
    for i in range(12):
        start, first, _, _ = stream_chat(port, question(100 + i), 1)
        ttft.append(first - start)
    results["ttft_p50_seconds"] = statistics.median(ttft)

    # Prefix cache: a long conversation, then its next turn.
    conversation = long_conversation()
    cold_start, cold_first, _, _ = stream_chat(port, conversation + [{"role": "user", "content": "Summarize."}], 1)
    warm_start, warm_first, _, _ = stream_chat(port, conversation + [
        {"role": "user", "content": "Summarize."}, {"role": "assistant", "content": "A"},
        {"role": "user", "content": "Thanks. And in one word?"}], 1)
    results["long_prompt_ttft_cold_seconds"] = cold_first - cold_start
    results["long_prompt_ttft_next_turn_seconds"] = warm_first - warm_start
    results["prefix_cache_speedup"] = results["long_prompt_ttft_cold_seconds"] / results["long_prompt_ttft_next_turn_seconds"]
    print(f"{label}: " + json.dumps({k: (round(v, 4) if isinstance(v, float) else v) for k, v in results.items()}),
          flush=True)
    return results


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--model", default=os.path.join(ROOT, "models/SmolLM2-135M-Instruct.Q4_1.gguf"))
    parser.add_argument("--threads", type=int, default=os.cpu_count())
    parser.add_argument("--skip-llama", action="store_true")
    args = parser.parse_args()
    default = os.path.realpath(args.model) == os.path.realpath(os.path.join(ROOT, "models/SmolLM2-135M-Instruct.Q4_1.gguf"))
    servers.MODEL_ID = "default" if default else catalog_id(args.model)
    with modelhost_server(args.model, {"MODELHOST_MAX_CONCURRENT_REQUESTS": "16"}) as port:
        ours = measure(port, "modelhost")
    servers.MODEL_ID = "default"
    if args.skip_llama:
        return
    with llama_cpp_server(args.model, args.threads) as port:
        peer = measure(port, "llama-cpp-python")
    print("ratios (modelhost vs llama-cpp-python): "
          f"ttft p50 {ours['ttft_p50_seconds'] / peer['ttft_p50_seconds']:.2f}x (target <= 0.5), "
          f"aggregate/single modelhost {ours['aggregate_over_single']:.2f}x (target >= 2), "
          f"llama-cpp-python {peer['aggregate_over_single']:.2f}x, "
          f"prefix-cache speedup modelhost {ours['prefix_cache_speedup']:.1f}x (target >= 5), "
          f"single-stream decode {ours['single_stream_tokens_per_second'] / peer['single_stream_tokens_per_second']:.2f}x")


if __name__ == "__main__":
    main()
