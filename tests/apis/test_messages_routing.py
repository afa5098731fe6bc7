"""/v1/messages through routing, telemetry and accounting: a fallback across API families, the `api`
metadata on request events, mixed-run usage and cost equal to Decimal totals worked out by hand."""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path
from typing import Any

import anthropic
import httpx
import pytest

from req_llm_gateway import telemetry
from req_llm_gateway.events import REQUEST_START, REQUEST_STOP
from tests.conftest import serve_gateway
from tests.fakes.fixtures import RunningFake

from .conftest import GATEWAY_KEY

CONFIG = """
[models."team-coder"]
deployments = [{ model = "anthropic:claude-grouped" }]

[models."team-cheap"]
deployments = [{ model = "openai:gpt-4o-grouped" }]

[fallbacks]
"anthropic:claude-down-status-529" = ["openai:gpt-4.1"]

[prices."anthropic:claude-mix-cached"]
input_mtok = "3"
output_mtok = "15"
cache_read_mtok = "0.3"
cache_write_mtok = "3.75"

[prices."anthropic:claude-mix-cache-write"]
input_mtok = "3"
output_mtok = "15"
cache_read_mtok = "0.3"
cache_write_mtok = "3.75"

[prices."openai:gpt-4o-mix-cached"]
input_mtok = "2.5"
output_mtok = "10"
cache_read_mtok = "1.25"
"""
MSG = [{"role": "user", "content": "count these five words please"}]


@pytest.fixture
def client(upstream_env: dict[str, str], tmp_path: Path) -> Any:
    path = tmp_path / "gateway.toml"
    path.write_text(CONFIG)
    with serve_gateway({**upstream_env, "REQ_LLM_GATEWAY_CONFIG": str(path)}) as gw:
        yield gw, anthropic.Anthropic(base_url=gw.url, api_key=GATEWAY_KEY, max_retries=0)


@pytest.mark.parametrize("stream", [False, True])
def test_a_messages_request_falls_back_to_openai(client: Any, stream: bool, fake_anthropic: RunningFake,
                                                fake_openai: RunningFake) -> None:
    _, sdk = client
    kwargs: dict[str, Any] = {"model": "claude-down-status-529", "max_tokens": 100, "messages": MSG}
    if stream:
        with sdk.messages.stream(**kwargs) as s:
            made = s.get_final_message()
    else:
        made = sdk.messages.create(**kwargs)
    assert made.content[0].text == "Fake reply to: count these five words please"
    assert fake_anthropic.last.path == "/v1/messages"
    assert fake_openai.last.json["model"] == "gpt-4.1"


def test_request_events_name_the_api(client: Any) -> None:
    _, sdk = client
    with telemetry.capture([REQUEST_START, REQUEST_STOP]) as events:
        sdk.messages.create(model="claude-sonnet-4-5", max_tokens=50, messages=MSG)
        sdk.messages.create(model="openai:gpt-4o", max_tokens=50, messages=MSG)
    assert [(e.event, e.metadata["api"], e.metadata["provider"]) for e in events] == [
        (REQUEST_START, "anthropic.messages", "anthropic"), (REQUEST_STOP, "anthropic.messages", "anthropic"),
        (REQUEST_START, "anthropic.messages", "openai"), (REQUEST_STOP, "anthropic.messages", "openai")]
    assert events[1].metadata["finish_reasons"] == ("stop",) and events[1].measurements["total_tokens"] > 0


def test_mixed_run_usage_and_cost_equal_hand_computed_decimals(client: Any) -> None:
    gw, sdk = client
    answers = []
    for model, stream in [("claude-mix-cached", False), ("claude-mix-cached", True), ("claude-mix-cache-write", False),
                          ("openai:gpt-4o-mix-cached", True), ("claude-nonesuch-1", False)]:
        kwargs: dict[str, Any] = {"model": model, "max_tokens": 100, "messages": MSG}
        if stream:
            with sdk.messages.stream(**kwargs) as s:
                answers.append((model, s.get_final_message().usage))
        else:
            answers.append((model, sdk.messages.create(**kwargs).usage))
    prices = {"claude-mix-cached": ("3", "15", "0.3", "3.75"), "claude-mix-cache-write": ("3", "15", "0.3", "3.75"),
              "openai:gpt-4o-mix-cached": ("2.5", "10", "1.25", "0")}
    expected = Decimal(0)
    for model, u in answers:
        if model in prices:
            fresh, out, read, write = (Decimal(p) / 1_000_000 for p in prices[model])
            expected += (u.input_tokens * fresh + u.output_tokens * out + (u.cache_read_input_tokens or 0) * read
                         + (u.cache_creation_input_tokens or 0) * write)
    rows = httpx.get(gw.url + "/v1/usage", headers={"x-api-key": GATEWAY_KEY}).json()
    assert Decimal(rows["totals"]["cost_usd"]) == expected == Decimal("0.0004857")
    reads = sum(u.cache_read_input_tokens or 0 for _, u in answers)
    writes = sum(u.cache_creation_input_tokens or 0 for _, u in answers)
    assert reads > 0 and writes > 0
    prompt = sum(u.input_tokens + (u.cache_read_input_tokens or 0) + (u.cache_creation_input_tokens or 0)
                 for _, u in answers)
    assert rows["totals"]["prompt_tokens"] == prompt
    assert rows["totals"]["calls"] == 5 and rows["totals"]["unpriced_calls"] == 1


def test_prometheus_counts_messages_requests_like_chat(client: Any) -> None:
    gw, sdk = client
    sdk.messages.create(model="claude-mix-cached", max_tokens=50, messages=MSG)
    sdk.messages.create(model="openai:gpt-4o-mix-cached", max_tokens=50, messages=MSG)
    metrics = httpx.get(gw.url + "/metrics", headers={"x-api-key": GATEWAY_KEY}).text
    lines = [line for line in metrics.splitlines() if line.startswith("req_llm_gateway_requests_total")]
    assert any('provider="anthropic"' in line and 'model="claude-mix-cached"' in line for line in lines), lines
    assert any('provider="openai"' in line and 'model="gpt-4o-mix-cached"' in line for line in lines), lines


def test_budget_holds_and_refusals_apply_to_messages(upstream_env: dict[str, str], tmp_path: Path) -> None:
    path = tmp_path / "gateway.toml"
    path.write_text(CONFIG + '\n[keys.alice]\nkey_env = "ALICE_KEY"\nbudget = { usd = "0.01", window = "day" }\n')
    env = {**upstream_env, "REQ_LLM_GATEWAY_CONFIG": str(path), "ALICE_KEY": "alice-secret-key"}
    with serve_gateway(env) as gw:
        sdk = anthropic.Anthropic(base_url=gw.url, api_key="alice-secret-key", max_retries=0)
        made = sdk.messages.create(model="claude-mix-cached", max_tokens=5, messages=MSG)  # fits the budget
        assert made.type == "message"
        with pytest.raises(anthropic.APIStatusError) as refused:  # the worst case of 4000 tokens does not
            sdk.messages.create(model="claude-mix-cached", max_tokens=4000, messages=MSG)
        assert refused.value.status_code == 402
        assert refused.value.body["error"]["type"] == "billing_error"  # type: ignore[index]


def test_model_groups_pass_through_or_translate_per_deployment(client: Any, fake_anthropic: RunningFake,
                                                              fake_openai: RunningFake) -> None:
    gw, _ = client
    raw = b'{"model": "team-coder", "max_tokens": 50, "messages": [{"role": "user", "content": "hi"}]}'
    headers = {"x-api-key": GATEWAY_KEY, "anthropic-version": "2023-06-01", "content-type": "application/json"}
    assert httpx.post(gw.url + "/v1/messages", content=raw, headers=headers).status_code == 200
    assert fake_anthropic.last.body == raw.replace(b'"model": "team-coder"', b'"model":"claude-grouped"')
    cheap = httpx.post(gw.url + "/v1/messages", content=raw.replace(b"team-coder", b"team-cheap"), headers=headers)
    assert cheap.status_code == 200 and cheap.json()["content"][0]["text"] == "Fake reply to: hi"
    assert fake_openai.last.json["model"] == "gpt-4o-grouped"
