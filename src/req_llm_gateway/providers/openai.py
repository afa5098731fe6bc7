"""The OpenAI Chat Completions wire format, used by OpenAI and every row of compatible.toml.

The client's body goes upstream as sent: its own bytes when only `model` changes (`ChatRequest.client_body`),
else re-encoded with `model` and `stream_options` changed; headers are built once per endpoint. Responses and
stream chunks are relayed as the upstream's own bytes, parsed only where usage or a finish reason is.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Mapping

import orjson

from ..config import Endpoint
from ..errors import GatewayError, UpstreamError
from ..types import ChatChunk, ChatRequest, ChatResponse, Usage
from . import _sse
from ._http import HeaderCache, error_from_status, openai_error_fields
from .base import UpstreamRequest

__all__ = ["FEATURES", "OpenAIWire", "WIRE"]

# The body goes upstream as the client sent it, so support is the upstream's; the gateway itself reads
# the stream, the finish reasons and usage (docs/providers.md is checked against this; see features.py).
FEATURES: Mapping[str, str] = {
    **dict.fromkeys((
        "system", "tools", "tool_streaming", "tool_choice", "tool_choice_none", "parallel_tool_calls",
        "disable_parallel_tool_calls", "images_data_url", "images_http_url", "json_object", "json_schema",
        "stop", "temperature", "top_p", "max_tokens", "reasoning_effort", "seed", "n", "logprobs", "penalties",
    ), "passthrough"),
    "text": "yes", "stream": "yes", "usage_cached": "yes", "usage_reasoning": "yes",
    "usage_cache_write": "yes: read from `cache_write_tokens` or `cache_creation_tokens` when the upstream reports them",
}


class OpenAIWire:
    path = "/chat/completions"
    features: Mapping[str, str] = FEATURES

    def __init__(self) -> None:
        self._headers = HeaderCache()

    def headers(self, ep: Endpoint) -> dict[str, str]:
        headers = {"Content-Type": "application/json", "Accept": "application/json"}
        if ep.api_key:
            headers["Authorization"] = f"Bearer {ep.api_key}"
        extra = ep.options.get("headers")
        if isinstance(extra, Mapping):
            headers.update({str(k): str(v) for k, v in extra.items()})
        return headers

    def url(self, req: ChatRequest, ep: Endpoint) -> str:
        return ep.base_url + self.path

    def headers_for(self, ep: Endpoint) -> Mapping[str, str]:
        """`headers(ep)`, built once per endpoint."""
        return self._headers.get(ep, self.headers)

    def build(self, req: ChatRequest, ep: Endpoint) -> UpstreamRequest:
        headers = self.headers_for(ep)
        sent = req.client_body()  # the client's own bytes, when only the model name changes
        if sent is not None:
            return UpstreamRequest(self.url(req, ep), headers, sent)
        body = {"model": req.model, "messages": req.messages, **req.params}
        if req.stream:
            body["stream"] = True
            opts = req.params.get("stream_options")
            body["stream_options"] = {**(opts if isinstance(opts, dict) else {}), "include_usage": True}
        return UpstreamRequest(self.url(req, ep), headers, orjson.dumps(body))

    def parse(self, body: bytes, req: ChatRequest) -> ChatResponse:
        data = orjson.loads(body)
        if not isinstance(data, dict) or not isinstance(data.get("choices"), list):
            raise ValueError("not a chat.completion object")
        return ChatResponse(body=data, usage=Usage.from_openai(data.get("usage")), raw=body)

    async def parse_stream(self, chunks: AsyncIterator[bytes], req: ChatRequest) -> AsyncIterator[ChatChunk]:
        finished = False
        async for ev in _sse.decode(chunks):
            data = ev.data
            if data == b"[DONE]":
                return
            if ev.event == "error" or data.startswith(b'{"error"'):
                raise self._stream_error(data)
            if not data.startswith(b"{") or not (data.endswith(b"}") or data.rstrip().endswith(b"}")):
                # a cheap framing check: events are relayed unparsed, and a broken one would break the client
                raise ValueError("a stream event that is not a JSON object")
            chunk = ChatChunk(data=data)
            if b'"usage":{' in data or b'"usage": {' in data:
                obj = orjson.loads(data)
                chunk.obj, chunk.usage = obj, Usage.from_openai(obj.get("usage"))
            if b'"finish_reason":"' in data or b'"finish_reason": "' in data:
                obj = chunk.obj or orjson.loads(data)
                chunk.obj = obj
                for choice in obj.get("choices") or ():
                    if choice.get("finish_reason"):
                        chunk.finish_reason = finished = choice["finish_reason"]
            yield chunk
        if not finished:
            raise UpstreamError("The upstream stream ended before it was complete.")

    def _stream_error(self, data: bytes) -> GatewayError:
        # The upstream's own words go only into the details (ERROR_VERBOSITY=detailed): sanitized errors
        # never carry upstream bodies.
        return UpstreamError("The provider failed mid-stream.", upstream_body=data[:4096].decode("utf-8", "replace"))

    def error(self, provider: str, status: int, body: bytes, headers: Mapping[str, str]) -> GatewayError:
        message, code, param = openai_error_fields(body)
        return error_from_status(provider, status, headers, message, body, code=code, param=param)


WIRE = OpenAIWire()
