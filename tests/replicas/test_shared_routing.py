"""Two replicas on one Redis (`ROUTING_STORE=redis://...`) share session affinity and circuit state: a
session's requests land on one deployment whichever replica takes them, and once one replica has opened a
failing deployment's circuit, the other skips it too, without sending it requests of its own."""

from __future__ import annotations

import collections
import time
from collections.abc import Callable
from pathlib import Path

import httpx

from tests.fakes.deployments import Deployments
from tests.replicas.conftest import LOAD_KEY, replicas, write_config

GROUP = """
[models."gpt-4o"]
deployments = [{ model = "east:gpt-4o", weight = 1000 }, { model = "west:gpt-4o" }, { model = "north:gpt-4o" }]
"""
EVEN = """
[models."gpt-4o"]
deployments = [{ model = "east:gpt-4o" }, { model = "west:gpt-4o" }, { model = "north:gpt-4o" }]
"""


def chat(url: str, session: str | None = None) -> httpx.Response:
    body = {"model": "gpt-4o", "messages": [{"role": "user", "content": "hi"}]}
    headers = {"authorization": f"Bearer {LOAD_KEY}", **({"x-session-id": session} if session else {})}
    return httpx.post(url + "/v1/chat/completions", json=body, headers=headers, timeout=30)


def answered_by(response: httpx.Response) -> str:
    assert response.status_code == 200, response.text
    return str(response.json()["x_req_llm"]["provider"])


def test_a_session_sticks_to_one_deployment_across_replicas(
    tmp_path: Path, shared_redis: dict[str, str], report: Callable[..., None],
) -> None:
    with Deployments("east", "west", "north") as deps:
        config = write_config(tmp_path / "gateway.toml", "100/minute")
        config.write_text(config.read_text() + deps.providers_toml() + EVEN)
        env = {**shared_redis, "REQ_LLM_GATEWAY_ROUTING_STORE": shared_redis["REQ_LLM_GATEWAY_RATE_LIMIT_STORE"]}
        with replicas(2, env, config) as (one, two):
            served: dict[str, set[str]] = collections.defaultdict(set)
            for i in range(60):  # 20 sessions, each round of them on the other replica
                session = f"session-{i % 20}"
                served[session].add(answered_by(chat((one, two)[(i // 20) % 2].url, session)))
                if i < 20:
                    time.sleep(0.01)  # the first success of a session is written to Redis off the request path
    assert all(len(s) == 1 for s in served.values()), served
    report(sessions=len(served), deployments_used=sorted({next(iter(s)) for s in served.values()}))


def test_a_circuit_one_replica_opens_is_skipped_by_the_other(
    tmp_path: Path, shared_redis: dict[str, str], report: Callable[..., None],
) -> None:
    with Deployments("east", "west", "north") as deps:
        config = write_config(tmp_path / "gateway.toml", "100/minute")
        config.write_text(config.read_text() + deps.providers_toml() + GROUP)
        env = {**shared_redis, "REQ_LLM_GATEWAY_ROUTING_STORE": shared_redis["REQ_LLM_GATEWAY_RATE_LIMIT_STORE"],
               "REQ_LLM_GATEWAY_MAX_RETRIES": "0", "REQ_LLM_GATEWAY_CIRCUIT_MIN_REQUESTS": "3",
               "REQ_LLM_GATEWAY_CIRCUIT_COOLDOWN": "60"}
        with replicas(2, env, config) as (one, two):
            assert answered_by(chat(two.url)) == "east"  # the other replica knows the deployment
            deps["east"].fail_with = 500
            during = [answered_by(chat(one.url)) for _ in range(3)]  # east fails, another answers
            opened = time.monotonic()
            failed_before = deps["east"].failed
            deadline = opened + 2.0
            while time.monotonic() < deadline:
                answered_by(chat(two.url))
                if deps["east"].failed == failed_before:
                    break  # two skipped east: it adopted the open circuit
                failed_before = deps["east"].failed
                time.sleep(0.05)
            shared_after = time.monotonic() - opened
            before = deps["east"].failed
            later = [answered_by(chat(two.url)) for _ in range(10)]
    leaked = failed_before - 3  # requests of replica two that reached east before the state was synced
    assert "east" not in during and leaked <= 2
    assert deps["east"].failed == before and "east" not in later  # replica two no longer asks east
    assert shared_after < 1.0
    report(failures_to_open=3, skipped_on_other_replica_after_s=round(shared_after, 2), leaked=leaked)
