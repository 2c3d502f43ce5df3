"""The record engine's refusals as Huddle errors (the API maps those to each dialect)."""

from __future__ import annotations

from typing import Any

from ..clock import iso_ms
from ..errors import (
    AlreadyExists,
    Conflict,
    DefinitionChanged,
    EditLocked,
    InvalidInput,
    NotFound,
    StaleFence,
)
from ..models import Lock
from ..store import Locked, Missing, NotEmpty, Stale, Taken, Unresolved
from .declarations import Collection


def lock_details(lock: Lock) -> dict[str, object]:
    return {
        "entityType": lock.entity.type,
        "entityId": lock.entity.id,
        "holder": {"userId": lock.user_id, "name": lock.name},
        "expiresAt": iso_ms(lock.expires_at_ms),
        "acquiredAt": iso_ms(lock.acquired_at_ms),
        "fencingToken": lock.token,
    }


def not_found(collection: Collection, record_id: int) -> NotFound:
    return NotFound(
        "The requested resource was not found",
        details={"resource_type": collection.events or collection.name, "resource_id": record_id},
    )


def refused(
    collection: Collection, record_id: int, outcome: Locked | Stale | Missing | NotEmpty | Any
) -> Exception:
    match outcome:
        case Locked(lock=lock):
            who = lock.name or lock.user_id
            return EditLocked(
                f"Locked by {who} until {iso_ms(lock.expires_at_ms)}",
                details=lock_details(lock),
            )
        case Stale(lock=lock, token=token):
            if lock is None:
                message = (
                    f"Fencing token {token} is stale: the lease it came from has ended; "
                    "acquire the lock again"
                )
                return StaleFence(message, details={"token": token, "lock": None})
            who = lock.name or lock.user_id
            return StaleFence(
                f"Fencing token {token} is stale: the lock is now held by {who} with "
                f"token {lock.token}",
                details={"token": token, "lock": lock_details(lock)},
            )
        case Missing():
            return not_found(collection, record_id)
    return Conflict(f"The write was refused: {outcome!r}")


def taken(collection: Collection, outcome: Taken, loc: tuple[str | int, ...]) -> AlreadyExists:
    name = outcome.key.name
    spec = next((s for s in collection.fields if s.key == name), None)
    public = spec.name if spec is not None else name
    return AlreadyExists(
        f"{public} must be unique: record {outcome.holder.id} already has this value",
        details={"field": public, "existing_id": outcome.holder.id},
    )


def unresolved(
    collection: Collection, outcome: Unresolved, loc: tuple[str | int, ...]
) -> InvalidInput | DefinitionChanged:
    ref = outcome.reference
    if ref in collection.requires:
        return DefinitionChanged(
            "The definition changed while the record was being written; validate again",
            details={"collection": ref.collection, "id": ref.id, "version": ref.version},
        )
    spec = next((s for s in collection.fields if s.key == ref.name), None)
    public = spec.name if spec is not None else ref.name
    return InvalidInput(
        f"No record {ref.id} to refer to", loc=(*loc, public), input=ref.id, type="reference"
    )
