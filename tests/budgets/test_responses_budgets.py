"""Budgets on `POST /v1/responses`, through the real app on a socket with the official OpenAI SDK: reserved
before dispatch (402 in OpenAI's shape, nothing sent upstream), charged with the recorded cost both when the
request passes through to OpenAI and when it is bridged onto chat, and every failure path releasing its hold."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from decimal import Decimal
from pathlib import Path
from typing import Any

import httpx
import openai
import pytest

from tests.budgets.test_budgets_http import CONFIG, budgets, client, held
from tests.conftest import serve_gateway
from tests.fakes.fixtures import RunningFake

PASSTHROUGH, BRIDGED = "openai:gpt-4o", "demo:demo"


@pytest.fixture
def gw(tmp_path: Path, fake_openai: RunningFake) -> Iterator[Any]:
    config = tmp_path / "gateway.toml"
    config.write_text(CONFIG)
    env = {"REQ_LLM_GATEWAY_CONFIG": str(config), "OPENAI_API_KEY": "sk-up", "OPENAI_BASE_URL": fake_openai.url + "/v1",
           "REQ_LLM_GATEWAY_UPSTREAM_TIMEOUT": "0.3", "REQ_LLM_GATEWAY_MAX_RETRIES": "0"}
    with serve_gateway(env) as server:
        yield server


def respond(c: openai.OpenAI, model: str, **extra: Any) -> Any:
    return c.responses.with_raw_response.create(model=model, input="hi", max_output_tokens=20, **extra)


def ledger_cost(gw: Any) -> Decimal:
    """What the usage ledger recorded for alice: her budget's spent amount must equal it exactly."""
    r = httpx.get(gw.url + "/v1/usage", params={"key_name": "alice"}, headers={"authorization": "Bearer sk-alice"})
    return Decimal(r.json()["totals"]["cost_usd"])


@pytest.mark.parametrize("model", [PASSTHROUGH, BRIDGED])
def test_responses_are_refused_with_402_once_the_budget_cannot_cover_the_worst_case(
        gw: Any, fake_openai: RunningFake, model: str) -> None:
    alice = client(gw, "sk-alice")
    answered = 0
    with pytest.raises(openai.APIStatusError) as refused:
        for _ in range(30):  # a pass-through answer costs $0.005 here, a bridged one $0.028
            raw = respond(alice, model)
            assert Decimal(raw.headers["x-budget-remaining-usd"]) < Decimal("0.10")
            assert raw.headers["x-budget-reset"].endswith("T00:00:00+00:00")
            answered += 1
    sent_upstream = len(fake_openai.received)
    err = refused.value
    assert err.status_code == 402 and answered >= 1
    body = err.response.json()["error"]
    assert (body["type"], body["code"]) == ("insufficient_quota", "budget_exceeded")
    assert "the day budget of $0.10 of key 'alice'" in body["message"]
    assert err.response.headers["x-budget-reset"].endswith("T00:00:00+00:00")
    with pytest.raises(openai.APIStatusError):
        respond(alice, model)
    assert len(fake_openai.received) == sent_upstream  # refused before dispatch: nothing reached the upstream
    day = budgets(gw, "sk-alice")[0]
    assert day["held_usd"] == "0"
    assert Decimal(day["spent_usd"]) == ledger_cost(gw) > 0  # the hold became the recorded cost, exactly


@pytest.mark.parametrize("model", [PASSTHROUGH, BRIDGED])
def test_a_streamed_response_is_charged_its_recorded_cost_and_names_the_remaining_budget(gw: Any, model: str) -> None:
    raw = respond(client(gw, "sk-alice"), model, stream=True)
    assert Decimal(raw.headers["x-budget-remaining-usd"]) < Decimal("0.10")
    events = [event.type for event in raw.parse()]
    assert events[-1] == "response.completed"
    day = budgets(gw, "sk-alice")[0]
    assert day["held_usd"] == "0" and Decimal(day["spent_usd"]) == ledger_cost(gw) > 0


def test_every_responses_failure_path_releases_its_hold(gw: Any) -> None:
    alice = client(gw, "sk-alice")
    outcomes = {}
    for model, stream in [("openai:gpt-4o-status-400", False), ("openai:gpt-4o-status-500", False),
                          ("openai:gpt-4o-hang", False), ("demo:error", False),
                          ("openai:gpt-4o-status-500", True), ("demo:error", True)]:
        try:
            respond(alice, model, stream=stream)
        except openai.APIStatusError as err:
            outcomes[model, stream] = err.status_code
        assert held(gw) == "0", (model, stream)
    assert outcomes == {("openai:gpt-4o-status-400", False): 400, ("openai:gpt-4o-status-500", False): 502,
                        ("openai:gpt-4o-hang", False): 504, ("demo:error", False): 502,
                        ("openai:gpt-4o-status-500", True): 502, ("demo:error", True): 502}
    # A pass-through stream the upstream cuts halfway: the SDK sees the stream end without completion.
    cut = [event.type for event in respond(alice, "openai:gpt-4o-cut-stream", stream=True).parse()]
    assert "response.completed" not in cut
    assert held(gw) == "0"
    # Clients that leave before the first byte and after it, on both modes.
    for model, before in [("openai:gpt-4o-slow-300", True), ("openai:gpt-4o-slow-100", False),
                          ("demo:slow-300", True), ("demo:slow-100", False)]:
        asyncio.run(_leave(gw.url, model, before_first_byte=before))
        for _ in range(60):
            if held(gw) == "0":
                break
            asyncio.run(asyncio.sleep(0.05))
        assert held(gw) == "0", (model, before)
    assert Decimal(budgets(gw, "sk-alice")[0]["spent_usd"]) == ledger_cost(gw)
    assert respond(alice, BRIDGED).status_code == 200  # nothing stranded: the key still has its budget
    assert held(gw) == "0"


async def _leave(url: str, model: str, *, before_first_byte: bool) -> None:
    body = {"model": model, "stream": True, "max_output_tokens": 20, "input": "hi there"}
    async with httpx.AsyncClient(timeout=5) as c, c.stream(
            "POST", url + "/v1/responses", json=body, headers={"authorization": "Bearer sk-alice"}) as r:
        if not before_first_byte:
            async for _ in r.aiter_bytes():
                break
        # leaving the block closes the connection: the client went away
