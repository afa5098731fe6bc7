"""Bad input gets OpenAI's error body and the right status, never a 500."""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from tests.conftest import serve_gateway


@pytest.fixture(scope="module")
def gw() -> Any:
    with serve_gateway({"REQ_LLM_GATEWAY_MAX_REQUEST_BYTES": "2000"}) as srv:
        yield srv


def post(gw: Any, content: bytes | str, headers: dict[str, str] | None = None) -> httpx.Response:
    headers = {"content-type": "application/json", **(headers or {})}
    return httpx.post(gw.url + "/v1/chat/completions", content=content, headers=headers)


@pytest.mark.parametrize(
    ("body", "status", "needle"),
    [
        ("{not json", 400, "not valid JSON"),
        ("[1, 2]", 400, "JSON object"),
        ('{"model": "demo"}', 400, "'messages' is required"),
        ('{"model": "demo", "messages": []}', 400, "non-empty array"),
        ('{"model": "demo", "messages": [{"content": "hi"}]}', 400, "messages[0].role"),
        ('{"model": "demo", "messages": [{"role": "wizard", "content": "hi"}]}', 400, "messages[0].role"),
        ('{"model": "demo", "messages": ["hi"]}', 400, "messages[0] must be an object"),
        ('{"model": "demo", "messages": [{"role": "user", "content": 5}]}', 400, "content"),
        ('{"model": 3, "messages": [{"role": "user", "content": "x"}]}', 400, "'model'"),
        ('{"messages": [{"role": "user", "content": "x"}]}', 400, "'model'"),
        ('{"model": "demo", "stream": "yes", "messages": [{"role": "user", "content": "x"}]}', 400, "'stream'"),
        ('{"model": "demo", "temperature": "hot", "messages": [{"role": "user", "content": "x"}]}', 400, "'temperature'"),
        ('{"model": "demo", "max_tokens": 1.5, "messages": [{"role": "user", "content": "x"}]}', 400, "'max_tokens'"),
        ('{"model": "demo", "n": true, "messages": [{"role": "user", "content": "x"}]}', 400, "'n'"),
        ('{"model": "nope:gpt", "messages": [{"role": "user", "content": "x"}]}', 404, "Known providers"),
        ('{"model": "openai:gpt-4o", "messages": [{"role": "user", "content": "x"}]}', 400, "OPENAI_API_KEY"),
        ('{"model": "demo:", "messages": [{"role": "user", "content": "x"}]}', 400, "no model"),
    ],
)
def test_bad_request_gets_openai_error_shape_and_status(gw: Any, body: str, status: int, needle: str) -> None:
    r = post(gw, body)
    assert r.status_code == status, r.text
    err = r.json()["error"]
    assert needle in err["message"]
    assert set(err) >= {"message", "type", "code"}
    assert r.headers["x-request-id"]


def test_unknown_provider_error_names_the_known_providers(gw: Any) -> None:
    r = post(gw, '{"model": "nope:gpt", "messages": [{"role": "user", "content": "x"}]}')
    assert r.json()["error"]["code"] == "model_not_found"
    assert "demo" in r.json()["error"]["message"] and "openai" in r.json()["error"]["message"]


def test_body_over_the_limit_gets_413(gw: Any) -> None:
    big = '{"model": "demo", "messages": [{"role": "user", "content": "' + "x" * 3000 + '"}]}'
    r = post(gw, big)
    assert r.status_code == 413 and r.json()["error"]["code"] == "payload_too_large"


def test_chunked_body_over_the_limit_gets_413(gw: Any) -> None:
    def gen() -> Any:
        for _ in range(10):
            yield b"x" * 500

    r = httpx.post(gw.url + "/v1/chat/completions", content=gen())
    assert r.status_code == 413


def test_unknown_route_and_wrong_method_get_openai_error_shape(gw: Any) -> None:
    r = httpx.get(gw.url + "/v1/nothing")
    assert r.status_code == 404 and r.json()["error"]["code"] == "not_found"
    r = httpx.get(gw.url + "/v1/chat/completions")
    assert r.status_code == 405 and r.json()["error"]["code"] == "method_not_allowed"


def test_client_request_id_is_echoed_and_unsafe_one_is_replaced(gw: Any) -> None:
    ok = '{"model": "demo", "messages": [{"role": "user", "content": "x"}]}'
    assert post(gw, ok, headers={"x-request-id": "abc-123"}).headers["x-request-id"] == "abc-123"
    r = httpx.post(gw.url + "/v1/chat/completions", content=ok, headers={"x-request-id": "bad id\twith space"})
    assert r.headers["x-request-id"] != "bad id\twith space" and len(r.headers["x-request-id"]) == 32
