"""Encode AWS event stream frames (`application/vnd.amazon.eventstream`), as Bedrock streams.

Frame: total length (u32) | headers length (u32) | prelude CRC32 | headers | payload |
message CRC32 (over everything before it). Headers here are all strings (type 7). The
faithfulness test decodes these frames with botocore's own `EventStreamBuffer`.
"""

from __future__ import annotations

import json
import struct
import zlib
from collections.abc import Mapping
from typing import Any

_STRING = 7


def frame(headers: Mapping[str, str], payload: bytes) -> bytes:
    """One event stream message."""
    encoded = b"".join(_header(name, value) for name, value in headers.items())
    total = 12 + len(encoded) + len(payload) + 4
    prelude = struct.pack(">II", total, len(encoded))
    body = prelude + struct.pack(">I", zlib.crc32(prelude)) + encoded + payload
    return body + struct.pack(">I", zlib.crc32(body))


def _header(name: str, value: str) -> bytes:
    raw_name, raw_value = name.encode(), value.encode()
    return (
        struct.pack(">B", len(raw_name))
        + raw_name
        + struct.pack(">BH", _STRING, len(raw_value))
        + raw_value
    )


def event(event_type: str, payload: Mapping[str, Any]) -> bytes:
    """An `event` message carrying JSON, e.g. `event("messageStart", {"role": "assistant"})`."""
    headers = {
        ":event-type": event_type,
        ":content-type": "application/json",
        ":message-type": "event",
    }
    return frame(headers, json.dumps(payload, separators=(",", ":")).encode())


def exception(exception_type: str, message: str) -> bytes:
    """An in-stream `exception` message, e.g. `exception("throttlingException", "...")`."""
    headers = {
        ":exception-type": exception_type,
        ":content-type": "application/json",
        ":message-type": "exception",
    }
    return frame(headers, json.dumps({"message": message}).encode())
