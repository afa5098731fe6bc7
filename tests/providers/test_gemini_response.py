"""Gemini responses, stream chunks and google.rpc error bodies -> OpenAI shapes and gateway errors,
from hand-written upstream payloads (several candidates, safety stops, blocked prompts, ...)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import orjson
import pytest

from req_llm_gateway.errors import UpstreamError
from req_llm_gateway.providers.gemini import WIRE, finish_reason, usage_from
from req_llm_gateway.types import ChatChunk, ChatRequest, Usage


def request(**params: Any) -> ChatRequest:
    return ChatRequest.from_openai({"model": "gemini:gemini-x", "messages": [{"role": "user", "content": "hi"}],
                                    **params}, "openai")


def candidate(parts: list[dict[str, Any]], finish: str | None = "STOP", index: int = 0) -> dict[str, Any]:
    out: dict[str, Any] = {"content": {"role": "model", "parts": parts}, "index": index}
    if finish:
        out["finishReason"] = finish
    return out


def response(*cands: dict[str, Any], **extra: Any) -> dict[str, Any]:
    return {"candidates": list(cands), "modelVersion": "gemini-x-001", "responseId": "r1",
            "usageMetadata": {"promptTokenCount": 4, "candidatesTokenCount": 2, "totalTokenCount": 6}, **extra}


async def run(*events: dict[str, Any]) -> list[ChatChunk]:
    raw = b"".join(b"data: " + orjson.dumps(e) + b"\r\n\r\n" for e in events)

    async def chunks() -> AsyncIterator[bytes]:
        for i in range(0, len(raw), 11):
            yield raw[i:i + 11]
    return [c async for c in WIRE.parse_stream(chunks(), request(stream=True))]


@pytest.mark.parametrize(("reason", "calls", "finish"), [
    ("STOP", False, "stop"), ("STOP", True, "tool_calls"), ("MAX_TOKENS", False, "length"),
    ("MAX_TOKENS", True, "length"), ("SAFETY", False, "content_filter"), ("RECITATION", False, "content_filter"),
    ("BLOCKLIST", False, "content_filter"), ("PROHIBITED_CONTENT", False, "content_filter"),
    ("SPII", False, "content_filter"), ("MALFORMED_FUNCTION_CALL", False, "stop"), ("OTHER", False, "stop"),
    ("FINISH_REASON_UNSPECIFIED", False, "stop"),
])
def test_finish_reasons_map_to_openai_finish_reasons(reason: str, calls: bool, finish: str) -> None:
    assert finish_reason(reason, calls) == finish


def test_usage_counts_thoughts_as_completion_and_tool_use_prompt_as_prompt() -> None:
    u = usage_from({"promptTokenCount": 100, "cachedContentTokenCount": 60, "candidatesTokenCount": 10,
                    "thoughtsTokenCount": 30, "toolUsePromptTokenCount": 5, "totalTokenCount": 145})
    assert u == Usage(prompt_tokens=105, completion_tokens=40, total_tokens=145, cached_tokens=60,
                      reasoning_tokens=30)


def test_several_candidates_become_several_choices() -> None:
    body = response(
        candidate([{"text": "A", "thought": True}, {"text": "first"}], index=0),
        candidate([{"functionCall": {"name": "f", "args": {"x": 1}, "id": "fc1"}, "thoughtSignature": "U0lH"}],
                  index=1),
        candidate([], "SAFETY", index=2),
    )
    out = WIRE.parse(orjson.dumps(body), request(n=3)).body
    assert out["id"] == "r1" and out["model"] == "gemini-x-001"
    assert [c["finish_reason"] for c in out["choices"]] == ["stop", "tool_calls", "content_filter"]
    assert out["choices"][0]["message"] == {"role": "assistant", "content": "first", "refusal": None,
                                            "reasoning_content": "A"}
    assert out["choices"][1]["message"]["content"] is None
    assert out["choices"][1]["message"]["tool_calls"] == [
        {"id": "fc1__thought__U0lH", "type": "function", "function": {"name": "f", "arguments": '{"x":1}'}}]
    assert out["choices"][2]["message"]["content"] == ""


def test_a_blocked_prompt_is_a_content_filter_finish_with_no_content() -> None:
    body = {"promptFeedback": {"blockReason": "SAFETY"}, "usageMetadata": {"promptTokenCount": 7}}
    out = WIRE.parse(orjson.dumps(body), request())
    assert out.finish_reasons == ["content_filter"]
    assert out.body["choices"][0]["message"]["content"] is None
    assert out.usage == Usage(7, 0, 7)


def test_a_body_without_candidates_or_feedback_is_unreadable() -> None:
    with pytest.raises(ValueError):
        WIRE.parse(b'{"something": "else"}', request())


async def test_stream_of_two_candidates_finishes_each_and_ends_with_usage() -> None:
    chunks = await run(
        response(candidate([{"text": "Hel"}], None, 0), candidate([{"text": "Bon"}], None, 1)),
        response(candidate([{"text": "lo"}], "STOP", 0),
                 candidate([{"functionCall": {"name": "f", "args": {}}}], "STOP", 1)),
    )
    by_index: dict[int, list[dict[str, Any]]] = {0: [], 1: []}
    for c in chunks:
        assert c.obj is not None
        for ch in c.obj["choices"]:
            by_index[ch["index"]].append({**ch["delta"], "finish": ch["finish_reason"]})
    assert by_index[0] == [{"role": "assistant", "content": "", "finish": None}, {"content": "Hel", "finish": None},
                           {"content": "lo", "finish": None}, {"finish": "stop"}]
    assert by_index[1][:2] == [{"role": "assistant", "content": "", "finish": None}, {"content": "Bon", "finish": None}]
    call = by_index[1][2]["tool_calls"][0]
    assert (call["index"], call["id"][:5], call["function"]) == (0, "call_", {"name": "f", "arguments": "{}"})
    assert by_index[1][3] == {"finish": "tool_calls"}
    assert chunks[-1].usage == Usage(4, 2, 6)


async def test_a_blocked_prompt_in_a_stream_finishes_with_content_filter() -> None:
    chunks = await run({"promptFeedback": {"blockReason": "OTHER"}, "usageMetadata": {"promptTokenCount": 3}})
    assert [c.finish_reason for c in chunks if c.finish_reason] == ["content_filter"]
    assert chunks[-1].usage == Usage(3, 0, 3)


async def test_an_error_object_in_a_stream_is_mapped_by_its_code() -> None:
    with pytest.raises(UpstreamError) as info:
        await run(response(candidate([{"text": "x"}], None)),
                  {"error": {"code": 429, "message": "Quota", "status": "RESOURCE_EXHAUSTED"}})
    assert (info.value.status, info.value.upstream_status) == (429, 429)


def _error(status: str, code: int, details: list[dict[str, Any]] | None = None) -> bytes:
    err: dict[str, Any] = {"code": code, "message": f"{status} happened", "status": status}
    if details:
        err["details"] = details
    return orjson.dumps({"error": err})


@pytest.mark.parametrize(("status", "code", "gateway", "retryable"), [
    ("INVALID_ARGUMENT", 400, 400, False), ("FAILED_PRECONDITION", 400, 400, False), ("NOT_FOUND", 404, 404, False),
    ("PERMISSION_DENIED", 403, 502, False), ("UNAUTHENTICATED", 401, 502, False),
    ("RESOURCE_EXHAUSTED", 429, 429, True), ("INTERNAL", 500, 502, True), ("UNAVAILABLE", 503, 502, True),
    ("DEADLINE_EXCEEDED", 504, 502, True),
])
def test_rpc_status_strings_map_to_the_gateway_error_tree(status: str, code: int, gateway: int, retryable: bool) -> None:
    err = WIRE.error("gemini", code, _error(status, code), {})
    assert (err.status, err.upstream_status, err.retryable) == (gateway, code, retryable)
    if gateway == 502 and code in (401, 403):
        assert "credentials" in err.message


def test_retry_info_delay_becomes_retry_after_unless_a_header_says_otherwise() -> None:
    body = _error("RESOURCE_EXHAUSTED", 429, [{"@type": "type.googleapis.com/google.rpc.RetryInfo", "retryDelay": "1.5s"}])
    assert WIRE.error("gemini", 429, body, {}).headers() == {"retry-after": "2"}
    assert WIRE.error("gemini", 429, body, {"retry-after": "9"}).headers() == {"retry-after": "9"}


def test_an_invalid_api_key_400_is_a_credentials_502() -> None:
    body = _error("INVALID_ARGUMENT", 400, [{"@type": "type.googleapis.com/google.rpc.ErrorInfo",
                                             "reason": "API_KEY_INVALID"}])
    err = WIRE.error("gemini", 400, body, {})
    assert (err.status, err.upstream_status) == (502, 400)
    assert "credentials" in err.message


def test_an_error_wrapped_in_a_list_is_read() -> None:
    body = b"[" + _error("INVALID_ARGUMENT", 400) + b"]"
    err = WIRE.error("gemini", 400, body, {})
    assert (err.status, err.message) == (400, "INVALID_ARGUMENT happened")


async def test_parallel_function_calls_in_one_chunk_get_their_own_indexes() -> None:
    chunks = await run(response(candidate([{"functionCall": {"name": "w", "args": {"city": "Paris"}}},
                                           {"functionCall": {"name": "w", "args": {"city": "Rome"}}}])))
    calls = [tc for c in chunks if c.obj and c.obj["choices"]
             for tc in c.obj["choices"][0]["delta"].get("tool_calls", ())]
    assert [(c["index"], c["function"]["arguments"]) for c in calls] == [(0, '{"city":"Paris"}'),
                                                                         (1, '{"city":"Rome"}')]
    assert len({c["id"] for c in calls}) == 2
    assert [c.finish_reason for c in chunks if c.finish_reason] == ["tool_calls"]
