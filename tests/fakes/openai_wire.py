"""OpenAI Chat Completions wire format, shared by the OpenAI and Azure OpenAI fakes.

Pure translation, no HTTP: request validation (the official SDK's request TypedDicts plus
the API's own conversation rules), request -> `Conversation`, `Reply` -> `chat.completion`
body or `chat.completion.chunk` list.
"""

from __future__ import annotations

import secrets
import time
from dataclasses import dataclass
from functools import cache
from typing import Any

from openai.types.chat import completion_create_params as params

from .conversation import Conversation, Reply, Tool, Turn, Usage, json_pieces, text_pieces
from .sdk_schema import SchemaError, StrictSchema

FINGERPRINT = "fp_fake0001"
_IMAGE_PARTS = {"image_url", "input_audio", "file"}


class RequestInvalid(Exception):
    """A 400 the real API would send: message, param and code of its error body."""

    def __init__(self, message: str, param: str | None = None, code: str | None = None) -> None:
        super().__init__(message)
        self.message, self.param, self.code = message, param, code


@cache
def _schema(stream: bool) -> StrictSchema:
    kind = (
        params.CompletionCreateParamsStreaming
        if stream
        else params.CompletionCreateParamsNonStreaming
    )
    return StrictSchema(kind)


def _openai_path(error: SchemaError) -> str:
    parts = error.path.split(".") if error.path else []
    return "".join(f"[{p}]" if p.isdigit() else f".{p}" for p in parts).lstrip(".")


def validate(body: Any) -> None:
    """Raise `RequestInvalid` for a body the real API rejects."""
    if not isinstance(body, dict):
        raise RequestInvalid("Invalid type for request body: expected an object.")
    error = _schema(body.get("stream") is True).first_error(body)
    if error is not None:
        path = _openai_path(error)
        if error.kind == "missing":
            raise RequestInvalid(
                f"Missing required parameter: '{path}'.", path, "missing_required_parameter"
            )
        if error.kind == "extra_forbidden":
            raise RequestInvalid(f"Unknown parameter: '{path}'.", path, "unknown_parameter")
        code = "invalid_type" if error.kind.endswith("_type") else "invalid_value"
        raise RequestInvalid(f"Invalid value for '{path}': {error.message}.", path, code)
    if body.get("stream_options") is not None and not body.get("stream"):
        raise RequestInvalid(
            "The 'stream_options' parameter is only allowed when 'stream' is enabled.",
            "stream_options",
            "invalid_value",
        )
    if body.get("tool_choice") is not None and not body.get("tools"):
        raise RequestInvalid(
            "Invalid value for 'tool_choice': 'tool_choice' is only allowed when "
            "'tools' are specified.",
            "tool_choice",
        )
    _check_tool_turns(body["messages"])


def _check_tool_turns(messages: list[dict[str, Any]]) -> None:
    if not messages:
        raise RequestInvalid("[] is too short - 'messages'", "messages")
    pending: set[str] = set()
    opened_at = 0
    for i, message in enumerate(messages):
        role = message["role"]
        if role == "tool":
            if message["tool_call_id"] not in pending:
                raise RequestInvalid(
                    "Invalid parameter: messages with role 'tool' must be a response "
                    "to a preceeding message with 'tool_calls'.",
                    f"messages.[{i}].role",
                )
            pending.discard(message["tool_call_id"])
            continue
        if pending:
            break
        if role == "assistant" and message.get("tool_calls"):
            pending = {call["id"] for call in message["tool_calls"]}
            opened_at = i
    if pending:
        raise RequestInvalid(
            "An assistant message with 'tool_calls' must be followed by tool messages "
            "responding to each 'tool_call_id'. The following tool_call_ids did not "
            f"have response messages: {', '.join(sorted(pending))}",
            f"messages.[{opened_at}].role",
        )


def _content(content: Any) -> tuple[list[str], int]:
    if isinstance(content, str):
        return [content], 0
    texts, images = [], 0
    for part in content or []:
        if part.get("type") == "text":
            texts.append(part["text"])
        elif part.get("type") in _IMAGE_PARTS:
            images += 1
    return texts, images


def conversation_from(body: dict[str, Any]) -> Conversation:
    """What the fake model sees in a (valid) Chat Completions request."""
    conv = Conversation(turns=[])
    for message in body["messages"]:
        texts, images = _content(message.get("content"))
        role = message["role"]
        if role in ("system", "developer"):
            conv.system.extend(texts)
        elif role in ("tool", "function"):
            if not conv.turns or conv.turns[-1].role != "tool":
                conv.turns.append(Turn("tool"))
            conv.turns[-1].texts.append(" ".join(texts))
        else:
            conv.turns.append(Turn("user" if role == "user" else "assistant", texts, images))
    for tool in body.get("tools") or []:
        if tool.get("type") == "function":
            conv.tools.append(
                Tool(tool["function"]["name"], tool["function"].get("parameters") or {})
            )
    choice = body.get("tool_choice") or "auto"
    conv.tool_choice = (
        choice if isinstance(choice, str) else choice.get("function", {}).get("name", "auto")
    )
    conv.max_tokens = body.get("max_completion_tokens") or body.get("max_tokens")
    stop = body.get("stop")
    conv.stop = [stop] if isinstance(stop, str) else list(stop or [])
    fmt = body.get("response_format") or {}
    conv.json_mode = fmt.get("type") in ("json_object", "json_schema")
    if fmt.get("type") == "json_schema":
        conv.json_schema = fmt["json_schema"].get("schema") or {}
    conv.reasoning = body.get("reasoning_effort") not in (None, "none")
    return conv


def usage_json(usage: Usage) -> dict[str, Any]:
    prompt_details = {"cached_tokens": usage.cache_read, "audio_tokens": 0}
    if usage.cache_write:
        prompt_details["cache_write_tokens"] = usage.cache_write
    return {
        "prompt_tokens": usage.prompt,
        "completion_tokens": usage.completion,
        "total_tokens": usage.total,
        "prompt_tokens_details": prompt_details,
        "completion_tokens_details": {
            "reasoning_tokens": usage.reasoning,
            "audio_tokens": 0,
            "accepted_prediction_tokens": 0,
            "rejected_prediction_tokens": 0,
        },
    }


@dataclass(frozen=True)
class Ids:
    """What identifies one response: its id, creation time, model shown and tool call id."""

    ident: str
    created: int
    model: str
    call_id: str

    @classmethod
    def new(cls, model: str) -> Ids:
        return cls(
            f"chatcmpl-{secrets.token_hex(12)}",
            int(time.time()),
            model,
            f"call_{secrets.token_hex(12)}",
        )


def completion(reply: Reply, ids: Ids) -> dict[str, Any]:
    """A `chat.completion` body."""
    ident, created, model, call_id = ids.ident, ids.created, ids.model, ids.call_id
    message: dict[str, Any] = {
        "role": "assistant",
        "content": reply.text,
        "refusal": None,
        "annotations": [],
    }
    if reply.tool_call is not None:
        message["tool_calls"] = [
            {
                "id": call_id,
                "type": "function",
                "function": {
                    "name": reply.tool_call.name,
                    "arguments": reply.tool_call.arguments_json,
                },
            }
        ]
    return {
        "id": ident,
        "object": "chat.completion",
        "created": created,
        "model": model,
        "choices": [
            {"index": 0, "message": message, "logprobs": None, "finish_reason": reply.finish}
        ],
        "usage": usage_json(reply.usage),
        "service_tier": "default",
        "system_fingerprint": FINGERPRINT,
    }


def chunks(reply: Reply, ids: Ids, *, include_usage: bool) -> list[dict[str, Any]]:
    """The `chat.completion.chunk` objects of a stream, usage chunk last when asked for."""
    ident, created, model, call_id = ids.ident, ids.created, ids.model, ids.call_id

    def chunk(choices: list[dict[str, Any]]) -> dict[str, Any]:
        body = {
            "id": ident,
            "object": "chat.completion.chunk",
            "created": created,
            "model": model,
            "service_tier": "default",
            "system_fingerprint": FINGERPRINT,
            "choices": choices,
        }
        return {**body, "usage": None} if include_usage else body

    def choice(delta: dict[str, Any], finish: str | None = None) -> dict[str, Any]:
        return {"index": 0, "delta": delta, "logprobs": None, "finish_reason": finish}

    call = reply.tool_call
    first: dict[str, Any]
    deltas: list[dict[str, Any]]
    if call is not None:
        first = {
            "role": "assistant",
            "content": None,
            "refusal": None,
            "tool_calls": [
                {
                    "index": 0,
                    "id": call_id,
                    "type": "function",
                    "function": {"name": call.name, "arguments": ""},
                }
            ],
        }
        deltas = [
            {"tool_calls": [{"index": 0, "function": {"arguments": piece}}]}
            for piece in json_pieces(call.arguments_json)
        ]
    else:
        first = {"role": "assistant", "content": "", "refusal": None}
        deltas = [{"content": piece} for piece in text_pieces(reply.text or "")]
    out = [chunk([choice(first)])] + [chunk([choice(d)]) for d in deltas]
    out.append(chunk([choice({}, reply.finish)]))
    if include_usage:
        out.append({**chunk([]), "usage": usage_json(reply.usage)})
    return out
