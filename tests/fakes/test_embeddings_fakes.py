"""The fakes' embeddings endpoints, driven by each provider's own SDK: `openai` (OpenAI and Azure),
`google-genai`'s `embed_content`, and boto3's `invoke_model` for Titan and Cohere."""

from __future__ import annotations

import json

import botocore.exceptions
import openai as openai_sdk
import pytest
from botocore.client import BaseClient
from google import genai
from google.genai import types

from tests.fakes.embeddings import vector
from tests.fakes.fixtures import RunningFake


def test_openai_sdk_embeds_one_text_and_decodes_its_default_base64(
    openai_client: openai_sdk.OpenAI, fake_openai: RunningFake
) -> None:
    result = openai_client.embeddings.create(model="text-embedding-3-small", input="hello there world")

    assert fake_openai.last.json["encoding_format"] == "base64"  # the SDK's default
    assert result.data[0].embedding == vector("hello there world", 1536)
    assert (result.usage.prompt_tokens, result.usage.total_tokens) == (3, 3)


def test_openai_sdk_batch_with_dimensions_as_floats(openai_client: openai_sdk.OpenAI) -> None:
    result = openai_client.embeddings.create(
        model="text-embedding-3-large", input=["a b", "c"], dimensions=4, encoding_format="float"
    )

    assert [d.embedding for d in result.data] == [vector("a b", 4), vector("c", 4)]
    assert [d.index for d in result.data] == [0, 1]
    assert result.usage.prompt_tokens == 3


def test_openai_fake_takes_token_arrays_and_refuses_dimensions_for_ada(
    openai_client: openai_sdk.OpenAI,
) -> None:
    result = openai_client.embeddings.create(model="text-embedding-3-small", input=[[1, 2, 3], [4]])
    assert result.usage.prompt_tokens == 4

    with pytest.raises(openai_sdk.BadRequestError, match="does not support specifying dimensions"):
        openai_client.embeddings.create(model="text-embedding-ada-002", input="x", dimensions=8)


def test_openai_fake_refuses_unknown_parameters(openai_client: openai_sdk.OpenAI) -> None:
    with pytest.raises(openai_sdk.BadRequestError, match="task_type"):
        openai_client.embeddings.create(model="text-embedding-3-small", input="x", extra_body={"task_type": "q"})


def test_azure_sdk_embeds_through_the_deployment_url(
    azure_client: openai_sdk.AzureOpenAI, fake_azure: RunningFake
) -> None:
    result = azure_client.embeddings.create(model="my-embedder", input=["one two"], dimensions=8)

    assert fake_azure.last.path == "/openai/deployments/my-embedder/embeddings"
    assert fake_azure.last.query == {"api-version": "2024-10-21"}
    assert result.data[0].embedding == vector("one two", 8)


def test_google_genai_embed_content_posts_batch_embed_contents(
    gemini_client: genai.Client, fake_gemini: RunningFake
) -> None:
    result = gemini_client.models.embed_content(
        model="gemini-embedding-001",
        contents=["first text", "second one here"],
        config=types.EmbedContentConfig(output_dimensionality=6, task_type="RETRIEVAL_QUERY"),
    )

    assert fake_gemini.last.path == "/v1beta/models/gemini-embedding-001:batchEmbedContents"
    assert [e.values for e in result.embeddings] == [vector("first text", 6), vector("second one here", 6)]
    assert fake_gemini.last.json["requests"][0]["taskType"] == "RETRIEVAL_QUERY"


def test_gemini_fake_refuses_a_batch_over_100(gemini_client: genai.Client) -> None:
    with pytest.raises(genai.errors.ClientError, match="at most 100"):
        gemini_client.models.embed_content(model="gemini-embedding-001", contents=["x"] * 101)


def test_boto3_invoke_model_titan_v2(bedrock: BaseClient, fake_bedrock: RunningFake) -> None:
    result = bedrock.invoke_model(
        modelId="amazon.titan-embed-text-v2:0", body=json.dumps({"inputText": "a b c", "dimensions": 256})
    )

    answer = json.loads(result["body"].read())
    assert answer["embedding"] == vector("a b c", 256)
    assert answer["inputTextTokenCount"] == 3
    assert result["ResponseMetadata"]["HTTPHeaders"]["x-amzn-bedrock-input-token-count"] == "3"
    assert fake_bedrock.last.raw_path == "/model/amazon.titan-embed-text-v2%3A0/invoke"


def test_boto3_invoke_model_cohere_batch(bedrock: BaseClient) -> None:
    result = bedrock.invoke_model(
        modelId="cohere.embed-english-v3",
        body=json.dumps({"texts": ["one", "two three"], "input_type": "search_document"}),
    )

    answer = json.loads(result["body"].read())
    assert answer["embeddings"] == [vector("one", 1024), vector("two three", 1024)]
    assert answer["response_type"] == "embeddings_floats"
    assert result["ResponseMetadata"]["HTTPHeaders"]["x-amzn-bedrock-input-token-count"] == "3"


def test_bedrock_fake_refuses_what_the_model_schema_does(bedrock: BaseClient) -> None:
    with pytest.raises(botocore.exceptions.ClientError, match="extraneous key \\[dimensions\\]"):
        bedrock.invoke_model(modelId="amazon.titan-embed-text-v1",
                             body=json.dumps({"inputText": "x", "dimensions": 256}))
    with pytest.raises(botocore.exceptions.ClientError, match="input_type"):
        bedrock.invoke_model(modelId="cohere.embed-english-v3", body=json.dumps({"texts": ["x"]}))
