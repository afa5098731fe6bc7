"""Rendering: a GatewayError as OpenAI's error body, a completion as JSON, a chunk as an SSE `data:` line."""

from __future__ import annotations

import re
from collections.abc import Iterable
from typing import Any

import orjson

from ..errors import GatewayError
from ..gateway import Completion
from ..types import ChatChunk

__all__ = ["DONE", "Redactor", "encode_completion", "error_body", "sse_event", "sse_error", "send_bytes", "send_error"]

DONE = b"data: [DONE]\n\n"
JSON_HEADERS = [(b"content-type", b"application/json")]

# Shapes of secrets that must never reach a client, a log line or an error, whatever said them.
_SECRET_SHAPES = re.compile(
    r"(sk-[A-Za-z0-9_\-]{8,}|sk-ant-[A-Za-z0-9_\-]{8,}|AIza[0-9A-Za-z_\-]{20,}|AKIA[0-9A-Z]{16}|Bearer\s+\S+)"
)


class Redactor:
    """Removes known secrets (the configured keys) and secret-shaped strings from text."""

    def __init__(self, secrets: Iterable[str | None] = ()) -> None:
        self.secrets = sorted({s for s in secrets if s and len(s) >= 4}, key=len, reverse=True)

    def __call__(self, text: str) -> str:
        for s in self.secrets:
            if s in text:
                text = text.replace(s, "[redacted]")
        return _SECRET_SHAPES.sub("[redacted]", text)


def error_body(err: GatewayError, detailed: bool, redact: Redactor) -> bytes:
    error: dict[str, Any] = {"message": redact(err.message), "type": err.type, "param": err.param, "code": err.code}
    if detailed:
        details = err.details()
        if details:
            error["details"] = {k: redact(v) if isinstance(v, str) else v for k, v in details.items()}
    return orjson.dumps({"error": error})


def encode_completion(c: Completion) -> bytes:
    """The upstream's own bytes when it sent OpenAI's format, with `x_req_llm` spliced in."""
    raw: bytes | None = c.response.raw
    ext = c.extension
    if raw is not None:
        if ext is None:
            return raw
        end = raw.rstrip()
        if end.endswith(b"}") and b'"x_req_llm"' not in raw:
            inner = end[:-1].rstrip()
            sep = b"" if inner.endswith(b"{") else b","
            return inner + sep + b'"x_req_llm":' + orjson.dumps(ext) + b"}"
    body = c.response.body
    if ext is not None:
        body = {**body, "x_req_llm": ext}
    return orjson.dumps(body)


def sse_event(chunk: ChatChunk) -> bytes:
    data = chunk.data if chunk.data is not None else orjson.dumps(chunk.obj)
    return b"data: " + data + b"\n\n"


def sse_error(err: GatewayError, detailed: bool, redact: Redactor) -> bytes:
    return b"data: " + error_body(err, detailed, redact) + b"\n\n"


async def send_bytes(send: Any, status: int, body: bytes, headers: list[tuple[bytes, bytes]] | None = None) -> None:
    await send({"type": "http.response.start", "status": status,
                "headers": (headers or []) + JSON_HEADERS + [(b"content-length", str(len(body)).encode())]})
    await send({"type": "http.response.body", "body": body})


async def send_error(send: Any, err: GatewayError, detailed: bool, redact: Redactor,
                     headers: list[tuple[bytes, bytes]] | None = None) -> None:
    """`err` as an answer in OpenAI's shape, with the headers it carries (`Retry-After`, ...) and `headers`."""
    own = [(k.encode(), v.encode()) for k, v in err.headers().items()]
    await send_bytes(send, err.status, error_body(err, detailed, redact), own + headers if headers else own)
