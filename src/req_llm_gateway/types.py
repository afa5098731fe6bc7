"""Canonical request/response types: a typed subset of OpenAI Chat Completions, same field names.

Validation happens once, at the edge: `ChatRequest.from_openai(body)` raises `BadRequest`. Fields the
gateway reasons about are typed; everything else the client sent rides in `params`, untouched.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import orjson

from .errors import BadRequest

__all__ = ["ChatChunk", "ChatRequest", "ChatResponse", "ClientBody", "Json", "Usage", "split_model"]

Json = dict[str, Any]

ROLES = frozenset({"system", "developer", "user", "assistant", "tool", "function"})

# Typed checks for the parameters the gateway or a translating provider reads. Anything else passes
# through to OpenAI-compatible upstreams as sent; a translating provider rejects what it cannot express.
_NUMBER = (int, float)
_PARAM_TYPES: dict[str, tuple[type, ...]] = {
    "temperature": _NUMBER,
    "top_p": _NUMBER,
    "frequency_penalty": _NUMBER,
    "presence_penalty": _NUMBER,
    "max_tokens": (int,),
    "max_completion_tokens": (int,),
    "n": (int,),
    "seed": (int,),
    "logprobs": (bool,),
    "top_logprobs": (int,),
    "parallel_tool_calls": (bool,),
    "stop": (str, list),
    "tools": (list,),
    "tool_choice": (str, dict),
    "response_format": (dict,),
    "stream_options": (dict,),
    "user": (str,),
    "reasoning_effort": (str,),
    "metadata": (dict,),
    "logit_bias": (dict,),
}


def split_model(model: str, default_provider: str) -> tuple[str, str]:
    """`"anthropic:claude-3"` -> `("anthropic", "claude-3")`; a bare name goes to `default_provider`."""
    provider, sep, name = model.partition(":")
    if sep and provider and "/" not in provider:
        return provider.lower(), name
    return default_provider, model


@dataclass(frozen=True, slots=True)
class ChatRequest:
    provider: str
    model: str  # as sent to the provider: no `provider:` prefix
    messages: list[Json]
    stream: bool = False
    include_usage: bool = False  # the client asked for the stream's usage chunk
    params: Json = field(default_factory=dict)  # every other field, exactly as the client sent it
    # The client's own body, for upstreams that speak its format (see `client_body`).
    raw: ClientBody | None = field(default=None, compare=False, repr=False)

    @classmethod
    def from_openai(cls, body: Any, default_provider: str, raw: bytes | None = None) -> ChatRequest:
        """Validate an OpenAI chat-completions body; raise `BadRequest` naming the faulty field.
        `raw`: the bytes `body` was decoded from, kept so they can go upstream as sent."""
        if not isinstance(body, dict):
            raise BadRequest("The request body must be a JSON object.")
        model = body.get("model")
        if not isinstance(model, str) or not model.strip():
            raise BadRequest("'model' is required and must be a non-empty string.", param="model")
        messages = body.get("messages")
        if not isinstance(messages, list) or not messages:
            raise BadRequest("'messages' is required and must be a non-empty array.", param="messages")
        for i, msg in enumerate(messages):
            _check_message(msg, i)
        stream = body.get("stream", False)
        if stream is None:
            stream = False
        if not isinstance(stream, bool):
            raise BadRequest("'stream' must be a boolean.", param="stream")
        params = {k: v for k, v in body.items() if k not in ("model", "messages", "stream")}
        for key, value in params.items():
            kinds = _PARAM_TYPES.get(key)
            if kinds is not None and value is not None and (
                not isinstance(value, kinds) or (isinstance(value, bool) and bool not in kinds)
            ):
                names = " or ".join(_TYPE_NAMES[k] for k in kinds)
                raise BadRequest(f"'{key}' must be {names}.", param=key)
        opts = params.get("stream_options")
        include_usage = bool(stream and isinstance(opts, dict) and opts.get("include_usage") is True)
        provider, name = split_model(model.strip(), default_provider)
        if not name:
            raise BadRequest(f"'model' names provider '{provider}' but no model.", param="model")
        kept = ClientBody(raw, model, messages, params) if raw is not None else None
        return cls(provider, name, messages, stream, include_usage, params, kept)

    def client_body(self) -> bytes | None:
        """The client's bytes with only `model` rewritten to the provider's name, when they still say
        what this request says: the same message and parameter objects (not replaced since parsing),
        and a stream that asked for usage itself. Else None: encode the request instead."""
        raw = self.raw
        if raw is None or raw.messages is not self.messages or raw.params is not self.params:
            return None
        if self.stream and not self.include_usage:
            return None  # the gateway must add stream_options.include_usage
        return raw.with_model(self.model)


@dataclass(frozen=True, slots=True)
class ClientBody:
    """A client's request body as received, with what it was parsed into (to tell if it still holds)."""

    data: bytes
    model: str  # the client's `model` value
    messages: list[Json]
    params: Json

    def with_model(self, model: str) -> bytes | None:
        """The body with the value of its one `"model"` key replaced by `model`; None when the bytes are
        not plainly that (another `"model"` anywhere, an escape in the value)."""
        data = self.data
        if model == self.model:
            return data
        if data.count(b'"model"') != 1:
            return None
        i = data.index(b'"model"') + 7
        n = len(data)
        while i < n and data[i] in b" \t\r\n":
            i += 1
        if i >= n or data[i] != 58:  # ':'
            return None
        i += 1
        while i < n and data[i] in b" \t\r\n":
            i += 1
        if i >= n or data[i] != 34:  # '"'
            return None
        end = data.find(b'"', i + 1)
        if end < 0 or data[i + 1:end] != self.model.encode():
            return None
        return data[:i + 1] + model.encode() + data[end:]


_TYPE_NAMES = {int: "an integer", float: "a number", str: "a string", list: "an array", dict: "an object", bool: "a boolean"}


def _check_message(msg: Any, i: int) -> None:
    if not isinstance(msg, dict):
        raise BadRequest(f"messages[{i}] must be an object.", param=f"messages[{i}]")
    role = msg.get("role")
    if not isinstance(role, str):
        raise BadRequest(f"messages[{i}].role is required and must be a string.", param=f"messages[{i}].role")
    if role not in ROLES:
        raise BadRequest(
            f"messages[{i}].role '{role}' is not one of {', '.join(sorted(ROLES))}.", param=f"messages[{i}].role"
        )
    content = msg.get("content")
    if content is not None and not isinstance(content, (str, list)):
        raise BadRequest(f"messages[{i}].content must be a string or an array of parts.", param=f"messages[{i}].content")
    if isinstance(content, list):
        for j, part in enumerate(content):
            if not isinstance(part, dict) or not isinstance(part.get("type"), str):
                raise BadRequest(
                    f"messages[{i}].content[{j}] must be an object with a 'type'.", param=f"messages[{i}].content[{j}]"
                )


@dataclass(frozen=True, slots=True)
class Usage:
    """Token counts. `cached_tokens` and `cache_write_tokens` are part of `prompt_tokens`;
    `reasoning_tokens` is part of `completion_tokens` (OpenAI's convention)."""

    prompt_tokens: int = 0
    completion_tokens: int = 0
    total_tokens: int = 0
    cached_tokens: int = 0
    cache_write_tokens: int = 0
    reasoning_tokens: int = 0

    @classmethod
    def from_openai(cls, u: Mapping[str, Any] | None) -> Usage | None:
        if not isinstance(u, Mapping):
            return None
        prompt = _int(u.get("prompt_tokens"))
        completion = _int(u.get("completion_tokens"))
        ptd = u.get("prompt_tokens_details")
        ctd = u.get("completion_tokens_details")
        ptd = ptd if isinstance(ptd, Mapping) else {}
        ctd = ctd if isinstance(ctd, Mapping) else {}
        return cls(
            prompt,
            completion,
            _int(u.get("total_tokens")) or prompt + completion,
            _int(ptd.get("cached_tokens")),
            _int(ptd.get("cache_write_tokens") or ptd.get("cache_creation_tokens")),
            _int(ctd.get("reasoning_tokens")),
        )

    def to_openai(self) -> Json:
        out: Json = {
            "prompt_tokens": self.prompt_tokens,
            "completion_tokens": self.completion_tokens,
            "total_tokens": self.total_tokens,
        }
        if self.cached_tokens or self.cache_write_tokens:
            out["prompt_tokens_details"] = {"cached_tokens": self.cached_tokens}
            if self.cache_write_tokens:
                out["prompt_tokens_details"]["cache_write_tokens"] = self.cache_write_tokens
        if self.reasoning_tokens:
            out["completion_tokens_details"] = {"reasoning_tokens": self.reasoning_tokens}
        return out


def _int(v: Any) -> int:
    return v if type(v) is int else 0


@dataclass(slots=True)
class ChatResponse:
    """A chat.completion object. `raw` keeps an OpenAI-compatible upstream's exact bytes."""

    body: Json
    usage: Usage | None = None
    raw: bytes | None = None

    @property
    def finish_reasons(self) -> list[str]:
        return [c["finish_reason"] for c in self.body.get("choices") or () if c.get("finish_reason")]


@dataclass(slots=True)
class ChatChunk:
    """One chat.completion.chunk. `data` is the encoded JSON relayed as is; else `obj` is encoded."""

    data: bytes | None = None
    obj: Json | None = None
    usage: Usage | None = None
    finish_reason: str | None = None

    def as_obj(self) -> Json:
        """The chunk as an object to edit; it will be re-encoded from then on."""
        if self.obj is None:
            self.obj = orjson.loads(self.data or b"{}")
        self.data = None
        return self.obj
