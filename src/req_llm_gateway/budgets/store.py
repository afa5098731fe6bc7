"""The budget store seam, and its in-memory backend (one process).

A *counter* is one budget in one window (`key:alice:day:*:1735689600`): `spent` (settled costs) and
`held` (live holds), in integer picodollars. Two calls per request, each atomic over every counter the
request falls under:

    admit(hold_id, lines, expires_at, now)   refuse unless spent + held + amount <= limit for every line;
                                             else add the hold to each counter
    settle(hold_id, counters, actual, now)   drop the hold (if it has not expired), add `actual` to spent

Holds carry an expiry, so the holds of a replica that died expire on their own (purged on each admit/read).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Protocol

__all__ = ["Admitted", "BudgetStore", "BudgetStoreUnavailable", "Line", "MemoryBudgetStore"]


class BudgetStoreUnavailable(RuntimeError):
    """The budget store cannot be reached; budgeted requests are refused (503), never let through unbudgeted."""


@dataclass(frozen=True, slots=True)
class Line:
    """One counter a request falls under: its limit, the request's estimate, and how long the counter
    must be kept (its window's end, plus a margin; 0: forever)."""

    counter: str
    limit: int
    amount: int
    keep_until: float = 0.0


@dataclass(frozen=True, slots=True)
class Admitted:
    """The outcome of `admit`: allowed, the first refusing line's index, and (spent, held) per line as seen."""

    allowed: bool
    refused: int
    seen: tuple[tuple[int, int], ...]


class BudgetStore(Protocol):
    async def seed(self, counter: str, spent: int, keep_until: float, now: float) -> None:
        """Create the counter with `spent` (from the usage ledger) unless it already exists."""
        ...

    async def admit(self, hold_id: str, lines: Sequence[Line], expires_at: float, now: float) -> Admitted: ...

    async def settle(self, hold_id: str, counters: Sequence[str], actual: int, now: float) -> None: ...

    async def read(self, counters: Sequence[str], now: float) -> list[tuple[int, int]]:
        """(spent, held) per counter, expired holds purged; a missing counter reads (0, 0)."""
        ...

    async def close(self) -> None: ...


class MemoryBudgetStore:
    """Counters and holds in this process: exact for one process (asyncio runs each call without a switch)."""

    def __init__(self) -> None:
        self.counters: dict[str, list[int]] = {}  # counter -> [spent, held]
        # hold id -> (expires_at, {counter: amount}), in insertion order: with one TTL that is expiry
        # order, so purging looks only at the oldest holds.
        self.holds: dict[str, tuple[float, dict[str, int]]] = {}

    async def seed(self, counter: str, spent: int, keep_until: float, now: float) -> None:
        self.counters.setdefault(counter, [spent, 0])

    def _purge(self, now: float) -> None:
        holds = self.holds
        while holds:
            hold_id = next(iter(holds))
            expires_at, amounts = holds[hold_id]
            if expires_at >= now:
                return
            del holds[hold_id]
            for counter, amount in amounts.items():
                self.counters[counter][1] -= amount

    async def admit(self, hold_id: str, lines: Sequence[Line], expires_at: float, now: float) -> Admitted:
        self._purge(now)
        seen: list[tuple[int, int]] = []
        refused = -1
        for i, line in enumerate(lines):
            c = self.counters.setdefault(line.counter, [0, 0])
            seen.append((c[0], c[1]))
            if refused < 0 and c[0] + c[1] + line.amount > line.limit:
                refused = i
        if refused >= 0:
            return Admitted(False, refused, tuple(seen))
        for line in lines:
            self.counters[line.counter][1] += line.amount
        self.holds[hold_id] = (expires_at, {line.counter: line.amount for line in lines})
        return Admitted(True, -1, tuple(seen))

    async def settle(self, hold_id: str, counters: Sequence[str], actual: int, now: float) -> None:
        held = self.holds.pop(hold_id, (0.0, {}))[1]
        for counter in counters:
            c = self.counters.setdefault(counter, [0, 0])
            c[1] -= held.get(counter, 0)
            c[0] += actual

    async def read(self, counters: Sequence[str], now: float) -> list[tuple[int, int]]:
        self._purge(now)
        return [(c[0], c[1]) for c in (self.counters.get(name, [0, 0]) for name in counters)]

    async def close(self) -> None:
        return None
