"""The bounded subscriber both backends hand out from `EventLog.subscribe`."""

from __future__ import annotations

import asyncio

from ..models import Event
from .base import SubscriptionLost


class Subscriber:
    """One `subscribe` context: a bounded queue that the fan-out fills without ever awaiting.

    A full queue means the subscriber fell more than `limit` events behind: it is marked lost,
    its queued events are dropped (it must read the gap from the log anyway) and its next `get`
    raises `SubscriptionLost`.
    """

    __slots__ = ("_limit", "_lost", "_queue")

    def __init__(self, limit: int) -> None:
        self._limit = limit
        # None is the wake-up that tells a waiting `get` the subscription was lost.
        self._queue: asyncio.Queue[Event | None] = asyncio.Queue(maxsize=limit)
        self._lost: str | None = None

    @property
    def lost(self) -> str | None:
        return self._lost

    def offer(self, event: Event) -> bool:
        """Queue `event`; False when the subscriber is (now) lost."""
        if self._lost is not None:
            return False
        try:
            self._queue.put_nowait(event)
        except asyncio.QueueFull:
            self.lose(f"the subscriber fell more than {self._limit} events behind")
            return False
        return True

    def lose(self, reason: str) -> None:
        if self._lost is not None:
            return
        self._lost = reason
        while not self._queue.empty():
            self._queue.get_nowait()
        self._queue.put_nowait(None)

    async def get(self) -> Event:
        if self._lost is not None:
            raise SubscriptionLost(self._lost)
        event = await self._queue.get()
        if event is None:
            self._queue.put_nowait(None)
            raise SubscriptionLost(self._lost or "the subscription was lost")
        return event

    def __aiter__(self) -> Subscriber:
        return self

    async def __anext__(self) -> Event:
        return await self.get()
