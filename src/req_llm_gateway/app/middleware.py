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
    request id's purposes, without a call to the OS on every request (a forked child starts afresh)."""

    def __init__(self) -> None:
        self.reset()
        os.register_at_fork(after_in_child=self.reset)  # a forked child must not repeat its parent's ids

    def reset(self) -> None:
        self.prefix = os.urandom(8).hex()
        self.counter = itertools.count()

    def next(self) -> str:
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
