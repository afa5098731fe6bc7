"""`Reservation`, the admit/settle piece every model-call route uses, with a plain `await` on the memory store:
the hold becomes the charged cost on every exit (return, error, cancellation), a refusal leaves nothing held,
and requests without a key or without budgets are not checked at all."""

from __future__ import annotations

import asyncio
from decimal import Decimal
from pathlib import Path

import pytest

from req_llm_gateway.budgets import Budgets, MemoryBudgetStore, Reservation
from req_llm_gateway.errors import BudgetExceeded
from req_llm_gateway.pricing import Pricing
from tests.budgets.test_budget_stores import PRICES, Clock, plan


def make(tmp_path: Path) -> Budgets:
    return Budgets(plan(tmp_path), MemoryBudgetStore(), Pricing(PRICES), None, clock=Clock())


async def state(b: Budgets) -> tuple[str, str]:
    st = (await b.status("alice"))[0].to_json()
    return str(st["spent_usd"]), str(st["held_usd"])


@pytest.mark.parametrize("leave", ["return", "error", "cancel"])
def test_the_hold_becomes_the_charged_cost_however_the_block_is_left(tmp_path: Path, leave: str) -> None:
    async def request(b: Budgets) -> None:
        async with Reservation(b) as budget:  # 300 bytes ~ 108 prompt tokens + 100 output at $1 per 1000
            await budget.admit("alice", "demo", "demo", 300, 100, "rid-1")
            assert await state(b) == ("0", "0.208")
            assert budget.charge is not None
            budget.charge(Decimal("0.05"))
            assert dict(budget.header_list()) == {b"x-budget-remaining-usd": b"0.792",
                                                  b"x-budget-reset": b"2026-03-11T00:00:00+00:00"}
            if leave == "error":
                raise RuntimeError("upstream went away")
            if leave == "cancel":
                raise asyncio.CancelledError

    async def main() -> tuple[str, str]:
        b = make(tmp_path)
        try:
            await asyncio.create_task(request(b))
        except (RuntimeError, asyncio.CancelledError):
            pass
        return await state(b)

    assert asyncio.run(main()) == ("0.05", "0")


def test_a_refused_request_holds_nothing_and_raises_budget_exceeded(tmp_path: Path) -> None:
    async def main() -> tuple[str, str]:
        b = make(tmp_path)
        with pytest.raises(BudgetExceeded) as refused:
            async with Reservation(b) as budget:
                await budget.admit("alice", "demo", "demo", 3000, 1000, "rid-2")  # $2.00 worst case, $1 limit
        assert refused.value.status == 402 and "x-budget-remaining-usd" in refused.value.headers()
        return await state(b)

    assert asyncio.run(main()) == ("0", "0")


def test_without_budgets_or_without_a_key_nothing_is_checked(tmp_path: Path) -> None:
    async def main() -> None:
        for budgets, key in [(None, "alice"), (make(tmp_path), "")]:
            async with Reservation(budgets) as budget:
                await budget.admit(key, "demo", "demo", 10**9, None)  # would be refused if it were checked
                assert budget.charge is None and budget.header_list() == []

    asyncio.run(main())
