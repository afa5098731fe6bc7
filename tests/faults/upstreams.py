"""Upstream faults the fake OpenAI API does not script by itself: failures that pass after N calls (or
never, with no Retry-After), a server that resets every connection, and a port nobody listens on."""

from __future__ import annotations

import json
import socket
import struct
import threading
from collections import Counter
from types import TracebackType

from starlette.types import ASGIApp, Message, Receive, Scope, Send


class Flaky:
    """ASGI wrapper: a model named `...-flaky-<n>-<status>...` answers <status> with OpenAI's error body
    and no Retry-After for its first <n> calls; later calls (and other models) reach the wrapped fake."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app
        self.calls: Counter[str] = Counter()

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        body = b""
        while True:
            message = await receive()
            body += message.get("body", b"")
            if not message.get("more_body"):
                break
        model = _model(body)
        failures, status = _script(model)
        self.calls[model] += 1
        if status and self.calls[model] <= failures:
            payload = json.dumps({"error": {"message": f"Scripted failure {status}.", "type": "server_error",
                                            "param": None, "code": None}}).encode()
            await send({"type": "http.response.start", "status": status,
                        "headers": [(b"content-type", b"application/json")]})
            await send({"type": "http.response.body", "body": payload})
            return
        replayed = False

        async def replay() -> Message:
            nonlocal replayed
            if not replayed:
                replayed = True
                return {"type": "http.request", "body": body, "more_body": False}
            return await receive()

        await self.app(scope, replay, send)


def _model(body: bytes) -> str:
    try:
        data = json.loads(body)
    except ValueError:
        return ""
    return str(data.get("model", "")) if isinstance(data, dict) else ""


def _script(model: str) -> tuple[int, int | None]:
    parts = model.split("-")
    for i, part in enumerate(parts[:-2]):
        if part == "flaky" and parts[i + 1].isdigit() and parts[i + 2].isdigit():
            return int(parts[i + 1]), int(parts[i + 2])
    return 0, None


class ResetServer:
    """Accepts each connection, reads the request head, then resets the connection (RST, no answer)."""

    def __init__(self) -> None:
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(64)
        self.port = self.sock.getsockname()[1]
        self.url = f"http://127.0.0.1:{self.port}"
        self.accepted = 0
        self._thread = threading.Thread(target=self._serve, daemon=True, name=f"reset-{self.port}")

    def _serve(self) -> None:
        while True:
            try:
                conn, _ = self.sock.accept()
            except OSError:
                return
            self.accepted += 1
            try:
                conn.settimeout(2)
                conn.recv(65536)
            except OSError:
                pass
            conn.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
            conn.close()

    def __enter__(self) -> ResetServer:
        self._thread.start()
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        try:
            self.sock.shutdown(socket.SHUT_RDWR)  # wakes the blocked accept()
        except OSError:
            pass
        self.sock.close()
        self._thread.join(2)


def refused_port() -> int:
    """A loopback port with nothing listening (connections are refused)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])
