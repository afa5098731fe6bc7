"""Scripted responses shared by all fakes: delayed chunk streams, cut connections, hangs.

A `ScriptedStream` is a plain ASGI response so it can do what Starlette's
`StreamingResponse` cannot: stop without finishing the body, which makes uvicorn drop the
connection mid-stream exactly like a crashed upstream.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Mapping, Sequence
from typing import Any

from starlette.requests import Request
from starlette.responses import Response
from starlette.types import Receive, Scope, Send

from .script import Script

_HANG_LIMIT_S = 300.0


class ScriptedStream(Response):
    """Send `chunks` one by one, `delay_s` apart; stop abruptly after `cut_after` chunks."""

    def __init__(
        self,
        chunks: Sequence[bytes],
        *,
        media_type: str,
        delay_s: float = 0.0,
        cut_after: int | None = None,
        headers: Mapping[str, str] | None = None,
    ) -> None:
        # Response.__init__ would add `content-length: 0`; a stream has no length.
        all_headers = {"content-type": media_type, "cache-control": "no-cache", **(headers or {})}
        self.status_code = 200
        self.background = None
        self.raw_headers = [
            (k.lower().encode("latin-1"), v.encode("latin-1")) for k, v in all_headers.items()
        ]
        self.chunks = chunks
        self.delay_s = delay_s
        self.cut_after = cut_after

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        start = {"type": "http.response.start", "status": 200, "headers": self.raw_headers}
        await send(start)
        for index, chunk in enumerate(self.chunks):
            if index == self.cut_after:
                return  # uvicorn closes the socket: the client sees a truncated body
            if index and self.delay_s:
                await asyncio.sleep(self.delay_s)
            await send({"type": "http.response.body", "body": chunk, "more_body": True})
        await send({"type": "http.response.body", "body": b"", "more_body": False})


def stream_for(
    script: Script,
    chunks: Sequence[bytes],
    *,
    media_type: str,
    headers: Mapping[str, str] | None = None,
) -> ScriptedStream:
    """The stream a script asks for: `cut-stream` keeps only the first half of the chunks."""
    cut_after = max(1, len(chunks) // 2) if script.cut_stream else None
    return ScriptedStream(
        chunks,
        media_type=media_type,
        delay_s=script.delay_s,
        cut_after=cut_after,
        headers=headers,
    )


async def before_answer(request: Request, script: Script) -> None:
    """Apply `hang` (wait for the client to go away) and `slow-MS` before any answer."""
    if script.hang:
        try:
            async with asyncio.timeout(_HANG_LIMIT_S):
                while (await request.receive())["type"] != "http.disconnect":
                    pass
        except TimeoutError:
            pass
    elif script.delay_s:
        await asyncio.sleep(script.delay_s)


def sse(data: Any, event: str | None = None, *, sep: str = "\n\n") -> bytes:
    """One server-sent event; `data` is JSON-encoded unless it is already a string."""
    payload = data if isinstance(data, str) else json.dumps(data, separators=(",", ":"))
    line_end = sep[: len(sep) // 2]
    head = f"event: {event}{line_end}" if event else ""
    return f"{head}data: {payload}{line_end}{line_end}".encode()


def halfway(items: Sequence[Any]) -> int:
    """Index at which scripted mid-stream failures happen."""
    return max(1, len(items) // 2)
