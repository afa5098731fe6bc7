"""`POST /v1/responses` through a real gateway: pass-through keeps bytes, the bridge names what it drops,
restores namespaced and custom tools, refuses state it does not keep, and streams events in OpenAI's order;
the WebSocket handshake is refused so that Codex keeps to HTTP; telemetry and usage as for chat."""

from __future__ import annotations

import asyncio
import json
from decimal import Decimal
from typing import Any

import httpx
import openai
import pytest
import websockets
from openai.types.responses import ResponseStreamEvent
from pydantic import TypeAdapter

from req_llm_gateway import telemetry
from req_llm_gateway.events import REQUEST_START, REQUEST_STOP
from tests.fakes.conversation import REPLY_PREFIX
from tests.fakes.fixtures import RunningFake

QUESTION = "What is the weather in Paris?"
CODEX_TOOLS: list[Any] = [
    {"type": "function", "name": "exec_command", "description": "Run a command",
     "parameters": {"type": "object", "properties": {"cmd": {"type": "string"}}, "required": ["cmd"]}},
    {"type": "namespace", "name": "multi_agent_v1", "description": "Agents", "tools": [
        {"type": "function", "name": "spawn", "parameters": {"type": "object", "properties": {
            "task": {"type": "string"}}}}]},
    {"type": "web_search", "external_web_access": False},
]


def openai_env(fake: RunningFake, **extra: str) -> dict[str, str]:
    return {"OPENAI_API_KEY": "sk-test", "OPENAI_BASE_URL": fake.url + "/v1", "REQ_LLM_GATEWAY_MAX_RETRIES": "0",
            **extra}


def test_pass_through_sends_the_clients_bytes_and_relays_the_upstreams(gateway_server: Any,
                                                                        fake_openai: RunningFake) -> None:
    body = (b'{"model": "gpt-4o-fixed-ids", "input": "Hi", "store": false, "client_metadata": {"a": 1},'
            b' "some_future_param": [1, 2]}')
    direct = httpx.post(fake_openai.url + "/v1/responses", content=body,
                        headers={"authorization": "Bearer sk-test", "content-type": "application/json"})
    with gateway_server(openai_env(fake_openai)) as gw:
        via = httpx.post(gw.url + "/v1/responses", content=body, headers={"content-type": "application/json"})
        assert fake_openai.last.body == body  # no re-encoding on the way up
        stream_body = body.replace(b'"store"', b'"stream": true, "store"')
        direct_stream = httpx.post(fake_openai.url + "/v1/responses", content=stream_body,
                                   headers={"authorization": "Bearer sk-test"})
        via_stream = httpx.post(gw.url + "/v1/responses", content=stream_body)
    assert via.status_code == 200 and via.content == direct.content
    assert via.json()["x_fake_future"] == {"kept": True}
    assert via_stream.content == direct_stream.content
    assert b"event: response.fake_future_event" in via_stream.content


def test_pass_through_rewrites_only_the_model_when_a_prefix_was_used(gateway_server: Any,
                                                                     fake_openai: RunningFake) -> None:
    body = b'{"input": "Hi",  "model" : "openai:gpt-4o", "tools": [{"type": "web_search"}]}'
    with gateway_server(openai_env(fake_openai)) as gw:
        resp = httpx.post(gw.url + "/v1/responses", content=body)
    assert resp.status_code == 200
    assert fake_openai.last.body == b'{"input": "Hi",  "model":"gpt-4o", "tools": [{"type": "web_search"}]}'
    assert "x-gateway-dropped-tools" not in resp.headers


def test_previous_response_id_passes_through_to_openai_and_is_refused_by_the_bridge(
        gateway_server: Any, fake_openai: RunningFake) -> None:
    with gateway_server(openai_env(fake_openai)) as gw:
        ok = httpx.post(gw.url + "/v1/responses", json={"model": "gpt-4o", "input": "Hi",
                                                        "previous_response_id": "resp_123"})
        refused = httpx.post(gw.url + "/v1/responses", json={"model": "demo:echo", "input": "Hi",
                                                             "previous_response_id": "resp_123"})
    assert ok.status_code == 200 and fake_openai.last.json["previous_response_id"] == "resp_123"
    assert refused.status_code == 400
    error = refused.json()["error"]
    assert error["param"] == "previous_response_id" and "whole conversation in 'input'" in error["message"]


def test_bridge_drops_hosted_tools_names_them_and_restores_namespaced_names(gateway_server: Any) -> None:
    with gateway_server({}) as gw, telemetry.capture([REQUEST_START, REQUEST_STOP]) as events:
        client = openai.OpenAI(base_url=gw.url + "/v1", api_key="x", max_retries=0)
        raw = client.responses.with_raw_response.create(
            model="demo:tools", input="spawn a helper", tools=[CODEX_TOOLS[1], CODEX_TOOLS[2], CODEX_TOOLS[0]])
        resp = raw.parse()
    assert raw.headers["x-gateway-dropped-tools"] == "web_search"
    call = resp.output[0]
    assert call.type == "function_call" and (call.namespace, call.name) == ("multi_agent_v1", "spawn")
    stop = next(e.metadata for e in events if e.event == REQUEST_STOP)
    assert stop["api"] == "openai.responses" and stop["dropped_tools"] == ["web_search"]
    assert stop["responses_mode"] == "bridged"
    start = next(e.metadata for e in events if e.event == REQUEST_START)
    assert start["api"] == "openai.responses"


def test_strict_bridge_refuses_hosted_tools_with_a_400_naming_them(gateway_server: Any) -> None:
    with gateway_server({"REQ_LLM_GATEWAY_RESPONSES_STRICT_TOOLS": "true"}) as gw:
        resp = httpx.post(gw.url + "/v1/responses", json={"model": "demo", "input": "Hi", "tools": CODEX_TOOLS})
    assert resp.status_code == 400
    assert "web_search" in resp.json()["error"]["message"] and resp.json()["error"]["param"] == "tools"


def test_custom_tool_becomes_a_custom_tool_call_with_its_free_form_input(gateway_server: Any) -> None:
    tool = {"type": "custom", "name": "apply_patch", "description": "Apply a patch"}
    with gateway_server({}) as gw:
        client = openai.OpenAI(base_url=gw.url + "/v1", api_key="x", max_retries=0)
        resp = client.responses.create(model="demo:tools", input="patch it", tools=[tool])  # type: ignore[list-item]
        with client.responses.stream(model="demo:tools", input="patch it", tools=[tool]) as s:  # type: ignore[list-item]
            kinds = [e.type for e in s]
            final = s.get_final_response()
    call = resp.output[0]
    assert call.type == "custom_tool_call" and call.name == "apply_patch" and isinstance(call.input, str)
    assert final.output[0].type == "custom_tool_call" and final.output[0].input == call.input
    assert "response.custom_tool_call_input.done" in kinds


def test_bridged_stream_events_follow_openais_order_and_shapes(gateway_server: Any) -> None:
    body = {"model": "demo:tools", "input": QUESTION, "stream": True, "tools": [CODEX_TOOLS[0]]}
    with gateway_server({}) as gw:
        text = httpx.post(gw.url + "/v1/responses", json=body).text
        plain = httpx.post(gw.url + "/v1/responses", json={**body, "tools": [], "model": "demo:echo"}).text
    adapter: TypeAdapter[Any] = TypeAdapter(ResponseStreamEvent)
    for raw in (text, plain):
        frames = [f for f in raw.split("\n\n") if f]
        events = [json.loads(f.split("\ndata: ", 1)[1]) for f in frames]
        for frame, event in zip(frames, events):
            assert frame.startswith(f"event: {event['type']}\n")
            adapter.validate_python(event)  # the SDK's own event types accept every event
        assert [e["sequence_number"] for e in events] == list(range(len(events)))
        assert len({e["response"]["id"] for e in events if "response" in e}) == 1
        kinds = [e["type"] for e in events]
        assert kinds[:3] == ["response.created", "response.in_progress", "response.output_item.added"]
        assert kinds[-2:] == ["response.output_item.done", "response.completed"]
        item_ids = {e["item"]["id"] for e in events if "item" in e} | {e["item_id"] for e in events if "item_id" in e}
        assert len(item_ids) == 1
    assert "response.function_call_arguments.delta" in text and "response.output_text.delta" in plain
    first_delta = plain.index("response.output_text.delta")
    assert plain.index("response.output_item.added") < plain.index("response.content_part.added") < first_delta


def test_bad_bodies_get_openai_shaped_400s(gateway_server: Any) -> None:
    with gateway_server({}) as gw:
        bad_json = httpx.post(gw.url + "/v1/responses", content=b"{nope")
        no_model = httpx.post(gw.url + "/v1/responses", json={"input": "Hi"})
        no_input = httpx.post(gw.url + "/v1/responses", json={"model": "demo"})
        bad_item = httpx.post(gw.url + "/v1/responses", json={"model": "demo", "input": [{"type": "wat"}]})
    for resp, param in ((bad_json, None), (no_model, "model"), (no_input, "input"), (bad_item, "input[0]")):
        assert resp.status_code == 400
        assert resp.json()["error"]["type"] == "invalid_request_error" and resp.json()["error"]["param"] == param


def test_websocket_handshake_is_refused_with_426_so_codex_falls_back_to_http(gateway_server: Any) -> None:
    async def attempt(url: str) -> int:
        try:
            async with websockets.connect(url.replace("http", "ws") + "/v1/responses", open_timeout=5):
                return 101
        except websockets.exceptions.InvalidStatus as exc:
            assert b"websocket_not_supported" in exc.response.body
            return exc.response.status_code

    with gateway_server({}) as gw:
        statuses = [asyncio.run(attempt(gw.url)) for _ in range(3)]
        still_http = httpx.post(gw.url + "/v1/responses", json={"model": "demo:echo", "input": "Hi"})
    assert statuses == [426, 426, 426]
    assert still_http.status_code == 200


def test_mixed_run_usage_and_cost_equal_hand_computed_decimals(gateway_server: Any, fake_openai: RunningFake,
                                                               tmp_path: Any) -> None:
    config = tmp_path / "gw.toml"
    config.write_text('[prices."openai"]\ninput_mtok = "2"\noutput_mtok = "8"\ncache_read_mtok = "0.5"\n'
                      '[prices."demo"]\ninput_mtok = "0.5"\noutput_mtok = "1.5"\n')
    with gateway_server(openai_env(fake_openai, REQ_LLM_GATEWAY_CONFIG=str(config))) as gw:
        client = openai.OpenAI(base_url=gw.url + "/v1", api_key="x", max_retries=0)
        a = client.responses.create(model="gpt-4o-cached", input=QUESTION)
        with client.responses.stream(model="gpt-4o-reasoning", input=QUESTION, reasoning={"effort": "low"}) as s:
            b = s.get_final_response()
        c = client.responses.create(model="demo:echo", input=QUESTION)
        with client.responses.stream(model="demo:echo", input=QUESTION) as s:
            d = s.get_final_response()
        rows = httpx.get(gw.url + "/v1/usage").json()
    assert a.output_text == b.output_text == REPLY_PREFIX + QUESTION
    price = {"openai": (Decimal(2), Decimal(8), Decimal("0.5")), "demo": (Decimal("0.5"), Decimal("1.5"), Decimal(0))}

    def cost(provider: str, u: Any) -> Decimal:
        i, o, cr = price[provider]
        cached = u.input_tokens_details.cached_tokens
        return ((u.input_tokens - cached) * i + cached * cr + u.output_tokens * o) / 1_000_000

    expected = sum((cost("openai", a.usage), cost("openai", b.usage), cost("demo", c.usage), cost("demo", d.usage)),
                   Decimal(0))
    assert a.usage.input_tokens_details.cached_tokens == a.usage.input_tokens // 2 > 0
    assert b.usage.output_tokens_details.reasoning_tokens > 0
    total = sum((Decimal(str(r["cost_usd"])) for r in _rows(rows)), Decimal(0))
    tokens = sum(r["total_tokens"] for r in _rows(rows))
    assert total == expected
    assert tokens == sum(x.usage.total_tokens for x in (a, b, c, d))
    assert sum(r["calls"] for r in _rows(rows)) == 4


def _rows(payload: Any) -> list[dict[str, Any]]:
    return list(payload["rows"])


@pytest.mark.parametrize("stream", [False, True])
def test_upstream_failure_is_an_openai_error_and_is_recorded(gateway_server: Any, fake_openai: RunningFake,
                                                             stream: bool) -> None:
    with gateway_server(openai_env(fake_openai)) as gw:
        resp = httpx.post(gw.url + "/v1/responses", json={"model": "gpt-4o-status-500", "input": "Hi",
                                                          "stream": stream})
        totals = httpx.get(gw.url + "/v1/usage").json()["totals"]
    assert resp.status_code == 502 and resp.json()["error"]["type"] == "upstream_error"
    assert (totals["calls"], totals["errors"]) == (1, 1)
