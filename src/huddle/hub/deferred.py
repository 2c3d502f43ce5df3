"""Work a node owes later (e.g. releasing a dropped connection's locks after a grace period):
owned tasks, cancelled when the node stops, never fire-and-forget."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable

from ..errors import BackendUnavailable

log = logging.getLogger("huddle.hub")


class Deferred:
    def __init__(self) -> None:
        self._tasks: set[asyncio.Task[None]] = set()

    def __len__(self) -> int:
        return len(self._tasks)

    def after(self, delay: float, work: Callable[[], Awaitable[object]], what: str) -> None:
        """Run `work()` in `delay` seconds; a failure is logged, never raised."""

        async def run() -> None:
            await asyncio.sleep(delay)
            try:
                await work()
            except BackendUnavailable as exc:
                log.warning("%s skipped: %s", what, exc.message)
            except Exception:
                log.exception("%s failed", what)

        task = asyncio.create_task(run(), name=what)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def aclose(self) -> None:
        tasks = list(self._tasks)
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
