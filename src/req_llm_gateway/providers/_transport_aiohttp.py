"""The aiohttp transport behind `HttpClient` (`REQ_LLM_GATEWAY_HTTP_CLIENT=aiohttp`, the default): one pooled
keep-alive `ClientSession`, and the map from aiohttp's exceptions to the kinds of failure `_http.py` words."""

from __future__ import annotations

import asyncio
from collections.abc import Mapping
from typing import Literal

import aiohttp
import yarl

__all__ = ["AiohttpTransport", "failure"]

Failure = Literal["timeout", "cut_off", "unreachable", "unreadable"]


class Response:
    """An aiohttp answer as `_http.Response`: status and headers at once, the body read on demand."""

    __slots__ = ("_resp", "headers", "status")

    def __init__(self, resp: aiohttp.ClientResponse) -> None:
        self._resp = resp
        self.status = resp.status
        self.headers: Mapping[str, str] = resp.headers

    async def read(self) -> bytes:
        return await self._resp.read()

    async def read_chunk(self) -> bytes:
        return await self._resp.content.readany()  # what has arrived, at least one byte; b"" at the end

    def release(self) -> None:
        self._resp.release()

    async def close(self) -> None:
        self._resp.close()  # drops the connection unless the body was read to its end


class AiohttpTransport:
    """One aiohttp session: a pool of `pool_size` keep-alive connections, no cookies, no User-Agent,
    no proxy from the environment (trust_env is off), gzip and deflate decoded."""

    def __init__(self, pool_size: int) -> None:
        connector = aiohttp.TCPConnector(limit=pool_size, limit_per_host=0, ttl_dns_cache=300, keepalive_timeout=30)
        self.session = aiohttp.ClientSession(
            connector=connector, timeout=aiohttp.ClientTimeout(total=None), auto_decompress=True,
            skip_auto_headers=("User-Agent",), cookie_jar=aiohttp.DummyCookieJar(),
        )
        self._timeouts: dict[tuple[float, float], aiohttp.ClientTimeout] = {}

    @property
    def closed(self) -> bool:
        return self.session.closed

    def in_use(self) -> int:
        """Connections checked out of the pool (aiohttp keeps no public count)."""
        return len(self.session.connector._acquired) if self.session.connector is not None else 0

    async def post(self, url: str, body: bytes, headers: Mapping[str, str], timeouts: tuple[float, float],
                   stream: bool) -> Response:
        timeout = self._timeouts.get(timeouts)
        if timeout is None:
            connect, read = timeouts
            timeout = self._timeouts[timeouts] = aiohttp.ClientTimeout(total=None, sock_connect=connect, sock_read=read)
        resp = await self.session.post(yarl.URL(url, encoded=True), data=body, headers=headers, timeout=timeout,
                                       allow_redirects=False)
        return Response(resp)

    async def close(self) -> None:
        if not self.session.closed:
            await self.session.close()


def failure(exc: BaseException, reading: bool) -> Failure | None:
    """What went wrong, from one of aiohttp's exceptions; None for an exception that is not aiohttp's."""
    if isinstance(exc, (asyncio.TimeoutError, aiohttp.ServerTimeoutError)):
        return "timeout"
    if isinstance(exc, aiohttp.ClientPayloadError):
        return "cut_off"
    if isinstance(exc, (aiohttp.ClientConnectionError, OSError)):
        return "unreachable"
    if isinstance(exc, aiohttp.ClientError):
        return "unreadable"
    return None
