"""Hypothesis on the edge and the translation: any JSON body either becomes a `ChatRequest` or a
`BadRequest`; a valid request always translates to valid upstream JSON; any upstream bytes either parse
or raise only what the HTTP layer maps to a 502; SSE decoding does not depend on how bytes are split;
and arbitrary bodies posted to the app never get a 5xx."""

from __future__ import annotations

import asyncio
import os
from collections.abc import AsyncIterator
from typing import Any

import httpx
import orjson
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from req_llm_gateway import Settings, create_app
from req_llm_gateway.config import Endpoint
from req_llm_gateway.errors import BadRequest, GatewayError
from req_llm_gateway.providers import _sse
from req_llm_gateway.providers.openai import WIRE
from req_llm_gateway.ratelimit import Limit
from req_llm_gateway.types import ChatRequest, Usage

EXAMPLES = int(os.environ.get("FUZZ_EXAMPLES", "100"))
FUZZ = settings(max_examples=EXAMPLES * 3, deadline=None, derandomize=True,
                suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
MAPPED = (ValueError, KeyError, TypeError, IndexError, AttributeError)  # what _http.py turns into a 502
ENDPOINT = Endpoint("openai", "openai", "https://api.example/v1", api_key="sk-test")

# Integers stay in 64 bits: bodies arrive through orjson.loads, which reads larger ones as floats.
json_values = st.recursive(
    st.none() | st.booleans() | st.integers(-(2**63), 2**64 - 1) | st.floats(allow_nan=False, allow_infinity=False) | st.text(),
    lambda children: st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=12), children, max_size=4),
    max_leaves=20,
)
roles = st.sampled_from(["system", "developer", "user", "assistant", "tool", "function", "wizard", "", "USER"])
parts = st.dictionaries(st.sampled_from(["type", "text", "image_url", "x"]), json_values, max_size=3)
messages = st.fixed_dictionaries(
    {"role": roles | json_values},
    optional={"content": st.text() | st.none() | st.lists(parts | json_values, max_size=3) | json_values,
              "name": json_values, "tool_calls": json_values, "tool_call_id": json_values})
param_names = st.sampled_from(["temperature", "top_p", "max_tokens", "n", "seed", "stop", "tools", "tool_choice",
                               "response_format", "stream_options", "user", "logit_bias", "metadata", "logprobs",
                               "base_url", "api_key", "unknown_thing"])
models = st.text(max_size=30) | st.sampled_from(["demo:echo", "demo", "openai:gpt-4o", "x:", ":y", "a:b:c", " "])
near_valid = st.fixed_dictionaries(
    {"model": models | json_values, "messages": st.lists(messages, max_size=3) | json_values},
    optional={"stream": st.booleans() | json_values, "stream_options": json_values | st.just({"include_usage": True})},
).flatmap(lambda body: st.dictionaries(param_names, json_values, max_size=4).map(lambda extra: {**extra, **body}))
bodies = near_valid | json_values


@FUZZ
@given(bodies)
def test_any_body_becomes_a_request_or_a_bad_request(body: Any) -> None:
    try:
        req = ChatRequest.from_openai(body, "openai")
    except BadRequest as exc:
        assert exc.status == 400 and exc.message
        return
    assert req.model and req.messages and isinstance(req.stream, bool)
    assert not req.include_usage or req.stream


@FUZZ
@given(near_valid)
def test_a_valid_request_translates_to_valid_upstream_json(body: Any) -> None:
    try:
        req = ChatRequest.from_openai(body, "openai")
    except BadRequest:
        return
    up = WIRE.build(req, ENDPOINT)
    sent = orjson.loads(up.body)
    assert up.url == "https://api.example/v1/chat/completions"  # nothing in the body moves the host
    assert sent["model"] == req.model and sent["messages"] == req.messages
    assert up.headers["Authorization"] == "Bearer sk-test"
    if req.stream:
        assert sent["stream"] is True and sent["stream_options"]["include_usage"] is True


@FUZZ
@given(st.binary(max_size=300) | json_values.map(orjson.dumps))
def test_any_upstream_body_parses_or_raises_only_mapped_errors(raw: bytes) -> None:
    req = ChatRequest.from_openai({"model": "gpt-4o", "messages": [{"role": "user", "content": "x"}]}, "openai")
    try:
        WIRE.parse(raw, req)
    except MAPPED:
        pass
    error = WIRE.error("openai", 500, raw, {})
    assert isinstance(error, GatewayError) and "openai" in error.message


def _chunks(data: bytes, cuts: list[int]) -> list[bytes]:
    points = sorted({c % (len(data) + 1) for c in cuts})
    return [data[a:b] for a, b in zip([0, *points], [*points, len(data)], strict=True) if data[a:b]]


async def _iterate(chunks: list[bytes]) -> AsyncIterator[bytes]:
    for c in chunks:
        yield c


async def _decode(chunks: list[bytes]) -> list[_sse.SSEEvent]:
    return [ev async for ev in _sse.decode(_iterate(chunks))]


sse_streams = st.lists(
    st.one_of(st.builds(lambda j: b"data: " + orjson.dumps(j) + b"\n\n", json_values),
              st.sampled_from([b"data: [DONE]\n\n", b": keep-alive\n\n", b"event: error\r\ndata: {}\r\n\r\n",
                               b"data: a\ndata: b\n\n", b"id: 3\nretry: 10\n\n", b"data:{}\r\r"]),
              st.binary(max_size=40)),
    max_size=8).map(b"".join)


@FUZZ
@given(sse_streams, st.lists(st.integers(min_value=0), max_size=8))
@example(b"data: a\r\ndata: b\r\n\r\n", [8])  # a CRLF split between its CR and its LF: was two events
def test_sse_decoding_does_not_depend_on_how_bytes_are_split(stream: bytes, cuts: list[int]) -> None:
    whole = asyncio.run(_decode([stream] if stream else []))
    split = asyncio.run(_decode(_chunks(stream, cuts)))
    assert split == whole


@FUZZ
@given(sse_streams)
def test_any_upstream_stream_yields_chunks_or_raises_only_mapped_errors(stream: bytes) -> None:
    req = ChatRequest.from_openai({"model": "gpt-4o", "stream": True, "messages": [{"role": "user", "content": "x"}]},
                                  "openai")

    async def run() -> None:
        async for chunk in WIRE.parse_stream(_iterate([stream]), req):
            assert chunk.data is not None or chunk.obj is not None

    try:
        asyncio.run(run())
    except (GatewayError, *MAPPED):
        pass


@FUZZ
@given(json_values)
def test_usage_from_any_json_is_a_usage_or_none(value: Any) -> None:
    usage = Usage.from_openai(value)
    assert usage is None or usage.total_tokens >= 0 or usage.total_tokens < 0  # never raises


@FUZZ
@given(st.text(max_size=30))
def test_any_rate_limit_text_parses_or_is_refused_clearly(text: str) -> None:
    try:
        limit = Limit.parse(text)
    except ValueError as exc:
        assert "looks like '100/minute'" in str(exc)
        return
    assert limit is None or (limit.amount > 0 and limit.period > 0)


_APP = create_app(Settings.from_env({"REQ_LLM_GATEWAY_RATE_LIMIT": "off", "REQ_LLM_GATEWAY_USAGE_STORE": "memory://",
                                     "REQ_LLM_GATEWAY_MAX_REQUEST_BYTES": "20000"}))


@settings(max_examples=EXAMPLES * 2, deadline=None, derandomize=True,
          suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
@given(near_valid.map(orjson.dumps) | st.binary(max_size=200))
def test_no_body_posted_to_the_app_gets_a_5xx_or_hangs(raw: bytes) -> None:
    async def post() -> httpx.Response:
        async with httpx.AsyncClient(transport=httpx.ASGITransport(_APP), base_url="http://gw", timeout=10) as c:
            async with asyncio.timeout(10):
                return await c.post("/v1/chat/completions", content=raw, headers={"content-type": "application/json"})

    r = asyncio.run(post())
    assert r.status_code < 500, (raw, r.text)
    assert "error" in r.json() if r.status_code >= 400 else r.status_code == 200
