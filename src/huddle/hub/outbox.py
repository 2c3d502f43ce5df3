"""A session's outbound frames: written inline while the way is clear, else queued (bounded)
for the session's writer."""

from __future__ import annotations

import asyncio
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

    An outbox holds no event or queue objects while idle (an idle connection costs memory, and
    a node holds thousands): frames sit in a list, and a waiting writer in a future.
    """

    __slots__ = (
        "_allowance",
        "_closed",
        "_frames",
        "_in_flight",
        "_limit",
        "_on_overflow",
        "_sink",
        "_waiter",
        "overflowed",
    )

    def __init__(
        self,
        limit: int,
        sink: Sink | None = None,
        on_overflow: Callable[[], object] | None = None,
    ) -> None:
        self._limit = limit
        self._sink = sink
        #: Called once on overflow, for a guard that must act even while the writer is blocked.
        self._on_overflow = on_overflow
        self._frames: list[Frame] = []
        # Frames queued by `admit` (a resume's backlog) that do not count against `limit`.
        self._allowance = 0
        self._in_flight = False
        self._waiter: asyncio.Future[None] | None = None
        self._closed = False
        self.overflowed = False

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
        if len(self._frames) >= self._limit + self._allowance:
            self.overflow()
            return False
        self._frames.append(frame)
        self._wake()
        return True

    def admit(self, frame: Frame) -> bool:
        """Queue a frame the connection is owed from before it went live (its resume's
        backlog): it does not count against `limit`, which bounds how far the connection may
        fall behind live events; a backlog only delays the point where it would. The
        allowance ends when the writer takes the frames."""
        if self.closed:
            return False
        if not self._frames and not self._in_flight and self._sink and self._sink(frame):
            return True
        self._frames.append(frame)
        self._allowance += 1
        self._wake()
        return True

    def overflow(self) -> None:
        """Mark the outbox overflowed (its owner fell too far behind) and wake the writer."""
        if self.overflowed:
            return
        self.overflowed = True
        self._frames.clear()
        self._wake()
        if self._on_overflow is not None:
            self._on_overflow()

    def close(self) -> None:
        """No more frames are accepted; a waiting writer wakes up with what is left."""
        self._closed = True
        self._wake()

    def _wake(self) -> None:
        waiter, self._waiter = self._waiter, None
        if waiter is not None and not waiter.done():
            waiter.set_result(None)

    def nudge(self) -> None:
        """Wake a waiting `take` even with nothing queued (it returns []): for a timer of the
        owner's, such as a stream's heartbeat, that must not cost a timeout on every take."""
        self._wake()

    async def take(self, within: float | None = None) -> list[Frame]:
        """Every queued frame, oldest first, waiting up to `within` seconds for the first one.

        Returns [] on timeout, or once the outbox is closed or overflowed and empty (check
        `closed`). Taking all at once lets a writer send a burst with one wake-up. The frames
        are *in flight* until the writer takes again: meanwhile new frames queue behind them
        rather than going to the sink."""
        self._in_flight = False
        if not self._frames and not self.closed:
            waiter = self._waiter = asyncio.get_running_loop().create_future()
            try:
                if within is None:
                    await waiter
                else:
                    async with asyncio.timeout(within):
                        await waiter
            except TimeoutError:
                return []
            finally:
                if self._waiter is waiter:
                    self._waiter = None
        frames, self._frames = self._frames, []
        self._allowance = 0
        self._in_flight = bool(frames)
        return frames
