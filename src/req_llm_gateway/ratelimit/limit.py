"""What a rate limit is (`Limit.parse("100/minute")`), what checking one answers (`Decision`), and the
`Limiter` protocol the memory and Redis backends implement.

Requests are counted in a sliding log (a moving window): at any instant, at most `amount` requests were
allowed in the last `period` seconds, exactly, with no burst at window edges. Token budgets (charged
after a response, from its usage) use fixed windows: the spend is only known afterwards, so the budget
is a soft limit and a cheaper structure is as good.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass
from typing import Protocol

__all__ = ["Decision", "Limit", "Limiter", "LimiterUnavailable"]

_UNITS = {"s": 1, "sec": 1, "second": 1, "m": 60, "min": 60, "minute": 60, "h": 3600, "hour": 3600,
          "d": 86400, "day": 86400}
_SPEC = re.compile(r"\s*(\d+)\s*(?:/|per)\s*(\d*)\s*([a-z]+?)s?\s*", re.IGNORECASE)
_OFF = frozenset({"", "0", "off", "none", "unlimited", "false"})


class LimiterUnavailable(Exception):
    """The limiter's store cannot be reached; the caller decides to fail open or closed."""


@dataclass(frozen=True, slots=True)
class Limit:
    amount: int
    period: float  # seconds

    @classmethod
    def parse(cls, text: str) -> Limit | None:
        """`"100/minute"`, `"10 per second"`, `"1000/hour"`, `"50/10seconds"`; `"off"` (or `"0"`) is None.

            Limit.parse("100/minute") == Limit(100, 60.0)
        """
        if text.strip().lower() in _OFF:
            return None
        m = _SPEC.fullmatch(text)
        unit = _UNITS.get(m.group(3).lower()) if m else None
        if m is None or unit is None or int(m.group(1)) <= 0 or m.group(2) == "0":
            raise ValueError(f"a rate limit looks like '100/minute' or '10/second', got {text!r}")
        return cls(int(m.group(1)), float(unit * int(m.group(2) or 1)))

    def __str__(self) -> str:
        return f"{self.amount}/{self.period:g}s"


@dataclass(frozen=True, slots=True)
class Decision:
    """The answer for one request: whether it may go, and the numbers for the `x-ratelimit-*` headers."""

    allowed: bool
    limit: int
    remaining: int
    reset: float  # seconds until one more request (or token) is available again

    def headers(self) -> list[tuple[bytes, bytes]]:
        return [
            (b"x-ratelimit-limit", str(self.limit).encode()),
            (b"x-ratelimit-remaining", str(max(0, self.remaining)).encode()),
            (b"x-ratelimit-reset", str(max(0, math.ceil(self.reset))).encode()),
        ]


class Limiter(Protocol):
    async def hit(self, key: str, limit: Limit) -> Decision:
        """Count one request for `key` if the limit allows it; say so either way."""
        ...

    async def budget(self, key: str, limit: Limit) -> Decision:
        """Whether `key` has token budget left in the current window (spends nothing)."""
        ...

    async def spend(self, key: str, amount: int, limit: Limit) -> None:
        """Charge `amount` tokens to `key`'s current window."""
        ...

    async def close(self) -> None: ...
