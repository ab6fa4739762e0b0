#!/usr/bin/env python3
"""Decode speed with JSON-schema constrained decoding vs. unconstrained, on `modelhost serve`, in one run.

Both requests stream the same chat prompt at temperature 0 with the same token budget; the unconstrained one bans
the end tokens so it runs the full budget. Decode tokens/s = (tokens - 1) / (last content - first content), with
tokens counted by a non-streamed twin of each request (usage). Target (issue #3): constrained >= 70% of unconstrained.

Usage: scripts/bench/structured_speed.py [--model models/SmolLM2-135M-Instruct.Q4_1.gguf] [--runs 3]
"""
import argparse
import http.client
import json
import os
import statistics

from servers import ROOT, modelhost_server, stream_chat

SCHEMA = {"type": "array", "items": {"type": "object", "properties": {
    "city": {"type": "string"}, "country": {"type": "string"}, "population": {"type": "integer"},
    "coastal": {"type": "boolean"}}, "required": ["city", "country", "population", "coastal"],
    "additionalProperties": False}}
MESSAGES = [{"role": "user", "content": "List twenty European cities as JSON objects with their country, "
                                        "population and whether they are on the coast."}]


def usage_tokens(port, extra, max_tokens):
    body = {"model": "default", "messages": MESSAGES, "max_tokens": max_tokens, "temperature": 0, **extra}
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=600)
    conn.request("POST", "/v1/chat/completions", json.dumps(body), {"Content-Type": "application/json"})
    reply = json.loads(conn.getresponse().read())
    return reply["usage"]["completion_tokens"], reply["choices"][0]["message"]["content"]


def rate(port, extra, max_tokens):
    _, content = usage_tokens(port, extra, max_tokens)
    start, first, end, tokens = stream_chat(port, MESSAGES, max_tokens, extra=extra)
    return (tokens - 1) / (end - first), tokens, content


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--model", default=os.path.join(ROOT, "models/SmolLM2-135M-Instruct.Q4_1.gguf"))
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--max-tokens", type=int, default=256)
    args = parser.parse_args()
    free = {"logit_bias": {"0": -100, "2": -100}}
    constrained = {"response_format": {"type": "json_schema", "json_schema": {"name": "cities", "schema": SCHEMA}}}
    json_object = {"response_format": {"type": "json_object"}}
    with modelhost_server(args.model) as port:
        stream_chat(port, MESSAGES, 4)   # load the model
        results = {"unconstrained": [], "json_schema": [], "json_object": []}
        for _ in range(args.runs):   # interleaved, so machine noise hits all alike
            for name, extra in (("unconstrained", free), ("json_schema", constrained), ("json_object", json_object)):
                tps, tokens, content = rate(port, extra, args.max_tokens)
                results[name].append(tps)
                if name != "unconstrained":
                    json.loads(content)   # the output must parse
                    print(f"  {name}: {tokens} tokens, {tps:.1f} tok/s", flush=True)
                else:
                    print(f"  {name}: {tokens} tokens, {tps:.1f} tok/s", flush=True)
    base = statistics.median(results["unconstrained"])
    for name in ("json_schema", "json_object"):
        value = statistics.median(results[name])
        print(f"{name}: median {value:.1f} tok/s vs unconstrained {base:.1f} tok/s = {value / base:.2f}x "
              f"(target >= 0.70)")


if __name__ == "__main__":
    main()
