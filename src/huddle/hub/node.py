"""The node: owns the backend handle, its identity and its background tasks."""

from __future__ import annotations

import asyncio
import secrets
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Final

from ..backends.base import Backend
from ..clock import Clock, SystemClock
from ..config import Settings
from .channels import Channels
from .credentials import CredentialWatch
from .deferred import Deferred
from .keepalive import PresenceKeeper
from .limits import ConnectionLimits, PublishBudgets
from .metrics import Metrics
from .sessions import Sessions
from .supervisor import Supervisor
from .sweeper import Sweeper

#: Seconds between two full checks of the backend's permissions by `/readyz` (a ping between).
_VERIFY_EVERY: Final = 30.0


class Node:
    """One Huddle process. Services reach the shared state through `node.backend`."""

    def __init__(self, backend: Backend, settings: Settings, clock: Clock | None = None) -> None:
        self.backend = backend
        self.settings = settings
        self.clock = clock or SystemClock()
        self.node_id = settings.node_id or f"node-{secrets.token_hex(3)}"
        self.metrics = Metrics()
        self.limits = ConnectionLimits(
            ws_max=settings.ws_max_connections,
            ws_max_per_user=settings.ws_max_connections_per_user,
            sse_max_per_user=settings.sse_max_streams_per_user,
        )
        self.publish_budgets = PublishBudgets(settings.publish_rate)
        self.sweeper = Sweeper(
            backend,
            interval=settings.sweep_interval,
            batch=settings.sweep_batch,
            metrics=self.metrics,
        )
        self.supervisor = Supervisor(self.metrics)
        self.channels = Channels(
            backend.log,
            self.supervisor,
            ready_timeout=settings.redis_timeout * 2,
            retry=settings.sweep_interval,
            metrics=self.metrics,
            clock=self.clock,
        )
        self.credentials = CredentialWatch(self.channels, backend.keys)
        self.keeper = PresenceKeeper(
            backend.presence, ttl=settings.presence_ttl, metrics=self.metrics
        )
        self.deferred = Deferred()
        self.sessions = Sessions(backend, self.keeper, self.deferred, settings)
        self._verified_at = float("-inf")
        self.metrics.watch(
            connections=self.limits.count,
            presence_sessions=self.keeper.__len__,
            channels=self.channels.__len__,
            subscriptions=self.channels.members,
        )

    async def ready(self) -> None:
        """Return when the backend answers and, checked again at most every
        `_VERIFY_EVERY` seconds, lets the node do all it must (`Backend.verify`); raise
        BackendUnavailable naming what is missing otherwise."""
        now = asyncio.get_running_loop().time()
        if now - self._verified_at < _VERIFY_EVERY:
            await self.backend.ping()
            return
        await self.backend.verify()
        self._verified_at = now

    @asynccontextmanager
    async def running(self) -> AsyncIterator[Node]:
        """Run the background tasks while the context is open; cancel and await them after."""
        stop = asyncio.Event()
        self.supervisor.start("sweeper", f"{self.node_id} sweeper", lambda: self.sweeper.run(stop))
        self.supervisor.start(
            "presence_keeper", f"{self.node_id} presence", lambda: self.keeper.run(stop)
        )
        try:
            yield self
        finally:
            stop.set()
            await self.deferred.aclose()
            await self.supervisor.aclose()
            self.channels.clear()
