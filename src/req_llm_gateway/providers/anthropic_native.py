"""Anthropic Messages passed through: the client's body bytes go upstream unchanged (only the model name
rewritten in place when the client named it differently, e.g. `anthropic:claude-...`), the client's
`anthropic-*` headers with it, and the upstream's bytes come back unchanged. Usage and stop reason are
read from the answer on the way, for cost and telemetry; nothing is re-serialized, so replayed thinking
blocks, signatures, `cache_control` and betas the gateway has never heard of all survive.
"""

from __future__ import annotations

import re
from collections.abc import AsyncGenerator, Iterable, Mapping
from dataclasses import dataclass
from typing import Any

import orjson

from ..errors import GatewayError, UpstreamError
from ..types import ChatChunk, ChatResponse
from ._http import HttpProvider
from .anthropic import DEFAULT_BASE_URL, VERSION, WIRE, finish_reason, usage_from
from .base import Provider, UpstreamRequest

__all__ = ["NativeChunk", "NativeError", "NativeResponse", "Scanner", "complete", "is_native", "key_span",
           "native_response", "request", "send", "stream", "with_model"]

_VALUE = rb'(?:"(?:[^"\\]|\\.)*"|true|false|null|-?[0-9][0-9.eE+-]*)'
_MODEL_KEY = re.compile(rb'"model"\s*:\s*"(?:[^"\\]|\\.)*"')
_TOKENS = re.compile(rb'"(?:[^"\\]|\\.)*"|[{}\[\]]')
# a delta with output in it (a JSON string's own quotes are escaped, so text cannot fake these)
_OUTPUT_DELTA = re.compile(rb'"(?:text|thinking|input_json)_delta"')


def is_native(provider: Provider) -> bool:
    """Whether `provider` speaks Anthropic's Messages API, so a Messages body can pass through."""
    return isinstance(provider, HttpProvider) and provider.endpoint.wire == "anthropic"


@dataclass(slots=True)
class NativeResponse(ChatResponse):
    """An Anthropic `message`: `raw` is relayed as is, `body` is it parsed, `stop` its stop reason,
    `request_id` Anthropic's `request-id` header (relayed too)."""

    stop: str | None = None
    request_id: str | None = None

    @property
    def finish_reasons(self) -> list[str]:
        return [finish_reason(self.stop, False)]


@dataclass(slots=True)
class NativeChunk(ChatChunk):
    """Upstream stream bytes to relay as they came (`data`); an empty one only carries usage. `output`:
    the first chunk that completes a text, thinking or tool input delta (time to first token);
    `request_id`: Anthropic's `request-id` header, on the first chunk only."""

    output: bool = False
    request_id: str | None = None


class NativeError(UpstreamError):
    """An Anthropic error answer; `raw`, `raw_status` and `raw_headers` are relayed to the client as sent
    when it is the client's own fault (a 4xx other than the gateway's credentials being refused)."""

    raw: bytes = b""
    raw_status: int = 0
    raw_headers: dict[str, str]
    relayed: bool = False  # already sent to the client inside the stream


def with_model(raw: bytes, model: str) -> bytes:
    """`raw` with its top-level `"model"` value replaced by `model`; every other byte stays."""
    start, end = key_span(raw, b"model")
    return raw[:start] + b'"model":' + orjson.dumps(model) + raw[end:]


def key_span(raw: bytes, key: bytes) -> tuple[int, int]:
    """Where `"key": value` (a string or a literal) sits at the top level of the JSON object `raw`,
    which must have that key. One match is it; several are told apart by depth."""
    pattern = _MODEL_KEY if key == b"model" else re.compile(rb'"' + key + rb'"\s*:\s*' + _VALUE)
    found = list(pattern.finditer(raw))
    if len(found) == 1:
        return found[0].span()
    depth = 0
    for m in _TOKENS.finditer(raw):
        tok = m.group()
        if tok in (b"{", b"["):
            depth += 1
        elif tok in (b"}", b"]"):
            depth -= 1
        elif depth == 1 and tok == b'"' + key + b'"':
            value = pattern.match(raw, m.start())
            if value is not None:
                return value.span()
    raise ValueError(f"no top-level {key.decode()}")


def request(provider: Provider, path: str, raw: bytes, headers: Iterable[tuple[str, str]], query: str) -> UpstreamRequest:
    """The upstream request: `path` on the provider's base URL, the client's `anthropic-*` headers, its key."""
    ep = provider.endpoint
    out: dict[str, str] = {"content-type": "application/json", "anthropic-version": VERSION}
    out.update(headers)
    if ep.api_key:
        out["x-api-key"] = ep.api_key
    extra = ep.options.get("headers")
    if isinstance(extra, Mapping):
        out.update({str(k): str(v) for k, v in extra.items()})
    url = (ep.base_url or DEFAULT_BASE_URL) + path + ("?" + query if query else "")
    return UpstreamRequest(url, out, raw)


def _error(provider: HttpProvider, status: int, body: bytes, headers: Mapping[str, str]) -> NativeError:
    base = WIRE.error(provider.id, status, body, headers)
    err = NativeError(base.message, upstream_status=status, upstream_body=body[:4096].decode("utf-8", "replace"),
                      retry_after=getattr(base, "retry_after", None), status=base.status, type=base.type,
                      code=base.code, param=base.param)
    err.raw, err.raw_status = body, status
    err.raw_headers = {k: v for k, v in headers.items() if k.lower() in ("retry-after", "request-id")}
    return err


async def send(provider: Provider, up: UpstreamRequest) -> tuple[int, bytes, dict[str, str]]:
    """POST `up` and read the whole answer: (status, body, headers), errors included (count_tokens)."""
    assert isinstance(provider, HttpProvider)
    resp = await provider._post(up)
    try:
        body = await provider._read(resp)
    finally:
        resp.release()
    return resp.status, body, dict(resp.headers)


async def complete(provider: Provider, up: UpstreamRequest) -> NativeResponse:
    """A non-stream Messages call; a 4xx/5xx raises `NativeError` (retried when worth it)."""
    assert isinstance(provider, HttpProvider)
    status, body, headers = await send(provider, up)
    if status >= 400:
        raise _error(provider, status, body, headers)
    return native_response(provider.id, status, body, headers.get("request-id"))


def native_response(provider_id: str, status: int, body: bytes, request_id: str | None = None) -> NativeResponse:
    """A Messages answer's bytes, kept as they are, with the usage and stop reason read from them."""
    try:
        data = orjson.loads(body)
        usage = usage_from(data.get("usage") or {})
    except (orjson.JSONDecodeError, AttributeError) as exc:
        raise UpstreamError(f"The {provider_id} provider sent a response the gateway cannot read.",
                            upstream_status=status, upstream_body=body[:4096].decode("utf-8", "replace")) from exc
    return NativeResponse(body=data, usage=usage, raw=body, stop=data.get("stop_reason"), request_id=request_id)


async def stream(provider: Provider, up: UpstreamRequest) -> AsyncGenerator[ChatChunk, None]:
    """Relay the upstream's SSE bytes as they arrive; after message_delta, one empty chunk with the usage."""
    assert isinstance(provider, HttpProvider)
    resp = await provider._post(up, stream=True)
    try:
        if resp.status >= 400:
            body = await provider._read(resp)
            raise _error(provider, resp.status, body, resp.headers)
        scan = Scanner()
        request_id = resp.headers.get("request-id")
        async for data in provider._chunks(resp):
            done = scan.feed(data)
            yield NativeChunk(data=data, output=scan.take_output(), request_id=request_id)
            request_id = None
            if scan.error is not None:
                raise _stream_error(provider, scan.error)
            if done:
                yield NativeChunk(data=b"", usage=usage_from(scan.usage), finish_reason=finish_reason(scan.stop, False))
                return
            if scan.fresh:  # message_start's usage: recorded even if the stream breaks off later
                scan.fresh = False
                yield NativeChunk(data=b"", usage=usage_from(scan.usage))
        raise UpstreamError(f"The {provider.id} provider's stream ended before message_stop.")
    finally:
        await resp.close()


def _stream_error(provider: HttpProvider, data: dict[str, Any]) -> GatewayError:
    err = _error(provider, 500, orjson.dumps(data), {})
    err.relayed = True
    return err


class Scanner:
    """Finds message_start, message_delta, message_stop and error events in the relayed bytes; the
    many content_block_* events in between are not parsed: until the first output delta is found (for
    time to first token) they are searched for one, without parsing."""

    def __init__(self) -> None:
        self.buf = b""
        self.usage: dict[str, Any] = {}
        self.stop: str | None = None
        self.error: dict[str, Any] | None = None
        self.fresh = False  # message_start's usage arrived and was not handed on yet
        self.output = False  # the first output delta arrived and was not handed on yet
        self._waiting = True  # no output delta seen so far

    def feed(self, data: bytes) -> bool:
        """True once message_stop has arrived."""
        *events, self.buf = (self.buf + data).split(b"\n\n")
        done = False
        for ev in events:
            head = ev[:32]
            if b"content_block" in head or b"ping" in head:
                if self._waiting and b"content_block_delta" in ev[:64] and _OUTPUT_DELTA.search(ev):
                    self._waiting, self.output = False, True
                continue
            payload = _data(ev)
            if payload is None:
                continue
            kind = payload.get("type")
            if kind == "message_start":
                self.usage.update((payload.get("message") or {}).get("usage") or {})
                self.fresh = True
            elif kind == "message_delta":
                self.usage.update({k: v for k, v in (payload.get("usage") or {}).items() if v is not None})
                self.stop = (payload.get("delta") or {}).get("stop_reason") or self.stop
            elif kind == "message_stop":
                done = True
            elif kind == "error":
                self.error = payload
        return done

    def take_output(self) -> bool:
        """True once: for the chunk that completed the stream's first output delta."""
        out, self.output = self.output, False
        return out


def _data(ev: bytes) -> dict[str, Any] | None:
    for line in ev.split(b"\n"):
        if line.startswith(b"data:"):
            try:
                value = orjson.loads(line[5:])
            except orjson.JSONDecodeError:
                return None
            return value if isinstance(value, dict) else None
    return None
