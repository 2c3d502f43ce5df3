"""Waiting for something to become true, with a deadline: the one polling helper of the suite.

Tests wait for the thing itself, never for a while "to let it happen". Most waits are on an
event (`await subscription.get()` under `asyncio.timeout`). A few facts have no event to wait
on — a lease passing its expiry in Redis `TIME` is only visible by reading — and those tests
call `wait_until`, which re-checks a condition until it holds and fails at its deadline. The
pause between two checks is a short timed wait on an event nobody sets; it exists so a poll
does not spin the loop and hammer Redis, and it never decides the outcome: only the condition
does.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Awaitable, Callable
from typing import TypeVar

T = TypeVar("T")

POLL_INTERVAL = 0.01


async def _between_polls(seconds: float) -> None:
    """Let other tasks (and the store's clock) move on for up to `seconds`."""
    never_set = asyncio.Event()
    with contextlib.suppress(TimeoutError):
        async with asyncio.timeout(seconds):
            await never_set.wait()


async def wait_until(
    check: Callable[[], Awaitable[T]],
    *,
    within: float = 5.0,
    what: str = "the condition",
    interval: float = POLL_INTERVAL,
) -> T:
    """Await `check()` until it returns a truthy value, and return that value.

    Fails the test (AssertionError naming `what`, and the last value seen) when `within`
    seconds pass first. Exceptions from `check` propagate at once.
    """
    deadline = time.monotonic() + within
    while True:
        value = await check()
        if value:
            return value
        left = deadline - time.monotonic()
        if left <= 0:
            raise AssertionError(
                f"timed out after {within} s waiting for {what}; last value: {value!r}"
            )
        await _between_polls(min(interval, left))
