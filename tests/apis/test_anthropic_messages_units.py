"""The pure parts of the Messages API: the in-place model rewrite, the event writer's grammar, usage
mapping, error shapes, the local token estimate."""

from __future__ import annotations

import json

import orjson
import pytest

from req_llm_gateway.apis._anthropic_out import EventWriter, usage_json
from req_llm_gateway.apis.anthropic_errors import error_body, from_openai
from req_llm_gateway.apis.anthropic_messages import ToolNames, parse
from req_llm_gateway.apis.anthropic_tokens import estimate
from req_llm_gateway.errors import BadRequest, RateLimited, UpstreamError
from req_llm_gateway.providers.anthropic_native import with_model
from req_llm_gateway.providers.bedrock_native import body as bedrock_body
from req_llm_gateway.types import ChatChunk, Usage


def test_model_rewrite_touches_only_the_top_level_value_even_when_nested_keys_share_the_name() -> None:
    raw = b'{"tools":[{"input_schema":{"model":"x","p":{"model":"y"}}}], "model":"anthropic:claude-a","z":1}'
    out = with_model(raw, "claude-a")
    assert out == raw.replace(b'"model":"anthropic:claude-a"', b'"model":"claude-a"')
    assert orjson.loads(out)["tools"][0]["input_schema"] == {"model": "x", "p": {"model": "y"}}


def test_bare_claude_names_go_to_anthropic_and_others_to_the_default() -> None:
    assert (parse(b'{"model":"claude-x","messages":[]}', "openai").provider, "anthropic") == ("anthropic", "anthropic")
    assert parse(b'{"model":"gpt-4o","messages":[]}', "openai").provider == "openai"
    assert parse(b'{"model":"gemini:g","messages":[]}', "openai").model == "g"
    with pytest.raises(BadRequest):
        parse(b'{"model":"claude-x"}', "openai")


def test_tool_names_shorten_reversibly() -> None:
    names = ToolNames()
    long = "mcp__server__" + "t" * 80
    short = names.short(long)
    assert len(short) <= 64 and names.original(short) == long and names.short("Bash") == "Bash"
    assert names.short("a.b") == "a_b" and names.original("a_b") == "a.b"


def events_of(data: bytes) -> list[tuple[str, dict[str, object]]]:
    out = []
    for block in data.decode().strip().split("\n\n"):
        name, payload = block.split("\n")
        out.append((name.removeprefix("event: "), json.loads(payload.removeprefix("data: "))))
    return out


def chunk(delta: dict[str, object], finish: str | None = None) -> ChatChunk:
    return ChatChunk(obj={"choices": [{"index": 0, "delta": delta, "finish_reason": finish}]}, finish_reason=finish)


def test_writer_opens_one_block_at_a_time_and_sends_usage_last() -> None:
    w = EventWriter("msg_1", "m", ToolNames())
    data = w.start()
    data += w.chunk(chunk({"reasoning_content": "think"}))
    data += w.chunk(chunk({"content": "Hi"}))
    data += w.chunk(chunk({"tool_calls": [{"index": 0, "id": "call.1", "function": {"name": "f", "arguments": "{}"}}]}))
    data += w.chunk(chunk({}, "tool_calls"))
    data += w.chunk(ChatChunk(obj={"choices": []}, usage=Usage(10, 4, 14, cached_tokens=6, cache_write_tokens=1)))
    data += w.end()
    events = events_of(data)
    assert [e for e, _ in events] == [
        "message_start", "content_block_start", "content_block_delta", "content_block_stop",
        "content_block_start", "content_block_delta", "content_block_stop",
        "content_block_start", "content_block_delta", "content_block_stop", "message_delta", "message_stop"]
    assert [p["index"] for e, p in events if e == "content_block_start"] == [0, 1, 2]
    assert events[0][1]["message"]["usage"] == {"input_tokens": 0, "cache_creation_input_tokens": 0,
                                                "cache_read_input_tokens": 0, "output_tokens": 0}
    assert events[7][1]["content_block"]["id"] == "call_1"  # normalised to Anthropic's pattern
    assert events[-2][1] == {"type": "message_delta", "delta": {"stop_reason": "tool_use", "stop_sequence": None},
                             "usage": {"input_tokens": 3, "cache_creation_input_tokens": 1,
                                       "cache_read_input_tokens": 6, "output_tokens": 4}}


def test_anthropic_input_tokens_exclude_cache_reads_and_writes() -> None:
    assert usage_json(Usage(100, 5, 105, cached_tokens=60, cache_write_tokens=30))["input_tokens"] == 10


def test_errors_use_anthropic_types() -> None:
    assert orjson.loads(error_body(RateLimited("slow down"), False, str)) == {
        "type": "error", "error": {"type": "rate_limit_error", "message": "slow down"}}
    overloaded = UpstreamError("busy", code="upstream_overloaded")
    assert orjson.loads(error_body(overloaded, False, str))["error"]["type"] == "overloaded_error"
    assert orjson.loads(error_body(UpstreamError("x"), False, str))["error"]["type"] == "api_error"
    converted = from_openai(401, b'{"error":{"message":"no key","type":"authentication_error","code":"invalid_api_key"}}')
    assert converted is not None and orjson.loads(converted)["error"] == {"type": "authentication_error",
                                                                          "message": "no key"}


def test_local_estimate_errs_high_and_counts_media() -> None:
    text = "The quick brown fox jumps over the lazy dog. " * 20  # 180 words, ~200 tokens on real tokenizers
    body = {"messages": [{"role": "user", "content": text}]}
    assert estimate(body) >= 250
    image = {"type": "image", "source": {"type": "base64", "media_type": "image/png", "data": "A" * 100_000}}
    with_image = {"messages": [{"role": "user", "content": [image, {"type": "text", "text": "hi"}]}]}
    assert 1600 <= estimate(with_image) < 1700


@pytest.mark.parametrize("raw", [
    b'{"model":"m","stream":true,"messages":[{"content":[{"input":{"stream":false,"model":"x"}}]}]}',
    b'{"messages":[{"content":[{"input":{"stream":false}}]}], "stream" : true ,\n "model": "m"}',
    b'{"messages":[], "model":"m"}',
])
def test_bedrock_body_cuts_only_top_level_model_and_stream(raw: bytes) -> None:
    has_stream = "stream" in orjson.loads(raw)
    out = bedrock_body(raw, has_stream, ["beta-1"])
    parsed = orjson.loads(out)
    expected = {k: v for k, v in orjson.loads(raw).items() if k not in ("model", "stream")}
    assert parsed == {"anthropic_version": "bedrock-2023-05-31", "anthropic_beta": ["beta-1"], **expected}
