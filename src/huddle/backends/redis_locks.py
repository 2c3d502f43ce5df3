"""The Redis backend's leases: a hash per workspace, expiries in a sorted set, a set per user."""

from __future__ import annotations

from collections.abc import Sequence

from ..ids import EntityRef, WorkspaceKey
from ..models import Actor, Audience, Granted, Held, Holder, Lock, NotHeld, Released
from .redis_codec import decode_lock, encode_actor, encode_audience, pack, reply_list
from .redis_scripts import Runner


class RedisLocks:
    def __init__(self, runner: Runner) -> None:
        self._runner = runner

    async def acquire(
        self,
        ws: WorkspaceKey,
        entity: EntityRef,
        holder: Holder,
        ttl_ms: int,
        audience: Audience | None = None,
    ) -> Granted | Held:
        who = pack(
            {"user_id": holder.user_id, "name": holder.name, "session_id": holder.session_id}
        )
        reply = await self._runner.run_tracked(
            ws, "lock_acquire", entity.type, entity.id, who, ttl_ms, encode_audience(audience)
        )
        outcome, lock = _outcome(reply)
        if lock is None:
            raise ValueError(f"lock_acquire.lua answered {outcome!r} without a lease")
        return Held(lock) if outcome == "held" else Granted(lock, fresh=outcome == "granted")

    async def refresh(
        self,
        ws: WorkspaceKey,
        entity: EntityRef,
        user_id: str,
        ttl_ms: int,
        session_id: str | None = None,
    ) -> Granted | Held | NotHeld:
        reply = await self._runner.run(
            ws, "lock_refresh", entity.type, entity.id, user_id, ttl_ms, session_id or ""
        )
        outcome, lock = _outcome(reply)
        if lock is None:
            return NotHeld()
        return Held(lock) if outcome == "held" else Granted(lock, fresh=False)

    async def release(
        self, ws: WorkspaceKey, entity: EntityRef, user_id: str, session_id: str | None = None
    ) -> Released | Held | NotHeld:
        reply = await self._runner.run(
            ws, "lock_release", entity.type, entity.id, user_id, session_id or ""
        )
        outcome, lock = _outcome(reply)
        if lock is None:
            return NotHeld()
        return Held(lock) if outcome == "held" else Released(lock)

    async def force_release(
        self, ws: WorkspaceKey, entity: EntityRef, by: Actor
    ) -> Released | NotHeld:
        reply = await self._runner.run(
            ws, "lock_force_release", entity.type, entity.id, encode_actor(by), by.id
        )
        _, lock = _outcome(reply)
        return NotHeld() if lock is None else Released(lock)

    async def get(self, ws: WorkspaceKey, entities: Sequence[EntityRef]) -> list[Lock | None]:
        if not entities:
            return []
        reply = await self._runner.run(ws, "locks_get", *(entity.field for entity in entities))
        reply = reply_list(reply)
        return [None if blob is None else decode_lock(blob) for blob in reply]

    async def held_by(self, ws: WorkspaceKey, user_id: str) -> list[Lock]:
        reply = await self._runner.run(ws, "locks_held_by", user_id)
        reply = reply_list(reply)
        return sorted((decode_lock(blob) for blob in reply), key=lambda lock: lock.entity)


def _outcome(reply: object) -> tuple[str, Lock | None]:
    """A lock script's verdict (`granted`, `extended`, `held`, `released` or `none`) and the
    lease it concerns (None with `none`: no live lease)."""
    reply = reply_list(reply)
    outcome = reply[0].decode()
    return outcome, None if len(reply) < 2 else decode_lock(reply[1])
