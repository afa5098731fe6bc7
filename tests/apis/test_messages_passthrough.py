"""/v1/messages to an Anthropic upstream: the body and headers pass through byte for byte, the answer
comes back unchanged, usage and cost are recorded from it."""

from __future__ import annotations

import json
from typing import Any

import anthropic
import httpx
import httpx2
import pytest

from tests.fakes.fixtures import RunningFake
from tests.fakes.server import LoopbackServer

from .conftest import BEDROCK_CLAUDE, GATEWAY_KEY

# A body as Claude Code shapes it: odd spacing, a nested "model" key, betas' fields, signed thinking.
RAW = (
    b'{"model" :  "claude-sonnet-4-5",  "max_tokens":1024,\n "system":[{"type":"text","text":'
    b'"x-anthropic-billing-header: cc_version=2.1.328; cc_entrypoint=cli;"},{"type":"text","text":"Be brief.",'
    b'"cache_control":{"type":"ephemeral"}}],"context_management":{"edits":[{"type":"clear_thinking_20251015"}]},'
    b'"output_config":{"effort":"medium"},"thinking":{"type":"adaptive"},'
    b'"tools":[{"name":"pick","description":"d","input_schema":{"type":"object","properties":'
    b'{"model":{"type":"string"}}}}],'
    b'"messages":[{"role":"user","content":[{"type":"text","text":"Hello there","cache_control":'
    b'{"type":"ephemeral"}}]},{"role":"assistant","content":[{"type":"thinking","thinking":"hm",'
    b'"signature":"c2lnbmF0dXJl\\u002b=="},{"type":"text","text":"Hi."}]},'
    b'{"role":"user","content":"Say \\"model\\": ok"}]}'
)
BETAS = "claude-code-20250219,interleaved-thinking-2025-05-14,some-future-beta-2027-01-01"


def post(gw: LoopbackServer, body: bytes, path: str = "/v1/messages?beta=true", **headers: str) -> httpx.Response:
    base = {"x-api-key": GATEWAY_KEY, "anthropic-version": "2023-06-01", "anthropic-beta": BETAS,
            "content-type": "application/json"}
    return httpx.post(gw.url + path, content=body, headers={**base, **headers}, timeout=30)


def test_body_and_anthropic_headers_reach_the_upstream_byte_for_byte(gateway: LoopbackServer,
                                                                    fake_anthropic: RunningFake) -> None:
    reply = post(gateway, RAW)
    assert reply.status_code == 200, reply.text
    seen = fake_anthropic.last
    assert seen.body == RAW
    assert seen.path == "/v1/messages" and seen.query == {"beta": "true"}
    assert seen.headers["anthropic-beta"] == BETAS
    assert seen.headers["anthropic-version"] == "2023-06-01"
    assert seen.headers["x-api-key"] == "sk-ant-upstream-key"  # the gateway's key, never the client's
    assert reply.json()["type"] == "message"


def test_a_provider_prefix_rewrites_only_the_top_level_model(gateway: LoopbackServer,
                                                            fake_anthropic: RunningFake) -> None:
    body = RAW.replace(b'"claude-sonnet-4-5"', b'"anthropic:claude-sonnet-4-5"', 1)
    assert post(gateway, body).status_code == 200
    sent = fake_anthropic.last.body
    assert sent == RAW.replace(b'"model" :  "claude-sonnet-4-5"', b'"model":"claude-sonnet-4-5"', 1)
    assert json.loads(sent)["tools"][0]["input_schema"]["properties"]["model"] == {"type": "string"}


def test_non_stream_answer_is_relayed_unchanged_and_usage_is_recorded(gateway: LoopbackServer) -> None:
    reply = post(gateway, RAW.replace(b"claude-sonnet-4-5", b"claude-sonnet-4-5-cached", 1))
    body = reply.json()
    usage = httpx.get(gateway.url + "/v1/usage", headers={"authorization": f"Bearer {GATEWAY_KEY}"}).json()
    row = next(r for r in usage["rows"] if r["model"] == "claude-sonnet-4-5-cached")
    u = body["usage"]
    assert row["provider"] == "anthropic"
    assert row["prompt_tokens"] == u["input_tokens"] + u["cache_read_input_tokens"] + u["cache_creation_input_tokens"]
    assert row["completion_tokens"] == u["output_tokens"]
    assert row["cached_tokens"] == u["cache_read_input_tokens"] > 0


def test_stream_bytes_are_relayed_unchanged(gateway: LoopbackServer) -> None:
    body = RAW.replace(b'"max_tokens":1024', b'"max_tokens":1024,"stream":true', 1)
    with httpx.stream("POST", gateway.url + "/v1/messages", content=body, timeout=30,
                      headers={"x-api-key": GATEWAY_KEY, "anthropic-version": "2023-06-01",
                               "anthropic-beta": BETAS}) as reply:
        text = reply.read().decode()
    assert reply.status_code == 200
    assert reply.headers["content-type"].startswith("text/event-stream")
    events = [line.split(": ", 1)[1] for line in text.splitlines() if line.startswith("event: ")]
    assert events[0] == "message_start" and events[-1] == "message_stop"
    assert "ping" in events  # the upstream's own, relayed


def test_upstream_client_error_is_relayed_as_anthropic_sent_it(gateway: LoopbackServer) -> None:
    reply = post(gateway, RAW.replace(b"claude-sonnet-4-5", b"claude-status-400", 1))
    assert reply.status_code == 400
    assert reply.json()["type"] == "error"
    assert reply.json()["error"] == {"type": "invalid_request_error",
                                     "message": "Invalid request (scripted by the fake)."}
    assert "request_id" in reply.json()  # Anthropic's own body


def test_sdk_create_and_stream_agree(client: anthropic.Anthropic) -> None:
    kwargs: dict[str, Any] = {"model": "claude-sonnet-4-5", "max_tokens": 200,
                              "messages": [{"role": "user", "content": "Tell me about streams"}]}
    made = client.messages.create(**kwargs)
    with client.messages.stream(**kwargs) as stream:
        final = stream.get_final_message()
    assert [b.model_dump() for b in final.content] == [b.model_dump() for b in made.content]
    assert final.stop_reason == made.stop_reason == "end_turn"
    assert final.usage.output_tokens == made.usage.output_tokens


@pytest.mark.parametrize("auth", ["x-api-key", "bearer"])
def test_gateway_key_is_accepted_as_x_api_key_or_bearer(gateway: LoopbackServer, auth: str) -> None:
    headers = {"x-api-key": GATEWAY_KEY} if auth == "x-api-key" else {"authorization": f"Bearer {GATEWAY_KEY}"}
    reply = httpx.post(gateway.url + "/v1/messages", json={"model": "claude-x", "max_tokens": 10,
                                                          "messages": [{"role": "user", "content": "hi"}]},
                       headers={"anthropic-version": "2023-06-01", **headers})
    assert reply.status_code == 200, reply.text


class Capture:
    """The SDK's own request bytes and headers, as they left it."""

    def __init__(self) -> None:
        self.requests: list[httpx2.Request] = []

    def __call__(self, request: httpx2.Request) -> None:
        request.read()
        self.requests.append(request)


@pytest.fixture
def captured(gateway: LoopbackServer) -> tuple[anthropic.Anthropic, Capture]:
    capture = Capture()
    sdk = anthropic.Anthropic(base_url=gateway.url, api_key=GATEWAY_KEY, max_retries=0,
                              http_client=httpx2.Client(event_hooks={"request": [capture]}))
    return sdk, capture


def assert_same_as_sent(capture: Capture, fake: RunningFake) -> None:
    sent, seen = capture.requests[-1], fake.last
    assert seen.body == sent.content
    for name in ("anthropic-version", "anthropic-beta"):
        assert seen.headers.get(name) == sent.headers.get(name)


def test_sdk_conversation_passes_through_byte_for_byte(captured: tuple[anthropic.Anthropic, Capture],
                                                      fake_anthropic: RunningFake) -> None:
    sdk, capture = captured
    png = "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mNk+M9QDwADhgGAWjR9awAAAABJRU5ErkJggg=="
    tool = {"name": "get_weather", "input_schema": {"type": "object", "properties": {"city": {"type": "string"}}}}
    messages: list[Any] = [{"role": "user", "content": [
        {"type": "image", "source": {"type": "base64", "media_type": "image/png", "data": png}},
        {"type": "text", "text": "Weather in Paris?", "cache_control": {"type": "ephemeral"}}]}]
    first = sdk.beta.messages.create(model="claude-sonnet-4-5-reasoning", max_tokens=3000, tools=[tool],
                                     thinking={"type": "enabled", "budget_tokens": 1024}, messages=messages,
                                     betas=["interleaved-thinking-2025-05-14", "made-up-beta-2099-01-01"])
    assert_same_as_sent(capture, fake_anthropic)
    assert [b.type for b in first.content] == ["thinking", "tool_use"]
    thinking = first.content[0]
    assert thinking.signature  # type: ignore[union-attr]
    call = first.content[1]
    messages += [{"role": "assistant", "content": [b.model_dump(exclude_none=True) for b in first.content]},
                 {"role": "user", "content": [{"type": "tool_result", "tool_use_id": call.id,  # type: ignore[union-attr]
                                               "content": "Sunny", "cache_control": {"type": "ephemeral"}}]}]
    with sdk.beta.messages.stream(model="claude-sonnet-4-5-reasoning", max_tokens=3000, tools=[tool],
                                  thinking={"type": "enabled", "budget_tokens": 1024}, messages=messages,
                                  betas=["interleaved-thinking-2025-05-14"]) as stream:
        second = stream.get_final_message()
    assert_same_as_sent(capture, fake_anthropic)
    replayed = fake_anthropic.last.json["messages"][1]["content"][0]
    assert replayed["signature"] == thinking.signature  # type: ignore[union-attr]
    assert second.content[-1].text.startswith("Tool result received: Sunny")  # type: ignore[union-attr]


def test_claude_on_bedrock_gets_the_native_anthropic_body(gateway: LoopbackServer, fake_bedrock: RunningFake) -> None:
    body = RAW.replace(b'"claude-sonnet-4-5"', b'"bedrock:' + BEDROCK_CLAUDE.encode() + b'"', 1)
    reply = post(gateway, body)
    assert reply.status_code == 200, reply.text
    seen = fake_bedrock.last
    assert seen.path.endswith("/invoke")
    expected = json.loads(RAW)
    del expected["model"]
    assert seen.json == {"anthropic_version": "bedrock-2023-05-31", "anthropic_beta": BETAS.split(","), **expected}
    assert RAW.split(b'"system"', 1)[1] in seen.body  # the rest of the body as the client sent it, byte for byte
    assert reply.json()["type"] == "message" and reply.json()["id"].startswith("msg_bdrk_")


def test_claude_on_bedrock_streams_anthropic_events(client: anthropic.Anthropic, fake_bedrock: RunningFake) -> None:
    kwargs: dict[str, Any] = {"model": f"bedrock:{BEDROCK_CLAUDE}", "max_tokens": 100,
                              "messages": [{"role": "user", "content": "stream from bedrock"}]}
    made = client.messages.create(**kwargs)
    with client.messages.stream(**kwargs) as stream:
        final = stream.get_final_message()
    assert fake_bedrock.last.path.endswith("/invoke-with-response-stream")
    assert "stream" not in fake_bedrock.last.json
    assert [b.model_dump() for b in final.content] == [b.model_dump() for b in made.content]
    assert final.content[0].text == "Fake reply to: stream from bedrock"  # type: ignore[union-attr]
    assert final.usage.input_tokens == made.usage.input_tokens > 0


def test_a_pass_through_stream_cut_midway_still_records_its_input_tokens(gateway: LoopbackServer) -> None:
    body = RAW.replace(b'"claude-sonnet-4-5"', b'"claude-cut-stream"', 1).replace(b'"max_tokens":1024',
                                                                                b'"max_tokens":1024,"stream":true', 1)
    text = post(gateway, body).text
    assert text.rstrip().splitlines()[-2] == "event: error"  # the cut is reported as Anthropic's error event
    usage = httpx.get(gateway.url + "/v1/usage", headers={"x-api-key": GATEWAY_KEY}).json()
    row = next(r for r in usage["rows"] if r["model"] == "claude-cut-stream")
    assert row["errors"] == 1 and row["prompt_tokens"] > 0
