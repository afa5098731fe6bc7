"""Chat chunks -> OpenAI Responses stream events, in OpenAI's order: `response.created`, `response.in_progress`,
then per output item `output_item.added`, its part/summary `added`, deltas, the `.done` events and
`output_item.done`, and last `response.completed` (or `response.incomplete`) with usage. One response id,
item ids stable across events, `sequence_number` increasing from 0. An item is closed before the next opens,
so no delta ever precedes its item's `output_item.added`.
"""

from __future__ import annotations

from typing import Any

import orjson

from ..types import ChatChunk, Json, Usage
from ._responses_render import (
    Context,
    call_item,
    custom_input,
    message_item,
    reasoning_item,
    text_part,
)

__all__ = ["StreamTranslator"]


class _Open:
    """The output item being streamed: its index, its item object and the text gathered so far."""

    __slots__ = ("index", "item", "key", "kind", "pieces")

    def __init__(self, index: int, item: Json, kind: str, key: int = -1) -> None:
        self.index, self.item, self.kind, self.key = index, item, kind, key
        self.pieces: list[str] = []


class StreamTranslator:
    """Feed it the chat chunks of one answer; it returns the SSE bytes to send for each.

        t = StreamTranslator(ctx)
        out = t.start() + b"".join(t.feed(c) for c in chunks) + t.finish()
    """

    def __init__(self, ctx: Context) -> None:
        self.ctx = ctx
        self.seq = 0
        self.output: list[Json] = []
        self.open: _Open | None = None
        self.usage: Usage | None = None
        self.finish_reason: str | None = None
        self._buf: list[bytes] = []

    def _emit(self, kind: str, fields: Json) -> None:
        fields["type"] = kind
        fields["sequence_number"] = self.seq
        self.seq += 1
        self._buf.append(b"event: " + kind.encode() + b"\ndata: " + orjson.dumps(fields) + b"\n\n")

    def _flush(self) -> bytes:
        out = b"".join(self._buf)
        self._buf.clear()
        return out

    def start(self) -> bytes:
        env = self.ctx.envelope("in_progress", [], None)
        self._emit("response.created", {"response": env})
        self._emit("response.in_progress", {"response": env})
        return self._flush()

    def feed(self, chunk: ChatChunk) -> bytes:
        if chunk.usage is not None:
            self.usage = chunk.usage
        obj = chunk.obj if chunk.obj is not None else chunk.as_obj()
        for choice in obj.get("choices") or ():
            if choice.get("index", 0) != 0:
                continue
            delta = choice.get("delta") or {}
            reasoning = delta.get("reasoning_content")
            if reasoning:
                self._reasoning(reasoning)
            content = delta.get("content")
            if content:
                self._text(content)
            for call in delta.get("tool_calls") or ():
                self._call(call)
            if choice.get("finish_reason"):
                self.finish_reason = choice["finish_reason"]
        return self._flush() if self._buf else b""

    def finish(self) -> bytes:
        self._close()
        status = self.ctx.status(self.finish_reason)
        env = self.ctx.envelope(status, self.output, self.usage, self.finish_reason)
        self._emit("response.completed" if status == "completed" else "response.incomplete", {"response": env})
        return self._flush()

    def fail(self, code: str | None, message: str) -> bytes:
        """A `response.failed` event for a stream that broke off after it started."""
        self._close()
        env = self.ctx.envelope("failed", self.output, self.usage)
        env["error"] = {"code": code or "server_error", "message": message}
        self._emit("response.failed", {"response": env})
        return self._flush()

    # -- items ----------------------------------------------------------------------------------------

    def _begin(self, item: Json, kind: str, key: int = -1) -> _Open:
        self._close()
        self.open = _Open(len(self.output), item, kind, key)
        self.output.append(item)
        self._emit("response.output_item.added", {"output_index": self.open.index, "item": dict(item)})
        return self.open

    def _reasoning(self, text: str) -> None:
        item = self.open
        if item is None or item.kind != "reasoning":
            item = self._begin(reasoning_item(self.ctx.item_id("rs"), None), "reasoning")
            self._emit("response.reasoning_summary_part.added", {
                "item_id": item.item["id"], "output_index": item.index, "summary_index": 0,
                "part": {"type": "summary_text", "text": ""}})
        item.pieces.append(text)
        self._emit("response.reasoning_summary_text.delta", {
            "item_id": item.item["id"], "output_index": item.index, "summary_index": 0, "delta": text})

    def _text(self, text: str) -> None:
        item = self.open
        if item is None or item.kind != "message":
            item = self._begin(message_item(self.ctx.item_id("msg"), "", "in_progress"), "message")
            self._emit("response.content_part.added", {
                "item_id": item.item["id"], "output_index": item.index, "content_index": 0, "part": text_part("")})
        item.pieces.append(text)
        self._emit("response.output_text.delta", {
            "item_id": item.item["id"], "output_index": item.index, "content_index": 0, "delta": text,
            "logprobs": []})

    def _call(self, call: Any) -> None:
        index = call.get("index", 0) if isinstance(call, dict) else 0
        fn = call.get("function") or {}
        item = self.open
        if item is None or item.kind not in ("function_call", "custom_tool_call") or item.key != index:
            call_id = str(call.get("id") or self.ctx.item_id("call"))
            made = call_item(self.ctx, call_id, str(fn.get("name") or ""), "", "in_progress")
            item = self._begin(made, made["type"], index)
        args = fn.get("arguments")
        if args:
            item.pieces.append(args)
            if item.kind == "function_call":
                self._emit("response.function_call_arguments.delta", {
                    "item_id": item.item["id"], "output_index": item.index, "delta": args})

    def _close(self) -> None:
        item, self.open = self.open, None
        if item is None:
            return
        text = "".join(item.pieces)
        ids = {"item_id": item.item["id"], "output_index": item.index}
        done = item.item
        if item.kind == "message":
            part = text_part(text)
            self._emit("response.output_text.done", {**ids, "content_index": 0, "text": text, "logprobs": []})
            self._emit("response.content_part.done", {**ids, "content_index": 0, "part": part})
            done.update(status="completed", content=[part])
        elif item.kind == "reasoning":
            part = {"type": "summary_text", "text": text}
            self._emit("response.reasoning_summary_text.done", {**ids, "summary_index": 0, "text": text})
            self._emit("response.reasoning_summary_part.done", {**ids, "summary_index": 0, "part": part})
            done["summary"] = [part]
        elif item.kind == "custom_tool_call":
            value = custom_input(text)
            self._emit("response.custom_tool_call_input.delta", {**ids, "delta": value})
            self._emit("response.custom_tool_call_input.done", {**ids, "input": value})
            done.update(status="completed", input=value)
        else:
            self._emit("response.function_call_arguments.done", {**ids, "name": done["name"], "arguments": text})
            done.update(status="completed", arguments=text)
        self._emit("response.output_item.done", {"output_index": item.index, "item": done})
