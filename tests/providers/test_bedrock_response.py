"""Converse responses and ConverseStream events translated to OpenAI completions and chunks:
finish reasons, usage with cache reads and writes, tool calls, reasoning, and the event-stream framing."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import orjson
import pytest

from req_llm_gateway.errors import GatewayError, UpstreamError, UpstreamTimeout
from req_llm_gateway.providers.bedrock import WIRE
from req_llm_gateway.types import ChatChunk, ChatRequest, Usage
from tests.fakes import eventstream

REQ = ChatRequest("bedrock", "anthropic.claude-3-haiku-20240307-v1:0", [{"role": "user", "content": "Hi"}], stream=True)


def converse(content: list[dict[str, Any]], stop: str = "end_turn", **usage: int) -> bytes:
    u = {"inputTokens": 10, "outputTokens": 5, "totalTokens": 15, **usage}
    return orjson.dumps({"output": {"message": {"role": "assistant", "content": content}}, "stopReason": stop,
                         "usage": u, "metrics": {"latencyMs": 12}})


@pytest.mark.parametrize(("stop", "finish"), [
    ("end_turn", "stop"), ("stop_sequence", "stop"), ("max_tokens", "length"),
    ("model_context_window_exceeded", "length"), ("tool_use", "tool_calls"),
    ("content_filtered", "content_filter"), ("guardrail_intervened", "content_filter"),
    ("malformed_model_output", "stop"),
])
def test_stop_reasons_map_to_openai_finish_reasons_both_ways(stop: str, finish: str) -> None:
    resp = WIRE.parse(converse([{"text": "ok"}], stop), REQ)
    assert resp.body["choices"][0]["finish_reason"] == finish
    chunk = _events_to_chunks([("messageStop", {"stopReason": stop})])[0]
    assert chunk.finish_reason == finish


def test_text_response_becomes_chat_completion() -> None:
    resp = WIRE.parse(converse([{"text": "Hello "}, {"text": "there"}]), REQ)
    body = resp.body
    assert body["object"] == "chat.completion" and body["id"].startswith("chatcmpl-")
    assert body["model"] == "anthropic.claude-3-haiku-20240307-v1:0"
    assert body["choices"][0]["message"] == {"role": "assistant", "content": "Hello there", "refusal": None}
    assert body["usage"] == {"prompt_tokens": 10, "completion_tokens": 5, "total_tokens": 15}
    assert resp.usage == Usage(10, 5, 15)


def test_cache_reads_and_writes_are_part_of_prompt_tokens() -> None:
    resp = WIRE.parse(converse([{"text": "ok"}], inputTokens=10, cacheReadInputTokens=200, cacheWriteInputTokens=30), REQ)
    assert resp.usage == Usage(240, 5, 245, cached_tokens=200, cache_write_tokens=30)
    assert resp.body["usage"] == {"prompt_tokens": 240, "completion_tokens": 5, "total_tokens": 245,
                                  "prompt_tokens_details": {"cached_tokens": 200, "cache_write_tokens": 30}}


def test_tool_use_blocks_become_tool_calls_with_json_arguments() -> None:
    resp = WIRE.parse(converse([
        {"text": "Let me check."},
        {"toolUse": {"toolUseId": "tooluse_1", "name": "get_weather", "input": {"city": "Paris"}}},
        {"toolUse": {"toolUseId": "tooluse_2", "name": "get_weather", "input": {"city": "Rome"}}},
    ], "tool_use"), REQ)
    message = resp.body["choices"][0]["message"]
    assert message["content"] == "Let me check."
    assert message["tool_calls"] == [
        {"id": "tooluse_1", "type": "function", "function": {"name": "get_weather", "arguments": '{"city":"Paris"}'}},
        {"id": "tooluse_2", "type": "function", "function": {"name": "get_weather", "arguments": '{"city":"Rome"}'}},
    ]
    assert resp.finish_reasons == ["tool_calls"]


def test_only_tool_calls_give_null_content() -> None:
    resp = WIRE.parse(converse([{"toolUse": {"toolUseId": "t", "name": "f", "input": {}}}], "tool_use"), REQ)
    assert resp.body["choices"][0]["message"]["content"] is None


def test_reasoning_content_is_returned_as_reasoning_content() -> None:
    resp = WIRE.parse(converse([{"reasoningContent": {"reasoningText": {"text": "Hmm.", "signature": "sig"}}},
                                {"text": "Answer"}]), REQ)
    message = resp.body["choices"][0]["message"]
    assert (message["reasoning_content"], message["content"]) == ("Hmm.", "Answer")


def test_service_tier_is_reported() -> None:
    data = orjson.loads(converse([{"text": "ok"}]))
    data["serviceTier"] = {"type": "priority"}
    assert WIRE.parse(orjson.dumps(data), REQ).body["service_tier"] == "priority"


def _events_to_chunks(events: list[tuple[str, dict[str, Any]]]) -> list[ChatChunk]:
    from req_llm_gateway.providers._bedrock_response import ConverseStream

    state = ConverseStream(REQ)
    return [c for name, ev in events if (c := state.event(name, ev)) is not None]


async def _byte_chunks(data: bytes, size: int) -> AsyncIterator[bytes]:
    for i in range(0, len(data), size):
        yield data[i : i + size]


async def _stream(frames: list[bytes], size: int = 7) -> list[ChatChunk]:
    return [c async for c in WIRE.parse_stream(_byte_chunks(b"".join(frames), size), REQ)]


TOOL_STREAM = [
    ("messageStart", {"role": "assistant", "p": "abc"}),
    ("contentBlockDelta", {"contentBlockIndex": 0, "delta": {"reasoningContent": {"text": "Think."}}}),
    ("contentBlockDelta", {"contentBlockIndex": 0, "delta": {"reasoningContent": {"signature": "sig"}}}),
    ("contentBlockStop", {"contentBlockIndex": 0}),
    ("contentBlockDelta", {"contentBlockIndex": 1, "delta": {"text": "Checking"}}),
    ("contentBlockStop", {"contentBlockIndex": 1}),
    ("contentBlockStart", {"contentBlockIndex": 2, "start": {"toolUse": {"toolUseId": "tu_1", "name": "get_weather"}}}),
    ("contentBlockDelta", {"contentBlockIndex": 2, "delta": {"toolUse": {"input": '{"city":'}}}),
    ("contentBlockDelta", {"contentBlockIndex": 2, "delta": {"toolUse": {"input": ' "Paris"}'}}}),
    ("contentBlockStop", {"contentBlockIndex": 2}),
    ("messageStop", {"stopReason": "tool_use"}),
    ("metadata", {"usage": {"inputTokens": 3, "outputTokens": 9, "totalTokens": 112, "cacheReadInputTokens": 100},
                  "metrics": {"latencyMs": 50}}),
]


@pytest.mark.parametrize("size", [1, 7, 4096])
async def test_stream_events_become_openai_chunks_whatever_the_network_chunking(size: int) -> None:
    chunks = await _stream([eventstream.event(name, ev) for name, ev in TOOL_STREAM], size)
    deltas = [c.obj["choices"][0]["delta"] for c in chunks if c.obj and c.obj["choices"]]
    assert deltas == [
        {"role": "assistant", "content": ""},
        {"reasoning_content": "Think."},
        {"content": "Checking"},
        {"tool_calls": [{"index": 0, "id": "tu_1", "type": "function", "function": {"name": "get_weather", "arguments": ""}}]},
        {"tool_calls": [{"index": 0, "function": {"arguments": '{"city":'}}]},
        {"tool_calls": [{"index": 0, "function": {"arguments": ' "Paris"}'}}]},
        {},
    ]
    assert [c.finish_reason for c in chunks if c.finish_reason] == ["tool_calls"]
    last = chunks[-1]
    assert last.obj is not None and last.obj["choices"] == []
    assert last.usage == Usage(103, 9, 112, cached_tokens=100)
    assert last.obj["usage"]["prompt_tokens_details"] == {"cached_tokens": 100}
    assert len({c.obj["id"] for c in chunks if c.obj}) == 1


async def test_stream_without_message_stop_is_an_upstream_error() -> None:
    with pytest.raises(UpstreamError, match="messageStop"):
        await _stream([eventstream.event(n, e) for n, e in TOOL_STREAM[:5]])


async def test_stream_without_metadata_is_an_upstream_error() -> None:
    with pytest.raises(UpstreamError, match="metadata"):
        await _stream([eventstream.event(n, e) for n, e in TOOL_STREAM[:-1]])


async def test_corrupt_frame_is_an_upstream_error() -> None:
    frame = bytearray(eventstream.event("messageStart", {"role": "assistant"}))
    frame[-1] ^= 0xFF  # break the message CRC
    with pytest.raises(UpstreamError, match="corrupt"):
        await _stream([bytes(frame)])


@pytest.mark.parametrize(("exception", "status", "retryable"), [
    ("throttlingException", 429, True),
    ("validationException", 400, False),
    ("internalServerException", 502, True),
    ("modelStreamErrorException", 502, True),
    ("serviceUnavailableException", 502, True),
])
async def test_exceptions_inside_the_stream_map_to_the_error_tree(exception: str, status: int, retryable: bool) -> None:
    frames = [eventstream.event(*TOOL_STREAM[0]), eventstream.exception(exception, "It broke.")]
    with pytest.raises(UpstreamError) as info:
        await _stream(frames)
    assert info.value.status == status
    assert info.value.retryable is retryable


async def test_generic_error_frame_is_an_upstream_error() -> None:
    frame = eventstream.frame({":message-type": "error", ":error-code": "InternalFailure",
                               ":error-message": "boom"}, b"")
    with pytest.raises(UpstreamError) as info:
        await _stream([frame])
    assert info.value.status == 502


def aws_error(status: int, etype: str, message: str = "Nope.", **headers: str) -> GatewayError:
    return WIRE.error("bedrock", status, orjson.dumps({"message": message}),
                      {"x-amzn-errortype": f"{etype}:http://internal.amazon.com/coral/com.amazon.bedrock/", **headers})


def test_validation_exception_is_a_400_with_bedrocks_message() -> None:
    err = aws_error(400, "ValidationException", "messages.0.content: must not be empty")
    assert (err.status, err.message) == (400, "messages.0.content: must not be empty")


def test_throttling_exception_is_a_429_keeping_retry_after() -> None:
    err = aws_error(429, "ThrottlingException", **{"retry-after": "7"})
    assert err.status == 429 and err.headers() == {"retry-after": "7"}


@pytest.mark.parametrize("etype", ["AccessDeniedException", "UnrecognizedClientException",
                                   "InvalidSignatureException", "ExpiredTokenException"])
def test_credential_errors_are_502_naming_the_aws_credentials(etype: str) -> None:
    err = aws_error(403, etype, "User arn:aws:iam::123456789012:user/x is not authorized")
    assert err.status == 502
    assert "AWS credentials" in err.message and "123456789012" not in err.message


@pytest.mark.parametrize(("status", "etype"), [
    (429, "ModelNotReadyException"), (503, "ServiceUnavailableException"),
    (500, "InternalServerException"), (424, "ModelErrorException"),
])
def test_model_and_service_failures_are_502(status: int, etype: str) -> None:
    err = aws_error(status, etype)
    assert err.status == 502 and etype in err.message
    assert isinstance(err, UpstreamError) and err.retryable


def test_model_timeout_is_a_504() -> None:
    assert isinstance(aws_error(408, "ModelTimeoutException"), UpstreamTimeout)


def test_unknown_model_is_a_404() -> None:
    err = aws_error(404, "ResourceNotFoundException", "Could not resolve the foundation model")
    assert (err.status, err.code) == (404, "model_not_found")
