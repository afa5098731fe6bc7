"""The official OpenAI SDK against the gateway, for every provider: the same conversation gives the
same OpenAI-shaped answer (text, stream, tool round trip, images, JSON mode), with usage and cost
right. Upstreams are the strict fakes; see targets.py for the provider table."""

from __future__ import annotations

import json
from typing import Any

import openai
import pytest

from req_llm_gateway.providers import feature_declarations
from req_llm_gateway.providers.features import level
from tests.fakes.server import LoopbackServer

from .targets import TARGETS, Fakes, Target, expected_cost

SYSTEM = "You are terse."
QUESTION = "What is the weather in Paris?"
REPLY = "Fake reply to: " + QUESTION
MESSAGES: list[Any] = [{"role": "system", "content": SYSTEM}, {"role": "user", "content": QUESTION}]
PROMPT = len(SYSTEM.split()) + len(QUESTION.split())  # 9: the fakes count words
WEATHER = {"type": "function", "function": {
    "name": "get_weather", "description": "Current weather in a city",
    "parameters": {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]}}}
PNG = ("data:image/png;base64,iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mNk"
       "+M9QDwADhgGAWjR9awAAAABJRU5ErkJggg==")

pytestmark = pytest.mark.parametrize("target", TARGETS, ids=str)


def declared(target: Target, feature: str) -> str:
    """The level the target's wire format declares for `feature` (see providers/features.py)."""
    return level(feature_declarations()[target.wire][feature])[0]




@pytest.fixture
def client(gateway: LoopbackServer, fakes: Fakes) -> openai.OpenAI:
    fakes.clear()
    return openai.OpenAI(base_url=gateway.url + "/v1", api_key="unused", max_retries=0)


def test_plain_text_answer_usage_and_cost(client: openai.OpenAI, target: Target) -> None:
    resp = client.chat.completions.create(model=target.qualified, messages=MESSAGES)
    assert resp.choices[0].message.content == REPLY
    assert resp.choices[0].finish_reason == "stop"
    assert (resp.usage.prompt_tokens, resp.usage.completion_tokens, resp.usage.total_tokens) == (PROMPT, 9, PROMPT + 9)
    ext = resp.model_extra["x_req_llm"]
    assert ext["provider"] == target.provider
    assert ext["cost_usd"] == pytest.approx(expected_cost(PROMPT, 9), rel=1e-12)


def test_stream_gives_the_same_text_finish_and_usage(client: openai.OpenAI, target: Target) -> None:
    chunks = list(client.chat.completions.create(model=target.qualified, messages=MESSAGES, stream=True,
                                                 stream_options={"include_usage": True}))
    text = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
    finishes = [c.choices[0].finish_reason for c in chunks if c.choices and c.choices[0].finish_reason]
    usage = [c for c in chunks if c.usage]
    assert (text, finishes) == (REPLY, ["stop"])
    assert len(usage) == 1 and usage[0] is chunks[-1]
    assert (usage[0].usage.prompt_tokens, usage[0].usage.completion_tokens) == (PROMPT, 9)
    assert usage[0].model_extra["x_req_llm"]["cost_usd"] == pytest.approx(expected_cost(PROMPT, 9), rel=1e-12)


def test_stream_without_include_usage_has_no_usage_chunk(client: openai.OpenAI, target: Target) -> None:
    chunks = list(client.chat.completions.create(model=target.qualified, messages=MESSAGES, stream=True))
    assert all(c.usage is None for c in chunks)
    assert "".join(c.choices[0].delta.content or "" for c in chunks if c.choices) == REPLY


def test_tool_call_round_trip(client: openai.OpenAI, target: Target) -> None:
    first = client.chat.completions.create(model=target.qualified, messages=MESSAGES, tools=[WEATHER])
    call = first.choices[0].message.tool_calls[0]
    assert first.choices[0].finish_reason == "tool_calls"
    assert (call.type, call.function.name, json.loads(call.function.arguments)) == (
        "function", "get_weather", {"city": QUESTION})
    assistant = {"role": "assistant", "content": first.choices[0].message.content, "tool_calls": [
        {"id": call.id, "type": "function", "function": {"name": "get_weather", "arguments": call.function.arguments}}]}
    history = [*MESSAGES, assistant,
               {"role": "tool", "tool_call_id": call.id, "content": "Sunny, 24 C"}]
    second = client.chat.completions.create(model=target.qualified, messages=history, tools=[WEATHER])
    assert second.choices[0].message.content == "Tool result received: Sunny, 24 C"
    assert second.choices[0].finish_reason == "stop"
    assert second.usage.prompt_tokens == PROMPT + 3


def test_tool_call_streamed_as_argument_deltas(client: openai.OpenAI, target: Target) -> None:
    chunks = list(client.chat.completions.create(model=target.qualified, messages=MESSAGES, tools=[WEATHER],
                                                 tool_choice="required", stream=True))
    calls = [tc for c in chunks if c.choices for tc in (c.choices[0].delta.tool_calls or [])]
    assert calls[0].id and calls[0].function.name == "get_weather"
    assert {tc.index for tc in calls} == {0}  # one call: its id once, then argument pieces (Gemini: whole)
    assert json.loads("".join(tc.function.arguments or "" for tc in calls)) == {"city": QUESTION}
    assert [c.choices[0].finish_reason for c in chunks if c.choices and c.choices[0].finish_reason] == ["tool_calls"]


def test_image_as_data_url(client: openai.OpenAI, target: Target) -> None:
    content = [{"type": "text", "text": "What is in this image?"}, {"type": "image_url", "image_url": {"url": PNG}}]
    resp = client.chat.completions.create(model=target.qualified, messages=[{"role": "user", "content": content}])
    assert resp.choices[0].message.content == "Fake reply to: What is in this image?"
    assert resp.usage.prompt_tokens == 5 + 85  # the fakes count 85 tokens per image


def test_json_schema_response_format(client: openai.OpenAI, target: Target) -> None:
    schema = {"type": "object", "properties": {"city": {"type": "string"}, "temp_c": {"type": "integer"}},
              "required": ["city", "temp_c"], "additionalProperties": False}
    resp = client.chat.completions.create(model=target.qualified, messages=MESSAGES, response_format={
        "type": "json_schema", "json_schema": {"name": "weather", "schema": schema, "strict": True}})
    assert json.loads(resp.choices[0].message.content) == {"city": REPLY, "temp_c": 1}


def test_json_object_mode_or_a_400_naming_response_format(client: openai.OpenAI, target: Target) -> None:
    if declared(target, "json_object") == "no":
        with pytest.raises(openai.BadRequestError) as info:
            client.chat.completions.create(model=target.qualified, messages=MESSAGES,
                                           response_format={"type": "json_object"})
        assert info.value.body["param"] == "response_format"
        return
    resp = client.chat.completions.create(model=target.qualified, messages=[
        {"role": "system", "content": "Answer in JSON."}, {"role": "user", "content": QUESTION}],
        response_format={"type": "json_object"})
    answer = json.loads(resp.choices[0].message.content)
    # the fakes answer {"reply": ...} in JSON mode; Anthropic's JSON mode is a forced tool taking any object
    assert answer == ({} if target.wire == "anthropic" else {"reply": REPLY})


@pytest.mark.parametrize(("markers", "cached", "written"), [
    (("cached",), PROMPT // 2, 0),
    (("cache-write",), 0, PROMPT // 2),
    (("cached", "cache-write"), PROMPT // 2, (PROMPT - PROMPT // 2) // 2),
])
def test_cached_and_written_prompt_tokens_are_reported_and_priced(
    client: openai.OpenAI, target: Target, markers: tuple[str, ...], cached: int, written: int
) -> None:
    if declared(target, "usage_cache_write") == "unreported":
        written = 0  # the upstream reports no cache writes: those tokens count and cost as plain input
    for stream in (False, True):
        if stream:
            chunks = list(client.chat.completions.create(model=target.scripted(*markers), messages=MESSAGES,
                                                         stream=True, stream_options={"include_usage": True}))
            usage, ext = chunks[-1].usage, chunks[-1].model_extra["x_req_llm"]
        else:
            resp = client.chat.completions.create(model=target.scripted(*markers), messages=MESSAGES)
            usage, ext = resp.usage, resp.model_extra["x_req_llm"]
        assert usage.prompt_tokens == PROMPT
        details = usage.prompt_tokens_details.model_dump(exclude_none=True) if usage.prompt_tokens_details else {}
        assert details.get("cached_tokens", 0) == cached
        assert details.get("cache_write_tokens", 0) == written
        assert ext["cost_usd"] == pytest.approx(expected_cost(PROMPT, 9, cached, written), rel=1e-12)


def test_upstream_rate_limit_is_a_429_with_retry_after(client: openai.OpenAI, target: Target) -> None:
    with pytest.raises(openai.RateLimitError) as info:
        client.chat.completions.create(model=target.scripted("status-429"), messages=MESSAGES)
    assert info.value.status_code == 429
    if target.wire != "bedrock":  # Bedrock's ThrottlingException carries no Retry-After
        assert info.value.response.headers["retry-after"] == "7"


def test_upstream_validation_error_is_a_400(client: openai.OpenAI, target: Target) -> None:
    with pytest.raises(openai.BadRequestError) as info:
        client.chat.completions.create(model=target.scripted("status-400"), messages=MESSAGES)
    assert info.value.status_code == 400


def test_upstream_server_error_is_a_502(client: openai.OpenAI, target: Target) -> None:
    with pytest.raises(openai.InternalServerError) as info:
        client.chat.completions.create(model=target.scripted("status-500"), messages=MESSAGES)
    assert info.value.status_code == 502


def test_failure_mid_stream_is_an_error_event(client: openai.OpenAI, target: Target) -> None:
    stream = client.chat.completions.create(model=target.scripted("stream-error"), messages=MESSAGES, stream=True)
    with pytest.raises(openai.APIError):
        for _ in stream:
            pass
