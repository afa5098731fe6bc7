"""Claude on Bedrock through its native Anthropic body (InvokeModel), for `/v1/messages`: the client's
bytes with the top-level `model` and `stream` keys cut out and `anthropic_version: bedrock-2023-05-31`
(plus the client's betas as `anthropic_beta`) put in front; nothing else is re-serialized. The answer
is Anthropic's `message`, relayed as is; a stream's AWS event-stream `chunk` frames carry Anthropic's
events, relayed as SSE with their JSON unchanged.
"""

from __future__ import annotations

import base64
from collections.abc import AsyncGenerator, Iterable
from urllib.parse import quote

import orjson

from ..errors import UpstreamError
from ..types import ChatChunk
from . import _aws
from ._http import HttpProvider
from .anthropic import finish_reason, usage_from
from .anthropic_native import NativeChunk, NativeResponse, Scanner, key_span, native_response, send
from .base import Provider, UpstreamRequest
from .bedrock import WIRE

__all__ = ["ANTHROPIC_VERSION", "body", "complete", "is_bedrock_claude", "request", "stream"]

ANTHROPIC_VERSION = "bedrock-2023-05-31"


def is_bedrock_claude(provider: Provider, model: str) -> bool:
    """A Bedrock endpoint and an Anthropic model id (`anthropic.claude-...`, `us.anthropic.claude-...`)."""
    return isinstance(provider, HttpProvider) and provider.endpoint.wire == "bedrock" and "anthropic.claude" in model


def body(raw: bytes, has_stream: bool, betas: list[str]) -> bytes:
    """The InvokeModel body: `raw` without its top-level `model` (and `stream`), with `anthropic_version`."""
    out = _cut(raw, b"model")
    if has_stream:
        out = _cut(out, b"stream")
    head = b'"anthropic_version":"' + ANTHROPIC_VERSION.encode() + b'",'
    if betas:
        head += b'"anthropic_beta":' + orjson.dumps(betas) + b","
    at = out.index(b"{") + 1
    return out[:at] + head + out[at:]


def _cut(raw: bytes, key: bytes) -> bytes:
    """`raw` without the top-level `"key": value` pair and one comma next to it."""
    start, end = key_span(raw, key)
    rest = end
    while rest < len(raw) and raw[rest] in b" \t\r\n":
        rest += 1
    if rest < len(raw) and raw[rest:rest + 1] == b",":
        return raw[:start] + raw[rest + 1:]
    before = start - 1
    while before > 0 and raw[before] in b" \t\r\n":
        before -= 1
    return raw[:before] + raw[end:] if raw[before:before + 1] == b"," else raw[:start] + raw[end:]


def request(provider: Provider, model: str, payload: bytes, stream_: bool) -> UpstreamRequest:
    ep = provider.endpoint
    base = (ep.base_url or "https://bedrock-runtime.{region}.amazonaws.com").replace("{region}", WIRE.region(ep))
    url = f"{base}/model/{quote(model, safe='')}/{'invoke-with-response-stream' if stream_ else 'invoke'}"
    headers = {"Content-Type": "application/json", "Accept": "application/json"}
    signer = WIRE.signer(ep)
    if signer is None:
        headers["Authorization"] = f"Bearer {ep.options['bearer_token']}"
    else:
        headers = signer.headers(url, payload, headers)
    return UpstreamRequest(url, headers, payload)


def betas_of(headers: Iterable[tuple[str, str]]) -> list[str]:
    return [b.strip() for k, v in headers if k == "anthropic-beta" for b in v.split(",") if b.strip()]


async def complete(provider: Provider, up: UpstreamRequest) -> NativeResponse:
    assert isinstance(provider, HttpProvider)
    status, answer, headers = await send(provider, up)
    if status >= 400:
        raise WIRE.error(provider.id, status, answer, headers)
    return native_response(provider.id, status, answer)


async def stream(provider: Provider, up: UpstreamRequest) -> AsyncGenerator[ChatChunk, None]:
    assert isinstance(provider, HttpProvider)
    resp = await provider._post(up, stream=True)
    try:
        if resp.status >= 400:
            answer = await provider._read(resp)
            raise WIRE.error(provider.id, resp.status, answer, resp.headers)
        scan = Scanner()
        async for frame in _aws.frames(provider._chunks(resp)):
            if frame.kind != "event":
                raise _aws.stream_exception(provider.id, frame)
            if frame.name != "chunk":
                continue
            event = base64.b64decode(frame.json()["bytes"])
            kind = orjson.loads(event).get("type", "")
            data = b"event: " + kind.encode() + b"\ndata: " + event + b"\n\n"
            done = scan.feed(data)
            yield NativeChunk(data=data, output=scan.take_output())
            if done:
                yield NativeChunk(data=b"", usage=usage_from(scan.usage), finish_reason=finish_reason(scan.stop, False))
                return
            if scan.fresh:
                scan.fresh = False
                yield NativeChunk(data=b"", usage=usage_from(scan.usage))
        raise UpstreamError(f"The {provider.id} provider's stream ended before message_stop.")
    finally:
        await resp.close()
