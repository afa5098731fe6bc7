"""Fixtures for the fakes' own tests: each fake served once, and official SDK clients for it."""

from __future__ import annotations

import anthropic as anthropic_sdk
import boto3
import openai as openai_sdk
import pytest
from botocore.client import BaseClient
from botocore.config import Config
from google import genai
from google.genai import types as genai_types

from tests.fakes.fixtures import RunningFake
from tests.fakes.sigv4 import TEST_ACCESS_KEY_ID, TEST_SECRET_ACCESS_KEY


@pytest.fixture
def openai_client(fake_openai: RunningFake) -> openai_sdk.OpenAI:
    return openai_sdk.OpenAI(base_url=fake_openai.url + "/v1", api_key="sk-test", max_retries=0)


@pytest.fixture
def azure_client(fake_azure: RunningFake) -> openai_sdk.AzureOpenAI:
    return openai_sdk.AzureOpenAI(
        azure_endpoint=fake_azure.url, api_key="azure-key", api_version="2024-10-21", max_retries=0
    )


@pytest.fixture
def anthropic_client(fake_anthropic: RunningFake) -> anthropic_sdk.Anthropic:
    return anthropic_sdk.Anthropic(
        base_url=fake_anthropic.url, api_key="sk-ant-test", max_retries=0
    )


@pytest.fixture
def gemini_client(fake_gemini: RunningFake) -> genai.Client:
    options = genai_types.HttpOptions(
        base_url=fake_gemini.url,
        api_version="v1beta",
        retry_options=genai_types.HttpRetryOptions(attempts=1),
    )
    return genai.Client(api_key="gemini-key", http_options=options)


def bedrock_client(url: str, secret: str = TEST_SECRET_ACCESS_KEY) -> BaseClient:
    return boto3.client(
        "bedrock-runtime",
        endpoint_url=url,
        region_name="eu-west-3",
        aws_access_key_id=TEST_ACCESS_KEY_ID,
        aws_secret_access_key=secret,
        config=Config(retries={"total_max_attempts": 1}),
    )


@pytest.fixture
def bedrock(fake_bedrock: RunningFake) -> BaseClient:
    return bedrock_client(fake_bedrock.url)
