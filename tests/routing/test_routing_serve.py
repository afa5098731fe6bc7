"""Routing through a real `serve` on a socket, with three fake OpenAI-compatible deployments of `gpt-4o`
(tests/fakes/deployments.py) and the official `openai` SDK as the client: weights, session affinity,
failover inside a group then to a fallback, breakers opened by failure rate that skip only when there is
somewhere else to go, 429 storms, and the issue's sequence through default settings."""

from __future__ import annotations

import collections
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import httpx
import openai
import pytest

from tests.fakes.deployments import Deployments
from tests.processes import GatewayProcess

FAST = {"REQ_LLM_GATEWAY_RATE_LIMIT": "100000/minute", "REQ_LLM_GATEWAY_MAX_RETRIES": "0"}


@contextmanager
def gateway(tmp_path: Path, deps: Deployments, routing: str, env: dict[str, str] | None = None,
            ) -> Iterator[tuple[GatewayProcess, openai.OpenAI]]:
    config = tmp_path / "gateway.toml"
    config.write_text(deps.providers_toml() + routing)
    with GatewayProcess({**FAST, **(env or {})}, "--config", str(config)) as gw:
        yield gw, openai.OpenAI(base_url=gw.url + "/v1", api_key="unused", max_retries=0)


def ask(client: openai.OpenAI, model: str = "gpt-4o", session: str | None = None) -> str:
    """The deployment (provider) that answered."""
    headers = {"x-session-id": session} if session else {}
    done = client.chat.completions.create(model=model, messages=[{"role": "user", "content": "hi"}],
                                          extra_headers=headers)
    return str((done.model_extra or {})["x_req_llm"]["provider"])


def status(client: openai.OpenAI, model: str = "gpt-4o") -> int:
    try:
        ask(client, model)
    except openai.APIStatusError as exc:
        return exc.status_code
    return 200


def circuit_lines(gw: GatewayProcess) -> list[str]:
    text = httpx.get(gw.url + "/metrics").text
    return [line for line in text.splitlines() if line.startswith("req_llm_gateway_circuit_state{")]


GROUP = """
[models."gpt-4o"]
deployments = [
  { model = "east:gpt-4o", weight = 2 },
  { model = "west:gpt-4o" },
  { model = "north:gpt-4o", weight = 1 },
]
"""


def test_weights_spread_requests_and_each_session_sticks_to_one_deployment(tmp_path: Path) -> None:
    with Deployments("east", "west", "north") as deps, gateway(tmp_path, deps, GROUP) as (gw, client):
        spread = collections.Counter(ask(client) for _ in range(200))
        by_session: dict[str, set[str]] = collections.defaultdict(set)
        for i in range(200):  # 200 requests in 20 sessions, interleaved
            session = f"session-{i % 20}"
            by_session[session].add(ask(client, session=session))
        models = [m.id for m in client.models.list().data]
        usage = httpx.get(gw.url + "/v1/usage").json()
    # weights 2:1:1 over 200 requests: expected 100/50/50; the bounds are about 4 standard deviations
    assert 70 <= spread["east"] <= 130 and 25 <= spread["west"] <= 75 and 25 <= spread["north"] <= 75, spread
    assert all(len(served) == 1 for served in by_session.values()), by_session
    assert len({next(iter(s)) for s in by_session.values()}) > 1  # sessions still spread over deployments
    assert models[0] == "gpt-4o"
    providers = {row["provider"] for row in usage["rows"]}
    assert providers == {"east", "west", "north"}  # usage names the deployment that answered


def test_a_failing_deployment_hands_over_to_the_group_then_to_the_fallback(tmp_path: Path) -> None:
    routing = '[models."gpt-4o"]\ndeployments = [{ model = "east:gpt-4o" }, { model = "west:gpt-4o" }]\n\n' \
              '[fallbacks]\n"gpt-4o" = ["north:gpt-4o"]\n'
    with Deployments("east", "west", "north") as deps, gateway(tmp_path, deps, routing) as (_, client):
        deps["east"].fail_with = 500
        in_group = [ask(client) for _ in range(10)]
        deps["west"].fail_with = 503
        done = client.chat.completions.create(model="gpt-4o", messages=[{"role": "user", "content": "hi"}])
    assert set(in_group) == {"west"}
    extension = (done.model_extra or {})["x_req_llm"]
    assert (extension["provider"], extension["fallback_from"]) == ("north", "gpt-4o")


# east is tried first on all but about one request in a million: the 429 test counts that every request asked it.
BIASED = '[models."gpt-4o"]\ndeployments = [{ model = "east:gpt-4o", weight = 1000000 }, { model = "west:gpt-4o" }]\n'
BREAKER = {"REQ_LLM_GATEWAY_CIRCUIT_MIN_REQUESTS": "4", "REQ_LLM_GATEWAY_CIRCUIT_COOLDOWN": "60"}


def test_a_circuit_opened_by_failure_rate_skips_the_deployment_while_another_is_left(tmp_path: Path) -> None:
    with Deployments("east", "west") as deps, gateway(tmp_path, deps, BIASED, BREAKER) as (gw, client):
        deps["east"].fail_with = 500
        answered = [ask(client) for _ in range(12)]
        lines = circuit_lines(gw)
    assert answered == ["west"] * 12  # every request answered
    assert deps["east"].failed == 4  # then its circuit opened and it was skipped
    assert 'req_llm_gateway_circuit_state{model="gpt-4o",provider="east"} 1.0' in lines


def test_an_open_circuit_with_nowhere_else_to_go_never_refuses_the_request(tmp_path: Path) -> None:
    env = {**BREAKER, "REQ_LLM_GATEWAY_CIRCUIT_MIN_REQUESTS": "2"}
    with Deployments("east") as deps, gateway(tmp_path, deps, "", env) as (gw, client):
        deps["east"].fail_with = 500
        failing = [status(client, "east:gpt-4o") for _ in range(4)]
        opened = circuit_lines(gw)
        deps["east"].fail_with = None
        recovered = status(client, "east:gpt-4o")
        closed = circuit_lines(gw)
    assert failing == [502] * 4 and deps["east"].failed == 4  # the upstream's error, never a 503
    assert 'req_llm_gateway_circuit_state{model="gpt-4o",provider="east"} 1.0' in opened
    assert recovered == 200
    assert 'req_llm_gateway_circuit_state{model="gpt-4o",provider="east"} 0.0' in closed


def test_a_429_storm_never_opens_a_circuit(tmp_path: Path) -> None:
    with Deployments("east", "west") as deps, gateway(tmp_path, deps, BIASED, BREAKER) as (gw, client):
        deps["east"].fail_with = 429
        answered = [ask(client) for _ in range(30)]
        lines = circuit_lines(gw)
    assert answered == ["west"] * 30
    assert deps["east"].failed == 30  # asked every time: back-pressure is not ill health
    assert lines == []


def test_the_issues_sequence_with_default_settings_answers_the_third_request_at_once(tmp_path: Path) -> None:
    """Default settings, no fallbacks, one OpenAI: two requests meet 500s (each retried twice), then the
    upstream answers again. The third request gets a 200; no circuit opened."""
    with Deployments("openai") as deps:
        env = {"OPENAI_API_KEY": "sk-test", "OPENAI_BASE_URL": deps["openai"].url}
        with GatewayProcess(env) as gw:
            client = openai.OpenAI(base_url=gw.url + "/v1", api_key="unused", max_retries=0)
            deps["openai"].fail_with = 500
            first_two = [status(client) for _ in range(2)]
            deps["openai"].fail_with = None
            third = status(client)
            other_model = status(client, "gpt-4o-mini")
            lines = circuit_lines(gw)
    assert first_two == [502, 502] and deps["openai"].failed == 6
    assert (third, other_model) == (200, 200)
    assert lines == []


@pytest.mark.parametrize("header", ["x-claude-code-session-id", "session-id"])
def test_agent_clients_session_headers_give_affinity(tmp_path: Path, header: str) -> None:
    with Deployments("east", "west", "north") as deps, gateway(tmp_path, deps, GROUP) as (_, client):
        served: dict[str, set[Any]] = collections.defaultdict(set)
        for i in range(30):
            session = f"s{i % 5}"
            done = client.chat.completions.create(model="gpt-4o", messages=[{"role": "user", "content": "hi"}],
                                                  extra_headers={header: session})
            served[session].add((done.model_extra or {})["x_req_llm"]["provider"])
    assert all(len(s) == 1 for s in served.values()), served
