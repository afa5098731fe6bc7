"""The Anthropic fake, driven by the official `anthropic` SDK and by raw HTTP."""

from __future__ import annotations

import json

import anthropic
import httpx
import pytest

from tests.fakes.fixtures import RunningFake

USER = [{"role": "user", "content": "Hello there"}]
WEATHER = [
    {
        "name": "get_weather",
        "description": "Weather for a city",
        "input_schema": {"type": "object", "properties": {"city": {"type": "string"}}},
    }
]
HEADERS = {"x-api-key": "k", "anthropic-version": "2023-06-01"}


def _post(fake: RunningFake, body: dict, headers: dict[str, str] = HEADERS) -> httpx.Response:
    return httpx.post(fake.url + "/v1/messages", json=body, headers=headers)


def _events(response: httpx.Response) -> list[tuple[str, dict]]:
    out = []
    for block in response.text.strip().split("\n\n"):
        name, data = block.split("\n")
        out.append((name.removeprefix("event: "), json.loads(data.removeprefix("data: "))))
    return out


def test_message_has_the_real_shape_text_and_usage(anthropic_client: anthropic.Anthropic) -> None:
    message = anthropic_client.messages.create(
        model="claude-fake-1", max_tokens=100, system="Be brief.", messages=USER
    )

    assert (message.type, message.role, message.model) == ("message", "assistant", "claude-fake-1")
    assert message.id.startswith("msg_")
    assert [b.type for b in message.content] == ["text"]
    assert message.content[0].text == "Fake reply to: Hello there"
    assert (message.stop_reason, message.stop_sequence) == ("end_turn", None)
    usage = message.usage
    assert (usage.input_tokens, usage.output_tokens) == (4, 5)
    assert (usage.cache_creation_input_tokens, usage.cache_read_input_tokens) == (0, 0)


def test_stream_follows_the_real_event_sequence(fake_anthropic: RunningFake) -> None:
    response = _post(
        fake_anthropic, {"model": "c", "max_tokens": 50, "stream": True, "messages": USER}
    )

    events = _events(response)
    names = [name for name, _ in events]
    assert names == ["message_start", "content_block_start", "ping"] + [
        "content_block_delta"
    ] * 5 + ["content_block_stop", "message_delta", "message_stop"]
    assert all(data["type"] == name for name, data in events)
    assert events[0][1]["message"]["usage"]["input_tokens"] == 2
    assert events[0][1]["message"]["content"] == []
    assert events[1][1]["content_block"] == {"type": "text", "text": ""}
    assert (
        "".join(d["delta"]["text"] for n, d in events if n == "content_block_delta")
        == "Fake reply to: Hello there"
    )
    assert events[-2][1] == {
        "type": "message_delta",
        "delta": {"stop_reason": "end_turn", "stop_sequence": None},
        "usage": {"output_tokens": 5},
    }


def test_tool_use_streams_input_json_deltas(anthropic_client: anthropic.Anthropic) -> None:
    with anthropic_client.messages.stream(
        model="c", max_tokens=50, tools=WEATHER, messages=[{"role": "user", "content": "Paris"}]
    ) as stream:
        deltas = [e.delta.partial_json for e in stream if e.type == "content_block_delta"]
        message = stream.get_final_message()

    assert len(deltas) == 4 and deltas[0] == ""
    (block,) = message.content
    assert (block.type, block.name, block.input) == ("tool_use", "get_weather", {"city": "Paris"})
    assert block.id.startswith("toolu_")
    assert message.stop_reason == "tool_use"


def test_tool_result_turn_gets_a_text_answer(anthropic_client: anthropic.Anthropic) -> None:
    messages = [
        {"role": "user", "content": "Paris"},
        {
            "role": "assistant",
            "content": [
                {
                    "type": "tool_use",
                    "id": "toolu_1",
                    "name": "get_weather",
                    "input": {"city": "Paris"},
                }
            ],
        },
        {
            "role": "user",
            "content": [
                {
                    "type": "tool_result",
                    "tool_use_id": "toolu_1",
                    "content": [{"type": "text", "text": "22 degrees"}],
                }
            ],
        },
    ]
    message = anthropic_client.messages.create(
        model="c", max_tokens=50, tools=WEATHER, messages=messages
    )

    assert message.content[0].text == "Tool result received: 22 degrees"


def test_unanswered_tool_use_is_rejected(anthropic_client: anthropic.Anthropic) -> None:
    messages = [
        {"role": "user", "content": "Paris"},
        {
            "role": "assistant",
            "content": [{"type": "tool_use", "id": "toolu_1", "name": "f", "input": {}}],
        },
        {"role": "user", "content": "and?"},
    ]
    with pytest.raises(anthropic.BadRequestError, match="toolu_1"):
        anthropic_client.messages.create(model="c", max_tokens=50, tools=WEATHER, messages=messages)


def test_thinking_request_gets_thinking_block_and_deltas(
    anthropic_client: anthropic.Anthropic,
) -> None:
    with anthropic_client.messages.stream(
        model="c",
        max_tokens=2048,
        messages=USER,
        thinking={"type": "enabled", "budget_tokens": 1024},
    ) as stream:
        kinds = {e.delta.type for e in stream if e.type == "content_block_delta"}
        message = stream.get_final_message()

    assert kinds == {"thinking_delta", "signature_delta", "text_delta"}
    assert [b.type for b in message.content] == ["thinking", "text"]
    assert message.usage.output_tokens == 5 + 11


def test_cache_tokens_split_the_input(anthropic_client: anthropic.Anthropic) -> None:
    message = anthropic_client.messages.create(
        model="claude-cached-cache-write",
        max_tokens=50,
        messages=[{"role": "user", "content": "one two three four five six seven eight"}],
    )

    usage = message.usage
    assert (
        usage.cache_read_input_tokens,
        usage.cache_creation_input_tokens,
        usage.input_tokens,
    ) == (4, 2, 2)


def test_version_2023_accepts_sampling_and_2026_rejects_it(fake_anthropic: RunningFake) -> None:
    body = {"model": "c", "max_tokens": 10, "temperature": 0.2, "messages": USER}

    assert _post(fake_anthropic, body).status_code == 200
    rejected = _post(fake_anthropic, body, {**HEADERS, "anthropic-version": "2026-10-21"})
    assert rejected.status_code == 400
    assert rejected.json()["error"] == {
        "type": "invalid_request_error",
        "message": "temperature: Extra inputs are not permitted",
    }


@pytest.mark.parametrize(
    ("headers", "status", "message"),
    [
        ({"anthropic-version": "2023-06-01"}, 401, "x-api-key header is required"),
        ({"x-api-key": "invalid-1", "anthropic-version": "2023-06-01"}, 401, "invalid x-api-key"),
        ({"x-api-key": "k"}, 400, "anthropic-version: header is required"),
    ],
)
def test_headers_are_required(
    fake_anthropic: RunningFake, headers: dict, status: int, message: str
) -> None:
    response = _post(fake_anthropic, {"model": "c", "max_tokens": 5, "messages": USER}, headers)

    assert response.status_code == status
    assert response.json()["type"] == "error"
    assert response.json()["error"]["message"] == message


@pytest.mark.parametrize(
    ("body", "message"),
    [
        ({"model": "c", "messages": USER}, "max_tokens: Field required"),
        (
            {"model": "c", "max_tokens": 5, "messages": [{"role": "robot", "content": "x"}]},
            "messages.0.role: Input should be 'user' or 'assistant' or 'system'",
        ),
        (
            {
                "model": "c",
                "max_tokens": 5,
                "messages": [{"role": "user", "content": [{"type": "text"}]}],
            },
            "messages.0.content.0.text: Field required",
        ),
    ],
)
def test_invalid_bodies_get_pydantic_style_messages(
    fake_anthropic: RunningFake, body: dict, message: str
) -> None:
    response = _post(fake_anthropic, body)

    assert response.status_code == 400
    assert response.json()["error"] == {"type": "invalid_request_error", "message": message}


@pytest.mark.parametrize(
    ("status", "error", "kind"),
    [
        (429, anthropic.RateLimitError, "rate_limit_error"),
        (500, anthropic.InternalServerError, "api_error"),
        (529, anthropic.OverloadedError, "overloaded_error"),
    ],
)
def test_scripted_status_raises_the_sdk_error(
    anthropic_client: anthropic.Anthropic, status: int, error: type, kind: str
) -> None:
    with pytest.raises(error) as caught:
        anthropic_client.messages.create(
            model=f"claude-status-{status}", max_tokens=5, messages=USER
        )

    assert caught.value.status_code == status
    assert caught.value.body["error"]["type"] == kind


def test_rate_limit_has_retry_after(fake_anthropic: RunningFake) -> None:
    response = _post(fake_anthropic, {"model": "status-429", "max_tokens": 5, "messages": USER})

    assert response.headers["retry-after"] == "7"
    assert response.headers["request-id"] == response.json()["request_id"]


def test_stream_error_event_raises_in_the_sdk(anthropic_client: anthropic.Anthropic) -> None:
    with (
        pytest.raises(anthropic.APIStatusError, match="Overloaded"),
        anthropic_client.messages.stream(
            model="stream-error", max_tokens=50, messages=USER
        ) as stream,
    ):
        list(stream)


def test_no_done_omits_message_stop(fake_anthropic: RunningFake) -> None:
    response = _post(
        fake_anthropic, {"model": "no-done", "max_tokens": 50, "stream": True, "messages": USER}
    )

    assert [name for name, _ in _events(response)][-1] == "message_delta"
