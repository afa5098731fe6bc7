"""OpenAI's Responses API at upstreams that speak it (OpenAI, Azure OpenAI: rows with `responses =
"passthrough"`): the client's body goes up as sent and the upstream's bytes come back as sent. The gateway
reads only usage, from the non-stream body or the stream's terminal event (`response.completed`,
`response.incomplete`, `response.failed`), so unknown fields and new event types survive.
"""

from __future__ import annotations

import re
from collections.abc import AsyncGenerator, Mapping
from typing import Any

import orjson

from ..errors import ProviderNotConfigured, UpstreamError
from ..types import Usage
from ._http import HttpProvider
from .base import Provider, UpstreamRequest

__all__ = ["StreamWatch", "complete", "open_stream", "passes_through", "usage_of"]

_TERMINAL = (b'"response.completed"', b'"response.incomplete"', b'"response.failed"')
# an event with output in it: text, a tool call's arguments, reasoning (by its SSE name or its JSON type;
# a JSON string's own quotes are escaped and an SSE line cannot hold a raw newline, so text cannot fake it)
_OUTPUT_EVENT = re.compile(rb'(?:^event: ?|"type": ?")response\.(?:output_text|refusal|function_call_arguments|'
                           rb'custom_tool_call_input|reasoning_text|reasoning_summary_text)\.delta\b', re.M)


def passes_through(provider: Provider) -> bool:
    """Does this provider take `/responses` itself (else the gateway bridges it onto chat)?"""
    return isinstance(provider, HttpProvider) and provider.endpoint.options.get("responses") == "passthrough"


def _request(provider: HttpProvider, body: bytes) -> UpstreamRequest:
    ep = provider.endpoint
    headers_of = getattr(provider.wire, "headers_for", None)  # built once per endpoint (providers/_http.py)
    headers: Mapping[str, str] = headers_of(ep) if callable(headers_of) else {"Content-Type": "application/json"}
    if ep.wire == "azure":
        base = ep.base_url or str(ep.options.get("endpoint") or "").rstrip("/")
        if not base:
            raise ProviderNotConfigured(f"The '{ep.provider}' provider has no endpoint: set AZURE_BASE_URL or "
                                        "AZURE_OPENAI_ENDPOINT on the gateway.", param="model")
        url = f"{base}/openai/v1/responses"  # Azure's v1 API: no api-version, the deployment is `model`
    else:
        url = ep.base_url + "/responses"
    return UpstreamRequest(url, headers, body)


def usage_of(usage: Any) -> Usage | None:
    """A Responses `usage` object as canonical usage (cached inside input, reasoning inside output)."""
    if not isinstance(usage, Mapping):
        return None
    prompt, completion = _int(usage.get("input_tokens")), _int(usage.get("output_tokens"))
    details_in = usage.get("input_tokens_details")
    details_out = usage.get("output_tokens_details")
    details_in = details_in if isinstance(details_in, Mapping) else {}
    reasoning = _int(details_out.get("reasoning_tokens")) if isinstance(details_out, Mapping) else 0
    return Usage(prompt, completion, _int(usage.get("total_tokens")) or prompt + completion,
                 _int(details_in.get("cached_tokens")), _int(details_in.get("cache_write_tokens")), reasoning)


def _int(v: Any) -> int:
    return v if type(v) is int else 0


async def complete(provider: HttpProvider, body: bytes) -> tuple[bytes, Usage | None, str | None]:
    """The upstream's answer bytes, its usage and its status (`completed`, `incomplete`, ...)."""
    raw = await provider.request(_request(provider, body))
    try:
        data = orjson.loads(raw)
    except orjson.JSONDecodeError as exc:
        raise UpstreamError(f"The {provider.id} provider sent a response the gateway cannot read.",
                            upstream_body=raw[:4096].decode("utf-8", "replace")) from exc
    if not isinstance(data, dict):
        raise UpstreamError(f"The {provider.id} provider sent a response the gateway cannot read.")
    status = data.get("status")
    return raw, usage_of(data.get("usage")), status if isinstance(status, str) else None


def open_stream(provider: HttpProvider, body: bytes) -> AsyncGenerator[bytes, None]:
    """The upstream's SSE bytes, chunk by chunk as they arrive (watch them with `StreamWatch`)."""
    return provider.open(_request(provider, body))


class StreamWatch:
    """Reads a relayed Responses stream for its terminal event, without touching the bytes: usage, status,
    and how many events went by (the `sequence_number` a gateway error event continues from). Until the
    first output delta (time to first token), the frames are searched for one, without parsing."""

    __slots__ = ("_tail", "_waiting", "error", "events", "output", "status", "usage")

    def __init__(self) -> None:
        self._tail = b""
        self.events = 0
        self.status: str | None = None
        self.usage: Usage | None = None
        self.error: str | None = None
        self.output = False  # the first output delta arrived and was not taken yet (`take_output`)
        self._waiting = True

    def feed(self, chunk: bytes) -> None:
        data = self._tail + chunk if self._tail else chunk
        if b"\r" in data:
            data = data.replace(b"\r\n", b"\n")
        end = data.rfind(b"\n\n")
        if end < 0:
            self._tail = data
            return
        frames, self._tail = data[:end], data[end + 2:]
        self.events += frames.count(b"\n\n") + 1
        if self._waiting and _OUTPUT_EVENT.search(frames):
            self._waiting, self.output = False, True
        if any(marker in frames for marker in _TERMINAL) or b'"type":"error"' in frames:
            for frame in frames.split(b"\n\n"):
                self._read(frame)

    def _read(self, frame: bytes) -> None:
        data = b"\n".join(line[5:].lstrip(b" ") for line in frame.split(b"\n") if line.startswith(b"data:"))
        if not data.startswith(b"{"):
            return
        try:
            event = orjson.loads(data)
        except orjson.JSONDecodeError:
            return
        kind = event.get("type") if isinstance(event, dict) else None
        if kind == "error":
            self.error = str(event.get("code") or event.get("message") or "error")
        elif kind in ("response.completed", "response.incomplete", "response.failed"):
            response = event.get("response") or {}
            self.status = kind.rpartition(".")[2]
            self.usage = usage_of(response.get("usage"))

    def take_output(self) -> bool:
        """True once: after the feed that completed the stream's first output delta."""
        out, self.output = self.output, False
        return out

    @property
    def finished(self) -> bool:
        return self.status is not None
