"""OpenAI request -> Gemini generateContent body: exact bodies, and a 400 naming each parameter Gemini
cannot express. Every body built here also passes the fake's proto-style field check."""

from __future__ import annotations

from typing import Any

import pytest

from req_llm_gateway.config import Endpoint
from req_llm_gateway.errors import BadRequest
from req_llm_gateway.providers._gemini_request import body_for, model_path, split_call_id
from req_llm_gateway.providers.gemini import WIRE
from req_llm_gateway.types import ChatRequest
from tests.fakes import gemini_wire

EP = Endpoint("gemini", "gemini", "https://generativelanguage.googleapis.com", api_key="g-test")
PNG = "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mNk+M9QDwADhgGAWjR9awAAAABJRU5ErkJggg=="
WEATHER = {"type": "function", "function": {
    "name": "get_weather", "description": "Weather for a city",
    "parameters": {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]},
}}


def request(messages: list[dict[str, Any]] | None = None, model: str = "gemini-2.5-flash",
            stream: bool = False, **params: Any) -> ChatRequest:
    body = {"model": f"gemini:{model}", "messages": messages or [{"role": "user", "content": "Hi"}],
            "stream": stream, **params}
    return ChatRequest.from_openai(body, "openai")


def body(req: ChatRequest) -> dict[str, Any]:
    out = body_for(req)
    gemini_wire.validate(out)
    return out


def test_plain_request_is_contents_only() -> None:
    assert body(request()) == {"contents": [{"role": "user", "parts": [{"text": "Hi"}]}]}


def test_upstream_urls_and_key_header() -> None:
    up = WIRE.build(request(), EP)
    assert up.url == "https://generativelanguage.googleapis.com/v1beta/models/gemini-2.5-flash:generateContent"
    assert dict(up.headers) == {"content-type": "application/json", "accept": "application/json",
                                "x-goog-api-key": "g-test"}
    streamed = WIRE.build(request(stream=True), EP)
    assert streamed.url == (
        "https://generativelanguage.googleapis.com/v1beta/models/gemini-2.5-flash:streamGenerateContent?alt=sse"
    )


@pytest.mark.parametrize(("model", "path"), [
    ("gemini-2.5-pro", "/v1beta/models/gemini-2.5-pro"),
    ("models/gemini-2.0-flash", "/v1beta/models/gemini-2.0-flash"),
    ("tunedModels/my-model-1", "/v1beta/tunedModels/my-model-1"),
    ("odd name:x", "/v1beta/models/odd%20name%3Ax"),
])
def test_model_path_accepts_prefixes_and_escapes_the_rest(model: str, path: str) -> None:
    assert model_path(model) == path


def test_system_and_developer_messages_become_the_system_instruction() -> None:
    msgs = [{"role": "system", "content": "Be brief."}, {"role": "developer", "content": "Use French."},
            {"role": "user", "content": "Hi"}, {"role": "assistant", "content": "Salut"},
            {"role": "user", "content": "Again"}]
    assert body(request(msgs)) == {
        "systemInstruction": {"parts": [{"text": "Be brief."}, {"text": "Use French."}]},
        "contents": [{"role": "user", "parts": [{"text": "Hi"}]}, {"role": "model", "parts": [{"text": "Salut"}]},
                     {"role": "user", "parts": [{"text": "Again"}]}],
    }


def test_generation_parameters_map_to_generation_config() -> None:
    out = body(request(temperature=0.3, top_p=0.8, top_k=20, n=2, presence_penalty=0.1, frequency_penalty=0.2,
                       seed=9, max_completion_tokens=100, stop=["END", "STOP"]))
    assert out["generationConfig"] == {
        "temperature": 0.3, "topP": 0.8, "topK": 20, "candidateCount": 2, "presencePenalty": 0.1,
        "frequencyPenalty": 0.2, "seed": 9, "maxOutputTokens": 100, "stopSequences": ["END", "STOP"],
    }


def test_more_than_five_stop_sequences_is_a_400() -> None:
    with pytest.raises(BadRequest) as info:
        body_for(request(stop=["a", "b", "c", "d", "e", "f"]))
    assert info.value.param == "stop"


def test_images_become_inline_data_and_file_data() -> None:
    parts = [{"type": "text", "text": "Compare"},
             {"type": "image_url", "image_url": {"url": f"data:image/png;base64,{PNG}"}},
             {"type": "image_url", "image_url": {"url": "https://example.com/photos/cat.JPG?size=large"}}]
    assert body(request([{"role": "user", "content": parts}]))["contents"][0]["parts"] == [
        {"text": "Compare"},
        {"inlineData": {"mimeType": "image/png", "data": PNG}},
        {"fileData": {"mimeType": "image/jpeg", "fileUri": "https://example.com/photos/cat.JPG?size=large"}},
    ]


def test_audio_and_pdf_parts_become_inline_data() -> None:
    parts = [{"type": "input_audio", "input_audio": {"data": "UklGRg==", "format": "wav"}},
             {"type": "file", "file": {"file_data": "data:application/pdf;base64,JVBERi0xLjQK"}}]
    assert body(request([{"role": "user", "content": parts}]))["contents"][0]["parts"] == [
        {"inlineData": {"mimeType": "audio/wav", "data": "UklGRg=="}},
        {"inlineData": {"mimeType": "application/pdf", "data": "JVBERi0xLjQK"}},
    ]


@pytest.mark.parametrize("url", ["https://example.com/image", "gs://bucket/cat.png", "https://example.com/a.pdf"])
def test_image_urls_gemini_cannot_type_or_fetch_are_a_400_naming_the_part(url: str) -> None:
    with pytest.raises(BadRequest) as info:
        body_for(request([{"role": "user", "content": [{"type": "image_url", "image_url": {"url": url}}]}]))
    assert info.value.param == "messages[0].content[0]"


def test_tool_round_trip_becomes_function_call_and_response_parts() -> None:
    msgs = [
        {"role": "user", "content": "Weather in Paris and Rome?"},
        {"role": "assistant", "content": "Checking.", "tool_calls": [
            {"id": "call_0123456789abcdef01234567", "type": "function",
             "function": {"name": "get_weather", "arguments": '{"city": "Paris"}'}},
            {"id": "fc-7__thought__c2lnbmF0dXJl", "type": "function",
             "function": {"name": "get_weather", "arguments": '{"city": "Rome"}'}},
        ]},
        {"role": "tool", "tool_call_id": "call_0123456789abcdef01234567", "content": "sunny"},
        {"role": "tool", "tool_call_id": "fc-7__thought__c2lnbmF0dXJl", "content": "rainy"},
    ]
    out = body(request(msgs, tools=[WEATHER]))
    assert out["contents"][1:] == [
        {"role": "model", "parts": [
            {"text": "Checking."},
            {"functionCall": {"name": "get_weather", "args": {"city": "Paris"}}},
            {"functionCall": {"name": "get_weather", "args": {"city": "Rome"}, "id": "fc-7"},
             "thoughtSignature": "c2lnbmF0dXJl"},
        ]},
        {"role": "user", "parts": [
            {"functionResponse": {"name": "get_weather", "response": {"output": "sunny"}}},
            {"functionResponse": {"name": "get_weather", "response": {"output": "rainy"}, "id": "fc-7"}},
        ]},
    ]
    assert out["tools"] == [{"functionDeclarations": [{
        "name": "get_weather", "description": "Weather for a city",
        "parametersJsonSchema": {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]},
    }]}]
    assert "toolConfig" not in out


def test_a_tool_result_for_an_unknown_call_is_a_400_naming_its_id() -> None:
    msgs = [{"role": "user", "content": "x"}, {"role": "tool", "tool_call_id": "nope", "content": "y"}]
    with pytest.raises(BadRequest) as info:
        body_for(request(msgs))
    assert info.value.param == "messages[1].tool_call_id"


def test_split_call_id_separates_the_thought_signature() -> None:
    assert split_call_id("abc__thought__SIG==") == ("abc", "SIG==")
    assert split_call_id("call_plain") == ("call_plain", None)


@pytest.mark.parametrize(("choice", "strict", "config"), [
    ("auto", False, {"mode": "AUTO"}),
    ("none", False, {"mode": "NONE"}),
    ("required", False, {"mode": "ANY"}),
    ({"type": "function", "function": {"name": "get_weather"}}, False,
     {"mode": "ANY", "allowedFunctionNames": ["get_weather"]}),
    (None, True, {"mode": "VALIDATED"}),
    ("required", True, {"mode": "ANY"}),
])
def test_tool_choice_and_strict_map_to_function_calling_config(
    choice: Any, strict: bool, config: dict[str, Any]
) -> None:
    tool = {"type": "function", "function": {**WEATHER["function"], "strict": strict}}
    assert body(request(tools=[tool], tool_choice=choice))["toolConfig"] == {"functionCallingConfig": config}


def test_response_formats_set_the_json_mime_type_and_schema() -> None:
    schema = {"type": "object", "properties": {"answer": {"type": "string"}}, "additionalProperties": False}
    out = body(request(response_format={"type": "json_schema", "json_schema": {"name": "a", "schema": schema}}))
    assert out["generationConfig"] == {"responseMimeType": "application/json", "responseJsonSchema": schema}
    out = body(request(response_format={"type": "json_object"}))
    assert out["generationConfig"] == {"responseMimeType": "application/json"}
    assert "generationConfig" not in body(request(response_format={"type": "text"}))


@pytest.mark.parametrize(("model", "effort", "thinking"), [
    ("gemini-2.5-flash", "none", {"thinkingBudget": 0, "includeThoughts": False}),
    ("gemini-2.5-flash", "low", {"thinkingBudget": 1024, "includeThoughts": True}),
    ("gemini-2.5-pro", "high", {"thinkingBudget": 24576, "includeThoughts": True}),
    ("gemini-3-pro-preview", "low", {"thinkingLevel": "LOW", "includeThoughts": True}),
    ("gemini-3-flash-preview", "minimal", {"thinkingLevel": "MINIMAL", "includeThoughts": True}),
])
def test_reasoning_effort_becomes_thinking_config(model: str, effort: str, thinking: dict[str, Any]) -> None:
    out = body(request(model=model, reasoning_effort=effort))
    assert out["generationConfig"] == {"thinkingConfig": thinking}


@pytest.mark.parametrize("effort", ["none", "max"])
def test_reasoning_effort_without_a_gemini_3_thinking_level_is_a_400(effort: str) -> None:
    with pytest.raises(BadRequest) as info:
        body_for(request(model="gemini-3-pro-preview", reasoning_effort=effort))
    assert info.value.param == "reasoning_effort"


@pytest.mark.parametrize(("param", "value"), [
    ("logprobs", True), ("top_logprobs", 2), ("logit_bias", {"1": 2}), ("parallel_tool_calls", False),
    ("user", "u-1"), ("audio", {"voice": "x"}), ("modalities", ["audio"]), ("store", True),
    ("metadata", {"a": "b"}), ("service_tier", "priority"), ("prediction", {"type": "content"}),
    ("web_search_options", {}), ("functions", [{"name": "f"}]), ("verbosity", "high"),
])
def test_parameters_gemini_cannot_express_are_a_400_naming_them(param: str, value: Any) -> None:
    with pytest.raises(BadRequest) as info:
        body_for(request(**{param: value}))
    assert info.value.param == param
    assert "gemini" in info.value.message


def test_non_function_tools_are_a_400_naming_the_tool() -> None:
    with pytest.raises(BadRequest) as info:
        body_for(request(tools=[{"type": "custom", "custom": {"name": "x"}}]))
    assert info.value.param == "tools[0]"
