"""Canonical answers rendered as Anthropic Messages: a chat completion as a `message` (`message_from`),
a chunk stream as Anthropic's named SSE events (`EventWriter`). Both share the stop-reason, usage and
tool-id mapping, so a stream accumulates into the same message as the non-stream answer.

The event grammar: message_start, then content blocks one at a time (content_block_start, deltas,
content_block_stop), then message_delta (stop reason, final usage) and message_stop; ping any time.
"""

from __future__ import annotations

import re
import secrets
from typing import Any

import orjson

from ..types import ChatChunk, ChatResponse, Json, Usage
from .anthropic_messages import ToolNames

__all__ = ["EventWriter", "event", "message_from", "stop_reason", "tool_id", "usage_json"]

_STOP = {"stop": "end_turn", "length": "max_tokens", "tool_calls": "tool_use", "function_call": "tool_use",
         "content_filter": "refusal"}
_BAD_ID = re.compile(r"[^A-Za-z0-9_-]")
PING = b'event: ping\ndata: {"type":"ping"}\n\n'


def stop_reason(finish: str | None) -> str:
    return _STOP.get(finish or "stop", "end_turn")


def usage_json(u: Usage | None) -> Json:
    """Anthropic's usage: `input_tokens` excludes cache reads and writes (OpenAI's prompt_tokens include them)."""
    u = u or Usage()
    fresh = max(0, u.prompt_tokens - u.cached_tokens - u.cache_write_tokens)
    return {"input_tokens": fresh, "cache_creation_input_tokens": u.cache_write_tokens,
            "cache_read_input_tokens": u.cached_tokens, "output_tokens": u.completion_tokens}


def tool_id(raw: Any) -> str:
    """A tool-use id matching Anthropic's `^[a-zA-Z0-9_-]+$`."""
    text = _BAD_ID.sub("_", raw) if isinstance(raw, str) else ""
    return text or "toolu_" + secrets.token_hex(12)


def _input(arguments: Any) -> Json:
    if isinstance(arguments, dict):
        return arguments
    try:
        value = orjson.loads(arguments or "{}")
    except orjson.JSONDecodeError:
        return {"arguments": arguments}
    return value if isinstance(value, dict) else {"value": value}


def message_from(resp: ChatResponse, msg_id: str, model: str, names: ToolNames) -> Json:
    """A non-stream chat completion as Anthropic's `message`."""
    choices = resp.body.get("choices") or [{}]
    msg = choices[0].get("message") or {}
    content: list[Json] = []
    if msg.get("reasoning_content"):
        content.append({"type": "thinking", "thinking": msg["reasoning_content"], "signature": ""})
    calls = msg.get("tool_calls") or []
    text = msg.get("content")
    if text or not calls:
        content.append({"type": "text", "text": text or ""})
    for call in calls:
        fn = call.get("function") or {}
        content.append({"type": "tool_use", "id": tool_id(call.get("id")), "name": names.original(fn.get("name", "")),
                        "input": _input(fn.get("arguments"))})
    return {"id": msg_id, "type": "message", "role": "assistant", "model": model, "content": content,
            "stop_reason": stop_reason(choices[0].get("finish_reason")), "stop_sequence": None,
            "usage": usage_json(resp.usage)}


def event(name: bytes, payload: Json) -> bytes:
    return b"event: " + name + b"\ndata: " + orjson.dumps(payload) + b"\n\n"


class EventWriter:
    """Chat chunks in, Anthropic SSE events out: `start()`, `chunk(c)` per chunk, `end()`. One content
    block is open at a time; a change of kind (thinking, text, a tool call) closes it first."""

    def __init__(self, msg_id: str, model: str, names: ToolNames) -> None:
        self.msg_id = msg_id
        self.model = model
        self.names = names
        self.index = -1
        self.open: str | None = None  # "thinking", "text" or "tool:<n>"
        self.finish: str | None = None
        self.usage: Usage | None = None

    def start(self) -> bytes:
        message: Json = {"id": self.msg_id, "type": "message", "role": "assistant", "model": self.model, "content": [],
                   "stop_reason": None, "stop_sequence": None, "usage": usage_json(None)}
        return event(b"message_start", {"type": "message_start", "message": message})

    def chunk(self, chunk: ChatChunk) -> bytes:
        if chunk.usage is not None:
            self.usage = chunk.usage
        if chunk.finish_reason:
            self.finish = chunk.finish_reason
        obj = chunk.obj if chunk.obj is not None else orjson.loads(chunk.data or b"{}")
        out = b""
        for choice in obj.get("choices") or ():
            if choice.get("finish_reason"):
                self.finish = choice["finish_reason"]
            delta = choice.get("delta") or {}
            if delta.get("reasoning_content"):
                out += self._to("thinking", {"type": "thinking", "thinking": "", "signature": ""})
                out += self._delta({"type": "thinking_delta", "thinking": delta["reasoning_content"]})
            if delta.get("content"):
                out += self._to("text", {"type": "text", "text": ""})
                out += self._delta({"type": "text_delta", "text": delta["content"]})
            for call in delta.get("tool_calls") or ():
                out += self._tool(call)
        return out

    def _tool(self, call: Json) -> bytes:
        key = f"tool:{call.get('index', 0)}"
        fn = call.get("function") or {}
        out = b""
        if key != self.open:
            block = {"type": "tool_use", "id": tool_id(call.get("id")), "name": self.names.original(fn.get("name", "")),
                     "input": {}}
            out = self._to(key, block)
        if fn.get("arguments"):
            out += self._delta({"type": "input_json_delta", "partial_json": fn["arguments"]})
        return out

    def _to(self, kind: str, block: Json) -> bytes:
        if self.open == kind:
            return b""
        out = self._close()
        self.index += 1
        self.open = kind
        return out + event(b"content_block_start", {"type": "content_block_start", "index": self.index,
                                                    "content_block": block})

    def _delta(self, delta: Json) -> bytes:
        return event(b"content_block_delta", {"type": "content_block_delta", "index": self.index, "delta": delta})

    def _close(self) -> bytes:
        if self.open is None:
            return b""
        self.open = None
        return event(b"content_block_stop", {"type": "content_block_stop", "index": self.index})

    def end(self) -> bytes:
        """Close the open block, then message_delta with the final usage and message_stop."""
        out = self._close()
        if self.index < 0:  # an empty answer still has one (empty) text block, as the non-stream message
            out += self._to("text", {"type": "text", "text": ""}) + self._close()
        delta = {"type": "message_delta", "delta": {"stop_reason": stop_reason(self.finish), "stop_sequence": None},
                 "usage": usage_json(self.usage)}
        return out + event(b"message_delta", delta) + event(b"message_stop", {"type": "message_stop"})
