"""Azure OpenAI: the OpenAI wire format at deployment URLs,
`{base}/openai/deployments/{deployment}/chat/completions?api-version=...`, with an `api-key` header.

The model name is the deployment name. Base URL from AZURE_BASE_URL or AZURE_OPENAI_ENDPOINT, key from
AZURE_API_KEY or AZURE_OPENAI_API_KEY, version from AZURE_API_VERSION (see compatible.toml).
"""

from __future__ import annotations

from collections.abc import Mapping
from urllib.parse import quote

from ..config import Endpoint
from ..errors import GatewayError, ProviderNotConfigured
from ..types import ChatRequest
from ._http import error_from_status, openai_error_fields
from .openai import FEATURES as OPENAI_FEATURES
from .openai import OpenAIWire

__all__ = ["DEFAULT_API_VERSION", "FEATURES", "WIRE", "AzureWire", "deployment_url"]

DEFAULT_API_VERSION = "2024-10-21"  # the latest GA data-plane inference version with deployment URLs

# Azure deployments take OpenAI's body as is: what the deployed model supports, Azure supports.
FEATURES: Mapping[str, str] = OPENAI_FEATURES


class AzureWire(OpenAIWire):
    def headers(self, ep: Endpoint) -> dict[str, str]:
        headers = {"Content-Type": "application/json", "Accept": "application/json"}
        if ep.api_key:
            headers["api-key"] = ep.api_key
        extra = ep.options.get("headers")
        if isinstance(extra, Mapping):
            headers.update({str(k): str(v) for k, v in extra.items()})
        return headers

    def url(self, req: ChatRequest, ep: Endpoint) -> str:
        return deployment_url(ep, req.model, "chat/completions")

    def error(self, provider: str, status: int, body: bytes, headers: Mapping[str, str]) -> GatewayError:
        # Azure's own errors carry the status as their code ({"code": "429"}); model errors are OpenAI's.
        message, code, param = openai_error_fields(body)
        if code is not None and code.isdigit():
            code = None
        return error_from_status(provider, status, headers, message, body, code=code, param=param)


def deployment_url(ep: Endpoint, deployment: str, operation: str) -> str:
    """`{base}/openai/deployments/{deployment}/{operation}?api-version=...` (operation: `chat/completions`,
    `embeddings`)."""
    base = ep.base_url or str(ep.options.get("endpoint") or "").rstrip("/")
    if not base:
        raise ProviderNotConfigured(
            f"The '{ep.provider}' provider has no endpoint: set AZURE_BASE_URL or AZURE_OPENAI_ENDPOINT "
            "(https://<resource>.openai.azure.com) on the gateway.", param="model")
    version = quote(str(ep.options.get("api_version") or DEFAULT_API_VERSION), safe="")
    return f"{base}/openai/deployments/{quote(deployment, safe='')}/{operation}?api-version={version}"


WIRE = AzureWire()
