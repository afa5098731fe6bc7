"""A bad setting stops `serve` before it listens: exit code 2, one line on stderr naming the key and what
is wrong, no traceback. One case per validated section."""

from __future__ import annotations

import socket
import subprocess
import sys
from pathlib import Path

import pytest

from req_llm_gateway.app import create_app
from req_llm_gateway.checks import check_settings
from req_llm_gateway.config import ConfigError, Settings, sqlite_path
from tests.processes import ROOT, clean_env, free_port

CASES = {
    "fallbacks": ('[fallbacks]\n"gpt-4o" = ["nowhere:gpt-4o"]\n', {}, "[fallbacks] 'gpt-4o': unknown provider"),
    "fallbacks_shape": ('[fallbacks]\n"gpt-4o" = [1]\n', {}, "[fallbacks] 'gpt-4o' must be a list of model names"),
    "model_groups": ('[models."gpt-4o"]\ndeployments = [{ model = "openai:gpt-4o", weight = 0 }]\n', {},
                     '[models."gpt-4o"] deployments[0] weight must be a positive number'),
    "model_group_provider": ('[models."fast"]\ndeployments = [{ model = "nope:x" }]\n', {},
                             '[models."fast"] deployments[0]: unknown provider'),
    "rate_limit": ("", {"REQ_LLM_GATEWAY_RATE_LIMIT": "lots"}, "REQ_LLM_GATEWAY_RATE_LIMIT: a rate limit looks like"),
    "key_rate_limit": ('[keys.team]\nkey = "sk-team"\nrate_limit = "5 per fortnight"\n', {},
                       "[keys.team] rate_limit: a rate limit looks like"),
    "prices": ('[prices."openai:my-model"]\ninput_mtok = "cheap"\noutput_mtok = 1\n', {},
               'prices."openai:my-model".input_mtok must be a number'),
    "usage_store": ("", {"REQ_LLM_GATEWAY_USAGE_STORE": "mysql://db/usage"}, "REQ_LLM_GATEWAY_USAGE_STORE: unknown store"),
    "sqlite_url": ("", {"REQ_LLM_GATEWAY_USAGE_STORE": "sqlite://host/x.db"},
                   "REQ_LLM_GATEWAY_USAGE_STORE: a SQLite URL is sqlite:///relative/path.db"),
    "rate_limit_store": ("", {"REQ_LLM_GATEWAY_RATE_LIMIT_STORE": "memcached://x"},
                         "REQ_LLM_GATEWAY_RATE_LIMIT_STORE: unknown store"),
    "routing_store": ("", {"REQ_LLM_GATEWAY_ROUTING_STORE": "etcd://x"}, "REQ_LLM_GATEWAY_ROUTING_STORE must be"),
    "circuit": ("", {"REQ_LLM_GATEWAY_CIRCUIT_FAILURE_RATE": "2"}, "REQ_LLM_GATEWAY_CIRCUIT_FAILURE_RATE must be"),
    "team_budget": ('[teams.research]\nbudget = { usd = "20", window = "year" }\n', {},
                    "[teams.research] budget window must be one of day, week, month, total, got 'year'"),
    "budget_store": ('[keys.a]\nkey = "sk-a"\nbudget = { usd = "1", window = "day" }\n',
                     {"REQ_LLM_GATEWAY_BUDGET_STORE": "etcd://x"}, "REQ_LLM_GATEWAY_BUDGET_STORE: unknown scheme"),
}
BUDGET_CASES = ("team_budget", "budget_store")


@pytest.mark.parametrize("case", sorted(CASES))
def test_a_bad_setting_stops_serve_before_it_listens_with_one_line_naming_it(tmp_path: Path, case: str) -> None:
    toml, env, message = CASES[case]
    config = tmp_path / "gateway.toml"
    config.write_text(toml)
    port = free_port()
    proc = subprocess.run([sys.executable, "-m", "req_llm_gateway", "serve", "--port", str(port),
                           "--config", str(config)], env=clean_env(env), cwd=ROOT, capture_output=True,
                          text=True, timeout=60, check=False)
    lines = proc.stderr.strip().splitlines()
    assert proc.returncode == 2, proc.stderr
    assert len(lines) == 1 and lines[0].startswith("req-llm-gateway: ") and message in lines[0], lines
    assert "Traceback" not in proc.stderr + proc.stdout
    with socket.socket() as s:
        assert s.connect_ex(("127.0.0.1", port)) != 0  # nothing listening


@pytest.mark.parametrize("case", BUDGET_CASES)
def test_create_app_refuses_a_bad_budget_with_the_line_serve_prints(tmp_path: Path, case: str) -> None:
    """Budgets are part of the one start-up check, so an app mounted elsewhere (or a worker) fails the same way."""
    toml, env, message = CASES[case]
    config = tmp_path / "gateway.toml"
    config.write_text(toml)
    settings = Settings.from_env({**env, "REQ_LLM_GATEWAY_CONFIG": str(config)})
    with pytest.raises(ConfigError) as checked:
        check_settings(settings)  # the one check serve, each worker and create_app run
    with pytest.raises(ConfigError) as refused:
        create_app(settings)
    assert message in str(checked.value) and str(refused.value) == str(checked.value)
    assert "\n" not in str(refused.value)


def test_workers_are_never_started_with_a_bad_budget(tmp_path: Path) -> None:
    toml, _, message = CASES["team_budget"]
    config = tmp_path / "gateway.toml"
    config.write_text(toml)
    proc = subprocess.run([sys.executable, "-m", "req_llm_gateway", "serve", "--port", str(free_port()),
                           "--workers", "2", "--config", str(config)], env=clean_env({}), cwd=ROOT,
                          capture_output=True, text=True, timeout=60, check=False)
    assert proc.returncode == 2 and proc.stderr.strip() == f"req-llm-gateway: {message}"


def test_sqlite_urls_follow_sqlalchemys_rule_for_every_store() -> None:
    from req_llm_gateway.ratelimit.sqlite import sqlite_path as limiter_path
    from req_llm_gateway.usage.sqlite import parse_sqlite_url

    assert sqlite_path("sqlite:///data/x.db") == ("data/x.db", "")
    assert sqlite_path("sqlite:////var/lib/x.db?timeout=5") == ("/var/lib/x.db", "timeout=5")
    assert limiter_path("sqlite:///data/x.db") == "data/x.db" == str(parse_sqlite_url("sqlite:///data/x.db")[0])
    assert limiter_path("sqlite:////abs/x.db") == "/abs/x.db" == str(parse_sqlite_url("sqlite:////abs/x.db")[0])
    with pytest.raises(ConfigError):
        sqlite_path("sqlite://relative.db")
