"""`GET /v1/usage` over a real socket: rows and totals of the requests just made, filters, errors."""

from __future__ import annotations

import datetime as dt
import sqlite3
from decimal import Decimal
from pathlib import Path

import httpx
from starlette.applications import Starlette
from starlette.routing import Mount

from req_llm_gateway import Settings, create_app
from tests.conftest import serve_gateway
from tests.fakes.server import LoopbackServer


def chat(url: str, model: str, text: str, **extra: object) -> httpx.Response:
    return httpx.post(url + "/v1/chat/completions",
                      json={"model": model, "messages": [{"role": "user", "content": text}], **extra}, timeout=10)


def today() -> str:
    return dt.datetime.now(dt.UTC).date().isoformat()


def test_usage_lists_the_requests_just_made_with_exact_totals() -> None:
    with serve_gateway() as gw:
        # demo:echo "hello world": prompt 3 + 4 + 2 = 9 tokens, completion 2; 9*0.5 + 2*1.5 = 7.5 per million
        assert chat(gw.url, "demo:echo", "hello world").json()["x_req_llm"]["cost_usd"] == 0.0000075
        chat(gw.url, "demo:echo", "hello world", stream=True)  # usage recorded though the client did not ask
        assert chat(gw.url, "demo:error", "x").status_code == 502
        body = httpx.get(gw.url + "/v1/usage").json()
    assert body["object"] == "usage"
    assert [(r["provider"], r["model"], r["calls"], r["errors"]) for r in body["rows"]] == [
        ("demo", "echo", 2, 0), ("demo", "error", 1, 1)]
    echo = body["rows"][0]
    assert echo["date"] == today()
    assert (echo["prompt_tokens"], echo["completion_tokens"], echo["total_tokens"]) == (18, 4, 22)
    assert echo["cost_usd"] == "0.000015"
    assert echo["error_rate"] == 0.0 and body["rows"][1]["error_rate"] == 1.0
    t = body["totals"]
    assert (t["calls"], t["errors"], t["total_tokens"], t["cost_usd"]) == (3, 1, 22, "0.000015")
    assert "date" not in t and body["truncated"] is False
    assert t["avg_latency_ms"] > 0


def test_usage_filters_by_provider_model_dates_and_limit() -> None:
    with serve_gateway() as gw:
        for model in ("demo:echo", "demo:echo", "demo:other"):
            chat(gw.url, model, "one two three")
        get = lambda **p: httpx.get(gw.url + "/v1/usage", params=p).json()
        assert [r["model"] for r in get(model="other")["rows"]] == ["other"]
        assert get(provider="openai")["rows"] == []
        assert get(provider="DEMO")["totals"]["calls"] == 3
        assert get(start=today(), end=today())["totals"]["calls"] == 3
        assert get(end="2000-01-01")["rows"] == [] and get(end="2000-01-01")["totals"]["cost_usd"] == "0"
        limited = get(limit="1")
        assert len(limited["rows"]) == 1 and limited["truncated"] is True and limited["totals"]["calls"] == 3
        assert limited["filters"] == {"start": None, "end": None, "provider": None, "model": None,
                                      "key_name": None, "limit": 1}


def test_bad_usage_query_is_a_400_naming_the_parameter() -> None:
    with serve_gateway() as gw:
        for params, param in [({"start": "yesterday"}, "start"), ({"limit": "0"}, "limit"),
                              ({"limit": "ten"}, "limit"), ({"start": "2025-02-02", "end": "2025-02-01"}, "start")]:
            r = httpx.get(gw.url + "/v1/usage", params=params)
            assert r.status_code == 400
            assert r.json()["error"]["param"] == param
            assert r.json()["error"]["type"] == "invalid_request_error"


def test_usage_store_that_cannot_write_answers_503_and_keeps_the_usage(tmp_path: Path) -> None:
    db = tmp_path / "usage.db"
    url = f"sqlite:///{db}?timeout=0.1"
    with serve_gateway({"REQ_LLM_GATEWAY_USAGE_STORE": url, "REQ_LLM_GATEWAY_USAGE_FLUSH_INTERVAL": "0.05"}) as gw:
        chat(gw.url, "demo:echo", "first")
        assert httpx.get(gw.url + "/v1/usage").json()["totals"]["calls"] == 1
        blocker = sqlite3.connect(db, isolation_level=None)
        blocker.execute("BEGIN EXCLUSIVE")
        try:
            chat(gw.url, "demo:echo", "second")
            r = httpx.get(gw.url + "/v1/usage")
            assert r.status_code == 503
            assert r.json()["error"]["code"] == "usage_store_unavailable"
        finally:
            blocker.execute("ROLLBACK")
            blocker.close()
        assert httpx.get(gw.url + "/v1/usage").json()["totals"]["calls"] == 2


def test_usage_and_dashboard_answer_under_a_mount_prefix(tmp_path: Path) -> None:
    settings = Settings.from_env({"REQ_LLM_GATEWAY_USAGE_STORE": f"sqlite:///{tmp_path / 'u.db'}"})
    host = Starlette(routes=[Mount("/llm", create_app(settings))])  # the sub-app's lifespan never runs
    with LoopbackServer(host) as srv:
        chat(srv.url + "/llm", "demo:echo", "mounted")
        body = httpx.get(srv.url + "/llm/v1/usage").json()
        assert (body["totals"]["calls"], Decimal(body["totals"]["cost_usd"])) == (1, Decimal("0.0000055"))  # 8*0.5 + 1*1.5
        page = httpx.get(srv.url + "/llm/dashboard/req_llm")
        assert page.status_code == 200 and page.headers["content-type"].startswith("text/html")
        assert "<table id=\"usage\"" in page.text and "/*DASHBOARD_JS*/" not in page.text
        assert httpx.get(srv.url + "/llm/dashboard/req_llm/").status_code == 200
