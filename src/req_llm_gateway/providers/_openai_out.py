"""OpenAI-shaped output for the translating wire formats: chat.completion bodies, stream chunks,
and the final usage chunk (`choices: []`), which every translated stream produces."""

from __future__ import annotations

import time

from ..types import ChatChunk, ChatResponse, Json, Usage

__all__ = ["Chunks", "choice", "completion", "tool_call"]


def tool_call(call_id: str, name: str, arguments: str) -> Json:
    return {"id": call_id, "type": "function", "function": {"name": name, "arguments": arguments}}


def choice(index: int, text: str | None, calls: list[Json], finish: str, reasoning: str | None = None,
           thinking_blocks: list[Json] | None = None) -> Json:
    """One non-stream choice. `reasoning` (the provider's visible thinking) rides in
    `message.reasoning_content`, the field OpenAI-compatible reasoning APIs use; `thinking_blocks`
    carry what a provider needs back on the next turn (Anthropic's signed thinking)."""
    message: Json = {"role": "assistant", "content": text, "refusal": None}
    if calls:
        message["tool_calls"] = calls
    if reasoning:
        message["reasoning_content"] = reasoning
    if thinking_blocks:
        message["thinking_blocks"] = thinking_blocks
    return {"index": index, "message": message, "logprobs": None, "finish_reason": finish}


def completion(response_id: str, model: str, choices: list[Json], usage: Usage) -> ChatResponse:
    body = {
        "id": response_id,
        "object": "chat.completion",
        "created": int(time.time()),
        "model": model,
        "choices": choices,
        "usage": usage.to_openai(),
    }
    return ChatResponse(body=body, usage=usage)


class Chunks:
    """Builds the chat.completion.chunk objects of one stream.

        out = Chunks("msg_1", "claude-x")
        out.delta({"content": "Hi"}); out.finish("stop"); out.usage(Usage(3, 1, 4))
    """

    def __init__(self, response_id: str, model: str) -> None:
        self.id = response_id
        self.model = model
        self.created = int(time.time())

    def _obj(self, choices: list[Json]) -> Json:
        return {"id": self.id, "object": "chat.completion.chunk", "created": self.created, "model": self.model,
                "choices": choices}

    def delta(self, delta: Json, index: int = 0) -> ChatChunk:
        return ChatChunk(obj=self._obj([{"index": index, "delta": delta, "logprobs": None, "finish_reason": None}]))

    def finish(self, reason: str, index: int = 0) -> ChatChunk:
        obj = self._obj([{"index": index, "delta": {}, "logprobs": None, "finish_reason": reason}])
        return ChatChunk(obj=obj, finish_reason=reason)

    def usage(self, usage: Usage) -> ChatChunk:
        obj = self._obj([])
        obj["usage"] = usage.to_openai()
        return ChatChunk(obj=obj, usage=usage)
