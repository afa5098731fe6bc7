"""The gateway's one error tree; each class knows its HTTP status, OpenAI error `type` and `code`.

    GatewayError                      500 server_error
    ├── BadRequest                    400 invalid_request_error
    │   └── ProviderNotConfigured     400 invalid_request_error / provider_not_configured
    ├── Unauthorized                  401 authentication_error / invalid_api_key
    ├── BudgetExceeded                402 insufficient_quota / budget_exceeded (+ x-budget-* headers)
    ├── Forbidden                     403 permission_error / model_not_allowed
    ├── NotFound                      404 invalid_request_error / model_not_found
    ├── RequestTimeout                408 invalid_request_error / request_timeout
    ├── PayloadTooLarge               413 invalid_request_error / payload_too_large
    ├── RateLimited                   429 rate_limit_error / rate_limit_exceeded (+ Retry-After)
    ├── HeadersTooLarge               431 invalid_request_error / headers_too_large
    ├── UpstreamError                 502 upstream_error (or the upstream's 4xx, passed on)
    │   └── UpstreamUnavailable       502 upstream_error / upstream_unavailable (connect/reset)
    ├── ServiceUnavailable            503 server_error / service_unavailable (+ Retry-After)
    └── UpstreamTimeout               504 timeout_error
"""

from __future__ import annotations

from typing import Any

__all__ = [
    "BadRequest",
    "BudgetExceeded",
    "Forbidden",
    "GatewayError",
    "HeadersTooLarge",
    "NotFound",
    "PayloadTooLarge",
    "ProviderNotConfigured",
    "RateLimited",
    "RequestTimeout",
    "ServiceUnavailable",
    "Unauthorized",
    "UpstreamError",
    "UpstreamTimeout",
    "UpstreamUnavailable",
]


class GatewayError(Exception):
    """Base of every error the gateway turns into an HTTP response."""

    status: int = 500
    type: str = "server_error"
    code: str | None = None
    param: str | None = None

    def __init__(self, message: str, *, param: str | None = None, code: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        if param is not None:
            self.param = param
        if code is not None:
            self.code = code

    def headers(self) -> dict[str, str]:
        """Extra response headers this error carries (e.g. Retry-After)."""
        return {}

    def details(self) -> dict[str, Any]:
        """Extra fields shown only with `ERROR_VERBOSITY=detailed`."""
        return {}


class BadRequest(GatewayError):
    status = 400
    type = "invalid_request_error"


class ProviderNotConfigured(BadRequest):
    code = "provider_not_configured"


class Unauthorized(GatewayError):
    status = 401
    type = "authentication_error"
    code = "invalid_api_key"


class BudgetExceeded(GatewayError):
    """A spend budget would be exceeded. 402, not 429: the OpenAI SDKs retry a 429 on their own, which
    would turn a spent budget into a retry storm."""

    status = 402
    type = "insufficient_quota"
    code = "budget_exceeded"

    def __init__(self, message: str, *, code: str | None = None,
                 headers: dict[str, str] | None = None) -> None:
        super().__init__(message, code=code)
        self._headers = headers or {}

    def headers(self) -> dict[str, str]:
        return dict(self._headers)


class Forbidden(GatewayError):
    status = 403
    type = "permission_error"
    code = "model_not_allowed"


class NotFound(GatewayError):
    status = 404
    type = "invalid_request_error"
    code = "model_not_found"


class PayloadTooLarge(GatewayError):
    status = 413
    type = "invalid_request_error"
    code = "payload_too_large"

    def headers(self) -> dict[str, str]:
        return {"connection": "close"}  # the rest of the body is not read: drop the connection


class RequestTimeout(GatewayError):
    status = 408
    type = "invalid_request_error"
    code = "request_timeout"

    def headers(self) -> dict[str, str]:
        return {"connection": "close"}  # the rest of the body may still be on its way: drop the connection


class HeadersTooLarge(GatewayError):
    status = 431
    type = "invalid_request_error"
    code = "headers_too_large"


class RateLimited(GatewayError):
    status = 429
    type = "rate_limit_error"
    code = "rate_limit_exceeded"

    def __init__(
        self,
        message: str,
        *,
        retry_after: float | None = None,
        extra_headers: dict[str, str] | None = None,
        upstream_status: int | None = None,
    ) -> None:
        super().__init__(message)
        self.retry_after = retry_after
        self.extra_headers = extra_headers or {}
        self.upstream_status = upstream_status

    def headers(self) -> dict[str, str]:
        headers = dict(self.extra_headers)
        if self.retry_after is not None:
            headers["retry-after"] = str(max(0, int(-(-self.retry_after // 1))))
        return headers


class UpstreamError(GatewayError):
    """The provider answered with an error, or with something that is not its API."""

    status = 502
    type = "upstream_error"
    code = "upstream_error"

    def __init__(
        self,
        message: str,
        *,
        upstream_status: int | None = None,
        upstream_body: str | None = None,
        retry_after: float | None = None,
        status: int | None = None,
        type: str | None = None,
        code: str | None = None,
        param: str | None = None,
    ) -> None:
        super().__init__(message, param=param, code=code)
        self.upstream_status = upstream_status
        self.upstream_body = upstream_body
        self.retry_after = retry_after
        if status is not None:
            self.status = status
        if type is not None:
            self.type = type

    @property
    def retryable(self) -> bool:
        """Connection errors, 429 and 5xx are worth another attempt; a 4xx is not."""
        s = self.upstream_status
        return s is None or s == 429 or s >= 500

    def headers(self) -> dict[str, str]:
        if self.retry_after is None:
            return {}
        return {"retry-after": str(max(0, int(-(-self.retry_after // 1))))}

    def details(self) -> dict[str, Any]:
        out: dict[str, Any] = {}
        if self.upstream_status is not None:
            out["upstream_status"] = self.upstream_status
        if self.upstream_body is not None:
            out["upstream_body"] = self.upstream_body[:4096]
        return out


class UpstreamUnavailable(UpstreamError):
    code = "upstream_unavailable"


class ServiceUnavailable(GatewayError):
    status = 503
    type = "server_error"
    code = "service_unavailable"

    def __init__(self, message: str, *, retry_after: float | None = None, code: str | None = None) -> None:
        super().__init__(message, code=code)
        self.retry_after = retry_after

    def headers(self) -> dict[str, str]:
        if self.retry_after is None:
            return {}
        return {"retry-after": str(max(1, int(-(-self.retry_after // 1))))}


class UpstreamTimeout(GatewayError):
    status = 504
    type = "timeout_error"
    code = "upstream_timeout"
