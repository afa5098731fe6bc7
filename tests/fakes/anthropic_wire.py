"""Anthropic Messages wire format: validation, request -> `Conversation`, `Reply` -> message/events.

Bodies are checked against the `anthropic` SDK's `MessageCreateParams` TypedDicts (unknown
fields rejected with pydantic-style messages, as the API itself answers). API version
2023-06-01 also accepts `temperature`, `top_p` and `top_k`; 2026-10-21 (the SDK's default)
rejects them, as the real API does.
"""

from __future__ import annotations

import json
from functools import cache
from typing import Any

from anthropic.types import message_create_params as params

from .conversation import (
    REASONING_SIGNATURE,
    Conversation,
    Reply,
    Tool,
    Turn,
    Usage,
    json_pieces,
    text_pieces,
)
from .sdk_schema import StrictSchema

VERSIONS = ("2023-06-01", "2026-10-21")
_SAMPLING = {"temperature": "float", "top_p": "float", "top_k": "int"}
_MEDIA = {"image", "document"}
_STOP = {"stop": "end_turn", "length": "max_tokens", "tool_calls": "tool_use"}


class RequestInvalid(Exception):
    """An `invalid_request_error` the real API would send."""


@cache
def _schema(version: str, stream: bool) -> StrictSchema:
    kind = params.MessageCreateParamsStreaming if stream else params.MessageCreateParamsNonStreaming
    return StrictSchema(kind, _SAMPLING if version == "2023-06-01" else None)


def validate(body: Any, version: str) -> None:
    """Raise `RequestInvalid` with the API's message for a body it would reject."""
    if not isinstance(body, dict):
        raise RequestInvalid("Input should be a valid dictionary")
    error = _schema(version, body.get("stream") is True).first_error(body)
    if error is not None:
        raise RequestInvalid(str(error))
    if not body["messages"]:
        raise RequestInvalid("messages: at least one message is required")
    if body["max_tokens"] < 1:
        raise RequestInvalid("max_tokens: Input should be greater than or equal to 1")
    if body.get("tool_choice") and not body.get("tools"):
        raise RequestInvalid("tool_choice may only be specified while providing tools")
    thinking = body.get("thinking") or {}
    if thinking.get("type") == "enabled":
        if thinking["budget_tokens"] < 1024:
            raise RequestInvalid(
                "thinking.enabled.budget_tokens: Input should be greater than or equal to 1024"
            )
        if body["max_tokens"] <= thinking["budget_tokens"]:
            raise RequestInvalid("`max_tokens` must be greater than `thinking.budget_tokens`.")
    _check_tool_pairs(body["messages"])


def validate_beta(body: Any) -> None:
    """A beta request: the required fields and the tool pairing; newer beta fields pass."""
    if not isinstance(body, dict):
        raise RequestInvalid("Input should be a valid dictionary")
    for key, kind in (("model", str), ("max_tokens", int), ("messages", list)):
        if not isinstance(body.get(key), kind):
            raise RequestInvalid(f"{key}: Field required")
    if not body["messages"]:
        raise RequestInvalid("messages: at least one message is required")
    _check_tool_pairs(body["messages"])


def _blocks(message: dict[str, Any], kind: str) -> list[dict[str, Any]]:
    content = message.get("content")
    return [b for b in content if b.get("type") == kind] if isinstance(content, list) else []


def _check_tool_pairs(messages: list[dict[str, Any]]) -> None:
    for i, message in enumerate(messages):
        previous = messages[i - 1] if i else {}
        used = (
            {b["id"] for b in _blocks(previous, "tool_use")}
            if previous.get("role") == "assistant"
            else set()
        )
        results = [b["tool_use_id"] for b in _blocks(message, "tool_result")]
        stray = [r for r in results if r not in used]
        if message["role"] == "user" and stray:
            raise RequestInvalid(
                f"messages.{i}.content.0: unexpected `tool_use_id` found in `tool_result` blocks: "
                f"{', '.join(stray)}. Each `tool_result` block must have a corresponding "
                "`tool_use` "
                "block in the previous message."
            )
        missing = sorted(used - set(results)) if used else []
        if missing and message["role"] == "user":
            raise RequestInvalid(
                f"messages.{i - 1}: `tool_use` ids were found without `tool_result` blocks "
                f"immediately after: {', '.join(missing)}. Each `tool_use` block must have a "
                "corresponding `tool_result` block in the next message."
            )


def _text_of(content: Any) -> list[str]:
    if isinstance(content, str):
        return [content]
    return [b["text"] for b in content or [] if b.get("type") == "text"]


def _add_message(conv: Conversation, message: dict[str, Any]) -> None:
    content = message["content"]
    if message["role"] == "system":
        conv.system.extend(_text_of(content))
        return
    results = [" ".join(_text_of(b.get("content"))) for b in _blocks(message, "tool_result")]
    if results:
        conv.turns.append(Turn("tool", results))
    texts = _text_of(content)
    media = sum(1 for b in content if b.get("type") in _MEDIA) if isinstance(content, list) else 0
    if texts or media or not results:
        conv.turns.append(Turn(message["role"], texts, media))


def conversation_from(body: dict[str, Any]) -> Conversation:
    """What the fake model sees in a (valid) Messages request."""
    conv = Conversation(turns=[], system=_text_of(body.get("system")))
    for message in body["messages"]:
        _add_message(conv, message)
    conv.tools = [
        Tool(t["name"], t["input_schema"]) for t in body.get("tools") or [] if "input_schema" in t
    ]
    choice = body.get("tool_choice") or {"type": "auto"}
    conv.tool_choice = {"any": "required", "tool": choice.get("name", "")}.get(
        choice["type"], choice["type"]
    )
    conv.max_tokens = body["max_tokens"]
    conv.stop = list(body.get("stop_sequences") or [])
    fmt = (body.get("output_config") or {}).get("format")
    if fmt:
        conv.json_schema = fmt.get("schema") or {}
    conv.reasoning = (body.get("thinking") or {}).get("type") in ("enabled", "adaptive")
    return conv


def usage_json(usage: Usage, *, output_tokens: int | None = None) -> dict[str, Any]:
    return {
        "input_tokens": usage.uncached_prompt,
        "cache_creation_input_tokens": usage.cache_write,
        "cache_read_input_tokens": usage.cache_read,
        "cache_creation": {
            "ephemeral_5m_input_tokens": usage.cache_write,
            "ephemeral_1h_input_tokens": 0,
        },
        "output_tokens": usage.completion if output_tokens is None else output_tokens,
        "service_tier": "standard",
    }


def _content(reply: Reply, tool_id: str) -> list[dict[str, Any]]:
    blocks: list[dict[str, Any]] = []
    if reply.reasoning:
        blocks.append(
            {"type": "thinking", "thinking": reply.reasoning, "signature": REASONING_SIGNATURE}
        )
    if reply.tool_call is not None:
        blocks.append(
            {
                "type": "tool_use",
                "id": tool_id,
                "name": reply.tool_call.name,
                "input": reply.tool_call.arguments,
            }
        )
    else:
        blocks.append({"type": "text", "text": reply.text or ""})
    return blocks


def _stop(reply: Reply) -> dict[str, Any]:
    reason = "stop_sequence" if reply.stop_sequence else _STOP[reply.finish]
    return {"stop_reason": reason, "stop_sequence": reply.stop_sequence}


def message(reply: Reply, *, ident: str, model: str, tool_id: str) -> dict[str, Any]:
    """A non-stream `message` body."""
    return {
        "id": ident,
        "type": "message",
        "role": "assistant",
        "model": model,
        "content": _content(reply, tool_id),
        **_stop(reply),
        "usage": usage_json(reply.usage),
    }


def _block_events(index: int, block: dict[str, Any]) -> list[dict[str, Any]]:
    kind = block["type"]
    start: dict[str, Any]
    deltas: list[dict[str, Any]]
    if kind == "thinking":
        start = {"type": "thinking", "thinking": "", "signature": ""}
        deltas = [{"type": "thinking_delta", "thinking": p} for p in text_pieces(block["thinking"])]
        deltas.append({"type": "signature_delta", "signature": block["signature"]})
    elif kind == "tool_use":
        start = {**block, "input": {}}
        pieces = [""] + json_pieces(json.dumps(block["input"]))
        deltas = [{"type": "input_json_delta", "partial_json": p} for p in pieces]
    else:
        start = {"type": "text", "text": ""}
        deltas = [{"type": "text_delta", "text": p} for p in text_pieces(block["text"])]
    return (
        [{"type": "content_block_start", "index": index, "content_block": start}]
        + [{"type": "content_block_delta", "index": index, "delta": d} for d in deltas]
        + [{"type": "content_block_stop", "index": index}]
    )


def events(reply: Reply, *, ident: str, model: str, tool_id: str) -> list[dict[str, Any]]:
    """The stream's event payloads in order; each payload's `type` is its SSE event name."""
    start: dict[str, Any] = {
        "id": ident,
        "type": "message",
        "role": "assistant",
        "model": model,
        "content": [],
        "stop_reason": None,
        "stop_sequence": None,
        "usage": usage_json(reply.usage, output_tokens=1),
    }
    out: list[dict[str, Any]] = [{"type": "message_start", "message": start}]
    for index, block in enumerate(_content(reply, tool_id)):
        out.extend(_block_events(index, block))
        if index == 0:
            out.insert(2, {"type": "ping"})
    out.append(
        {
            "type": "message_delta",
            "delta": _stop(reply),
            "usage": {"output_tokens": reply.usage.completion},
        }
    )
    out.append({"type": "message_stop"})
    return out
