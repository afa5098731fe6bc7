"""The Bedrock fake, driven by boto3's `bedrock-runtime` client and by raw HTTP."""

from __future__ import annotations

import json

import botocore.exceptions
import httpx
import pytest
from botocore.client import BaseClient
from botocore.eventstream import EventStreamBuffer

from tests.fakes.conftest import bedrock_client
from tests.fakes.fixtures import RunningFake

MODEL = "anthropic.claude-3-haiku-20240307-v1:0"
USER = [{"role": "user", "content": [{"text": "Hello there"}]}]
WEATHER = {
    "tools": [
        {
            "toolSpec": {
                "name": "get_weather",
                "inputSchema": {
                    "json": {"type": "object", "properties": {"city": {"type": "string"}}}
                },
            }
        }
    ]
}


def test_converse_has_the_real_shape(bedrock: BaseClient, fake_bedrock: RunningFake) -> None:
    result = bedrock.converse(
        modelId=MODEL,
        system=[{"text": "Be brief."}],
        messages=USER,
        inferenceConfig={"maxTokens": 100, "temperature": 0.2},
    )

    assert result["output"]["message"] == {
        "role": "assistant",
        "content": [{"text": "Fake reply to: Hello there"}],
    }
    assert result["stopReason"] == "end_turn"
    assert result["usage"] == {"inputTokens": 4, "outputTokens": 5, "totalTokens": 9}
    assert result["metrics"]["latencyMs"] >= 100
    request = fake_bedrock.last
    assert request.path == f"/model/{MODEL}/converse"
    assert request.raw_path == "/model/anthropic.claude-3-haiku-20240307-v1%3A0/converse"
    assert request.headers["authorization"].startswith(
        "AWS4-HMAC-SHA256 Credential=AKIAFAKEBEDROCK00001/"
    )


def test_converse_stream_events_in_order(bedrock: BaseClient) -> None:
    events = list(bedrock.converse_stream(modelId=MODEL, messages=USER)["stream"])

    kinds = [next(iter(e)) for e in events]
    assert kinds == ["messageStart"] + ["contentBlockDelta"] * 5 + [
        "contentBlockStop",
        "messageStop",
        "metadata",
    ]
    assert (
        "".join(e["contentBlockDelta"]["delta"]["text"] for e in events[1:6])
        == "Fake reply to: Hello there"
    )
    assert events[-2]["messageStop"] == {"stopReason": "end_turn"}
    assert events[-1]["metadata"]["usage"] == {
        "inputTokens": 2,
        "outputTokens": 5,
        "totalTokens": 7,
    }


def test_stream_frames_decode_with_botocore_event_stream_parser(fake_bedrock: RunningFake) -> None:
    response = httpx.post(
        fake_bedrock.url + "/model/m/converse-stream",
        json={"messages": USER},
        headers={"authorization": "Bearer bedrock-api-key"},
    )
    buffer = EventStreamBuffer()
    buffer.add_data(response.content)

    messages = list(buffer)
    assert response.headers["content-type"] == "application/vnd.amazon.eventstream"
    assert [m.headers[":event-type"] for m in messages][:2] == ["messageStart", "contentBlockDelta"]
    assert {m.headers[":message-type"] for m in messages} == {"event"}
    assert json.loads(messages[0].payload)["role"] == "assistant"


def test_tool_use_streams_start_then_input_deltas(bedrock: BaseClient) -> None:
    events = list(
        bedrock.converse_stream(
            modelId=MODEL,
            toolConfig=WEATHER,
            messages=[{"role": "user", "content": [{"text": "Paris"}]}],
        )["stream"]
    )

    start = events[1]["contentBlockStart"]["start"]["toolUse"]
    assert start["name"] == "get_weather" and start["toolUseId"].startswith("tooluse_")
    pieces = [
        e["contentBlockDelta"]["delta"]["toolUse"]["input"]
        for e in events
        if "contentBlockDelta" in e
    ]
    assert json.loads("".join(pieces)) == {"city": "Paris"}
    assert events[-2]["messageStop"]["stopReason"] == "tool_use"


def test_tool_result_turn_gets_a_text_answer(bedrock: BaseClient) -> None:
    messages = [
        {"role": "user", "content": [{"text": "Paris"}]},
        {
            "role": "assistant",
            "content": [
                {"toolUse": {"toolUseId": "t1", "name": "get_weather", "input": {"city": "Paris"}}}
            ],
        },
        {
            "role": "user",
            "content": [{"toolResult": {"toolUseId": "t1", "content": [{"text": "22 degrees"}]}}],
        },
    ]
    result = bedrock.converse(modelId=MODEL, messages=messages, toolConfig=WEATHER)

    assert result["output"]["message"]["content"] == [{"text": "Tool result received: 22 degrees"}]


def test_cache_and_reasoning_scripts(bedrock: BaseClient) -> None:
    result = bedrock.converse(
        modelId="cached-cache-write-reasoning",
        messages=[{"role": "user", "content": [{"text": "a b c d e f g h"}]}],
    )

    assert result["usage"] == {
        "inputTokens": 2,
        "outputTokens": 11 + 11,
        "totalTokens": 8 + 22,
        "cacheReadInputTokens": 4,
        "cacheWriteInputTokens": 2,
    }
    assert "reasoningContent" in result["output"]["message"]["content"][0]


@pytest.mark.parametrize(
    ("messages", "message"),
    [
        (
            [{"role": "assistant", "content": [{"text": "x"}]}],
            "A conversation must start with a user message.",
        ),
        (USER + USER, "A conversation must alternate between user and assistant roles."),
    ],
)
def test_conversation_rules_are_enforced(bedrock: BaseClient, messages: list, message: str) -> None:
    with pytest.raises(botocore.exceptions.ClientError) as caught:
        bedrock.converse(modelId=MODEL, messages=messages)

    assert caught.value.response["Error"]["Code"] == "ValidationException"
    assert caught.value.response["Error"]["Message"].startswith(message)


def test_unknown_body_field_is_a_validation_error(fake_bedrock: RunningFake) -> None:
    response = httpx.post(
        fake_bedrock.url + "/model/m/converse",
        json={"messages": USER, "temperature": 1},
        headers={"authorization": "Bearer k"},
    )

    assert response.status_code == 400
    assert response.headers["x-amzn-errortype"].startswith("ValidationException:")
    assert "extraneous key [temperature]" in response.json()["message"]


@pytest.mark.parametrize(
    ("status", "code"),
    [
        (400, "ValidationException"),
        (403, "AccessDeniedException"),
        (404, "ResourceNotFoundException"),
        (429, "ThrottlingException"),
        (500, "InternalServerException"),
        (503, "ServiceUnavailableException"),
    ],
)
def test_scripted_status_raises_the_modeled_error(
    bedrock: BaseClient, status: int, code: str
) -> None:
    with pytest.raises(getattr(bedrock.exceptions, code)) as caught:
        bedrock.converse(modelId=f"m-status-{status}", messages=USER)

    assert caught.value.response["ResponseMetadata"]["HTTPStatusCode"] == status


def test_wrong_secret_fails_signature_check(fake_bedrock: RunningFake) -> None:
    client = bedrock_client(fake_bedrock.url, secret="not-the-secret")
    with pytest.raises(botocore.exceptions.ClientError) as caught:
        client.converse(modelId=MODEL, messages=USER)

    assert caught.value.response["Error"]["Code"] == "InvalidSignatureException"


def test_unsigned_request_is_refused(fake_bedrock: RunningFake) -> None:
    response = httpx.post(fake_bedrock.url + "/model/m/converse", json={"messages": USER})

    assert response.status_code == 403
    assert response.headers["x-amzn-errortype"].startswith("MissingAuthenticationTokenException")


def test_stream_error_is_an_exception_frame(bedrock: BaseClient) -> None:
    stream = bedrock.converse_stream(modelId="stream-error", messages=USER)["stream"]
    with pytest.raises(botocore.exceptions.EventStreamError, match="serviceUnavailableException"):
        list(stream)
