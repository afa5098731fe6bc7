"""The same conversation gives the same OpenAI-shaped result from OpenAI, Anthropic and Gemini,
streamed or not: content, tool calls, finish reason and token counts (the three fakes share one
deterministic model, so any difference is the gateway's translation)."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import openai
import pytest

from tests.fakes.fixtures import RunningFake
from tests.providers.support import serve_translating_gateway as serve_gateway

MODELS = ["openai:gpt-4o", "anthropic:claude-sonnet-4-5", "gemini:gemini-2.5-flash"]
WEATHER = {"type": "function", "function": {
    "name": "get_weather", "description": "Weather for a city",
    "parameters": {"type": "object", "properties": {"city": {"type": "string"}, "days": {"type": "integer"}},
                   "required": ["city", "days"]},
}}
SCHEMA = {"type": "object", "properties": {"answer": {"type": "string"}}, "required": ["answer"],
          "additionalProperties": False}
ASK = [{"role": "system", "content": "You are a weather bot."}, {"role": "user", "content": "Weather in Paris"}]
CALL = {"role": "assistant", "content": None, "tool_calls": [
    {"id": "call_0123456789abcdef01234567", "type": "function",
     "function": {"name": "get_weather", "arguments": '{"city": "Paris", "days": 1}'}}]}
RESULT = {"role": "tool", "tool_call_id": "call_0123456789abcdef01234567", "content": "sunny and warm"}

CASES: dict[str, dict[str, Any]] = {
    "plain": {"messages": ASK},
    "multi-turn": {"messages": [*ASK, {"role": "assistant", "content": "It is sunny."},
                                {"role": "user", "content": "And tomorrow?"}]},
    "stop sequence": {"messages": ASK, "stop": ["Paris"]},
    "length": {"messages": ASK, "max_tokens": 2},
    "tool call": {"messages": ASK, "tools": [WEATHER]},
    "named tool": {"messages": ASK, "tools": [WEATHER],
                   "tool_choice": {"type": "function", "function": {"name": "get_weather"}}},
    "tool none": {"messages": ASK, "tools": [WEATHER], "tool_choice": "none"},
    "tool result": {"messages": [*ASK, CALL, RESULT], "tools": [WEATHER]},
    "json schema": {"messages": ASK, "response_format": {
        "type": "json_schema", "json_schema": {"name": "a", "schema": SCHEMA, "strict": True}}},
}


@pytest.fixture(scope="module")
def client(
    _openai_server: RunningFake, _anthropic_server: RunningFake, _gemini_server: RunningFake,
) -> Iterator[openai.OpenAI]:
    env = {"OPENAI_API_KEY": "sk-test-openai", "OPENAI_BASE_URL": _openai_server.url + "/v1",
           "ANTHROPIC_API_KEY": "sk-ant-test", "ANTHROPIC_BASE_URL": _anthropic_server.url,
           "GEMINI_API_KEY": "gemini-test", "GEMINI_BASE_URL": _gemini_server.url}
    with serve_gateway(env) as srv:
        yield openai.OpenAI(base_url=srv.url + "/v1", api_key="unused", max_retries=0)


def shape(r: Any) -> dict[str, Any]:
    msg = r.choices[0].message
    calls = [(c.function.name, json.loads(c.function.arguments)) for c in msg.tool_calls or ()]
    usage = (r.usage.prompt_tokens, r.usage.completion_tokens, r.usage.total_tokens)
    return {"role": msg.role, "content": msg.content or None, "tool_calls": calls,
            "finish": r.choices[0].finish_reason, "usage": usage}


def shape_stream(chunks: list[Any]) -> dict[str, Any]:
    role, text, finish, usage = None, "", None, None
    calls: dict[int, list[str]] = {}
    for chunk in chunks:
        if chunk.usage is not None:
            usage = (chunk.usage.prompt_tokens, chunk.usage.completion_tokens, chunk.usage.total_tokens)
        for ch in chunk.choices:
            role = role or ch.delta.role
            text += ch.delta.content or ""
            finish = ch.finish_reason or finish
            for tc in ch.delta.tool_calls or ():
                entry = calls.setdefault(tc.index, ["", ""])
                entry[0] += tc.function.name or ""
                entry[1] += tc.function.arguments or ""
    tool_calls = [(name, json.loads(args)) for _, (name, args) in sorted(calls.items())]
    return {"role": role, "content": text or None, "tool_calls": tool_calls, "finish": finish, "usage": usage}


@pytest.mark.parametrize("case", list(CASES))
def test_every_provider_gives_the_same_result_streamed_or_not(client: openai.OpenAI, case: str) -> None:
    results = {}
    for model in MODELS:
        results[model] = shape(client.chat.completions.create(model=model, **CASES[case]))
        streamed = list(client.chat.completions.create(
            model=model, stream=True, stream_options={"include_usage": True}, **CASES[case]))
        results[model + " (stream)"] = shape_stream(streamed)
    expected = results["openai:gpt-4o"]
    assert all(r == expected for r in results.values()), json.dumps(results, indent=1)


def test_the_shared_expectations_are_what_the_cases_mean(client: openai.OpenAI) -> None:
    """Spot-check the common answer, so agreement is not agreement on something wrong."""
    got = {case: shape(client.chat.completions.create(model=MODELS[1], **CASES[case])) for case in CASES}
    assert got["plain"]["content"] == "Fake reply to: Weather in Paris"
    assert (got["stop sequence"]["content"], got["stop sequence"]["finish"]) == ("Fake reply to: Weather in ", "stop")
    assert (got["length"]["content"], got["length"]["finish"]) == ("Fake reply", "length")
    assert got["tool call"]["tool_calls"] == [("get_weather", {"city": "Weather in Paris", "days": 1})]
    assert got["tool call"]["finish"] == "tool_calls"
    assert got["tool none"]["tool_calls"] == [] and got["tool none"]["finish"] == "stop"
    assert got["tool result"]["content"] == "Tool result received: sunny and warm"
    assert json.loads(got["json schema"]["content"]) == {"answer": "Fake reply to: Weather in Paris"}
