#!/usr/bin/env python3
"""/v1/responses through the official `openai` client, and an OpenAI Agents SDK agent loop with two tools, against a
running ModelHost (ToolServingTests starts it). Each check prints one line; any failure exits non-zero."""
import argparse
import asyncio
import json
import sys

import jsonschema
import openai

WEATHER = {"type": "function", "name": "get_weather", "description": "Current weather in a city",
           "parameters": {"type": "object", "properties": {
               "city": {"type": "string", "minLength": 1, "maxLength": 40},
               "unit": {"type": "string", "enum": ["celsius", "fahrenheit"]}},
               "required": ["city", "unit"], "additionalProperties": False}}
TIME = {"type": "function", "name": "get_time", "description": "Current time in a time zone",
        "parameters": {"type": "object", "properties": {"tz": {"type": "string", "maxLength": 30}}, "required": ["tz"]}}
TOOLS = [WEATHER, TIME]
SCHEMAS = {t["name"]: t["parameters"] for t in TOOLS}
failures = []


def check(name, ok, detail=""):
    print(("PASS " if ok else "FAIL ") + name + ("" if ok else f": {detail}"))
    if not ok:
        failures.append(name)


def responses_checks(client):
    r = client.responses.create(model="default", input="Say hello.", max_output_tokens=16, temperature=0)
    check("a response has output_text, a status and usage", r.object == "response" and r.output_text
          and r.status in ("completed", "incomplete") and r.usage.input_tokens > 0, r)

    first = client.responses.create(model="default", input="My name is Ada.", instructions="Be brief.",
                                    max_output_tokens=12, temperature=0)
    second = client.responses.create(model="default", previous_response_id=first.id, input="What is my name?",
                                     max_output_tokens=12, temperature=0)
    check("previous_response_id continues the conversation (its turns are in the prompt)",
          second.previous_response_id == first.id and second.usage.input_tokens > first.usage.input_tokens
          + first.usage.output_tokens, (first.usage, second.usage))
    kept = client.responses.retrieve(first.id)
    check("GET /v1/responses/{id} returns the stored response", kept.id == first.id
          and kept.output_text == first.output_text, kept)
    client.responses.delete(first.id)
    try:
        client.responses.retrieve(first.id)
        check("a deleted response is gone", False, "still there")
    except openai.NotFoundError:
        check("a deleted response is gone", True)
    try:
        client.responses.create(model="default", previous_response_id=first.id, input="Again?", max_output_tokens=4)
        check("a deleted previous_response_id is refused", False, "accepted")
    except openai.NotFoundError as e:
        check("a deleted previous_response_id is a 404 naming the field",
              e.body.get("param") == "previous_response_id", e.body)
    unstored = client.responses.create(model="default", input="Hi", store=False, max_output_tokens=4)
    try:
        client.responses.retrieve(unstored.id)
        check("store false keeps nothing", False, "kept")
    except openai.NotFoundError:
        check("store false keeps nothing", True)

    for model in ("default", "smollm2-hermes"):
        bad = []
        for i in range(10):
            r = client.responses.create(model=model, input="Weather in Paris and the time in Tokyo?", tools=TOOLS,
                                        tool_choice="required", temperature=1.0, max_output_tokens=160)
            calls = [o for o in r.output if o.type == "function_call"]
            if not calls:
                bad.append(("no call", r.output))
            for c in calls:
                try:
                    jsonschema.validate(json.loads(c.arguments), SCHEMAS[c.name])
                except Exception as e:  # noqa: BLE001
                    bad.append((c.name, c.arguments, str(e)))
        check(f"{model}: required tool calls come back as valid function_call items", not bad, bad[:3])

    # A function_call_output continues from the stored response.
    r = client.responses.create(model="smollm2-hermes", input="Weather in Paris?", tools=TOOLS,
                                tool_choice={"type": "function", "name": "get_weather"}, max_output_tokens=120)
    call = next(o for o in r.output if o.type == "function_call")
    follow = client.responses.create(model="smollm2-hermes", previous_response_id=r.id, tools=TOOLS,
                                     input=[{"type": "function_call_output", "call_id": call.call_id,
                                             "output": '{"temperature": 18}'}], max_output_tokens=16, temperature=0)
    check("a function_call_output turn after previous_response_id is answered", follow.status in ("completed", "incomplete"),
          follow)

    # Streaming: event order, and deltas that add up to the final object.
    text, args, types = "", {}, []
    with client.responses.stream(model="smollm2-hermes", input="Weather in Paris?", tools=TOOLS,
                                 tool_choice="required", temperature=1.0, max_output_tokens=160) as stream:
        for event in stream:
            types.append(event.type)
            if event.type == "response.output_text.delta":
                text += event.delta
            if event.type == "response.function_call_arguments.delta":
                args[event.item_id] = args.get(event.item_id, "") + event.delta
        final = stream.get_final_response()
    calls = {o.id: o.arguments for o in final.output if o.type == "function_call"}
    check("stream: response.created first, response.completed last", types[0] == "response.created"
          and types[-1] in ("response.completed", "response.incomplete"), types[:3] + types[-3:])
    check("stream: argument deltas add up to each function_call's arguments", calls and args == calls, (args, calls))

    try:
        client.responses.create(model="default", input=[{"type": "function_call_output"}])
        check("a malformed item is refused", False, "accepted")
    except openai.BadRequestError as e:
        check("a malformed item is a 400 naming it", (e.body.get("param") or "").startswith("input[0]"), e.body)


def agents_checks(base_url, api_key):
    """A two-tool agent loop with the OpenAI Agents SDK over the Chat Completions API: the first turn must call a
    tool (tool_choice required; the SDK then resets it to auto), the tools run, and the loop ends in a final answer."""
    from agents import Agent, ModelSettings, OpenAIChatCompletionsModel, RunConfig, Runner, function_tool
    from agents import set_tracing_disabled

    set_tracing_disabled(True)
    calls = []

    @function_tool
    def get_weather(city: str) -> str:
        """Current weather in a city."""
        calls.append(("get_weather", city))
        return f"18 degrees and sunny in {city}"

    @function_tool
    def get_time(tz: str) -> str:
        """Current time in a time zone."""
        calls.append(("get_time", tz))
        return "10:30"

    client = openai.AsyncOpenAI(base_url=base_url, api_key=api_key, max_retries=0, timeout=300)
    agent = Agent(name="assistant", instructions="Answer with the tools' help.",
                  tools=[get_weather, get_time],
                  model=OpenAIChatCompletionsModel(model="smollm2-hermes", openai_client=client),
                  model_settings=ModelSettings(tool_choice="required", temperature=0.7, max_tokens=120, seed=5))
    result = asyncio.run(Runner.run(agent, "What is the weather in Paris, and the time in Tokyo?", max_turns=8,
                                    run_config=RunConfig(tracing_disabled=True)))
    check("agents SDK: a two-tool agent loop runs to a final answer", bool(calls)
          and result.final_output is not None, (calls, result.final_output))
    print(f"  tools called: {calls}; final: {str(result.final_output)[:80]!r}")


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--base-url", required=True)
    parser.add_argument("--api-key", required=True)
    args = parser.parse_args()
    client = openai.OpenAI(base_url=args.base_url, api_key=args.api_key, max_retries=0, timeout=300)
    responses_checks(client)
    agents_checks(args.base_url, args.api_key)
    print(f"{len(failures)} failed")
    sys.exit(1 if failures else 0)


if __name__ == "__main__":
    main()
