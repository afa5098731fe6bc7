"""How `serve` guards its sockets against slow or oversized clients, below the ASGI app: uvicorn's
httptools protocol with a cap on the request head's size (431) and a deadline for it to arrive
(REQ_LLM_GATEWAY_MAX_HEADER_BYTES, REQ_LLM_GATEWAY_CLIENT_TIMEOUT). The body's deadline is the app's.
Each refusal emits the rejected event, with `app` None: it happens below any app."""

from __future__ import annotations

import asyncio
import time
from typing import Any, ClassVar

from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

from . import telemetry
from .config import Settings
from .events import REQUEST_REJECTED

__all__ = ["GuardedHttpToolsProtocol"]

_431_BODY = (b'{"error":{"message":"The request headers are too large.","type":"invalid_request_error",'
             b'"param":null,"code":"headers_too_large"}}')
_431 = (b"HTTP/1.1 431 Request Header Fields Too Large\r\ncontent-type: application/json\r\nconnection: close\r\n"
        b"content-length: " + str(len(_431_BODY)).encode() + b"\r\n\r\n" + _431_BODY)
_408 = b"HTTP/1.1 408 Request Timeout\r\ncontent-length: 0\r\nconnection: close\r\n\r\n"


class GuardedHttpToolsProtocol(HttpToolsProtocol):
    # (max head bytes, seconds allowed for the head); None: from the settings, read once per process.
    limits: ClassVar[tuple[int, float] | None] = None

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        cls = type(self)
        if cls.limits is None:
            settings = Settings.from_serve()
            cls.limits = (settings.max_header_bytes, settings.client_timeout)
        self.max_head, self.head_timeout = cls.limits
        self._head_bytes = 0
        self._head_too_large = False
        self._head_timer: asyncio.TimerHandle | None = None

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        self._arm()

    def _arm(self) -> None:
        self._disarm()
        self._head_timer = self.loop.call_later(self.head_timeout, self._head_timed_out)

    def _disarm(self) -> None:
        if self._head_timer is not None:
            self._head_timer.cancel()
            self._head_timer = None

    def _head_timed_out(self) -> None:
        self._head_timer = None
        if not self.transport.is_closing():
            _rejected(408, "request_timeout")
            self.transport.write(_408)
            self.transport.close()

    def on_message_begin(self) -> None:
        super().on_message_begin()
        self._head_bytes = 0
        if self._head_timer is None:  # a keep-alive connection's next request: its head is on the clock too
            self._arm()

    def on_url(self, url: bytes) -> None:
        self._count(len(url))
        super().on_url(url)

    def on_header(self, name: bytes, value: bytes) -> None:
        self._count(len(name) + len(value) + 4)
        super().on_header(name, value)

    def _count(self, n: int) -> None:
        self._head_bytes += n
        if self._head_bytes > self.max_head:
            self._head_too_large = True
            raise ValueError("request head too large")  # httptools stops parsing; see send_400_response

    def on_headers_complete(self) -> None:
        self._disarm()
        super().on_headers_complete()

    def send_400_response(self, msg: str) -> None:
        if self._head_too_large:
            self._disarm()
            _rejected(431, "headers_too_large")
            self.transport.write(_431)
            self.transport.close()
            return
        super().send_400_response(msg)

    def connection_lost(self, exc: Exception | None) -> None:
        self._disarm()
        super().connection_lost(exc)


def _rejected(status: int, code: str) -> None:
    telemetry.execute(REQUEST_REJECTED, {"system_time": time.time_ns()},
                      {"status": status, "code": code, "route": "", "request_id": "", "app": None})
