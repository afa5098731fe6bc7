"""Bedrock Converse responses and ConverseStream events as OpenAI chat completions and chunks.

Both directions share `finish_reason` and `usage`, so a streamed and a non-streamed answer report
the same finish reason and the same token counts.
"""

from __future__ import annotations

import time
import uuid
from typing import Any

import orjson

from ..types import ChatChunk, ChatRequest, ChatResponse, Json, Usage

__all__ = ["ConverseStream", "completion", "finish_reason", "usage"]

FINISH_REASONS = {
    "end_turn": "stop", "stop_sequence": "stop", "max_tokens": "length",
    "model_context_window_exceeded": "length", "tool_use": "tool_calls",
    "content_filtered": "content_filter", "guardrail_intervened": "content_filter",
}


def finish_reason(stop_reason: Any) -> str:
    """Converse `stopReason` -> OpenAI `finish_reason` (unknown reasons, e.g. malformed output: stop)."""
    return FINISH_REASONS.get(stop_reason, "stop")


def usage(u: Any) -> Usage | None:
    """Converse `usage` -> `Usage`. `inputTokens` excludes cache reads and writes; OpenAI's
    `prompt_tokens` includes both, with reads as `cached_tokens`."""
    if not isinstance(u, dict):
        return None
    read, write = _int(u.get("cacheReadInputTokens")), _int(u.get("cacheWriteInputTokens"))
    prompt = _int(u.get("inputTokens")) + read + write
    completion_tokens = _int(u.get("outputTokens"))
    return Usage(prompt, completion_tokens, prompt + completion_tokens, read, write)


def _int(v: Any) -> int:
    return v if type(v) is int else 0


def _id() -> str:
    return "chatcmpl-" + uuid.uuid4().hex


def completion(data: Json, req: ChatRequest) -> ChatResponse:
    """A Converse response body as a `chat.completion`."""
    blocks = data["output"]["message"]["content"]
    text: list[str] = []
    reasoning: list[str] = []
    calls: list[Json] = []
    for block in blocks:
        if "text" in block:
            text.append(block["text"])
        elif "toolUse" in block:
            use = block["toolUse"]
            calls.append({"id": use["toolUseId"], "type": "function", "function": {
                "name": use["name"], "arguments": orjson.dumps(use.get("input", {})).decode()}})
        elif "reasoningContent" in block:
            reasoning.append((block["reasoningContent"].get("reasoningText") or {}).get("text", ""))
    message: Json = {"role": "assistant", "content": "".join(text) if text or not calls else None, "refusal": None}
    if reasoning:
        message["reasoning_content"] = "".join(reasoning)
    if calls:
        message["tool_calls"] = calls
    u = usage(data.get("usage"))
    body: Json = {
        "id": _id(), "object": "chat.completion", "created": int(time.time()), "model": req.model,
        "choices": [{"index": 0, "message": message, "finish_reason": finish_reason(data.get("stopReason")),
                     "logprobs": None}],
    }
    if u is not None:
        body["usage"] = u.to_openai()
    tier = data.get("serviceTier")
    if isinstance(tier, dict) and tier.get("type"):
        body["service_tier"] = tier["type"]
    return ChatResponse(body=body, usage=u)


class ConverseStream:
    """ConverseStream events in, `chat.completion.chunk`s out; one instance per stream.

    messageStart -> role chunk; contentBlockStart(toolUse) -> tool call header; contentBlockDelta ->
    content / tool arguments / reasoning_content; messageStop -> finish chunk; metadata -> usage chunk
    (empty `choices`, as OpenAI sends with `include_usage`).
    """

    def __init__(self, req: ChatRequest) -> None:
        self.id = _id()
        self.created = int(time.time())
        self.model = req.model
        self.tools: dict[int, int] = {}  # contentBlockIndex -> OpenAI tool_calls index
        self.finished = False
        self.usage_seen = False

    def _chunk(self, delta: Json, finish: str | None = None) -> ChatChunk:
        obj = {"id": self.id, "object": "chat.completion.chunk", "created": self.created, "model": self.model,
               "choices": [{"index": 0, "delta": delta, "finish_reason": finish}]}
        return ChatChunk(obj=obj, finish_reason=finish)

    def event(self, name: str, ev: Json) -> ChatChunk | None:
        """The chunk for one event, or None for events with nothing to say (contentBlockStop, ...)."""
        if name == "messageStart":
            return self._chunk({"role": ev.get("role", "assistant"), "content": ""})
        if name == "contentBlockStart":
            use = (ev.get("start") or {}).get("toolUse")
            if use is None:
                return None
            index = self.tools[ev["contentBlockIndex"]] = len(self.tools)
            return self._chunk({"tool_calls": [{"index": index, "id": use["toolUseId"], "type": "function",
                                                "function": {"name": use["name"], "arguments": ""}}]})
        if name == "contentBlockDelta":
            return self._delta(ev)
        if name == "messageStop":
            self.finished = True
            return self._chunk({}, finish_reason(ev.get("stopReason")))
        if name == "metadata":
            self.usage_seen = True
            u = usage(ev.get("usage")) or Usage()
            obj = {"id": self.id, "object": "chat.completion.chunk", "created": self.created,
                   "model": self.model, "choices": [], "usage": u.to_openai()}
            tier = ev.get("serviceTier")
            if isinstance(tier, dict) and tier.get("type"):
                obj["service_tier"] = tier["type"]
            return ChatChunk(obj=obj, usage=u)
        return None

    def _delta(self, ev: Json) -> ChatChunk | None:
        delta = ev.get("delta") or {}
        if "text" in delta:
            return self._chunk({"content": delta["text"]})
        if "toolUse" in delta:
            index = self.tools.get(ev["contentBlockIndex"])
            if index is None:
                raise ValueError("tool input delta for a block that never started")
            return self._chunk({"tool_calls": [{"index": index, "function": {"arguments": delta["toolUse"]["input"]}}]})
        reasoning = delta.get("reasoningContent")
        if isinstance(reasoning, dict) and reasoning.get("text"):
            return self._chunk({"reasoning_content": reasoning["text"]})
        return None  # reasoning signatures, redacted reasoning, citations: nothing OpenAI-shaped to say
