"""Anthropic answers as OpenAI's: a `message` body as a chat.completion (`completion_from`) and the
SSE events as chunks (`StreamTranslator`), sharing the finish-reason and usage mapping so both ways
agree. Thinking comes out as `reasoning_content`, plus `thinking_blocks` to send back with tool calls.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import orjson

from ..types import ChatChunk, ChatResponse, Json, Usage
from ._anthropic_request import JSON_TOOL
from ._openai_out import Chunks, choice, completion, tool_call

__all__ = ["StreamTranslator", "completion_from", "finish_reason", "usage_from"]

_FINISH = {
    "end_turn": "stop", "stop_sequence": "stop", "pause_turn": "stop", "max_tokens": "length",
    "model_context_window_exceeded": "length", "tool_use": "tool_calls", "refusal": "content_filter",
}


def finish_reason(stop_reason: str | None, json_mode: bool) -> str:
    """Anthropic `stop_reason` -> OpenAI `finish_reason` (the json_object tool ends in "stop")."""
    if json_mode and stop_reason == "tool_use":
        return "stop"
    return _FINISH.get(stop_reason or "", "stop")


def usage_from(u: Mapping[str, Any]) -> Usage:
    """OpenAI's prompt_tokens include cache reads and writes; Anthropic's input_tokens do not."""
    fresh, out = _int(u.get("input_tokens")), _int(u.get("output_tokens"))
    read, write = _int(u.get("cache_read_input_tokens")), _int(u.get("cache_creation_input_tokens"))
    prompt = fresh + read + write
    return Usage(prompt, out, prompt + out, read, write, 0)


def _int(v: Any) -> int:
    return v if type(v) is int else 0


def _thinking_block(block: Json) -> Json:
    if block["type"] == "thinking":
        return {"type": "thinking", "thinking": block.get("thinking", ""), "signature": block.get("signature", "")}
    return {"type": "redacted_thinking", "data": block.get("data", "")}


def completion_from(data: Json, model: str, json_mode: bool) -> ChatResponse:
    """A non-stream `message` as a chat.completion."""
    if not isinstance(data, dict) or data.get("type") != "message":
        raise ValueError("not an Anthropic message")
    texts: list[str] = []
    calls: list[Json] = []
    thinking: list[Json] = []
    for block in data["content"]:
        kind = block["type"]
        if kind == "text":
            texts.append(block["text"])
        elif kind == "tool_use":
            args = orjson.dumps(block["input"]).decode()
            if json_mode and block["name"] == JSON_TOOL:
                texts.append(args)
            else:
                calls.append(tool_call(block["id"], block["name"], args))
        elif kind in ("thinking", "redacted_thinking"):
            thinking.append(_thinking_block(block))
        # server-tool blocks never appear: the gateway sends no server tools
    text = "".join(texts) if texts else (None if calls else "")
    reasoning = "".join(b["thinking"] for b in thinking if b["type"] == "thinking") or None
    one = choice(0, text, calls, finish_reason(data.get("stop_reason"), json_mode), reasoning, thinking)
    return completion(data["id"], data.get("model") or model, [one], usage_from(data.get("usage") or {}))


class StreamTranslator:
    """Feed it each stream event (`event`); it returns the chunks to relay and sets `done` at
    message_stop. Content blocks are tracked by index: tool calls get OpenAI's own indexes."""

    def __init__(self, model: str, json_mode: bool) -> None:
        self.model = model
        self.json_mode = json_mode
        self.out: Chunks | None = None
        self.usage: dict[str, Any] = {}
        self.roles: dict[int, tuple[str, int]] = {}  # block index -> (what it carries, tool call index)
        self.thinking: dict[int, Json] = {}  # block index -> the thinking block being streamed
        self.tools = 0
        self.finish = "stop"
        self.done = False

    def event(self, kind: str, data: Json) -> list[ChatChunk]:
        if kind == "message_start":
            msg = data["message"]
            self.out = Chunks(msg["id"], msg.get("model") or self.model)
            self.usage.update(msg.get("usage") or {})
            return [self.out.delta({"role": "assistant", "content": ""})]
        out = self.out
        if out is None:
            raise ValueError(f"{kind} before message_start")
        if kind == "content_block_start":
            return self._start(out, data["index"], data["content_block"])
        if kind == "content_block_delta":
            piece = self._delta(data["index"], data["delta"])
            return [out.delta(piece)] if piece is not None else []
        if kind == "content_block_stop" and data["index"] in self.thinking:
            return [out.delta({"thinking_blocks": [self.thinking.pop(data["index"])]})]
        if kind == "message_delta":
            if (data.get("delta") or {}).get("stop_reason"):
                self.finish = finish_reason(data["delta"]["stop_reason"], self.json_mode)
            self.usage.update({k: v for k, v in (data.get("usage") or {}).items() if v is not None})
        elif kind == "message_stop":
            self.done = True
            return [out.finish(self.finish), out.usage(usage_from(self.usage))]
        return []  # ping, other content_block_stop, and event types added later

    def _start(self, out: Chunks, index: int, block: Json) -> list[ChatChunk]:
        kind = block["type"]
        if kind == "tool_use" and self.json_mode and block["name"] == JSON_TOOL:
            self.roles[index] = ("json", 0)
        elif kind == "tool_use":
            self.roles[index] = ("tool", self.tools)
            self.tools += 1
            call = {"index": self.roles[index][1], **tool_call(block["id"], block["name"], "")}
            return [out.delta({"tool_calls": [call]})]
        elif kind in ("thinking", "redacted_thinking"):
            self.thinking[index] = _thinking_block(block)
            if block.get("thinking"):
                return [out.delta({"reasoning_content": block["thinking"]})]
        elif kind == "text" and block.get("text"):
            return [out.delta({"content": block["text"]})]
        return []

    def _delta(self, index: int, delta: Json) -> Json | None:
        kind = delta["type"]
        if kind == "text_delta" and delta["text"]:
            return {"content": delta["text"]}
        if kind == "thinking_delta" and index in self.thinking:
            self.thinking[index]["thinking"] += delta["thinking"]
            return {"reasoning_content": delta["thinking"]} if delta["thinking"] else None
        if kind == "signature_delta" and index in self.thinking:
            self.thinking[index]["signature"] += delta["signature"]
            return None
        role, tool_index = self.roles.get(index, ("", 0))
        if kind == "input_json_delta" and delta["partial_json"]:
            if role == "tool":
                return {"tool_calls": [{"index": tool_index, "function": {"arguments": delta["partial_json"]}}]}
            if role == "json":
                return {"content": delta["partial_json"]}
        return None  # citations_delta, empty pieces
