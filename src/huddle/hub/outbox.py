"""A session's outbound frames: written inline while the way is clear, else queued (bounded)
for the session's writer."""

from __future__ import annotations

import asyncio
from collections import deque
from collections.abc import Callable

Frame = str | bytes
"""An encoded frame: `str` for text (JSON WebSocket frames), `bytes` for the rest."""

Sink = Callable[[Frame], bool]
"""Writes one frame now if that needs no waiting (True), else declines (False)."""


class Outbox:
    """At most `limit` frames wait. A full outbox does not block the producer: `offer` answers
    False and the outbox is *overflowed*; its writer then ends the connection (WebSocket close
    4008, or the end of an SSE stream) and the client resumes from its last event id.

    With a `sink` (a WebSocket's inline send), a frame offered while nothing is queued or in
    the writer's hands is written at once: no queue, no wake-up of the writer. Frames queue
    only when the sink declines (the socket is busy or paused) and until the queue drains,
    so the order of frames is the order of offers.
    """

    __slots__ = (
        "_closed",
        "_frames",
        "_in_flight",
        "_limit",
        "_sink",
        "_wake",
        "overflowed",
        "overflowing",
    )

    def __init__(self, limit: int, sink: Sink | None = None) -> None:
        self._limit = limit
        self._sink = sink
        self._frames: deque[Frame] = deque()
        self._in_flight = False
        self._wake = asyncio.Event()
        self._closed = False
        self.overflowed = False
        #: Set on overflow, for a guard that must act even while the writer is blocked.
        self.overflowing = asyncio.Event()

    def __len__(self) -> int:
        return len(self._frames)

    @property
    def closed(self) -> bool:
        return self._closed or self.overflowed

    def offer(self, frame: Frame) -> bool:
        """Queue one frame; False when the outbox is closed or just overflowed."""
        if self.closed:
            return False
        if not self._frames and not self._in_flight and self._sink and self._sink(frame):
            return True
        if len(self._frames) >= self._limit:
            self.overflow()
            return False
        self._frames.append(frame)
        self._wake.set()
        return True

    def overflow(self) -> None:
        """Mark the outbox overflowed (its owner fell too far behind) and wake the writer."""
        self.overflowed = True
        self._frames.clear()
        self._wake.set()
        self.overflowing.set()

    def close(self) -> None:
        """No more frames are accepted; a waiting writer wakes up with what is left."""
        self._closed = True
        self._wake.set()

    async def take(self, within: float | None = None) -> list[Frame]:
        """Every queued frame, oldest first, waiting up to `within` seconds for the first one.

        Returns [] on timeout, or once the outbox is closed or overflowed and empty (check
        `closed`). Taking all at once lets a writer send a burst with one wake-up. The frames
        are *in flight* until the writer takes again: meanwhile new frames queue behind them
        rather than going to the sink."""
        self._in_flight = False
        if not self._frames and not self.closed:
            self._wake.clear()
            try:
                async with asyncio.timeout(within):
                    await self._wake.wait()
            except TimeoutError:
                return []
        frames = list(self._frames)
        self._frames.clear()
        self._in_flight = bool(frames)
        return frames
