"""The shared upstream HTTP client and `HttpProvider`, which composes a `WireFormat`.

`HttpClient` sends through one transport, chosen by `REQ_LLM_GATEWAY_HTTP_CLIENT`: aiohttp
(`_transport_aiohttp.py`, the default) or pyreqwest (`_transport_reqwest.py`, the `fast` extra), imported
only when chosen. Each transport sorts its library's exceptions into kinds of failure; this module alone
turns those into the gateway's error tree.
"""

from __future__ import annotations

import email.utils
import importlib
import time
from collections.abc import AsyncGenerator, AsyncIterator, Callable, Mapping
from typing import Any, Literal, NoReturn, Protocol

import orjson

from ..config import HTTP_CLIENTS, ConfigError, Endpoint
from ..errors import GatewayError, UpstreamError, UpstreamTimeout, UpstreamUnavailable
from ..types import ChatChunk, ChatRequest, ChatResponse
from .base import UpstreamRequest, WireFormat

__all__ = ["HeaderCache", "HttpClient", "HttpProvider", "Response", "Transport", "error_from_status",
           "retry_after_seconds"]

Failure = Literal["timeout", "cut_off", "unreachable", "unreadable"]

# Library name -> (its transport module, the class in it, the extra that installs the library).
_TRANSPORTS: dict[str, tuple[str, str, str | None]] = {
    "aiohttp": ("_transport_aiohttp", "AiohttpTransport", None),
    "pyreqwest": ("_transport_reqwest", "ReqwestTransport", "fast"),
}
assert set(_TRANSPORTS) == set(HTTP_CLIENTS)


class Response(Protocol):
    """An upstream's answer, its head read: `headers` is a case-insensitive mapping."""

    status: int
    headers: Mapping[str, str]

    async def read(self) -> bytes:
        """The whole (rest of the) body."""

    async def read_chunk(self) -> bytes:
        """The body bytes that have arrived (at least one), waiting for some; b"" at the end."""

    def release(self) -> None:
        """After `read`: the connection goes back to the pool."""

    async def close(self) -> None:
        """The connection goes back to the pool if the body was read to its end, else it is dropped
        (a stream given up: the upstream stops generating)."""


class Transport(Protocol):
    """One HTTP client library: a keep-alive pool, no redirects, no cookies, no proxy from the
    environment, no User-Agent of its own, gzip decoded, the URL sent exactly as given."""

    closed: bool

    async def post(self, url: str, body: bytes, headers: Mapping[str, str], timeouts: tuple[float, float],
                   stream: bool) -> Response:
        """POST and wait for the head; `timeouts` = (connect, longest wait for the next bytes); a
        `stream=False` answer may be read whole before this returns."""

    def in_use(self) -> int:
        """Connections checked out of the pool (or requests holding one)."""

    async def close(self) -> None: ...


class HttpClient:
    """One transport (a pooled, keep-alive HTTP client) per event loop, created on first use.

        http = HttpClient(settings.http_client)      # "aiohttp" or "pyreqwest"

    Lazy creation lets the app work when mounted in a host app whose lifespan never reaches ours.
    """

    def __init__(self, library: str = "aiohttp", *, connect_timeout: float = 10.0, pool_size: int = 1000) -> None:
        self.library = library
        self.connect_timeout = connect_timeout
        self.pool_size = pool_size
        module_name, class_name, extra = _TRANSPORTS[library]
        try:
            module = importlib.import_module(f".{module_name}", __package__)
        except ImportError as exc:
            raise ConfigError(f"REQ_LLM_GATEWAY_HTTP_CLIENT={library} needs its extra: "
                              f"pip install 'req-llm-gateway[{extra}]'") from exc
        self._factory: Callable[[int], Transport] = getattr(module, class_name)
        self.failure: Callable[[BaseException, bool], Failure | None] = module.failure
        self._transport: Transport | None = None

    @property
    def transport(self) -> Transport:
        t = self._transport
        if t is None or t.closed:
            t = self._transport = self._factory(self.pool_size)
        return t

    def in_use(self) -> int:
        """Upstream connections checked out now (0 when idle: nothing leaked)."""
        return 0 if self._transport is None else self._transport.in_use()

    async def close(self) -> None:
        if self._transport is not None and not self._transport.closed:
            await self._transport.close()
        self._transport = None


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
        headers = dict(build(ep))  # a dict: the clients read a dict's items fastest
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
        # Connect, then the longest wait for the next bytes (the head, or more of the body): not a total.
        self.timeouts = (http.connect_timeout, endpoint.timeout or read_timeout)

    async def _post(self, up: UpstreamRequest, *, stream: bool = False) -> Response:
        """POST `up`; the answer with its head read (`stream=False`: maybe its body too)."""
        try:
            # No redirects: a redirect could carry the provider's key to a host nobody configured.
            # The URL is sent exactly as built (a SigV4 signature covers its percent-encoding).
            return await self.http.transport.post(up.url, up.body, up.headers, self.timeouts, stream)
        except Exception as exc:
            raise self._transport_error(exc) from exc

    async def _read(self, resp: Response) -> bytes:
        """The whole body of `resp`."""
        try:
            return await resp.read()
        except Exception as exc:
            raise self._transport_error(exc, reading=True) from exc

    async def _refuse(self, resp: Response) -> NoReturn:
        """Raise the provider's error for a non-2xx answer whose body is still to be read."""
        body = await self._read(resp)
        raise self.wire.error(self.id, resp.status, body, resp.headers)

    def _transport_error(self, exc: BaseException, *, reading: bool = False) -> GatewayError:
        """The gateway's error for an exception of the HTTP client (`reading`: of a body whose head came)."""
        if isinstance(exc, GatewayError):
            return exc
        kind = self.http.failure(exc, reading)
        if kind == "timeout":
            return UpstreamTimeout(f"The {self.id} provider did not answer in time.")
        if kind == "cut_off":
            return UpstreamError(f"The {self.id} provider's response was cut off.", upstream_body=repr(exc))
        if kind == "unreachable":
            return UpstreamUnavailable(f"The {self.id} provider could not be reached.", upstream_body=repr(exc))
        if kind == "unreadable":
            return UpstreamError(f"The {self.id} provider's response could not be read.", upstream_body=repr(exc))
        raise exc

    async def exchange(self, up: UpstreamRequest) -> tuple[int, Mapping[str, str], bytes]:
        """POST a request built elsewhere and read the whole answer: (status, headers, body), whatever
        the status (embeddings read headers: Bedrock's token count)."""
        resp = await self._post(up)
        try:
            body = await self._read(resp)
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
        resp = await self._post(up, stream=True)
        try:
            if resp.status >= 400:
                await self._refuse(resp)
            async for chunk in self._chunks(resp):
                yield chunk
        finally:
            await resp.close()

    async def complete(self, req: ChatRequest) -> ChatResponse:
        up = self.wire.build(req, self.endpoint)
        resp = await self._post(up)
        try:
            body = await self._read(resp)
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
        resp = await self._post(up, stream=True)
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
            await resp.close()  # drops the connection if the stream did not finish: the upstream stops generating

    async def _chunks(self, resp: Response) -> AsyncIterator[bytes]:
        """The body of `resp` chunk by chunk, as it arrives."""
        read = resp.read_chunk
        while True:
            try:
                chunk = await read()
            except Exception as exc:
                raise self._transport_error(exc, reading=True) from exc
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
