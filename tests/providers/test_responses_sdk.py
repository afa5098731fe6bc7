"""The official OpenAI SDK's Responses client against the gateway, for OpenAI and Azure (passed through) and
Anthropic, Gemini, Bedrock and an OpenAI-compatible vendor (bridged): the same conversation gives the same
answer, non-stream and streamed (the SDK's own accumulator), with usage and cost right."""

from __future__ import annotations

import json
from typing import Any

import openai
import pytest

from tests.fakes.conversation import IMAGE_TOKENS, REASONING_TOKENS
from tests.fakes.server import LoopbackServer

from .targets import COMPATIBLE_MODELS, Fakes, Target

RESPONSES_TARGETS = [
    Target("openai", "openai", "gpt-4o-mini"),
    Target("azure", "azure", "gpt-4o"),
    Target("anthropic", "anthropic", "claude-haiku-4-5"),
    Target("gemini", "gemini", "gemini-2.5-flash"),
    Target("bedrock", "bedrock", "anthropic.claude-3-haiku-20240307-v1:0"),
    Target("groq", "openai", COMPATIBLE_MODELS["groq"]),
]
PASSED_THROUGH = {"openai", "azure"}

SYSTEM = "You are terse."
QUESTION = "What is the weather in Paris?"
REPLY = "Fake reply to: " + QUESTION
PROMPT = len(SYSTEM.split()) + len(QUESTION.split())  # 9: the fakes count words
WEATHER = {"type": "function", "name": "get_weather", "description": "Current weather in a city",
           "parameters": {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]}}
PNG = ("data:image/png;base64,iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mNk"
       "+M9QDwADhgGAWjR9awAAAABJRU5ErkJggg==")

pytestmark = pytest.mark.parametrize("target", RESPONSES_TARGETS, ids=str)


@pytest.fixture
def client(gateway: LoopbackServer, fakes: Fakes) -> openai.OpenAI:
    fakes.clear()
    return openai.OpenAI(base_url=gateway.url + "/v1", api_key="unused", max_retries=0)


def upstream_paths(fakes: Fakes) -> list[str]:
    return [r.path for fake in (fakes.openai, fakes.azure, fakes.anthropic, fakes.gemini, fakes.bedrock)
            for r in fake.received]


def test_text_answer_with_usage(client: openai.OpenAI, fakes: Fakes, target: Target) -> None:
    resp = client.responses.create(model=target.qualified, instructions=SYSTEM, input=QUESTION)
    assert resp.status == "completed"
    assert resp.output_text == REPLY
    assert (resp.usage.input_tokens, resp.usage.output_tokens, resp.usage.total_tokens) == (PROMPT, 9, PROMPT + 9)
    paths = upstream_paths(fakes)
    assert len(paths) == 1
    assert paths[0].endswith("/responses") == (target.provider in PASSED_THROUGH)


def test_stream_rebuilds_the_same_response(client: openai.OpenAI, target: Target) -> None:
    plain = client.responses.create(model=target.qualified, instructions=SYSTEM, input=QUESTION)
    with client.responses.stream(model=target.qualified, instructions=SYSTEM, input=QUESTION) as stream:
        events = list(stream)
        final = stream.get_final_response()
    assert [e.sequence_number for e in events if e.type.startswith("response.")][:2] == [0, 1]
    seq = [e.sequence_number for e in events]
    assert seq == sorted(seq) and len(set(seq)) == len(seq)
    assert {e.response.id for e in events if hasattr(e, "response")} == {final.id}
    assert final.output_text == plain.output_text == REPLY
    assert final.usage == plain.usage
    assert [(o.type, o.status) for o in final.output] == [(o.type, o.status) for o in plain.output]


def test_function_call_round_trip(client: openai.OpenAI, target: Target) -> None:
    first = client.responses.create(model=target.qualified, input=QUESTION, tools=[WEATHER])  # type: ignore[list-item]
    calls = [o for o in first.output if o.type == "function_call"]
    assert len(calls) == 1 and calls[0].name == "get_weather"
    assert json.loads(calls[0].arguments) == {"city": QUESTION}
    history: list[Any] = [{"role": "user", "content": QUESTION}, calls[0].model_dump(exclude_none=True),
                          {"type": "function_call_output", "call_id": calls[0].call_id, "output": "Sunny, 21 C"}]
    second = client.responses.create(model=target.qualified, input=history, tools=[WEATHER])  # type: ignore[list-item]
    assert second.output_text == "Tool result received: Sunny, 21 C"


def test_function_call_streamed_as_argument_deltas(client: openai.OpenAI, target: Target) -> None:
    with client.responses.stream(model=target.qualified, input=QUESTION, tools=[WEATHER]) as stream:  # type: ignore[list-item]
        events = list(stream)
        final = stream.get_final_response()
    added = [e for e in events if e.type == "response.output_item.added" and e.item.type == "function_call"]
    deltas = "".join(e.delta for e in events if e.type == "response.function_call_arguments.delta")
    done = [e for e in events if e.type == "response.function_call_arguments.done"]
    assert len(added) == 1 and len(done) == 1
    assert events.index(added[0]) < events.index(done[0])
    assert json.loads(deltas) == json.loads(done[0].arguments) == {"city": QUESTION}
    call = next(o for o in final.output if o.type == "function_call")
    assert call.id == added[0].item.id and call.call_id == added[0].item.call_id


def test_json_schema_output(client: openai.OpenAI, target: Target) -> None:
    schema = {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"],
              "additionalProperties": False}
    resp = client.responses.create(model=target.qualified, input=QUESTION, text={"format": {
        "type": "json_schema", "name": "weather", "schema": schema, "strict": True}})
    assert json.loads(resp.output_text) == {"city": "Fake reply to: " + QUESTION}


def test_image_input_counts_image_tokens(client: openai.OpenAI, target: Target) -> None:
    resp = client.responses.create(model=target.qualified, input=[{"role": "user", "content": [
        {"type": "input_text", "text": QUESTION}, {"type": "input_image", "image_url": PNG, "detail": "auto"}]}])
    assert resp.output_text == REPLY
    assert resp.usage.input_tokens == len(QUESTION.split()) + IMAGE_TOKENS


def test_reasoning_effort_reports_reasoning_tokens(client: openai.OpenAI, target: Target) -> None:
    # Bedrock's fake thinks only when scripted to (Converse's effort is no request for visible thinking).
    model = target.scripted("reasoning") if target.wire == "bedrock" else target.qualified
    resp = client.responses.create(model=model, input=QUESTION, reasoning={"effort": "low"},
                                   max_output_tokens=4096)
    assert resp.output_text == REPLY
    assert resp.usage.output_tokens == 9 + REASONING_TOKENS
    # Anthropic's API counts thinking inside output tokens without breaking it out.
    broken_out = 0 if target.wire in ("anthropic", "bedrock") else REASONING_TOKENS
    assert resp.usage.output_tokens_details.reasoning_tokens == broken_out
    summaries = [o for o in resp.output if o.type == "reasoning"]
    if target.wire in ("openai",) and target.provider not in PASSED_THROUGH:
        assert summaries == []  # Chat Completions returns no reasoning text to bridge
    else:
        assert summaries and summaries[0].summary[0].text
