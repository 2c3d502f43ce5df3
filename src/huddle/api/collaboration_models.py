"""Seed 000 bodies (camelCase, like the seed's `entityType`/`entityId`), with examples."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field
from pydantic.config import JsonDict

from ..clock import iso_ms
from ..ids import ENTITY_ID_PATTERN, ENTITY_TYPE_PATTERN, SESSION_ID_PATTERN, EntityRef
from ..models import Lock
from ..services.locks import ReleaseOutcome
from ..services.presence import EntityViewers, Viewer

_LOCK_EXAMPLE: JsonDict = {
    "entityType": "deal",
    "entityId": "42",
    "holder": {"userId": "ben", "name": "Ben"},
    "acquiredAt": "2026-01-05T10:02:00.000Z",
    "expiresAt": "2026-01-05T10:02:30.000Z",
    "fencingToken": 17,
    "sessionId": None,
}
_VIEWER_EXAMPLE: JsonDict = {
    "userId": "ana",
    "name": "Ana",
    "since": "2026-01-05T10:01:12.345Z",
    "sessions": 2,
    "holdsLock": False,
}


class Example(BaseModel):
    model_config = ConfigDict(frozen=True)


class LockHolder(Example):
    userId: str
    name: str | None


class LockOut(Example):
    model_config = ConfigDict(json_schema_extra={"examples": [_LOCK_EXAMPLE]})

    entityType: str
    entityId: str
    holder: LockHolder
    acquiredAt: str = Field(description="ISO-8601 UTC")
    expiresAt: str = Field(description="ISO-8601 UTC; the lease ends then unless refreshed")
    fencingToken: int = Field(description="Grows with every grant; present it with writes")
    sessionId: str | None = None

    @classmethod
    def of(cls, lock: Lock) -> LockOut:
        return cls(
            entityType=lock.entity.type,
            entityId=lock.entity.id,
            holder=LockHolder(userId=lock.user_id, name=lock.name),
            acquiredAt=iso_ms(lock.acquired_at_ms),
            expiresAt=iso_ms(lock.expires_at_ms),
            fencingToken=lock.token,
            sessionId=lock.session_id,
        )


class AcquireIn(Example):
    model_config = ConfigDict(
        extra="forbid", json_schema_extra={"examples": [{"ttl": 60, "sessionId": "tab-1"}]}
    )

    ttl: float | None = Field(None, description="Lease seconds, within the node's bounds")
    sessionId: str | None = Field(None, pattern=SESSION_ID_PATTERN)


class RefreshIn(Example):
    model_config = ConfigDict(
        extra="forbid", json_schema_extra={"examples": [{"ttl": 60, "sessionId": "tab-2"}]}
    )

    ttl: float | None = Field(None, description="New lease seconds from now")
    sessionId: str | None = Field(
        None,
        pattern=SESSION_ID_PATTERN,
        description="Take the lease over for this session (e.g. after a dropped connection)",
    )


class AcquiredOut(LockOut):
    model_config = ConfigDict(
        json_schema_extra={"examples": [{**_LOCK_EXAMPLE, "reentrant": False}]}
    )

    reentrant: bool = Field(description="True when the caller already held it (extended)")


class LockStatusOut(Example):
    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "entityType": "deal",
                    "entityId": "42",
                    "locked": True,
                    "lock": _LOCK_EXAMPLE,
                    "ownedByMe": False,
                }
            ]
        }
    )

    entityType: str
    entityId: str
    locked: bool
    lock: LockOut | None
    ownedByMe: bool


class ReleaseOut(Example):
    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {"entityType": "deal", "entityId": "42", "released": True, "lock": _LOCK_EXAMPLE}
            ]
        }
    )

    entityType: str
    entityId: str
    released: bool = Field(description="False when nobody held the lock (nothing changed)")
    lock: LockOut | None = Field(description="The lease that ended")

    @classmethod
    def of(cls, entity: EntityRef, outcome: ReleaseOutcome) -> ReleaseOut:
        return cls(
            entityType=entity.type,
            entityId=entity.id,
            released=outcome.released,
            lock=LockOut.of(outcome.lock) if outcome.lock else None,
        )


class OwnedOut(Example):
    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {"entityType": "deal", "entityId": "42", "owned": True, "lock": _LOCK_EXAMPLE}
            ]
        }
    )

    entityType: str
    entityId: str
    owned: bool
    lock: LockOut | None


class MyLocksOut(Example):
    model_config = ConfigDict(
        json_schema_extra={"examples": [{"locks": [_LOCK_EXAMPLE], "count": 1}]}
    )

    locks: list[LockOut]
    count: int


class ViewerOut(Example):
    model_config = ConfigDict(json_schema_extra={"examples": [_VIEWER_EXAMPLE]})

    userId: str
    name: str | None
    since: str = Field(description="When this user started viewing (earliest session)")
    sessions: int = Field(description="This user's sessions viewing the entity")
    holdsLock: bool

    @classmethod
    def of(cls, viewer: Viewer) -> ViewerOut:
        return cls(
            userId=viewer.user_id,
            name=viewer.name,
            since=iso_ms(viewer.since_ms),
            sessions=viewer.sessions,
            holdsLock=viewer.holds_lock,
        )


class ViewersOut(Example):
    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "entityType": "deal",
                    "entityId": "42",
                    "viewers": [_VIEWER_EXAMPLE],
                    "count": 1,
                    "sessions": 2,
                    "lock": None,
                }
            ]
        }
    )

    entityType: str
    entityId: str
    viewers: list[ViewerOut]
    count: int = Field(description="Distinct users viewing")
    sessions: int = Field(description="Sessions viewing (a user's tabs counted apart)")
    lock: LockOut | None

    @classmethod
    def of(cls, found: EntityViewers) -> ViewersOut:
        return cls(
            entityType=found.entity.type,
            entityId=found.entity.id,
            viewers=[ViewerOut.of(v) for v in found.viewers],
            count=found.count,
            sessions=found.sessions,
            lock=LockOut.of(found.lock) if found.lock else None,
        )


class CountOut(Example):
    model_config = ConfigDict(
        json_schema_extra={
            "examples": [{"entityType": "deal", "entityId": "42", "count": 1, "sessions": 2}]
        }
    )

    entityType: str
    entityId: str
    count: int = Field(description="Distinct users viewing")
    sessions: int


class EntityIn(Example):
    model_config = ConfigDict(extra="forbid")

    entityType: str = Field(pattern=ENTITY_TYPE_PATTERN)
    entityId: str = Field(pattern=ENTITY_ID_PATTERN)


class SummaryIn(Example):
    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={
            "examples": [
                {
                    "entities": [
                        {"entityType": "deal", "entityId": "42"},
                        {"entityType": "contact", "entityId": "7"},
                    ]
                }
            ]
        },
    )

    entities: list[EntityIn] = Field(description="Bounded by HUDDLE_SUMMARY_MAX_ENTITIES")


class SummaryOut(Example):
    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "entities": [
                        {
                            "entityType": "deal",
                            "entityId": "42",
                            "viewers": [_VIEWER_EXAMPLE],
                            "count": 1,
                            "sessions": 2,
                            "lock": None,
                        }
                    ],
                    "count": 1,
                }
            ]
        }
    )

    entities: list[ViewersOut]
    count: int = Field(description="Number of entities answered")
