"""Rate limits over HTTP: per key or per client address, 429 with Retry-After and `x-ratelimit-*`
headers (also on successful responses), token budgets, fail open or closed when Redis is down, and
one exact limit shared by two `serve` processes through the real Redis."""

from __future__ import annotations

import concurrent.futures
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.conftest import serve_gateway
from tests.processes import GatewayProcess
from tests.redis_support import REDIS_URL, redis_prefix

CHAT = {"model": "demo:echo", "messages": [{"role": "user", "content": "count me"}]}


@pytest.fixture
def prefix() -> Iterator[str]:
    yield from redis_prefix()


def chat(url: str, key: str | None = None) -> httpx.Response:
    headers = {"authorization": f"Bearer {key}"} if key else {}
    return httpx.post(url + "/v1/chat/completions", json=CHAT, headers=headers)


def test_requests_over_the_limit_get_429_with_retry_after_and_headers() -> None:
    with serve_gateway({"REQ_LLM_GATEWAY_RATE_LIMIT": "3/minute"}) as gw:
        answers = [chat(gw.url) for _ in range(4)]
        health = [httpx.get(gw.url + "/health") for _ in range(5)]
    assert [r.status_code for r in answers] == [200, 200, 200, 429]
    assert [r.headers["x-ratelimit-remaining"] for r in answers] == ["2", "1", "0", "0"]
    assert all(r.headers["x-ratelimit-limit"] == "3" for r in answers)
    assert all(59 <= int(r.headers["x-ratelimit-reset"]) <= 60 for r in answers)
    denied = answers[-1]
    assert 59 <= int(denied.headers["retry-after"]) <= 60
    assert denied.json() == {"error": {"message": "Rate limit of 3 requests per minute exceeded.",
                                       "type": "rate_limit_error", "param": None, "code": "rate_limit_exceeded"}}
    assert denied.headers["x-request-id"]
    assert all(r.status_code == 200 and "x-ratelimit-limit" not in r.headers for r in health)


def test_each_key_has_its_own_limit_and_a_key_may_set_its_own(tmp_path: Path) -> None:
    path = tmp_path / "gw.toml"
    path.write_text('[keys.small]\nkey = "small-key"\nrate_limit = "1/minute"\n[keys.big]\nkey = "big-key"\n')
    with serve_gateway({"REQ_LLM_GATEWAY_CONFIG": str(path), "REQ_LLM_GATEWAY_RATE_LIMIT": "2/minute"}) as gw:
        small = [chat(gw.url, "small-key").status_code for _ in range(2)]
        big = [chat(gw.url, "big-key").status_code for _ in range(3)]
    assert small == [200, 429]
    assert big == [200, 200, 429]


def test_without_auth_the_limit_is_per_client_address() -> None:
    with serve_gateway({"REQ_LLM_GATEWAY_RATE_LIMIT": "2/minute"}) as gw:
        local = [chat(gw.url).status_code for _ in range(3)]
        other = httpx.Client(transport=httpx.HTTPTransport(local_address="127.0.0.2"))
        elsewhere = other.post(gw.url + "/v1/chat/completions", json=CHAT)
    assert local == [200, 200, 429]
    assert elsewhere.status_code == 200 and elsewhere.headers["x-ratelimit-remaining"] == "1"


def test_rate_limit_off_sends_no_headers() -> None:
    with serve_gateway({"REQ_LLM_GATEWAY_RATE_LIMIT": "off"}) as gw:
        answers = [chat(gw.url) for _ in range(5)]
    assert all(r.status_code == 200 and "x-ratelimit-limit" not in r.headers for r in answers)


def test_a_token_budget_is_charged_from_usage_after_the_response(tmp_path: Path) -> None:
    path = tmp_path / "gw.toml"
    path.write_text('[keys.tight]\nkey = "tight-key"\ntokens_per_minute = 10\n')
    with serve_gateway({"REQ_LLM_GATEWAY_CONFIG": str(path)}) as gw:
        first = chat(gw.url, "tight-key")
        second = chat(gw.url, "tight-key")
    assert first.status_code == 200
    assert first.headers["x-ratelimit-remaining-tokens"] == "10"
    used = first.json()["usage"]["total_tokens"]
    assert used > 10
    assert second.status_code == 429
    assert second.headers["x-ratelimit-remaining-tokens"] == "0"
    assert second.json()["error"]["message"] == "Token budget of 10 tokens per minute used up."
    assert 0 < int(second.headers["retry-after"]) <= 60


@pytest.mark.parametrize(("fail_open", "status"), [("true", 200), ("false", 503)])
def test_redis_down_fails_open_or_closed_by_setting(fail_open: str, status: int) -> None:
    env = {"REQ_LLM_GATEWAY_RATE_LIMIT_STORE": "redis://127.0.0.1:1/0",
           "REQ_LLM_GATEWAY_RATE_LIMIT_FAIL_OPEN": fail_open, "REQ_LLM_GATEWAY_RATE_LIMIT": "1/minute"}
    with serve_gateway(env) as gw:
        answers = [chat(gw.url) for _ in range(3)]
    assert [r.status_code for r in answers] == [status] * 3
    if status == 503:
        assert answers[0].json()["error"]["code"] == "rate_limiter_unavailable"
        assert answers[0].headers["retry-after"] == "1"
        assert "127.0.0.1:1" not in answers[0].text
    else:
        assert "x-ratelimit-limit" not in answers[0].headers


def test_the_redis_limit_is_shared_by_gateways_in_one_process(prefix: str) -> None:
    env = {"REQ_LLM_GATEWAY_RATE_LIMIT_STORE": REDIS_URL, "REQ_LLM_GATEWAY_RATE_LIMIT_PREFIX": prefix,
           "REQ_LLM_GATEWAY_RATE_LIMIT": "4/minute"}
    with serve_gateway(env) as a, serve_gateway(env) as b:
        codes = [chat(gw.url).status_code for gw in (a, b, a, b, a, b)]
    assert codes == [200, 200, 200, 200, 429, 429]


def test_two_serve_processes_on_redis_never_exceed_the_limit_together(prefix: str) -> None:
    env = {"REQ_LLM_GATEWAY_RATE_LIMIT_STORE": REDIS_URL, "REQ_LLM_GATEWAY_RATE_LIMIT_PREFIX": prefix,
           "REQ_LLM_GATEWAY_RATE_LIMIT": "25/minute", "REQ_LLM_GATEWAY_API_KEY": "shared-key"}
    with GatewayProcess(env) as one, GatewayProcess(env) as two:
        urls = [one.url, two.url] * 40
        with concurrent.futures.ThreadPoolExecutor(16) as pool:
            codes = list(pool.map(lambda url: chat(url, "shared-key").status_code, urls))
    assert one.returncode == 0 and two.returncode == 0
    assert sorted(set(codes)) == [200, 429]
    assert codes.count(200) == 25
    per_replica = [codes[0::2].count(200), codes[1::2].count(200)]
    assert sum(per_replica) == 25 and min(per_replica) > 0
