"""The demo provider through the official OpenAI SDK on a real socket: text, stream, tools, errors, cost."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import openai
import pytest

from req_llm_gateway import telemetry
from tests.conftest import serve_gateway

EVENTS = [("req_llm_gateway", "request", s) for s in ("start", "stop", "exception")]
HELLO = [{"role": "user", "content": "Hello there, gateway!"}]


@pytest.fixture(scope="module")
def gw() -> Any:
    with serve_gateway() as srv:
        yield srv


@pytest.fixture
def client(gw: Any) -> openai.OpenAI:
    return openai.OpenAI(base_url=gw.url + "/v1", api_key="unused", max_retries=0)


def test_bare_model_goes_to_demo_when_no_key_is_set(client: openai.OpenAI) -> None:
    raw = client.chat.completions.with_raw_response.create(model="gpt-4o", messages=HELLO)
    body = raw.parse()
    assert body.model == "gpt-4o"
    assert body.model_extra["x_req_llm"]["provider"] == "demo"
    assert raw.headers["x-request-id"]


def test_stream_and_non_stream_give_the_same_text_and_usage(client: openai.OpenAI) -> None:
    full = client.chat.completions.create(model="demo:demo", messages=HELLO)
    text, usage, ext = "", None, None
    for chunk in client.chat.completions.create(
        model="demo:demo", messages=HELLO, stream=True, stream_options={"include_usage": True}
    ):
        if chunk.choices:
            text += chunk.choices[0].delta.content or ""
        if chunk.usage:
            usage, ext = chunk.usage, chunk.model_extra["x_req_llm"]
    assert text == full.choices[0].message.content
    assert usage == full.usage
    # priced at $0.50 / $1.50 per million tokens
    expected = Decimal(usage.prompt_tokens) * Decimal("0.5e-6") + Decimal(usage.completion_tokens) * Decimal("1.5e-6")
    assert Decimal(str(ext["cost_usd"])) == expected
    assert Decimal(str(full.model_extra["x_req_llm"]["cost_usd"])) == expected


def test_stream_without_include_usage_sends_no_usage_chunk(client: openai.OpenAI) -> None:
    chunks = list(client.chat.completions.create(model="demo:echo", messages=HELLO, stream=True))
    assert all(c.usage is None and c.choices for c in chunks)
    assert "".join(c.choices[0].delta.content or "" for c in chunks) == "Hello there, gateway!"
    assert chunks[-1].choices[0].finish_reason == "stop"


def test_echo_repeats_last_user_message(client: openai.OpenAI) -> None:
    r = client.chat.completions.create(model="demo:echo", messages=[*HELLO, {"role": "assistant", "content": "hi"},
                                                                   {"role": "user", "content": "again"}])
    assert r.choices[0].message.content == "again"


def test_demo_tool_call_round_trip(client: openai.OpenAI) -> None:
    tools = [{"type": "function", "function": {"name": "lookup", "parameters": {"type": "object"}}}]
    first = client.chat.completions.create(model="demo:tools", messages=HELLO, tools=tools)
    call = first.choices[0].message.tool_calls[0]
    assert first.choices[0].finish_reason == "tool_calls"
    assert call.function.name == "lookup" and call.function.arguments == '{"query":"Hello there, gateway!"}'
    streamed = list(client.chat.completions.create(model="demo:tools", messages=HELLO, tools=tools, stream=True))
    args = "".join(tc.function.arguments or "" for c in streamed for tc in (c.choices[0].delta.tool_calls or []))
    assert args == call.function.arguments
    second = client.chat.completions.create(
        model="demo:tools", tools=tools,
        messages=[*HELLO, first.choices[0].message.model_dump(exclude_none=True),
                  {"role": "tool", "tool_call_id": call.id, "content": "42"}],
    )
    assert second.choices[0].message.content == "The tool answered: 42"


def test_demo_error_is_a_502_api_error_and_ratelimit_a_429_with_retry_after(client: openai.OpenAI) -> None:
    with pytest.raises(openai.InternalServerError) as e:
        client.chat.completions.create(model="demo:error", messages=HELLO)
    assert e.value.status_code == 502 and e.value.body["type"] == "upstream_error"
    with pytest.raises(openai.RateLimitError) as e2:
        client.chat.completions.create(model="demo:ratelimit", messages=HELLO)
    assert e2.value.response.headers["retry-after"] == "1"


def test_success_emits_one_start_and_one_stop_with_the_guides_fields(client: openai.OpenAI) -> None:
    with telemetry.capture(EVENTS) as events:
        raw = client.chat.completions.with_raw_response.create(model="demo:echo", messages=HELLO)
    body = raw.parse()
    assert [e.event[-1] for e in events] == ["start", "stop"]
    start, stop = events
    rid = raw.headers["x-request-id"]
    assert start.metadata["provider"] == "demo" and start.metadata["model"] == "echo"
    assert start.metadata["request_id"] == rid and stop.metadata["request_id"] == rid
    assert isinstance(start.measurements["system_time"], int)
    m = stop.measurements
    assert isinstance(m["duration"], int) and m["duration"] > 0
    assert (m["prompt_tokens"], m["completion_tokens"], m["total_tokens"]) == (
        body.usage.prompt_tokens, body.usage.completion_tokens, body.usage.total_tokens)
    assert isinstance(m["cost_usd"], Decimal)


def test_upstream_failure_emits_exception_with_kind_reason_and_stacktrace(client: openai.OpenAI) -> None:
    with telemetry.capture(EVENTS) as events:
        with pytest.raises(openai.APIStatusError):
            client.chat.completions.create(model="demo:error", messages=HELLO)
    assert [e.event[-1] for e in events] == ["start", "exception"]
    exc = events[1]
    assert exc.metadata["kind"] == "error" and exc.metadata["stacktrace"]
    assert "failed on purpose" in str(exc.metadata["reason"])
    assert isinstance(exc.measurements["duration"], int)
    assert {"provider", "model", "request_id"} <= set(exc.metadata)


def test_stream_emits_stop_at_its_end_with_final_usage(client: openai.OpenAI) -> None:
    with telemetry.capture(EVENTS) as events:
        chunks = list(client.chat.completions.create(model="demo:echo", messages=HELLO, stream=True))
    assert chunks and [e.event[-1] for e in events] == ["start", "stop"]
    stop = events[1].measurements
    assert stop["completion_tokens"] == 5 and stop["time_to_first_token"] > 0


def test_extensions_can_be_switched_off() -> None:
    with serve_gateway({"REQ_LLM_GATEWAY_INCLUDE_EXTENSIONS": "false"}) as gw:
        c = openai.OpenAI(base_url=gw.url + "/v1", api_key="x")
        assert "x_req_llm" not in (c.chat.completions.create(model="demo", messages=HELLO).model_extra or {})
        last = list(c.chat.completions.create(model="demo", messages=HELLO, stream=True,
                                              stream_options={"include_usage": True}))[-1]
        assert last.usage is not None and "x_req_llm" not in (last.model_extra or {})


def test_models_lists_configured_providers_models(gw: Any) -> None:
    c = openai.OpenAI(base_url=gw.url + "/v1", api_key="x")
    ids = [m.id for m in c.models.list()]
    assert "demo:echo" in ids and not any(i.startswith("openai:") for i in ids)


def test_health_answers_ok(gw: Any) -> None:
    import httpx

    assert httpx.get(gw.url + "/health").json() == {"status": "ok"}
