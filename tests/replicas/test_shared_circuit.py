"""Two replicas on one Redis share circuit state: once one of them has opened a failing provider's
circuit, the other refuses requests to that provider too, without sending them upstream, until the
cooldown ends and a probe goes through."""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path

import httpx

from tests.fakes.openai import create_app as openai_fake
from tests.fakes.server import LoopbackServer
from tests.replicas.conftest import LOAD_KEY, replicas, write_config

COOLDOWN = 3.0


def chat(url: str, model: str) -> httpx.Response:
    body = {"model": f"openai:{model}", "messages": [{"role": "user", "content": "hi"}]}
    return httpx.post(url + "/v1/chat/completions", json=body, headers={"authorization": f"Bearer {LOAD_KEY}"},
                      timeout=30)


def test_a_circuit_one_replica_opens_is_open_on_the_other(
    tmp_path: Path, shared_redis: dict[str, str], report: Callable[..., None],
) -> None:
    fake = openai_fake()
    config = write_config(tmp_path / "gateway.toml", "100/minute")
    with LoopbackServer(fake) as upstream:
        env = {**shared_redis, "OPENAI_API_KEY": "sk-fake", "OPENAI_BASE_URL": upstream.url + "/v1",
               "REQ_LLM_GATEWAY_MAX_RETRIES": "0", "REQ_LLM_GATEWAY_CIRCUIT_FAILURES": "3",
               "REQ_LLM_GATEWAY_CIRCUIT_COOLDOWN": str(COOLDOWN)}
        with replicas(2, env, config) as (one, two):
            assert chat(two.url, "gpt-4o").status_code == 200  # the other replica knows the provider
            failing = [chat(one.url, "gpt-4o-status-500").status_code for _ in range(3)]
            opened = time.monotonic()
            sent_upstream = len(fake.state.received)
            deadline = opened + 2.0
            while (refused := chat(two.url, "gpt-4o")).status_code == 200 and time.monotonic() < deadline:
                time.sleep(0.05)  # the first tries may still reach the upstream, until the state is synced
            shared_after = time.monotonic() - opened
            leaked = len(fake.state.received) - sent_upstream
            before_probe = len(fake.state.received)
            time.sleep(max(0.0, opened + COOLDOWN + 0.2 - time.monotonic()))
            probe = chat(two.url, "gpt-4o")
            probed = len(fake.state.received) - before_probe

    assert failing == [502, 502, 502]
    assert (refused.status_code, refused.json()["error"]["code"]) == (503, "circuit_open")
    assert shared_after < 1.0  # published at once, adopted at the next 0.25 s tick
    assert (probe.status_code, probed) == (200, 1)
    report(failures_to_open=3, refused_on_other_replica_after_s=round(shared_after, 2),
           requests_that_reached_upstream_meanwhile=leaked, probe_after_cooldown=probe.status_code)
