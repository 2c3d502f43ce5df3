"""Presence of live connections: the node refreshes its sessions in batches, one call per
workspace per round, instead of one call per connection."""

from __future__ import annotations

import asyncio
import contextlib
import logging

from ..backends.base import PresenceStore
from ..errors import BackendUnavailable
from ..ids import WorkspaceKey
from .metrics import Metrics

log = logging.getLogger("huddle.hub")


class PresenceKeeper:
    def __init__(self, presence: PresenceStore, *, ttl: float, metrics: Metrics) -> None:
        self._presence = presence
        self._metrics = metrics
        self._ttl_ms = round(ttl * 1000)
        self._interval = ttl / 3
        self._sessions: dict[WorkspaceKey, dict[str, None]] = {}

    def __len__(self) -> int:
        """Sessions kept alive by this node."""
        return sum(len(sessions) for sessions in self._sessions.values())

    def keep(self, ws: WorkspaceKey, session_id: str) -> None:
        self._sessions.setdefault(ws, {})[session_id] = None

    def drop(self, ws: WorkspaceKey, session_id: str) -> None:
        sessions = self._sessions.get(ws)
        if sessions is not None:
            sessions.pop(session_id, None)
            if not sessions:
                del self._sessions[ws]

    async def tick(self) -> int:
        """Refresh every kept session; returns how many were still live."""
        live = 0
        for ws, sessions in list(self._sessions.items()):
            live += await self._presence.touch(ws, list(sessions), self._ttl_ms)
        return live

    async def run(self, stop: asyncio.Event) -> None:
        while not stop.is_set():
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), self._interval)
            try:
                await self.tick()
            except BackendUnavailable as exc:
                self._metrics.backend_error("presence_keeper")
                log.warning("presence refresh skipped: %s", exc.message)
