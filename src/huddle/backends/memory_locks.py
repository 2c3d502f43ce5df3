"""The memory backend's leases, with a per-workspace fencing counter and a per-user index."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace

from ..ids import EntityRef, WorkspaceKey
from ..models import Actor, Audience, Granted, Held, Holder, Lock, NotHeld, Released
from .memory_state import Store, lease_data, user_actor


class MemoryLocks:
    def __init__(self, store: Store) -> None:
        self._store = store

    async def acquire(
        self,
        ws: WorkspaceKey,
        entity: EntityRef,
        holder: Holder,
        ttl_ms: int,
        audience: Audience | None = None,
    ) -> Granted | Held:
        store = self._store
        now = store.now()
        w = store.workspace(ws)
        lease = store.meet_lease(w, entity, now)
        if lease is not None and lease.user_id != holder.user_id:
            return Held(lease)
        if lease is not None:
            lock = replace(
                lease,
                name=holder.name,
                session_id=holder.session_id,
                expires_at_ms=now + ttl_ms,
                audience=audience,
            )
            w.put_lease(lock)
            store.emit(w, "lock.refreshed", user_actor(lock), lease_data(lock), now, audience)
            return Granted(lock, fresh=False)
        # A counter that starts (a new store) starts at the time in microseconds, above every
        # token an earlier store granted: an old token never names a new grant (as on Redis).
        if w.fencing == 0:
            w.fencing = now * 1000
        w.fencing += 1
        lock = Lock(
            entity=entity,
            user_id=holder.user_id,
            name=holder.name,
            session_id=holder.session_id,
            acquired_at_ms=now,
            expires_at_ms=now + ttl_ms,
            token=w.fencing,
            audience=audience,
        )
        store.grant_lease(w, lock, now)
        return Granted(lock, fresh=True)

    async def refresh(
        self,
        ws: WorkspaceKey,
        entity: EntityRef,
        user_id: str,
        ttl_ms: int,
        session_id: str | None = None,
    ) -> Granted | Held | NotHeld:
        store = self._store
        now = store.now()
        w = store.workspaces.get(ws)
        lease = None if w is None else store.meet_lease(w, entity, now)
        if w is None or lease is None:
            return NotHeld()
        if lease.user_id != user_id:
            return Held(lease)
        lock = replace(lease, expires_at_ms=now + ttl_ms)
        if session_id is not None:
            lock = replace(lock, session_id=session_id)
        w.put_lease(lock)
        store.emit(w, "lock.refreshed", user_actor(lock), lease_data(lock), now, lock.audience)
        return Granted(lock, fresh=False)

    async def release(
        self, ws: WorkspaceKey, entity: EntityRef, user_id: str, session_id: str | None = None
    ) -> Released | Held | NotHeld:
        store = self._store
        now = store.now()
        w = store.workspaces.get(ws)
        lease = None if w is None else store.meet_lease(w, entity, now)
        if w is None or lease is None:
            return NotHeld()
        if lease.user_id != user_id or (session_id is not None and lease.session_id != session_id):
            return Held(lease)
        store.end_lease(w, lease, "lock.released", user_actor(lease), now)
        return Released(lease)

    async def force_release(
        self, ws: WorkspaceKey, entity: EntityRef, by: Actor
    ) -> Released | NotHeld:
        store = self._store
        now = store.now()
        w = store.workspaces.get(ws)
        lease = None if w is None else store.meet_lease(w, entity, now)
        if w is None or lease is None:
            return NotHeld()
        store.end_lease(w, lease, "lock.force_released", by, now, {"released_by": by.id})
        return Released(lease)

    async def get(self, ws: WorkspaceKey, entities: Sequence[EntityRef]) -> list[Lock | None]:
        now = self._store.now()
        w = self._store.workspaces.get(ws)
        if w is None:
            return [None] * len(entities)
        return [w.live_lease(entity, now) for entity in entities]

    async def held_by(self, ws: WorkspaceKey, user_id: str) -> list[Lock]:
        now = self._store.now()
        w = self._store.workspaces.get(ws)
        if w is None:
            return []
        live = (w.live_lease(entity, now) for entity in w.leases_by_user.get(user_id, ()))
        return sorted((lock for lock in live if lock is not None), key=lambda lock: lock.entity)
