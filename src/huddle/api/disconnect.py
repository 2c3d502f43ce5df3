"""Work a request waits on, dropped when its client leaves or the node drains: a long poll
whose page closed, or that a shutdown overtakes, must not hold the node for the rest of its
`wait`."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Coroutine
from typing import Any, TypeVar

from starlette.requests import Request

T = TypeVar("T")


async def until_disconnected(
    request: Request, work: Coroutine[Any, Any, T], *, or_until: Coroutine[Any, Any, None]
) -> T | None:
    """`work`'s result, or None (and `work` cancelled) if the client disconnects or
    `or_until` returns first."""
    task = asyncio.ensure_future(work)
    watches = (asyncio.ensure_future(_disconnected(request)), asyncio.ensure_future(or_until))
    try:
        await asyncio.wait((task, *watches), return_when=asyncio.FIRST_COMPLETED)
    finally:
        for pending in (task, *watches):
            if not pending.done():
                pending.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await pending
    return task.result() if task.done() and not task.cancelled() else None


async def _disconnected(request: Request) -> None:
    while (await request.receive())["type"] != "http.disconnect":
        pass
