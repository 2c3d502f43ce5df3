"""Start a coroutine at once, in the caller's frame; a task only if it has to wait.

Python 3.12's eager tasks, for 3.11. A WebSocket send almost never waits (the server writes
the frame to its transport and returns), so running it inline saves a task, a wake-up of the
event loop and a queue hop per frame. When it does wait (the socket is paused under
backpressure), the rest of it continues in a task that the caller awaits before sending more.
"""

from __future__ import annotations

import asyncio
from collections.abc import Coroutine
from typing import Any


def start_eagerly(coro: Coroutine[Any, Any, None]) -> asyncio.Task[None] | None:
    """Run `coro` until it ends (None) or first suspends (a task that finishes it).

    An exception raised before the first suspension propagates to the caller."""
    try:
        waiting_on = coro.send(None)
    except StopIteration:
        return None
    except BaseException:
        coro.close()
        raise
    return asyncio.get_running_loop().create_task(_finish(coro, waiting_on))


async def _finish(coro: Coroutine[Any, Any, None], waiting_on: Any) -> None:
    """Drive `coro` from the point where it suspended, as `asyncio.Task` would have: wait
    until what it yielded is done, then resume it (it reads the future's outcome itself)."""
    try:
        while True:
            if waiting_on is None:  # a bare `yield`: asyncio.sleep(0)
                await asyncio.sleep(0)
            else:
                waiting_on._asyncio_future_blocking = False
                await asyncio.wait((waiting_on,))
            waiting_on = coro.send(None)
    except StopIteration:
        return
    finally:
        coro.close()
