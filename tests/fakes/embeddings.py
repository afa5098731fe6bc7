"""The embeddings every fake serves, one "model" behind all wire formats (as conversation.py is for chat):

- a text's vector is derived from its SHA-256; every value is k/128 (k in -128..127), exact in float32, so
  floats and base64 (little-endian float32) carry the same numbers;
- its size is `dimensions` when asked, else the model's native size (`native_size`);
- tokens: the words of each text (whitespace-separated runs), or the length of each token-id array.

Handlers: OpenAI's `POST /v1/embeddings` (and Azure's deployment route, which shares it). Gemini's
`batchEmbedContents` and Bedrock's `InvokeModel` bodies live in their fakes, built on `vector`/`tokens`.
Script markers (script.py) apply; `floats-only` in a model name makes the OpenAI fake ignore
`encoding_format: base64`, as some compatible servers do.
"""

from __future__ import annotations

import array
import base64
import hashlib
import json
from typing import Any

from openai.types import embedding_create_params as params
from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from .script import Script
from .sdk_schema import StrictSchema
from .streaming import before_answer

OPENAI_MAX_INPUTS = 2048
_NATIVE = {
    "text-embedding-3-small": 1536, "text-embedding-3-large": 3072, "text-embedding-ada-002": 1536,
    "gemini-embedding-001": 3072, "text-embedding-004": 768, "amazon.titan-embed-text-v2": 1024,
    "amazon.titan-embed-text-v1": 1536, "cohere.embed-english-v3": 1024, "cohere.embed-v4": 1536,
}
_SCHEMA = StrictSchema(params.EmbeddingCreateParams)


def native_size(model: str) -> int:
    """The model's own vector size (768 for a model the fake does not know)."""
    for name, size in _NATIVE.items():
        if name in model:
            return size
    return 768


def vector(item: str | list[int], size: int) -> list[float]:
    """The fake's embedding of one input: `size` values k/128, from the input's SHA-256."""
    seed = item if isinstance(item, str) else " ".join(map(str, item))
    digest = b""
    counter = 0
    while len(digest) < size:
        digest += hashlib.sha256(f"{counter}|{seed}".encode()).digest()
        counter += 1
    return [(b - 128) / 128 for b in digest[:size]]


def tokens(item: str | list[int]) -> int:
    return len(item.split()) if isinstance(item, str) else len(item)


def encode_base64(values: list[float]) -> str:
    return base64.b64encode(array.array("f", values).tobytes()).decode()


def openai_inputs(value: Any) -> list[str | list[int]]:
    """OpenAI's `input` as a list of inputs (one string, strings, one token array, token arrays)."""
    if isinstance(value, str):
        return [value]
    if value and all(isinstance(t, int) for t in value):
        return [value]
    return list(value)


def openai_error(message: str, param: str | None = None, code: str | None = None,
                 status: int = 400) -> Response:
    body = {"error": {"message": message, "type": "invalid_request_error", "param": param, "code": code}}
    return JSONResponse(body, status)


async def openai_embeddings(request: Request, *, deployment: str | None = None) -> Response:
    """Answer one OpenAI embeddings request as the API does (Azure: `deployment` names the model)."""
    try:
        body = json.loads(await request.body())
    except ValueError:
        return openai_error("We could not parse the JSON body of your request.")
    if deployment is not None and isinstance(body, dict):
        body = {**body, "model": deployment}
    error = _SCHEMA.first_error(body)
    if error is not None:
        kind = "Unknown parameter" if error.kind == "extra_forbidden" else "Invalid value for"
        return openai_error(f"{kind}: '{error.path}'. {error.message}", error.path, "invalid_value")
    model = body["model"]
    script = Script.from_model(model)
    await before_answer(request, script)
    if script.status is not None:
        return openai_error(f"Scripted error {script.status}.", None, None, script.status)
    inputs = openai_inputs(body["input"])
    if not inputs or any(i == "" or i == [] for i in inputs):
        return openai_error("'$.input' is invalid. Please check the API reference.", "input")
    if len(inputs) > OPENAI_MAX_INPUTS:
        return openai_error(f"'$.input' is invalid: at most {OPENAI_MAX_INPUTS} inputs.", "input")
    dims = body.get("dimensions")
    if dims is not None and "ada-002" in model:  # only the text-embedding-3 family takes dimensions
        return openai_error("This model does not support specifying dimensions.", "dimensions")
    size = dims or native_size(model)
    b64 = body.get("encoding_format") == "base64" and "floats-only" not in model
    data = [{"object": "embedding", "index": i,
             "embedding": encode_base64(vector(item, size)) if b64 else vector(item, size)}
            for i, item in enumerate(inputs)]
    count = sum(tokens(i) for i in inputs)
    return JSONResponse({"object": "list", "data": data, "model": model,
                         "usage": {"prompt_tokens": count, "total_tokens": count}})
