"""/v1/messages translated to OpenAI-compatible, Gemini and Bedrock upstreams, driven by the official
`anthropic` SDK: text, a tool round trip, images, thinking, stream = non-stream, errors in Anthropic's shape."""

from __future__ import annotations

import base64
import json
from typing import Any

import anthropic
import httpx
import pytest

from tests.fakes.fixtures import RunningFake
from tests.fakes.server import LoopbackServer

from .conftest import BEDROCK_MODEL, GATEWAY_KEY

MODELS = ["openai:gpt-4o", "gemini:gemini-2.5-flash", f"bedrock:{BEDROCK_MODEL}"]
WEATHER = {"name": "get_weather", "description": "Weather in a city",
           "input_schema": {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]}}
PNG = base64.b64encode(bytes.fromhex(
    "89504e470d0a1a0a0000000d4948445200000001000000010806000000" "1f15c4890000000d49444154789c6360000000000400010d0a2db40000000049454e44ae426082"
)).decode()


def final_of_stream(client: anthropic.Anthropic, **kwargs: Any) -> anthropic.types.Message:
    with client.messages.stream(**kwargs) as stream:
        return stream.get_final_message()


@pytest.mark.parametrize("model", MODELS)
def test_text_answer_streamed_accumulates_to_the_non_stream_message(client: anthropic.Anthropic, model: str) -> None:
    kwargs: dict[str, Any] = {"model": model, "max_tokens": 300, "system": "You are terse.",
                              "messages": [{"role": "user", "content": "Describe the sea in a few words"}]}
    made = client.messages.create(**kwargs)
    streamed = final_of_stream(client, **kwargs)
    assert made.type == "message" and made.role == "assistant"
    assert [b.type for b in made.content] == ["text"] and made.content[0].text
    assert [b.model_dump() for b in streamed.content] == [b.model_dump() for b in made.content]
    assert streamed.stop_reason == made.stop_reason == "end_turn"
    assert (streamed.usage.input_tokens, streamed.usage.output_tokens) == (made.usage.input_tokens,
                                                                         made.usage.output_tokens)
    assert made.usage.input_tokens > 0 and made.usage.output_tokens > 0


@pytest.mark.parametrize("model", MODELS)
@pytest.mark.parametrize("stream", [False, True])
def test_tool_use_round_trip(client: anthropic.Anthropic, model: str, stream: bool) -> None:
    messages: list[dict[str, Any]] = [{"role": "user", "content": "What is the weather in Paris?"}]
    kwargs: dict[str, Any] = {"model": model, "max_tokens": 300, "tools": [WEATHER],
                              "tool_choice": {"type": "any"}, "messages": messages}
    first = final_of_stream(client, **kwargs) if stream else client.messages.create(**kwargs)
    assert first.stop_reason == "tool_use"
    call = next(b for b in first.content if b.type == "tool_use")
    assert call.name == "get_weather" and isinstance(call.input, dict)
    assert call.id and all(c.isalnum() or c in "_-" for c in call.id)
    messages += [{"role": "assistant", "content": [b.model_dump(exclude_none=True) for b in first.content]},
                 {"role": "user", "content": [{"type": "tool_result", "tool_use_id": call.id,
                                               "content": "Sunny, 21 C"}]}]
    second = client.messages.create(model=model, max_tokens=300, tools=[WEATHER], messages=messages)
    assert second.stop_reason == "end_turn" and second.content[0].type == "text"


@pytest.mark.parametrize("model", MODELS)
def test_claude_code_metadata_user_id_is_accepted_everywhere(client: anthropic.Anthropic, model: str) -> None:
    made = client.messages.create(model=model, max_tokens=50, metadata={"user_id": '{"device_id":"d"}'},
                                  messages=[{"role": "user", "content": "hi"}])
    assert made.content[0].type == "text"


@pytest.mark.parametrize("model", MODELS)
def test_image_block_reaches_the_provider(client: anthropic.Anthropic, model: str) -> None:
    made = client.messages.create(model=model, max_tokens=100, messages=[{"role": "user", "content": [
        {"type": "image", "source": {"type": "base64", "media_type": "image/png", "data": PNG}},
        {"type": "text", "text": "What is in this image?"}]}])
    assert made.content[0].type == "text"


def test_long_tool_names_are_shortened_upstream_and_restored(client: anthropic.Anthropic,
                                                             fake_openai: RunningFake) -> None:
    long_name = "mcp__a_very_long_server_name_for_testing__" + "x" * 40
    tool = {**WEATHER, "name": long_name}
    made = client.messages.create(model="openai:gpt-4o", max_tokens=100, tools=[tool],
                                  tool_choice={"type": "tool", "name": long_name},
                                  messages=[{"role": "user", "content": "weather in Rome"}])
    sent = fake_openai.last.json["tools"][0]["function"]["name"]
    assert len(sent) <= 64 and sent != long_name
    assert next(b for b in made.content if b.type == "tool_use").name == long_name


def test_attribution_block_and_cache_control_do_not_reach_other_providers(client: anthropic.Anthropic,
                                                                          fake_openai: RunningFake) -> None:
    client.messages.create(model="openai:gpt-4o", max_tokens=50, system=[
        {"type": "text", "text": "x-anthropic-billing-header: cc_version=2.1.328; cc_entrypoint=cli;"},
        {"type": "text", "text": "You are helpful.", "cache_control": {"type": "ephemeral"}}],
        messages=[{"role": "user", "content": "hi"}], metadata={"user_id": '{"device_id":"d1"}'},
        stop_sequences=["END"])
    sent = fake_openai.last.json
    assert sent["messages"][0] == {"role": "system", "content": [{"type": "text", "text": "You are helpful."}]}
    assert sent["user"] == '{"device_id":"d1"}' and sent["stop"] == ["END"]


def test_thinking_becomes_reasoning_and_comes_back_as_thinking(client: anthropic.Anthropic,
                                                              fake_gemini: RunningFake) -> None:
    made = client.messages.create(model="gemini:gemini-2.5-flash-reasoning", max_tokens=4000,
                                  thinking={"type": "enabled", "budget_tokens": 2048},
                                  messages=[{"role": "user", "content": "Think, then answer"}])
    assert "thinkingConfig" in fake_gemini.last.json["generationConfig"]
    assert [b.type for b in made.content][-1] == "text"


def test_translated_errors_use_anthropic_shape(gateway: LoopbackServer) -> None:
    headers = {"x-api-key": GATEWAY_KEY, "anthropic-version": "2023-06-01"}
    body = {"model": "openai:gpt-4o-status-429", "max_tokens": 10, "messages": [{"role": "user", "content": "x"}]}
    limited = httpx.post(gateway.url + "/v1/messages", json=body, headers=headers)
    assert limited.status_code == 429
    assert limited.json()["type"] == "error" and limited.json()["error"]["type"] == "rate_limit_error"
    missing = httpx.post(gateway.url + "/v1/messages", json={**body, "max_tokens": None}, headers=headers)
    assert missing.status_code == 400 and missing.json()["error"]["type"] == "invalid_request_error"
    bad_json = httpx.post(gateway.url + "/v1/messages", content=b"{nope", headers=headers)
    assert bad_json.status_code == 400 and bad_json.json()["error"]["type"] == "invalid_request_error"
    unknown = httpx.post(gateway.url + "/v1/messages", json={**body, "model": "nosuch:model"}, headers=headers)
    assert unknown.status_code == 404 and unknown.json()["error"]["type"] == "not_found_error"


def test_middleware_errors_on_messages_routes_are_anthropic_shaped(gateway_with: Any) -> None:
    body = {"model": "claude-x", "max_tokens": 10, "messages": [{"role": "user", "content": "x"}]}
    with gateway_with(REQ_LLM_GATEWAY_MAX_REQUEST_BYTES="100") as gw:
        no_key = httpx.post(gw.url + "/v1/messages", json=body)
        assert no_key.status_code == 401
        assert no_key.json() == {"type": "error", "error": {"type": "authentication_error",
                                                            "message": no_key.json()["error"]["message"]}}
        big = httpx.post(gw.url + "/v1/messages", json={**body, "pad": "x" * 200}, headers={"x-api-key": GATEWAY_KEY})
        assert big.status_code == 413 and big.json()["error"]["type"] == "request_too_large"
        chat = httpx.post(gw.url + "/v1/chat/completions", json=body)
        assert "type" not in chat.json() and chat.json()["error"]["type"] == "authentication_error"  # OpenAI's
    with gateway_with(REQ_LLM_GATEWAY_RATE_LIMIT="1/minute") as gw:
        httpx.post(gw.url + "/v1/messages", json=body, headers={"x-api-key": GATEWAY_KEY})
        limited = httpx.post(gw.url + "/v1/messages", json=body, headers={"x-api-key": GATEWAY_KEY})
        assert limited.status_code == 429 and limited.json()["error"]["type"] == "rate_limit_error"
        assert limited.headers["retry-after"]


def test_count_tokens_per_provider(client: anthropic.Anthropic, fake_anthropic: RunningFake,
                                   fake_gemini: RunningFake) -> None:
    messages: Any = [{"role": "user", "content": "one two three four"}]
    native = client.messages.count_tokens(model="claude-sonnet-4-5", messages=messages)
    assert native.input_tokens == 4 and fake_anthropic.last.path == "/v1/messages/count_tokens"
    gemini = client.messages.count_tokens(model="gemini:gemini-2.5-flash", messages=messages)
    assert gemini.input_tokens == 4 and fake_gemini.last.path.endswith(":countTokens")
    local = client.messages.count_tokens(model="openai:gpt-4o", messages=messages)
    assert local.input_tokens >= 4
    with pytest.raises(anthropic.RateLimitError):  # Anthropic's error passed through, not masked
        client.messages.count_tokens(model="claude-status-429", messages=messages)


@pytest.mark.parametrize("model", ["openai:gpt-4o-stream-error", "claude-x-stream-error"])
def test_mid_stream_failure_is_one_anthropic_error_event(gateway: LoopbackServer, model: str) -> None:
    body = {"model": model, "max_tokens": 100, "stream": True,
            "messages": [{"role": "user", "content": "a fairly long question to stream back"}]}
    with httpx.stream("POST", gateway.url + "/v1/messages", json=body, timeout=30,
                      headers={"x-api-key": GATEWAY_KEY, "anthropic-version": "2023-06-01"}) as reply:
        text = reply.read().decode()
    assert reply.status_code == 200
    events = [line.removeprefix("event: ") for line in text.splitlines() if line.startswith("event: ")]
    assert events[0] == "message_start" and events[-1] == "error" and events.count("error") == 1
    assert "message_stop" not in events
    error = [line for line in text.splitlines() if line.startswith("data: ")][-1]
    payload = json.loads(error.removeprefix("data: "))
    assert payload["type"] == "error" and payload["error"]["type"] in ("overloaded_error", "api_error")


def test_slow_upstream_gets_pings_before_message_start(upstream_env: dict[str, str]) -> None:
    from req_llm_gateway import Settings, create_app
    from req_llm_gateway.app.messages import Messages
    from req_llm_gateway.app.responses import Redactor

    settings = Settings.from_env({**upstream_env, "REQ_LLM_GATEWAY_USAGE_STORE": "memory://"})
    route = Messages(create_app(settings).state.gateway, Redactor(), ping_interval=0.1)  # the real gateway state
    body = {"model": "openai:gpt-4o-slow-400", "max_tokens": 50, "stream": True,
            "messages": [{"role": "user", "content": "take your time"}]}
    with LoopbackServer(route) as srv:
        text = httpx.post(srv.url, json=body, timeout=30).text
    events = [line.removeprefix("event: ") for line in text.splitlines() if line.startswith("event: ")]
    first_start = events.index("message_start")
    assert first_start > 0 and set(events[:first_start]) == {"ping"}
    assert events[-2:] == ["message_delta", "message_stop"]
