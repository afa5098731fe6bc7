"""Behaviour scripted by the model name, the same conventions for every fake.

Markers may appear anywhere in the model name, separated by non-alphanumerics, and combine:
`gpt-4o-slow-200-cached`, `claude-status-529`, `gemini-2.0-flash-cut-stream`.

| marker        | effect                                                                 |
|---------------|------------------------------------------------------------------------|
| `status-NNN`  | answer HTTP NNN with the provider's own error body (429: Retry-After 7)|
| `slow-MS`     | wait MS milliseconds before answering, and between stream chunks       |
| `malformed`   | 200 with a body (or first stream event) that is not valid JSON         |
| `cut-stream`  | close the connection halfway through a stream (truncated chunked body) |
| `no-done`     | end the stream cleanly but without the provider's terminal event(s)    |
| `stream-error`| halfway through a stream, send the provider's in-stream error event    |
| `hang`        | never answer; return only when the client disconnects                  |
| `cached`      | report half the prompt tokens (rounded down) as read from cache        |
| `cache-write` | report half the uncached prompt tokens as written to cache             |
| `reasoning`   | the model "thinks": report `REASONING_TOKENS` reasoning tokens         |
| `usage-on-content` | (OpenAI) usage on the last content chunk, as some compatible servers send it |
| `no-tools`    | never call a tool, whatever the request offers                         |
| `tool-NAME`   | call only the tool named NAME (any case), filling its required fields  |
| `fixed-ids`   | ids and times derived from the request (byte-comparable answers)       |
"""

from __future__ import annotations

import re
from dataclasses import dataclass

_FLAGS = (
    "malformed",
    "cut-stream",
    "no-done",
    "stream-error",
    "hang",
    "cached",
    "cache-write",
    "reasoning",
    "usage-on-content",
    "no-tools",
    "fixed-ids",
)


def _has(model: str, marker: str) -> bool:
    return re.search(rf"(?<![A-Za-z0-9]){re.escape(marker)}(?![A-Za-z0-9])", model) is not None


@dataclass(frozen=True, slots=True)
class Script:
    """What the fake should do for one request, parsed from the model name."""

    status: int | None = None
    slow_ms: int = 0
    malformed: bool = False
    cut_stream: bool = False
    no_done: bool = False
    stream_error: bool = False
    hang: bool = False
    cached: bool = False
    cache_write: bool = False
    reasoning: bool = False
    usage_on_content: bool = False
    no_tools: bool = False
    tool: str | None = None
    fixed_ids: bool = False

    @classmethod
    def from_model(cls, model: str) -> Script:
        """`Script.from_model("gpt-4o-status-429").status == 429`."""
        status = re.search(r"(?<![A-Za-z0-9])status-(\d{3})(?![0-9])", model)
        slow = re.search(r"(?<![A-Za-z0-9])slow-(\d+)(?![0-9])", model)
        flags = {flag.replace("-", "_"): _has(model, flag) for flag in _FLAGS}
        tool = re.search(r"(?<![A-Za-z0-9])tool-([A-Za-z]+)", model)
        return cls(
            tool=tool.group(1).lower() if tool else None,
            status=int(status.group(1)) if status else None,
            slow_ms=int(slow.group(1)) if slow else 0,
            **flags,
        )

    @property
    def delay_s(self) -> float:
        return self.slow_ms / 1000
