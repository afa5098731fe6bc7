"""Admission and settlement: the one object every model-call route (or ASGI layer) calls. No Starlette.

    hold = await budgets.admit("alice", None, "openai", "gpt-4o", prompt_tokens=1200, max_tokens=500,
                               request_id=rid)          # raises BudgetExceeded (402) before dispatch
    try:
        ...                                             # the gateway calls hold.charge(cost) as it records usage
    finally:
        await hold.settle()                             # every path: success, error, timeout, cancellation

The worst-case estimate is the prompt estimate at the input rate plus `max_tokens` (or the per-request
ceiling, whichever is smaller) at the output rate, tiers included; admission is atomic in the store.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import itertools
import logging
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from decimal import Decimal

from .. import telemetry
from ..errors import BudgetExceeded, ServiceUnavailable
from ..events import BUDGET_EXCEEDED
from ..pricing import Pricing
from ..types import Usage
from ..usage.store import UsageQuery, UsageStore
from .config import BudgetPlan, BudgetSpec, Window, from_units, to_units, window_at
from .store import BudgetStore, BudgetStoreUnavailable, Line

__all__ = ["NO_HOLD", "BudgetStatus", "Budgets", "Hold", "estimate_prompt_tokens"]

_log = logging.getLogger("req_llm_gateway.budgets")
_UTC = dt.UTC
_KEEP = 7 * 86400.0  # a counter outlives its window by a week (then Redis may forget it)


def estimate_prompt_tokens(body_bytes: int) -> int:
    """A cheap local upper estimate of a prompt's tokens from its request body's size: BPE tokens average
    about 4 bytes of English and 3 of code or CJK text, so bytes / 3 is rarely below the real count."""
    return body_bytes // 3 + 8


@dataclass(frozen=True, slots=True)
class BudgetStatus:
    """One budget as `GET /v1/budgets` shows it."""

    spec: BudgetSpec
    window: Window
    spent: int
    held: int

    @property
    def remaining(self) -> int:
        return max(self.spec.limit_units - self.spent - self.held, 0)

    def to_json(self) -> dict[str, object]:
        return {
            "scope": self.spec.scope, "name": self.spec.name, "window": self.spec.window, "model": self.spec.model,
            "limit_usd": _money(self.spec.limit_units), "spent_usd": _money(self.spent),
            "held_usd": _money(self.held), "remaining_usd": _money(self.remaining),
            "resets_at": self.window.reset.isoformat() if self.window.reset else None,
        }


def _money(units: int) -> str:
    s = format(from_units(units), "f")
    return (s.rstrip("0").rstrip(".") if "." in s else s) or "0"


class Hold:
    """One admitted request's reservation. `charge` notes the actual cost (sync, from the usage path);
    `settle` replaces the hold by it once, shielded from cancellation, whatever happened."""

    __slots__ = ("_settled", "actual", "budgets", "counters", "headers", "hold_id")

    def __init__(self, budgets: Budgets | None, hold_id: str, counters: list[str],
                 headers: dict[str, str]) -> None:
        self.budgets = budgets
        self.hold_id = hold_id
        self.counters = counters
        self.actual = 0
        self.headers = headers  # x-budget-remaining-usd / x-budget-reset for the response
        self._settled = budgets is None

    def charge(self, cost: Decimal | None) -> None:
        if cost is not None:
            self.actual += to_units(cost)

    async def settle(self) -> None:
        if self._settled:
            return
        self._settled = True
        assert self.budgets is not None
        # Shielded: a second cancellation of the request must not strand the hold (the TTL is the last resort).
        await asyncio.shield(self.budgets._settle(self))


NO_HOLD = Hold(None, "", [], {})


class Budgets:
    """Admission against every budget a request falls under, settlement, and the budgets' state."""

    def __init__(self, plan: BudgetPlan, store: BudgetStore, pricing: Pricing, ledger: UsageStore | None, *,
                 hold_ttl: float = 3600.0, max_output_tokens: int = 32000, unpriced: str = "refuse",
                 clock: Callable[[], float] = time.time) -> None:
        self.plan = plan
        self.store = store
        self.pricing = pricing
        self.ledger = ledger
        self.hold_ttl = hold_ttl
        self.max_output_tokens = max_output_tokens
        self.allow_unpriced = unpriced == "allow"
        self.clock = clock
        self.seen: dict[str, tuple[BudgetSpec, int, int]] = {}  # spec id -> (spec, spent, limit), for gauges
        self._seeded: set[str] = set()
        self._windows: dict[str, tuple[float, float, Window]] = {}  # kind -> (start, reset, window), cached
        self._ids = itertools.count()
        self._id_prefix = uuid.uuid4().hex[:12]
        self._seeding: dict[str, asyncio.Future[None]] = {}

    def estimate(self, provider: str, model: str, prompt_tokens: int, max_tokens: int | None) -> Decimal | None:
        """The worst-case cost in USD, or None when the model has no price."""
        rates = self.pricing.rates(provider, model)
        if rates is None:
            return None
        out = min(max_tokens, self.max_output_tokens) if max_tokens else self.max_output_tokens
        plain = rates.cost(Usage(prompt_tokens=prompt_tokens, completion_tokens=out))
        if rates.output_reasoning_mtok is None:
            return plain
        return max(plain, rates.cost(Usage(prompt_tokens=prompt_tokens, completion_tokens=out, reasoning_tokens=out)))

    async def admit(self, key: str, team: str | None, provider: str, model: str, prompt_tokens: int,
                    max_tokens: int | None, request_id: str = "") -> Hold:
        """Reserve the worst case of this request on each of its budgets, or raise `BudgetExceeded`."""
        specs = self.plan.applicable(key, provider, model, team)
        if not specs:
            return NO_HOLD
        cost = self.estimate(provider, model, prompt_tokens, max_tokens)
        if cost is None:
            if not self.allow_unpriced:
                raise BudgetExceeded(
                    f"The model '{provider}:{model}' has no known price, so it cannot be counted against "
                    f"{specs[0].describe()}. Add [prices.\"{provider}:{model}\"] to the gateway's config, or set "
                    "REQ_LLM_GATEWAY_BUDGET_UNPRICED=allow.", code="model_not_priced")
            cost = Decimal(0)
        amount = to_units(cost)
        now = self.clock()
        windows = [self._window(s.window, now) for s in specs]
        lines = [Line(f"{s.id}:{w.tag}", s.limit_units, amount,
                      w.reset.timestamp() + _KEEP if w.reset else 0.0) for s, w in zip(specs, windows)]
        await self._seed(specs, windows, lines)
        hold_id = f"{self._id_prefix}{next(self._ids)}"
        try:
            result = await self.store.admit(hold_id, lines, now + self.hold_ttl, now)
        except BudgetStoreUnavailable as exc:
            raise ServiceUnavailable(f"The budget store is unavailable; retry shortly. ({exc})", retry_after=1,
                                     code="budget_store_unavailable") from exc
        statuses = [BudgetStatus(s, w, sp, h) for s, w, (sp, h) in zip(specs, windows, result.seen)]
        for st in statuses:
            self.seen[st.spec.id] = (st.spec, st.spent, st.spec.limit_units)
        if not result.allowed:
            raise self._refusal(statuses[result.refused], amount, request_id)
        after = [BudgetStatus(st.spec, st.window, st.spent, st.held + amount) for st in statuses]
        return Hold(self, hold_id, [line.counter for line in lines], _headers(after))

    def _window(self, kind: str, now: float) -> Window:
        """The window of `kind` holding `now`, computed once per window rather than per request."""
        cached = self._windows.get(kind)
        if cached is not None and cached[0] <= now < cached[1]:
            return cached[2]
        window = window_at(kind, dt.datetime.fromtimestamp(now, _UTC), self.plan.tz)
        end = window.reset.timestamp() if window.reset else float("inf")
        self._windows[kind] = (window.start.timestamp(), end, window)
        return window

    def _refusal(self, st: BudgetStatus, amount: int, request_id: str) -> BudgetExceeded:
        spec = st.spec
        telemetry.execute(
            BUDGET_EXCEEDED,
            {"limit_usd": spec.limit, "spent_usd": from_units(st.spent), "held_usd": from_units(st.held),
             "estimate_usd": from_units(amount)},
            {"scope": spec.scope, "name": spec.name, "window": spec.window, "request_id": request_id},
        )
        resets = f"; it resets at {st.window.reset.isoformat()}" if st.window.reset else " (it never resets)"
        message = (f"This request would exceed {spec.describe()}: ${_money(st.spent)} spent and "
                   f"${_money(st.held)} held by requests in flight, and this one may cost up to "
                   f"${_money(amount)}{resets}.")
        return BudgetExceeded(message, headers=_headers([st]))

    async def _settle(self, hold: Hold) -> None:
        try:
            await self.store.settle(hold.hold_id, hold.counters, hold.actual, self.clock())
            for counter in hold.counters:  # this process's view, for the gauges
                seen = self.seen.get(counter.rsplit(":", 1)[0])
                if seen is not None:
                    self.seen[seen[0].id] = (seen[0], seen[1] + hold.actual, seen[2])
        except Exception as exc:
            _log.error("could not settle budget hold %s (%s); it expires after %.0fs", hold.hold_id, exc, self.hold_ttl)

    async def status(self, key: str, team: str | None = None) -> list[BudgetStatus]:
        """The caller's key and team budgets now."""
        specs = list(self.plan.budgets_of(key, team))
        if not specs:
            return []
        now = self.clock()
        windows = [self._window(s.window, now) for s in specs]
        counters = [f"{s.id}:{w.tag}" for s, w in zip(specs, windows)]
        lines = [Line(c, s.limit_units, 0, w.reset.timestamp() + _KEEP if w.reset else 0.0)
                 for c, s, w in zip(counters, specs, windows)]
        await self._seed(specs, windows, lines)
        values = await self.store.read(counters, now)
        out = [BudgetStatus(s, w, sp, h) for s, w, (sp, h) in zip(specs, windows, values)]
        for st in out:
            self.seen[st.spec.id] = (st.spec, st.spent, st.spec.limit_units)
        return out

    async def _seed(self, specs: list[BudgetSpec], windows: list[Window], lines: list[Line]) -> None:
        """First use of a counter in this process: create it from the usage ledger unless it exists, so a
        restart (or a Redis that lost its data) loses nothing. Steady state: a set lookup."""
        for spec, window, line in zip(specs, windows, lines):
            if line.counter in self._seeded:
                continue
            pending = self._seeding.get(line.counter)
            if pending is None:
                pending = self._seeding[line.counter] = asyncio.ensure_future(self._seed_one(spec, window, line))
            try:
                await asyncio.shield(pending)
            finally:
                if pending.done():
                    self._seeding.pop(line.counter, None)

    async def _seed_one(self, spec: BudgetSpec, window: Window, line: Line) -> None:
        try:
            spent = await self._ledger_spent(spec, window)
            await self.store.seed(line.counter, spent, line.keep_until, self.clock())
        except BudgetStoreUnavailable as exc:
            raise ServiceUnavailable(f"The budget store is unavailable; retry shortly. ({exc})", retry_after=1,
                                     code="budget_store_unavailable") from exc
        except Exception as exc:
            raise ServiceUnavailable(f"The usage ledger is unavailable, so budgets cannot be read. ({exc})",
                                     retry_after=1, code="budget_store_unavailable") from exc
        self._seeded.add(line.counter)

    async def _ledger_spent(self, spec: BudgetSpec, window: Window) -> int:
        """What the usage ledger says this budget spent in the window (the ledger's days are UTC dates)."""
        if self.ledger is None:
            return 0
        start = window.start.astimezone(_UTC).date() if window.reset else None
        end = (window.reset - dt.timedelta(microseconds=1)).astimezone(_UTC).date() if window.reset else None
        keys = [spec.name] if spec.scope == "key" else self.plan.members(spec.name)
        total = Decimal(0)
        for key in keys:
            for row in await self.ledger.query(UsageQuery(start=start, end=end, key_name=key)):
                if spec.covers(row.provider, row.model):
                    total += row.cost_usd
        return to_units(total)


def _headers(statuses: list[BudgetStatus]) -> dict[str, str]:
    """The tightest budget's remaining amount and reset time."""
    tightest = min(statuses, key=lambda st: st.spec.limit_units - st.spent - st.held)
    headers = {"x-budget-remaining-usd": _money(tightest.remaining)}
    if tightest.window.reset is not None:
        headers["x-budget-reset"] = tightest.window.reset.isoformat()
    return headers
