"""The Azure OpenAI fake, driven by the official `openai.AzureOpenAI` client."""

from __future__ import annotations

import httpx
import openai
import pytest

from tests.fakes.fixtures import RunningFake

USER = [{"role": "user", "content": "Hello there"}]


def test_deployment_route_answers_like_openai_with_content_filters(
    azure_client: openai.AzureOpenAI, fake_azure: RunningFake
) -> None:
    result = azure_client.chat.completions.create(model="prod-gpt4o", messages=USER)

    assert result.choices[0].message.content == "Fake reply to: Hello there"
    assert (result.usage.prompt_tokens, result.usage.completion_tokens) == (2, 5)
    assert result.model == "prod-gpt4o"
    assert result.model_extra["prompt_filter_results"][0]["prompt_index"] == 0
    request = fake_azure.last
    assert request.path == "/openai/deployments/prod-gpt4o/chat/completions"
    assert request.query == {"api-version": "2024-10-21"}
    assert request.headers["api-key"] == "azure-key"


def test_stream_opens_with_azure_empty_prompt_filter_chunk(
    azure_client: openai.AzureOpenAI,
) -> None:
    chunks = list(azure_client.chat.completions.create(model="dep", messages=USER, stream=True))

    assert (chunks[0].choices, chunks[0].id, chunks[0].model) == ([], "", "")
    assert (
        "".join(c.choices[0].delta.content or "" for c in chunks[1:])
        == "Fake reply to: Hello there"
    )
    assert chunks[-1].choices[0].finish_reason == "stop"


def test_deployment_name_scripts_behaviour(azure_client: openai.AzureOpenAI) -> None:
    with pytest.raises(openai.RateLimitError) as caught:
        azure_client.chat.completions.create(model="dep-status-429", messages=USER)

    assert caught.value.response.headers["retry-after"] == "7"
    assert caught.value.body["code"] == "429"


def test_missing_api_version_is_resource_not_found(fake_azure: RunningFake) -> None:
    response = httpx.post(
        fake_azure.url + "/openai/deployments/dep/chat/completions",
        headers={"api-key": "k"},
        json={"messages": USER},
    )

    assert response.status_code == 404
    assert response.json() == {"error": {"code": "404", "message": "Resource not found"}}


def test_malformed_api_version_is_not_supported(fake_azure: RunningFake) -> None:
    response = httpx.post(
        fake_azure.url + "/openai/deployments/dep/chat/completions?api-version=latest",
        headers={"api-key": "k"},
        json={"messages": USER},
    )

    assert response.status_code == 400
    assert response.json()["error"] == {
        "code": "BadRequest",
        "message": "API version not supported",
    }


def test_missing_key_is_401_in_azure_shape(fake_azure: RunningFake) -> None:
    response = httpx.post(
        fake_azure.url + "/openai/deployments/dep/chat/completions?api-version=2024-10-21",
        json={"messages": USER},
    )

    assert response.status_code == 401
    assert response.json()["error"]["code"] == "401"


def test_validation_errors_stay_openai_shaped(azure_client: openai.AzureOpenAI) -> None:
    with pytest.raises(openai.BadRequestError) as caught:
        azure_client.chat.completions.create(model="dep", messages=USER, extra_body={"bogus": True})

    assert caught.value.body["code"] == "unknown_parameter"
