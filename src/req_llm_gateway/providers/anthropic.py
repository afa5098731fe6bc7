"""The Anthropic Messages wire format: `POST {base}/v1/messages` with `x-api-key` and
`anthropic-version: 2023-06-01`; responses and the SSE event stream translated to OpenAI's shapes.

Stream events: message_start -> the role chunk; content_block_start (tool_use) -> a tool call's id
and name; content_block_delta text_delta / input_json_delta / thinking_delta -> content / argument /
`reasoning_content` deltas; message_delta -> finish reason and final usage; message_stop -> the
finish chunk and the usage chunk; ping is skipped; error -> the mapped gateway error.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Mapping
from typing import Any

import orjson

from ..config import Endpoint
from ..errors import GatewayError, UpstreamError
from ..types import ChatChunk, ChatRequest, ChatResponse, Json, Usage
from . import _sse
from ._anthropic_request import JSON_TOOL, SUPPORTED, body_for
from ._http import error_from_status, retry_after_seconds
from ._openai_out import Chunks, choice, completion, tool_call
from .base import UpstreamRequest

__all__ = ["AnthropicWire", "FEATURES", "WIRE", "finish_reason", "usage_from"]

VERSION = "2023-06-01"
DEFAULT_BASE_URL = "https://api.anthropic.com"
_FINISH = {
    "end_turn": "stop", "stop_sequence": "stop", "pause_turn": "stop", "max_tokens": "length",
    "model_context_window_exceeded": "length", "tool_use": "tool_calls", "refusal": "content_filter",
}
# Error `type` -> the HTTP status Anthropic documents for it (used for errors inside a stream).
_ERROR_STATUS = {
    "invalid_request_error": 400, "authentication_error": 401, "billing_error": 402, "permission_error": 403,
    "not_found_error": 404, "request_too_large": 413, "rate_limit_error": 429, "api_error": 500,
    "timeout_error": 504, "overloaded_error": 529,
}


# What this wire format expresses (docs/providers.md is checked against it; see features.py).
FEATURES: Mapping[str, str] = {
    "text": "yes", "stream": "yes",
    "system": "yes: all of them join the top-level `system` blocks, in order",
    "tools": "yes", "tool_streaming": "yes", "tool_choice": "yes", "tool_choice_none": "yes",
    "parallel_tool_calls": "yes", "disable_parallel_tool_calls": "yes: `disable_parallel_tool_use`",
    "images_data_url": "yes: png, jpeg, gif, webp", "images_http_url": "yes: a `url` image source",
    "json_object": "partial: a forced `json_response` tool whose input is the answer; 400 with tools or reasoning",
    "json_schema": "yes: `output_config.format` (structured outputs)",
    "stop": "yes", "temperature": "yes", "top_p": "yes",
    "max_tokens": "yes: required upstream; default 4096, 8192 for claude-3-5, 16384 for claude-3-7 and 4+",
    "reasoning_effort": "yes: `thinking.budget_tokens` (minimal 1024 ... max 27648); none disables thinking",
    "seed": "no", "n": "no", "logprobs": "no", "penalties": "no",
    "usage_cached": "yes", "usage_cache_write": "yes",
    "usage_reasoning": "unreported: Anthropic counts thinking inside output_tokens, with no separate figure",
}


def finish_reason(stop_reason: str | None, json_mode: bool) -> str:
    """Anthropic `stop_reason` -> OpenAI `finish_reason` (the json_object tool ends in "stop")."""
    if json_mode and stop_reason == "tool_use":
        return "stop"
    return _FINISH.get(stop_reason or "", "stop")


def usage_from(u: Mapping[str, Any]) -> Usage:
    """OpenAI's prompt_tokens include cache reads and writes; Anthropic's input_tokens do not."""
    fresh, read, write = _int(u.get("input_tokens")), _int(u.get("cache_read_input_tokens")), _int(
        u.get("cache_creation_input_tokens"))
    out = _int(u.get("output_tokens"))
    prompt = fresh + read + write
    return Usage(prompt, out, prompt + out, read, write, 0)


def _int(v: Any) -> int:
    return v if type(v) is int else 0


def _json_mode(req: ChatRequest) -> bool:
    fmt = req.params.get("response_format")
    return isinstance(fmt, dict) and fmt.get("type") == "json_object"


class AnthropicWire:
    features: Mapping[str, str] = FEATURES
    supported_params = SUPPORTED  # the OpenAI parameters this format translates; others are a 400

    def build(self, req: ChatRequest, ep: Endpoint) -> UpstreamRequest:
        body = body_for(req, ep.options)
        if req.stream:
            body["stream"] = True
        headers = {"content-type": "application/json", "accept": "application/json", "anthropic-version": VERSION}
        if ep.api_key:
            headers["x-api-key"] = ep.api_key
        extra = ep.options.get("headers")
        if isinstance(extra, Mapping):
            headers.update({str(k): str(v) for k, v in extra.items()})
        base = ep.base_url or DEFAULT_BASE_URL
        return UpstreamRequest(base + "/v1/messages", headers, orjson.dumps(body))

    def parse(self, body: bytes, req: ChatRequest) -> ChatResponse:
        data = orjson.loads(body)
        if not isinstance(data, dict) or data.get("type") != "message":
            raise ValueError("not an Anthropic message")
        json_mode = _json_mode(req)
        texts: list[str] = []
        thinking: list[str] = []
        calls: list[Json] = []
        for block in data["content"]:
            kind = block["type"]
            if kind == "text":
                texts.append(block["text"])
            elif kind == "tool_use":
                args = orjson.dumps(block["input"]).decode()
                if json_mode and block["name"] == JSON_TOOL:
                    texts.append(args)
                else:
                    calls.append(tool_call(block["id"], block["name"], args))
            elif kind == "thinking":
                thinking.append(block["thinking"])
            # redacted_thinking is encrypted; server-tool blocks never appear (no server tools are sent)
        text = "".join(texts) if texts else (None if calls else "")
        finish = finish_reason(data.get("stop_reason"), json_mode)
        usage = usage_from(data.get("usage") or {})
        one = choice(0, text, calls, finish, "".join(thinking) or None)
        return completion(data["id"], data.get("model") or req.model, [one], usage)

    async def parse_stream(self, chunks: AsyncIterator[bytes], req: ChatRequest) -> AsyncIterator[ChatChunk]:
        json_mode = _json_mode(req)
        out: Chunks | None = None
        usage: dict[str, Any] = {}
        roles: dict[int, tuple[str, int]] = {}  # content block index -> (what it carries, tool call index)
        tools = 0
        finish = "stop"
        async for ev in _sse.decode(chunks):
            data = orjson.loads(ev.data)
            kind = data.get("type") or ev.event
            if kind == "ping":
                continue
            if kind == "error":
                raise self._stream_error(req.provider, data)
            if kind == "message_start":
                msg = data["message"]
                out = Chunks(msg["id"], msg.get("model") or req.model)
                usage.update(msg.get("usage") or {})
                yield out.delta({"role": "assistant", "content": ""})
                continue
            if out is None:
                raise ValueError(f"{kind} before message_start")
            if kind == "content_block_start":
                block = data["content_block"]
                if block["type"] == "tool_use" and not (json_mode and block["name"] == JSON_TOOL):
                    roles[data["index"]] = ("tool", tools)
                    call = {"index": tools, **tool_call(block["id"], block["name"], "")}
                    tools += 1
                    yield out.delta({"tool_calls": [call]})
                elif block["type"] == "tool_use":
                    roles[data["index"]] = ("json", 0)
                elif block["type"] == "text" and block.get("text"):
                    yield out.delta({"content": block["text"]})
            elif kind == "content_block_delta":
                delta = data["delta"]
                piece = self._delta(delta, roles.get(data["index"], ("", 0)))
                if piece is not None:
                    yield out.delta(piece)
            elif kind == "message_delta":
                if (data.get("delta") or {}).get("stop_reason"):
                    finish = finish_reason(data["delta"]["stop_reason"], json_mode)
                usage.update({k: v for k, v in (data.get("usage") or {}).items() if v is not None})
            elif kind == "message_stop":
                yield out.finish(finish)
                yield out.usage(usage_from(usage))
                return
            # content_block_stop and event types added later carry nothing to relay
        raise UpstreamError(f"The {req.provider} provider's stream ended before message_stop.")

    @staticmethod
    def _delta(delta: Json, role: tuple[str, int]) -> Json | None:
        kind = delta["type"]
        if kind == "text_delta" and delta["text"]:
            return {"content": delta["text"]}
        if kind == "thinking_delta" and delta["thinking"]:
            return {"reasoning_content": delta["thinking"]}
        if kind == "input_json_delta" and delta["partial_json"]:
            if role[0] == "tool":
                return {"tool_calls": [{"index": role[1], "function": {"arguments": delta["partial_json"]}}]}
            if role[0] == "json":
                return {"content": delta["partial_json"]}
        return None  # signature_delta, citations_delta, empty pieces

    def _stream_error(self, provider: str, data: Json) -> GatewayError:
        err = data["error"] if isinstance(data.get("error"), dict) else {}
        status = _ERROR_STATUS.get(str(err.get("type")), 500)
        exc = self.error(provider, status, orjson.dumps(data), {})
        exc.message = f"The {provider} provider failed mid-stream: {exc.message}"
        return exc

    def error(self, provider: str, status: int, body: bytes, headers: Mapping[str, str]) -> GatewayError:
        etype, message = _error_fields(body)
        raw = body[:4096].decode("utf-8", "replace")
        if status == 529 or etype == "overloaded_error":
            return UpstreamError(
                f"The {provider} provider is overloaded (status {status}); retry later.", code="upstream_overloaded",
                upstream_status=status, upstream_body=raw, retry_after=retry_after_seconds(headers),
            )
        if status == 402 or etype == "billing_error":
            return UpstreamError(
                f"The {provider} provider refused the gateway's account for billing reasons (status {status}).",
                upstream_status=status, upstream_body=raw,
            )
        return error_from_status(provider, status, headers, message, body)


def _error_fields(body: bytes) -> tuple[str | None, str | None]:
    """(error type, message) from `{"type": "error", "error": {"type", "message"}}`."""
    try:
        data = orjson.loads(body)
    except orjson.JSONDecodeError:
        return None, None
    err = data.get("error") if isinstance(data, dict) else None
    if not isinstance(err, dict):
        return None, None
    etype, message = err.get("type"), err.get("message")
    return (etype if isinstance(etype, str) else None, message if isinstance(message, str) else None)


WIRE = AnthropicWire()
