"""Session affinity: which deployment last served a session, so its requests keep hitting one
provider's prompt cache. Scoped by client key + session id + requested model; written only after a
success; forgotten after `ttl` idle seconds. `session_of` finds the session id a request carries.
"""

from __future__ import annotations

import time
from collections import OrderedDict
from collections.abc import Callable, Iterable
from typing import Any, Protocol

__all__ = ["Affinity", "MemoryAffinity", "affinity_key", "session_of"]

_MAX_SESSIONS = 100_000  # the oldest entries go first beyond this (memory stays bounded)


def session_of(headers: Iterable[tuple[bytes, bytes]], names: tuple[bytes, ...], user: Any = None) -> str | None:
    """The first of the configured headers present (in the order configured), else the body's `user`
    (pass None to ignore it).

        session_of(scope["headers"], (b"x-session-id", b"x-claude-code-session-id"), body.get("user"))
    """
    if names:
        found: dict[bytes, bytes] = {}
        for name, value in headers:
            if name in names and value:
                found[name] = value
        for name in names:
            if name in found:
                return found[name].decode("latin-1")
    return user if isinstance(user, str) and user else None


def affinity_key(key_name: str, session: str, requested: str) -> str:
    return f"{key_name}\x1f{session}\x1f{requested}"


class Affinity(Protocol):
    """Where sessions' deployments are remembered: in memory, or in Redis for replicas (shared.py)."""

    async def get(self, key: str) -> str | None: ...

    def set(self, key: str, deployment: str) -> None: ...


class MemoryAffinity:
    """    a = MemoryAffinity(ttl=3600); a.set(k, "openai:gpt-4o"); await a.get(k) == "openai:gpt-4o" """

    def __init__(self, ttl: float, *, clock: Callable[[], float] = time.monotonic,
                 max_sessions: int = _MAX_SESSIONS) -> None:
        self.ttl = ttl
        self.clock = clock
        self.max_sessions = max_sessions
        self._entries: OrderedDict[str, tuple[str, float]] = OrderedDict()

    def peek(self, key: str) -> str | None:
        entry = self._entries.get(key)
        if entry is None:
            return None
        if entry[1] <= self.clock():
            del self._entries[key]
            return None
        return entry[0]

    async def get(self, key: str) -> str | None:
        return self.peek(key)

    def set(self, key: str, deployment: str) -> None:
        entries = self._entries
        entries[key] = (deployment, self.clock() + self.ttl)
        entries.move_to_end(key)
        if len(entries) > self.max_sessions:
            entries.popitem(last=False)
