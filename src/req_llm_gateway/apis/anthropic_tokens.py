"""A local token estimate for `POST /v1/messages/count_tokens` when the provider has no counter of its
own. It errs high on purpose: an under-count makes Claude Code compact its context too late. Text is
counted at 3 UTF-8 bytes a token (English prose runs near 4, code and JSON near 3.3 on Claude's and
OpenAI's tokenizers), tool definitions and tool inputs as their JSON, an image or document as 1600
tokens (Anthropic's cap for an image), plus a few tokens of framing per message. Pure, no I/O.
"""

from __future__ import annotations

from typing import Any

import orjson

from ..types import Json

__all__ = ["estimate"]

BYTES_PER_TOKEN = 3
MEDIA_TOKENS = 1600
MESSAGE_FRAMING = 5
TOOL_FRAMING = 10


def estimate(body: Json) -> int:
    """Input tokens of a Messages body, estimated from above."""
    total = _size(body.get("system"))
    for msg in body.get("messages") or ():
        total += MESSAGE_FRAMING * BYTES_PER_TOKEN + _size(msg.get("content") if isinstance(msg, dict) else msg)
    for tool in body.get("tools") or ():
        total += TOOL_FRAMING * BYTES_PER_TOKEN + len(orjson.dumps(tool))
    media = _media(body.get("messages"))
    return -(-total // BYTES_PER_TOKEN) + media * MEDIA_TOKENS


def _size(value: Any) -> int:
    """UTF-8 bytes of the text in a content value (strings, text/thinking blocks, tool inputs)."""
    if value is None:
        return 0
    if isinstance(value, str):
        return len(value.encode())
    if isinstance(value, list):
        return sum(_size(v) for v in value)
    if not isinstance(value, dict):
        return len(orjson.dumps(value))
    kind = value.get("type")
    if kind in ("image", "document") and isinstance(value.get("source"), dict):
        source = value["source"]
        return len(str(source.get("data", "")).encode()) if source.get("type") == "text" else 0
    if kind == "tool_use":
        return len(str(value.get("name", ""))) + len(orjson.dumps(value.get("input") or {}))
    if kind == "tool_result":
        return _size(value.get("content"))
    return sum(_size(value.get(k)) for k in ("text", "thinking") if isinstance(value.get(k), str))


def _media(value: Any) -> int:
    if isinstance(value, list):
        return sum(_media(v) for v in value)
    if isinstance(value, dict):
        if value.get("type") in ("image", "document") and isinstance(value.get("source"), dict):
            return 0 if value["source"].get("type") == "text" else 1
        return _media(value.get("content"))
    return 0
