"""The memory backend's presence: sessions per workspace, indexed by the entity they view."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace

from ..ids import EntityRef, WorkspaceKey
from ..models import (
    Audience,
    EntityPresence,
    Joined,
    LeaveReason,
    PresenceSession,
    SessionInfo,
    UserPresence,
)
from .memory_state import Store, WorkspaceState, user_actor, viewing_data


class MemoryPresence:
    def __init__(self, store: Store) -> None:
        self._store = store

    async def join(self, ws: WorkspaceKey, info: SessionInfo, ttl_ms: int) -> Joined:
        store = self._store
        now = store.now()
        w = store.workspace(ws)
        session = store.meet_session(w, info.session_id, now)
        if session is None:
            return Joined(self._start(w, info, ttl_ms, now), new=True)
        session = replace(session, name=info.name, expires_at_ms=now + ttl_ms)
        w.put_session(session)
        return Joined(session, new=False)

    async def view(
        self,
        ws: WorkspaceKey,
        info: SessionInfo,
        entity: EntityRef | None,
        ttl_ms: int,
        audience: Audience | None = None,
    ) -> Joined:
        store = self._store
        now = store.now()
        w = store.workspace(ws)
        session = store.meet_session(w, info.session_id, now)
        new = session is None
        if session is None:
            session = self._start(w, info, ttl_ms, now)
        previous, before = session.viewing, session.viewing_audience
        if entity is None:
            audience = None
        if previous == entity:
            session = replace(
                session, name=info.name, expires_at_ms=now + ttl_ms, viewing_audience=audience
            )
            w.put_session(session)
            return Joined(session, new)
        session = replace(
            session,
            name=info.name,
            expires_at_ms=now + ttl_ms,
            viewing=entity,
            viewing_since_ms=None if entity is None else now,
            viewing_audience=audience,
        )
        w.put_session(session)
        actor = user_actor(session)
        if previous is not None and before != audience:
            # Those who may see the previous entity see the session leave it; those who may
            # see the new one see it arrive from nowhere: neither learns of the other's.
            away = replace(session, viewing=None)
            store.emit(w, "presence.viewing", actor, viewing_data(away, previous), now, before)
            if entity is not None:
                data = viewing_data(session, None)
                store.emit(w, "presence.viewing", actor, data, now, audience)
        else:
            data = viewing_data(session, previous)
            store.emit(w, "presence.viewing", actor, data, now, audience)
        return Joined(session, new)

    def _start(
        self, w: WorkspaceState, info: SessionInfo, ttl_ms: int, now: int
    ) -> PresenceSession:
        session = PresenceSession(
            session_id=info.session_id,
            user_id=info.user_id,
            name=info.name,
            kind=info.kind,
            joined_at_ms=now,
            expires_at_ms=now + ttl_ms,
        )
        self._store.start_session(w, session, now)
        return session

    async def leave(self, ws: WorkspaceKey, session_id: str, reason: LeaveReason = "leave") -> bool:
        store = self._store
        now = store.now()
        w = store.workspaces.get(ws)
        if w is None:
            return False
        session = store.meet_session(w, session_id, now)
        if session is None:
            return False
        store.end_session(w, session, reason, now)
        return True

    async def touch(self, ws: WorkspaceKey, session_ids: Sequence[str], ttl_ms: int) -> list[str]:
        """Expired sessions are left to `sweep`: a heartbeat emits no events."""
        now = self._store.now()
        w = self._store.workspaces.get(ws)
        gone: list[str] = []
        for sid in dict.fromkeys(session_ids):
            session = w.live_session(sid, now) if w is not None else None
            if session is None:
                gone.append(sid)
            elif w is not None:
                w.put_session(replace(session, expires_at_ms=now + ttl_ms))
        return gone

    async def viewers(
        self, ws: WorkspaceKey, entities: Sequence[EntityRef]
    ) -> list[EntityPresence]:
        now = self._store.now()
        w = self._store.workspaces.get(ws)
        if w is None:
            return [EntityPresence(entity, (), None) for entity in entities]
        found = []
        for entity in entities:
            sessions = [
                session
                for sid in w.viewers.get(entity, ())
                if (session := w.sessions[sid]).expires_at_ms > now
            ]
            sessions.sort(key=_viewing_order)
            found.append(EntityPresence(entity, tuple(sessions), w.live_lease(entity, now)))
        return found

    async def roster(self, ws: WorkspaceKey) -> list[PresenceSession]:
        now = self._store.now()
        w = self._store.workspaces.get(ws)
        if w is None:
            return []
        live = [s for s in w.sessions.values() if s.expires_at_ms > now]
        return sorted(live, key=lambda s: (s.joined_at_ms, s.session_id))

    async def users(self, ws: WorkspaceKey, user_ids: Sequence[str]) -> list[UserPresence]:
        now = self._store.now()
        w = self._store.workspaces.get(ws)
        found = []
        for user_id in user_ids:
            sids = () if w is None else w.sessions_by_user.get(user_id, ())
            live = sum(1 for sid in sids if w is not None and w.sessions[sid].expires_at_ms > now)
            found.append(UserPresence(user_id, live))
        return found

    async def get(self, ws: WorkspaceKey, session_id: str) -> PresenceSession | None:
        now = self._store.now()
        w = self._store.workspaces.get(ws)
        return None if w is None else w.live_session(session_id, now)


def _viewing_order(session: PresenceSession) -> tuple[int, str]:
    since = session.joined_at_ms if session.viewing_since_ms is None else session.viewing_since_ms
    return since, session.session_id
