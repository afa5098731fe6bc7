"""Record every request a fake receives, so tests can assert on the exact upstream request.

`fake_app(routes)` builds a Starlette app whose `app.state.received` is a list of
`RecordedRequest`, appended in arrival order (also for 4xx and unknown paths).
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qsl

from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.routing import BaseRoute
from starlette.types import ASGIApp, Message, Receive, Scope, Send


@dataclass(frozen=True)
class RecordedRequest:
    """One request as the fake saw it on the wire."""

    method: str
    path: str
    query: dict[str, str]
    headers: dict[str, str]
    body: bytes
    json: Any = field(default=None)
    raw_path: str = ""  # as sent, percent-escapes kept: `/model/a.b-v1%3A0/converse`


class RecordingMiddleware:
    """Pure ASGI middleware: buffer the body, record the request, replay it downstream."""

    def __init__(self, app: ASGIApp, received: list[RecordedRequest]) -> None:
        self.app = app
        self.received = received

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        chunks: list[bytes] = []
        while True:
            message = await receive()
            if message["type"] != "http.request":
                break
            chunks.append(message.get("body", b""))
            if not message.get("more_body", False):
                break
        body = b"".join(chunks)
        self.received.append(_record(scope, body))
        replayed = False

        async def replay() -> Message:
            nonlocal replayed
            if not replayed:
                replayed = True
                return {"type": "http.request", "body": body, "more_body": False}
            return await receive()  # blocks until the client disconnects

        await self.app(scope, replay, send)


def _record(scope: Scope, body: bytes) -> RecordedRequest:
    headers: dict[str, str] = {}
    for raw_name, raw_value in scope["headers"]:
        name, value = raw_name.decode("latin-1").lower(), raw_value.decode("latin-1")
        headers[name] = f"{headers[name]}, {value}" if name in headers else value
    raw_path = scope.get("raw_path", b"").decode("latin-1") or scope["path"]
    query = dict(
        parse_qsl(scope.get("query_string", b"").decode("latin-1"), keep_blank_values=True)
    )
    try:
        parsed = json.loads(body) if body else None
    except ValueError:
        parsed = None
    return RecordedRequest(scope["method"], scope["path"], query, headers, body, parsed, raw_path)


def fake_app(routes: Sequence[BaseRoute]) -> Starlette:
    """A Starlette app with recording wired in: `app.state.received` lists every request."""
    received: list[RecordedRequest] = []
    app = Starlette(
        routes=list(routes),
        middleware=[Middleware(RecordingMiddleware, received=received)],
    )
    app.state.received = received
    return app
