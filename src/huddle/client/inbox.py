"""The client's one bounded queue: events on their way to `HuddleClient.events()`.

Transports `offer` events and never wait. When the queue holds `limit` items an offer fails:
the transport then drops its connection (or stream), waits for `wait_room()` — until the
reader has taken the queue down to half — and resumes from its cursor. So a reader that stops
reading costs at most `limit` events of memory, and loses none of them.
"""

from __future__ import annotations

import asyncio
from collections import deque

from .errors import HuddleClientError
from .events import ClientEvent


class Inbox:
    def __init__(self, limit: int) -> None:
        if limit < 1:
            raise ValueError(f"the event queue must hold at least one event, got {limit}")
        self.limit = limit
        # Failures (a subscription refused on reconnect) are queued in order with the events
        # and bypass the limit: there is at most one per subscription.
        self._items: deque[ClientEvent | HuddleClientError] = deque()
        self._ready = asyncio.Event()
        self._room = asyncio.Event()
        self._room.set()
        self._closed = False
        self._error: HuddleClientError | None = None
        self.overflows = 0
        """How many offers were refused because the queue was full."""

    def __len__(self) -> int:
        return len(self._items)

    def offer(self, event: ClientEvent) -> bool:
        """Queue `event`; False (nothing queued) when the queue is full or closed."""
        if self._closed:
            return False
        if len(self._items) >= self.limit:
            self.overflows += 1
            self._room.clear()
            return False
        self._items.append(event)
        self._ready.set()
        return True

    def fail(self, error: HuddleClientError) -> None:
        """Queue an error for the reader, after the events already queued."""
        if not self._closed:
            self._items.append(error)
            self._ready.set()

    def close(self, error: HuddleClientError | None) -> None:
        """No more events: the reader gets what is queued, then `error` (or the end)."""
        if self._closed:
            return
        self._closed = True
        self._error = error
        self._ready.set()
        self._room.set()

    async def wait_room(self) -> None:
        """Return once an offer may succeed again (at most half full), or the inbox closed."""
        await self._room.wait()

    async def get(self) -> ClientEvent | None:
        """The next event; None at the end; raises a queued failure or the closing error."""
        while not self._items:
            if self._closed:
                if self._error is not None:
                    raise self._error
                return None
            self._ready.clear()
            await self._ready.wait()
        item = self._items.popleft()
        if len(self._items) <= self.limit // 2:
            self._room.set()
        if isinstance(item, HuddleClientError):
            raise item
        return item
