"""The shared upstream HTTP client (pooled aiohttp) and `HttpProvider`, which composes a `WireFormat`.

This module alone maps the HTTP client's exceptions to the gateway's error tree.
"""

from __future__ import annotations

import asyncio
import email.utils
import time
from collections.abc import AsyncGenerator, AsyncIterator, Callable, Mapping
from typing import Any, NoReturn

import aiohttp
import orjson
import yarl

from ..config import Endpoint
from ..errors import GatewayError, UpstreamError, UpstreamTimeout, UpstreamUnavailable
from ..types import ChatChunk, ChatRequest, ChatResponse
from .base import UpstreamRequest, WireFormat

__all__ = ["HeaderCache", "HttpClient", "HttpProvider", "error_from_status", "retry_after_seconds"]


class HttpClient:
    """One pooled, keep-alive aiohttp session per event loop, created on first use.

    Lazy creation lets the app work when mounted in a host app whose lifespan never reaches ours.
    """

    def __init__(self, *, connect_timeout: float = 10.0, pool_size: int = 1000) -> None:
        self.connect_timeout = connect_timeout
        self.pool_size = pool_size
        self._session: aiohttp.ClientSession | None = None

    @property
    def session(self) -> aiohttp.ClientSession:
        s = self._session
        if s is None or s.closed:
            connector = aiohttp.TCPConnector(
                limit=self.pool_size, limit_per_host=0, ttl_dns_cache=300, keepalive_timeout=30
            )
            s = self._session = aiohttp.ClientSession(
                connector=connector, timeout=aiohttp.ClientTimeout(total=None), auto_decompress=True,
                skip_auto_headers=("User-Agent",), cookie_jar=aiohttp.DummyCookieJar(),
            )
        return s

    async def close(self) -> None:
        if self._session is not None and not self._session.closed:
            await self._session.close()
        self._session = None


class HeaderCache:
    """Upstream headers built once per endpoint: they depend on the endpoint alone (its key, its options).

        headers = cache.get(ep, wire.headers)
    """

    def __init__(self) -> None:
        # id -> (endpoint, headers): holding the endpoint keeps its id from being reused by another
        self._by_id: dict[int, tuple[Endpoint, Mapping[str, str]]] = {}

    def get(self, ep: Endpoint, build: Callable[[Endpoint], Mapping[str, str]]) -> Mapping[str, str]:
        hit = self._by_id.get(id(ep))
        if hit is not None and hit[0] is ep:
            return hit[1]
        headers = dict(build(ep))  # a dict: aiohttp reads a dict's items, not any Mapping's
        self._by_id[id(ep)] = (ep, headers)
        return headers


def retry_after_seconds(headers: Mapping[str, str]) -> float | None:
    """`Retry-After` (seconds or an HTTP date) or `retry-after-ms`, in seconds."""
    ms = headers.get("retry-after-ms")
    if ms:
        try:
            return max(0.0, float(ms) / 1000)
        except ValueError:
            pass
    value = headers.get("retry-after")
    if not value:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        try:
            when = email.utils.parsedate_to_datetime(value)
        except (TypeError, ValueError):
            return None
        return max(0.0, when.timestamp() - time.time())


def error_from_status(
    provider: str, status: int, headers: Mapping[str, str], message: str | None, body: bytes,
    *, code: str | None = None, param: str | None = None,
) -> UpstreamError:
    """Map an upstream error status to the gateway's tree. The upstream's own words reach the
    client only for a 4xx caused by the client's request; the raw body only under `detailed`."""
    raw = body[:4096].decode("utf-8", "replace")
    retry_after = retry_after_seconds(headers)
    if status == 429:
        return UpstreamError(
            f"The {provider} provider is rate limiting requests; retry later.", status=429,
            type="rate_limit_error", code="rate_limit_exceeded", upstream_status=status,
            upstream_body=raw, retry_after=retry_after,
        )
    if status in (401, 403):
        return UpstreamError(
            f"The {provider} provider rejected the gateway's credentials (status {status}); check its API key.",
            upstream_status=status, upstream_body=raw,
        )
    if 400 <= status < 500 and status != 408:
        text = message or f"The {provider} provider rejected the request (status {status})."
        return UpstreamError(
            text, status=status if status in (400, 404, 409, 413, 422) else 400, type="invalid_request_error",
            code=code or "upstream_rejected", param=param, upstream_status=status, upstream_body=raw,
        )
    return UpstreamError(
        f"The {provider} provider failed (status {status}).", upstream_status=status, upstream_body=raw,
        retry_after=retry_after,
    )


class HttpProvider:
    """A provider reached over HTTP: `WireFormat` translates, this class sends."""

    def __init__(self, endpoint: Endpoint, wire: WireFormat, http: HttpClient, read_timeout: float) -> None:
        self.id = endpoint.provider
        self.endpoint = endpoint
        self.wire = wire
        self.http = http
        self.timeout = aiohttp.ClientTimeout(
            total=None, sock_connect=http.connect_timeout, sock_read=endpoint.timeout or read_timeout
        )

    async def _post(self, up: UpstreamRequest) -> aiohttp.ClientResponse:
        try:
            # No redirects: a redirect could carry the provider's key to a host nobody configured.
            # The URL is sent exactly as built (a SigV4 signature covers its percent-encoding).
            return await self.http.session.post(
                yarl.URL(up.url, encoded=True), data=up.body, headers=up.headers, timeout=self.timeout,
                allow_redirects=False,
            )
        except Exception as exc:
            raise self._transport_error(exc) from exc

    async def _refuse(self, resp: aiohttp.ClientResponse) -> NoReturn:
        """Raise the provider's error for a non-2xx answer whose body is still to be read."""
        try:
            body = await resp.read()
        except Exception as exc:
            raise self._transport_error(exc) from exc
        raise self.wire.error(self.id, resp.status, body, resp.headers)

    def _transport_error(self, exc: BaseException) -> GatewayError:
        if isinstance(exc, GatewayError):
            return exc
        if isinstance(exc, (asyncio.TimeoutError, aiohttp.ServerTimeoutError)):
            return UpstreamTimeout(f"The {self.id} provider did not answer in time.")
        if isinstance(exc, aiohttp.ClientPayloadError):
            return UpstreamError(f"The {self.id} provider's response was cut off.", upstream_body=repr(exc))
        if isinstance(exc, (aiohttp.ClientConnectionError, OSError)):
            return UpstreamUnavailable(f"The {self.id} provider could not be reached.", upstream_body=repr(exc))
        if isinstance(exc, aiohttp.ClientError):
            return UpstreamError(f"The {self.id} provider's response could not be read.", upstream_body=repr(exc))
        raise exc

    async def exchange(self, up: UpstreamRequest) -> tuple[int, Mapping[str, str], bytes]:
        """POST a request built elsewhere and read the whole answer: (status, headers, body), whatever
        the status (embeddings read headers: Bedrock's token count)."""
        resp = await self._post(up)
        try:
            body = await resp.read()
        except Exception as exc:
            raise self._transport_error(exc) from exc
        finally:
            resp.release()
        return resp.status, resp.headers, body

    async def request(self, up: UpstreamRequest) -> bytes:
        """POST a request built elsewhere (another API of the same upstream, e.g. OpenAI Responses):
        the body of a 2xx answer, else the wire format's error."""
        status, headers, body = await self.exchange(up)
        if status >= 400:
            raise self.wire.error(self.id, status, body, headers)
        return body

    async def open(self, up: UpstreamRequest) -> AsyncGenerator[bytes, None]:
        """POST a request built elsewhere; the raw body chunks of a 2xx answer as they arrive."""
        resp = await self._post(up)
        try:
            if resp.status >= 400:
                await self._refuse(resp)
            async for chunk in self._chunks(resp):
                yield chunk
        finally:
            resp.close()

    async def complete(self, req: ChatRequest) -> ChatResponse:
        up = self.wire.build(req, self.endpoint)
        resp = await self._post(up)
        try:
            body = await resp.read()
        except Exception as exc:
            raise self._transport_error(exc) from exc
        finally:
            resp.release()
        if resp.status >= 400:
            raise self.wire.error(self.id, resp.status, body, resp.headers)
        try:
            return self.wire.parse(body, req)
        except GatewayError:
            raise
        except (ValueError, KeyError, TypeError, IndexError, AttributeError) as exc:
            raise UpstreamError(
                f"The {self.id} provider sent a response the gateway cannot read.",
                upstream_status=resp.status, upstream_body=body[:4096].decode("utf-8", "replace"),
            ) from exc

    async def stream(self, req: ChatRequest) -> AsyncGenerator[ChatChunk, None]:
        up = self.wire.build(req, self.endpoint)
        resp = await self._post(up)
        try:
            if resp.status >= 400:
                await self._refuse(resp)
            try:
                async for chunk in self.wire.parse_stream(self._chunks(resp), req):
                    yield chunk
            except GatewayError:
                raise
            except (ValueError, KeyError, TypeError, IndexError, AttributeError) as exc:
                raise UpstreamError(
                    f"The {self.id} provider sent a stream event the gateway cannot read.",
                    upstream_status=resp.status, upstream_body=repr(exc),
                ) from exc
        finally:
            resp.close()  # drops the connection if the stream did not finish: the upstream stops generating

    async def _chunks(self, resp: aiohttp.ClientResponse) -> AsyncIterator[bytes]:
        content = resp.content
        while True:
            try:
                chunk = await content.readany()
            except Exception as exc:
                raise self._transport_error(exc) from exc
            if not chunk:
                return
            yield chunk


def openai_error_fields(body: bytes) -> tuple[str | None, str | None, str | None]:
    """(message, code, param) from an OpenAI-shaped error body, if it is one."""
    try:
        data: Any = orjson.loads(body)
    except orjson.JSONDecodeError:
        return None, None, None
    err = data.get("error") if isinstance(data, dict) else None
    if isinstance(err, dict):
        msg = err.get("message")
        code = err.get("code")
        return (
            msg if isinstance(msg, str) else None,
            code if isinstance(code, str) else None,
            err.get("param") if isinstance(err.get("param"), str) else None,
        )
    if isinstance(err, str):
        return err, None, None
    return None, None, None
