"""Cost per provider, worked out by hand from the published prices (genai-prices 0.2.x catalogue).

Usage(prompt, completion, total, cached, cache_write, reasoning): OpenAI's convention, so cached and
cache-write tokens are part of the prompt and reasoning tokens part of the completion.
"""

from __future__ import annotations

import datetime as dt
import logging
import random
import threading
from decimal import Decimal
from pathlib import Path

import httpx
import pytest
from genai_prices import data_snapshot, wait_prices_updated_sync
from genai_prices import types as gp
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from req_llm_gateway import Settings, create_app
from req_llm_gateway.config import ConfigError
from req_llm_gateway.pricing import CATALOGUE_PROVIDER, PriceError, PriceRefresh, Pricing, Rates
from req_llm_gateway.types import Usage
from tests.conftest import serve_gateway
from tests.fakes.server import LoopbackServer

NOON = dt.datetime(2026, 11, 3, 12, 0, tzinfo=dt.UTC)
EVENING = dt.datetime(2026, 11, 3, 18, 0, tzinfo=dt.UTC)


def U(prompt: int, completion: int, cached: int = 0, cache_write: int = 0, reasoning: int = 0) -> Usage:
    return Usage(prompt, completion, prompt + completion, cached, cache_write, reasoning)


# (provider, model, usage, expected USD, how)
CASES = [
    ("openai", "gpt-4o", U(1000, 500), "0.0075", "1000*2.5 + 500*10"),
    ("openai", "gpt-4o", U(10_000, 200, cached=6000), "0.0195", "4000*2.5 + 6000*1.25 + 200*10"),
    ("openai", "gpt-4o-mini", U(1234, 567), "0.0005253", "1234*0.15 + 567*0.6"),
    ("openai", "o3-mini", U(2000, 3000, reasoning=2500), "0.0154", "2000*1.1 + 3000*4.4 (reasoning is output)"),
    ("openai", "gpt-5.4", U(300_000, 1000, cached=100_000), "1.0725",
     ">272k tier for all tokens: 200000*5 + 100000*0.5 + 1000*22.5"),
    ("openai", "gpt-5.4", U(272_000, 1000, cached=100_000), "0.47",
     "exactly 272k stays on base: 172000*2.5 + 100000*0.25 + 1000*15"),
    ("azure", "gpt-4o", U(3000, 100, cached=1000), "0.00725", "2000*2.5 + 1000*1.25 + 100*10"),
    ("anthropic", "claude-haiku-4-5", U(5000, 400, cached=1000, cache_write=3000), "0.00685",
     "1000*1 + 3000*1.25 + 1000*0.1 + 400*5"),
    ("anthropic", "claude-sonnet-4-5", U(200_000, 1000), "0.615", "exactly 200k is base: 200000*3 + 1000*15"),
    ("anthropic", "claude-sonnet-4-5", U(250_000, 2000, cached=50_000, cache_write=100_000), "1.425",
     "long context: 100000*6 + 100000*7.5 + 50000*0.6 + 2000*22.5"),
    ("gemini", "gemini-2.5-pro", U(100_000, 5000, reasoning=3000), "0.175", "100000*1.25 + 5000*10"),
    ("gemini", "gemini-2.5-pro", U(300_000, 10_000, cached=100_000), "0.675",
     ">200k tier: 200000*2.5 + 100000*0.25 + 10000*15"),
    ("google", "gemini-2.5-flash", U(8000, 1500, cached=2000, reasoning=1000), "0.00561",
     "6000*0.3 + 2000*0.03 + 1500*2.5"),
    ("bedrock", "us.anthropic.claude-sonnet-4-20250514-v1:0", U(4000, 300, cached=2000, cache_write=1000), "0.01185",
     "1000*3 + 1000*3.75 + 2000*0.3 + 300*15"),
    ("bedrock", "amazon.nova-pro-v1:0", U(1000, 1000), "0.004", "1000*0.8 + 1000*3.2"),
    ("groq", "llama-3.3-70b-versatile", U(1000, 100, cached=500), "0.000669",
     "no cache price: cached tokens pay input, 1000*0.59 + 100*0.79"),
    ("mistral", "mistral-large-latest", U(1000, 1000), "0.008", "1000*2 + 1000*6"),
    ("xai", "grok-4", U(2000, 500, cached=1000, reasoning=300), "0.01125", "1000*3 + 1000*0.75 + 500*15"),
    ("together", "meta-llama/Llama-3.3-70B-Instruct-Turbo", U(1000, 1000), "0.00176", "1000*0.88 + 1000*0.88"),
    ("fireworks", "accounts/fireworks/models/llama-v3p1-8b-instruct", U(5000, 5000), "0.002", "5000*0.2 + 5000*0.2"),
    ("cerebras", "gpt-oss-120b", U(1000, 2000), "0.00185", "1000*0.35 + 2000*0.75"),
    ("openrouter", "anthropic/claude-3.5-sonnet", U(1000, 100), "0.0045", "1000*3 + 100*15"),
    ("perplexity", "sonar", U(500, 300), "0.0128", "500*1 + 300*1, plus $12 per 1000 requests"),
    ("perplexity", "sonar-deep-research", U(1000, 5000, reasoning=4000), "0.022",
     "reasoning has its own price: 1000*2 + 1000*8 + 4000*3"),
    ("demo", "anything", U(10, 20), "0.000035", "the demo's made-up 10*0.5 + 20*1.5"),
]


@pytest.mark.parametrize(("provider", "model", "usage", "expected", "how"), CASES,
                         ids=[f"{c[0]}:{c[1]}:{c[4][:30]}" for c in CASES])
def test_cost_matches_the_hand_computed_price(provider: str, model: str, usage: Usage, expected: str, how: str) -> None:
    assert Pricing(clock=lambda: NOON).cost(provider, model, usage) == Decimal(expected)


def test_deepseek_off_peak_price_depends_on_the_time_of_day() -> None:
    usage = U(10_000, 1000, cached=4000)
    # 00:30-16:30 UTC is standard price: 6000*0.27 + 4000*0.07 + 1000*1.1
    assert Pricing(clock=lambda: NOON).cost("deepseek", "deepseek-chat", usage) == Decimal("0.003")
    # otherwise the discount: 6000*0.135 + 4000*0.035 + 1000*0.55
    assert Pricing(clock=lambda: EVENING).cost("deepseek", "deepseek-chat", usage) == Decimal("0.0015")


@pytest.mark.parametrize(("provider", "model"), [
    ("openai", "gpt-unknown-9"), ("ollama", "llama3.2"), ("mistral", "mistral-ocr-latest"), ("nobody", "x"),
])
def test_unpriced_model_costs_none(provider: str, model: str) -> None:
    assert Pricing().cost(provider, model, U(100, 100)) is None


def test_unpriced_model_warns_once_per_model(caplog: pytest.LogCaptureFixture) -> None:
    pricing = Pricing()
    with caplog.at_level(logging.WARNING, logger="req_llm_gateway.pricing"):
        for _ in range(5):
            pricing.cost("openai", "gpt-unknown-9", U(1, 1))
            pricing.cost("ollama", "llama3.2", U(1, 1))
    messages = [r.getMessage() for r in caplog.records]
    assert len(messages) == 2
    assert "openai:gpt-unknown-9" in messages[0] and "ollama:llama3.2" in messages[1]


def test_no_usage_means_no_cost() -> None:
    assert Pricing().cost("openai", "gpt-4o", None) is None


def test_free_catalogue_model_costs_zero_not_none() -> None:
    assert Pricing().cost("openrouter", "allenai/molmo-7b-d:free", U(1000, 1000)) == Decimal(0)


def test_config_override_wins_over_the_catalogue() -> None:
    pricing = Pricing({"openai:gpt-4o": {"input_mtok": "1", "output_mtok": "2"}})
    assert pricing.cost("openai", "gpt-4o", U(1000, 1000)) == Decimal("0.003")
    assert pricing.cost("openai", "gpt-4o-mini", U(1000, 1000)) == Decimal("0.00075")  # catalogue


def test_custom_model_and_provider_wide_prices() -> None:
    pricing = Pricing({
        "openai:my-finetune": {"input_mtok": "3", "output_mtok": "12", "cache_read_mtok": "1.5"},
        "ollama": {"input_mtok": 0, "output_mtok": 0},
    })
    # 600*3 + 400*1.5 + 100*12
    assert pricing.cost("openai", "my-finetune", U(1000, 100, cached=400)) == Decimal("0.0036")
    assert pricing.cost("ollama", "llama3.2", U(1000, 100)) == Decimal(0)


def test_tiered_override() -> None:
    pricing = Pricing({"vllm:big": {
        "input_mtok": {"base": "1", "tiers": [{"start": 1000, "price": "2"}]},
        "output_mtok": {"base": "10", "tiers": [{"start": 1000, "price": "20"}]},
    }})
    assert pricing.cost("vllm", "big", U(1000, 10)) == Decimal("0.0011")  # 1000*1 + 10*10
    assert pricing.cost("vllm", "big", U(1001, 10)) == Decimal("0.002202")  # 1001*2 + 10*20


@pytest.mark.parametrize("row", [
    {"input_mtok": "cheap", "output_mtok": "1"},
    {"input_mtok": "-1", "output_mtok": "1"},
    {"input_mtok": "1", "output_mtok": "1", "per_token": "1"},
    {"cache_read_mtok": "1"},
    {"input_mtok": {"tiers": []}, "output_mtok": "1"},
])
def test_bad_price_in_config_is_a_config_error(row: dict[str, object]) -> None:
    with pytest.raises(PriceError) as info:
        Pricing({"openai:x": row})
    assert isinstance(info.value, ConfigError)
    assert 'prices."openai:x"' in str(info.value)


def test_rates_are_resolved_once_and_cached() -> None:
    pricing = Pricing()
    usage = U(1000, 500)
    assert pricing.cost("openai", "gpt-4o", usage) == Decimal("0.0075")
    data_snapshot.set_custom_snapshot(data_snapshot.DataSnapshot(providers=[], from_auto_update=True))
    try:  # the catalogue is gone, the resolved price is not
        assert pricing.cost("openai", "gpt-4o", usage) == Decimal("0.0075")
    finally:
        data_snapshot.set_custom_snapshot(None)


def test_following_a_refreshed_catalogue_drops_resolved_prices() -> None:
    pricing = Pricing(follow_refresh=True)
    usage = U(1000, 500)
    assert pricing.cost("openai", "gpt-4o", usage) == Decimal("0.0075")
    fresh = gp._providers_from_raw([{"id": "openai", "name": "OpenAI", "api_pattern": "x", "models": [
        {"id": "gpt-4o", "match": {"equals": "gpt-4o"}, "prices": {"input_mtok": "1", "output_mtok": "2"}}]}])
    data_snapshot.set_custom_snapshot(data_snapshot.DataSnapshot(providers=fresh, from_auto_update=True))
    try:
        assert pricing.cost("openai", "gpt-4o", usage) == Decimal("0.002")
    finally:
        data_snapshot.set_custom_snapshot(None)


def test_rates_parse_and_cost_docstring_example() -> None:
    rates = Rates.parse({"input_mtok": "2.5", "output_mtok": "10", "cache_read_mtok": "1.25"})
    assert rates.cost(Usage(prompt_tokens=1000, completion_tokens=100, cached_tokens=400)) == Decimal("0.003")


def test_every_mapped_catalogue_model_costs_what_the_catalogue_computes() -> None:
    """Our cached fast path agrees with genai-prices' own (slow) calculation, model by model."""
    snapshot = data_snapshot.get_snapshot()
    pricing = Pricing(clock=lambda: NOON)
    rnd = random.Random(5)
    compared = 0
    for provider, catalogue_id in sorted(CATALOGUE_PROVIDER.items()):
        catalogue_provider = next((p for p in snapshot.providers if p.id == catalogue_id), None)
        assert catalogue_provider is not None, f"the catalogue has no provider {catalogue_id!r}"
        for model in catalogue_provider.models:
            prompt = rnd.choice([0, 1000, 150_000, 250_000, 400_000])
            cached = rnd.randint(0, prompt // 2)
            write = rnd.randint(0, (prompt - cached) // 2)
            completion = rnd.randint(0, 5000)
            reasoning = rnd.randint(0, completion)
            try:
                expected = snapshot.calc(gp.Usage(
                    input_tokens=prompt, output_tokens=completion, cache_read_tokens=cached,
                    cache_write_tokens=write, output_reasoning_tokens=reasoning,
                ), model.id, catalogue_id, None, NOON).total_price
            except (LookupError, ValueError):
                continue  # the catalogue cannot price it either
            ours = pricing.cost(provider, model.id, U(prompt, completion, cached, write, reasoning))
            if ours is None:  # priced only in units a chat completion does not report (audio, pages)
                assert expected == 0, (provider, model.id)
                continue
            assert ours == expected, (provider, model.id)
            compared += 1
    assert compared > 1500


def test_a_bad_price_in_the_config_file_stops_create_app(tmp_path: Path) -> None:
    config = tmp_path / "gateway.toml"
    config.write_text('[prices."openai:gpt-4o"]\ninput_mtok = "two"\noutput_mtok = "10"\n')
    with pytest.raises(ConfigError, match=r'prices."openai:gpt-4o".input_mtok must be a number'):
        create_app(Settings.from_env({"REQ_LLM_GATEWAY_USAGE_STORE": "memory://"}, config_path=config))


def test_no_price_download_happens_unless_opted_in() -> None:
    with serve_gateway() as gw:
        r = httpx.post(gw.url + "/v1/chat/completions",
                       json={"model": "demo:echo", "messages": [{"role": "user", "content": "x"}]})
        assert r.json()["x_req_llm"]["cost_usd"] == 0.0000055  # 8*0.5 + 1*1.5
        assert Pricing().cost("openai", "gpt-4o", U(1, 1)) == Decimal("0.0000125")  # the bundled catalogue
    assert not any(t.name == "genai_prices:update" for t in threading.enumerate())
    assert data_snapshot.get_snapshot().from_auto_update is False


def test_opted_in_refresh_downloads_the_catalogue_from_the_configured_url() -> None:
    catalogue = [{"id": "openai", "name": "OpenAI", "api_pattern": "x", "models": [
        {"id": "gpt-4o", "match": {"equals": "gpt-4o"}, "prices": {"input_mtok": "1", "output_mtok": "2"}}]}]
    fetched: list[str] = []

    async def prices(request: Request) -> JSONResponse:
        fetched.append(request.url.path)
        return JSONResponse(catalogue)

    with LoopbackServer(Starlette(routes=[Route("/data.json", prices)])) as mirror:
        refresh = PriceRefresh.start(60, mirror.url + "/data.json")
        try:
            assert wait_prices_updated_sync(timeout=10) is True
            assert fetched == ["/data.json"]
            assert Pricing(follow_refresh=True).cost("openai", "gpt-4o", U(1000, 1000)) == Decimal("0.003")
        finally:
            refresh.stop()
            data_snapshot.set_custom_snapshot(None)
