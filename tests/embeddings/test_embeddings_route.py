"""`POST /v1/embeddings` beyond the happy path: OpenAI pass-through byte for byte, the gateway's own base64,
clear 400s (providers without embeddings, batch limits, bad input) and upstream errors in OpenAI's shape."""

from __future__ import annotations

from typing import Any

import httpx
import openai
import pytest

from req_llm_gateway.embedding import from_base64
from tests.fakes.embeddings import vector
from tests.fakes.server import LoopbackServer

from .targets import Fakes


def capturing_client(gateway: LoopbackServer, sent: list[bytes]) -> openai.OpenAI:
    """The SDK, keeping the exact bytes of every body it sends."""
    def keep(request: httpx.Request) -> None:
        sent.append(request.read())

    http = httpx.Client(event_hooks={"request": [keep]})
    return openai.OpenAI(base_url=gateway.url + "/v1", api_key="unused", max_retries=0, http_client=http)


def test_openai_receives_the_clients_body_byte_for_byte_but_the_model(
    gateway: LoopbackServer, fakes: Fakes
) -> None:
    fakes.clear()
    sent: list[bytes] = []
    client = capturing_client(gateway, sent)
    client.embeddings.create(model="openai:text-embedding-3-small", input=["é ünïcode \"model\": 1", "b"],
                             dimensions=64, user="u-1")

    assert fakes.openai.last.body == sent[0].replace(b'"openai:text-embedding-3-small"', b'"text-embedding-3-small"')
    assert fakes.openai.last.headers["authorization"] == "Bearer sk-openai-test"


def test_the_upstreams_answer_reaches_the_client_as_it_sent_it_plus_x_req_llm(
    gateway: LoopbackServer, fakes: Fakes
) -> None:
    fakes.clear()
    r = httpx.post(gateway.url + "/v1/embeddings",
                   json={"model": "openai:text-embedding-3-small", "input": "a b", "encoding_format": "base64"})
    body = r.json()
    assert body["model"] == "text-embedding-3-small"  # the upstream's own field
    assert from_base64(body["data"][0]["embedding"]) == vector("a b", 1536)
    assert set(body["x_req_llm"]) == {"provider", "latency_ms", "cost_usd"}
    assert r.headers["x-gateway-overhead-ms"]


def test_a_row_without_base64_is_asked_for_floats_and_the_gateway_encodes_them(
    client: openai.OpenAI, fakes: Fakes
) -> None:
    result = client.embeddings.create(model="ollama:nomic-embed-text", input="hi there", encoding_format="base64")

    assert "encoding_format" not in fakes.openai.last.json
    assert from_base64(result.data[0].embedding) == vector("hi there", 768)  # type: ignore[arg-type]


def test_an_upstream_that_ignores_base64_is_converted_too(client: openai.OpenAI, fakes: Fakes) -> None:
    result = client.embeddings.create(model="vllm:bge-floats-only", input="x y", encoding_format="base64")

    assert fakes.openai.last.json["encoding_format"] == "base64"
    assert from_base64(result.data[0].embedding) == vector("x y", 768)  # type: ignore[arg-type]


@pytest.mark.parametrize("model", ["anthropic:claude-haiku-4-5", "groq:llama-3.3-70b-versatile", "xai:grok-3"])
def test_a_provider_without_embeddings_is_a_clear_400(client: openai.OpenAI, model: str) -> None:
    with pytest.raises(openai.BadRequestError) as info:
        client.embeddings.create(model=model, input="x")
    provider = model.split(":")[0]
    assert info.value.body == {
        "message": f"The {provider} provider does not offer embeddings; see docs/responses-and-embeddings.md for "
                   "those that do.",
        "type": "invalid_request_error", "param": "model", "code": "embeddings_not_supported"}


def test_an_unknown_provider_is_a_404(client: openai.OpenAI) -> None:
    with pytest.raises(openai.NotFoundError):
        client.embeddings.create(model="nosuch:model", input="x")


@pytest.mark.parametrize(("model", "limit"), [
    ("openai:text-embedding-3-small", 2048), ("azure:embed-small", 2048), ("gemini:gemini-embedding-001", 100),
    ("bedrock:amazon.titan-embed-text-v2:0", 64), ("bedrock:cohere.embed-v4:0", 96),
])
def test_past_a_providers_batch_limit_is_a_400_before_anything_is_sent(
    client: openai.OpenAI, fakes: Fakes, model: str, limit: int
) -> None:
    with pytest.raises(openai.BadRequestError) as info:
        client.embeddings.create(model=model, input=["w"] * (limit + 1))
    provider = model.split(":")[0]
    assert info.value.body["message"] == (
        f"The {provider} provider takes at most {limit} inputs per request; this one has {limit + 1}. "
        "Split it into several requests.")
    assert all(not fake.received for fake in (fakes.openai, fakes.azure, fakes.gemini, fakes.bedrock))


def test_a_titan_batch_fans_out_one_call_per_text(client: openai.OpenAI, fakes: Fakes) -> None:
    result = client.embeddings.create(model="bedrock:amazon.titan-embed-text-v2:0", input=["a", "b c", "d e f"],
                                      encoding_format="float")

    assert sorted(r.json["inputText"] for r in fakes.bedrock.received) == ["a", "b c", "d e f"]
    assert [d.embedding for d in result.data] == [vector(t, 1024) for t in ["a", "b c", "d e f"]]
    assert result.usage.prompt_tokens == 6


@pytest.mark.parametrize(("body", "param", "message"), [
    ({"model": "demo:e"}, "input", "'input' is required"),
    ({"model": "demo:e", "input": ""}, "input", "'input' must not be an empty string."),
    ({"model": "demo:e", "input": ["a", 3]}, "input[1]", "input[1] must be a non-empty string"),
    ({"model": "demo:e", "input": [[1, -2]]}, "input[0]", "non-negative integer token ids"),
    ({"model": "demo:e", "input": [{"text": "a"}]}, "input", "'input' must be a string"),
    ({"model": "demo:e", "input": "a", "dimensions": 0}, "dimensions", "'dimensions' must be a positive integer."),
    ({"model": "demo:e", "input": "a", "encoding_format": "int8"}, "encoding_format", "'float' or 'base64'"),
    ({"input": "a"}, "model", "'model' is required"),
    ({"model": "bedrock:amazon.titan-embed-text-v1", "input": "a", "dimensions": 256}, "dimensions",
     "'dimensions' needs Titan Text Embeddings V2"),
    ({"model": "bedrock:anthropic.claude-3-haiku-20240307-v1:0", "input": "a"}, "model", "is neither"),
    ({"model": "gemini:gemini-embedding-001", "input": "a", "user": "u"}, "user", "'user' is not supported"),
])
def test_bad_input_is_a_400_naming_the_field(gateway: LoopbackServer, body: dict[str, Any], param: str,
                                             message: str) -> None:
    r = httpx.post(gateway.url + "/v1/embeddings", json=body)
    assert r.status_code == 400
    error = r.json()["error"]
    assert (error["type"], error["param"]) == ("invalid_request_error", param)
    assert message in error["message"]


def test_a_body_that_is_not_json_is_a_400(gateway: LoopbackServer) -> None:
    r = httpx.post(gateway.url + "/v1/embeddings", content=b"{nope", headers={"content-type": "application/json"})
    assert r.status_code == 400 and "not valid JSON" in r.json()["error"]["message"]


@pytest.mark.parametrize(("model", "status"), [
    ("openai:text-embedding-3-small-status-429", 429), ("gemini:gemini-embedding-001-status-503", 502),
    ("bedrock:amazon.titan-embed-text-v2:0-status-500", 502), ("azure:embed-status-404", 404),
])
def test_upstream_errors_come_back_in_openais_shape(gateway: LoopbackServer, model: str, status: int) -> None:
    r = httpx.post(gateway.url + "/v1/embeddings", json={"model": model, "input": "a"})
    assert r.status_code == status
    assert set(r.json()["error"]) == {"message", "type", "param", "code"}
