"""The Google Gemini API wire format: `POST {base}/v1beta/models/{model}:generateContent` (and
`:streamGenerateContent?alt=sse`) with the key in `x-goog-api-key`; responses and SSE chunks
translated to OpenAI's shapes. `google:` is an alias of `gemini:` (see compatible.toml).

Each stream event is a whole GenerateContentResponse: text and thought parts become content and
`reasoning_content` deltas, a function call arrives whole and becomes one tool-call delta, a
candidate's finishReason becomes its finish chunk, and the last usageMetadata the usage chunk.
"""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator, Mapping
from dataclasses import dataclass
from typing import Any

import orjson

from ..config import Endpoint
from ..errors import GatewayError, UpstreamError
from ..types import ChatChunk, ChatRequest, ChatResponse, Json, Usage
from . import _sse
from ._gemini_request import SIGNATURE_SEP, SUPPORTED, body_for, model_path
from ._http import error_from_status, retry_after_seconds
from ._openai_out import Chunks, choice, completion, tool_call
from .base import UpstreamRequest

__all__ = ["FEATURES", "GeminiWire", "WIRE", "finish_reason", "usage_from"]

DEFAULT_BASE_URL = "https://generativelanguage.googleapis.com"
_FILTERED = frozenset({
    "SAFETY", "RECITATION", "BLOCKLIST", "PROHIBITED_CONTENT", "SPII", "LANGUAGE", "IMAGE_SAFETY",
    "IMAGE_PROHIBITED_CONTENT", "IMAGE_RECITATION", "MODEL_ARMOR",
})
_LENGTH = frozenset({"MAX_TOKENS", "CONTINUATION"})
# google.rpc status -> HTTP status, as Google's APIs map them.
_RPC_STATUS = {
    "INVALID_ARGUMENT": 400, "FAILED_PRECONDITION": 400, "OUT_OF_RANGE": 400, "UNAUTHENTICATED": 401,
    "PERMISSION_DENIED": 403, "NOT_FOUND": 404, "ALREADY_EXISTS": 409, "ABORTED": 409,
    "RESOURCE_EXHAUSTED": 429, "CANCELLED": 500, "UNKNOWN": 500, "INTERNAL": 500, "DATA_LOSS": 500,
    "UNIMPLEMENTED": 501, "UNAVAILABLE": 503, "DEADLINE_EXCEEDED": 504,
}
_BAD_KEY_REASONS = frozenset({"API_KEY_INVALID", "API_KEY_EXPIRED", "API_KEY_SERVICE_BLOCKED"})


# What this wire format expresses (docs/providers.md is checked against it; see features.py).
FEATURES: Mapping[str, str] = {
    "text": "yes", "stream": "yes: `streamGenerateContent?alt=sse`",
    "system": "yes: all of them join `systemInstruction`, in order",
    "tools": "yes: `parametersJsonSchema`", "tool_streaming": "yes: Gemini sends each call whole, in one delta",
    "tool_choice": "yes: `functionCallingConfig` (named: ANY + allowedFunctionNames)", "tool_choice_none": "yes",
    "parallel_tool_calls": "yes", "disable_parallel_tool_calls": "no",
    "images_data_url": "yes: `inlineData`",
    "images_http_url": "partial: `fileData`; the URL must end in an image file extension, else 400",
    "json_object": "yes: `responseMimeType`", "json_schema": "yes: `responseJsonSchema`",
    "stop": "yes: at most 5", "temperature": "yes", "top_p": "yes", "max_tokens": "yes",
    "reasoning_effort": "yes: `thinkingBudget` for Gemini 1.x/2.x, `thinkingLevel` after",
    "seed": "yes", "n": "yes: `candidateCount`", "logprobs": "no", "penalties": "yes",
    "usage_cached": "yes", "usage_cache_write": "unreported: Gemini has no cache-write count",
    "usage_reasoning": "yes: `thoughtsTokenCount`",
}


def finish_reason(reason: str | None, has_calls: bool) -> str:
    """Gemini `finishReason` -> OpenAI `finish_reason` (Gemini says STOP after function calls)."""
    if reason in _LENGTH:
        return "length"
    if reason in _FILTERED:
        return "content_filter"
    return "tool_calls" if has_calls else "stop"


def usage_from(meta: Mapping[str, Any]) -> Usage:
    """promptTokenCount already includes cached tokens; thoughts count as completion (reasoning)."""
    prompt = _int(meta.get("promptTokenCount")) + _int(meta.get("toolUsePromptTokenCount"))
    reasoning = _int(meta.get("thoughtsTokenCount"))
    completion_tokens = _int(meta.get("candidatesTokenCount")) + reasoning
    cached = _int(meta.get("cachedContentTokenCount"))
    return Usage(prompt, completion_tokens, prompt + completion_tokens, cached, 0, reasoning)


def _int(v: Any) -> int:
    return v if type(v) is int else 0


def _call(part: Json) -> Json:
    fc = part["functionCall"]
    call_id = fc.get("id") or "call_" + uuid.uuid4().hex[:24]
    if part.get("thoughtSignature"):
        call_id += SIGNATURE_SEP + part["thoughtSignature"]
    return tool_call(call_id, fc["name"], orjson.dumps(fc.get("args") or {}).decode())


def _blocked(data: Json) -> bool:
    return not data.get("candidates") and bool((data.get("promptFeedback") or {}).get("blockReason"))


class GeminiWire:
    features: Mapping[str, str] = FEATURES
    supported_params = SUPPORTED  # the OpenAI parameters this format translates; others are a 400

    def build(self, req: ChatRequest, ep: Endpoint) -> UpstreamRequest:
        body = body_for(req)
        base = (ep.base_url or DEFAULT_BASE_URL) + model_path(req.model)
        url = base + (":streamGenerateContent?alt=sse" if req.stream else ":generateContent")
        headers = {"content-type": "application/json", "accept": "application/json"}
        if ep.api_key:
            headers["x-goog-api-key"] = ep.api_key
        extra = ep.options.get("headers")
        if isinstance(extra, Mapping):
            headers.update({str(k): str(v) for k, v in extra.items()})
        return UpstreamRequest(url, headers, orjson.dumps(body))

    def parse(self, body: bytes, req: ChatRequest) -> ChatResponse:
        data = orjson.loads(body)
        if not isinstance(data, dict) or ("candidates" not in data and "promptFeedback" not in data):
            raise ValueError("not a GenerateContentResponse")
        choices = []
        for cand in data.get("candidates") or ():
            texts: list[str] = []
            thoughts: list[str] = []
            calls: list[Json] = []
            for part in (cand.get("content") or {}).get("parts") or ():
                if "functionCall" in part:
                    calls.append(_call(part))
                elif "text" in part:
                    (thoughts if part.get("thought") else texts).append(part["text"])
            text = "".join(texts) if texts else (None if calls else "")
            finish = finish_reason(cand.get("finishReason"), bool(calls))
            choices.append(choice(cand.get("index", 0), text, calls, finish, "".join(thoughts) or None))
        if _blocked(data):
            choices.append(choice(0, None, [], "content_filter"))
        usage = usage_from(data.get("usageMetadata") or {})
        rid = data.get("responseId") or "chatcmpl-" + uuid.uuid4().hex
        return completion(rid, data.get("modelVersion") or req.model, choices, usage)

    async def parse_stream(self, chunks: AsyncIterator[bytes], req: ChatRequest) -> AsyncIterator[ChatChunk]:
        out: Chunks | None = None
        states: dict[int, _Candidate] = {}
        meta: Json = {}
        async for ev in _sse.decode(chunks):
            data = orjson.loads(ev.data)
            if "error" in data:
                raise self._stream_error(req.provider, data)
            if out is None:
                out = Chunks(data.get("responseId") or "chatcmpl-" + uuid.uuid4().hex,
                             data.get("modelVersion") or req.model)
            if data.get("usageMetadata"):
                meta = data["usageMetadata"]
            if _blocked(data):
                states[0] = _Candidate(finished=True)
                yield out.delta({"role": "assistant", "content": ""})
                yield out.finish("content_filter")
            for cand in data.get("candidates") or ():
                for chunk in self._candidate(out, states, cand):
                    yield chunk
        if out is None or not states or not all(s.finished for s in states.values()):
            raise UpstreamError(f"The {req.provider} provider's stream ended before a finish reason.")
        yield out.usage(usage_from(meta))

    @staticmethod
    def _candidate(out: Chunks, states: dict[int, _Candidate], cand: Json) -> list[ChatChunk]:
        index = cand.get("index", 0)
        chunks: list[ChatChunk] = []
        state = states.get(index)
        if state is None:
            state = states[index] = _Candidate()
            chunks.append(out.delta({"role": "assistant", "content": ""}, index))
        for part in (cand.get("content") or {}).get("parts") or ():
            if "functionCall" in part:
                call = {"index": state.tools, **_call(part)}
                state.tools += 1
                chunks.append(out.delta({"tool_calls": [call]}, index))
            elif part.get("text"):
                key = "reasoning_content" if part.get("thought") else "content"
                chunks.append(out.delta({key: part["text"]}, index))
        if cand.get("finishReason") and not state.finished:
            state.finished = True
            chunks.append(out.finish(finish_reason(cand["finishReason"], state.tools > 0), index))
        return chunks

    def _stream_error(self, provider: str, data: Json) -> GatewayError:
        err = data["error"] if isinstance(data.get("error"), dict) else {}
        code = err.get("code")
        status = code if isinstance(code, int) and code >= 400 else _RPC_STATUS.get(str(err.get("status")), 500)
        exc = self.error(provider, status, orjson.dumps(data), {})
        exc.message = f"The {provider} provider failed mid-stream: {exc.message}"
        return exc

    def error(self, provider: str, status: int, body: bytes, headers: Mapping[str, str]) -> GatewayError:
        rpc, message, reasons, delay = _error_fields(body)
        effective = _RPC_STATUS.get(rpc or "", status)
        if reasons & _BAD_KEY_REASONS:
            effective = 401
        if delay is not None and retry_after_seconds(headers) is None:
            headers = {"retry-after": f"{delay:g}"}
        err = error_from_status(provider, effective, headers, message, body)
        err.upstream_status = status
        return err


@dataclass(slots=True)
class _Candidate:
    tools: int = 0
    finished: bool = False


def _error_fields(body: bytes) -> tuple[str | None, str | None, set[str], float | None]:
    """(status string, message, ErrorInfo reasons, RetryInfo delay in seconds) of a google.rpc error."""
    try:
        data = orjson.loads(body)
    except orjson.JSONDecodeError:
        return None, None, set(), None
    if isinstance(data, list) and data:  # some Google front ends wrap the error in a list
        data = data[0]
    err = data.get("error") if isinstance(data, dict) else None
    if not isinstance(err, dict):
        return None, None, set(), None
    reasons: set[str] = set()
    delay: float | None = None
    for detail in err.get("details") or ():
        if not isinstance(detail, dict):
            continue
        if isinstance(detail.get("reason"), str):
            reasons.add(detail["reason"])
        retry = detail.get("retryDelay")
        if isinstance(retry, str) and retry.endswith("s"):
            try:
                delay = float(retry[:-1])
            except ValueError:
                pass
    status, message = err.get("status"), err.get("message")
    return (status if isinstance(status, str) else None, message if isinstance(message, str) else None,
            reasons, delay)


WIRE = GeminiWire()
