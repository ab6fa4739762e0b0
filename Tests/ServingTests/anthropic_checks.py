#!/usr/bin/env python3
"""/v1/messages and /v1/messages/count_tokens through the official `anthropic` client (ToolServingTests starts the
server, with API keys, so the client's x-api-key header is what authenticates). Each check prints one line; any
failure exits non-zero."""
import argparse
import json
import sys

import anthropic
import jsonschema

WEATHER = {"name": "get_weather", "description": "Current weather in a city",
           "input_schema": {"type": "object", "properties": {
               "city": {"type": "string", "minLength": 1, "maxLength": 40},
               "unit": {"type": "string", "enum": ["celsius", "fahrenheit"]}},
               "required": ["city", "unit"], "additionalProperties": False}}
TIME = {"name": "get_time", "description": "Current time in a time zone",
        "input_schema": {"type": "object", "properties": {"tz": {"type": "string", "maxLength": 30}},
                         "required": ["tz"]}}
TOOLS = [WEATHER, TIME]
SCHEMAS = {t["name"]: t["input_schema"] for t in TOOLS}
QUESTION = [{"role": "user", "content": "What is the weather in Paris, and what time is it in Tokyo?"}]
failures = []


def check(name, ok, detail=""):
    print(("PASS " if ok else "FAIL ") + name + ("" if ok else f": {detail}"))
    if not ok:
        failures.append(name)


def valid_uses(message, allowed):
    uses = [b for b in message.content if b.type == "tool_use"]
    if not uses:
        return "no tool_use block"
    for use in uses:
        if use.name not in allowed:
            return f"used {use.name}"
        try:
            jsonschema.validate(use.input, SCHEMAS[use.name])
        except jsonschema.ValidationError as e:
            return f"{use.name}({use.input}): {e.message}"
        # toolu_ ids, except where the template insists on its own (Mistral's 9 letters and digits).
        if not use.id:
            return "no id"
    return None


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--base-url", required=True)
    parser.add_argument("--api-key", required=True)
    args = parser.parse_args()
    client = anthropic.Anthropic(base_url=args.base_url, api_key=args.api_key, max_retries=0, timeout=300)

    hello = [{"role": "user", "content": "Say hello."}]
    m = client.messages.create(model="default", max_tokens=16, messages=hello, extra_body={"temperature": 0},
                               system="You are terse.")
    text = "".join(b.text for b in m.content if b.type == "text")
    check("a message answers with a text block", m.type == "message" and m.role == "assistant" and text
          and m.stop_reason in ("end_turn", "max_tokens") and m.usage.input_tokens > 0 and m.usage.output_tokens > 0, m)

    events = []
    with client.messages.stream(model="default", max_tokens=16, messages=hello, extra_body={"temperature": 0},
                                system="You are terse.") as stream:
        for event in stream:
            events.append(event.type)
        final = stream.get_final_message()
    streamed_text = "".join(b.text for b in final.content if b.type == "text")
    names = [e for e in events if e in ("message_start", "content_block_start", "content_block_stop",
                                        "message_delta", "message_stop")]
    check("the stream runs message_start ... message_stop", names[:2] == ["message_start", "content_block_start"]
          and names[-3:] == ["content_block_stop", "message_delta", "message_stop"], events)
    check("the streamed text equals the whole message's", streamed_text == text, (streamed_text, text))

    count = client.messages.count_tokens(model="default", messages=hello, system="You are terse.")
    check("count_tokens equals the message's input tokens", count.input_tokens == m.usage.input_tokens,
          (count.input_tokens, m.usage.input_tokens))

    for model in ("default", "smollm2-hermes", "smollm2-mistral"):
        bad = []
        for i in range(12):
            choice = {"type": "any"} if i % 2 == 0 else {"type": "tool", "name": "get_time"}
            r = client.messages.create(model=model, max_tokens=160, messages=QUESTION, tools=TOOLS,
                                       tool_choice=choice)
            problem = valid_uses(r, SCHEMAS.keys() if i % 2 == 0 else ["get_time"])
            if problem is None and r.stop_reason != "tool_use":
                problem = f"stop_reason {r.stop_reason}"
            if problem:
                bad.append(problem)
        check(f"{model}: tool_choice any/tool gives valid tool_use blocks", not bad, bad[:3])

        with client.messages.stream(model=model, max_tokens=160, messages=QUESTION, tools=TOOLS,
                                    tool_choice={"type": "any"}) as stream:
            partial = {}
            for event in stream:
                if event.type == "content_block_delta" and event.delta.type == "input_json_delta":
                    partial[event.index] = partial.get(event.index, "") + event.delta.partial_json
            final = stream.get_final_message()
        uses = [(i, b) for i, b in enumerate(final.content) if b.type == "tool_use"]
        check(f"{model}: streamed input_json_delta pieces add up to each tool_use input",
              uses and all(json.loads(partial.get(i, "{}")) == b.input for i, b in uses)
              and final.stop_reason == "tool_use" and valid_uses(final, SCHEMAS.keys()) is None, (partial, final))

    history = QUESTION + [
        {"role": "assistant", "content": [{"type": "text", "text": "Checking."},
                                          {"type": "tool_use", "id": "toolu_abc", "name": "get_weather",
                                           "input": {"city": "Paris", "unit": "celsius"}}]},
        {"role": "user", "content": [{"type": "tool_result", "tool_use_id": "toolu_abc", "content": "18 degrees"}]}]
    for model in ("default", "smollm2-hermes", "smollm2-llama3", "smollm2-mistral"):
        r = client.messages.create(model=model, max_tokens=24, messages=history, tools=TOOLS,
                                   extra_body={"temperature": 0})
        check(f"{model}: a tool_result turn is answered", r.stop_reason in ("end_turn", "max_tokens", "tool_use"), r)

    r = client.messages.create(model="smollm2-think", max_tokens=24, messages=hello, extra_body={"temperature": 0},
                               thinking={"type": "enabled", "budget_tokens": 1024})
    check("thinking models answer with a thinking block, none of it in text",
          [b.type for b in r.content] == ["thinking"] and r.content[0].thinking, r)
    r = client.messages.create(model="smollm2-think", max_tokens=24, messages=hello, extra_body={"temperature": 0},
                               thinking={"type": "disabled"})
    check("thinking disabled answers in text", [b.type for b in r.content] == ["text"], r)

    schema = {"type": "object", "properties": {"answer": {"type": "string", "maxLength": 20}}, "required": ["answer"]}
    r = client.messages.create(model="default", max_tokens=60, messages=hello,
                               output_config={"format": {"type": "json_schema", "schema": schema}})
    text = "".join(b.text for b in r.content if b.type == "text")
    try:
        jsonschema.validate(json.loads(text), schema)
        check("output_config.format constrains the answer to the schema", True)
    except Exception as e:  # noqa: BLE001
        check("output_config.format constrains the answer to the schema", False, (text, e))

    try:
        client.messages.create(model="default", max_tokens=8, messages=[{"role": "system", "content": "x"}])
        check("a bad role is refused", False, "accepted")
    except anthropic.BadRequestError as e:
        check("a bad role is a 400 in Anthropic's shape", e.body.get("type") == "error"
              and e.body["error"]["type"] == "invalid_request_error" and "messages[0].role" in e.body["error"]["message"]
              or "role" in e.body["error"]["message"], e.body)
    try:
        client.messages.create(model="no-such-model", max_tokens=8, messages=hello)
        check("an unknown model is refused", False, "accepted")
    except anthropic.NotFoundError as e:
        check("an unknown model is a 404 not_found_error", e.body["error"]["type"] == "not_found_error", e.body)
    try:
        anthropic.Anthropic(base_url=args.base_url, api_key="wrong", max_retries=0).messages.create(
            model="default", max_tokens=8, messages=hello)
        check("a wrong key is refused", False, "accepted")
    except anthropic.AuthenticationError as e:
        check("a wrong key is a 401 authentication_error", e.body["error"]["type"] == "authentication_error", e.body)

    print(f"{len(failures)} failed")
    sys.exit(1 if failures else 0)


if __name__ == "__main__":
    main()
