"""Requests of one WebSocket connection answered without waiting for the previous ones.

A request is started at once, in the reader's own frame (`start_eagerly`): it runs until it
waits for the backend, so each reaches the backend in the order it was read, and their effects
keep the client's order (the Redis link writes calls in the order they are made). At most
`depth` wait at once; past that the reader waits, and reads no further frame.
"""

from __future__ import annotations

import asyncio
from collections.abc import Coroutine
from typing import Any

from ..hub.eager import start_eagerly


class RequestPipeline:
    __slots__ = ("_depth", "_failure", "_pending")

    def __init__(self, depth: int) -> None:
        self._depth = depth
        self._pending: set[asyncio.Task[None]] | None = None  # made on first use: idle is small
        self._failure: BaseException | None = None

    async def start(self, answer: Coroutine[Any, Any, None]) -> None:
        """Start `answer` once fewer than `depth` requests wait."""
        self._raise_failure()
        pending = self._pending
        if pending is None:
            pending = self._pending = set()
        while len(pending) >= self._depth:
            await asyncio.wait(pending, return_when=asyncio.FIRST_COMPLETED)
        task = start_eagerly(answer)
        if task is not None:
            pending.add(task)
            task.add_done_callback(self._done)

    async def settle(self) -> None:
        """Wait until every started request has been answered."""
        while self._pending:
            await asyncio.wait(self._pending)
        self._raise_failure()

    def abandon(self) -> None:
        for task in self._pending or ():
            task.cancel()

    def _done(self, task: asyncio.Task[None]) -> None:
        if self._pending is not None:
            self._pending.discard(task)
        if not task.cancelled() and (exc := task.exception()) is not None:
            self._failure = self._failure or exc

    def _raise_failure(self) -> None:
        """A request that failed with a bug ends the conversation, as one answered inline
        would have."""
        if self._failure is not None:
            raise self._failure
