"""Claude Code 2.1.328 against a real `serve`: pass-through to the Anthropic fake and translated to the
OpenAI fake, a plain turn (exactly one upstream request) and a turn where it runs a Bash tool."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.fakes.fixtures import RunningFake
from tests.processes import GatewayProcess

from . import claude_code

KEY = "gw-claude-code-key"


@pytest.fixture(scope="module")
def claude() -> Path:
    try:
        binary = claude_code.install()
    except Exception as exc:  # no registry: say why
        if os.environ.get("CI"):
            raise
        pytest.skip(f"Claude Code could not be installed: {exc}")
    if binary is None:
        if os.environ.get("CI"):
            pytest.fail("npm is required under CI to install Claude Code")
        pytest.skip("npm is not installed")
    return binary


@pytest.fixture
def gateway(fake_anthropic: RunningFake, fake_openai: RunningFake) -> Iterator[GatewayProcess]:
    env = {"ANTHROPIC_API_KEY": "sk-ant-upstream", "ANTHROPIC_BASE_URL": fake_anthropic.url,
           "OPENAI_API_KEY": "sk-openai-upstream", "OPENAI_BASE_URL": fake_openai.url + "/v1",
           "REQ_LLM_GATEWAY_API_KEY": KEY, "REQ_LLM_GATEWAY_RATE_LIMIT": "10000/minute"}
    with GatewayProcess(env) as gw:
        yield gw


def messages_posts(fake: RunningFake, path: str) -> list[object]:
    return [r for r in fake.received if r.method == "POST" and r.path == path]


def usage_rows(gw: GatewayProcess) -> list[dict[str, object]]:
    rows: list[dict[str, object]] = httpx.get(gw.url + "/v1/usage", headers={"x-api-key": KEY}).json()["rows"]
    return rows


def test_plain_turn_passes_through_as_exactly_one_request(claude: Path, gateway: GatewayProcess,
                                                          fake_anthropic: RunningFake) -> None:
    run = claude_code.run(claude, gateway.url, KEY, "Say hello", model="claude-opus-5-5-no-tools")
    assert run.result.get("is_error") is False, run.stdout + run.stderr
    assert run.result["result"].startswith("Fake reply to:") and run.result["result"].endswith("Say hello")
    posts = messages_posts(fake_anthropic, "/v1/messages")
    assert len(posts) == 1
    seen = fake_anthropic.last
    assert seen.query == {"beta": "true"}
    assert "claude-code-20250219" in seen.headers["anthropic-beta"]
    assert seen.headers["x-api-key"] == "sk-ant-upstream"
    assert seen.json["system"][0]["text"].startswith("x-anthropic-billing-header")  # kept for Anthropic
    assert seen.json["stream"] is True
    row = next(r for r in usage_rows(gateway) if r["model"] == "claude-opus-5-5-no-tools")
    assert row["provider"] == "anthropic" and row["calls"] == 1 and row["prompt_tokens"] > 0
    assert row["unpriced_calls"] == 1 and row["cost_usd"] == "0"  # an unknown model: no made-up cost


def test_plain_turn_translated_to_openai(claude: Path, gateway: GatewayProcess, fake_openai: RunningFake) -> None:
    run = claude_code.run(claude, gateway.url, KEY, "Say hello", model="openai:gpt-4o-no-tools", bearer=True)
    assert run.result.get("is_error") is False, run.stdout + run.stderr
    assert run.result["result"].startswith("Fake reply to:") and run.result["result"].endswith("Say hello")
    posts = messages_posts(fake_openai, "/v1/chat/completions")
    assert len(posts) == 1
    sent = fake_openai.last.json
    assert not any("x-anthropic-billing-header" in str(m.get("content")) for m in sent["messages"])
    row = next(r for r in usage_rows(gateway) if r["model"] == "gpt-4o-no-tools")
    assert row["provider"] == "openai" and row["calls"] == 1


@pytest.mark.parametrize("model, fake_name, path", [
    ("claude-opus-5-5-tool-bash", "fake_anthropic", "/v1/messages"),
    ("openai:gpt-4o-tool-bash", "fake_openai", "/v1/chat/completions"),
])
def test_tool_turn_runs_bash_and_sends_the_result_back(claude: Path, gateway: GatewayProcess, model: str,
                                                       fake_name: str, path: str,
                                                       request: pytest.FixtureRequest) -> None:
    fake: RunningFake = request.getfixturevalue(fake_name)
    run = claude_code.run(claude, gateway.url, KEY, "echo gateway-tool-ok", "--allowedTools", "Bash", model=model)
    assert run.result.get("is_error") is False, run.stdout + run.stderr
    assert "Tool result received:" in run.result["result"] and "gateway-tool-ok" in run.result["result"]
    assert len(messages_posts(fake, path)) == 2  # the tool call, then its result
