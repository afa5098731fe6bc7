"""The Anthropic Messages wire format: `POST {base}/v1/messages` with `x-api-key` and
`anthropic-version: 2023-06-01`; responses and the SSE event stream translated to OpenAI's shapes.

Stream events (translated in _anthropic_response.py): message_start -> the role chunk;
content_block_start (tool_use) -> a tool call's id and name; content_block_delta text_delta /
input_json_delta / thinking_delta -> content / argument / `reasoning_content` deltas; a finished
thinking block -> a `thinking_blocks` delta; message_delta -> finish reason and final usage;
message_stop -> the finish chunk and the usage chunk; ping is skipped; error -> the gateway error.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Mapping

import orjson

from ..config import Endpoint
from ..errors import GatewayError, UpstreamError
from ..types import ChatChunk, ChatRequest, ChatResponse, Json
from . import _sse
from ._anthropic_request import SUPPORTED, body_for
from ._anthropic_response import StreamTranslator, completion_from, finish_reason, usage_from
from ._http import error_from_status, retry_after_seconds
from .base import UpstreamRequest

__all__ = ["AnthropicWire", "FEATURES", "WIRE", "finish_reason", "usage_from"]

VERSION = "2023-06-01"
DEFAULT_BASE_URL = "https://api.anthropic.com"
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
        return completion_from(orjson.loads(body), req.model, _json_mode(req))

    async def parse_stream(self, chunks: AsyncIterator[bytes], req: ChatRequest) -> AsyncIterator[ChatChunk]:
        translate = StreamTranslator(req.model, _json_mode(req))
        async for ev in _sse.decode(chunks):
            data = orjson.loads(ev.data)
            kind = data.get("type") or ev.event
            if kind == "error":
                raise self._stream_error(req.provider, data)
            for chunk in translate.event(kind, data):
                yield chunk
            if translate.done:
                return
        raise UpstreamError(f"The {req.provider} provider's stream ended before message_stop.")

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
