"""The seams between the gateway and providers: `Provider` (what the gateway calls) and `WireFormat`
(pure translation, no I/O, composed by `HttpProvider` in `_http.py`)."""

from __future__ import annotations

from collections.abc import AsyncGenerator, AsyncIterator, Mapping
from dataclasses import dataclass
from typing import Protocol

from ..config import Endpoint
from ..errors import GatewayError
from ..types import ChatChunk, ChatRequest, ChatResponse

__all__ = ["Endpoint", "Provider", "UpstreamRequest", "WireFormat"]


class Provider(Protocol):
    """What the gateway calls. `stream` yields chunks; the last one carries usage."""

    id: str
    endpoint: Endpoint

    async def complete(self, req: ChatRequest) -> ChatResponse: ...

    def stream(self, req: ChatRequest) -> AsyncGenerator[ChatChunk, None]: ...


@dataclass(frozen=True, slots=True)
class UpstreamRequest:
    url: str
    headers: Mapping[str, str]
    body: bytes


class WireFormat(Protocol):
    """One provider API, as pure translation. `stream` gets the raw body bytes as they arrive and
    owns its framing (SSE for most, the AWS event stream for Bedrock)."""

    def build(self, req: ChatRequest, ep: Endpoint) -> UpstreamRequest: ...

    def parse(self, body: bytes, req: ChatRequest) -> ChatResponse: ...

    def parse_stream(self, chunks: AsyncIterator[bytes], req: ChatRequest) -> AsyncIterator[ChatChunk]: ...

    def error(self, provider: str, status: int, body: bytes, headers: Mapping[str, str]) -> GatewayError: ...
