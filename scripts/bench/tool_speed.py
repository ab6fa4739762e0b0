#!/usr/bin/env python3
"""Decode speed with a tool-call grammar active, beside free decoding, on a running server (one model, one client).

Each round streams two answers of the same length, interleaved: free text (end tokens banned so it runs to
max_tokens), and a required tool call whose schema has a long free string (so the grammar is active for every token,
the masking worst case of a string plus the structural parts around it). Decode speed is tokens after the first over
the time after the first token, so prefill does not count. Prints both speeds and their ratio (issue #19 asks >= 0.7).

    scripts/bench/tool_speed.py --server http://127.0.0.1:11440 [--model default] [--rounds 5] [--tokens 256]
"""
import argparse
import json
import statistics
import time
import urllib.request

TOOL = {"type": "function", "function": {"name": "write_note", "description": "Save a note",
        "parameters": {"type": "object", "properties": {"title": {"type": "string", "maxLength": 40},
                                                        "body": {"type": "string", "minLength": 150}},
                       "required": ["title", "body"]}}}


def stream(server, body):
    """Seconds per generated token after the first, and the number of tokens."""
    req = urllib.request.Request(server + "/v1/chat/completions", data=json.dumps(body).encode(),
                                 headers={"Content-Type": "application/json"})
    first = last = None
    pieces = 0
    with urllib.request.urlopen(req, timeout=600) as r:
        for raw in r:
            line = raw.decode().strip()
            if not line.startswith("data: ") or line == "data: [DONE]":
                continue
            chunk = json.loads(line[6:])
            if chunk.get("usage"):
                tokens = chunk["usage"]["completion_tokens"]
            if chunk.get("choices") and (chunk["choices"][0]["delta"].get("content")
                                         or chunk["choices"][0]["delta"].get("tool_calls")):
                now = time.perf_counter()
                first = first or now
                last = now
                pieces += 1
    return (last - first) / max(1, tokens - 1), tokens


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--server", default="http://127.0.0.1:11440")
    parser.add_argument("--model", default="default")
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--tokens", type=int, default=256)
    args = parser.parse_args()
    messages = [{"role": "user", "content": "Write a long note about the history of Paris."}]
    common = {"model": args.model, "messages": messages, "max_tokens": args.tokens, "temperature": 0.7, "seed": 1,
              "stream": True, "stream_options": {"include_usage": True}}
    free_body = dict(common, logit_bias={"0": -100, "1": -100, "2": -100})
    tool_body = dict(common, tools=[TOOL], tool_choice="required")
    stream(args.server, free_body)  # warm up: load the model, fill caches
    free, tool = [], []
    for _ in range(args.rounds):
        f, n1 = stream(args.server, free_body)
        t, n2 = stream(args.server, tool_body)
        free.append(f)
        tool.append(t)
    f, t = statistics.median(free), statistics.median(tool)
    print(f"free decode      {1 / f:7.1f} tok/s  ({n1} tokens)")
    print(f"tool grammar     {1 / t:7.1f} tok/s  ({n2} tokens, tool_choice required)")
    print(f"ratio (grammar / free): {f / t:.2f}")


if __name__ == "__main__":
    main()
