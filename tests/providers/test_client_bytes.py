"""OpenAI chat to an OpenAI-compatible upstream: the client's own bytes go upstream with only the model
name rewritten; the gateway re-encodes only when something else must change."""

from __future__ import annotations

from dataclasses import replace

import httpx
import orjson
import pytest

from req_llm_gateway.types import ChatRequest
from tests.conftest import serve_gateway
from tests.fakes.fixtures import RunningFake

HELLO = [{"role": "user", "content": "Hello there"}]


def env(fake: RunningFake) -> dict[str, str]:
    return {"OPENAI_BASE_URL": fake.url + "/v1", "OPENAI_API_KEY": "sk-upstream-key"}


def post_raw(url: str, body: bytes) -> httpx.Response:
    return httpx.post(url + "/v1/chat/completions", content=body, headers={"content-type": "application/json"},
                      timeout=10)


def test_the_clients_bytes_go_upstream_with_only_the_model_rewritten(fake_openai: RunningFake) -> None:
    sent = (b'{ "messages" : [{"role":"user","content":"Hello \\u00e9 there"}],\n'
            b'  "model" : "openai:gpt-4o", "top_p":0.50, "metadata": {"keep": "1"}, "seed" : 7 }')
    with serve_gateway(env(fake_openai)) as gw:
        r = post_raw(gw.url, sent)
    assert r.status_code == 200, r.text
    assert fake_openai.last.body == sent.replace(b'"openai:gpt-4o"', b'"gpt-4o"')
    assert fake_openai.last.headers["authorization"] == "Bearer sk-upstream-key"


def test_a_stream_that_asked_for_usage_goes_as_sent(fake_openai: RunningFake) -> None:
    sent = orjson.dumps({"model": "openai:gpt-4o", "messages": HELLO, "stream": True,
                         "stream_options": {"include_usage": True}})
    with serve_gateway(env(fake_openai)) as gw, httpx.stream(
            "POST", gw.url + "/v1/chat/completions", content=sent, timeout=10) as r:
        lines = [ln for ln in r.iter_lines() if ln.startswith("data: ")]
    assert lines[-1] == "data: [DONE]"
    assert fake_openai.last.body == sent.replace(b'"openai:gpt-4o"', b'"gpt-4o"')


def test_a_stream_without_include_usage_is_re_encoded_to_ask_for_it(fake_openai: RunningFake) -> None:
    sent = orjson.dumps({"model": "openai:gpt-4o", "messages": HELLO, "stream": True})
    with serve_gateway(env(fake_openai)) as gw, httpx.stream(
            "POST", gw.url + "/v1/chat/completions", content=sent, timeout=10) as r:
        r.read()
    got = fake_openai.last.json
    assert got["stream_options"] == {"include_usage": True} and got["model"] == "gpt-4o"


def test_a_second_model_key_makes_the_gateway_re_encode_correctly(fake_openai: RunningFake) -> None:
    tool = {"type": "function", "function": {"name": "pick", "parameters": {
        "type": "object", "properties": {"model": {"type": "string"}}}}}
    sent = orjson.dumps({"model": "openai:gpt-4o", "messages": HELLO, "tools": [tool]})
    with serve_gateway(env(fake_openai)) as gw:
        r = post_raw(gw.url, sent)
    assert r.status_code == 200, r.text
    assert fake_openai.last.json == {"model": "gpt-4o", "messages": HELLO, "tools": [tool]}


@pytest.mark.parametrize(("raw", "expected"), [
    (b'{"model":"openai:m1","messages":[]}', b'{"model":"m1","messages":[]}'),
    (b'{"model" :\t "openai:m1" ,"messages":[]}', b'{"model" :\t "m1" ,"messages":[]}'),
    (b'{"model":"op\\u0065nai:m1","messages":[]}', None),  # an escape in the value: re-encode
    (b'{"model":"openai:m1","messages":[{"role":"model"}]}', None),  # "model" twice
])
def test_model_splice_only_when_the_bytes_are_plain(raw: bytes, expected: bytes | None) -> None:
    req = ChatRequest.from_openai(orjson.loads(raw) | {"messages": HELLO}, "openai", raw)
    assert req.raw is not None and req.raw.with_model("m1") == expected


def test_a_request_changed_after_parsing_does_not_reuse_the_clients_bytes() -> None:
    raw = orjson.dumps({"model": "openai:m1", "messages": HELLO, "temperature": 0})
    req = ChatRequest.from_openai(orjson.loads(raw), "openai", raw)
    assert req.client_body() == raw.replace(b"openai:m1", b"m1")
    assert replace(req, model="m2").client_body() == raw.replace(b"openai:m1", b"m2")
    assert replace(req, params={"temperature": 1}).client_body() is None
