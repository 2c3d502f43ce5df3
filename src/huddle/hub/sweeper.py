"""The periodic expiry sweep: every node runs one, and the backend makes it exactly-once.

Each workspace's sweep is one atomic backend step, so two nodes sweeping the same workspace at
the same moment still emit one `presence.left` or `lock.expired` per expiry.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging

from ..backends.base import Backend
from ..errors import BackendUnavailable
from ..models import SweepResult
from .metrics import Metrics

log = logging.getLogger("huddle.sweeper")


class Sweeper:
    def __init__(
        self, backend: Backend, *, interval: float, batch: int, metrics: Metrics | None = None
    ) -> None:
        self._backend = backend
        self._metrics = metrics
        self._interval = interval
        self._batch = batch

    async def tick(self) -> SweepResult:
        """Sweep every active workspace until nothing expired is left; totals returned."""
        sessions = locks = 0
        for ws in await self._backend.active_workspaces():
            while True:
                result = await self._backend.sweep(ws, self._batch)
                sessions += result.sessions_expired
                locks += result.locks_expired
                if max(result.sessions_expired, result.locks_expired) < self._batch:
                    break
        return SweepResult(sessions_expired=sessions, locks_expired=locks)

    async def run(self, stop: asyncio.Event) -> None:
        """Tick until `stop` is set; a failed tick is logged and retried at the next one.

        Stopping by an event, not only by cancellation: a library that swallows a
        cancellation mid-call (redis-py's `wait_for` on Python 3.11 can) must not keep a
        closing node alive."""
        while not stop.is_set():
            try:
                await self.tick()
            except BackendUnavailable as exc:
                if self._metrics is not None:
                    self._metrics.backend_error("sweeper")
                log.warning("sweep skipped: %s", exc)
            except Exception:
                # A bug in one sweep must not stop expiry for good: loud, then the next tick.
                log.exception("sweep failed")
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), self._interval)
