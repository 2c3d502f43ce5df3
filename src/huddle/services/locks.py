"""Edit locks (leases) with fencing tokens: the rules around the backend's atomic steps."""

from __future__ import annotations

from dataclasses import dataclass

from ..auth import Principal
from ..clock import iso_ms
from ..engine.audiences import AudienceService
from ..engine.entities import EntityAudiences, Invisible
from ..errors import BadRequest, Forbidden, InvalidInput, LockHeld, NotFound
from ..hub.node import Node
from ..ids import EntityRef, WorkspaceKey
from ..models import Audience, Granted, Held, Holder, Lock, NotHeld, Released


class LockNotHeld(NotFound):
    code = "LOCK_NOT_HELD"


class ConfirmationRequired(BadRequest):
    code = "CONFIRMATION_REQUIRED"


@dataclass(frozen=True, slots=True)
class ReleaseOutcome:
    released: bool
    lock: Lock | None


class LockService:
    """Leases on entities. A lease on an entity of a type declared private is announced to
    the entity's audience only; a caller outside it cannot act on it (404, as for one that
    does not exist) and reads it as unlocked."""

    def __init__(self, node: Node, audiences: AudienceService, entities: EntityAudiences) -> None:
        self._store = node.backend.locks
        self._settings = node.settings
        self._audiences = audiences
        self._entities = entities

    async def _audience(
        self, ws: WorkspaceKey, principal: Principal, entity: EntityRef
    ) -> Audience | None:
        """The entity's audience for a caller who may see it; 404 otherwise."""
        if not self._entities.is_private(entity.type):
            return None
        reader = await self._audiences.reader(ws, principal)
        try:
            return await self._entities.audience(ws, entity, reader)
        except Invisible:
            raise NotFound(
                "The requested resource was not found", details=_entity_details(entity)
            ) from None

    def ttl_ms(self, ttl: float | None) -> int:
        """The lease asked for, in ms; None means the default. Out of bounds is refused."""
        settings = self._settings
        if ttl is None:
            return round(settings.lock_ttl_default * 1000)
        if not settings.lock_ttl_min <= ttl <= settings.lock_ttl_max:
            raise InvalidInput(
                f"ttl must be between {settings.lock_ttl_min:g} and "
                f"{settings.lock_ttl_max:g} seconds",
                loc=("query", "ttl"),
                input=ttl,
            )
        return round(ttl * 1000)

    async def acquire(
        self,
        ws: WorkspaceKey,
        principal: Principal,
        entity: EntityRef,
        ttl: float | None = None,
        session_id: str | None = None,
    ) -> Granted:
        """Take or extend the caller's lease; LockHeld (409) naming the holder otherwise."""
        holder = Holder(principal.user_id, principal.name, session_id)
        audience = await self._audience(ws, principal, entity)
        result = await self._store.acquire(ws, entity, holder, self.ttl_ms(ttl), audience)
        if isinstance(result, Held):
            raise _held(result.lock)
        return result

    async def refresh(
        self,
        ws: WorkspaceKey,
        principal: Principal,
        entity: EntityRef,
        ttl: float | None = None,
        session_id: str | None = None,
    ) -> Granted:
        """Extend the caller's lease; from a connection (`session_id`), it becomes that
        connection's lease (so its own drop, not an older one's, releases it)."""
        await self._audience(ws, principal, entity)
        result = await self._store.refresh(
            ws, entity, principal.user_id, self.ttl_ms(ttl), session_id
        )
        match result:
            case Granted():
                return result
            case Held():
                raise _not_yours(result.lock, "refresh")
            case NotHeld():
                raise LockNotHeld(
                    "You hold no lock on this entity (it expired or was released)",
                    details=_entity_details(entity),
                )

    async def release(
        self, ws: WorkspaceKey, principal: Principal, entity: EntityRef
    ) -> ReleaseOutcome:
        """Release the caller's lease; releasing a free entity is a no-op answer."""
        await self._audience(ws, principal, entity)
        result = await self._store.release(ws, entity, principal.user_id)
        match result:
            case Released():
                return ReleaseOutcome(True, result.lock)
            case Held():
                raise _not_yours(result.lock, "release")
            case NotHeld():
                return ReleaseOutcome(False, None)

    async def force_release(
        self, ws: WorkspaceKey, principal: Principal, entity: EntityRef, confirm: str
    ) -> ReleaseOutcome:
        """Admins end anyone's lease, and must say `confirm=true`."""
        principal.require_admin("locks:force_release")
        if confirm.strip().lower() != "true":
            raise ConfirmationRequired(
                "Force release ends another user's edit session: repeat with confirm=true",
                details={"confirm": confirm[:20]},
            )
        await self._audience(ws, principal, entity)
        result = await self._store.force_release(ws, entity, principal.actor())
        if isinstance(result, Released):
            return ReleaseOutcome(True, result.lock)
        return ReleaseOutcome(False, None)

    async def status(
        self, ws: WorkspaceKey, entity: EntityRef, caller: Principal | None = None
    ) -> Lock | None:
        """The entity's live lease; None when free, or when the caller may not see it."""
        if caller is not None and self._entities.is_private(entity.type):
            try:
                await self._audience(ws, caller, entity)
            except NotFound:
                return None
        (lock,) = await self._store.get(ws, [entity])
        return lock

    async def held_by(self, ws: WorkspaceKey, principal: Principal) -> list[Lock]:
        return await self._store.held_by(ws, principal.user_id)


def _entity_details(entity: EntityRef) -> dict[str, str]:
    return {"entityType": entity.type, "entityId": entity.id}


def _lock_details(lock: Lock) -> dict[str, object]:
    return {
        **_entity_details(lock.entity),
        "holder": {"userId": lock.user_id, "name": lock.name},
        "expiresAt": iso_ms(lock.expires_at_ms),
        "acquiredAt": iso_ms(lock.acquired_at_ms),
    }


def _held(lock: Lock) -> LockHeld:
    who = lock.name or lock.user_id
    return LockHeld(
        f"Locked by {who} until {iso_ms(lock.expires_at_ms)}", details=_lock_details(lock)
    )


def _not_yours(lock: Lock, action: str) -> Forbidden:
    who = lock.name or lock.user_id
    return Forbidden(
        f"Only the holder can {action} this lock; it is held by {who}",
        details={**_lock_details(lock), "required_permission": "locks:holder"},
    )
