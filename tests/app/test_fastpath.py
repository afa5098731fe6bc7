"""The fused hot path (app/fastpath.py): model-call routes dispatched from its table after the request
id, head cap, auth, rate limit and budget admission; everything else reaches Starlette unchanged."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import httpx
from starlette.applications import Starlette
from starlette.responses import PlainTextResponse
from starlette.routing import Route
from starlette.types import Receive, Scope, Send

from req_llm_gateway.app.fastpath import FastPath
from req_llm_gateway.app.responses import send_bytes
from req_llm_gateway.config import Settings
from req_llm_gateway.errors import RateLimited
from req_llm_gateway.ratelimit import MemoryLimiter
from tests.conftest import serve_gateway
from tests.fakes.server import LoopbackServer

CHAT = {"model": "demo:echo", "messages": [{"role": "user", "content": "hello"}]}
KEY = {"authorization": "Bearer fast-key-1"}


async def echo_state(scope: Scope, receive: Receive, send: Send) -> None:
    """A model-call endpoint for the table: answers with what the fused layer put in the state."""
    state = scope["state"]
    await send_bytes(send, 200, f'{{"key":"{state.get("key_name")}","id":"{state["request_id"]}"}}'.encode())


async def boom(scope: Scope, receive: Receive, send: Send) -> None:
    raise RuntimeError("a bug with a secret sk-abcdefghijklmnop in it")


class Recorder:
    def __init__(self, refuse: bool = False) -> None:
        self.refuse = refuse
        self.seen: list[dict[str, Any]] = []

    async def admit(self, scope: Scope) -> None:
        self.seen.append(dict(scope["state"]))
        if self.refuse:
            raise RateLimited("The monthly budget of key 'default' is spent.", retry_after=3)


@contextmanager
def fast_app(routes: dict[str, Any], admission: Any = None, **env: str) -> Iterator[LoopbackServer]:
    settings = Settings.from_env({"REQ_LLM_GATEWAY_RATE_LIMIT": "700/minute",
                                  "REQ_LLM_GATEWAY_READ_RATE_LIMIT": "900/minute", **env})
    inner = Starlette(routes=[Route("/other", lambda r: PlainTextResponse("starlette"), methods=["GET"])])
    app = FastPath(inner, routes, settings, MemoryLimiter(), admission=admission)
    with LoopbackServer(app) as srv:
        yield srv


def test_chat_route_answers_with_request_id_rate_limit_and_overhead_headers() -> None:
    with serve_gateway() as gw:
        r = httpx.post(gw.url + "/v1/chat/completions", json=CHAT, headers={"x-request-id": "client-id-7"})
        plain = httpx.post(gw.url + "/chat/completions", json=CHAT)
    assert r.status_code == 200 and r.json()["choices"][0]["message"]["content"]
    assert r.headers["x-request-id"] == "client-id-7"
    assert r.headers["x-ratelimit-limit"] == "100000" and int(r.headers["x-ratelimit-remaining"]) < 100000
    assert float(r.headers["x-gateway-overhead-ms"]) >= 0
    assert plain.status_code == 200 and len(plain.headers["x-request-id"]) == 32


def test_another_method_on_a_model_route_gets_an_openai_shaped_405() -> None:
    with serve_gateway() as gw:
        r = httpx.get(gw.url + "/v1/chat/completions")
    assert r.status_code == 405
    assert r.json()["error"]["code"] == "method_not_allowed" and r.headers["x-request-id"]


def test_a_route_in_the_table_is_authenticated_rate_limited_as_a_model_call_and_sees_the_keys_name() -> None:
    with fast_app({"/v1/new": echo_state}, REQ_LLM_GATEWAY_API_KEY="fast-key-1") as srv:
        denied = httpx.post(srv.url + "/v1/new", json={})
        ok = httpx.post(srv.url + "/v1/new", json={}, headers={**KEY, "x-request-id": "r-1"})
        other = httpx.get(srv.url + "/other", headers=KEY)
    assert denied.status_code == 401 and denied.json()["error"]["type"] == "authentication_error"
    assert ok.json() == {"key": "default", "id": "r-1"}
    assert ok.headers["x-request-id"] == "r-1" and ok.headers["x-ratelimit-limit"] == "700"  # a model call
    assert other.text == "starlette" and other.headers["x-ratelimit-limit"] == "900"  # a read


def test_admission_sees_the_request_after_auth_and_its_refusal_is_rendered_with_headers() -> None:
    refuse = Recorder(refuse=True)
    with fast_app({"/v1/new": echo_state}, refuse, REQ_LLM_GATEWAY_API_KEY="fast-key-1") as srv:
        r = httpx.post(srv.url + "/v1/new", json={}, headers={**KEY, "x-request-id": "r-2"})
        unauthenticated = httpx.post(srv.url + "/v1/new", json={})
        other = httpx.get(srv.url + "/other", headers=KEY)
    assert r.status_code == 429 and r.headers["retry-after"] == "3" and r.headers["x-request-id"] == "r-2"
    assert r.json()["error"] == {"message": "The monthly budget of key 'default' is spent.",
                                 "type": "rate_limit_error", "param": None, "code": "rate_limit_exceeded"}
    assert unauthenticated.status_code == 401 and other.status_code == 200  # admission: model calls only
    assert [(s["key_name"], s["request_id"]) for s in refuse.seen] == [("default", "r-2")]


def test_admitted_request_reaches_the_endpoint() -> None:
    admit = Recorder()
    with fast_app({"/v1/new": echo_state}, admit) as srv:
        r = httpx.post(srv.url + "/v1/new", json={})
    assert r.status_code == 200 and r.json()["key"] == "None" and len(admit.seen) == 1


def test_an_endpoint_that_raises_answers_a_bare_500_without_internals() -> None:
    with fast_app({"/v1/boom": boom}) as srv:
        r = httpx.post(srv.url + "/v1/boom", json={})
    assert r.status_code == 500 and r.headers["x-request-id"]
    assert r.json()["error"]["message"] == "The gateway failed unexpectedly; see its logs."
    assert "sk-" not in r.text and "RuntimeError" not in r.text


def test_oversized_head_on_a_table_route_gets_431_before_auth() -> None:
    with fast_app({"/v1/new": echo_state}, REQ_LLM_GATEWAY_API_KEY="fast-key-1",
                  REQ_LLM_GATEWAY_MAX_HEADER_BYTES="2048") as srv:
        r = httpx.post(srv.url + "/v1/new", json={}, headers={"x-big": "a" * 4000})
    assert r.status_code == 431 and r.json()["error"]["code"] == "headers_too_large"


def test_every_model_call_route_of_the_app_is_in_the_fused_table() -> None:
    with serve_gateway() as gw:
        fast = set(gw.app.fast_routes)  # type: ignore[attr-defined]
        declared = {r.path for r in gw.app.routes if getattr(getattr(r, "endpoint", None), "model_call", False)}
    assert {"/v1/chat/completions", "/chat/completions", "/v1/responses"} <= fast
    assert declared <= fast
