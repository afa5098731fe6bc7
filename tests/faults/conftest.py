"""The fault suite's world: the fake OpenAI API (behind `Flaky`), a resetting server, a refused port, and
two gateways over them, one without and one with fallbacks to a `backup` provider."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import serve_gateway
from tests.fakes import openai as fake_openai_api
from tests.fakes.server import LoopbackServer

from .upstreams import Flaky, ResetServer, refused_port

PRIMARY_KEY = "sk-primary-0123456789abcdef"
BACKUP_KEY = "sk-backup-fedcba9876543210"
OTHER_KEY = "sk-other-00aa11bb22cc33dd"


@dataclass
class Upstreams:
    fake: LoopbackServer
    fake_app: Any
    flaky: Flaky
    reset: ResetServer
    refused: int

    def received(self, model: str) -> int:
        """Requests for `model` that reached the fake (through `Flaky`, which sees them all)."""
        return self.flaky.calls[model]


@pytest.fixture(scope="session")
def upstreams() -> Iterator[Upstreams]:
    app = fake_openai_api.create_app()
    flaky = Flaky(app)
    with LoopbackServer(flaky) as fake, ResetServer() as reset:
        yield Upstreams(fake, app, flaky, reset, refused_port())


def gateway_config(up: Upstreams, tmp: Path, fallbacks: bool) -> str:
    base = up.fake.url + "/v1"
    text = f"""
[providers.backup]
wire = "openai"
base_url = "{base}"
api_key = "{BACKUP_KEY}"
[providers.flaky]
wire = "openai"
base_url = "{base}"
api_key = "{OTHER_KEY}"
[providers.hangs]
wire = "openai"
base_url = "{base}"
api_key = "{OTHER_KEY}"
timeout = 0.3
[providers.dead]
wire = "openai"
base_url = "http://127.0.0.1:{up.refused}/v1"
api_key = "{OTHER_KEY}"
[providers.reset]
wire = "openai"
base_url = "{up.reset.url}/v1"
api_key = "{OTHER_KEY}"
"""
    if fallbacks:
        text += "[fallbacks]\n" + "".join(f'"{p}:*" = ["backup:gpt-4o"]\n'
                                          for p in ("openai", "flaky", "hangs", "dead", "reset"))
    path = tmp / ("fallbacks.toml" if fallbacks else "plain.toml")
    path.write_text(text)
    return str(path)


RESILIENCE_ENV = {
    "REQ_LLM_GATEWAY_MAX_RETRIES": "2",
    "REQ_LLM_GATEWAY_RETRY_BACKOFF_BASE": "0.01",
    "REQ_LLM_GATEWAY_RETRY_BACKOFF_CAP": "0.05",
    "REQ_LLM_GATEWAY_RETRY_AFTER_MAX": "1",
    "REQ_LLM_GATEWAY_CIRCUIT_MIN_REQUESTS": "0",
}


@pytest.fixture(scope="module", params=["plain", "fallbacks", "plain, pyreqwest"])
def gateway(request: pytest.FixtureRequest, upstreams: Upstreams, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Any]:
    tmp = tmp_path_factory.mktemp("faults")
    fallbacks = request.param == "fallbacks"
    client = {"REQ_LLM_GATEWAY_HTTP_CLIENT": "pyreqwest"} if request.param.endswith("pyreqwest") else {}
    env = {"OPENAI_API_KEY": PRIMARY_KEY, "OPENAI_BASE_URL": upstreams.fake.url + "/v1",
           "REQ_LLM_GATEWAY_CONFIG": gateway_config(upstreams, tmp, fallbacks), **RESILIENCE_ENV, **client}
    with serve_gateway(env) as srv:
        gw: Any = srv
        gw.fallbacks = fallbacks
        gw.idle_tasks = _tasks(gw)  # the server's, the lifespan's and the counting one
        yield gw


def _tasks(gw: Any) -> int:
    loop = gw.server.servers[0].get_loop()

    async def count() -> int:
        return len(asyncio.all_tasks())

    return asyncio.run_coroutine_threadsafe(count(), loop).result(2)


def assert_quiet(gw: Any, timeout: float = 3.0) -> None:
    """Nothing is left behind: no request task in flight, no upstream connection checked out of the
    pool, no more asyncio tasks in the gateway's loop than when it was idle at the start."""
    deadline = time.monotonic() + timeout
    while True:
        in_flight = len(gw.server.server_state.tasks)
        checked_out = gw.app.state.http.in_use()
        tasks = _tasks(gw)
        if in_flight == 0 and checked_out == 0 and tasks <= gw.idle_tasks:
            return
        assert time.monotonic() < deadline, f"leak: {in_flight} requests, {checked_out} connections, {tasks} tasks"
        time.sleep(0.02)
