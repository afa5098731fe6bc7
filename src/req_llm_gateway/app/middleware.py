"""The request id every response carries (set by the fused hot path, fastpath.py)."""

from __future__ import annotations

import itertools
import os
import re

from starlette.types import Scope

__all__ = ["request_id_of"]

# A client's id is kept when it is a sane token; anything else is replaced, so logs stay clean.
_SAFE_ID = re.compile(rb"[A-Za-z0-9._:\-]{1,128}")


class _Ids:
    """32 hex digits: a random 64-bit prefix per process, then a counter. Unique like a uuid4 for a
    request id's purposes, without a call to the OS's random source on every request."""

    def __init__(self) -> None:
        self.pid = -1
        self.prefix = ""
        self.counter = itertools.count()

    def next(self) -> str:
        if self.pid != os.getpid():  # a forked child must not repeat its parent's ids
            self.pid, self.prefix, self.counter = os.getpid(), os.urandom(8).hex(), itertools.count()
        return f"{self.prefix}{next(self.counter):016x}"


_ids = _Ids()


def request_id_of(scope: Scope) -> str:
    """The client's `x-request-id` when it is a sane token, else a new id."""
    for name, value in scope["headers"]:
        if name == b"x-request-id":
            if _SAFE_ID.fullmatch(value):
                return str(value.decode())
            break
    return _ids.next()
