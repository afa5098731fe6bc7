"""A non-stream request whose client goes away: the work on its behalf (the upstream call) is cancelled,
so the gateway reports an exception of kind "exit" and records failed usage, instead of a success nobody
received. Streams watch their client themselves, between chunks."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable
from typing import TypeVar

from starlette.types import Receive

__all__ = ["unless_client_leaves"]

T = TypeVar("T")


async def unless_client_leaves(receive: Receive, work: Awaitable[T]) -> T | None:
    """`await work`, or None when the client disconnects first (then `work` was cancelled).
    Call it once the request body has been read: every later message is the disconnect.

        answer = await unless_client_leaves(receive, gateway.complete(req, rid))
        if answer is None:
            return  # nobody to answer
    """
    task = asyncio.current_task()
    assert task is not None
    gone = False

    async def watch_client() -> None:
        nonlocal gone
        while (await receive())["type"] != "http.disconnect":
            pass
        gone = True
        task.cancel()

    watcher = asyncio.create_task(watch_client())
    try:
        return await work
    except asyncio.CancelledError:
        if not gone:
            raise
        task.uncancel()
        return None
    finally:
        watcher.cancel()
