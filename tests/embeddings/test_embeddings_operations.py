"""Embeddings get everything chat gets: usage rows with exact Decimal cost from the price catalogue,
telemetry events with `"api": "openai.embeddings"`, Prometheus series, keys, rate limits, retries and
fallbacks. Each test runs its own gateway on the shared fakes."""

from __future__ import annotations

import asyncio
from decimal import Decimal
from pathlib import Path

import httpx
import openai
import pytest

from req_llm_gateway import telemetry
from req_llm_gateway.events import (
    REQUEST_EXCEPTION,
    REQUEST_START,
    REQUEST_STOP,
    UPSTREAM_ATTEMPT,
)

from .targets import Fakes, gateway_for_all

M = Decimal(1_000_000)
# The catalogue's prices (genai-prices), USD per million input tokens; demo's is the gateway's own.
OPENAI_SMALL, GEMINI_001, TITAN_V2, MISTRAL_EMBED, DEMO = (Decimal("0.02"), Decimal("0.15"), Decimal("0.02"),
                                                           Decimal("0.1"), Decimal("0.5"))


def sdk(url: str, key: str = "unused") -> openai.OpenAI:
    return openai.OpenAI(base_url=url + "/v1", api_key=key, max_retries=0)


def test_usage_and_cost_of_a_mixed_run_equal_the_hand_computed_decimal_totals(fakes: Fakes) -> None:
    with gateway_for_all(fakes) as gw:
        c = sdk(gw.url)
        c.embeddings.create(model="openai:text-embedding-3-small", input="one two three")  # 3 tokens
        c.embeddings.create(model="openai:text-embedding-3-small", input=["a b", "c d e"])  # 5
        c.embeddings.create(model="gemini:gemini-embedding-001", input=["x y z w"])  # 4
        c.embeddings.create(model="bedrock:amazon.titan-embed-text-v2:0", input=["a", "b c"])  # 1 + 2
        c.embeddings.create(model="bedrock:cohere.embed-v4:0", input=["p q"])  # 2, unpriced on Bedrock
        c.embeddings.create(model="mistral:mistral-embed", input="m n o p q")  # 5
        c.embeddings.create(model="demo:embed", input="hi there")  # 2
        c.chat.completions.create(model="demo:echo", messages=[{"role": "user", "content": "four words right here"}])
        with pytest.raises(openai.BadRequestError):
            c.embeddings.create(model="openai:text-embedding-3-small-status-400", input="x")
        rows = {(r.provider, r.model): r for r in asyncio.run(gw.app.state.usage.get_all())}  # type: ignore[attr-defined]
        served = httpx.get(gw.url + "/v1/usage").json()  # what the dashboard reads

    expected = {
        ("openai", "text-embedding-3-small"): (2, 8, 8 * OPENAI_SMALL / M),
        ("gemini", "gemini-embedding-001"): (1, 4, 4 * GEMINI_001 / M),
        ("bedrock", "amazon.titan-embed-text-v2:0"): (1, 3, 3 * TITAN_V2 / M),
        ("bedrock", "cohere.embed-v4:0"): (1, 2, Decimal(0)),
        ("mistral", "mistral-embed"): (1, 5, 5 * MISTRAL_EMBED / M),
        ("demo", "embed"): (1, 2, 2 * DEMO / M),
        # demo chat: prompt 3 (framing) + 4 (one message) + 4 words = 11, the echo 4; at $0.50 / $1.50
        ("demo", "echo"): (1, 15, (11 * Decimal("0.5") + 4 * Decimal("1.5")) / M),
        ("openai", "text-embedding-3-small-status-400"): (1, 0, Decimal(0)),
    }
    assert {k: (r.calls, r.total_tokens, r.cost_usd) for k, r in rows.items()} == expected
    # (0.16 + 0.6 + 0.06 + 0.5 + 1.0) / 1e6 for the embeddings, 11.5 / 1e6 for the chat
    assert sum(r.cost_usd for r in rows.values()) == Decimal("0.00000232") + Decimal("0.0000115")
    assert rows[("bedrock", "cohere.embed-v4:0")].unpriced_calls == 1
    assert rows[("openai", "text-embedding-3-small-status-400")].errors == 1
    assert rows[("openai", "text-embedding-3-small")].completion_tokens == 0
    assert served["totals"]["cost_usd"] == "0.00001382"
    assert {(r["provider"], r["model"]) for r in served["rows"]} == set(expected)


def test_request_events_carry_the_api_and_the_decimal_cost(fakes: Fakes) -> None:
    names = [REQUEST_START, REQUEST_STOP, REQUEST_EXCEPTION]
    with gateway_for_all(fakes) as gw, telemetry.capture(names) as events:
        sdk(gw.url).embeddings.create(model="gemini:gemini-embedding-001", input=["a b", "c"])
        with pytest.raises(openai.APIStatusError):
            sdk(gw.url).embeddings.create(model="gemini:gemini-embedding-001-status-503", input="a")

    start, stop, start2, failed = events
    assert [e.event for e in events] == [REQUEST_START, REQUEST_STOP, REQUEST_START, REQUEST_EXCEPTION]
    assert start.metadata["api"] == stop.metadata["api"] == failed.metadata["api"] == "openai.embeddings"
    assert (stop.metadata["provider"], stop.metadata["model"], stop.metadata["stream"]) == (
        "gemini", "gemini-embedding-001", False)
    assert stop.metadata["request_id"] == start.metadata["request_id"]
    m = stop.measurements
    assert (m["prompt_tokens"], m["completion_tokens"], m["total_tokens"], m["inputs"]) == (3, 0, 3, 2)
    assert m["cost_usd"] == 3 * GEMINI_001 / M and isinstance(m["cost_usd"], Decimal)
    assert failed.metadata["kind"] == "error" and start2.metadata["model"] == "gemini-embedding-001-status-503"


def test_prometheus_counts_embeddings_like_chat(fakes: Fakes) -> None:
    with gateway_for_all(fakes) as gw:
        sdk(gw.url).embeddings.create(model="openai:text-embedding-3-small", input="a b c d")
        text = httpx.get(gw.url + "/metrics").text
    assert 'req_llm_gateway_requests_total{model="text-embedding-3-small",outcome="success",provider="openai"} 1.0' \
        in text
    assert 'req_llm_gateway_tokens_total{kind="prompt",model="text-embedding-3-small",provider="openai"} 4.0' in text


def test_a_failing_model_is_retried_then_falls_back_to_another_provider(fakes: Fakes, tmp_path: Path) -> None:
    config = tmp_path / "gateway.toml"
    config.write_text('[fallbacks]\n"openai:text-embedding-3-small-status-503" = ["gemini:gemini-embedding-001"]\n')
    with gateway_for_all(fakes, config, REQ_LLM_GATEWAY_MAX_RETRIES="1", REQ_LLM_GATEWAY_RETRY_BACKOFF_BASE="0.01") as gw, \
            telemetry.capture([UPSTREAM_ATTEMPT]) as attempts:
        fakes.clear()
        result = sdk(gw.url).embeddings.create(model="openai:text-embedding-3-small-status-503", input="a b")
        rows = asyncio.run(gw.app.state.usage.get_all())  # type: ignore[attr-defined]

    assert result.model_extra["x_req_llm"]["provider"] == "gemini"
    assert result.model_extra["x_req_llm"]["fallback_from"] == "openai:text-embedding-3-small-status-503"
    assert [a.metadata["outcome"] for a in attempts] == ["error", "error", "ok"]
    assert (len(fakes.openai.received), len(fakes.gemini.received)) == (2, 1)
    assert [(r.provider, r.model, r.total_tokens) for r in rows] == [("gemini", "gemini-embedding-001", 2)]


def test_gateway_keys_and_their_model_lists_apply(fakes: Fakes, tmp_path: Path) -> None:
    config = tmp_path / "gateway.toml"
    config.write_text('[keys.rag]\nkey = "k-rag-123456"\nmodels = ["openai:text-embedding-*"]\n')
    with gateway_for_all(fakes, config) as gw:
        with pytest.raises(openai.AuthenticationError):
            sdk(gw.url).embeddings.create(model="openai:text-embedding-3-small", input="a")
        ok = sdk(gw.url, "k-rag-123456").embeddings.create(model="openai:text-embedding-3-small", input="a")
        with pytest.raises(openai.PermissionDeniedError) as denied:
            sdk(gw.url, "k-rag-123456").embeddings.create(model="gemini:gemini-embedding-001", input="a")
        rows = asyncio.run(gw.app.state.usage.get_all())  # type: ignore[attr-defined]
    assert len(ok.data) == 1
    assert "may not use the model 'gemini:gemini-embedding-001'" in denied.value.body["message"]
    assert [(r.model, r.key_name) for r in rows] == [("text-embedding-3-small", "rag")]


def test_rate_limits_count_embeddings_requests(fakes: Fakes) -> None:
    with gateway_for_all(fakes, REQ_LLM_GATEWAY_RATE_LIMIT="2/minute") as gw:
        c = sdk(gw.url)
        for _ in range(2):
            c.embeddings.create(model="demo:embed", input="a")
        with pytest.raises(openai.RateLimitError) as info:
            c.embeddings.create(model="demo:embed", input="a")
    assert info.value.response.headers["retry-after"]


def test_budgets_hold_and_charge_embeddings_and_refuse_past_the_limit(fakes: Fakes, tmp_path: Path) -> None:
    config = tmp_path / "gateway.toml"
    # demo embeddings at $1,000 per million tokens: "a b c d" (4 tokens) costs exactly $0.004; the hold before
    # dispatch is the worst case estimated from the body's size (about 30 tokens)
    config.write_text('[prices."demo:embed"]\ninput_mtok = "1000"\noutput_mtok = "0"\n\n'
                      '[keys.rag]\nkey = "k-rag-123456"\nbudget = { usd = "0.05", window = "day" }\n')
    with gateway_for_all(fakes, config) as gw:
        c = sdk(gw.url, "k-rag-123456")
        first = c.embeddings.with_raw_response.create(model="demo:embed", input="a b c d")
        answered = 1
        with pytest.raises(openai.APIStatusError) as info:
            for _ in range(20):
                c.embeddings.create(model="demo:embed", input="a b c d")
                answered += 1
        budgets = httpx.get(gw.url + "/v1/budgets", headers={"authorization": "Bearer k-rag-123456"}).json()
    assert first.headers["x-budget-remaining-usd"]
    assert (info.value.status_code, info.value.body["code"]) == (402, "budget_exceeded")
    (day,) = budgets["data"]
    assert 1 < answered < 20
    assert (Decimal(day["spent_usd"]), Decimal(day["held_usd"])) == (answered * Decimal("0.004"), 0)
