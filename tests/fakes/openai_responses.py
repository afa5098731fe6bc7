"""Fake OpenAI Responses API (`POST /v1/responses`, JSON and SSE), served by the OpenAI and Azure fakes.

Same model as every fake (`conversation.py`). The wire format is OpenAI's: a `response` object, or the
event stream `response.created`, `response.in_progress`, per item `output_item.added` ... `output_item.done`,
`response.completed`, each event with `event:` and `data:` lines and a `sequence_number`. To prove a gateway
relays what it does not know, every answer carries an undocumented field `x_fake_future` and every stream an
event type no SDK knows yet (`response.fake_future_event`). Script markers (`script.py`) apply.
"""

from __future__ import annotations

import hashlib
import json
import secrets
import time
from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from .conversation import (
    REASONING_TEXT,
    Conversation,
    Reply,
    Tool,
    Turn,
    json_pieces,
    reply_to,
    text_pieces,
)
from .script import Script
from .streaming import before_answer, sse, stream_for

_HOSTED_OK = {"web_search", "web_search_preview", "file_search", "code_interpreter", "image_generation",
              "local_shell", "mcp", "computer_use_preview", "namespace", "custom"}


def invalid(message: str, param: str | None = None) -> Response:
    body = {"error": {"message": message, "type": "invalid_request_error", "param": param, "code": None}}
    return JSONResponse(body, 400)


def _texts(content: Any) -> tuple[list[str], int]:
    if isinstance(content, str):
        return [content], 0
    texts, images = [], 0
    for part in content or []:
        if part.get("type") in ("input_text", "output_text"):
            texts.append(part["text"])
        elif part.get("type") in ("input_image", "input_file"):
            images += 1
    return texts, images


def conversation_from(body: dict[str, Any]) -> Conversation:
    """What the fake model sees in a Responses request."""
    conv = Conversation(turns=[])
    if body.get("instructions"):
        conv.system.append(body["instructions"])
    items = body["input"]
    items = [{"type": "message", "role": "user", "content": items}] if isinstance(items, str) else items
    for item in items:
        kind = item.get("type", "message")
        if kind == "message":
            texts, images = _texts(item.get("content"))
            if item["role"] in ("system", "developer"):
                conv.system.extend(texts)
            else:
                conv.turns.append(Turn("user" if item["role"] == "user" else "assistant", texts, images))
        elif kind in ("function_call_output", "custom_tool_call_output"):
            out = item.get("output")
            if not conv.turns or conv.turns[-1].role != "tool":
                conv.turns.append(Turn("tool"))
            conv.turns[-1].texts.append(out if isinstance(out, str) else " ".join(_texts(out)[0]))
    for tool in body.get("tools") or []:
        if tool.get("type") == "function":
            conv.tools.append(Tool(tool["name"], tool.get("parameters") or {}))
    choice = body.get("tool_choice") or "auto"
    conv.tool_choice = choice if isinstance(choice, str) else choice.get("name", "auto")
    conv.max_tokens = body.get("max_output_tokens")
    fmt = (body.get("text") or {}).get("format") or {}
    conv.json_mode = fmt.get("type") in ("json_object", "json_schema")
    if fmt.get("type") == "json_schema":
        conv.json_schema = fmt.get("schema") or {}
    conv.reasoning = (body.get("reasoning") or {}).get("effort") not in (None, "none")
    return conv


def usage_json(reply: Reply) -> dict[str, Any]:
    u = reply.usage
    return {"input_tokens": u.prompt, "input_tokens_details": {"cached_tokens": u.cache_read},
            "output_tokens": u.completion, "output_tokens_details": {"reasoning_tokens": u.reasoning},
            "total_tokens": u.total}


def output_items(reply: Reply, rid: str, call_id: str) -> list[dict[str, Any]]:
    items: list[dict[str, Any]] = []
    if reply.reasoning:
        items.append({"id": f"rs_{rid}", "type": "reasoning", "encrypted_content": "fake-encrypted",
                      "summary": [{"type": "summary_text", "text": reply.reasoning}]})
    if reply.tool_call is not None:
        items.append({"id": f"fc_{rid}", "type": "function_call", "status": "completed",
                      "arguments": reply.tool_call.arguments_json, "call_id": call_id, "name": reply.tool_call.name})
    else:
        items.append({"id": f"msg_{rid}", "type": "message", "status": "completed", "role": "assistant",
                      "content": [{"type": "output_text", "annotations": [], "logprobs": [], "text": reply.text}]})
    return items


def response_object(body: dict[str, Any], reply: Reply | None, rid: str, call_id: str, created: int) -> dict[str, Any]:
    done = reply is not None
    status = "in_progress" if not done else "incomplete" if reply.finish == "length" else "completed"
    return {
        "id": f"resp_{rid}", "object": "response", "created_at": created, "status": status, "background": False,
        "error": None,
        "incomplete_details": {"reason": "max_output_tokens"} if status == "incomplete" else None,
        "instructions": body.get("instructions"), "max_output_tokens": body.get("max_output_tokens"),
        "model": body["model"], "output": output_items(reply, rid, call_id) if done else [],
        "parallel_tool_calls": body.get("parallel_tool_calls", True),
        "previous_response_id": body.get("previous_response_id"),
        "reasoning": {"effort": None, "summary": None, **(body.get("reasoning") or {})},
        "store": body.get("store", True), "temperature": 1.0, "text": {"format": {"type": "text"}},
        "tool_choice": body.get("tool_choice", "auto"), "tools": body.get("tools", []), "top_p": 1.0,
        "truncation": "disabled", "usage": usage_json(reply) if done else None, "user": None, "metadata": {},
        "x_fake_future": {"kept": True},
    }


def events(body: dict[str, Any], reply: Reply, rid: str, call_id: str, created: int) -> list[dict[str, Any]]:
    out: list[dict[str, Any]] = []

    def emit(kind: str, **fields: Any) -> None:
        out.append({"type": kind, "sequence_number": len(out), **fields})

    start = response_object(body, None, rid, call_id, created)
    emit("response.created", response=start)
    emit("response.in_progress", response=start)
    emit("response.fake_future_event", note="a new event type the gateway must relay")
    for index, item in enumerate(output_items(reply, rid, call_id)):
        ids = {"item_id": item["id"], "output_index": index}
        if item["type"] == "reasoning":
            emit("response.output_item.added", output_index=index, item={**item, "summary": []})
            part = {"type": "summary_text", "text": ""}
            emit("response.reasoning_summary_part.added", **ids, summary_index=0, part=part)
            for piece in text_pieces(REASONING_TEXT):
                emit("response.reasoning_summary_text.delta", **ids, summary_index=0, delta=piece)
            emit("response.reasoning_summary_text.done", **ids, summary_index=0, text=REASONING_TEXT)
            emit("response.reasoning_summary_part.done", **ids, summary_index=0,
                 part={"type": "summary_text", "text": REASONING_TEXT})
        elif item["type"] == "function_call":
            emit("response.output_item.added", output_index=index,
                 item={**item, "status": "in_progress", "arguments": ""})
            for piece in json_pieces(item["arguments"]):
                emit("response.function_call_arguments.delta", **ids, delta=piece)
            emit("response.function_call_arguments.done", **ids, arguments=item["arguments"])
        else:
            text = item["content"][0]["text"]
            emit("response.output_item.added", output_index=index,
                 item={**item, "status": "in_progress", "content": []})
            part = {"type": "output_text", "annotations": [], "logprobs": [], "text": ""}
            emit("response.content_part.added", **ids, content_index=0, part=part)
            for piece in text_pieces(text):
                emit("response.output_text.delta", **ids, content_index=0, delta=piece, logprobs=[])
            emit("response.output_text.done", **ids, content_index=0, text=text, logprobs=[])
            emit("response.content_part.done", **ids, content_index=0, part={**part, "text": text})
        emit("response.output_item.done", output_index=index, item=item)
    final = response_object(body, reply, rid, call_id, created)
    emit("response.completed" if final["status"] == "completed" else "response.incomplete", response=final)
    return out


async def handle_responses(request: Request, *, deployment: str | None = None) -> Response:
    try:
        body = json.loads(await request.body())
    except ValueError:
        return invalid("We could not parse the JSON body of your request.")
    if not isinstance(body, dict) or not isinstance(body.get("model"), str):
        return invalid("Missing required parameter: 'model'.", "model")
    if body.get("input") in (None, "", []):
        return invalid("Missing required parameter: 'input'.", "input")
    for i, tool in enumerate(body.get("tools") or []):
        if tool.get("type") != "function" and tool.get("type") not in _HOSTED_OK:
            return invalid(f"Invalid value: '{tool.get('type')}'.", f"tools[{i}].type")
    script = Script.from_model(body["model"])
    await before_answer(request, script)
    if script.status is not None:
        body_ = {"error": {"message": f"Scripted error {script.status}.", "type": "server_error", "param": None,
                           "code": None}}
        return JSONResponse(body_, script.status, headers={"retry-after": "7"} if script.status == 429 else {})
    reply = reply_to(conversation_from(body), script)
    if script.fixed_ids:
        digest = hashlib.sha256(json.dumps(body, sort_keys=True).encode()).hexdigest()
        rid, call_id, created = digest[:24], f"call_{digest[24:48]}", 1767225600
    else:
        rid, call_id, created = secrets.token_hex(12), f"call_{secrets.token_hex(12)}", int(time.time())
    if body.get("stream"):
        chunks = [sse(e, e["type"]) for e in events(body, reply, rid, call_id, created)]
        return stream_for(script, chunks, media_type="text/event-stream; charset=utf-8")
    return JSONResponse(response_object(body, reply, rid, call_id, created))
