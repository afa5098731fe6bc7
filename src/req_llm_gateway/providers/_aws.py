"""AWS plumbing for Bedrock: SigV4 signing with botocore's signer, the binary event stream's frames,
and AWS error bodies (`x-amzn-ErrorType`) mapped to the gateway's error tree."""

from __future__ import annotations

from collections.abc import AsyncIterator, Mapping
from dataclasses import dataclass
from typing import Any

import orjson
from botocore.auth import SigV4Auth  # type: ignore[import-untyped]
from botocore.awsrequest import AWSRequest  # type: ignore[import-untyped]
from botocore.credentials import Credentials  # type: ignore[import-untyped]
from botocore.eventstream import EventStreamBuffer, ParserError  # type: ignore[import-untyped]

from ..errors import GatewayError, UpstreamError, UpstreamTimeout
from ._http import error_from_status

__all__ = ["Frame", "Signer", "aws_error", "frames", "stream_exception"]


class Signer:
    """SigV4 for one set of credentials and region, built once and reused for every request.

        Signer("AKID", "secret", None, "us-east-1").headers(url, body)  # Authorization, X-Amz-Date, ...
    """

    def __init__(self, access_key: str, secret_key: str, token: str | None, region: str,
                 service: str = "bedrock") -> None:
        self.region = region
        self._auth = SigV4Auth(Credentials(access_key, secret_key, token), service, region)

    def headers(self, url: str, body: bytes, headers: Mapping[str, str]) -> dict[str, str]:
        """`headers` plus the signature headers for a POST of `body` to `url` (already percent-encoded,
        sent as is: the signature covers the exact path)."""
        request = AWSRequest(method="POST", url=url, data=body, headers=dict(headers))
        self._auth.add_auth(request)
        return {k: v.decode() if isinstance(v, bytes) else str(v) for k, v in request.headers.items()}


@dataclass(frozen=True, slots=True)
class Frame:
    """One decoded event-stream message: `kind` is the `:message-type` (event, exception, error)."""

    kind: str
    name: str  # :event-type, :exception-type or :error-code
    payload: bytes
    error_message: str | None = None  # :error-message, for kind == "error"

    def json(self) -> Any:
        return orjson.loads(self.payload) if self.payload else {}


async def frames(chunks: AsyncIterator[bytes]) -> AsyncIterator[Frame]:
    """Decode `application/vnd.amazon.eventstream` (prelude, headers, payload, CRCs) with botocore's
    parser, as the bytes arrive; a corrupt frame is an `UpstreamError`."""
    buffer = EventStreamBuffer()
    async for chunk in chunks:
        buffer.add_data(chunk)
        try:
            for message in buffer:
                headers = message.headers
                kind = str(headers.get(":message-type", "event"))
                if kind == "event":
                    name = headers.get(":event-type", "")
                elif kind == "exception":
                    name = headers.get(":exception-type", "")
                else:
                    name = headers.get(":error-code", "")
                yield Frame(kind, str(name), message.payload,
                            str(headers[":error-message"]) if ":error-message" in headers else None)
        except ParserError as exc:
            raise UpstreamError("The bedrock provider sent a corrupt event-stream frame.",
                                upstream_body=repr(exc)) from exc


class ModelFailure(UpstreamError):
    """A model- or service-side Bedrock failure (ModelErrorException 424, ModelNotReadyException 429,
    5xx): AWS documents each as worth retrying, whatever its status."""

    @property
    def retryable(self) -> bool:
        return True


# AWS error type -> what the gateway answers. Types are matched without the namespace suffix
# (`ValidationException:http://internal.amazon.com/...`) and case-insensitively, because stream
# exceptions arrive camel-cased (`throttlingException`).
_CREDENTIALS = {
    "accessdeniedexception", "unrecognizedclientexception", "invalidsignatureexception",
    "incompletesignature", "expiredtokenexception", "missingauthenticationtokenexception",
    "signaturedoesnotmatch", "invalidclienttokenid",
}
_FAILED = {
    "modelnotreadyexception", "serviceunavailableexception", "internalserverexception",
    "modelerrorexception", "modelstreamerrorexception",
}


def error_type(headers: Mapping[str, str], data: Any) -> str:
    """The AWS error type from `x-amzn-ErrorType`, else the body's `__type` / `code`."""
    raw = headers.get("x-amzn-errortype") or headers.get("x-amzn-ErrorType") or ""
    if not raw and isinstance(data, dict):
        raw = str(data.get("__type") or data.get("code") or "")
    return raw.split(":", 1)[0].rsplit("#", 1)[-1]


def aws_error(provider: str, status: int, body: bytes, headers: Mapping[str, str],
              etype: str | None = None) -> GatewayError:
    """Map a Bedrock error (HTTP or in-stream) to the gateway's tree, keeping `Retry-After`."""
    try:
        data: Any = orjson.loads(body) if body else {}
    except orjson.JSONDecodeError:
        data = {}
    etype = etype or error_type(headers, data)
    message = data.get("message") or data.get("Message") if isinstance(data, dict) else None
    message = message if isinstance(message, str) else None
    key = etype.lower()
    raw = body[:4096].decode("utf-8", "replace")
    if key in _CREDENTIALS:
        return UpstreamError(
            f"The {provider} provider rejected the gateway's AWS credentials ({etype}); check "
            "AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY, AWS_SESSION_TOKEN, the region and the IAM policy.",
            upstream_status=status, upstream_body=raw,
        )
    if key in ("throttlingexception", "servicequotaexceededexception"):
        return error_from_status(provider, 429, headers, message, body)
    if key == "modeltimeoutexception":
        return UpstreamTimeout(f"The {provider} provider's model did not answer in time ({etype}).")
    if key in _FAILED:
        return ModelFailure(
            f"The {provider} provider failed ({etype}).", upstream_status=status, upstream_body=raw,
            retry_after=error_from_status(provider, status, headers, None, body).retry_after,
        )
    if key == "validationexception":
        return error_from_status(provider, 400, headers, message, body, code="upstream_rejected")
    if key == "resourcenotfoundexception":
        return error_from_status(provider, 404, headers, message, body, code="model_not_found")
    return error_from_status(provider, status, headers, message, body)


# The HTTP status each in-stream exception type has when AWS sends it as a response instead.
_STREAM_STATUS = {
    "validationexception": 400, "throttlingexception": 429, "internalserverexception": 500,
    "modelstreamerrorexception": 424, "serviceunavailableexception": 503,
}


def stream_exception(provider: str, frame: Frame) -> GatewayError:
    """The error for an `exception` (or generic `error`) frame inside a ConverseStream."""
    if frame.kind == "error":
        body = orjson.dumps({"message": frame.error_message or ""})
    else:
        body = frame.payload
    status = _STREAM_STATUS.get(frame.name.lower(), 500)
    return aws_error(provider, status, body, {}, etype=frame.name[:1].upper() + frame.name[1:])
