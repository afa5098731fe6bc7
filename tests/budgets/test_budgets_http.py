"""Budgets over HTTP, through the real app on a socket with the official OpenAI SDK as the client: 402
refusals in OpenAI's shape, the x-budget-* headers, GET /v1/budgets, team and per-model budgets, unpriced
models, the gauges and the budget.exceeded event, and every failure path releasing its hold."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from decimal import Decimal
from pathlib import Path
from typing import Any

import httpx
import openai
import pytest

from req_llm_gateway import telemetry
from req_llm_gateway.events import BUDGET_EXCEEDED
from tests.conftest import serve_gateway
from tests.fakes.fixtures import RunningFake

# $1 per thousand tokens in and out for demo:*: a demo reply of "hi" costs a few cents.
CONFIG = """
[prices.demo]
input_mtok = "1000"
output_mtok = "1000"

[prices.openai]
input_mtok = "1000"
output_mtok = "1000"

[keys.alice]
key = "sk-alice"
team = "research"
budget = { usd = "0.10", window = "day" }

[keys.bob]
key = "sk-bob"
team = "research"

[keys.carol]
key = "sk-carol"
budget = [{ usd = "5", window = "month" }, { usd = "0.05", window = "day", model = "demo:echo" }]

[keys.free]
key = "sk-free"

[teams.research]
budget = { usd = "0.15", window = "week" }
"""


@pytest.fixture
def config(tmp_path: Path) -> Path:
    path = tmp_path / "gateway.toml"
    path.write_text(CONFIG)
    return path


@pytest.fixture
def gateway(config: Path) -> Iterator[Any]:
    with serve_gateway({"REQ_LLM_GATEWAY_CONFIG": str(config)}) as gw:
        yield gw


def client(gw: Any, key: str) -> openai.OpenAI:
    return openai.OpenAI(base_url=gw.url + "/v1", api_key=key, max_retries=0)


def ask(c: openai.OpenAI, model: str = "demo:demo", max_tokens: int = 20) -> Any:
    return c.chat.completions.with_raw_response.create(
        model=model, messages=[{"role": "user", "content": "hi"}], max_tokens=max_tokens)


def budgets(gw: Any, key: str) -> list[dict[str, Any]]:
    r = httpx.get(gw.url + "/v1/budgets", headers={"authorization": f"Bearer {key}"})
    assert r.status_code == 200
    return r.json()["data"]  # type: ignore[no-any-return]


def test_a_key_is_refused_with_402_once_its_daily_budget_cannot_cover_the_worst_case(gateway: Any) -> None:
    alice = client(gateway, "sk-alice")
    costs = []
    with pytest.raises(openai.APIStatusError) as refused:
        for _ in range(10):
            raw = ask(alice)
            costs.append(Decimal(str(raw.parse().model_extra["x_req_llm"]["cost_usd"])))
    err = refused.value
    assert err.status_code == 402
    body = err.response.json()["error"]
    assert (body["type"], body["code"]) == ("insufficient_quota", "budget_exceeded")
    assert "the day budget of $0.10 of key 'alice'" in body["message"] and "resets at" in body["message"]
    assert err.response.headers["x-budget-reset"].endswith("T00:00:00+00:00")
    spent = sum(costs, Decimal(0))
    worst = Decimal(body["message"].split("may cost up to $")[1].split(";")[0])
    assert Decimal("0.10") - spent < worst < Decimal("0.06")  # refused only when the worst case no longer fits
    day = budgets(gateway, "sk-alice")[0]
    assert (day["scope"], day["name"], day["window"], day["limit_usd"]) == ("key", "alice", "day", "0.1")
    assert Decimal(day["spent_usd"]) == spent and day["held_usd"] == "0"
    assert Decimal(day["remaining_usd"]) == Decimal("0.1") - spent


def test_successful_responses_carry_the_remaining_budget_and_its_reset(gateway: Any) -> None:
    raw = ask(client(gateway, "sk-alice"))
    cost = Decimal(str(raw.parse().model_extra["x_req_llm"]["cost_usd"]))
    worst = Decimal("0.06")  # the hold: a prompt estimate of (body bytes / 3 + 8) tokens plus 20 output tokens
    remaining = Decimal(raw.headers["x-budget-remaining-usd"])  # this request's hold included
    assert Decimal("0.10") - worst <= remaining <= Decimal("0.10") - cost
    assert raw.headers["x-budget-reset"].endswith("T00:00:00+00:00")
    free = ask(client(gateway, "sk-free"))
    assert "x-budget-remaining-usd" not in free.headers  # no budget: unlimited, nothing checked


def test_a_team_budget_is_shared_by_its_keys(gateway: Any) -> None:
    bob, alice = client(gateway, "sk-bob"), client(gateway, "sk-alice")
    statuses = []
    for i in range(12):
        try:
            ask(bob if i % 2 else alice)
            statuses.append(200)
        except openai.APIStatusError as err:
            statuses.append(err.status_code)
            message = err.response.json()["error"]["message"]
    assert 402 in statuses
    team = [b for b in budgets(gateway, "sk-bob") if b["scope"] == "team"][0]
    alice_day = [b for b in budgets(gateway, "sk-alice") if b["scope"] == "key"][0]
    assert team["window"] == "week" and Decimal(team["spent_usd"]) > Decimal(alice_day["spent_usd"])
    assert Decimal("0.15") - Decimal(team["spent_usd"]) < Decimal("0.06")
    assert "team 'research'" in message or "key 'alice'" in message


def test_a_per_model_budget_limits_only_that_model(gateway: Any) -> None:
    carol = client(gateway, "sk-carol")
    with pytest.raises(openai.APIStatusError) as refused:
        for _ in range(10):
            ask(carol, "demo:echo")
    assert "for demo:echo" in refused.value.response.json()["error"]["message"]
    assert ask(carol, "demo:demo").status_code == 200  # the month budget still has room
    rows = {(b["window"], b["model"]): b for b in budgets(gateway, "sk-carol")}
    assert Decimal(rows[("month", None)]["spent_usd"]) > Decimal(rows[("day", "demo:echo")]["spent_usd"])


def test_an_unpriced_model_is_refused_for_a_key_with_a_budget_unless_allowed(
        config: Path, fake_openai: RunningFake) -> None:
    config.write_text(CONFIG.replace('[prices.openai]\ninput_mtok = "1000"\noutput_mtok = "1000"\n', ""))
    env = {"REQ_LLM_GATEWAY_CONFIG": str(config), "OPENAI_API_KEY": "sk-up", "OPENAI_BASE_URL": fake_openai.url + "/v1"}
    with serve_gateway(env) as gw:
        with pytest.raises(openai.APIStatusError) as refused:
            ask(client(gw, "sk-alice"), "openai:my-finetune")
        assert ask(client(gw, "sk-free"), "openai:my-finetune").status_code == 200
    assert refused.value.status_code == 402
    assert refused.value.response.json()["error"]["code"] == "model_not_priced"
    with serve_gateway({**env, "REQ_LLM_GATEWAY_BUDGET_UNPRICED": "allow"}) as gw:
        assert ask(client(gw, "sk-alice"), "openai:my-finetune").status_code == 200
        assert budgets(gw, "sk-alice")[0]["spent_usd"] == "0"


def test_budget_exceeded_event_and_gauges(gateway: Any) -> None:
    alice = client(gateway, "sk-alice")
    with telemetry.capture([BUDGET_EXCEEDED]) as events:
        with pytest.raises(openai.APIStatusError):
            for _ in range(10):
                ask(alice)
    assert len(events) == 1
    meta, m = events[0].metadata, events[0].measurements
    assert (meta["scope"], meta["name"], meta["window"]) == ("key", "alice", "day") and meta["request_id"]
    assert m["limit_usd"] == Decimal("0.10") and m["spent_usd"] + m["held_usd"] + m["estimate_usd"] > m["limit_usd"]
    metrics = httpx.get(gateway.url + "/metrics").text
    spent = Decimal(budgets(gateway, "sk-alice")[0]["spent_usd"])
    assert f'req_llm_gateway_budget_spent_usd{{key="alice",window="day"}} {float(spent)}' in metrics
    assert 'req_llm_gateway_budget_limit_usd{key="alice",window="day"} 0.1' in metrics


def held(gw: Any, key: str = "sk-alice") -> str:
    return budgets(gw, key)[0]["held_usd"]


def test_every_failure_path_releases_its_hold(config: Path, fake_openai: RunningFake) -> None:
    env = {"REQ_LLM_GATEWAY_CONFIG": str(config), "OPENAI_API_KEY": "sk-up", "OPENAI_BASE_URL": fake_openai.url + "/v1",
           "REQ_LLM_GATEWAY_UPSTREAM_TIMEOUT": "0.3", "REQ_LLM_GATEWAY_MAX_RETRIES": "0"}
    with serve_gateway(env) as gw:
        alice = client(gw, "sk-alice")
        outcomes = {}
        for model in ("gpt-4o-status-400", "gpt-4o-status-500", "gpt-4o-hang", "demo:error"):
            try:
                ask(alice, model if ":" in model else "openai:" + model)
            except openai.APIStatusError as err:
                outcomes[model] = err.status_code
            assert held(gw) == "0", model
        assert outcomes == {"gpt-4o-status-400": 400, "gpt-4o-status-500": 502, "gpt-4o-hang": 504, "demo:error": 502}
        # A stream cut by the upstream halfway, and streams the client leaves before and after the first byte.
        stream = alice.chat.completions.create(model="openai:gpt-4o-cut-stream", stream=True, max_tokens=20,
                                               messages=[{"role": "user", "content": "hi"}])
        with pytest.raises(openai.APIError):
            for _ in stream:
                pass
        asyncio.run(_leave(gw.url, "openai:gpt-4o-slow-300", before_first_byte=True))
        asyncio.run(_leave(gw.url, "demo:slow-100", before_first_byte=False))
        for _ in range(50):
            if held(gw) == "0":
                break
            asyncio.run(asyncio.sleep(0.05))
        assert held(gw) == "0"
        assert budgets(gw, "sk-alice")[0]["spent_usd"] == "0"  # nothing was answered in full
        assert ask(alice).status_code == 200
        assert held(gw) == "0"


async def _leave(url: str, model: str, *, before_first_byte: bool) -> None:
    body = {"model": model, "stream": True, "max_tokens": 20, "messages": [{"role": "user", "content": "hi there"}]}
    async with httpx.AsyncClient(timeout=5) as c:
        async with c.stream("POST", url + "/v1/chat/completions", json=body,
                            headers={"authorization": "Bearer sk-alice"}) as r:
            if not before_first_byte:
                async for _ in r.aiter_bytes():
                    break
        # leaving the block closes the connection: the client went away


def test_reads_do_not_use_up_the_model_call_limit(config: Path) -> None:
    """The issue's scenario: a burst of chat requests to the limit, then usage and budgets still answer."""
    with serve_gateway({"REQ_LLM_GATEWAY_CONFIG": str(config), "REQ_LLM_GATEWAY_RATE_LIMIT": "12/minute",
                        "REQ_LLM_GATEWAY_READ_RATE_LIMIT": "28/minute"}) as gw:
        free = client(gw, "sk-free")
        statuses = []
        for _ in range(14):
            try:
                statuses.append(ask(free).status_code)
            except openai.RateLimitError:
                statuses.append(429)
        headers = {"authorization": "Bearer sk-free"}
        reads = [httpx.get(gw.url + path, headers=headers).status_code
                 for path in ("/v1/usage", "/v1/budgets", "/v1/models", "/dashboard/req_llm") * 7]
        over = httpx.get(gw.url + "/v1/usage", headers=headers)
    assert statuses == [200] * 12 + [429] * 2
    assert reads == [200] * 28
    assert over.status_code == 429  # reads have a limit of their own, too


@pytest.mark.parametrize(("budget", "says"), [
    ('{ usd = 5, window = "day" }', 'usd must be a non-negative decimal string such as "5.00", got 5'),
    ('{ usd = "5", window = "fortnight" }', "window must be one of day, week, month, total, got 'fortnight'"),
    ('{ usd = "5", window = "day", cap = 1 }', "has unknown keys ['cap']; known: ['model', 'usd', 'window']"),
])
def test_a_bad_budget_stops_serve_with_exit_2_and_one_line(tmp_path: Path, budget: str, says: str) -> None:
    import subprocess
    import sys

    from tests.processes import clean_env

    config = tmp_path / "gw.toml"
    config.write_text(f'[keys.alice]\nkey = "sk-alice"\nbudget = {budget}\n')
    done = subprocess.run([sys.executable, "-m", "req_llm_gateway", "serve", "--config", str(config)],
                          env=clean_env({}), capture_output=True, text=True, timeout=30)
    assert done.returncode == 2
    assert done.stderr.strip() == f"req-llm-gateway: [keys.alice] budget {says}"
