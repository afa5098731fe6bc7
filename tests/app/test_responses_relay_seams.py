"""Seams of the Responses and embeddings routes: time to first token on the Responses relay waits for the
first output delta (pass-through and bridged), and the refusals these routes make before routing (strict
hosted tools, state a bridged provider does not keep, a provider without embeddings) are one
`request.rejected` event and no start."""

from __future__ import annotations

from typing import Any

import openai
import pytest

from req_llm_gateway import telemetry
from req_llm_gateway.events import REQUEST_REJECTED, REQUEST_START, REQUEST_STOP
from tests.fakes.fixtures import RunningFake

DELAY_NS = 150_000_000  # slow-150: the fakes wait this long before answering and between events


@pytest.fixture
def env(fake_openai: RunningFake, fake_anthropic: RunningFake) -> dict[str, str]:
    return {"OPENAI_API_KEY": "sk-test", "OPENAI_BASE_URL": fake_openai.url + "/v1",
            "ANTHROPIC_API_KEY": "sk-ant-test", "ANTHROPIC_BASE_URL": fake_anthropic.url,
            "REQ_LLM_GATEWAY_MAX_RETRIES": "0"}


def test_pass_through_time_to_first_token_waits_for_the_first_output_text_delta(
        gateway_server: Any, env: dict[str, str]) -> None:
    with gateway_server(env) as gw, telemetry.capture([REQUEST_STOP]) as events:
        client = openai.OpenAI(base_url=gw.url + "/v1", api_key="x", max_retries=0)
        kinds = [e.type for e in client.responses.create(model="gpt-4o-slow-150", input="Hi", stream=True)]
    first_delta = kinds.index("response.output_text.delta")
    assert first_delta >= 2 and events[0].metadata["responses_mode"] == "passthrough"
    # that delta left the fake after its answer delay and `first_delta` gaps: sleeps never end early
    assert events[0].measurements["time_to_first_token"] >= (first_delta + 1) * DELAY_NS


def test_bridged_time_to_first_token_waits_for_the_first_chunk_with_text(
        gateway_server: Any, env: dict[str, str]) -> None:
    # bridged onto Anthropic: message_start (no text), content_block_start, then the first text delta
    with gateway_server(env) as gw, telemetry.capture([REQUEST_STOP]) as events:
        client = openai.OpenAI(base_url=gw.url + "/v1", api_key="x", max_retries=0)
        kinds = [e.type for e in client.responses.create(model="anthropic:claude-sonnet-4-5-slow-150",
                                                         input="Hi", stream=True)]
    assert "response.output_text.delta" in kinds and events[0].metadata["responses_mode"] == "bridged"
    assert events[0].measurements["time_to_first_token"] >= 3 * DELAY_NS


@pytest.mark.parametrize(("extra", "body"), [
    ({"REQ_LLM_GATEWAY_RESPONSES_STRICT_TOOLS": "true"},
     {"model": "demo", "input": "Hi", "tools": [{"type": "web_search"}]}),
    ({}, {"model": "demo:echo", "input": "Hi", "previous_response_id": "resp_123"}),
], ids=["strict-hosted-tools", "previous-response-id-on-a-bridge"])
@pytest.mark.parametrize("stream", [False, True])
def test_a_responses_body_the_bridge_refuses_is_one_rejected_event_and_no_start(
        gateway_server: Any, extra: dict[str, str], body: dict[str, Any], stream: bool) -> None:
    with gateway_server(extra) as gw, telemetry.capture([REQUEST_START, REQUEST_REJECTED]) as events:
        client = openai.OpenAI(base_url=gw.url + "/v1", api_key="x", max_retries=0)
        with pytest.raises(openai.BadRequestError) as info:
            client.responses.create(**body, stream=stream)
    assert [(e.event, e.metadata["route"], e.metadata["status"]) for e in events] == [
        (REQUEST_REJECTED, "/v1/responses", 400)]
    assert events[0].metadata["request_id"] == info.value.response.headers["x-request-id"]


def test_embeddings_on_a_provider_without_them_is_one_rejected_event_and_no_start(
        gateway_server: Any, env: dict[str, str]) -> None:
    with gateway_server(env) as gw, telemetry.capture([REQUEST_START, REQUEST_REJECTED]) as events:
        client = openai.OpenAI(base_url=gw.url + "/v1", api_key="x", max_retries=0)
        with pytest.raises(openai.BadRequestError) as info:
            client.embeddings.create(model="anthropic:claude-haiku-4-5", input="x")
    assert info.value.code == "embeddings_not_supported"
    assert [(e.event, e.metadata["route"], e.metadata["code"]) for e in events] == [
        (REQUEST_REJECTED, "/v1/embeddings", "embeddings_not_supported")]
