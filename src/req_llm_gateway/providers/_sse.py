"""Server-sent events decoding over raw byte chunks, as they arrive (no line-by-line awaits)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass

__all__ = ["SSEEvent", "decode"]


@dataclass(frozen=True, slots=True)
class SSEEvent:
    event: str
    data: bytes


async def decode(chunks: AsyncIterator[bytes]) -> AsyncIterator[SSEEvent]:
    """Yield one `SSEEvent` per blank-line-terminated event; comments and ids are skipped.

    Handles `\\n`, `\\r\\n` and `\\r` line ends and events split across network chunks.
    """
    buf = b""
    async for chunk in chunks:
        buf = buf + chunk if buf else chunk
        if b"\r" in buf:
            buf = buf.replace(b"\r\n", b"\n").replace(b"\r", b"\n")
        while True:
            end = buf.find(b"\n\n")
            if end < 0:
                break
            block, buf = buf[:end], buf[end + 2 :]
            ev = _parse_block(block)
            if ev is not None:
                yield ev
    if buf.strip():
        ev = _parse_block(buf)
        if ev is not None:
            yield ev


def _parse_block(block: bytes) -> SSEEvent | None:
    if block.startswith(b"data: ") and b"\n" not in block:  # the common case: one data line
        return SSEEvent("message", block[6:])
    event = "message"
    data: list[bytes] = []
    for line in block.split(b"\n"):
        if not line or line.startswith(b":"):
            continue
        name, _, value = line.partition(b":")
        if value.startswith(b" "):
            value = value[1:]
        if name == b"data":
            data.append(value)
        elif name == b"event":
            event = value.decode("utf-8", "replace")
    if not data:
        return None
    return SSEEvent(event, b"\n".join(data))
