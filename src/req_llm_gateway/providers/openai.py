"""The OpenAI Chat Completions wire format, used by OpenAI and every row of compatible.toml.

The client's body goes upstream as sent (only `model` and `stream_options` change); responses and
stream chunks are relayed as the upstream's own bytes, parsed only where usage or a finish reason is.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Mapping

import orjson

from ..config import Endpoint
from ..errors import GatewayError, UpstreamError
from ..types import ChatChunk, ChatRequest, ChatResponse, Usage
from . import _sse
from ._http import error_from_status, openai_error_fields
from .base import UpstreamRequest

__all__ = ["OpenAIWire", "WIRE"]


class OpenAIWire:
    path = "/chat/completions"

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

    def build(self, req: ChatRequest, ep: Endpoint) -> UpstreamRequest:
        body = {"model": req.model, "messages": req.messages, **req.params}
        if req.stream:
            body["stream"] = True
            opts = req.params.get("stream_options")
            body["stream_options"] = {**(opts if isinstance(opts, dict) else {}), "include_usage": True}
        return UpstreamRequest(self.url(req, ep), self.headers(ep), orjson.dumps(body))

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
        message, _, _ = openai_error_fields(data)
        return UpstreamError(
            f"The provider failed mid-stream: {message}" if message else "The provider failed mid-stream.",
            upstream_body=data[:4096].decode("utf-8", "replace"),
        )

    def error(self, provider: str, status: int, body: bytes, headers: Mapping[str, str]) -> GatewayError:
        message, code, param = openai_error_fields(body)
        return error_from_status(provider, status, headers, message, body, code=code, param=param)


WIRE = OpenAIWire()
