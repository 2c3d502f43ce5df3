"""Presence of live connections: the node refreshes its sessions in batches, one call per
workspace per round, instead of one call per connection.

A kept session whose backend entry is gone while its connection lives — the node could not
reach the backend for longer than the presence TTL, and a sweep (of any node) ended it — is
announced again in the next round: one `presence.joined` (and `presence.viewing` for what it
viewed). A partition that heals thus restores the roster by itself, and the connection's
client sees no error.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging

from ..backends.base import PresenceStore
from ..errors import BackendUnavailable
from ..ids import WorkspaceKey
from ..models import PresenceSession, SessionInfo
from .metrics import Metrics

log = logging.getLogger("huddle.hub")


class PresenceKeeper:
    def __init__(self, presence: PresenceStore, *, ttl: float, metrics: Metrics) -> None:
        self._presence = presence
        self._metrics = metrics
        self._ttl_ms = round(ttl * 1000)
        self._interval = ttl / 3
        self._sessions: dict[WorkspaceKey, dict[str, PresenceSession]] = {}

    def __len__(self) -> int:
        """Sessions kept alive by this node."""
        return sum(len(sessions) for sessions in self._sessions.values())

    def keep(self, ws: WorkspaceKey, session: PresenceSession) -> None:
        """Keep `session` alive, as its connection last set it (what it views included)."""
        self._sessions.setdefault(ws, {})[session.session_id] = session

    def drop(self, ws: WorkspaceKey, session_id: str) -> None:
        sessions = self._sessions.get(ws)
        if sessions is not None:
            sessions.pop(session_id, None)
            if not sessions:
                del self._sessions[ws]

    async def tick(self) -> int:
        """Refresh every kept session, announcing again those the backend lost; returns how
        many were live before this round."""
        live = 0
        for ws, sessions in list(self._sessions.items()):
            gone = await self._presence.touch(ws, list(sessions), self._ttl_ms)
            live += len(sessions) - len(gone)
            for session_id in gone:
                kept = self._sessions.get(ws, {}).get(session_id)
                if kept is not None:  # its connection may have ended meanwhile
                    await self._restore(ws, kept)
        return live

    async def _restore(self, ws: WorkspaceKey, session: PresenceSession) -> None:
        info = SessionInfo(session.session_id, session.user_id, session.name, session.kind)
        if session.viewing is None:
            await self._presence.join(ws, info, self._ttl_ms)
        else:
            audience = session.viewing_audience
            await self._presence.view(ws, info, session.viewing, self._ttl_ms, audience)
        self._metrics.presence_restored()
        log.info("%s: presence session %s announced again", ws.tag, session.session_id)

    async def run(self, stop: asyncio.Event) -> None:
        while not stop.is_set():
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), self._interval)
            try:
                await self.tick()
            except BackendUnavailable as exc:
                self._metrics.backend_error("presence_keeper")
                log.warning("presence refresh skipped: %s", exc.message)
