"""The pyreqwest transport behind `HttpClient` (`REQ_LLM_GATEWAY_HTTP_CLIENT=pyreqwest`, the `fast` extra):
Rust's reqwest (hyper, rustls) with one client per (connect, read) timeout pair, and the map from
pyreqwest's exceptions to the kinds of failure `_http.py` words.

TLS: rustls verifying with rustls-platform-verifier, which on Linux loads the system's CA store through
rustls-native-certs (`SSL_CERT_FILE` / `SSL_CERT_DIR` honoured, else OpenSSL's usual bundle paths), as
aiohttp's OpenSSL context does.
"""

from __future__ import annotations

import gc
from collections.abc import Mapping
from datetime import timedelta
from typing import Literal

from pyreqwest.client import Client, ClientBuilder
from pyreqwest.exceptions import (
    BodyDecodeError,
    ClientClosedError,
    ConnectError,
    NetworkError,
    PyreqwestError,
    ReadError,
    RequestError,
)
from pyreqwest.request import StreamRequest
from pyreqwest.response import Response as _Answer

__all__ = ["ReqwestTransport", "failure"]

Failure = Literal["timeout", "cut_off", "unreachable", "unreadable"]


class Whole:
    """An answer read whole inside `post` (its connection is back in the pool already)."""

    __slots__ = ("_resp", "headers", "status")

    def __init__(self, resp: _Answer) -> None:
        self._resp = resp
        self.status = resp.status
        self.headers: Mapping[str, str] = resp.headers

    async def read(self) -> bytes:
        return (await self._resp.bytes()).to_bytes()

    async def read_chunk(self) -> bytes:  # pragma: no cover - streams are posted with stream=True
        raise RuntimeError("a whole answer has no chunks: post it with stream=True")

    def release(self) -> None:
        pass

    async def close(self) -> None:
        pass


class Streamed:
    """An answer whose body is read as it arrives; `close` before its end drops the connection."""

    __slots__ = ("_open", "_request", "_resp", "_transport", "headers", "status")

    def __init__(self, transport: ReqwestTransport, request: StreamRequest, resp: _Answer) -> None:
        self._transport = transport
        self._request = request
        self._resp = resp
        self._open = True
        self.status = resp.status
        self.headers: Mapping[str, str] = resp.headers

    async def read(self) -> bytes:
        return (await self._resp.body_reader.bytes()).to_bytes()

    async def read_chunk(self) -> bytes:
        chunk = await self._resp.body_reader.read_chunk()
        return b"" if chunk is None else chunk.to_bytes()

    def release(self) -> None:
        pass  # `close` ends every stream

    async def close(self) -> None:
        if self._open:
            self._open = False
            self._transport.streams -= 1
            await self._request.__aexit__(None, None, None)


class ReqwestTransport:
    """pyreqwest clients, one per (connect, read) timeout pair (its read timeout is client-wide): each
    with up to `pool_size` connections in flight and as many kept alive for 30 s, no redirects, no
    proxy (not even from the environment), no cookies, gzip and deflate decoded as aiohttp does, and a
    User-Agent header left empty (reqwest always sends one; pyreqwest's default names itself)."""

    def __init__(self, pool_size: int) -> None:
        self.pool_size = pool_size
        self.closed = False
        self.streams = 0  # streamed answers not closed yet
        self.posting = 0  # requests waiting for their answer (a whole one: its body too)
        self._clients: dict[tuple[float, float], Client] = {}

    def in_use(self) -> int:
        return self.streams + self.posting

    def _client(self, timeouts: tuple[float, float]) -> Client:
        connect, read = timeouts
        client = self._clients[timeouts] = (
            ClientBuilder().connect_timeout(timedelta(seconds=connect)).read_timeout(timedelta(seconds=read))
            .max_connections(self.pool_size).pool_max_idle_per_host(self.pool_size)
            .pool_idle_timeout(timedelta(seconds=30)).follow_redirects(False).referer(False).no_proxy()
            .user_agent("").brotli(False).zstd(False).build()
        )
        return client

    async def post(self, url: str, body: bytes, headers: Mapping[str, str], timeouts: tuple[float, float],
                   stream: bool) -> Whole | Streamed:
        client = self._clients.get(timeouts) or self._client(timeouts)
        # The URL is a str: pyreqwest parses it without re-encoding what is percent-encoded already.
        builder = client.post(url).headers(headers).body_bytes(body)
        self.posting += 1
        try:
            if not stream:
                return Whole(await builder.build().send())
            # A read buffer of 0: the head comes back at once and each chunk as it arrives (by default
            # pyreqwest holds chunks back until 64 KiB have gathered).
            request = builder.streamed_read_buffer_limit(0).build_streamed()
            resp = await request.__aenter__()
            self.streams += 1
            return Streamed(self, request, resp)
        finally:
            self.posting -= 1

    async def close(self) -> None:
        self.closed = True
        clients, self._clients = list(self._clients.values()), {}
        for client in clients:
            await client.close()
        # After a failed TLS handshake, pyreqwest objects can linger in reference cycles (an exception and
        # its traceback); collected only while the interpreter shuts down, they abort it (SIGABRT:
        # "PyGILState_Release: thread state must be current"). Collect them now, while that is safe.
        gc.collect()


def failure(exc: BaseException, reading: bool) -> Failure | None:
    """What went wrong, from one of pyreqwest's exceptions; None for an exception that is not pyreqwest's.

    A body that breaks off is a `ReadError` or a `BodyDecodeError` (inside `post` too, which reads a
    whole answer's body); a connection closed before the head is a `ConnectError`."""
    if isinstance(exc, TimeoutError):  # RequestTimeoutError: connect, head, or between two reads of the body
        return "timeout"
    if isinstance(exc, (ReadError, BodyDecodeError)) or (reading and isinstance(exc, RequestError)):
        return "cut_off"  # reading a stream, a body that fails to decode is a plain RequestError
    if isinstance(exc, (ConnectError, NetworkError, ClientClosedError, OSError)):
        return "unreachable"
    if isinstance(exc, PyreqwestError):
        return "unreadable"  # a head that is not HTTP (DecodeError), a URL reqwest refuses (BuilderError)
    return None
