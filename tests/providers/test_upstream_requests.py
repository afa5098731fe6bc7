"""Exactly what the gateway sends upstream, per wire format: path, query, headers (a SigV4 signature
that botocore verifies, Azure's api-key, bearer keys) and body; and how credentials are configured."""

from __future__ import annotations

import re
from collections.abc import Iterator
from decimal import Decimal
from pathlib import Path
from typing import Any

import httpx
import orjson
import pytest
from botocore.auth import SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials

from req_llm_gateway.config import Settings
from req_llm_gateway.providers.bedrock import WIRE as BEDROCK
from req_llm_gateway.types import ChatRequest
from tests.fakes import bedrock as fake_bedrock_app
from tests.fakes.fixtures import RunningFake
from tests.fakes.server import LoopbackServer
from tests.providers.support import serve_translating_gateway as serve_gateway

from .targets import COMPATIBLE_MODELS, compatible_ids

MODEL_ID = "anthropic.claude-3-haiku-20240307-v1:0"
HELLO = [{"role": "user", "content": "Hello there"}]
AWS = {"AWS_ACCESS_KEY_ID": fake_bedrock_app.TEST_ACCESS_KEY_ID,
       "AWS_SECRET_ACCESS_KEY": fake_bedrock_app.TEST_SECRET_ACCESS_KEY, "AWS_REGION": "eu-central-1"}


def post(gw: LoopbackServer, body: dict[str, Any]) -> httpx.Response:
    return httpx.post(gw.url + "/v1/chat/completions", json=body, timeout=10)


@pytest.fixture
def bedrock_gateway(fake_bedrock: RunningFake) -> Iterator[LoopbackServer]:
    with serve_gateway({**AWS, "BEDROCK_BASE_URL": fake_bedrock.url}) as gw:
        yield gw


def botocore_signature(method: str, url: str, headers: dict[str, str], body: bytes, region: str) -> str:
    """Recompute the signature with botocore from what the fake received."""
    signed = re.search(r"SignedHeaders=([^,]+)", headers["authorization"]).group(1).split(";")  # type: ignore[union-attr]
    request = AWSRequest(method=method, url=url, data=body, headers={h: headers[h] for h in signed})
    request.context["timestamp"] = headers["x-amz-date"]
    auth = SigV4Auth(Credentials(AWS["AWS_ACCESS_KEY_ID"], AWS["AWS_SECRET_ACCESS_KEY"]), "bedrock", region)
    return auth.signature(auth.string_to_sign(request, auth.canonical_request(request)), request)


def test_bedrock_converse_request_is_exact_and_validly_signed(bedrock_gateway: LoopbackServer,
                                                              fake_bedrock: RunningFake) -> None:
    resp = post(bedrock_gateway, {"model": f"bedrock:{MODEL_ID}", "messages": HELLO, "max_tokens": 50,
                                  "temperature": 0.5})
    assert resp.status_code == 200, resp.text
    got = fake_bedrock.last
    assert (got.method, got.path) == ("POST", f"/model/{MODEL_ID}/converse")
    assert got.raw_path == "/model/anthropic.claude-3-haiku-20240307-v1%3A0/converse"
    assert got.json == {"messages": [{"role": "user", "content": [{"text": "Hello there"}]}],
                        "inferenceConfig": {"maxTokens": 50, "temperature": 0.5}}
    assert got.headers["content-type"] == "application/json"
    date = got.headers["x-amz-date"]
    assert re.fullmatch(r"\d{8}T\d{6}Z", date)
    auth = got.headers["authorization"]
    assert auth.startswith(f"AWS4-HMAC-SHA256 Credential={AWS['AWS_ACCESS_KEY_ID']}/{date[:8]}/eu-central-1/bedrock/aws4_request, "
                           "SignedHeaders=content-type;host;x-amz-date, Signature=")
    url = f"http://{got.headers['host']}{got.raw_path}"
    assert auth.endswith(botocore_signature("POST", url, got.headers, got.body, "eu-central-1"))
    assert "x-amz-security-token" not in got.headers


def test_bedrock_stream_posts_to_converse_stream(bedrock_gateway: LoopbackServer, fake_bedrock: RunningFake) -> None:
    with httpx.stream("POST", bedrock_gateway.url + "/v1/chat/completions", timeout=10,
                      json={"model": f"bedrock:{MODEL_ID}", "messages": HELLO, "stream": True}) as resp:
        events = [line for line in resp.iter_lines() if line.startswith("data: ")]
    assert resp.headers["content-type"].startswith("text/event-stream")
    assert events[-1] == "data: [DONE]"
    assert fake_bedrock.last.raw_path == "/model/anthropic.claude-3-haiku-20240307-v1%3A0/converse-stream"
    assert fake_bedrock.last.json == {"messages": [{"role": "user", "content": [{"text": "Hello there"}]}]}


def test_bedrock_session_token_is_sent_and_signed(fake_bedrock: RunningFake) -> None:
    with serve_gateway({**AWS, "AWS_SESSION_TOKEN": "session-token-123", "BEDROCK_BASE_URL": fake_bedrock.url}) as gw:
        assert post(gw, {"model": f"bedrock:{MODEL_ID}", "messages": HELLO}).status_code == 200
    headers = fake_bedrock.last.headers
    assert headers["x-amz-security-token"] == "session-token-123"
    assert "SignedHeaders=content-type;host;x-amz-date;x-amz-security-token," in headers["authorization"]


def test_bedrock_api_key_is_sent_as_a_bearer_token(fake_bedrock: RunningFake) -> None:
    env = {"AWS_BEARER_TOKEN_BEDROCK": "bedrock-api-key-abc", "BEDROCK_BASE_URL": fake_bedrock.url}
    with serve_gateway(env) as gw:
        assert post(gw, {"model": f"bedrock:{MODEL_ID}", "messages": HELLO}).status_code == 200
    assert fake_bedrock.last.headers["authorization"] == "Bearer bedrock-api-key-abc"
    assert "x-amz-date" not in fake_bedrock.last.headers


def test_bedrock_wrong_secret_is_a_502_about_aws_credentials(fake_bedrock: RunningFake) -> None:
    with serve_gateway({**AWS, "AWS_SECRET_ACCESS_KEY": "wrong", "BEDROCK_BASE_URL": fake_bedrock.url}) as gw:
        resp = post(gw, {"model": f"bedrock:{MODEL_ID}", "messages": HELLO})
    assert resp.status_code == 502
    assert "AWS credentials (InvalidSignatureException)" in resp.json()["error"]["message"]


def test_bedrock_without_a_secret_key_says_which_variable_to_set(fake_bedrock: RunningFake) -> None:
    env = {"AWS_ACCESS_KEY_ID": "AKIA0000", "BEDROCK_BASE_URL": fake_bedrock.url}
    with serve_gateway(env) as gw:
        resp = post(gw, {"model": f"bedrock:{MODEL_ID}", "messages": HELLO})
    assert resp.status_code == 400
    assert resp.json()["error"]["code"] == "provider_not_configured"
    assert "AWS_SECRET_ACCESS_KEY" in resp.json()["error"]["message"]
    assert fake_bedrock.received == []


def test_bedrock_without_credentials_is_not_configured() -> None:
    with serve_gateway({}) as gw:
        resp = post(gw, {"model": f"bedrock:{MODEL_ID}", "messages": HELLO})
    assert resp.status_code == 400
    assert "AWS_ACCESS_KEY_ID" in resp.json()["error"]["message"]


@pytest.mark.parametrize(("env", "model", "url"), [
    ({"AWS_REGION": "ap-south-1"}, MODEL_ID,
     "https://bedrock-runtime.ap-south-1.amazonaws.com/model/anthropic.claude-3-haiku-20240307-v1%3A0/converse"),
    ({"AWS_DEFAULT_REGION": "eu-west-3"}, MODEL_ID,
     "https://bedrock-runtime.eu-west-3.amazonaws.com/model/anthropic.claude-3-haiku-20240307-v1%3A0/converse"),
    ({"AWS_REGION": "us-west-2", "AWS_DEFAULT_REGION": "eu-west-3"}, "us.anthropic.claude-3-7-sonnet-20250219-v1:0",
     "https://bedrock-runtime.us-west-2.amazonaws.com/model/us.anthropic.claude-3-7-sonnet-20250219-v1%3A0/converse"),
    ({}, "arn:aws:bedrock:us-east-1:123456789012:inference-profile/us.meta.llama3-1-8b-instruct-v1:0",
     ("https://bedrock-runtime.us-east-1.amazonaws.com/model/arn%3Aaws%3Abedrock%3Aus-east-1%3A123456789012"
     "%3Ainference-profile%2Fus.meta.llama3-1-8b-instruct-v1%3A0/converse")),
])
def test_bedrock_url_from_region_and_model_id(env: dict[str, str], model: str, url: str) -> None:
    settings = Settings.from_env({"AWS_ACCESS_KEY_ID": "AKIA0000", "AWS_SECRET_ACCESS_KEY": "s", **env})
    req = ChatRequest.from_openai({"model": f"bedrock:{model}", "messages": HELLO}, "openai")
    assert BEDROCK.build(req, settings.endpoints["bedrock"]).url == url


def test_bedrock_signer_is_built_once_per_credentials() -> None:
    ep = Settings.from_env(AWS).endpoints["bedrock"]
    assert BEDROCK.signer(ep) is BEDROCK.signer(ep)


@pytest.fixture
def azure_env(fake_azure: RunningFake) -> dict[str, str]:
    return {"AZURE_API_KEY": "azure-key-1", "AZURE_BASE_URL": fake_azure.url}


def test_azure_posts_to_the_deployment_with_api_version_and_api_key(azure_env: dict[str, str],
                                                                    fake_azure: RunningFake) -> None:
    with serve_gateway(azure_env) as gw:
        resp = post(gw, {"model": "azure:my-gpt4o-deployment", "messages": HELLO, "temperature": 0.1, "seed": 3})
    assert resp.status_code == 200, resp.text
    got = fake_azure.last
    assert got.path == "/openai/deployments/my-gpt4o-deployment/chat/completions"
    assert got.query == {"api-version": "2024-10-21"}
    assert got.headers["api-key"] == "azure-key-1"
    assert "authorization" not in got.headers
    assert got.json == {"model": "my-gpt4o-deployment", "messages": HELLO, "temperature": 0.1, "seed": 3}
    assert resp.json()["x_req_llm"]["provider"] == "azure"


@pytest.mark.parametrize(("env", "version"), [
    ({"AZURE_API_VERSION": "2025-01-01-preview"}, "2025-01-01-preview"),
    ({"OPENAI_API_VERSION": "2024-06-01"}, "2024-06-01"),
])
def test_azure_api_version_is_configurable(fake_azure: RunningFake, env: dict[str, str], version: str) -> None:
    with serve_gateway({"AZURE_OPENAI_API_KEY": "k", "AZURE_OPENAI_ENDPOINT": fake_azure.url, **env}) as gw:
        assert post(gw, {"model": "azure:gpt-4o", "messages": HELLO}).status_code == 200
    assert fake_azure.last.query == {"api-version": version}
    assert fake_azure.last.headers["api-key"] == "k"


def test_azure_stream_asks_for_usage_and_relays_azures_chunks(azure_env: dict[str, str], fake_azure: RunningFake) -> None:
    with serve_gateway(azure_env) as gw, httpx.stream(
        "POST", gw.url + "/v1/chat/completions", timeout=10,
        json={"model": "azure:gpt-4o", "messages": HELLO, "stream": True}) as resp:
        events = [orjson.loads(line[6:]) for line in resp.iter_lines() if line.startswith("data: {")]
    assert fake_azure.last.json["stream_options"] == {"include_usage": True}
    assert events[0]["prompt_filter_results"]  # Azure's preamble chunk, relayed as sent
    assert all(e.get("usage") is None for e in events)  # the client did not ask for the usage chunk
    assert events[-1]["choices"][0]["finish_reason"] == "stop"


def test_azure_without_an_endpoint_says_which_variable_to_set() -> None:
    with serve_gateway({"AZURE_API_KEY": "k"}) as gw:
        resp = post(gw, {"model": "azure:gpt-4o", "messages": HELLO})
    assert resp.status_code == 400
    assert "AZURE_OPENAI_ENDPOINT" in resp.json()["error"]["message"]


@pytest.mark.parametrize(("status", "code", "gateway_status"), [
    (401, "invalid_api_key", 502), (404, "upstream_rejected", 404), (429, "rate_limit_exceeded", 429),
    (503, "upstream_error", 502),
])
def test_azure_errors_map_like_openais(fake_azure: RunningFake, status: int, code: str, gateway_status: int) -> None:
    env = {"AZURE_API_KEY": "invalid-key" if status == 401 else "k", "AZURE_BASE_URL": fake_azure.url}
    with serve_gateway(env) as gw:
        resp = post(gw, {"model": f"azure:gpt-4o-status-{status}", "messages": HELLO})
    assert resp.status_code == gateway_status
    if status == 429:
        assert resp.headers["retry-after"] == "7"
    if status != 401:
        assert resp.json()["error"]["code"] == code


@pytest.mark.parametrize("name", compatible_ids())
def test_compatible_row_sends_the_clients_body_with_its_bearer_key(fake_openai: RunningFake, name: str) -> None:
    prefix = name.upper()
    env = {f"{prefix}_BASE_URL": fake_openai.url + "/v1", f"{prefix}_API_KEY": f"sk-{name}-key"}
    body = {"model": f"{name}:{COMPATIBLE_MODELS[name]}", "messages": HELLO, "top_p": 0.5}
    with serve_gateway(env) as gw:
        resp = post(gw, body)
    assert resp.status_code == 200, resp.text
    got = fake_openai.last
    assert got.path == "/v1/chat/completions"
    assert got.headers["authorization"] == f"Bearer sk-{name}-key"
    assert got.json == {"model": COMPATIBLE_MODELS[name], "messages": HELLO, "top_p": 0.5}


@pytest.mark.parametrize("name", ["ollama", "vllm", "lmstudio"])
def test_local_rows_need_no_key_and_send_no_authorization(fake_openai: RunningFake, name: str) -> None:
    with serve_gateway({f"{name.upper()}_BASE_URL": fake_openai.url + "/v1"}) as gw:
        post(gw, {"model": f"{name}:{COMPATIBLE_MODELS[name]}", "messages": HELLO})
    assert fake_openai.last.path == "/v1/chat/completions"
    assert "authorization" not in fake_openai.last.headers  # (the strict fake then answers 401)


DEFAULTS = {
    "groq": ("https://api.groq.com/openai/v1", ("GROQ_API_KEY",), True),
    "xai": ("https://api.x.ai/v1", ("XAI_API_KEY",), True),
    "mistral": ("https://api.mistral.ai/v1", ("MISTRAL_API_KEY",), True),
    "deepseek": ("https://api.deepseek.com", ("DEEPSEEK_API_KEY",), True),
    "together": ("https://api.together.ai/v1", ("TOGETHER_API_KEY",), True),
    "fireworks": ("https://api.fireworks.ai/inference/v1", ("FIREWORKS_API_KEY",), True),
    "cerebras": ("https://api.cerebras.ai/v1", ("CEREBRAS_API_KEY",), True),
    "openrouter": ("https://openrouter.ai/api/v1", ("OPENROUTER_API_KEY",), True),
    "perplexity": ("https://api.perplexity.ai", ("PERPLEXITY_API_KEY", "PPLX_API_KEY"), True),
    "ollama": ("http://localhost:11434/v1", ("OLLAMA_API_KEY",), False),
    "vllm": ("http://localhost:8000/v1", ("VLLM_API_KEY",), False),
    "lmstudio": ("http://localhost:1234/v1", ("LMSTUDIO_API_KEY", "LM_STUDIO_API_KEY"), False),
}


@pytest.mark.parametrize("name", sorted(DEFAULTS))
def test_compatible_row_defaults(name: str) -> None:
    ep = Settings.from_env({}).endpoints[name]
    assert (ep.wire, ep.base_url, ep.key_env, ep.key_required) == ("openai", *DEFAULTS[name])
    assert ep.configured is not DEFAULTS[name][2]


def test_the_issue_lists_every_compatible_vendor() -> None:
    assert set(DEFAULTS) | {"openai"} == set(compatible_ids())


def test_user_row_in_the_config_file_works_without_code(fake_openai: RunningFake, tmp_path: Path) -> None:
    config = tmp_path / "gateway.toml"
    config.write_text(f"""
[providers.acme]
base_url = "{fake_openai.url}/v1"
api_key_env = "ACME_TOKEN"
headers = {{ "X-Acme-Team" = "search" }}
""")
    with serve_gateway({"REQ_LLM_GATEWAY_CONFIG": str(config), "ACME_TOKEN": "acme-secret"}) as gw:
        resp = post(gw, {"model": "acme:acme-large", "messages": HELLO})
    assert resp.status_code == 200, resp.text
    assert resp.json()["x_req_llm"]["provider"] == "acme"
    assert fake_openai.last.headers["authorization"] == "Bearer acme-secret"
    assert fake_openai.last.headers["x-acme-team"] == "search"
    assert fake_openai.last.json["model"] == "acme-large"


def test_config_file_can_move_a_built_in_row(fake_openai: RunningFake, tmp_path: Path) -> None:
    config = tmp_path / "gateway.toml"
    config.write_text(f'[providers.groq]\nbase_url = "{fake_openai.url}/v1"\n')
    with serve_gateway({"REQ_LLM_GATEWAY_CONFIG": str(config), "GROQ_API_KEY": "gk"}) as gw:
        assert post(gw, {"model": "groq:llama-3.3-70b-versatile", "messages": HELLO}).status_code == 200
    assert fake_openai.last.headers["authorization"] == "Bearer gk"


def test_config_file_rows_add_a_second_aws_region_and_azure_resource(
    fake_bedrock: RunningFake, fake_azure: RunningFake, tmp_path: Path
) -> None:
    config = tmp_path / "gateway.toml"
    config.write_text(f"""
[providers.bedrock-eu]
wire = "bedrock"
base_url = "{fake_bedrock.url}"
region = "eu-west-1"
api_key_env = "AWS_ACCESS_KEY_ID"
env_options = {{ secret_access_key = "AWS_SECRET_ACCESS_KEY" }}

[providers.azure-eu]
wire = "azure"
base_url = "{fake_azure.url}"
api_key_env = "AZURE_EU_API_KEY"
""")
    env = {**AWS, "REQ_LLM_GATEWAY_CONFIG": str(config), "AZURE_EU_API_KEY": "eu-key"}
    with serve_gateway(env) as gw:
        assert post(gw, {"model": f"bedrock-eu:{MODEL_ID}", "messages": HELLO}).status_code == 200
        assert post(gw, {"model": "azure-eu:gpt-4o", "messages": HELLO}).status_code == 200
    assert "/eu-west-1/bedrock/aws4_request" in fake_bedrock.last.headers["authorization"]
    assert fake_azure.last.headers["api-key"] == "eu-key"
    assert fake_azure.last.query == {"api-version": "2024-10-21"}


@pytest.mark.parametrize(("provider", "model", "input_mtok", "output_mtok"), [
    ("bedrock", MODEL_ID, "0.25", "1.25"),
    ("groq", "llama-3.3-70b-versatile", "0.59", "0.79"),
    ("azure", "gpt-4o-mini", "0.15", "0.6"),
])
def test_cost_comes_from_the_price_catalogue(fake_bedrock: RunningFake, fake_openai: RunningFake,
                                             fake_azure: RunningFake, provider: str, model: str,
                                             input_mtok: str, output_mtok: str) -> None:
    env = {**AWS, "BEDROCK_BASE_URL": fake_bedrock.url, "GROQ_API_KEY": "gk", "GROQ_BASE_URL": fake_openai.url + "/v1",
           "AZURE_API_KEY": "ak", "AZURE_BASE_URL": fake_azure.url}
    with serve_gateway(env) as gw:
        body = post(gw, {"model": f"{provider}:{model}", "messages": HELLO}).json()
    usage = body["usage"]
    assert (usage["prompt_tokens"], usage["completion_tokens"]) == (2, 5)  # "Fake reply to: Hello there"
    expected = (Decimal(2) * Decimal(input_mtok) + Decimal(5) * Decimal(output_mtok)) / 1_000_000
    assert Decimal(str(body["x_req_llm"]["cost_usd"])) == expected
