"""Gemini API (v1beta) wire format: request checks, request -> `Conversation`, `Reply` -> responses.

Pure translation; field names are read in either spelling (`gemini_schema.get`).
"""

from __future__ import annotations

import json
from typing import Any

from .conversation import (
    REASONING_SIGNATURE,
    Conversation,
    Reply,
    Role,
    Tool,
    Turn,
    text_pieces,
)
from .gemini_schema import PayloadInvalid, check, get

_MIME_TYPES = (
    "text/plain",
    "application/json",
    "application/xml",
    "application/yaml",
    "text/x.enum",
)
_FINISH = {"stop": "STOP", "length": "MAX_TOKENS", "tool_calls": "STOP"}
_DATA_FIELDS = (
    "text",
    "inlineData",
    "fileData",
    "functionCall",
    "functionResponse",
    "executableCode",
    "codeExecutionResult",
    "toolCall",
    "toolResponse",
)


def validate(body: Any) -> None:
    """Raise `PayloadInvalid` with the API's message for a request it would reject."""
    check(body)
    contents = get(body, "contents") or []
    if not contents:
        raise PayloadInvalid(
            "* GenerateContentRequest.contents: contents is not specified\n", "contents"
        )
    for i, content in enumerate(contents):
        if get(content, "role", "user") not in ("user", "model"):
            raise PayloadInvalid("Please use a valid role: user, model.", f"contents[{i}].role")
        for j, part in enumerate(get(content, "parts") or []):
            if not any(get(part, name) is not None for name in _DATA_FIELDS):
                field = f"contents[{i}].parts[{j}].data"
                raise PayloadInvalid(
                    f"* GenerateContentRequest.{field}: required oneof field 'data' "
                    "must have one initialized field\n",
                    field,
                )
    for i, tool in enumerate(get(body, "tools") or []):
        for j, declaration in enumerate(get(tool, "functionDeclarations") or []):
            if not declaration.get("name"):
                field = f"tools[{i}].function_declarations[{j}].name"
                raise PayloadInvalid(
                    f"* GenerateContentRequest.{field}: Name cannot be empty.\n", field
                )
    mime = get(get(body, "generationConfig") or {}, "responseMimeType")
    if mime is not None and mime not in _MIME_TYPES:
        field = "generation_config.response_mime_type"
        raise PayloadInvalid(
            f"* GenerateContentRequest.{field}: allowed mimetypes are `text/plain`, "
            "`application/json`, `application/xml`, `application/yaml` and "
            "`text/x.enum`.\n",
            field,
        )


def _result_text(response: Any) -> str:
    if isinstance(response, dict) and len(response) == 1:
        (only,) = response.values()
        if isinstance(only, str):
            return only
    return json.dumps(response)


def _add_content(conv: Conversation, content: dict[str, Any]) -> None:
    parts = get(content, "parts") or []
    results = [
        _result_text(get(get(p, "functionResponse"), "response", {}))
        for p in parts
        if get(p, "functionResponse") is not None
    ]
    if results:
        conv.turns.append(Turn("tool", results))
    texts = [p["text"] for p in parts if "text" in p and not p.get("thought")]
    media = sum(
        1 for p in parts if get(p, "inlineData") is not None or get(p, "fileData") is not None
    )
    if texts or media or not results:
        role: Role = "assistant" if get(content, "role") == "model" else "user"
        conv.turns.append(Turn(role, texts, media))


def conversation_from(body: dict[str, Any]) -> Conversation:
    """What the fake model sees in a (valid) generateContent request."""
    system = get(body, "systemInstruction") or {}
    conv = Conversation(
        turns=[], system=[p["text"] for p in get(system, "parts") or [] if "text" in p]
    )
    for content in get(body, "contents"):
        _add_content(conv, content)
    for tool in get(body, "tools") or []:
        for fn in get(tool, "functionDeclarations") or []:
            schema = get(fn, "parameters") or get(fn, "parametersJsonSchema") or {}
            conv.tools.append(Tool(fn["name"], schema))
    calling = get(get(body, "toolConfig") or {}, "functionCallingConfig") or {}
    mode, allowed = get(calling, "mode", "AUTO"), get(calling, "allowedFunctionNames") or []
    conv.tool_choice = {"NONE": "none", "ANY": allowed[0] if allowed else "required"}.get(
        mode, "auto"
    )
    config = get(body, "generationConfig") or {}
    conv.max_tokens = (
        int(get(config, "maxOutputTokens")) if get(config, "maxOutputTokens") else None
    )
    conv.stop = list(get(config, "stopSequences") or [])
    conv.json_mode = get(config, "responseMimeType") == "application/json"
    schema = get(config, "responseSchema") or get(config, "responseJsonSchema")
    conv.json_schema = schema if conv.json_mode and schema is not None else None
    conv.reasoning = bool(get(get(config, "thinkingConfig") or {}, "includeThoughts"))
    return conv


def usage_json(reply: Reply, *, final: bool = True) -> dict[str, Any]:
    usage = reply.usage
    if not final:
        return {"promptTokenCount": usage.prompt, "totalTokenCount": usage.prompt}
    out: dict[str, Any] = {
        "promptTokenCount": usage.prompt,
        "candidatesTokenCount": usage.completion - usage.reasoning,
        "totalTokenCount": usage.total,
        "promptTokensDetails": [{"modality": "TEXT", "tokenCount": usage.prompt}],
    }
    if usage.cache_read:
        out["cachedContentTokenCount"] = usage.cache_read
    if usage.reasoning:
        out["thoughtsTokenCount"] = usage.reasoning
    return out


def _parts(reply: Reply, show_thoughts: bool, *, streamed: bool) -> list[dict[str, Any]]:
    parts: list[dict[str, Any]] = []
    if reply.reasoning and show_thoughts:
        parts.append({"text": reply.reasoning, "thought": True})
    if reply.tool_call is not None:
        call: dict[str, Any] = {
            "functionCall": {"name": reply.tool_call.name, "args": reply.tool_call.arguments}
        }
        if reply.reasoning:
            call["thoughtSignature"] = REASONING_SIGNATURE
        parts.append(call)
    elif streamed:
        parts.extend({"text": piece} for piece in text_pieces(reply.text or ""))
    else:
        parts.append({"text": reply.text or ""})
    return parts


def _response(
    parts: list[dict[str, Any]],
    usage: dict[str, Any],
    *,
    finish: str | None,
    model: str,
    response_id: str,
) -> dict[str, Any]:
    candidate: dict[str, Any] = {"content": {"parts": parts, "role": "model"}}
    if finish:
        candidate["finishReason"] = finish
    candidate["index"] = 0
    return {
        "candidates": [candidate],
        "usageMetadata": usage,
        "modelVersion": model,
        "responseId": response_id,
    }


def response(reply: Reply, *, show_thoughts: bool, model: str, response_id: str) -> dict[str, Any]:
    """A `GenerateContentResponse` for generateContent."""
    return _response(
        _parts(reply, show_thoughts, streamed=False),
        usage_json(reply),
        finish=_FINISH[reply.finish],
        model=model,
        response_id=response_id,
    )


def stream(
    reply: Reply, *, show_thoughts: bool, model: str, response_id: str, finished: bool = True
) -> list[dict[str, Any]]:
    """The `GenerateContentResponse` chunks of streamGenerateContent; the last one finishes."""
    parts = _parts(reply, show_thoughts, streamed=True)
    out = []
    for i, part in enumerate(parts):
        last = finished and i == len(parts) - 1
        out.append(
            _response(
                [part],
                usage_json(reply, final=last),
                finish=_FINISH[reply.finish] if last else None,
                model=model,
                response_id=response_id,
            )
        )
    return out
