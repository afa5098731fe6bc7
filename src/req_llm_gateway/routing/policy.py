"""What an upstream failure means for routing: retry the same deployment, move on to the next
candidate, or stop; and what it says about the deployment's health (its circuit breaker's verdict)."""

from __future__ import annotations

from ..errors import GatewayError, UpstreamError, UpstreamTimeout

__all__ = ["health_verdict", "worth_moving_on", "worth_retrying"]


def worth_retrying(exc: BaseException) -> bool:
    """Connection errors, timeouts, 429 and 5xx: the same request may well succeed a moment later."""
    if isinstance(exc, UpstreamTimeout):
        return True
    return isinstance(exc, UpstreamError) and exc.retryable


def worth_moving_on(exc: BaseException) -> bool:
    """The upstream failed, not the client's request: retryable errors, the gateway's credentials
    refused (401/403), a response that is not the provider's API. Another deployment may answer."""
    if worth_retrying(exc):
        return True
    if isinstance(exc, UpstreamError):
        status = exc.upstream_status
        return status is None or status in (401, 403) or status < 400
    return False


def health_verdict(exc: GatewayError) -> bool | None:
    """What a client request that ended in `exc` says about the deployment: False (unhealthy) for
    connection errors, timeouts, 5xx/529 and malformed responses; None (no verdict) for 429, which is
    back-pressure, never a reason to open a circuit; True for any other answer (the deployment is up)."""
    if isinstance(exc, UpstreamTimeout):
        return False
    if not isinstance(exc, UpstreamError):
        return True
    status = exc.upstream_status
    if status == 429:
        return None
    return not (status is None or status >= 500 or status < 400)
