"""OpenAI request -> Anthropic Messages body: exact bodies, and a 400 naming each parameter Anthropic
cannot express. Every body built here is also checked against the anthropic SDK's request TypedDicts."""

from __future__ import annotations

from typing import Any

import pytest

from req_llm_gateway.config import Endpoint
from req_llm_gateway.errors import BadRequest, GatewayError
from req_llm_gateway.providers._anthropic_request import body_for, default_max_tokens
from req_llm_gateway.providers.anthropic import WIRE
from req_llm_gateway.types import ChatRequest
from tests.fakes import anthropic_wire

EP = Endpoint("anthropic", "anthropic", "https://api.anthropic.com", api_key="sk-ant-test")
PNG = "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mNk+M9QDwADhgGAWjR9awAAAABJRU5ErkJggg=="
WEATHER = {"type": "function", "function": {
    "name": "get_weather", "description": "Weather for a city",
    "parameters": {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]},
}}


def request(messages: list[dict[str, Any]] | None = None, model: str = "claude-sonnet-4-5",
            stream: bool = False, **params: Any) -> ChatRequest:
    body = {"model": f"anthropic:{model}", "messages": messages or [{"role": "user", "content": "Hi"}],
            "stream": stream, **params}
    return ChatRequest.from_openai(body, "openai")


def body(req: ChatRequest, **options: Any) -> dict[str, Any]:
    out = body_for(req, options)
    anthropic_wire.validate({**out, "stream": req.stream} if req.stream else out, "2023-06-01")
    return out


def test_plain_request_has_model_messages_and_default_max_tokens() -> None:
    assert body(request()) == {
        "model": "claude-sonnet-4-5", "max_tokens": 16384,
        "messages": [{"role": "user", "content": [{"type": "text", "text": "Hi"}]}],
    }


def test_upstream_request_posts_to_v1_messages_with_key_and_version_headers() -> None:
    up = WIRE.build(request(stream=True), EP)
    assert up.url == "https://api.anthropic.com/v1/messages"
    assert dict(up.headers) == {"content-type": "application/json", "accept": "application/json",
                                "anthropic-version": "2023-06-01", "x-api-key": "sk-ant-test"}
    assert b'"stream":true' in up.body


@pytest.mark.parametrize(("model", "expected"), [
    ("claude-3-haiku-20240307", 4096), ("claude-3-opus-20240229", 4096), ("claude-3-5-sonnet-latest", 8192),
    ("claude-3-5-haiku-20241022", 8192), ("claude-3-7-sonnet-latest", 16384), ("claude-sonnet-4-5", 16384),
    ("claude-opus-4-1-20250805", 16384), ("claude-haiku-4-5", 16384), ("some-proxy-model", 4096),
])
def test_default_max_tokens_depends_on_the_model_family(model: str, expected: int) -> None:
    assert default_max_tokens(model, {}) == expected


def test_endpoint_option_default_max_tokens_wins() -> None:
    assert body(request(), default_max_tokens=1000)["max_tokens"] == 1000


@pytest.mark.parametrize("key", ["max_tokens", "max_completion_tokens"])
def test_client_max_tokens_is_sent_as_given(key: str) -> None:
    assert body(request(**{key: 77}))["max_tokens"] == 77


def test_system_and_developer_messages_join_the_system_blocks_in_order() -> None:
    msgs = [{"role": "system", "content": "Be brief."}, {"role": "user", "content": "Hi"},
            {"role": "developer", "content": [{"type": "text", "text": "Answer in French."}]}]
    out = body(request(msgs))
    assert out["system"] == [{"type": "text", "text": "Be brief."}, {"type": "text", "text": "Answer in French."}]
    assert out["messages"] == [{"role": "user", "content": [{"type": "text", "text": "Hi"}]}]


def test_sampling_stop_and_user_map_to_their_anthropic_fields() -> None:
    out = body(request(temperature=0.2, top_p=0.9, top_k=5, stop=["END"], user="u-42"))
    assert (out["temperature"], out["top_p"], out["top_k"]) == (0.2, 0.9, 5)
    assert out["stop_sequences"] == ["END"]
    assert out["metadata"] == {"user_id": "u-42"}


def test_a_single_stop_string_becomes_a_list() -> None:
    assert body(request(stop="###"))["stop_sequences"] == ["###"]


def test_images_become_base64_and_url_sources() -> None:
    parts = [{"type": "text", "text": "Compare"},
             {"type": "image_url", "image_url": {"url": f"data:image/png;base64,{PNG}", "detail": "high"}},
             {"type": "image_url", "image_url": {"url": "https://example.com/cat.jpg"}}]
    out = body(request([{"role": "user", "content": parts}]))
    assert out["messages"][0]["content"] == [
        {"type": "text", "text": "Compare"},
        {"type": "image", "source": {"type": "base64", "media_type": "image/png", "data": PNG}},
        {"type": "image", "source": {"type": "url", "url": "https://example.com/cat.jpg"}},
    ]


def test_pdf_file_part_becomes_a_document_block() -> None:
    part = {"type": "file", "file": {"filename": "a.pdf", "file_data": "data:application/pdf;base64,JVBERi0xLjQK"}}
    out = body(request([{"role": "user", "content": [part]}]))
    assert out["messages"][0]["content"] == [
        {"type": "document", "source": {"type": "base64", "media_type": "application/pdf", "data": "JVBERi0xLjQK"}}
    ]


@pytest.mark.parametrize(("part", "param"), [
    ({"type": "image_url", "image_url": {"url": "data:image/bmp;base64,Qk0="}}, "messages[0].content[0]"),
    ({"type": "image_url", "image_url": {"url": "ftp://example.com/a.png"}}, "messages[0].content[0]"),
    ({"type": "image_url", "image_url": {"url": "data:image/png,notbase64"}}, "messages[0].content[0]"),
    ({"type": "input_audio", "input_audio": {"data": "UklGRg==", "format": "wav"}}, "messages[0].content[0]"),
    ({"type": "file", "file": {"file_id": "file-abc"}}, "messages[0].content[0]"),
])
def test_content_anthropic_cannot_take_is_a_400_naming_the_part(part: dict[str, Any], param: str) -> None:
    with pytest.raises(BadRequest) as info:
        body_for(request([{"role": "user", "content": [part]}]), {})
    assert info.value.param == param


def test_tool_round_trip_becomes_tool_use_and_tool_result_blocks() -> None:
    msgs = [
        {"role": "user", "content": "Weather in Paris and Rome?"},
        {"role": "assistant", "content": None, "tool_calls": [
            {"id": "toolu_1", "type": "function", "function": {"name": "get_weather", "arguments": '{"city": "Paris"}'}},
            {"id": "toolu_2", "type": "function", "function": {"name": "get_weather", "arguments": '{"city":"Rome"}'}},
        ]},
        {"role": "tool", "tool_call_id": "toolu_1", "content": "sunny"},
        {"role": "tool", "tool_call_id": "toolu_2", "content": [{"type": "text", "text": "rainy"}]},
        {"role": "user", "content": "Thanks"},
    ]
    out = body(request(msgs, tools=[WEATHER]))
    assert out["messages"] == [
        {"role": "user", "content": [{"type": "text", "text": "Weather in Paris and Rome?"}]},
        {"role": "assistant", "content": [
            {"type": "tool_use", "id": "toolu_1", "name": "get_weather", "input": {"city": "Paris"}},
            {"type": "tool_use", "id": "toolu_2", "name": "get_weather", "input": {"city": "Rome"}},
        ]},
        {"role": "user", "content": [
            {"type": "tool_result", "tool_use_id": "toolu_1", "content": "sunny"},
            {"type": "tool_result", "tool_use_id": "toolu_2", "content": "rainy"},
            {"type": "text", "text": "Thanks"},
        ]},
    ]
    assert out["tools"] == [{"name": "get_weather", "description": "Weather for a city", "input_schema": {
        "type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]}}]
    assert "tool_choice" not in out


@pytest.mark.parametrize(("choice", "parallel", "expected"), [
    ("auto", None, {"type": "auto"}),
    ("none", None, {"type": "none"}),
    ("required", None, {"type": "any"}),
    ({"type": "function", "function": {"name": "get_weather"}}, None, {"type": "tool", "name": "get_weather"}),
    ("required", False, {"type": "any", "disable_parallel_tool_use": True}),
    (None, False, {"type": "auto", "disable_parallel_tool_use": True}),
    ("none", False, {"type": "none"}),
])
def test_tool_choice_and_parallel_tool_calls_map_to_anthropic_tool_choice(
    choice: Any, parallel: bool | None, expected: dict[str, Any]
) -> None:
    out = body(request(tools=[WEATHER], tool_choice=choice, parallel_tool_calls=parallel))
    assert out["tool_choice"] == expected


def test_strict_function_sets_strict_tool_and_missing_parameters_become_an_empty_object() -> None:
    tool = {"type": "function", "function": {"name": "ping", "strict": True}}
    assert body(request(tools=[tool]))["tools"] == [
        {"name": "ping", "input_schema": {"type": "object", "properties": {}}, "strict": True}
    ]


def test_json_schema_response_format_becomes_output_config_format() -> None:
    schema = {"type": "object", "properties": {"answer": {"type": "string"}}, "required": ["answer"],
              "additionalProperties": False}
    out = body(request(response_format={"type": "json_schema", "json_schema": {"name": "a", "schema": schema}}))
    assert out["output_config"] == {"format": {"type": "json_schema", "schema": schema}}


def test_json_object_response_format_is_a_forced_json_tool() -> None:
    out = body(request(response_format={"type": "json_object"}))
    assert out["tools"] == [{"name": "json_response", "description": "Respond with a JSON object.",
                             "input_schema": {"type": "object"}}]
    assert out["tool_choice"] == {"type": "tool", "name": "json_response"}


def test_json_object_with_tools_is_a_400_naming_response_format() -> None:
    with pytest.raises(BadRequest) as info:
        body_for(request(tools=[WEATHER], response_format={"type": "json_object"}), {})
    assert info.value.param == "response_format"


@pytest.mark.parametrize(("effort", "max_tokens", "thinking", "sent_max"), [
    ("low", None, {"type": "enabled", "budget_tokens": 2048}, 16384),
    ("high", None, {"type": "enabled", "budget_tokens": 16384}, 16384 + 4096),
    ("max", None, {"type": "enabled", "budget_tokens": 27648}, 27648 + 4096),
    ("high", 20000, {"type": "enabled", "budget_tokens": 16384}, 20000),
    ("high", 4000, {"type": "enabled", "budget_tokens": 3999}, 4000),
    ("none", None, {"type": "disabled"}, 16384),
])
def test_reasoning_effort_becomes_a_thinking_budget_below_max_tokens(
    effort: str, max_tokens: int | None, thinking: dict[str, Any], sent_max: int
) -> None:
    out = body(request(reasoning_effort=effort, max_completion_tokens=max_tokens))
    assert (out["thinking"], out["max_tokens"]) == (thinking, sent_max)


def test_reasoning_effort_with_a_limit_too_small_for_any_budget_is_a_400() -> None:
    with pytest.raises(BadRequest) as info:
        body_for(request(reasoning_effort="low", max_tokens=500), {})
    assert info.value.param == "reasoning_effort"


@pytest.mark.parametrize(("param", "value"), [
    ("n", 2), ("logprobs", True), ("top_logprobs", 3), ("logit_bias", {"42": 1}), ("presence_penalty", 0.5),
    ("frequency_penalty", 0.5), ("seed", 7), ("audio", {"voice": "alloy"}), ("modalities", ["text", "audio"]),
    ("prediction", {"type": "content", "content": "x"}), ("store", True), ("metadata", {"k": "v"}),
    ("service_tier", "flex"), ("web_search_options", {}), ("functions", [{"name": "f"}]),
    ("function_call", "auto"), ("verbosity", "low"), ("prompt_cache_key", "k"), ("safety_identifier", "s"),
])
def test_parameters_anthropic_cannot_express_are_a_400_naming_them(param: str, value: Any) -> None:
    with pytest.raises(BadRequest) as info:
        body_for(request(**{param: value}), {})
    assert info.value.param == param
    assert "anthropic" in info.value.message


@pytest.mark.parametrize(("param", "value"), [
    ("n", 1), ("logprobs", False), ("presence_penalty", 0), ("frequency_penalty", 0.0), ("logit_bias", {}),
    ("parallel_tool_calls", True), ("store", False), ("seed", None), ("stream_options", {"include_usage": True}),
])
def test_neutral_values_of_unsupported_parameters_are_accepted(param: str, value: Any) -> None:
    body(request(**{param: value}))


def test_message_name_is_a_400_naming_it() -> None:
    with pytest.raises(BadRequest) as info:
        body_for(request([{"role": "user", "content": "Hi", "name": "bob"}]), {})
    assert info.value.param == "messages[0].name"


def test_invalid_tool_call_arguments_are_a_400_naming_them() -> None:
    msgs = [{"role": "user", "content": "x"}, {"role": "assistant", "tool_calls": [
        {"id": "t1", "type": "function", "function": {"name": "f", "arguments": "{not json"}}]}]
    with pytest.raises(BadRequest) as info:
        body_for(request(msgs), {})
    assert info.value.param == "messages[1].tool_calls[0].function.arguments"


def test_thinking_blocks_sent_back_on_an_assistant_message_lead_its_content() -> None:
    thinking = [{"type": "thinking", "thinking": "Need the weather.", "signature": "EqQB"},
                {"type": "redacted_thinking", "data": "opaque"}]
    msgs = [{"role": "user", "content": "Paris?"},
            {"role": "assistant", "content": None, "thinking_blocks": thinking, "reasoning_content": "ignored",
             "tool_calls": [{"id": "toolu_1", "type": "function",
                             "function": {"name": "get_weather", "arguments": '{"city":"Paris"}'}}]},
            {"role": "tool", "tool_call_id": "toolu_1", "content": "sunny"}]
    out = body(request(msgs, tools=[WEATHER], reasoning_effort="low"))
    assert out["messages"][1]["content"] == [
        *thinking, {"type": "tool_use", "id": "toolu_1", "name": "get_weather", "input": {"city": "Paris"}}]


def test_thinking_blocks_must_be_thinking_blocks() -> None:
    msgs = [{"role": "user", "content": "x"}, {"role": "assistant", "content": "y", "thinking_blocks": [{"a": 1}]}]
    with pytest.raises(BadRequest) as info:
        body_for(request(msgs), {})
    assert info.value.param == "messages[1].thinking_blocks"


def test_cache_control_on_content_parts_is_passed_on_to_their_blocks() -> None:
    marker = {"type": "ephemeral"}
    msgs = [{"role": "user", "content": [{"type": "text", "text": "Long document", "cache_control": marker},
                                         {"type": "image_url", "image_url": {"url": "https://example.com/a.png"},
                                          "cache_control": {"type": "ephemeral", "ttl": "1h"}}]},
            {"role": "assistant", "tool_calls": [{"id": "t1", "type": "function",
                                                   "function": {"name": "get_weather", "arguments": "{}"}}]},
            {"role": "tool", "tool_call_id": "t1", "content": [{"type": "text", "text": "sunny", "cache_control": marker}]}]
    out = body(request(msgs, tools=[WEATHER]))
    assert out["messages"][0]["content"] == [
        {"type": "text", "text": "Long document", "cache_control": marker},
        {"type": "image", "source": {"type": "url", "url": "https://example.com/a.png"},
         "cache_control": {"type": "ephemeral", "ttl": "1h"}},
    ]
    assert out["messages"][2]["content"] == [{"type": "tool_result", "tool_use_id": "t1", "content": [
        {"type": "text", "text": "sunny", "cache_control": marker}]}]


@pytest.mark.parametrize(("option", "expected"), [
    (True, {"type": "ephemeral"}), ("5m", {"type": "ephemeral"}), ("1h", {"type": "ephemeral", "ttl": "1h"}),
    ("false", None), (None, None),
])
def test_endpoint_option_cache_control_sends_the_top_level_marker(option: Any, expected: Any) -> None:
    assert body(request(), cache_control=option).get("cache_control") == expected


def test_a_wrong_cache_control_option_is_a_server_side_error() -> None:
    with pytest.raises(GatewayError) as info:
        body_for(request(), {"cache_control": "forever"})
    assert info.value.status == 500 and "cache_control" in info.value.message
