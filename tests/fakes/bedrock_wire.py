"""Bedrock Converse wire format: request -> `Conversation`, `Reply` -> response or stream events.

Pure translation; the binary framing lives in `eventstream.py`, validation in
`bedrock_schema.py`.
"""

from __future__ import annotations

import json
import string
from typing import Any

from .conversation import (
    REASONING_SIGNATURE,
    Conversation,
    Reply,
    Tool,
    Turn,
    json_pieces,
    text_pieces,
)

_MEDIA = ("image", "document", "video", "audio")
_STOP = {"stop": "end_turn", "length": "max_tokens", "tool_calls": "tool_use"}
_PADDING = string.ascii_letters + string.digits  # real events carry a "p" field of this kind


def _result_text(result: dict[str, Any]) -> str:
    texts = [
        c["text"] if "text" in c else json.dumps(c["json"])
        for c in result.get("content", [])
        if "text" in c or "json" in c
    ]
    return " ".join(texts)


def _add_message(conv: Conversation, message: dict[str, Any]) -> None:
    blocks = message["content"]
    results = [_result_text(b["toolResult"]) for b in blocks if "toolResult" in b]
    if results:
        conv.turns.append(Turn("tool", results))
    texts = [b["text"] for b in blocks if "text" in b]
    media = sum(1 for b in blocks if any(k in b for k in _MEDIA))
    if texts or media or not results:
        conv.turns.append(
            Turn("assistant" if message["role"] == "assistant" else "user", texts, media)
        )


def conversation_from(body: dict[str, Any]) -> Conversation:
    """What the fake model sees in a (valid) Converse request."""
    conv = Conversation(turns=[], system=[b["text"] for b in body.get("system", []) if "text" in b])
    for message in body["messages"]:
        _add_message(conv, message)
    tool_config = body.get("toolConfig") or {}
    for tool in tool_config.get("tools", []):
        if "toolSpec" in tool:
            spec = tool["toolSpec"]
            conv.tools.append(Tool(spec["name"], spec["inputSchema"].get("json") or {}))
    choice = tool_config.get("toolChoice") or {"auto": {}}
    conv.tool_choice = "required" if "any" in choice else choice.get("tool", {}).get("name", "auto")
    inference = body.get("inferenceConfig") or {}
    conv.max_tokens = inference.get("maxTokens")
    conv.stop = list(inference.get("stopSequences") or [])
    text_format = (body.get("outputConfig") or {}).get("textFormat") or {}
    if text_format.get("type") == "json_schema":
        conv.json_mode = True
        conv.json_schema = json.loads(text_format["structure"]["jsonSchema"]["schema"])
    thinking = (body.get("additionalModelRequestFields") or {}).get("thinking") or {}
    conv.reasoning = thinking.get("type") in ("enabled", "adaptive")
    return conv


def usage_json(reply: Reply) -> dict[str, Any]:
    usage = reply.usage
    out = {
        "inputTokens": usage.uncached_prompt,
        "outputTokens": usage.completion,
        "totalTokens": usage.total,
    }
    if usage.cache_read:
        out["cacheReadInputTokens"] = usage.cache_read
    if usage.cache_write:
        out["cacheWriteInputTokens"] = usage.cache_write
    return out


def _stop_reason(reply: Reply) -> str:
    return "stop_sequence" if reply.stop_sequence else _STOP[reply.finish]


def _content(reply: Reply, tool_id: str) -> list[dict[str, Any]]:
    blocks: list[dict[str, Any]] = []
    if reply.reasoning:
        blocks.append(
            {
                "reasoningContent": {
                    "reasoningText": {"text": reply.reasoning, "signature": REASONING_SIGNATURE}
                }
            }
        )
    if reply.tool_call is not None:
        blocks.append(
            {
                "toolUse": {
                    "toolUseId": tool_id,
                    "name": reply.tool_call.name,
                    "input": reply.tool_call.arguments,
                }
            }
        )
    else:
        blocks.append({"text": reply.text or ""})
    return blocks


def response(reply: Reply, *, tool_id: str, latency_ms: int) -> dict[str, Any]:
    """A Converse response body."""
    return {
        "output": {"message": {"role": "assistant", "content": _content(reply, tool_id)}},
        "stopReason": _stop_reason(reply),
        "usage": usage_json(reply),
        "metrics": {"latencyMs": latency_ms},
    }


def _block_events(index: int, block: dict[str, Any]) -> list[tuple[str, dict[str, Any]]]:
    def delta(d: dict[str, Any]) -> tuple[str, dict[str, Any]]:
        return "contentBlockDelta", {"contentBlockIndex": index, "delta": d}

    out: list[tuple[str, dict[str, Any]]] = []
    if "toolUse" in block:  # only tool use opens with contentBlockStart, as on Bedrock
        use = block["toolUse"]
        start = {"toolUse": {"toolUseId": use["toolUseId"], "name": use["name"]}}
        out.append(("contentBlockStart", {"contentBlockIndex": index, "start": start}))
        out += [delta({"toolUse": {"input": p}}) for p in json_pieces(json.dumps(use["input"]))]
    elif "reasoningContent" in block:
        reasoning = block["reasoningContent"]["reasoningText"]
        out += [delta({"reasoningContent": {"text": p}}) for p in text_pieces(reasoning["text"])]
        out.append(delta({"reasoningContent": {"signature": reasoning["signature"]}}))
    else:
        out += [delta({"text": p}) for p in text_pieces(block["text"])]
    return out + [("contentBlockStop", {"contentBlockIndex": index})]


def stream_events(
    reply: Reply, *, tool_id: str, latency_ms: int
) -> list[tuple[str, dict[str, Any]]]:
    """ConverseStream events as (event type, payload), each payload padded like Bedrock's."""
    out: list[tuple[str, dict[str, Any]]] = [("messageStart", {"role": "assistant"})]
    for index, block in enumerate(_content(reply, tool_id)):
        out += _block_events(index, block)
    out.append(("messageStop", {"stopReason": _stop_reason(reply)}))
    out.append(("metadata", {"usage": usage_json(reply), "metrics": {"latencyMs": latency_ms}}))
    return [
        (kind, {**payload, "p": _PADDING[: 8 + i % 20]}) for i, (kind, payload) in enumerate(out)
    ]
