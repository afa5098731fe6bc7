"""`/health?ready=1`: ready when the stores answer, degraded (still ready) when a store reached before is
lost and the gateway can serve without it, not ready when a store was never reached or rate limits fail
closed without their store."""

from __future__ import annotations

import time
from collections.abc import Iterator

import httpx
import pytest

from tests.conftest import serve_gateway
from tests.redis_support import delete_prefix, require_redis, unique_prefix
from tests.usage.databases import drop_prefixed_tables, pg_url, require_postgres
from tests.usage.databases import unique_prefix as unique_table_prefix
from tests.usage.tcp_proxy import TcpProxy

DEAD_REDIS = "redis://127.0.0.1:1/0"
DEAD_POSTGRES = "postgresql://postgres@127.0.0.1:1/test?connect_timeout=1"


def ready(url: str) -> httpx.Response:
    return httpx.get(url + "/health", params={"ready": "1"}, timeout=10)


def ready_again(url: str, within: float = 5.0) -> httpx.Response:
    """The first readiness answer that says "ok" (a limiter that just failed waits a second before retrying)."""
    deadline = time.monotonic() + within
    while True:
        r = ready(url)
        if r.json()["status"] == "ok" or time.monotonic() > deadline:
            return r
        time.sleep(0.1)


@pytest.fixture
def redis_proxy() -> Iterator[tuple[TcpProxy, str]]:
    require_redis()
    prefix = unique_prefix()
    with TcpProxy("127.0.0.1", 6379) as proxy:
        yield proxy, prefix
    delete_prefix(prefix)


def test_liveness_says_ok_without_asking_the_stores() -> None:
    with serve_gateway({"REQ_LLM_GATEWAY_USAGE_STORE": DEAD_POSTGRES,
                        "REQ_LLM_GATEWAY_RATE_LIMIT_STORE": DEAD_REDIS}) as gw:
        r = httpx.get(gw.url + "/health")
    assert (r.status_code, r.json()) == (200, {"status": "ok"})


def test_ready_when_both_stores_answer(tmp_path: object) -> None:
    with serve_gateway({"REQ_LLM_GATEWAY_USAGE_STORE": f"sqlite:///{tmp_path}/usage.db",
                        "REQ_LLM_GATEWAY_RATE_LIMIT_STORE": f"sqlite:///{tmp_path}/limits.db"}) as gw:
        r = ready(gw.url)
    assert r.status_code == 200
    assert r.json() == {"status": "ok", "ready": True, "buffered_usage_rows": 0,
                        "checks": {"usage_store": "ok", "rate_limit_store": "ok"}}


@pytest.mark.parametrize(("env", "down"), [
    ({"REQ_LLM_GATEWAY_USAGE_STORE": DEAD_POSTGRES}, "usage_store"),
    ({"REQ_LLM_GATEWAY_RATE_LIMIT_STORE": DEAD_REDIS}, "rate_limit_store"),
])
def test_not_ready_while_a_store_was_never_reached(env: dict[str, str], down: str) -> None:
    with serve_gateway(env) as gw:
        r = ready(gw.url)
    assert r.status_code == 503
    body = r.json()
    assert (body["status"], body["ready"], body["checks"][down]) == ("unavailable", False, "unavailable")
    assert "127.0.0.1:1" not in r.text  # no store address in a public answer


@pytest.mark.parametrize(("fail_open", "status", "state"), [("true", 200, "degraded"), ("false", 503, "unavailable")])
def test_losing_redis_keeps_the_replica_ready_only_when_limits_fail_open(
    redis_proxy: tuple[TcpProxy, str], fail_open: str, status: int, state: str,
) -> None:
    proxy, prefix = redis_proxy
    env = {"REQ_LLM_GATEWAY_RATE_LIMIT_STORE": f"redis://127.0.0.1:{proxy.port}/0",
           "REQ_LLM_GATEWAY_RATE_LIMIT_PREFIX": prefix, "REQ_LLM_GATEWAY_RATE_LIMIT_FAIL_OPEN": fail_open}
    with serve_gateway(env) as gw:
        assert ready(gw.url).json()["status"] == "ok"
        proxy.down()
        lost = ready(gw.url)
        proxy.up()
        back = ready_again(gw.url)
    assert (lost.status_code, lost.json()["status"], lost.json()["checks"]["rate_limit_store"]) == (
        status, state, "unavailable")
    assert (back.status_code, back.json()["status"]) == (200, "ok")


def test_losing_postgres_keeps_the_replica_ready_while_usage_is_buffered() -> None:
    require_postgres()
    tables = unique_table_prefix()
    try:
        with TcpProxy("127.0.0.1", 5432) as proxy:
            url = pg_url(tables, f"postgresql://postgres@127.0.0.1:{proxy.port}/test")
            with serve_gateway({"REQ_LLM_GATEWAY_USAGE_STORE": url}) as gw:
                assert ready(gw.url).json()["status"] == "ok"
                proxy.down()
                chat = {"model": "demo:echo", "messages": [{"role": "user", "content": "kept"}]}
                assert httpx.post(gw.url + "/v1/chat/completions", json=chat).status_code == 200
                lost = ready(gw.url)
                proxy.up()
                back = ready(gw.url)
                usage = httpx.get(gw.url + "/v1/usage").json()
    finally:
        drop_prefixed_tables(tables)
    assert lost.status_code == 200
    assert lost.json() == {"status": "degraded", "ready": True, "buffered_usage_rows": 1,
                           "checks": {"usage_store": "unavailable", "rate_limit_store": "ok"}}
    assert back.json() == {"status": "ok", "ready": True, "buffered_usage_rows": 0,
                           "checks": {"usage_store": "ok", "rate_limit_store": "ok"}}
    assert usage["totals"]["calls"] == 1
