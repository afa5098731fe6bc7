"""OpenAI chat requests translated to Bedrock Converse bodies, and everything Converse cannot express
rejected with a 400 naming the parameter."""

from __future__ import annotations

from typing import Any

import orjson
import pytest

from req_llm_gateway.errors import BadRequest
from req_llm_gateway.providers._bedrock_request import converse_body
from req_llm_gateway.types import ChatRequest

PNG = "data:image/png;base64,iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mNk+M9QDwADhgGAWjR9awAAAABJRU5ErkJggg=="
TOOL = {"type": "function", "function": {"name": "get_weather", "description": "Weather in a city",
                                         "parameters": {"type": "object", "properties": {"city": {"type": "string"}}}}}


def body(**overrides: Any) -> dict[str, Any]:
    req = {"model": "bedrock:anthropic.claude-3-haiku-20240307-v1:0",
           "messages": [{"role": "user", "content": "Hi"}], **overrides}
    return converse_body(ChatRequest.from_openai(req, "openai"))


def rejected(**overrides: Any) -> BadRequest:
    with pytest.raises(BadRequest) as info:
        body(**overrides)
    return info.value


def test_plain_user_message_becomes_one_text_block() -> None:
    assert body() == {"messages": [{"role": "user", "content": [{"text": "Hi"}]}]}


def test_system_and_developer_messages_become_top_level_system_in_order() -> None:
    out = body(messages=[
        {"role": "system", "content": "Be brief."},
        {"role": "user", "content": "Hi"},
        {"role": "developer", "content": [{"type": "text", "text": "Answer in French."}]},
    ])
    assert out["system"] == [{"text": "Be brief."}, {"text": "Answer in French."}]
    assert out["messages"] == [{"role": "user", "content": [{"text": "Hi"}]}]


def test_multi_turn_keeps_roles_and_merges_consecutive_user_turns() -> None:
    out = body(messages=[
        {"role": "user", "content": "One"}, {"role": "user", "content": "Two"},
        {"role": "assistant", "content": "Three"}, {"role": "user", "content": "Four"},
    ])
    assert out["messages"] == [
        {"role": "user", "content": [{"text": "One"}, {"text": "Two"}]},
        {"role": "assistant", "content": [{"text": "Three"}]},
        {"role": "user", "content": [{"text": "Four"}]},
    ]


def test_data_url_image_becomes_image_bytes_block() -> None:
    out = body(messages=[{"role": "user", "content": [
        {"type": "text", "text": "What is this?"}, {"type": "image_url", "image_url": {"url": PNG, "detail": "auto"}}]}])
    assert out["messages"][0]["content"] == [
        {"text": "What is this?"},
        {"image": {"format": "png", "source": {"bytes": PNG.split(",", 1)[1]}}},
    ]


def test_http_image_url_is_rejected_naming_the_part() -> None:
    err = rejected(messages=[{"role": "user", "content": [
        {"type": "image_url", "image_url": {"url": "https://example.com/cat.png"}}]}])
    assert err.status == 400
    assert err.param == "messages[0].content[0].image_url.url"
    assert "http" in err.message


@pytest.mark.parametrize(("url", "param"), [
    ("data:image/bmp;base64,Qk0=", "messages[0].content[0]"),
    ("data:image/png,notbase64", "messages[0].content[0]"),
    ("data:image/png;base64,***", "messages[0].content[0]"),
])
def test_unsupported_image_data_is_rejected(url: str, param: str) -> None:
    err = rejected(messages=[{"role": "user", "content": [{"type": "image_url", "image_url": {"url": url}}]}])
    assert err.param == param


def test_image_detail_other_than_auto_is_rejected() -> None:
    err = rejected(messages=[{"role": "user", "content": [{"type": "image_url", "image_url": {"url": PNG, "detail": "low"}}]}])
    assert err.param == "messages[0].content[0].image_url.detail"


def test_pdf_file_part_becomes_document_block() -> None:
    out = body(messages=[{"role": "user", "content": [
        {"type": "file", "file": {"filename": "report_2024.pdf", "file_data": "data:application/pdf;base64,JVBERi0="}}]}])
    assert out["messages"][0]["content"] == [
        {"document": {"format": "pdf", "name": "report 2024 pdf", "source": {"bytes": "JVBERi0="}}}]


def test_audio_part_is_rejected_naming_its_type() -> None:
    err = rejected(messages=[{"role": "user", "content": [
        {"type": "input_audio", "input_audio": {"data": "AAAA", "format": "wav"}}]}])
    assert err.param == "messages[0].content[0]"


def test_cache_control_on_a_part_adds_a_cache_point_after_it() -> None:
    out = body(messages=[{"role": "user", "content": [
        {"type": "text", "text": "Long context", "cache_control": {"type": "ephemeral", "ttl": "1h"}},
        {"type": "text", "text": "Question"}]}])
    assert out["messages"][0]["content"] == [
        {"text": "Long context"}, {"cachePoint": {"type": "default", "ttl": "1h"}}, {"text": "Question"}]


def test_tools_tool_calls_and_tool_results_round_trip() -> None:
    out = body(tools=[TOOL], tool_choice="auto", messages=[
        {"role": "user", "content": "Weather in Paris and Rome?"},
        {"role": "assistant", "content": None, "tool_calls": [
            {"id": "call_1", "type": "function", "function": {"name": "get_weather", "arguments": '{"city": "Paris"}'}},
            {"id": "call_2", "type": "function", "function": {"name": "get_weather", "arguments": '{"city": "Rome"}'}}]},
        {"role": "tool", "tool_call_id": "call_1", "content": "Sunny"},
        {"role": "tool", "tool_call_id": "call_2", "content": [{"type": "text", "text": "Rain"}]},
    ])
    assert out["toolConfig"] == {
        "tools": [{"toolSpec": {"name": "get_weather", "description": "Weather in a city",
                                "inputSchema": {"json": TOOL["function"]["parameters"]}}}],
        "toolChoice": {"auto": {}},
    }
    assert out["messages"][1:] == [
        {"role": "assistant", "content": [
            {"toolUse": {"toolUseId": "call_1", "name": "get_weather", "input": {"city": "Paris"}}},
            {"toolUse": {"toolUseId": "call_2", "name": "get_weather", "input": {"city": "Rome"}}}]},
        {"role": "user", "content": [
            {"toolResult": {"toolUseId": "call_1", "content": [{"text": "Sunny"}]}},
            {"toolResult": {"toolUseId": "call_2", "content": [{"text": "Rain"}]}}]},
    ]


@pytest.mark.parametrize(("choice", "expected"), [
    ("auto", {"auto": {}}),
    ("required", {"any": {}}),
    ({"type": "function", "function": {"name": "get_weather"}}, {"tool": {"name": "get_weather"}}),
])
def test_tool_choice_maps_to_converse_tool_choice(choice: Any, expected: dict[str, Any]) -> None:
    assert body(tools=[TOOL], tool_choice=choice)["toolConfig"]["toolChoice"] == expected


def test_strict_tool_is_sent_as_strict() -> None:
    tool = {"type": "function", "function": {**TOOL["function"], "strict": True}}
    assert body(tools=[tool])["toolConfig"]["tools"][0]["toolSpec"]["strict"] is True


def test_tool_choice_none_omits_tools_in_a_fresh_conversation() -> None:
    assert "toolConfig" not in body(tools=[TOOL], tool_choice="none")


def test_tool_choice_none_is_rejected_once_the_conversation_holds_tool_calls() -> None:
    err = rejected(tools=[TOOL], tool_choice="none", messages=[
        {"role": "user", "content": "Weather?"},
        {"role": "assistant", "tool_calls": [{"id": "c", "type": "function", "function": {"name": "get_weather", "arguments": "{}"}}]},
        {"role": "tool", "tool_call_id": "c", "content": "Sunny"},
    ])
    assert err.param == "tool_choice"


def test_tool_history_without_tools_is_rejected_naming_tools() -> None:
    err = rejected(messages=[
        {"role": "user", "content": "Weather?"},
        {"role": "assistant", "tool_calls": [{"id": "c", "type": "function", "function": {"name": "get_weather", "arguments": "{}"}}]},
        {"role": "tool", "tool_call_id": "c", "content": "Sunny"},
    ])
    assert err.param == "tools"


def test_invalid_tool_call_arguments_are_rejected() -> None:
    err = rejected(tools=[TOOL], messages=[
        {"role": "user", "content": "Weather?"},
        {"role": "assistant", "tool_calls": [{"id": "c", "type": "function", "function": {"name": "get_weather", "arguments": "{nope"}}]},
    ])
    assert err.param == "messages[1].tool_calls[0].function.arguments"


def test_inference_parameters_map_to_inference_config() -> None:
    out = body(temperature=0.3, top_p=0.9, max_completion_tokens=77, stop=["END", "STOP"])
    assert out["inferenceConfig"] == {"temperature": 0.3, "topP": 0.9, "maxTokens": 77, "stopSequences": ["END", "STOP"]}


def test_max_tokens_alone_and_max_completion_tokens_winning_over_it() -> None:
    assert body(max_tokens=10)["inferenceConfig"] == {"maxTokens": 10}
    assert body(max_tokens=10, max_completion_tokens=20)["inferenceConfig"] == {"maxTokens": 20}


def test_stop_string_becomes_a_list() -> None:
    assert body(stop="END")["inferenceConfig"] == {"stopSequences": ["END"]}


def test_json_schema_response_format_becomes_output_config_text_format() -> None:
    schema = {"type": "object", "properties": {"answer": {"type": "string"}}, "required": ["answer"]}
    out = body(response_format={"type": "json_schema", "json_schema": {"name": "answer", "schema": schema, "strict": True}})
    assert out["outputConfig"] == {"textFormat": {"type": "json_schema", "structure": {
        "jsonSchema": {"schema": orjson.dumps(schema).decode(), "name": "answer"}}}}


def test_text_response_format_adds_nothing() -> None:
    assert body(response_format={"type": "text"}) == body()


@pytest.mark.parametrize("effort", ["low", "medium", "high", "xhigh"])
def test_reasoning_effort_becomes_output_config_effort(effort: str) -> None:
    assert body(reasoning_effort=effort)["outputConfig"] == {"effort": effort}


def test_user_and_metadata_become_request_metadata() -> None:
    assert body(user="u-42", metadata={"team": "search"})["requestMetadata"] == {"user": "u-42", "team": "search"}


@pytest.mark.parametrize(("tier", "expected"), [("priority", {"type": "priority"}), ("flex", {"type": "flex"})])
def test_service_tier_maps_to_converse_service_tier(tier: str, expected: dict[str, str]) -> None:
    assert body(service_tier=tier)["serviceTier"] == expected


@pytest.mark.parametrize("params", [
    {"n": 1}, {"logprobs": False}, {"frequency_penalty": 0}, {"presence_penalty": 0.0}, {"store": False},
    {"parallel_tool_calls": True}, {"stream_options": {"include_usage": True}}, {"service_tier": "auto"},
    {"seed": None}, {"modalities": ["text"]},
])
def test_values_that_ask_for_the_default_are_accepted(params: dict[str, Any]) -> None:
    assert body(**params) == body()


# Every parameter Bedrock Converse cannot express: a 400 naming it.
REJECTED: list[tuple[dict[str, Any], str]] = [
    ({"response_format": {"type": "json_object"}}, "response_format"),
    ({"seed": 7}, "seed"),
    ({"n": 2}, "n"),
    ({"logprobs": True}, "logprobs"),
    ({"top_logprobs": 3}, "top_logprobs"),
    ({"frequency_penalty": 0.5}, "frequency_penalty"),
    ({"presence_penalty": 0.5}, "presence_penalty"),
    ({"logit_bias": {"50256": -100}}, "logit_bias"),
    ({"parallel_tool_calls": False}, "parallel_tool_calls"),
    ({"reasoning_effort": "minimal"}, "reasoning_effort"),
    ({"reasoning_effort": "none"}, "reasoning_effort"),
    ({"store": True}, "store"),
    ({"service_tier": "scale"}, "service_tier"),
    ({"modalities": ["text", "audio"]}, "modalities"),
    ({"audio": {"voice": "alloy", "format": "wav"}}, "audio"),
    ({"prediction": {"type": "content", "content": "x"}}, "prediction"),
    ({"web_search_options": {}}, "web_search_options"),
    ({"verbosity": "low"}, "verbosity"),
    ({"prompt_cache_key": "k"}, "prompt_cache_key"),
    ({"safety_identifier": "s"}, "safety_identifier"),
    ({"functions": [{"name": "f"}]}, "functions"),
    ({"function_call": "auto"}, "function_call"),
    ({"tools": [{"type": "custom", "custom": {"name": "x"}}]}, "tools[0]"),
    ({"tools": [TOOL], "tool_choice": {"type": "allowed_tools", "allowed_tools": {}}}, "tool_choice"),
    ({"messages": [{"role": "user", "content": "Hi", "name": "ann"}]}, "messages[0].name"),
    ({"messages": [{"role": "function", "content": "x"}]}, "messages[0].role"),
    ({"messages": [{"role": "system", "content": [{"type": "image_url", "image_url": {"url": PNG}}]},
                   {"role": "user", "content": "Hi"}]}, "messages[0].content[0]"),
    ({"messages": [{"role": "user", "content": [{"type": "file", "file": {"file_id": "file-1"}}]}]},
     "messages[0].content[0]"),
    ({"messages": [{"role": "user", "content": [{"type": "file", "file": {"file_data": "https://x.example/a.pdf"}}]}]},
     "messages[0].content[0]"),
    ({"tools": [TOOL], "tool_choice": {"type": "function", "function": {"name": "nope"}}}, "tool_choice"),
    ({"max_tokens": 0}, "max_tokens"),
    ({"some_vendor_extension": True}, "some_vendor_extension"),
]


@pytest.mark.parametrize(("params", "param"), REJECTED, ids=[p for _, p in REJECTED])
def test_parameters_converse_cannot_express_are_rejected_naming_them(params: dict[str, Any], param: str) -> None:
    err = rejected(**params)
    assert (err.status, err.param) == (400, param)
    assert "bedrock" in err.message or param in err.message
