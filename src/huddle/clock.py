"""Time, injectable. The memory backend reads a Clock; Redis scripts read Redis `TIME`."""

from __future__ import annotations

import time
from datetime import datetime, timedelta
from typing import Protocol


class Clock(Protocol):
    def now_ms(self) -> int:
        """Milliseconds since the Unix epoch."""
        ...


class SystemClock:
    def now_ms(self) -> int:
        return time.time_ns() // 1_000_000


class ManualClock:
    """A clock that moves only when told; for tests of expiry on the memory backend."""

    def __init__(self, start_ms: int = 1_700_000_000_000) -> None:
        self._now = start_ms

    def now_ms(self) -> int:
        return self._now

    def advance(self, *, seconds: float) -> None:
        self._now += round(seconds * 1000)


_UNIX_EPOCH = datetime(1970, 1, 1)


def iso_ms(ms: int) -> str:
    """`2025-01-01T00:00:00.000Z`: the one timestamp format on every wire. Integer arithmetic
    (no float seconds) and `isoformat` (twice as fast as `strftime`: it is on the lock path)."""
    return (_UNIX_EPOCH + timedelta(milliseconds=ms)).isoformat(timespec="milliseconds") + "Z"
