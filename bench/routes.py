"""The gateway's model-call routes as benchmark cells: each API's path, and a body for a pass-through
cell (the upstream speaks the API: the mock answers it) and a translated cell (an `openai:` model:
the gateway turns it into a chat completion). A route the gateway under test does not have yet is
reported as such, not measured."""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass

SYSTEM = "You are a terse assistant."
USER = "Say hello in twenty tokens, please."


@dataclass(frozen=True)
class ApiRoute:
    name: str  # the cell's label: "messages/pass-through"
    path: str
    body: Callable[[bool], bytes]  # stream -> body
    streams: bool = True


def _dump(obj: dict[str, object]) -> bytes:
    return json.dumps(obj).encode()


def _messages(model: str) -> Callable[[bool], bytes]:
    def body(stream: bool) -> bytes:
        return _dump({"model": model, "max_tokens": 32, "system": SYSTEM,
                      "messages": [{"role": "user", "content": USER}], **({"stream": True} if stream else {})})
    return body


def _responses(model: str) -> Callable[[bool], bytes]:
    def body(stream: bool) -> bytes:
        return _dump({"model": model, "instructions": SYSTEM, "input": USER, "max_output_tokens": 32,
                      **({"stream": True} if stream else {})})
    return body


def _embeddings(stream: bool) -> bytes:
    return _dump({"model": "openai:text-embedding-3-small", "input": USER})


# Pass-through cells need the upstream to speak the API: Anthropic's for /v1/messages (the gateway is
# pointed at the mock with ANTHROPIC_BASE_URL), OpenAI's for /v1/responses and /v1/embeddings.
ROUTES = [
    ApiRoute("messages/pass-through", "/v1/messages", _messages("anthropic:claude-bench")),
    ApiRoute("messages/translated", "/v1/messages", _messages("openai:gpt-4o-mini")),
    ApiRoute("responses/pass-through", "/v1/responses", _responses("openai:gpt-4o-mini")),
    ApiRoute("responses/translated", "/v1/responses", _responses("anthropic:claude-bench")),
    ApiRoute("embeddings", "/v1/embeddings", _embeddings, streams=False),
]
