"""The `demo` provider: keyless, offline, deterministic. It answers when no provider key is set.

Model names script behaviour (for docs, tests and first runs):
    demo:demo (any other name)  a short, deterministic answer about the prompt
    demo:echo                   repeats the last user message
    demo:slow / demo:slow-<ms>  waits 50 ms (or <ms>) before each word
    demo:error                  fails like an upstream 500 (the gateway answers 502)
    demo:ratelimit              fails like an upstream 429 with Retry-After: 1
    demo:tools                  with `tools` in the request, calls the first tool
Token counts follow a simple word-piece rule (words and punctuation), so they are realistic
in size and identical streamed or not.
"""

from __future__ import annotations

import asyncio
import hashlib
import re
import time
from collections.abc import AsyncGenerator
from typing import Any

import orjson

from ..config import Endpoint
from ..errors import UpstreamError
from ..types import ChatChunk, ChatRequest, ChatResponse, Json, Usage

__all__ = ["DemoProvider", "count_tokens"]

_TOKEN = re.compile(r"\w+|[^\w\s]")
_ANSWERS = (
    "Here is a short answer from the demo provider. It runs offline, so every request is free and repeatable.",
    "The gateway routed this request to the built-in demo provider. Set a provider key to reach a real model.",
    "Hello! This reply comes from req-llm-gateway's demo provider, with realistic token counts and a tiny price.",
    "Every request you send is timed, counted and priced. Open the dashboard to watch this one appear.",
)


def count_tokens(text: str) -> int:
    """A stand-in tokenizer: words and punctuation marks each count as one token."""
    return len(_TOKEN.findall(text))


def _text(content: Any) -> str:
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        return " ".join(p.get("text", "") for p in content if isinstance(p, dict) and p.get("type") == "text")
    return ""


def _prompt_tokens(messages: list[Json]) -> int:
    # OpenAI-like framing: a few tokens per message plus the reply's priming.
    return 3 + sum(4 + count_tokens(_text(m.get("content"))) for m in messages)


class DemoProvider:
    id = "demo"

    def __init__(self, endpoint: Endpoint) -> None:
        self.endpoint = endpoint

    def _reply(self, req: ChatRequest) -> tuple[str | None, list[Json] | None]:
        last_user = next((m for m in reversed(req.messages) if m.get("role") == "user"), None)
        user_text = _text(last_user.get("content")) if last_user else ""
        if req.model.startswith("error"):
            raise UpstreamError("The demo provider failed on purpose (demo:error).", upstream_status=500)
        if req.model.startswith("ratelimit"):
            raise UpstreamError(
                "The demo provider is rate limiting on purpose (demo:ratelimit).", status=429,
                type="rate_limit_error", code="rate_limit_exceeded", upstream_status=429, retry_after=1.0,
            )
        tools = req.params.get("tools")
        if tools and req.params.get("tool_choice") != "none" and req.messages[-1].get("role") == "user":
            fn = (tools[0].get("function") or {}) if isinstance(tools[0], dict) else {}
            call = {
                "id": "call_" + hashlib.sha256(user_text.encode()).hexdigest()[:24],
                "type": "function",
                "function": {"name": fn.get("name", "tool"), "arguments": orjson.dumps({"query": user_text}).decode()},
            }
            return None, [call]
        if req.model.startswith("echo"):
            return user_text, None
        if req.messages[-1].get("role") == "tool":
            return f"The tool answered: {_text(req.messages[-1].get('content'))}", None
        digest = hashlib.sha256(user_text.encode()).digest()
        return _ANSWERS[digest[0] % len(_ANSWERS)], None

    def _delay(self, req: ChatRequest) -> float:
        if not req.model.startswith("slow"):
            return 0.0
        _, _, ms = req.model.partition("-")
        return int(ms) / 1000 if ms.isdigit() else 0.05

    def _usage(self, req: ChatRequest, text: str | None, calls: list[Json] | None) -> Usage:
        prompt = _prompt_tokens(req.messages)
        completion = count_tokens(text or "") + sum(count_tokens(c["function"]["arguments"]) + 3 for c in calls or ())
        return Usage(prompt, completion, prompt + completion)

    async def complete(self, req: ChatRequest) -> ChatResponse:
        text, calls = self._reply(req)
        delay = self._delay(req)
        if delay:
            await asyncio.sleep(delay * max(1, len((text or "").split())))
        usage = self._usage(req, text, calls)
        message: Json = {"role": "assistant", "content": text}
        if calls:
            message["tool_calls"] = calls
        body = {
            "id": "chatcmpl-demo-" + hashlib.sha256(repr(req.messages).encode()).hexdigest()[:20],
            "object": "chat.completion",
            "created": int(time.time()),
            "model": req.model,
            "choices": [{"index": 0, "message": message, "logprobs": None,
                         "finish_reason": "tool_calls" if calls else "stop"}],
            "usage": usage.to_openai(),
        }
        return ChatResponse(body=body, usage=usage)

    async def stream(self, req: ChatRequest) -> AsyncGenerator[ChatChunk, None]:
        text, calls = self._reply(req)
        delay = self._delay(req)
        cid = "chatcmpl-demo-" + hashlib.sha256(repr(req.messages).encode()).hexdigest()[:20]
        created = int(time.time())

        def chunk(delta: Json, finish: str | None = None) -> ChatChunk:
            obj = {"id": cid, "object": "chat.completion.chunk", "created": created, "model": req.model,
                   "choices": [{"index": 0, "delta": delta, "logprobs": None, "finish_reason": finish}]}
            return ChatChunk(obj=obj, finish_reason=finish)

        yield chunk({"role": "assistant", "content": ""})
        if calls:
            for i, call in enumerate(calls):
                yield chunk({"tool_calls": [{"index": i, "id": call["id"], "type": "function",
                                             "function": {"name": call["function"]["name"], "arguments": ""}}]})
                args = call["function"]["arguments"]
                for start in range(0, len(args), 8):
                    yield chunk({"tool_calls": [{"index": i, "function": {"arguments": args[start:start + 8]}}]})
        else:
            words = (text or "").split(" ")
            for i, word in enumerate(words):
                if delay:
                    await asyncio.sleep(delay)
                yield chunk({"content": word if i == 0 else " " + word})
        yield chunk({}, "tool_calls" if calls else "stop")
        usage = self._usage(req, text, calls)
        yield ChatChunk(
            obj={"id": cid, "object": "chat.completion.chunk", "created": created, "model": req.model,
                 "choices": [], "usage": usage.to_openai()},
            usage=usage,
        )
