"""The node's long-lived work, supervised: every task is owned, and one that fails for a reason
nobody planned for is logged, counted and restarted with backoff — never silently gone.

A workspace channel that hit a bug would otherwise stop delivering that workspace on this node
while its clients stay connected and see nothing wrong; a presence keeper would let every
session of the node expire. Work that ends by returning (its own stop signal) is not restarted.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from typing import Final

from .metrics import Metrics, TaskKind

log = logging.getLogger("huddle.hub")

#: A task that ran this long before failing starts its backoff over.
_HEALTHY_AFTER: Final = 60.0


class Supervisor:
    def __init__(self, metrics: Metrics, *, backoff: float = 0.1, backoff_cap: float = 5.0) -> None:
        self._metrics = metrics
        self._backoff = backoff
        self._backoff_cap = backoff_cap
        self._tasks: set[asyncio.Task[None]] = set()

    def __len__(self) -> int:
        """Tasks running (or being cancelled) under this supervisor."""
        return len(self._tasks)

    def start(
        self, kind: TaskKind, name: str, work: Callable[[], Awaitable[None]]
    ) -> asyncio.Task[None]:
        """Run `work()` in a task of its own, again after each unexpected failure; the task is
        the supervisor's until it ends (cancel it to stop the work; `aclose` awaits it)."""
        task = asyncio.get_running_loop().create_task(self._keep(kind, name, work), name=name)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
        return task

    async def _keep(self, kind: TaskKind, name: str, work: Callable[[], Awaitable[None]]) -> None:
        loop = asyncio.get_running_loop()
        failures = 0
        while True:
            started = loop.time()
            try:
                await work()
                return
            except Exception:
                if loop.time() - started > _HEALTHY_AFTER:
                    failures = 0
                delay = min(self._backoff_cap, self._backoff * 2**failures)
                failures += 1
                self._metrics.task_failed(kind)
                log.exception("%s failed (failure %d); restarting in %.1f s", name, failures, delay)
                await asyncio.sleep(delay)

    async def aclose(self) -> None:
        """Cancel every task and wait until each has ended."""
        tasks = list(self._tasks)
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
