"""Seed 000: presence and edit locks under /v1/collaboration (workspace from the credential)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Body, Path, Query

from ..ids import ENTITY_ID_PATTERN, ENTITY_TYPE_PATTERN, EntityRef
from .collaboration_models import (
    AcquiredOut,
    AcquireIn,
    CountOut,
    LockOut,
    LockStatusOut,
    MyLocksOut,
    OwnedOut,
    RefreshIn,
    ReleaseOut,
    SummaryIn,
    SummaryOut,
    ViewersOut,
)
from .deps import CallerWorkspace, CurrentPrincipal, CurrentServices
from .error_models import errors

router = APIRouter(prefix="/v1/collaboration", tags=["Collaboration"])

EntityType = Annotated[str, Path(pattern=ENTITY_TYPE_PATTERN, examples=["deal"])]
EntityId = Annotated[str, Path(pattern=ENTITY_ID_PATTERN, examples=["42"])]
Ttl = Annotated[float | None, Query(description="Lease seconds (overrides the body's)")]


@router.get(
    "/presence/{entityType}/{entityId}",
    response_model=ViewersOut,
    responses=errors(403, 404),
    summary="Get Entity Viewers",
)
async def get_entity_viewers(
    entityType: EntityType,
    entityId: EntityId,
    caller: CurrentPrincipal,
    ws: CallerWorkspace,
    svc: CurrentServices,
) -> ViewersOut:
    """Distinct users viewing the entity (a user's sessions folded), with the lock holder."""
    (found,) = await svc.presence.viewers(ws, [EntityRef(entityType, entityId)], caller)
    return ViewersOut.of(found)


@router.get(
    "/presence/{entityType}/{entityId}/count",
    response_model=CountOut,
    responses=errors(403, 404),
    summary="Get Viewer Count",
)
async def get_viewer_count(
    entityType: EntityType,
    entityId: EntityId,
    caller: CurrentPrincipal,
    ws: CallerWorkspace,
    svc: CurrentServices,
) -> CountOut:
    (found,) = await svc.presence.viewers(ws, [EntityRef(entityType, entityId)], caller)
    return CountOut(
        entityType=entityType, entityId=entityId, count=found.count, sessions=found.sessions
    )


@router.post(
    "/presence/summary",
    response_model=SummaryOut,
    responses=errors(403, 404, 413),
    summary="Get Presence Summary",
)
async def get_presence_summary(
    body: SummaryIn, caller: CurrentPrincipal, ws: CallerWorkspace, svc: CurrentServices
) -> SummaryOut:
    """Viewers and counts of many entities in one call (one backend round trip)."""
    entities = [EntityRef(e.entityType, e.entityId) for e in body.entities]
    found = await svc.presence.viewers(ws, entities, caller)
    return SummaryOut(entities=[ViewersOut.of(f) for f in found], count=len(found))


@router.get(
    "/locks/my-locks",
    response_model=MyLocksOut,
    responses=errors(403, 404),
    summary="Get My Locks",
)
async def get_my_locks(
    caller: CurrentPrincipal, ws: CallerWorkspace, svc: CurrentServices
) -> MyLocksOut:
    locks = await svc.locks.held_by(ws, caller)
    return MyLocksOut(locks=[LockOut.of(lock) for lock in locks], count=len(locks))


@router.get(
    "/locks/{entityType}/{entityId}",
    response_model=LockStatusOut,
    responses=errors(403, 404),
    summary="Get Lock Status",
)
async def get_lock_status(
    entityType: EntityType,
    entityId: EntityId,
    caller: CurrentPrincipal,
    ws: CallerWorkspace,
    svc: CurrentServices,
) -> LockStatusOut:
    lock = await svc.locks.status(ws, EntityRef(entityType, entityId), caller)
    return LockStatusOut(
        entityType=entityType,
        entityId=entityId,
        locked=lock is not None,
        lock=LockOut.of(lock) if lock else None,
        ownedByMe=lock is not None and lock.user_id == caller.user_id,
    )


@router.post(
    "/locks/{entityType}/{entityId}",
    response_model=AcquiredOut,
    responses=errors(403, 404, 409),
    summary="Acquire Lock",
)
async def acquire_lock(
    entityType: EntityType,
    entityId: EntityId,
    caller: CurrentPrincipal,
    ws: CallerWorkspace,
    svc: CurrentServices,
    ttl: Ttl = None,
    body: Annotated[AcquireIn | None, Body()] = None,
) -> AcquiredOut:
    """Take the edit lock, or extend your own (re-entrant). 409 names the holder and expiry."""
    asked = ttl if ttl is not None else (body.ttl if body else None)
    granted = await svc.locks.acquire(
        ws, caller, EntityRef(entityType, entityId), asked, body.sessionId if body else None
    )
    return AcquiredOut(**LockOut.of(granted.lock).model_dump(), reentrant=not granted.fresh)


@router.delete(
    "/locks/{entityType}/{entityId}",
    response_model=ReleaseOut,
    responses=errors(403, 404),
    summary="Release Lock",
)
async def release_lock(
    entityType: EntityType,
    entityId: EntityId,
    caller: CurrentPrincipal,
    ws: CallerWorkspace,
    svc: CurrentServices,
) -> ReleaseOut:
    """Release your lock. Another user's lock is 403; a free entity answers released=false."""
    entity = EntityRef(entityType, entityId)
    return ReleaseOut.of(entity, await svc.locks.release(ws, caller, entity))


@router.post(
    "/locks/{entityType}/{entityId}/refresh",
    response_model=LockOut,
    responses=errors(403, 404),
    summary="Refresh Lock",
)
async def refresh_lock(
    entityType: EntityType,
    entityId: EntityId,
    caller: CurrentPrincipal,
    ws: CallerWorkspace,
    svc: CurrentServices,
    ttl: Ttl = None,
    body: Annotated[RefreshIn | None, Body()] = None,
) -> LockOut:
    """Extend your lease. 404 when you no longer hold it; 403 when another user does."""
    asked = ttl if ttl is not None else (body.ttl if body else None)
    session = body.sessionId if body else None
    granted = await svc.locks.refresh(ws, caller, EntityRef(entityType, entityId), asked, session)
    return LockOut.of(granted.lock)


@router.get(
    "/locks/{entityType}/{entityId}/owned",
    response_model=OwnedOut,
    responses=errors(403, 404),
    summary="Check Lock Ownership",
)
async def check_lock_ownership(
    entityType: EntityType,
    entityId: EntityId,
    caller: CurrentPrincipal,
    ws: CallerWorkspace,
    svc: CurrentServices,
) -> OwnedOut:
    lock = await svc.locks.status(ws, EntityRef(entityType, entityId), caller)
    owned = lock is not None and lock.user_id == caller.user_id
    return OwnedOut(
        entityType=entityType,
        entityId=entityId,
        owned=owned,
        lock=LockOut.of(lock) if lock else None,
    )


@router.delete(
    "/locks/{entityType}/{entityId}/force",
    response_model=ReleaseOut,
    responses=errors(400, 403, 404),
    summary="Force Release Lock",
)
async def force_release_lock(
    entityType: EntityType,
    entityId: EntityId,
    confirm: Annotated[str, Query(max_length=20, examples=["true"])],
    caller: CurrentPrincipal,
    ws: CallerWorkspace,
    svc: CurrentServices,
) -> ReleaseOut:
    """Admins only, with confirm=true: end anyone's lock (`lock.force_released`)."""
    entity = EntityRef(entityType, entityId)
    return ReleaseOut.of(entity, await svc.locks.force_release(ws, caller, entity, confirm))
