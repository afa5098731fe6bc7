"""Anthropic responses, stream events and error bodies -> OpenAI shapes and gateway errors, from
hand-written upstream payloads (the cases the fake never produces)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import orjson
import pytest

from req_llm_gateway.config import Endpoint
from req_llm_gateway.errors import UpstreamError
from req_llm_gateway.providers.anthropic import WIRE, finish_reason, usage_from
from req_llm_gateway.types import ChatChunk, ChatRequest, Usage

_EP = Endpoint("anthropic", "anthropic", "https://api.anthropic.com", api_key="k")


def request(**params: Any) -> ChatRequest:
    body = {"model": "anthropic:claude-x", "messages": [{"role": "user", "content": "hi"}], **params}
    return ChatRequest.from_openai(body, "openai")


def message(content: list[dict[str, Any]], stop_reason: str = "end_turn", **usage: int) -> bytes:
    return orjson.dumps({"id": "msg_1", "type": "message", "role": "assistant", "model": "claude-x",
                         "content": content, "stop_reason": stop_reason, "stop_sequence": None,
                         "usage": {"input_tokens": 10, "output_tokens": 3, **usage}})


def sse(*events: dict[str, Any]) -> bytes:
    return b"".join(f"event: {e['type']}\ndata: ".encode() + orjson.dumps(e) + b"\n\n" for e in events)


async def run(raw: bytes, req: ChatRequest | None = None) -> list[ChatChunk]:
    async def chunks() -> AsyncIterator[bytes]:
        for i in range(0, len(raw), 7):  # events split across network reads
            yield raw[i:i + 7]
    return [c async for c in WIRE.parse_stream(chunks(), req or request(stream=True))]


@pytest.mark.parametrize(("stop", "finish"), [
    ("end_turn", "stop"), ("stop_sequence", "stop"), ("pause_turn", "stop"), ("max_tokens", "length"),
    ("model_context_window_exceeded", "length"), ("tool_use", "tool_calls"), ("refusal", "content_filter"),
    (None, "stop"), ("a_future_reason", "stop"),
])
def test_stop_reasons_map_to_openai_finish_reasons(stop: str | None, finish: str) -> None:
    assert finish_reason(stop, json_mode=False) == finish
    parsed = WIRE.parse(message([{"type": "text", "text": "x"}], stop), request())
    assert parsed.finish_reasons == [finish]


def test_usage_prompt_tokens_include_cache_reads_and_writes() -> None:
    u = usage_from({"input_tokens": 7, "cache_read_input_tokens": 100, "cache_creation_input_tokens": 20,
                    "output_tokens": 9})
    assert u == Usage(prompt_tokens=127, completion_tokens=9, total_tokens=136, cached_tokens=100,
                      cache_write_tokens=20)
    assert u.to_openai() == {"prompt_tokens": 127, "completion_tokens": 9, "total_tokens": 136,
                             "prompt_tokens_details": {"cached_tokens": 100, "cache_write_tokens": 20}}


def test_mixed_content_blocks_become_text_tool_calls_and_reasoning() -> None:
    content = [
        {"type": "thinking", "thinking": "Hmm.", "signature": "sig"},
        {"type": "redacted_thinking", "data": "opaque"},
        {"type": "text", "text": "Let me check. "},
        {"type": "text", "text": "Both cities."},
        {"type": "tool_use", "id": "toolu_a", "name": "w", "input": {"city": "Paris"}},
        {"type": "tool_use", "id": "toolu_b", "name": "w", "input": {}},
    ]
    body = WIRE.parse(message(content, "tool_use"), request()).body
    assert body["choices"] == [{"index": 0, "logprobs": None, "finish_reason": "tool_calls", "message": {
        "role": "assistant", "content": "Let me check. Both cities.", "refusal": None,
        "reasoning_content": "Hmm.",
        "thinking_blocks": [{"type": "thinking", "thinking": "Hmm.", "signature": "sig"},
                            {"type": "redacted_thinking", "data": "opaque"}],
        "tool_calls": [
            {"id": "toolu_a", "type": "function", "function": {"name": "w", "arguments": '{"city":"Paris"}'}},
            {"id": "toolu_b", "type": "function", "function": {"name": "w", "arguments": "{}"}},
        ]}}]
    assert body["usage"] == {"prompt_tokens": 10, "completion_tokens": 3, "total_tokens": 13}


def test_not_a_message_is_a_value_error_the_http_layer_turns_into_a_502() -> None:
    with pytest.raises(ValueError):
        WIRE.parse(b'{"type": "completion"}', request())


async def test_stream_with_ping_unknown_events_and_late_usage() -> None:
    raw = sse(
        {"type": "message_start", "message": {"id": "msg_9", "model": "claude-x", "usage": {
            "input_tokens": 5, "cache_read_input_tokens": 0, "output_tokens": 1}}},
        {"type": "ping"},
        {"type": "content_block_start", "index": 0, "content_block": {"type": "text", "text": "He"}},
        {"type": "content_block_delta", "index": 0, "delta": {"type": "text_delta", "text": "llo"}},
        {"type": "content_block_delta", "index": 0, "delta": {"type": "citations_delta", "citation": {}}},
        {"type": "a_future_event", "payload": 1},
        {"type": "content_block_stop", "index": 0},
        {"type": "content_block_start", "index": 1, "content_block": {"type": "tool_use", "id": "toolu_1",
                                                                       "name": "f", "input": {}}},
        {"type": "content_block_delta", "index": 1, "delta": {"type": "input_json_delta", "partial_json": ""}},
        {"type": "content_block_delta", "index": 1, "delta": {"type": "input_json_delta", "partial_json": '{"a":'}},
        {"type": "content_block_delta", "index": 1, "delta": {"type": "input_json_delta", "partial_json": "1}"}},
        {"type": "content_block_stop", "index": 1},
        {"type": "message_delta", "delta": {"stop_reason": "tool_use", "stop_sequence": None},
         "usage": {"output_tokens": 12, "input_tokens": 5, "cache_read_input_tokens": 40}},
        {"type": "message_stop"},
    )
    chunks = await run(raw)
    deltas = [c.obj["choices"][0]["delta"] for c in chunks if c.obj and c.obj["choices"]]
    assert deltas == [
        {"role": "assistant", "content": ""}, {"content": "He"}, {"content": "llo"},
        {"tool_calls": [{"index": 0, "id": "toolu_1", "type": "function", "function": {"name": "f", "arguments": ""}}]},
        {"tool_calls": [{"index": 0, "function": {"arguments": '{"a":'}}]},
        {"tool_calls": [{"index": 0, "function": {"arguments": "1}"}}]},
        {},
    ]
    assert [c.finish_reason for c in chunks if c.finish_reason] == ["tool_calls"]
    assert chunks[-1].obj is not None and chunks[-1].obj["choices"] == []
    assert chunks[-1].usage == Usage(45, 12, 57, 40, 0, 0)
    assert {c.obj["id"] for c in chunks if c.obj} == {"msg_9"}


@pytest.mark.parametrize(("etype", "status", "upstream"), [
    ("overloaded_error", 502, 529), ("api_error", 502, 500), ("rate_limit_error", 429, 429),
    ("invalid_request_error", 400, 400), ("a_new_error", 502, 500),
])
async def test_error_event_in_a_stream_maps_by_its_type(etype: str, status: int, upstream: int) -> None:
    raw = sse({"type": "message_start", "message": {"id": "m", "model": "c", "usage": {}}},
              {"type": "error", "error": {"type": etype, "message": "boom"}})
    with pytest.raises(UpstreamError) as info:
        await run(raw)
    assert (info.value.status, info.value.upstream_status) == (status, upstream)
    assert info.value.message.startswith("The anthropic provider failed mid-stream: ")


async def test_a_delta_before_message_start_is_unreadable() -> None:
    raw = sse({"type": "content_block_delta", "index": 0, "delta": {"type": "text_delta", "text": "x"}})
    with pytest.raises(ValueError):
        await run(raw)


def test_overloaded_keeps_retry_after_and_is_retryable() -> None:
    body = b'{"type":"error","error":{"type":"overloaded_error","message":"Overloaded"}}'
    err = WIRE.error("anthropic", 529, body, {"retry-after": "3"})
    assert (err.status, err.code, err.upstream_status, err.retryable) == (502, "upstream_overloaded", 529, True)
    assert err.headers() == {"retry-after": "3"}


def test_an_error_body_that_is_not_json_still_maps_by_status() -> None:
    err = WIRE.error("anthropic", 400, b"<html>bad gateway</html>", {})
    assert (err.status, err.message) == (400, "The anthropic provider rejected the request (status 400).")


async def test_parallel_tool_calls_stream_with_their_own_indexes() -> None:
    def tool(index: int, ident: str, args: str) -> list[dict[str, Any]]:
        return [{"type": "content_block_start", "index": index,
                 "content_block": {"type": "tool_use", "id": ident, "name": "w", "input": {}}},
                {"type": "content_block_delta", "index": index,
                 "delta": {"type": "input_json_delta", "partial_json": args}},
                {"type": "content_block_stop", "index": index}]
    raw = sse({"type": "message_start", "message": {"id": "m", "model": "c", "usage": {"input_tokens": 1}}},
              {"type": "content_block_start", "index": 0, "content_block": {"type": "text", "text": ""}},
              {"type": "content_block_delta", "index": 0, "delta": {"type": "text_delta", "text": "Two calls."}},
              {"type": "content_block_stop", "index": 0},
              *tool(1, "toolu_a", '{"city":"Paris"}'), *tool(2, "toolu_b", '{"city":"Rome"}'),
              {"type": "message_delta", "delta": {"stop_reason": "tool_use"}, "usage": {"output_tokens": 9}},
              {"type": "message_stop"})
    calls = [tc for c in await run(raw) if c.obj and c.obj["choices"]
             for tc in c.obj["choices"][0]["delta"].get("tool_calls", ())]
    assert [(c["index"], c.get("id"), c["function"]["arguments"]) for c in calls] == [
        (0, "toolu_a", ""), (0, None, '{"city":"Paris"}'), (1, "toolu_b", ""), (1, None, '{"city":"Rome"}')]


def test_a_data_url_with_parameters_before_base64_is_accepted() -> None:
    req = request(messages=[{"role": "user", "content": [
        {"type": "image_url", "image_url": {"url": "data:image/png;name=a.png;base64,iVBORw0KGgo="}}]}])
    body = orjson.loads(WIRE.build(req, _EP).body)
    assert body["messages"][0]["content"][0]["source"] == {
        "type": "base64", "media_type": "image/png", "data": "iVBORw0KGgo="}


def test_supported_params_are_declared_for_the_docs_matrix() -> None:
    assert {"temperature", "tools", "reasoning_effort", "user"} <= WIRE.supported_params
    assert not {"n", "logprobs", "seed"} & WIRE.supported_params


async def test_a_finished_thinking_block_is_relayed_whole_with_its_signature() -> None:
    raw = sse({"type": "message_start", "message": {"id": "m", "model": "c", "usage": {}}},
              {"type": "content_block_start", "index": 0,
               "content_block": {"type": "thinking", "thinking": "", "signature": ""}},
              {"type": "content_block_delta", "index": 0, "delta": {"type": "thinking_delta", "thinking": "Let me "}},
              {"type": "content_block_delta", "index": 0, "delta": {"type": "thinking_delta", "thinking": "think."}},
              {"type": "content_block_delta", "index": 0, "delta": {"type": "signature_delta", "signature": "EqQB"}},
              {"type": "content_block_stop", "index": 0},
              {"type": "content_block_start", "index": 1, "content_block": {"type": "redacted_thinking", "data": "xyz"}},
              {"type": "content_block_stop", "index": 1},
              {"type": "message_delta", "delta": {"stop_reason": "end_turn"}, "usage": {"output_tokens": 4}},
              {"type": "message_stop"})
    deltas = [c.obj["choices"][0]["delta"] for c in await run(raw) if c.obj and c.obj["choices"]]
    assert deltas[1:] == [
        {"reasoning_content": "Let me "}, {"reasoning_content": "think."},
        {"thinking_blocks": [{"type": "thinking", "thinking": "Let me think.", "signature": "EqQB"}]},
        {"thinking_blocks": [{"type": "redacted_thinking", "data": "xyz"}]},
        {},
    ]
