"""`anthropic:` models through the official OpenAI SDK, the gateway and the strict fake Anthropic API
on real sockets: text, streams, tools, images, JSON modes, reasoning, cache usage, cost, errors, and the
exact request the gateway sent upstream."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Iterator
from decimal import Decimal

import httpx
import openai
import pytest

from tests.fakes.conversation import IMAGE_TOKENS, REASONING_SIGNATURE, REASONING_TEXT, REASONING_TOKENS
from tests.fakes.fixtures import RunningFake
from tests.fakes.server import LoopbackServer
from tests.providers.support import PNG, WEATHER, collect
from tests.providers.support import serve_translating_gateway as serve_gateway

KEY = "sk-ant-test-0123456789"
MODEL = "claude-sonnet-4-5"
HELLO = [{"role": "system", "content": "Be brief."}, {"role": "user", "content": "Hello there"}]
# claude-sonnet-4-5 in the genai-prices catalogue, USD per token
INPUT, OUTPUT, CACHE_READ, CACHE_WRITE = (Decimal(x) / 1_000_000 for x in ("3", "15", "0.3", "3.75"))


@pytest.fixture(scope="module")
def gw(_anthropic_server: RunningFake) -> Iterator[LoopbackServer]:
    env = {"ANTHROPIC_API_KEY": KEY, "ANTHROPIC_BASE_URL": _anthropic_server.url,
           "REQ_LLM_GATEWAY_ERROR_VERBOSITY": "detailed"}
    with serve_gateway(env) as srv:
        yield srv


@pytest.fixture
def client(gw: LoopbackServer, fake_anthropic: RunningFake) -> openai.OpenAI:
    return openai.OpenAI(base_url=gw.url + "/v1", api_key="unused", max_retries=0)


def test_plain_text_answer_with_usage_and_cost(client: openai.OpenAI) -> None:
    r = client.chat.completions.create(model=f"anthropic:{MODEL}", messages=HELLO)
    assert r.object == "chat.completion" and r.model == MODEL and r.id.startswith("msg_")
    assert r.choices[0].message.role == "assistant"
    assert r.choices[0].message.content == "Fake reply to: Hello there"
    assert r.choices[0].finish_reason == "stop"
    assert (r.usage.prompt_tokens, r.usage.completion_tokens, r.usage.total_tokens) == (4, 5, 9)
    ext = r.model_extra["x_req_llm"]
    assert ext["provider"] == "anthropic"
    assert Decimal(str(ext["cost_usd"])) == 4 * INPUT + 5 * OUTPUT


def test_upstream_request_is_exactly_the_anthropic_messages_call(
    client: openai.OpenAI, fake_anthropic: RunningFake
) -> None:
    client.chat.completions.create(model=f"anthropic:{MODEL}", messages=HELLO, temperature=0.5, max_tokens=50,
                                   stop=["END"])
    sent = fake_anthropic.last
    assert (sent.method, sent.path, sent.query) == ("POST", "/v1/messages", {})
    assert sent.headers["x-api-key"] == KEY
    assert sent.headers["anthropic-version"] == "2023-06-01"
    assert sent.headers["content-type"] == "application/json"
    assert "authorization" not in sent.headers
    assert sent.json == {
        "model": MODEL, "max_tokens": 50, "temperature": 0.5, "stop_sequences": ["END"],
        "system": [{"type": "text", "text": "Be brief."}],
        "messages": [{"role": "user", "content": [{"type": "text", "text": "Hello there"}]}],
    }


def test_stream_gives_the_same_text_usage_and_cost_as_non_stream(client: openai.OpenAI) -> None:
    full = client.chat.completions.create(model=f"anthropic:{MODEL}", messages=HELLO)
    text, chunks, usage = collect(client.chat.completions.create(
        model=f"anthropic:{MODEL}", messages=HELLO, stream=True, stream_options={"include_usage": True}))
    assert text == full.choices[0].message.content
    assert chunks[0].choices[0].delta.role == "assistant"
    assert [c.choices[0].finish_reason for c in chunks if c.choices[0].finish_reason] == ["stop"]
    assert len(usage) == 1 and usage[0].choices == []
    assert usage[0].usage == full.usage
    assert usage[0].model_extra["x_req_llm"]["cost_usd"] == full.model_extra["x_req_llm"]["cost_usd"]
    assert all(c.object == "chat.completion.chunk" and c.id == chunks[0].id for c in chunks)


def test_stream_without_include_usage_sends_no_usage_chunk(client: openai.OpenAI) -> None:
    text, chunks, usage = collect(client.chat.completions.create(
        model=f"anthropic:{MODEL}", messages=HELLO, stream=True))
    assert text == "Fake reply to: Hello there"
    assert usage == []
    assert chunks[-1].choices[0].finish_reason == "stop"


def test_tool_call_round_trip(client: openai.OpenAI, fake_anthropic: RunningFake) -> None:
    ask = [{"role": "user", "content": "Paris"}]
    first = client.chat.completions.create(model=f"anthropic:{MODEL}", messages=ask, tools=[WEATHER])
    assert first.choices[0].finish_reason == "tool_calls"
    assert first.choices[0].message.content is None
    (call,) = first.choices[0].message.tool_calls
    assert call.id.startswith("toolu_") and call.type == "function"
    assert (call.function.name, json.loads(call.function.arguments)) == ("get_weather", {"city": "Paris"})
    follow = [*ask, first.choices[0].message.model_dump(exclude_none=True),
              {"role": "tool", "tool_call_id": call.id, "content": "sunny, 24 C"}]
    second = client.chat.completions.create(model=f"anthropic:{MODEL}", messages=follow, tools=[WEATHER])
    assert second.choices[0].message.content == "Tool result received: sunny, 24 C"
    assert second.choices[0].finish_reason == "stop"
    assert fake_anthropic.last.json["messages"][1:] == [
        {"role": "assistant", "content": [
            {"type": "tool_use", "id": call.id, "name": "get_weather", "input": {"city": "Paris"}}]},
        {"role": "user", "content": [{"type": "tool_result", "tool_use_id": call.id, "content": "sunny, 24 C"}]},
    ]


def test_streamed_tool_call_arguments_arrive_as_json_deltas(client: openai.OpenAI) -> None:
    _, chunks, _ = collect(client.chat.completions.create(
        model=f"anthropic:{MODEL}", messages=[{"role": "user", "content": "Paris"}], tools=[WEATHER],
        tool_choice={"type": "function", "function": {"name": "get_weather"}}, stream=True))
    deltas = [tc for c in chunks for tc in c.choices[0].delta.tool_calls or ()]
    assert deltas[0].id.startswith("toolu_") and deltas[0].function.name == "get_weather"
    assert deltas[0].function.arguments == ""
    assert len(deltas) >= 3 and {d.index for d in deltas} == {0}
    assert all(d.id is None for d in deltas[1:])
    assert json.loads("".join(d.function.arguments for d in deltas)) == {"city": "Paris"}
    assert chunks[-1].choices[0].finish_reason == "tool_calls"


def test_images_go_upstream_as_base64_and_url_sources(
    client: openai.OpenAI, fake_anthropic: RunningFake
) -> None:
    content = [{"type": "text", "text": "What is this?"},
               {"type": "image_url", "image_url": {"url": f"data:image/png;base64,{PNG}"}},
               {"type": "image_url", "image_url": {"url": "https://example.com/cat.jpg"}}]
    r = client.chat.completions.create(model=f"anthropic:{MODEL}", messages=[{"role": "user", "content": content}])
    assert r.choices[0].message.content == "Fake reply to: What is this?"
    assert r.usage.prompt_tokens == 3 + 2 * IMAGE_TOKENS
    assert [b["type"] for b in fake_anthropic.last.json["messages"][0]["content"]] == ["text", "image", "image"]


def test_json_schema_mode_answers_with_schema_shaped_json(client: openai.OpenAI) -> None:
    schema = {"type": "object", "properties": {"answer": {"type": "string"}, "score": {"type": "integer"}},
              "required": ["answer", "score"], "additionalProperties": False}
    fmt = {"type": "json_schema", "json_schema": {"name": "reply", "schema": schema, "strict": True}}
    r = client.chat.completions.create(model=f"anthropic:{MODEL}", messages=HELLO, response_format=fmt)
    assert json.loads(r.choices[0].message.content) == {"answer": "Fake reply to: Hello there", "score": 1}
    assert r.choices[0].finish_reason == "stop"


def test_json_object_mode_returns_the_forced_tool_input_as_text(client: openai.OpenAI) -> None:
    fmt = {"type": "json_object"}
    r = client.chat.completions.create(model=f"anthropic:{MODEL}", messages=HELLO, response_format=fmt)
    assert r.choices[0].message.tool_calls is None
    assert json.loads(r.choices[0].message.content) == {}
    assert r.choices[0].finish_reason == "stop"
    text, chunks, _ = collect(client.chat.completions.create(
        model=f"anthropic:{MODEL}", messages=HELLO, response_format=fmt, stream=True))
    assert json.loads(text) == {}
    assert all(not c.choices[0].delta.tool_calls for c in chunks)
    assert chunks[-1].choices[0].finish_reason == "stop"


def test_cache_reads_and_writes_are_part_of_prompt_tokens_and_priced_apart(client: openai.OpenAI) -> None:
    model = f"anthropic:{MODEL}-cached-cache-write"
    words = "one two three four five six seven eight nine ten eleven"
    msgs = [{"role": "user", "content": words}]
    r = client.chat.completions.create(model=model, messages=msgs)
    # the fake: prompt 11, cache_read 11 // 2 = 5, cache_write (11 - 5) // 2 = 3, input_tokens 3
    assert r.usage.prompt_tokens == 11
    assert r.usage.prompt_tokens_details.cached_tokens == 5
    assert r.usage.prompt_tokens_details.cache_write_tokens == 3
    completion = r.usage.completion_tokens
    expected = 3 * INPUT + 5 * CACHE_READ + 3 * CACHE_WRITE + completion * OUTPUT
    assert Decimal(str(r.model_extra["x_req_llm"]["cost_usd"])) == expected
    _, _, usage = collect(client.chat.completions.create(
        model=model, messages=msgs, stream=True, stream_options={"include_usage": True}))
    assert usage[0].usage == r.usage


def test_reasoning_effort_returns_thinking_as_reasoning_content(
    client: openai.OpenAI, fake_anthropic: RunningFake
) -> None:
    r = client.chat.completions.create(model=f"anthropic:{MODEL}", messages=HELLO, reasoning_effort="low")
    assert fake_anthropic.last.json["thinking"] == {"type": "enabled", "budget_tokens": 2048}
    assert fake_anthropic.last.json["max_tokens"] == 16384
    assert r.choices[0].message.content == "Fake reply to: Hello there"
    assert r.choices[0].message.model_extra["reasoning_content"] == REASONING_TEXT
    assert r.usage.completion_tokens == 5 + REASONING_TOKENS
    _, chunks, usage = collect(client.chat.completions.create(
        model=f"anthropic:{MODEL}", messages=HELLO, reasoning_effort="low", stream=True,
        stream_options={"include_usage": True}))
    thinking = "".join(c.choices[0].delta.model_extra.get("reasoning_content") or "" for c in chunks)
    assert thinking == REASONING_TEXT
    assert usage[0].usage == r.usage


def test_thinking_and_tool_calls_round_trip_with_the_signed_thinking_block(
    client: openai.OpenAI, fake_anthropic: RunningFake
) -> None:
    ask = [{"role": "user", "content": "Paris"}]
    first = client.chat.completions.create(model=f"anthropic:{MODEL}", messages=ask, tools=[WEATHER],
                                           reasoning_effort="medium")
    message = first.choices[0].message
    block = {"type": "thinking", "thinking": REASONING_TEXT, "signature": REASONING_SIGNATURE}
    assert message.model_extra["thinking_blocks"] == [block]
    (call,) = message.tool_calls
    follow = [*ask, message.model_dump(exclude_none=True), {"role": "tool", "tool_call_id": call.id, "content": "sunny"}]
    second = client.chat.completions.create(model=f"anthropic:{MODEL}", messages=follow, tools=[WEATHER],
                                            reasoning_effort="medium")
    assert second.choices[0].message.content == "Tool result received: sunny"
    assert fake_anthropic.last.json["messages"][1]["content"][0] == block
    _, chunks, _ = collect(client.chat.completions.create(
        model=f"anthropic:{MODEL}", messages=ask, tools=[WEATHER], reasoning_effort="medium", stream=True))
    streamed = [b for c in chunks for b in c.choices[0].delta.model_extra.get("thinking_blocks") or ()]
    assert streamed == [block]


def test_unsupported_parameter_is_a_400_and_nothing_goes_upstream(
    client: openai.OpenAI, fake_anthropic: RunningFake
) -> None:
    with pytest.raises(openai.BadRequestError) as info:
        client.chat.completions.create(model=f"anthropic:{MODEL}", messages=HELLO, logit_bias={"42": 10})
    assert info.value.body["param"] == "logit_bias"
    assert "anthropic" in info.value.body["message"]
    assert fake_anthropic.received == []


@pytest.mark.parametrize(("status", "error", "gateway_status", "code"), [
    (400, openai.BadRequestError, 400, "upstream_rejected"),
    (401, openai.InternalServerError, 502, "upstream_error"),
    (402, openai.InternalServerError, 502, "upstream_error"),
    (404, openai.NotFoundError, 404, "upstream_rejected"),
    (413, openai.APIStatusError, 413, "upstream_rejected"),
    (429, openai.RateLimitError, 429, "rate_limit_exceeded"),
    (500, openai.InternalServerError, 502, "upstream_error"),
    (529, openai.InternalServerError, 502, "upstream_overloaded"),
])
def test_anthropic_error_statuses_map_to_the_gateway_error_tree(
    client: openai.OpenAI, status: int, error: type[Exception], gateway_status: int, code: str
) -> None:
    with pytest.raises(error) as info:
        client.chat.completions.create(model=f"anthropic:{MODEL}-status-{status}", messages=HELLO)
    exc = info.value
    assert isinstance(exc, openai.APIStatusError)
    assert exc.status_code == gateway_status
    assert exc.body["code"] == code
    assert exc.body["details"]["upstream_status"] == status
    assert json.loads(exc.body["details"]["upstream_body"])["type"] == "error"


def test_rate_limit_keeps_retry_after(client: openai.OpenAI) -> None:
    with pytest.raises(openai.RateLimitError) as info:
        client.chat.completions.create(model=f"anthropic:{MODEL}-status-429", messages=HELLO)
    assert info.value.response.headers["retry-after"] == "7"


def test_overloaded_529_is_a_retryable_502_with_the_anthropic_reason(client: openai.OpenAI) -> None:
    with pytest.raises(openai.InternalServerError) as info:
        client.chat.completions.create(model=f"anthropic:{MODEL}-status-529", messages=HELLO, stream=True)
    assert info.value.status_code == 502
    assert "overloaded" in info.value.body["message"]


def test_client_error_passes_the_anthropic_message_on(client: openai.OpenAI) -> None:
    with pytest.raises(openai.BadRequestError) as info:
        client.chat.completions.create(model=f"anthropic:{MODEL}-status-400", messages=HELLO)
    assert info.value.body["message"] == "Invalid request (scripted by the fake)."


def _raw_stream(gw: LoopbackServer, model: str) -> list[str]:
    body = {"model": f"anthropic:{model}", "messages": HELLO, "stream": True}
    with httpx.stream("POST", gw.url + "/v1/chat/completions", json=body, timeout=10) as resp:
        assert resp.status_code == 200
        return [line for line in resp.iter_lines() if line]


def test_error_event_mid_stream_becomes_an_openai_error_event_without_done(gw: LoopbackServer) -> None:
    lines = _raw_stream(gw, f"{MODEL}-stream-error")
    assert lines[0].startswith("data: {")
    err = json.loads(lines[-1].removeprefix("data: "))["error"]
    assert err["code"] == "upstream_overloaded"
    assert err["message"].startswith("The anthropic provider failed mid-stream: ")
    assert err["details"]["upstream_status"] == 529
    assert "data: [DONE]" not in lines


@pytest.mark.parametrize("script", ["no-done", "cut-stream"])
def test_a_stream_that_ends_early_ends_with_an_error_event(gw: LoopbackServer, script: str) -> None:
    lines = _raw_stream(gw, f"{MODEL}-{script}")
    err = json.loads(lines[-1].removeprefix("data: "))["error"]
    assert err["type"] == "upstream_error"
    assert "data: [DONE]" not in lines


def test_a_malformed_body_is_a_502(client: openai.OpenAI) -> None:
    with pytest.raises(openai.InternalServerError) as info:
        client.chat.completions.create(model=f"anthropic:{MODEL}-malformed", messages=HELLO)
    assert info.value.status_code == 502
    assert "cannot read" in info.value.body["message"]


def test_rejected_key_is_a_502_about_the_gateway_credentials(_anthropic_server: RunningFake) -> None:
    env = {"ANTHROPIC_API_KEY": "invalid-key", "ANTHROPIC_BASE_URL": _anthropic_server.url}
    with serve_gateway(env) as srv:
        c = openai.OpenAI(base_url=srv.url + "/v1", api_key="unused", max_retries=0)
        with pytest.raises(openai.InternalServerError) as info:
            c.chat.completions.create(model=f"anthropic:{MODEL}", messages=HELLO)
    assert info.value.status_code == 502
    assert "credentials" in info.value.body["message"]
    assert "invalid-key" not in json.dumps(info.value.body)


def test_a_stream_without_the_usage_chunk_is_still_recorded_with_tokens_and_cost(
    _anthropic_server: RunningFake,
) -> None:
    env = {"ANTHROPIC_API_KEY": KEY, "ANTHROPIC_BASE_URL": _anthropic_server.url}
    with serve_gateway(env) as srv:
        c = openai.OpenAI(base_url=srv.url + "/v1", api_key="unused", max_retries=0)
        collect(c.chat.completions.create(model=f"anthropic:{MODEL}", messages=HELLO, stream=True))
        (row,) = asyncio.run(srv.app.state.usage.get_all())
    assert (row.provider, row.model, row.calls, row.errors) == ("anthropic", MODEL, 1, 0)
    assert (row.prompt_tokens, row.completion_tokens, row.total_tokens) == (4, 5, 9)
    assert row.cost_usd == 4 * INPUT + 5 * OUTPUT


def test_anthropic_cache_control_env_turns_on_automatic_prompt_caching(
    _anthropic_server: RunningFake,
) -> None:
    env = {"ANTHROPIC_API_KEY": KEY, "ANTHROPIC_BASE_URL": _anthropic_server.url, "ANTHROPIC_CACHE_CONTROL": "1h"}
    with serve_gateway(env) as srv:
        c = openai.OpenAI(base_url=srv.url + "/v1", api_key="unused", max_retries=0)
        r = c.chat.completions.create(model=f"anthropic:{MODEL}", messages=HELLO)
    assert r.choices[0].message.content == "Fake reply to: Hello there"
    assert _anthropic_server.last.json["cache_control"] == {"type": "ephemeral", "ttl": "1h"}
