#!/usr/bin/env python3
"""Ollama's native API (/api/*) through the official `ollama` Python client, against a real server with API keys
(sent as the client's Authorization header): chat and generate, streamed and whole, greedy answers equal to the
OpenAI route's, options honoured or named as ignored, JSON format, tool calls, embeddings, the listing routes, and
errors in Ollama's shape. Each check prints one line; any failure exits non-zero."""
import argparse
import json
import sys
import urllib.request

import jsonschema
import ollama
from openai import OpenAI

failures = []
WEATHER = {"type": "function", "function": {
    "name": "get_weather", "description": "Current weather in a city",
    "parameters": {"type": "object", "properties": {"city": {"type": "string", "maxLength": 40}},
                   "required": ["city"]}}}


def check(name, ok, detail=""):
    print(("PASS " if ok else "FAIL ") + name + ("" if ok else f": {detail}"))
    if not ok:
        failures.append(name)


def raw(base, key, method, path, body=None):
    """A request outside the client, to read headers and error bodies."""
    request = urllib.request.Request(base + path, method=method, data=None if body is None else json.dumps(body).encode(),
                                     headers={"Authorization": f"Bearer {key}", "Content-Type": "application/json"})
    try:
        with urllib.request.urlopen(request, timeout=300) as r:
            return r.status, dict(r.headers), r.read().decode()
    except urllib.error.HTTPError as e:
        return e.code, dict(e.headers), e.read().decode()


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--base-url", required=True)
    parser.add_argument("--api-key", required=True)
    parser.add_argument("--embedding-model", default="")
    args = parser.parse_args()
    base, key = args.base_url, args.api_key
    client = ollama.Client(host=base, headers={"Authorization": f"Bearer {key}"}, timeout=300)
    question = [{"role": "user", "content": "What is the capital of France?"}]

    # Whole and streamed answers, greedy: the same text as the OpenAI route gives.
    whole = client.chat(model="default", messages=question, stream=False, options={"temperature": 0, "num_predict": 24})
    openai = OpenAI(base_url=base + "/v1", api_key=key).chat.completions.create(
        model="default", messages=question, temperature=0, max_tokens=24)
    check("chat answers like /v1/chat/completions (greedy)", whole.message.content == openai.choices[0].message.content,
          f"{whole.message.content!r} vs {openai.choices[0].message.content!r}")
    reason = {"length": "length", "stop": "stop"}[openai.choices[0].finish_reason]
    check("chat's closing counts", whole.done and whole.done_reason == reason
          and whole.eval_count == openai.usage.completion_tokens
          and whole.prompt_eval_count == openai.usage.prompt_tokens and whole.total_duration > 0
          and whole.eval_duration > 0 and whole.prompt_eval_duration > 0, str(whole))
    parts = list(client.chat(model="default:latest", messages=question, stream=True,
                             options={"temperature": 0, "num_predict": 24}))
    streamed = "".join(p.message.content for p in parts)
    check("a streamed chat concatenates to the whole answer (and :latest names the model)",
          streamed == whole.message.content and parts[-1].done and not any(p.done for p in parts[:-1])
          and len(parts) > 5, f"{streamed!r}, {len(parts)} parts")
    check("the stream's last object has the counts", parts[-1].eval_count == whole.eval_count
          and parts[-1].done_reason == whole.done_reason,
          str(parts[-1]))

    g = client.generate(model="default", prompt="What is the capital of France?", options={"temperature": 0, "num_predict": 24})
    check("generate applies the chat template (same answer as chat)", g.response == whole.message.content, g.response)
    g_raw = list(client.generate(model="default", prompt="The capital of France is", raw=True, stream=True,
                                 options={"temperature": 0, "num_predict": 8}))
    text = "".join(p.response for p in g_raw)
    completion = OpenAI(base_url=base + "/v1", api_key=key).completions.create(
        model="default", prompt="The capital of France is", temperature=0, max_tokens=8)
    check("raw generate continues the text (as /v1/completions)", text == completion.choices[0].text,
          f"{text!r} vs {completion.choices[0].text!r}")
    load = client.generate(model="default", prompt="")
    check("an empty prompt loads the model", load.done and load.done_reason == "load", str(load))

    # Options: honoured (stop, seed), ignored ones named in a header, unknown ones refused.
    stopped = client.chat(model="default", messages=question, options={"temperature": 0, "num_predict": 24,
                                                                        "stop": [" Paris"]})
    check("options.stop ends the answer", "Paris" not in stopped.message.content and stopped.done_reason == "stop",
          stopped.message.content)
    seeded = [client.chat(model="default", messages=[{"role": "user", "content": "Name an animal."}],
                          options={"temperature": 1.0, "seed": 42, "num_predict": 12}).message.content for _ in range(2)]
    check("options.seed repeats a sampled answer", seeded[0] == seeded[1], str(seeded))
    status, headers, body = raw(base, key, "POST", "/api/chat", {
        "model": "default", "messages": question, "stream": False,
        "options": {"num_ctx": 4096, "num_gpu": 99, "temperature": 0, "num_predict": 4}, "keep_alive": "5m"})
    ignored = {k.lower(): v for k, v in headers.items()}.get("x-modelhost-ignored-options", "")
    check("options without effect are named in X-ModelHost-Ignored-Options",
          status == 200 and set(ignored.split(", ")) == {"keep_alive", "num_ctx", "num_gpu"}, f"{status} {ignored!r}")
    status, _, body = raw(base, key, "POST", "/api/chat", {"model": "default", "messages": question,
                                                           "options": {"warp_speed": 9}})
    check("an unknown option is a 400 in Ollama's error shape",
          status == 400 and "warp_speed" in json.loads(body).get("error", ""), f"{status} {body}")
    try:
        client.chat(model="no-such-model", messages=question)
        check("an unknown model is a 404", False, "no error")
    except ollama.ResponseError as e:
        check("an unknown model is a 404 (ollama.ResponseError)", e.status_code == 404 and "no-such-model" in e.error,
              f"{e.status_code} {e.error}")

    # Structured output and tools.
    schema = {"type": "object", "properties": {"city": {"type": "string", "maxLength": 20},
                                               "population": {"type": "integer", "minimum": 0}},
              "required": ["city", "population"]}
    structured = client.chat(model="default", messages=[{"role": "user", "content": "Describe Paris as JSON."}],
                             format=schema, options={"temperature": 0, "num_predict": 60})
    try:
        jsonschema.validate(json.loads(structured.message.content), schema)
        check("format: a JSON schema holds the answer to it", True)
    except Exception as e:  # noqa: BLE001
        check("format: a JSON schema holds the answer to it", False, f"{structured.message.content!r}: {e}")
    as_json = client.generate(model="default", prompt="List two colours.", format="json",
                              options={"temperature": 0, "num_predict": 40})
    try:
        check("format: \"json\" gives a JSON object", isinstance(json.loads(as_json.response), dict), as_json.response)
    except ValueError as e:
        check("format: \"json\" gives a JSON object", False, f"{as_json.response!r}: {e}")
    weather = [{"role": "user", "content": "Call get_weather for Paris."}]
    called = client.chat(model="default", messages=weather, tools=[WEATHER], options={"temperature": 0, "num_predict": 80})
    calls = called.message.tool_calls or []
    check("a tool call comes whole, arguments as an object", len(calls) >= 1 and calls[0].function.name == "get_weather"
          and isinstance(calls[0].function.arguments, dict) and "city" in calls[0].function.arguments,
          str(called.message))
    streamed_calls = [c for p in client.chat(model="default", messages=weather, tools=[WEATHER], stream=True,
                                             options={"temperature": 0, "num_predict": 80})
                      for c in (p.message.tool_calls or [])]
    check("a streamed tool call equals the whole one",
          [(c.function.name, c.function.arguments) for c in streamed_calls]
          == [(c.function.name, c.function.arguments) for c in calls], str(streamed_calls))
    if calls:
        follow = client.chat(model="default", options={"temperature": 0, "num_predict": 20}, tools=[WEATHER], messages=weather + [
            {"role": "assistant", "content": "", "tool_calls": [{"function": {"name": "get_weather",
                                                                              "arguments": calls[0].function.arguments}}]},
            {"role": "tool", "tool_name": "get_weather", "content": "18 degrees and sunny"}])
        check("a tool result continues the conversation", follow.done, str(follow))

    # Listing routes.
    tags = client.list()
    names = [m.model for m in tags.models]
    check("/api/tags lists the models with their details",
          any(n.startswith("SmolLM2") for n in names) and all(m.size and m.details.format for m in tags.models), str(tags))
    shown = client.show("default")
    check("/api/show describes the model", "completion" in (shown.capabilities or []) and shown.details.family == "llama"
          and "temperature" in (shown.parameters or ""), str(shown)[:400])
    running = client.ps()
    check("/api/ps lists the loaded model", any(m.size and m.size > 10_000_000 for m in running.models), str(running))
    status, _, body = raw(base, key, "GET", "/api/version")
    check("/api/version", status == 200 and json.loads(body).get("version"), body)
    status, _, body = raw(base, "wrong-key", "GET", "/api/tags")
    check("a wrong key is a 401 in Ollama's shape", status == 401 and "error" in json.loads(body), f"{status} {body}")

    if args.embedding_model:
        e = client.embed(model=args.embedding_model, input=["A cat sits on the mat.", "Un chat est assis."])
        check("/api/embed: one normalised vector per input", len(e.embeddings) == 2 and len(e.embeddings[0]) == 384
              and abs(sum(x * x for x in e.embeddings[0]) - 1) < 1e-3 and e.prompt_eval_count > 0, str(e)[:200])
        try:
            client.embed(model="default", input="hello")
            check("/api/embed refuses a chat model", False, "no error")
        except ollama.ResponseError as err:
            check("/api/embed refuses a chat model", err.status_code == 400, f"{err.status_code} {err.error}")

    print(f"{len(failures)} failed" if failures else "all passed")
    sys.exit(1 if failures else 0)


if __name__ == "__main__":
    main()
