"""A fast mock OpenAI upstream: a raw asyncio protocol server (uvloop when present) with keep-alive.

Answers POST .../chat/completions (OpenAI) and POST /v1/messages (Anthropic) with canned JSON or an SSE
stream, POST .../embeddings with one canned 1536-value embedding (base64, as the OpenAI SDK asks by
default); GET /_bench/config?latency_ms=&chunks=
&chunk_interval_ms= retunes it at run time, GET /_bench/stats counts what it served.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import re
import socket
from dataclasses import dataclass, field
from urllib.parse import parse_qs, urlsplit

_STREAM_RE = re.compile(rb'"stream"\s*:\s*true')
_USAGE_RE = re.compile(rb'"include_usage"\s*:\s*true')
_MODEL = "gpt-4o-mini"
_CREATED = 1700000000
_USAGE = {"prompt_tokens": 24, "completion_tokens": 20, "total_tokens": 44}


@dataclass
class Settings:
    latency_ms: float = 0.0
    chunks: int = 20
    chunk_interval_ms: float = 2.0
    served: dict[str, int] = field(default_factory=lambda: {"json": 0, "stream": 0, "other": 0})


def _http(status: str, ctype: bytes, body: bytes) -> bytes:
    head = b"HTTP/1.1 %s\r\nContent-Type: %s\r\nContent-Length: %d\r\n\r\n" % (status.encode(), ctype, len(body))
    return head + body


def _completion_body() -> bytes:
    text = " ".join(["tok"] * _USAGE["completion_tokens"])
    body = {
        "id": "chatcmpl-bench",
        "object": "chat.completion",
        "created": _CREATED,
        "model": _MODEL,
        "choices": [
            {
                "index": 0,
                "message": {"role": "assistant", "content": text, "refusal": None},
                "logprobs": None,
                "finish_reason": "stop",
            }
        ],
        "usage": _USAGE,
        "system_fingerprint": "fp_bench",
    }
    return json.dumps(body, separators=(",", ":")).encode()


def _sse(obj: object) -> bytes:
    data = b"data: " + json.dumps(obj, separators=(",", ":")).encode() + b"\n\n"
    return b"%x\r\n%s\r\n" % (len(data), data)


def stream_events(chunks: int, include_usage: bool) -> list[bytes]:
    """The chunked-encoded SSE events of one stream: `chunks` deltas, an optional usage chunk, [DONE]."""
    base = {"id": "chatcmpl-bench", "object": "chat.completion.chunk", "created": _CREATED, "model": _MODEL}
    events = []
    for i in range(chunks):
        delta: dict[str, str] = {"role": "assistant", "content": "tok"} if i == 0 else {"content": " tok"}
        last = i == chunks - 1
        choice = {"index": 0, "delta": delta, "logprobs": None, "finish_reason": "stop" if last else None}
        events.append(_sse({**base, "choices": [choice]}))
    if include_usage:
        events.append(_sse({**base, "choices": [], "usage": _USAGE}))
    done = b"data: [DONE]\n\n"
    events.append(b"%x\r\n%s\r\n0\r\n\r\n" % (len(done), done))
    return events


def _event(name: str, obj: object) -> bytes:
    data = b"event: %s\ndata: %s\n\n" % (name.encode(), json.dumps(obj, separators=(",", ":")).encode())
    return b"%x\r\n%s\r\n" % (len(data), data)


_MESSAGE_USAGE = {"input_tokens": 24, "cache_creation_input_tokens": 0, "cache_read_input_tokens": 0,
                  "output_tokens": 20}


def message_events(chunks: int) -> list[bytes]:
    """An Anthropic Messages stream: message_start, one text block of `chunks` deltas, message_delta/stop."""
    start = {"id": "msg_bench", "type": "message", "role": "assistant", "model": "claude-bench", "content": [],
             "stop_reason": None, "stop_sequence": None, "usage": {**_MESSAGE_USAGE, "output_tokens": 1}}
    events = [_event("message_start", {"type": "message_start", "message": start}),
              _event("content_block_start", {"type": "content_block_start", "index": 0,
                                             "content_block": {"type": "text", "text": ""}})]
    for i in range(chunks):
        delta = {"type": "text_delta", "text": "tok" if i == 0 else " tok"}
        events.append(_event("content_block_delta", {"type": "content_block_delta", "index": 0, "delta": delta}))
    events += [_event("content_block_stop", {"type": "content_block_stop", "index": 0}),
               _event("message_delta", {"type": "message_delta", "delta": {"stop_reason": "end_turn",
                                        "stop_sequence": None}, "usage": {"output_tokens": 20}})]
    stop = b"event: message_stop\ndata: {\"type\":\"message_stop\"}\n\n"
    events.append(b"%x\r\n%s\r\n0\r\n\r\n" % (len(stop), stop))
    return events


def _message_body() -> bytes:
    body = {"id": "msg_bench", "type": "message", "role": "assistant", "model": "claude-bench",
            "content": [{"type": "text", "text": " ".join(["tok"] * 20)}], "stop_reason": "end_turn",
            "stop_sequence": None, "usage": _MESSAGE_USAGE}
    return json.dumps(body, separators=(",", ":")).encode()


_MESSAGE_RESPONSE = _http("200 OK", b"application/json", _message_body())


def _embeddings_body() -> bytes:
    import array
    import base64

    dims = int(os.environ.get("MOCK_EMBEDDING_DIMS", "1536"))
    vector = base64.b64encode(array.array("f", [((i * 37) % 255 - 127) / 128 for i in range(dims)]).tobytes())
    body = {"object": "list", "data": [{"object": "embedding", "index": 0, "embedding": vector.decode()}],
            "model": "text-embedding-3-small", "usage": {"prompt_tokens": 8, "total_tokens": 8}}
    return json.dumps(body, separators=(",", ":")).encode()


_JSON_RESPONSE = _http("200 OK", b"application/json", _completion_body())
_EMBEDDINGS_RESPONSE = _http("200 OK", b"application/json", _embeddings_body())


def _responses_events(chunks: int) -> tuple[bytes, bytes]:
    """A Responses answer of `chunks` text deltas: (the JSON body, the whole SSE stream), both HTTP-framed."""
    usage = {"input_tokens": 24, "input_tokens_details": {"cached_tokens": 0}, "output_tokens": chunks,
             "output_tokens_details": {"reasoning_tokens": 0}, "total_tokens": 24 + chunks}
    text = " ".join(["tok"] * chunks)
    item = {"id": "msg_bench", "type": "message", "status": "completed", "role": "assistant",
            "content": [{"type": "output_text", "annotations": [], "text": text}]}
    done = {"id": "resp_bench", "object": "response", "created_at": _CREATED, "status": "completed",
            "model": _MODEL, "output": [item], "usage": usage}
    start = {**done, "status": "in_progress", "output": [], "usage": None}
    events: list[dict[str, object]] = [{"type": "response.created", "response": start},
                                       {"type": "response.output_item.added", "output_index": 0,
                                        "item": {**item, "status": "in_progress", "content": []}}]
    events += [{"type": "response.output_text.delta", "item_id": "msg_bench", "output_index": 0,
                "content_index": 0, "delta": "tok" if i == 0 else " tok"} for i in range(chunks)]
    events += [{"type": "response.output_item.done", "output_index": 0, "item": item},
               {"type": "response.completed", "response": done}]
    sse = b"".join(b"event: %s\ndata: %s\n\n" % (str(e["type"]).encode(), json.dumps(
        {**e, "sequence_number": n}, separators=(",", ":")).encode()) for n, e in enumerate(events))
    stream = _STREAM_HEAD + b"%x\r\n%s\r\n0\r\n\r\n" % (len(sse), sse)
    return _http("200 OK", b"application/json", json.dumps(done, separators=(",", ":")).encode()), stream
_STREAM_HEAD = b"HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\nCache-Control: no-cache\r\nTransfer-Encoding: chunked\r\n\r\n"
_RESPONSES_JSON, _RESPONSES_STREAM = _responses_events(20)
_NOT_FOUND = _http("404 Not Found", b"application/json", b'{"error":{"message":"not found"}}')


class MockProtocol(asyncio.Protocol):
    """One keep-alive connection: parse requests (Content-Length or chunked bodies), answer in order."""

    def __init__(self, settings: Settings, cache: dict[tuple[int, bool], list[bytes]]) -> None:
        self.s = settings
        self.cache = cache
        self.buf = b""
        self.transport: asyncio.Transport | None = None
        self.loop = asyncio.get_running_loop()

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]
        sock = transport.get_extra_info("socket")
        if sock is not None:
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)

    def data_received(self, data: bytes) -> None:
        self.buf += data
        while True:
            end = self.buf.find(b"\r\n\r\n")
            if end < 0:
                return
            head = self.buf[:end]
            lower = head.lower()
            i = lower.find(b"content-length:")
            if i >= 0:
                j = lower.find(b"\r\n", i)
                n = int(head[i + 15 : j if j >= 0 else len(head)])
                if len(self.buf) < end + 4 + n:
                    return
                body = self.buf[end + 4 : end + 4 + n]
                self.buf = self.buf[end + 4 + n :]
            elif b"transfer-encoding: chunked" in lower:
                parsed = _dechunk(self.buf, end + 4)
                if parsed is None:
                    return
                body, used = parsed
                self.buf = self.buf[used:]
            else:
                body, self.buf = b"", self.buf[end + 4 :]
            self.handle(head, body, b"connection: close" in lower)

    def handle(self, head: bytes, body: bytes, close: bool) -> None:
        line = head[: head.find(b"\r\n")] if b"\r\n" in head else head
        method, _, rest = line.partition(b" ")
        target = rest.rpartition(b" ")[0].decode()
        path = urlsplit(target).path
        if method == b"POST" and path.endswith("/responses"):  # OpenAI Responses (bench/responses_cpu.py)
            self.s.served["stream" if _STREAM_RE.search(body) else "json"] += 1
            self.write(_RESPONSES_STREAM if _STREAM_RE.search(body) else _RESPONSES_JSON, close)
            return
        if method == b"POST" and path.endswith("/chat/completions"):
            if _STREAM_RE.search(body):
                self.s.served["stream"] += 1
                self.start_stream(bool(_USAGE_RE.search(body)), close)
            else:
                self.s.served["json"] += 1
                self.later(self.s.latency_ms, _JSON_RESPONSE, close)
            return
        if method == b"POST" and path.endswith("/v1/messages"):
            if _STREAM_RE.search(body):
                self.s.served["stream"] += 1
                self.start_stream(False, close, anthropic=True)
            else:
                self.s.served["json"] += 1
                self.later(self.s.latency_ms, _MESSAGE_RESPONSE, close)
            return
        if method == b"POST" and path.endswith("/embeddings"):
            self.s.served["json"] += 1
            self.later(self.s.latency_ms, _EMBEDDINGS_RESPONSE, close)
            return
        self.s.served["other"] += 1
        self.write(self.control(path, target), close)

    def control(self, path: str, target: str) -> bytes:
        if path == "/_bench/config":
            for key, vals in parse_qs(urlsplit(target).query).items():
                if key in ("latency_ms", "chunk_interval_ms"):
                    setattr(self.s, key, float(vals[0]))
                elif key == "chunks":
                    self.s.chunks = int(vals[0])
        elif path == "/_bench/stats":
            pass
        elif path in ("/health", "/v1/models"):
            return _http("200 OK", b"application/json", b'{"status":"ok","data":[{"id":"gpt-4o-mini"}]}')
        else:
            return _NOT_FOUND
        state = {"latency_ms": self.s.latency_ms, "chunks": self.s.chunks,
                 "chunk_interval_ms": self.s.chunk_interval_ms, "served": self.s.served}
        return _http("200 OK", b"application/json", json.dumps(state).encode())

    def later(self, delay_ms: float, data: bytes, close: bool) -> None:
        if delay_ms > 0:
            self.loop.call_later(delay_ms / 1000, self.write, data, close)
        else:
            self.write(data, close)

    def start_stream(self, include_usage: bool, close: bool, anthropic: bool = False) -> None:
        key = (self.s.chunks, include_usage) if not anthropic else (-self.s.chunks, False)
        events = self.cache.get(key)
        if events is None:
            events = self.cache[key] = message_events(self.s.chunks) if anthropic else stream_events(*key)
        parts = [_STREAM_HEAD + events[0], *events[1:]]
        interval = self.s.chunk_interval_ms / 1000
        if interval <= 0:
            self.later(self.s.latency_ms, b"".join(parts), close)
            return
        # Chained, never all scheduled at once: uvloop runs call_soon callbacks after due timers, so
        # pre-scheduled parts could leave out of order on a busy loop. Deadlines stay absolute (no drift).
        start = self.loop.time() + self.s.latency_ms / 1000
        if self.s.latency_ms > 0:
            self.loop.call_at(start, self.stream_step, parts, 0, start, interval, close)
        else:
            self.stream_step(parts, 0, start, interval, close)

    def stream_step(self, parts: list[bytes], n: int, start: float, interval: float, close: bool) -> None:
        if self.transport is None or self.transport.is_closing():
            return
        last = n == len(parts) - 1
        self.write(parts[n], close and last)
        if not last:
            self.loop.call_at(start + (n + 1) * interval, self.stream_step, parts, n + 1, start, interval, close)

    def write(self, data: bytes, close: bool = False) -> None:
        t = self.transport
        if t is None or t.is_closing():
            return
        t.write(data)
        if close:
            t.close()

    def connection_lost(self, exc: Exception | None) -> None:
        self.transport = None


def _dechunk(buf: bytes, pos: int) -> tuple[bytes, int] | None:
    """Decode a chunked request body starting at pos; None until it is complete."""
    out = []
    while True:
        eol = buf.find(b"\r\n", pos)
        if eol < 0:
            return None
        size = int(buf[pos:eol].split(b";")[0], 16)
        if size == 0:
            tail = buf.find(b"\r\n\r\n", eol)
            if buf[eol : eol + 4] == b"\r\n\r\n":
                return b"".join(out), eol + 4
            return None if tail < 0 else (b"".join(out), tail + 4)
        if len(buf) < eol + 2 + size + 2:
            return None
        out.append(buf[eol + 2 : eol + 2 + size])
        pos = eol + 2 + size + 2


async def serve(host: str, port: int, settings: Settings) -> None:
    cache: dict[tuple[int, bool], list[bytes]] = {}
    loop = asyncio.get_running_loop()
    server = await loop.create_server(lambda: MockProtocol(settings, cache), host, port, backlog=4096, reuse_address=True)
    print(f"mock upstream on http://{host}:{port}/v1", flush=True)
    async with server:
        await server.serve_forever()


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__)
    p.add_argument("--host", default="127.0.0.1")
    p.add_argument("--port", type=int, default=8900)
    p.add_argument("--latency-ms", type=float, default=0.0)
    p.add_argument("--chunks", type=int, default=20)
    p.add_argument("--chunk-interval-ms", type=float, default=2.0)
    a = p.parse_args()
    settings = Settings(latency_ms=a.latency_ms, chunks=a.chunks, chunk_interval_ms=a.chunk_interval_ms)
    try:
        import uvloop

        uvloop.run(serve(a.host, a.port, settings))
    except ImportError:
        asyncio.run(serve(a.host, a.port, settings))


if __name__ == "__main__":
    main()
