"""A mixed run through the real gateway (demo provider, the OpenAI fake on loopback, streams, cached and
reasoning tokens, failures), with a restart in the middle: /v1/usage equals the totals worked out by hand,
on SQLite and on PostgreSQL.

The fake's rules (tests/fakes/conversation.py): prompt = words of the messages; completion = words of
"Fake reply to: <text>", plus 11 reasoning tokens for a `reasoning` model; `cached`: half the prompt is read
from cache. Demo: prompt = 3 + 4 + words, completion = words (echo), at $0.50 / $1.50 per million.
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Iterator
from decimal import Decimal
from pathlib import Path

import httpx
import pytest

from tests.conftest import serve_gateway
from tests.fakes import openai as fake_openai
from tests.fakes.server import LoopbackServer
from tests.usage.databases import durable_url  # noqa: F401  (fixture)

PRICES = """
[prices."openai:gpt-4o-cached-reasoning"]
input_mtok = "2.5"
output_mtok = "10"
cache_read_mtok = "1.25"
"""


@pytest.fixture(scope="module")
def upstream() -> Iterator[str]:
    with LoopbackServer(fake_openai.create_app()) as srv:
        yield srv.url + "/v1"


def post(url: str, model: str, text: str, stream: bool = False, usage_chunk: bool = False) -> httpx.Response:
    body: dict[str, object] = {"model": model, "messages": [{"role": "user", "content": text}], "stream": stream}
    if usage_chunk:
        body["stream_options"] = {"include_usage": True}
    return httpx.post(url + "/v1/chat/completions", json=body, timeout=10)


def sse(r: httpx.Response) -> list[dict[str, object]]:
    return [json.loads(line[6:]) for line in r.text.splitlines() if line.startswith("data: {")]


def test_mixed_run_totals_equal_the_hand_computed_ones_across_a_restart(
    durable_url: str, upstream: str, tmp_path: Path,
) -> None:
    config = tmp_path / "gateway.toml"
    config.write_text(PRICES)
    env = {"OPENAI_API_KEY": "sk-test-mixed", "OPENAI_BASE_URL": upstream,
           "REQ_LLM_GATEWAY_USAGE_STORE": durable_url, "REQ_LLM_GATEWAY_USAGE_FLUSH_INTERVAL": "0.05",
           "REQ_LLM_GATEWAY_CONFIG": str(config)}

    with serve_gateway(env) as gw:
        r = post(gw.url, "openai:gpt-4o", "one two three")  # 3*2.5 + 6*10 = 67.5 per million
        assert r.json()["x_req_llm"]["cost_usd"] == 0.0000675
        assert r.json()["usage"]["total_tokens"] == 9
        r = post(gw.url, "openai:gpt-4o", "alpha beta", stream=True)  # 2*2.5 + 5*10 = 55, no usage chunk asked
        assert r.text.endswith("data: [DONE]\n\n") and not any(e.get("usage") for e in sse(r))
        # 8 words: cached 4, completion 11 + 11 reasoning: 4*2.5 + 4*1.25 + 22*10 = 235 per million (config price)
        r = post(gw.url, "openai:gpt-4o-cached-reasoning", "a b c d e f g h")
        assert r.json()["x_req_llm"]["cost_usd"] == 0.000235
        r = post(gw.url, "openai:gpt-4o-cached-reasoning", "a b c d e f g h", stream=True, usage_chunk=True)
        last = sse(r)[-1]
        assert last["usage"]["prompt_tokens_details"]["cached_tokens"] == 4  # type: ignore[index]
        assert last["x_req_llm"]["cost_usd"] == 0.000235  # type: ignore[index]
        assert post(gw.url, "openai:gpt-4o-status-500", "x").status_code == 502
        r = post(gw.url, "openai:gpt-4o-stream-error", "one two three four", stream=True)
        assert "error" in sse(r)[-1] and "[DONE]" not in r.text
        r = post(gw.url, "openai:my-finetune", "x y")  # unpriced: tokens counted, cost null
        assert r.json()["x_req_llm"]["cost_usd"] is None
        assert post(gw.url, "demo:echo", "hello world").status_code == 200  # 9*0.5 + 2*1.5 = 7.5
        post(gw.url, "demo:echo", "hello world", stream=True)
        assert post(gw.url, "demo:error", "x").status_code == 502

    with serve_gateway(env) as gw:  # a new process would see the same: the usage is in the database
        assert httpx.get(gw.url + "/v1/usage").json()["totals"]["calls"] == 10
        post(gw.url, "openai:gpt-4o", "one two three")
        post(gw.url, "demo:echo", "hello world", stream=True)
        body = httpx.get(gw.url + "/v1/usage").json()

    today = dt.datetime.now(dt.UTC).date().isoformat()
    rows = {(r["provider"], r["model"]): r for r in body["rows"]}
    assert {r["date"] for r in body["rows"]} == {today}
    fields = ("calls", "errors", "unpriced_calls", "prompt_tokens", "completion_tokens", "total_tokens",
              "cached_tokens", "reasoning_tokens", "cost_usd")
    expected = {
        ("demo", "echo"): (3, 0, 0, 27, 6, 33, 0, 0, "0.0000225"),
        ("demo", "error"): (1, 1, 0, 0, 0, 0, 0, 0, "0"),
        ("openai", "gpt-4o"): (3, 0, 0, 8, 17, 25, 0, 0, "0.00019"),
        ("openai", "gpt-4o-cached-reasoning"): (2, 0, 0, 16, 44, 60, 8, 22, "0.00047"),
        ("openai", "gpt-4o-status-500"): (1, 1, 0, 0, 0, 0, 0, 0, "0"),
        ("openai", "gpt-4o-stream-error"): (1, 1, 0, 0, 0, 0, 0, 0, "0"),
        ("openai", "my-finetune"): (1, 0, 1, 2, 5, 7, 0, 0, "0"),
    }
    assert {k: tuple(rows[k][f] for f in fields) for k in rows} == expected
    t = body["totals"]
    assert tuple(t[f] for f in fields) == (12, 3, 1, 53, 72, 125, 8, 22, "0.0006825")
    assert Decimal(t["cost_usd"]) == Decimal("0.0000225") + Decimal("0.00019") + Decimal("0.00047")
