"""The AWS Bedrock Converse wire format: `POST {base}/model/{modelId}/converse` and
`/converse-stream` (the binary AWS event stream), signed with SigV4 by botocore's signer.

Credentials arrive in the `Endpoint` (options access_key_id, secret_access_key, session_token,
region, or bearer_token for a Bedrock API key); the signer is built once per credential set.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Mapping
from urllib.parse import quote

import orjson

from ..config import Endpoint
from ..errors import GatewayError, ProviderNotConfigured, UpstreamError
from ..types import ChatChunk, ChatRequest, ChatResponse
from . import _aws
from ._bedrock_request import SUPPORTED, converse_body
from ._bedrock_response import ConverseStream, completion
from .base import UpstreamRequest

__all__ = ["FEATURES", "WIRE", "BedrockWire"]

DEFAULT_REGION = "us-east-1"

# What this wire format expresses (docs/providers.md is checked against it; see features.py).
FEATURES: Mapping[str, str] = {
    "text": "yes", "stream": "yes: ConverseStream's binary event stream, re-framed as SSE",
    "system": "yes: all of them become Converse's top-level `system`, in order",
    "tools": "yes", "tool_streaming": "yes", "tool_choice": "yes",
    "tool_choice_none": "partial: tools are not sent; 400 when the conversation already holds tool calls",
    "parallel_tool_calls": "yes", "disable_parallel_tool_calls": "no",
    "images_data_url": "yes: png, jpeg, gif, webp", "images_http_url": "no: Converse takes bytes or S3 only",
    "json_object": "no: use json_schema", "json_schema": "yes: `outputConfig.textFormat`",
    "stop": "yes", "temperature": "yes", "top_p": "yes", "max_tokens": "yes",
    "reasoning_effort": "yes: low, medium, high, xhigh, max as `outputConfig.effort`",
    "seed": "no", "n": "no", "logprobs": "no", "penalties": "no",
    "usage_cached": "yes", "usage_cache_write": "yes", "usage_reasoning": "unreported: Converse has no reasoning-token count",
}


class BedrockWire:
    supported_params = SUPPORTED  # the OpenAI parameters this format translates; others are a 400
    features: Mapping[str, str] = FEATURES

    def __init__(self) -> None:
        self._signers: dict[tuple[str, str, str | None, str], _aws.Signer] = {}

    def signer(self, ep: Endpoint) -> _aws.Signer | None:
        """The endpoint's SigV4 signer, built on first use (botocore objects are not free to build);
        None when the endpoint uses a Bedrock API key instead."""
        access = ep.options.get("access_key_id") or ep.api_key
        secret = ep.options.get("secret_access_key")
        if not secret or not access:
            if ep.options.get("bearer_token"):
                return None
            missing = "AWS_SECRET_ACCESS_KEY" if access else "AWS_ACCESS_KEY_ID"
            raise ProviderNotConfigured(
                f"The '{ep.provider}' provider has no AWS credentials: set {missing} (or "
                "AWS_BEARER_TOKEN_BEDROCK) on the gateway.", param="model")
        key = (str(access), str(secret), ep.options.get("session_token"), self.region(ep))
        signer = self._signers.get(key)
        if signer is None:
            signer = self._signers[key] = _aws.Signer(*key)
        return signer

    @staticmethod
    def region(ep: Endpoint) -> str:
        return str(ep.options.get("region") or DEFAULT_REGION)

    def url(self, req: ChatRequest, ep: Endpoint) -> str:
        base = (ep.base_url or "https://bedrock-runtime.{region}.amazonaws.com").replace("{region}", self.region(ep))
        # The model id is one path segment: `:` and `/` (ARNs, versions) are percent-encoded, as boto3 does.
        return f"{base}/model/{quote(req.model, safe='')}/{'converse-stream' if req.stream else 'converse'}"

    def build(self, req: ChatRequest, ep: Endpoint) -> UpstreamRequest:
        body = orjson.dumps(converse_body(req))
        url = self.url(req, ep)
        headers = {"Content-Type": "application/json"}
        signer = self.signer(ep)
        if signer is None:
            headers["Authorization"] = f"Bearer {ep.options['bearer_token']}"
        else:
            headers = signer.headers(url, body, headers)
        return UpstreamRequest(url, headers, body)

    def parse(self, body: bytes, req: ChatRequest) -> ChatResponse:
        data = orjson.loads(body)
        if not isinstance(data, dict) or "output" not in data:
            raise ValueError("not a Converse response")
        return completion(data, req)

    async def parse_stream(self, chunks: AsyncIterator[bytes], req: ChatRequest) -> AsyncIterator[ChatChunk]:
        state = ConverseStream(req)
        async for frame in _aws.frames(chunks):
            if frame.kind != "event":
                raise _aws.stream_exception(req.provider, frame)
            chunk = state.event(frame.name, frame.json())
            if chunk is not None:
                yield chunk
        if not state.finished or not state.usage_seen:
            raise UpstreamError("The bedrock stream ended before it was complete "
                                f"(no {'messageStop' if not state.finished else 'metadata'} event).")

    def error(self, provider: str, status: int, body: bytes, headers: Mapping[str, str]) -> GatewayError:
        return _aws.aws_error(provider, status, body, headers)


WIRE = BedrockWire()

