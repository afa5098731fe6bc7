"""The OpenAI fake, driven by the official `openai` SDK."""

from __future__ import annotations

import json
import time

import httpx
import openai
import pytest

from tests.fakes.fixtures import RunningFake

USER = [{"role": "system", "content": "Be brief."}, {"role": "user", "content": "Hello there"}]
WEATHER = [
    {
        "type": "function",
        "function": {
            "name": "get_weather",
            "description": "Weather for a city",
            "parameters": {
                "type": "object",
                "properties": {"city": {"type": "string"}, "days": {"type": "integer"}},
                "required": ["city"],
            },
        },
    }
]


def test_completion_has_the_real_shape_text_and_usage(openai_client: openai.OpenAI) -> None:
    result = openai_client.chat.completions.create(model="gpt-4o", messages=USER)

    assert result.object == "chat.completion"
    assert result.id.startswith("chatcmpl-")
    assert result.model == "gpt-4o"
    assert result.system_fingerprint == "fp_fake0001"
    choice = result.choices[0]
    assert (choice.index, choice.finish_reason, choice.logprobs) == (0, "stop", None)
    assert choice.message.role == "assistant"
    assert choice.message.content == "Fake reply to: Hello there"
    assert choice.message.refusal is None
    usage = result.usage
    assert (usage.prompt_tokens, usage.completion_tokens, usage.total_tokens) == (4, 5, 9)
    assert usage.prompt_tokens_details.cached_tokens == 0
    assert usage.completion_tokens_details.reasoning_tokens == 0


def test_fake_records_the_exact_upstream_request(
    openai_client: openai.OpenAI, fake_openai: RunningFake
) -> None:
    openai_client.chat.completions.create(model="gpt-4o", messages=USER, temperature=0.3)

    request = fake_openai.last
    assert (request.method, request.path, request.query) == ("POST", "/v1/chat/completions", {})
    assert request.headers["authorization"] == "Bearer sk-test"
    assert request.json == {"model": "gpt-4o", "messages": USER, "temperature": 0.3}
    assert json.loads(request.body) == request.json


def test_stream_sends_role_then_words_then_finish_and_done(fake_openai: RunningFake) -> None:
    body = {"model": "gpt-4o", "messages": USER, "stream": True}
    response = httpx.post(
        fake_openai.url + "/v1/chat/completions", json=body, headers={"authorization": "Bearer k"}
    )

    assert response.headers["content-type"].startswith("text/event-stream")
    events = [line[6:] for line in response.text.split("\n\n") if line]
    assert events[-1] == "[DONE]"
    chunks = [json.loads(e) for e in events[:-1]]
    assert {c["object"] for c in chunks} == {"chat.completion.chunk"}
    assert len({c["id"] for c in chunks}) == 1
    assert chunks[0]["choices"][0]["delta"] == {"role": "assistant", "content": "", "refusal": None}
    assert [c["choices"][0]["delta"].get("content") for c in chunks[1:-1]] == [
        "Fake",
        " reply",
        " to:",
        " Hello",
        " there",
    ]
    assert chunks[-1]["choices"][0] == {
        "index": 0,
        "delta": {},
        "logprobs": None,
        "finish_reason": "stop",
    }
    assert all("usage" not in c for c in chunks)


def test_usage_chunk_comes_only_when_include_usage_is_set(openai_client: openai.OpenAI) -> None:
    plain = list(openai_client.chat.completions.create(model="gpt-4o", messages=USER, stream=True))
    counted = list(
        openai_client.chat.completions.create(
            model="gpt-4o", messages=USER, stream=True, stream_options={"include_usage": True}
        )
    )

    assert all(c.choices for c in plain)
    assert len(counted) == len(plain) + 1
    assert counted[-1].choices == []
    assert (counted[-1].usage.prompt_tokens, counted[-1].usage.completion_tokens) == (4, 5)
    assert all(c.usage is None for c in counted[:-1])


def test_tool_call_goes_to_the_first_tool_with_schema_shaped_arguments(
    openai_client: openai.OpenAI,
) -> None:
    result = openai_client.chat.completions.create(
        model="gpt-4o", messages=[{"role": "user", "content": "Weather in Paris?"}], tools=WEATHER
    )

    choice = result.choices[0]
    assert choice.finish_reason == "tool_calls"
    assert choice.message.content is None
    (call,) = choice.message.tool_calls
    assert call.id.startswith("call_") and call.type == "function"
    assert call.function.name == "get_weather"
    assert json.loads(call.function.arguments) == {"city": "Weather in Paris?", "days": 1}
    assert result.usage.completion_tokens == len(call.function.arguments.split())


def test_streamed_tool_arguments_arrive_as_several_string_deltas(
    openai_client: openai.OpenAI,
) -> None:
    chunks = list(
        openai_client.chat.completions.create(
            model="gpt-4o",
            messages=[{"role": "user", "content": "Paris"}],
            tools=WEATHER,
            stream=True,
        )
    )

    first = chunks[0].choices[0].delta.tool_calls[0]
    assert (first.index, first.type, first.function.name, first.function.arguments) == (
        0,
        "function",
        "get_weather",
        "",
    )
    pieces = [c.choices[0].delta.tool_calls[0].function.arguments for c in chunks[1:-1]]
    assert len(pieces) == 3
    assert json.loads("".join(pieces)) == {"city": "Paris", "days": 1}
    assert chunks[-1].choices[0].finish_reason == "tool_calls"


def test_tool_choice_none_answers_with_text(openai_client: openai.OpenAI) -> None:
    result = openai_client.chat.completions.create(
        model="gpt-4o",
        messages=[{"role": "user", "content": "Paris"}],
        tools=WEATHER,
        tool_choice="none",
    )

    assert result.choices[0].message.content == "Fake reply to: Paris"


def test_reply_after_tool_message_mentions_the_result(openai_client: openai.OpenAI) -> None:
    messages = [
        {"role": "user", "content": "Paris"},
        {
            "role": "assistant",
            "content": None,
            "tool_calls": [
                {
                    "id": "call_1",
                    "type": "function",
                    "function": {"name": "get_weather", "arguments": "{}"},
                }
            ],
        },
        {"role": "tool", "tool_call_id": "call_1", "content": "22 degrees and sunny"},
    ]
    result = openai_client.chat.completions.create(model="gpt-4o", messages=messages, tools=WEATHER)

    assert result.choices[0].message.content == "Tool result received: 22 degrees and sunny"
    assert result.usage.prompt_tokens == 5


@pytest.mark.parametrize(
    ("status", "error"),
    [
        (400, openai.BadRequestError),
        (401, openai.AuthenticationError),
        (404, openai.NotFoundError),
        (429, openai.RateLimitError),
        (500, openai.InternalServerError),
        (503, openai.InternalServerError),
    ],
)
def test_scripted_status_raises_the_sdk_error(
    openai_client: openai.OpenAI, status: int, error: type
) -> None:
    with pytest.raises(error) as caught:
        openai_client.chat.completions.create(model=f"gpt-4o-status-{status}", messages=USER)

    assert caught.value.status_code == status
    assert set(caught.value.body) == {"message", "type", "param", "code"}


def test_rate_limit_carries_retry_after_and_openai_error_body(openai_client: openai.OpenAI) -> None:
    with pytest.raises(openai.RateLimitError) as caught:
        openai_client.chat.completions.create(model="status-429", messages=USER)

    assert caught.value.response.headers["retry-after"] == "7"
    assert (caught.value.body["type"], caught.value.body["code"]) == (
        "requests",
        "rate_limit_exceeded",
    )


def test_missing_or_invalid_key_is_401(fake_openai: RunningFake) -> None:
    anonymous = httpx.post(
        fake_openai.url + "/v1/chat/completions", json={"model": "m", "messages": USER}
    )
    wrong = openai.OpenAI(base_url=fake_openai.url + "/v1", api_key="invalid-key", max_retries=0)

    assert anonymous.status_code == 401
    assert anonymous.json()["error"]["message"].startswith("You didn't provide an API key.")
    with pytest.raises(openai.AuthenticationError) as caught:
        wrong.models.list()
    assert caught.value.body["code"] == "invalid_api_key"


def test_unknown_parameter_is_rejected_like_the_api(openai_client: openai.OpenAI) -> None:
    with pytest.raises(openai.BadRequestError) as caught:
        openai_client.chat.completions.create(
            model="gpt-4o", messages=USER, extra_body={"top_k": 3}
        )

    assert caught.value.body == {
        "message": "Unknown parameter: 'top_k'.",
        "type": "invalid_request_error",
        "param": "top_k",
        "code": "unknown_parameter",
    }


def test_tool_message_without_a_preceding_call_is_rejected(openai_client: openai.OpenAI) -> None:
    messages = [
        {"role": "user", "content": "x"},
        {"role": "tool", "tool_call_id": "call_9", "content": "r"},
    ]
    with pytest.raises(openai.BadRequestError) as caught:
        openai_client.chat.completions.create(model="gpt-4o", messages=messages)

    assert caught.value.body["param"] == "messages.[1].role"
    assert (
        "must be a response to a preceeding message with 'tool_calls'"
        in caught.value.body["message"]
    )


def test_invalid_message_shape_names_the_path(openai_client: openai.OpenAI) -> None:
    with pytest.raises(openai.BadRequestError) as caught:
        openai_client.chat.completions.create(
            model="gpt-4o", messages=[{"role": "user", "content": "x", "x": 1}]
        )

    assert caught.value.body["message"] == "Unknown parameter: 'messages[0].x'."


def test_cached_and_reasoning_tokens_are_reported(openai_client: openai.OpenAI) -> None:
    result = openai_client.chat.completions.create(model="o3-cached-reasoning", messages=USER)

    assert result.usage.prompt_tokens_details.cached_tokens == 2
    assert result.usage.completion_tokens_details.reasoning_tokens == 11
    assert result.usage.completion_tokens == 5 + 11


def test_json_schema_response_format_gets_a_matching_object(openai_client: openai.OpenAI) -> None:
    schema = {
        "type": "object",
        "properties": {"name": {"type": "string"}, "age": {"type": "integer"}},
    }
    result = openai_client.chat.completions.create(
        model="gpt-4o",
        messages=[{"role": "user", "content": "Bob"}],
        response_format={
            "type": "json_schema",
            "json_schema": {"name": "person", "schema": schema},
        },
    )

    assert json.loads(result.choices[0].message.content) == {"name": "Fake reply to: Bob", "age": 1}


def test_max_tokens_truncates_with_finish_reason_length(openai_client: openai.OpenAI) -> None:
    result = openai_client.chat.completions.create(
        model="gpt-4o", messages=USER, max_completion_tokens=2
    )

    assert result.choices[0].message.content == "Fake reply"
    assert (result.choices[0].finish_reason, result.usage.completion_tokens) == ("length", 2)


def test_malformed_is_invalid_json_with_status_200(fake_openai: RunningFake) -> None:
    response = httpx.post(
        fake_openai.url + "/v1/chat/completions",
        headers={"authorization": "Bearer k"},
        json={"model": "malformed", "messages": USER},
    )

    assert response.status_code == 200
    with pytest.raises(ValueError):
        response.json()


def test_stream_scripts_cut_no_done_and_error(openai_client: openai.OpenAI) -> None:
    with pytest.raises(openai.APIConnectionError):
        list(openai_client.chat.completions.create(model="cut-stream", messages=USER, stream=True))
    with pytest.raises(openai.APIError, match="The server had an error"):
        list(
            openai_client.chat.completions.create(model="stream-error", messages=USER, stream=True)
        )
    chunks = list(
        openai_client.chat.completions.create(model="no-done", messages=USER, stream=True)
    )
    assert chunks[-1].choices[0].finish_reason == "stop"


def test_slow_delays_the_answer(openai_client: openai.OpenAI) -> None:
    started = time.monotonic()
    openai_client.chat.completions.create(model="slow-150", messages=USER)

    assert time.monotonic() - started >= 0.15


def test_hang_never_answers(fake_openai: RunningFake) -> None:
    with pytest.raises(httpx.ReadTimeout):
        httpx.post(
            fake_openai.url + "/v1/chat/completions",
            headers={"authorization": "Bearer k"},
            json={"model": "hang", "messages": USER},
            timeout=0.2,
        )


def test_models_lists_a_few_models(openai_client: openai.OpenAI) -> None:
    assert [m.id for m in openai_client.models.list()] == [
        "gpt-4o",
        "gpt-4o-mini",
        "gpt-4.1",
        "o3-mini",
    ]
