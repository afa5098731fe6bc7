"""The Gemini API's embeddings: `POST {base}/v1beta/models/{model}:batchEmbedContents`, one request per
input (at most 100 per call), `dimensions` as `outputDimensionality`; `task_type` and `title`, Gemini's own
fields, may ride in the client's body. Usage from `usageMetadata` when the API reports it."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import orjson

from ..config import Endpoint
from ..embedding import EmbeddingRequest, EmbeddingResponse
from ..types import Usage
from ._embed_base import Limits, Reply
from ._gemini_request import model_path
from ._translate import reject_unsupported
from .base import UpstreamRequest
from .gemini import DEFAULT_BASE_URL

__all__ = ["MAX_INPUTS", "GeminiEmbeddings"]

MAX_INPUTS = 100  # batchEmbedContents' limit on requests per call
SUPPORTED = frozenset({"task_type", "title"})


class GeminiEmbeddings:
    def limits(self, req: EmbeddingRequest, ep: Endpoint) -> Limits:
        return Limits(MAX_INPUTS, tokens=False)

    def build(self, req: EmbeddingRequest, ep: Endpoint) -> list[UpstreamRequest]:
        reject_unsupported(req.params, ep.provider, SUPPORTED)
        name = req.model.removeprefix("models/")
        common: dict[str, Any] = {"model": name if name.startswith("tunedModels/") else f"models/{name}"}
        if req.dimensions is not None:
            common["outputDimensionality"] = req.dimensions
        if isinstance(req.params.get("task_type"), str):
            common["taskType"] = req.params["task_type"].upper()
        if isinstance(req.params.get("title"), str):
            common["title"] = req.params["title"]
        requests = [{**common, "content": {"parts": [{"text": text}]}} for text in req.inputs]
        headers = {"content-type": "application/json", "accept": "application/json"}
        if ep.api_key:
            headers["x-goog-api-key"] = ep.api_key
        extra = ep.options.get("headers")
        if isinstance(extra, Mapping):
            headers.update({str(k): str(v) for k, v in extra.items()})
        url = (ep.base_url or DEFAULT_BASE_URL) + model_path(req.model) + ":batchEmbedContents"
        return [UpstreamRequest(url, headers, orjson.dumps({"requests": requests}))]

    def parse(self, replies: Sequence[Reply], req: EmbeddingRequest) -> EmbeddingResponse:
        data = orjson.loads(replies[0].body)
        vectors = [e["values"] for e in data["embeddings"]]
        if len(vectors) != len(req.inputs) or not all(isinstance(v, list) for v in vectors):
            raise ValueError("not one embedding per input")
        meta = data.get("usageMetadata")
        usage = None
        if isinstance(meta, dict):
            prompt = meta.get("promptTokenCount")
            prompt = prompt if type(prompt) is int else 0
            total = meta.get("totalTokenCount")
            usage = Usage(prompt_tokens=prompt, total_tokens=total if type(total) is int else prompt)
        return EmbeddingResponse(usage=usage, vectors=vectors)
