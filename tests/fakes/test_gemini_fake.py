"""The Gemini fake, driven by the official `google-genai` SDK and by raw HTTP."""

from __future__ import annotations

import json

import httpx
import pytest
from google import genai
from google.genai import errors, types

from tests.fakes.fixtures import RunningFake

CALL_URL = "/v1beta/models/gemini-2.5-flash:generateContent"


def get_weather(city: str) -> str:
    """Weather for a city."""
    return "22 degrees"


def test_generate_content_has_the_real_shape(
    gemini_client: genai.Client, fake_gemini: RunningFake
) -> None:
    result = gemini_client.models.generate_content(
        model="gemini-2.5-flash",
        contents="Hello there",
        config=types.GenerateContentConfig(system_instruction="Be brief.", temperature=0.2),
    )

    assert result.text == "Fake reply to: Hello there"
    candidate = result.candidates[0]
    assert (candidate.index, candidate.finish_reason, candidate.content.role) == (
        0,
        "STOP",
        "model",
    )
    usage = result.usage_metadata
    assert (usage.prompt_token_count, usage.candidates_token_count, usage.total_token_count) == (
        4,
        5,
        9,
    )
    assert result.model_version == "gemini-2.5-flash"
    assert result.response_id
    request = fake_gemini.last
    assert request.path == CALL_URL
    assert request.headers["x-goog-api-key"] == "gemini-key"
    assert request.json["systemInstruction"]["parts"] == [{"text": "Be brief."}]


def test_sse_stream_sends_chunks_and_finishes_with_usage(
    gemini_client: genai.Client, fake_gemini: RunningFake
) -> None:
    chunks = list(
        gemini_client.models.generate_content_stream(
            model="gemini-2.5-flash", contents="Hello there"
        )
    )

    assert fake_gemini.last.query == {"alt": "sse"}
    assert [c.text for c in chunks] == ["Fake", " reply", " to:", " Hello", " there"]
    assert [c.candidates[0].finish_reason for c in chunks][-2:] == [None, "STOP"]
    assert chunks[-1].usage_metadata.candidates_token_count == 5


def test_sse_events_are_crlf_separated(fake_gemini: RunningFake) -> None:
    response = httpx.post(
        fake_gemini.url + "/v1beta/models/g:streamGenerateContent?alt=sse&key=k",
        json={"contents": [{"parts": [{"text": "hi"}]}]},
    )

    assert response.headers["content-type"].startswith("text/event-stream")
    assert response.text.count("\r\n\r\n") == 4 and response.text.startswith("data: {")


def test_stream_without_alt_sse_is_one_json_array(fake_gemini: RunningFake) -> None:
    response = httpx.post(
        fake_gemini.url + "/v1beta/models/g:streamGenerateContent?key=k",
        json={"contents": [{"role": "user", "parts": [{"text": "hi"}]}]},
    )

    chunks = json.loads(response.text)
    assert (
        "".join(c["candidates"][0]["content"]["parts"][0]["text"] for c in chunks)
        == "Fake reply to: hi"
    )
    assert chunks[-1]["usageMetadata"]["totalTokenCount"] == 1 + 4


def test_function_call_then_function_response(
    gemini_client: genai.Client, fake_gemini: RunningFake
) -> None:
    called = gemini_client.models.generate_content(
        model="gemini-2.5-flash",
        contents="Paris",
        config=types.GenerateContentConfig(
            tools=[get_weather],
            automatic_function_calling=types.AutomaticFunctionCallingConfig(disable=True),
        ),
    )
    answered = gemini_client.models.generate_content(
        model="gemini-2.5-flash",
        contents="Paris",
        config=types.GenerateContentConfig(tools=[get_weather]),
    )

    (call,) = called.function_calls
    assert (call.name, call.args) == ("get_weather", {"city": "Paris"})
    assert answered.text == "Tool result received: 22 degrees"
    last_turn = fake_gemini.last.json["contents"][-1]
    assert last_turn["parts"][0]["functionResponse"]["response"] == {"result": "22 degrees"}


def test_thoughts_and_cache_are_reported(gemini_client: genai.Client) -> None:
    result = gemini_client.models.generate_content(
        model="gemini-cached-reasoning",
        contents="one two three four",
        config=types.GenerateContentConfig(
            thinking_config=types.ThinkingConfig(include_thoughts=True)
        ),
    )

    parts = result.candidates[0].content.parts
    assert [bool(p.thought) for p in parts] == [True, False]
    usage = result.usage_metadata
    assert (usage.thoughts_token_count, usage.cached_content_token_count) == (11, 2)
    assert (usage.candidates_token_count, usage.total_token_count) == (7, 4 + 7 + 11)


def test_json_mode_uses_the_response_schema(gemini_client: genai.Client) -> None:
    schema = {"type": "OBJECT", "properties": {"ok": {"type": "BOOLEAN"}}}
    result = gemini_client.models.generate_content(
        model="g",
        contents="x",
        config=types.GenerateContentConfig(
            response_mime_type="application/json", response_schema=schema
        ),
    )

    assert json.loads(result.text) == {"ok": True}


def test_unknown_schema_field_is_rejected_like_the_api(fake_gemini: RunningFake) -> None:
    body = {
        "contents": [{"parts": [{"text": "hi"}]}],
        "tools": [
            {
                "functionDeclarations": [
                    {"name": "f", "parameters": {"type": "object", "additionalProperties": False}}
                ]
            }
        ],
    }
    response = httpx.post(fake_gemini.url + CALL_URL, json=body, headers={"x-goog-api-key": "k"})

    assert response.status_code == 400
    error = response.json()["error"]
    assert (error["code"], error["status"]) == (400, "INVALID_ARGUMENT")
    assert error["message"] == (
        'Invalid JSON payload received. Unknown name "additionalProperties" at '
        "'tools[0].function_declarations[0].parameters': Cannot find field."
    )
    assert error["details"][0]["@type"] == "type.googleapis.com/google.rpc.BadRequest"


@pytest.mark.parametrize(
    ("body", "message"),
    [
        ({"contents": []}, "* GenerateContentRequest.contents: contents is not specified\n"),
        (
            {"contents": [{"role": "assistant", "parts": [{"text": "x"}]}]},
            "Please use a valid role: user, model.",
        ),
        (
            {"contents": [{"parts": [{"text": 5}]}]},
            "Invalid value at 'contents[0].parts[0].text' (TYPE_STRING), 5",
        ),
    ],
)
def test_invalid_requests_are_400_invalid_argument(
    fake_gemini: RunningFake, body: dict, message: str
) -> None:
    response = httpx.post(fake_gemini.url + CALL_URL + "?key=k", json=body)

    assert response.status_code == 400
    assert response.json()["error"]["message"] == message


def test_key_is_required_and_checked(fake_gemini: RunningFake) -> None:
    body = {"contents": [{"parts": [{"text": "hi"}]}]}
    missing = httpx.post(fake_gemini.url + CALL_URL, json=body)
    invalid = httpx.post(fake_gemini.url + CALL_URL + "?key=invalid", json=body)

    assert (missing.status_code, missing.json()["error"]["status"]) == (403, "PERMISSION_DENIED")
    assert (invalid.status_code, invalid.json()["error"]["details"][0]["reason"]) == (
        400,
        "API_KEY_INVALID",
    )


@pytest.mark.parametrize(
    ("status", "error", "name"),
    [
        (404, errors.ClientError, "NOT_FOUND"),
        (429, errors.ClientError, "RESOURCE_EXHAUSTED"),
        (500, errors.ServerError, "INTERNAL"),
        (503, errors.ServerError, "UNAVAILABLE"),
    ],
)
def test_scripted_status_raises_the_sdk_error(
    gemini_client: genai.Client, status: int, error: type, name: str
) -> None:
    with pytest.raises(error) as caught:
        gemini_client.models.generate_content(model=f"gemini-status-{status}", contents="x")

    assert (caught.value.code, caught.value.status) == (status, name)


def test_rate_limit_carries_retry_info(fake_gemini: RunningFake) -> None:
    response = httpx.post(
        fake_gemini.url + "/v1beta/models/g-status-429:generateContent?key=k",
        json={"contents": [{"parts": [{"text": "hi"}]}]},
    )

    assert response.json()["error"]["details"] == [
        {"@type": "type.googleapis.com/google.rpc.RetryInfo", "retryDelay": "7s"}
    ]


def test_no_done_stream_never_finishes(gemini_client: genai.Client) -> None:
    chunks = list(gemini_client.models.generate_content_stream(model="g-no-done", contents="hi"))

    assert all(c.candidates[0].finish_reason is None for c in chunks)
    assert chunks[-1].usage_metadata.candidates_token_count is None
