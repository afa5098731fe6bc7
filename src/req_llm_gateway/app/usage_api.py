"""`GET /v1/usage`: usage rows and their totals, filtered by date range, provider, model and key name.

    GET /v1/usage?start=2025-01-01&end=2025-01-31&provider=openai&limit=100
    -> {"object": "usage", "rows": [...], "totals": {...}, "truncated": false, ...}   (money as decimal strings)
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping

from starlette.requests import Request
from starlette.responses import Response

from ..errors import BadRequest, GatewayError, ServiceUnavailable
from ..usage import UsageQuery, UsageStore, UsageStoreUnavailable
from ..usage.report import read_report
from .responses import Redactor, error_body
from .routes import JSONResponse

__all__ = ["parse_usage_query", "usage_endpoint"]

DEFAULT_LIMIT = 1000
MAX_LIMIT = 100_000


def _date(params: Mapping[str, str], name: str) -> dt.date | None:
    raw = params.get(name)
    if raw is None or raw == "":
        return None
    try:
        return dt.date.fromisoformat(raw)
    except ValueError:
        raise BadRequest(f"'{name}' must be a date as YYYY-MM-DD, got {raw!r}.", param=name) from None


def parse_usage_query(params: Mapping[str, str], aliases: Mapping[str, str] | None = None) -> UsageQuery:
    """The query string as a `UsageQuery`; `BadRequest` names the faulty parameter."""
    start, end = _date(params, "start"), _date(params, "end")
    if start and end and start > end:
        raise BadRequest(f"'start' ({start}) is after 'end' ({end}).", param="start")
    raw_limit = params.get("limit") or str(DEFAULT_LIMIT)
    if not raw_limit.isdigit() or not 1 <= int(raw_limit) <= MAX_LIMIT:
        raise BadRequest(f"'limit' must be an integer from 1 to {MAX_LIMIT}, got {raw_limit!r}.", param="limit")
    provider = params.get("provider") or None
    if provider is not None:
        provider = provider.lower()
        provider = (aliases or {}).get(provider, provider)
    return UsageQuery(start, end, provider, params.get("model") or None, params.get("key_name"), int(raw_limit))


def usage_endpoint(store: UsageStore, aliases: Mapping[str, str], detailed: bool, redact: Redactor):  # type: ignore[no-untyped-def]
    async def usage(request: Request) -> Response:
        """Rows newest first; `totals` sums every matching row, also those past `limit`."""
        try:
            q = parse_usage_query(request.query_params, aliases)
            try:
                report = await read_report(store, q)
            except UsageStoreUnavailable as exc:
                raise ServiceUnavailable(f"The usage store is unavailable; usage is buffered and retried. ({exc})",
                                         code="usage_store_unavailable") from exc
        except GatewayError as err:
            return Response(error_body(err, detailed, redact), status_code=err.status, media_type="application/json")
        return JSONResponse(report.to_json())

    return usage
