"""The Redis backend's presence: sessions in a hash per workspace, expiries in a sorted set."""

from __future__ import annotations

from collections.abc import Sequence

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
from .redis_codec import (
    decode_lock,
    decode_session,
    encode_audience,
    encode_info,
    reply_int,
    reply_list,
)
from .redis_scripts import Runner


class RedisPresence:
    def __init__(self, runner: Runner) -> None:
        self._runner = runner

    async def join(self, ws: WorkspaceKey, info: SessionInfo, ttl_ms: int) -> Joined:
        reply = await self._runner.run_tracked(ws, "presence_join", _info(info), ttl_ms)
        return _joined(reply)

    async def view(
        self,
        ws: WorkspaceKey,
        info: SessionInfo,
        entity: EntityRef | None,
        ttl_ms: int,
        audience: Audience | None = None,
    ) -> Joined:
        entity_type, entity_id = ("", "") if entity is None else (entity.type, entity.id)
        reply = await self._runner.run_tracked(
            ws,
            "presence_view",
            _info(info),
            ttl_ms,
            entity_type,
            entity_id,
            encode_audience(audience),
        )
        return _joined(reply)

    async def leave(self, ws: WorkspaceKey, session_id: str, reason: LeaveReason = "leave") -> bool:
        return await self._runner.run(ws, "presence_leave", session_id, reason) == 1

    async def touch(self, ws: WorkspaceKey, session_ids: Sequence[str], ttl_ms: int) -> list[str]:
        if not session_ids:
            return []
        gone = await self._runner.run_tracked(ws, "presence_touch", ttl_ms, *session_ids)
        return [sid.decode() if isinstance(sid, bytes) else str(sid) for sid in reply_list(gone)]

    async def viewers(
        self, ws: WorkspaceKey, entities: Sequence[EntityRef]
    ) -> list[EntityPresence]:
        if not entities:
            return []
        reply = await self._runner.run(
            ws, "presence_viewers", *(entity.field for entity in entities)
        )
        reply = reply_list(reply)
        found = []
        for entity, (sessions, lock) in zip(entities, reply, strict=True):
            live = sorted((decode_session(blob) for blob in sessions), key=_viewing_order)
            found.append(
                EntityPresence(entity, tuple(live), None if lock is None else decode_lock(lock))
            )
        return found

    async def roster(self, ws: WorkspaceKey) -> list[PresenceSession]:
        reply = await self._runner.run(ws, "presence_roster")
        reply = reply_list(reply)
        sessions = (decode_session(blob) for blob in reply)
        return sorted(sessions, key=lambda s: (s.joined_at_ms, s.session_id))

    async def users(self, ws: WorkspaceKey, user_ids: Sequence[str]) -> list[UserPresence]:
        if not user_ids:
            return []
        reply = reply_list(await self._runner.run(ws, "presence_users", *user_ids))
        return [
            UserPresence(user_id, reply_int(count))
            for user_id, count in zip(user_ids, reply, strict=True)
        ]

    async def get(self, ws: WorkspaceKey, session_id: str) -> PresenceSession | None:
        reply = await self._runner.run(ws, "presence_get", session_id)
        return None if reply is None else decode_session(reply)


def _info(info: SessionInfo) -> bytes:
    return encode_info(info.session_id, info.user_id, info.name, info.kind)


def _joined(reply: object) -> Joined:
    reply = reply_list(reply)
    new, session = reply
    return Joined(decode_session(session), new=new == 1)


def _viewing_order(session: PresenceSession) -> tuple[int, str]:
    since = session.viewing_since_ms
    return (session.joined_at_ms if since is None else since), session.session_id
