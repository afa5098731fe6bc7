"""Codex CLI 0.169 itself against a real `serve`: `codex exec` with a custom `[model_providers.gw]`
(`wire_api = "responses"`), passed through to the OpenAI fake and bridged to the Anthropic fake. The fakes'
model calls Codex's first tool (`exec_command`); Codex runs it and sends the output back, and the fake's
answer to that output ends the turn. The fixture installs Codex from npm when it is missing."""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.fakes.conversation import TOOL_RESULT_PREFIX
from tests.fakes.fixtures import RunningFake
from tests.processes import GatewayProcess

CODEX_VERSION = "0.169.0"
CACHE = Path(os.environ.get("CODEX_CACHE_DIR", Path.home() / ".cache" / "req-llm-gateway" / f"codex-{CODEX_VERSION}"))
GATEWAY_KEY = "gw-codex-test-key"


@pytest.fixture(scope="session")
def codex_bin() -> Path:
    binary = CACHE / "node_modules" / ".bin" / "codex"
    if not binary.exists():
        npm = shutil.which("npm")
        if npm is None:
            if os.environ.get("CI") == "true":
                pytest.fail("npm is needed to install Codex")
            pytest.skip("npm is not installed: Codex cannot be installed")
        CACHE.mkdir(parents=True, exist_ok=True)
        subprocess.run([npm, "install", "--prefix", str(CACHE), f"@openai/codex@{CODEX_VERSION}"], check=True,
                       capture_output=True, timeout=600)
    return binary


def run_codex(codex: Path, home: Path, url: str, model: str, prompt: str) -> subprocess.CompletedProcess[str]:
    home.mkdir(parents=True, exist_ok=True)
    (home / "config.toml").write_text(f'''model = "{model}"
model_provider = "gw"
[model_providers.gw]
name = "gateway"
base_url = "{url}/v1"
env_key = "GW_KEY"
wire_api = "responses"
request_max_retries = 0
stream_max_retries = 0
''')
    env = {"PATH": os.environ["PATH"], "HOME": str(home), "CODEX_HOME": str(home), "GW_KEY": GATEWAY_KEY}
    return subprocess.run([str(codex), "exec", "--skip-git-repo-check", "--sandbox", "danger-full-access", prompt],
                          env=env, cwd=home, capture_output=True, text=True, timeout=180, check=False)


def gateway_env(fake_openai: RunningFake, fake_anthropic: RunningFake) -> dict[str, str]:
    return {"OPENAI_API_KEY": "sk-test", "OPENAI_BASE_URL": fake_openai.url + "/v1",
            "ANTHROPIC_API_KEY": "sk-ant-test", "ANTHROPIC_BASE_URL": fake_anthropic.url,
            "REQ_LLM_GATEWAY_API_KEY": GATEWAY_KEY, "REQ_LLM_GATEWAY_USAGE_STORE": "memory://",
            "REQ_LLM_GATEWAY_MAX_RETRIES": "0"}


def function_outputs(body: Any) -> list[dict[str, Any]]:
    return [i for i in body.get("input", []) if isinstance(i, dict) and i.get("type") == "function_call_output"]


@pytest.mark.parametrize("model, upstream", [("gpt-4o-mini", "openai"), ("anthropic:claude-haiku-4-5", "anthropic")],
                         ids=["pass-through", "bridged"])
def test_codex_runs_a_tool_turn_through_the_gateway(codex_bin: Path, tmp_path: Path, fake_openai: RunningFake,
                                                    fake_anthropic: RunningFake, model: str, upstream: str) -> None:
    fake = fake_openai if upstream == "openai" else fake_anthropic
    with GatewayProcess(gateway_env(fake_openai, fake_anthropic)) as gw:
        done = run_codex(codex_bin, tmp_path / "codex", gw.url, model, "echo codex-e2e-marker")
        totals = httpx.get(gw.url + "/v1/usage", headers={"authorization": f"Bearer {GATEWAY_KEY}"}).json()["totals"]
    assert done.returncode == 0, done.stderr[-3000:]
    assert TOOL_RESULT_PREFIX.strip() in done.stdout + done.stderr
    bodies = [r.json for r in fake.received]
    assert len(bodies) == 2  # the tool call, then the answer to its output: no retries, no extra requests
    first, second = bodies
    if upstream == "openai":  # passed through: Codex's own body, untouched
        assert first["store"] is False and any(t.get("type") == "web_search" for t in first["tools"])
        outputs = function_outputs(second)
    else:  # bridged: tool messages in Anthropic's format
        assert not any(t.get("name") == "web_search" for t in first["tools"])
        outputs = [b for m in second["messages"] for b in (m["content"] if isinstance(m["content"], list) else [])
                   if b.get("type") == "tool_result"]
    assert len(outputs) == 1
    assert totals["calls"] == 2 and totals["errors"] == 0 and totals["total_tokens"] > 0
