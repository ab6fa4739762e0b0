#!/usr/bin/env python3
"""What the README's first request gets from a running server: the question without sampling values, N times.

Prints how many answers name the expected word, how they ended (finish_reason), their lengths and latencies, and the
shortest and longest answer, so the effect of the server's sampling defaults on the default model can be judged.

    .venv/bin/python3 scripts/bench/default_answers.py [--url http://127.0.0.1:11440] [--runs 50] [--extra '{"temperature": 0.2}']
"""
import argparse
import collections
import json
import statistics
import time
import urllib.request


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--url", default="http://127.0.0.1:11440")
    parser.add_argument("--runs", type=int, default=50)
    parser.add_argument("--question", default="What is the capital of France?")
    parser.add_argument("--expect", default="Paris", help="a word a sensible answer contains")
    parser.add_argument("--extra", default="{}", help="request fields to add, as JSON (e.g. sampling values)")
    args = parser.parse_args()
    body = {"model": "default", "messages": [{"role": "user", "content": args.question}]}
    body.update(json.loads(args.extra))
    finish = collections.Counter()
    expected = 0
    tokens, seconds, answers = [], [], []
    for _ in range(args.runs):
        request = urllib.request.Request(args.url + "/v1/chat/completions", json.dumps(body).encode(),
                                         {"Content-Type": "application/json"})
        started = time.monotonic()
        with urllib.request.urlopen(request, timeout=600) as reply:
            result = json.load(reply)
        seconds.append(time.monotonic() - started)
        choice = result["choices"][0]
        text = choice["message"]["content"]
        finish[choice["finish_reason"]] += 1
        expected += args.expect in text
        tokens.append(result["usage"]["completion_tokens"])
        answers.append(text)
    print(f"{args.runs} runs of {json.dumps(body)}")
    print(f"  name {args.expect!r}: {expected}/{args.runs}; finish_reason: {dict(finish)}")
    print(f"  completion tokens: median {statistics.median(tokens)}, max {max(tokens)}")
    print(f"  seconds: median {statistics.median(seconds):.2f}, max {max(seconds):.2f}")
    print(f"  shortest answer: {min(answers, key=len)!r}")
    print(f"  longest answer starts: {max(answers, key=len)[:160]!r}")


if __name__ == "__main__":
    main()
