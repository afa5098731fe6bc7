"""`GET /health` (liveness) and `GET /health?ready=1` (readiness): whether the usage store and the
rate-limit store answer, and whether this replica should get traffic.

A replica whose stores answer is ready. One whose store answered an earlier check and is now lost stays
ready, as "degraded", when it can serve without it: usage is buffered and written when the store
returns, and rate limits fail open (`RATE_LIMIT_FAIL_OPEN`). Taking every replica out of a load balancer
because a store they all share is down would turn a degraded gateway into an outage. It is not ready
(503) while a store has not answered a check since the process started (a wrong URL, a store still
starting), or when rate limits fail closed and their store is down.
"""

from __future__ import annotations

import asyncio
import datetime as dt
from collections.abc import Callable, Coroutine
from typing import Any

from starlette.requests import Request
from starlette.responses import Response

from ..ratelimit import Limit, Limiter
from ..usage import UsageQuery, UsageStore
from .routes import JSONResponse

__all__ = ["Readiness", "health_endpoint"]

CHECK_TIMEOUT = 2.0  # seconds; under the probes' own timeouts (compose 4 s, Kubernetes 1 s by default + retries)
_NOTHING = UsageQuery(start=dt.date.max)  # a query that reads the table and matches no row
_PROBE_LIMIT = Limit(1, 60.0)
_TRUE = frozenset({"1", "true", "yes", "on"})


class Readiness:
    def __init__(self, usage: UsageStore, limiter: Limiter, *, fail_open: bool,
                 timeout: float = CHECK_TIMEOUT) -> None:
        self.usage = usage
        self.limiter = limiter
        self.fail_open = fail_open
        self.timeout = timeout
        self.reached = {"usage_store": False, "rate_limit_store": False}
        self._running: dict[str, asyncio.Task[None]] = {}

    async def _usage(self) -> None:
        await self.usage.totals(_NOTHING)  # a database store writes its buffer first: that must work too

    async def _limits(self) -> None:
        await self.limiter.budget("readiness-probe", _PROBE_LIMIT)  # reads one key, spends nothing

    async def _check(self, name: str, probe: Callable[[], Coroutine[Any, Any, None]]) -> bool:
        task = self._running.get(name)
        if task is None or task.done():  # a store that hangs gets one probe at a time, not one per request
            task = self._running[name] = asyncio.get_running_loop().create_task(probe())
        try:
            await asyncio.wait_for(asyncio.shield(task), self.timeout)
        except Exception:
            return False
        self.reached[name] = True
        return True

    async def report(self) -> tuple[int, dict[str, Any]]:
        """(HTTP status, body): 200 ready ("ok" or "degraded"), 503 not ready."""
        usage_ok, limits_ok = await asyncio.gather(
            self._check("usage_store", self._usage), self._check("rate_limit_store", self._limits))
        checks = {"usage_store": "ok" if usage_ok else "unavailable",
                  "rate_limit_store": "ok" if limits_ok else "unavailable"}
        ready = (usage_ok or self.reached["usage_store"]) and (
            limits_ok or (self.fail_open and self.reached["rate_limit_store"]))
        status = "ok" if usage_ok and limits_ok else "degraded" if ready else "unavailable"
        body: dict[str, Any] = {"status": status, "ready": ready, "checks": checks}
        buffered = getattr(self.usage, "buffered", None)
        if isinstance(buffered, int):
            body["buffered_usage_rows"] = buffered
        return (200 if ready else 503), body


def health_endpoint(readiness: Readiness):  # type: ignore[no-untyped-def]
    async def health(request: Request) -> Response:
        """`/health`: the process runs. `/health?ready=1`: it should get traffic (see the module docstring)."""
        if request.query_params.get("ready", "").lower() not in _TRUE:
            return JSONResponse({"status": "ok"})
        status, body = await readiness.report()
        return JSONResponse(body, status_code=status)

    return health
