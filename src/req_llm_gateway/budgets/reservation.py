"""One request's budget reservation as an async context manager: the admit-before-dispatch and
settle-in-`finally` that every model-call route shares (chat, Responses, embeddings, Messages).

    async with Reservation(self.budgets) as budget:            # settles on every exit, cancellation included
        await budget.admit(key_name, provider, model, len(body), max_tokens, rid)   # BudgetExceeded: 402
        await gateway.complete(req, rid, key_name, charge=budget.charge)
        headers = budget.header_list()                          # x-budget-remaining-usd / x-budget-reset

A refusal is a `BudgetExceeded` the route renders in its own API's error shape (OpenAI's `insufficient_quota`,
Anthropic's `billing_error`). Without budgets, or for an anonymous request, nothing is checked.
"""

from __future__ import annotations

from collections.abc import Callable
from decimal import Decimal
from types import TracebackType
from typing import Self

from .admission import NO_HOLD, Budgets, Hold, estimate_prompt_tokens

__all__ = ["Reservation"]


class Reservation:
    """The hold of one request (`NO_HOLD` until admitted), released into the recorded cost on exit."""

    __slots__ = ("budgets", "hold")

    def __init__(self, budgets: Budgets | None) -> None:
        self.budgets = budgets
        self.hold: Hold = NO_HOLD

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                        tb: TracebackType | None) -> None:
        await self.hold.settle()  # success, error, timeout, disconnect, a stream cut: the hold becomes the cost

    async def admit(self, key_name: str, provider: str, model: str, body_bytes: int, max_tokens: int | None,
                    request_id: str = "") -> Hold:
        """Reserve this request's worst case (prompt estimated from the body's size, `max_tokens` of
        output or the configured ceiling) on every budget of the key and its team, or raise `BudgetExceeded`."""
        if self.budgets is not None and key_name:
            self.hold = await self.budgets.admit(key_name, None, provider, model,
                                                 estimate_prompt_tokens(body_bytes), max_tokens, request_id)
        return self.hold

    @property
    def charge(self) -> Callable[[Decimal | None], None] | None:
        """What the gateway calls with the cost it records (None when nothing is held)."""
        return self.hold.charge if self.hold is not NO_HOLD else None

    def header_list(self) -> list[tuple[bytes, bytes]]:
        """The key's remaining budget and its reset, as ASGI response headers (empty without a budget)."""
        return [(k.encode(), v.encode()) for k, v in self.hold.headers.items()]
