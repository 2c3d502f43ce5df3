"""Presence: who is in a workspace and who views what, folded to distinct users.

A presence session belongs to one user. Clients name their sessions (a tab id, say); the stored
id is `<user_id>/<client id>`, so a caller can only ever touch its own sessions. Viewer lists
and counts are distinct users, each with the number of its sessions beside it.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, replace

from ..auth import Principal
from ..engine.audiences import AudienceService
from ..engine.entities import EntityAudiences, Invisible
from ..errors import InvalidInput, NotFound
from ..hub.node import Node
from ..ids import EntityRef, WorkspaceKey
from ..models import (
    EntityPresence,
    Joined,
    Lock,
    PresenceSession,
    SessionInfo,
    SessionKind,
    UserPresence,
)

DEFAULT_CLIENT_SESSION = "default"


@dataclass(frozen=True, slots=True)
class Viewer:
    user_id: str
    name: str | None
    since_ms: int
    sessions: int
    holds_lock: bool


@dataclass(frozen=True, slots=True)
class EntityViewers:
    entity: EntityRef
    viewers: tuple[Viewer, ...]
    sessions: int
    lock: Lock | None

    @property
    def count(self) -> int:
        return len(self.viewers)


@dataclass(frozen=True, slots=True)
class RosterEntry:
    user_id: str
    name: str | None
    since_ms: int
    sessions: tuple[PresenceSession, ...]


def session_id_for(principal: Principal, client_session: str | None) -> str:
    return f"{principal.user_id}/{client_session or DEFAULT_CLIENT_SESSION}"


def client_session_of(session_id: str) -> str:
    return session_id.rpartition("/")[2]


class PresenceService:
    """Sessions and what they view. Entities of a type declared private (`EntityAudiences`)
    are announced to their audience only; a caller outside it cannot view one (404, as for
    one that does not exist) and reads show nobody viewing it."""

    def __init__(self, node: Node, audiences: AudienceService, entities: EntityAudiences) -> None:
        self._store = node.backend.presence
        self._settings = node.settings
        self._audiences = audiences
        self._entities = entities

    @property
    def ttl_ms(self) -> int:
        return round(self._settings.presence_ttl * 1000)

    def _info(
        self, principal: Principal, client_session: str | None, kind: SessionKind
    ) -> SessionInfo:
        return SessionInfo(
            session_id_for(principal, client_session), principal.user_id, principal.name, kind
        )

    async def join(
        self,
        ws: WorkspaceKey,
        principal: Principal,
        client_session: str | None = None,
        kind: SessionKind = "rest",
    ) -> Joined:
        """Announce (or keep alive) the caller's session; `presence.joined` when new."""
        return await self._store.join(ws, self._info(principal, client_session, kind), self.ttl_ms)

    async def view(
        self,
        ws: WorkspaceKey,
        principal: Principal,
        entity: EntityRef | None,
        client_session: str | None = None,
        kind: SessionKind = "rest",
    ) -> Joined:
        """Say what the caller's session views (joining it if needed)."""
        info = self._info(principal, client_session, kind)
        audience = None
        if entity is not None and self._entities.is_private(entity.type):
            reader = await self._audiences.reader(ws, principal)
            try:
                audience = await self._entities.audience(ws, entity, reader)
            except Invisible:
                raise NotFound(
                    "The requested resource was not found", details=_entity_details(entity)
                ) from None
        return await self._store.view(ws, info, entity, self.ttl_ms, audience)

    async def leave(
        self, ws: WorkspaceKey, principal: Principal, client_session: str | None = None
    ) -> bool:
        return await self._store.leave(ws, session_id_for(principal, client_session))

    async def viewers(
        self, ws: WorkspaceKey, entities: Sequence[EntityRef], caller: Principal | None = None
    ) -> list[EntityViewers]:
        """Distinct viewing users per entity, in request order; one backend round trip. An
        entity the caller may not see reads as one nobody views or locks."""
        if len(entities) > self._settings.summary_max_entities:
            raise InvalidInput(
                f"at most {self._settings.summary_max_entities} entities per request",
                loc=("body", "entities"),
                input=len(entities),
            )
        found = await self._store.viewers(ws, entities)
        private = [e for e in entities if self._entities.is_private(e.type)]
        if private and caller is not None:
            reader = await self._audiences.reader(ws, caller)
            hidden = set()
            for entity in private:
                try:
                    await self._entities.audience(ws, entity, reader)
                except Invisible:
                    hidden.add(entity)
            found = [EntityPresence(f.entity, (), None) if f.entity in hidden else f for f in found]
        return [_fold(f) for f in found]

    async def users(self, ws: WorkspaceKey, user_ids: Sequence[str]) -> list[UserPresence]:
        """Whether each of `user_ids` is online (has a live session), in order; one backend
        round trip that costs O(ids), never a scan of the workspace."""
        if len(user_ids) > self._settings.summary_max_entities:
            raise InvalidInput(
                f"at most {self._settings.summary_max_entities} user ids per request",
                loc=("body", "user_ids"),
                input=len(user_ids),
            )
        return await self._store.users(ws, user_ids)

    async def roster(self, ws: WorkspaceKey, caller: Principal | None = None) -> list[RosterEntry]:
        """Every present user of the workspace with its live sessions, earliest first. What
        a session views is left out when the caller may not see it."""
        reader = None if caller is None else await self._audiences.reader(ws, caller)
        by_user: dict[str, list[PresenceSession]] = {}
        for session in await self._store.roster(ws):
            if reader is not None and not reader.admits(session.viewing_audience):
                session = replace(session, viewing=None, viewing_since_ms=None)
            by_user.setdefault(session.user_id, []).append(session)
        entries = [
            RosterEntry(
                user_id=user_id,
                name=_latest_name(sessions),
                since_ms=min(s.joined_at_ms for s in sessions),
                sessions=tuple(sessions),
            )
            for user_id, sessions in by_user.items()
        ]
        return sorted(entries, key=lambda e: (e.since_ms, e.user_id))


def _entity_details(entity: EntityRef) -> dict[str, str]:
    return {"resource_type": entity.type, "resource_id": entity.id}


def _fold(found: EntityPresence) -> EntityViewers:
    by_user: dict[str, list[PresenceSession]] = {}
    for session in found.sessions:
        by_user.setdefault(session.user_id, []).append(session)
    holder = found.lock.user_id if found.lock else None
    viewers = [
        Viewer(
            user_id=user_id,
            name=_latest_name(sessions),
            since_ms=min(s.viewing_since_ms or s.joined_at_ms for s in sessions),
            sessions=len(sessions),
            holds_lock=user_id == holder,
        )
        for user_id, sessions in by_user.items()
    ]
    viewers.sort(key=lambda v: (v.since_ms, v.user_id))
    return EntityViewers(found.entity, tuple(viewers), len(found.sessions), found.lock)


def _latest_name(sessions: Sequence[PresenceSession]) -> str | None:
    named = [s for s in sessions if s.name]
    return max(named, key=lambda s: s.joined_at_ms).name if named else None
