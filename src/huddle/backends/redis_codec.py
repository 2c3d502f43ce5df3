"""The Redis backend's payloads: msgpack both ways, and the records the Lua scripts return.

Event blob (built by `_lib.lua`'s `emit`): a msgpack array `[epoch, seq, ts_ms, type, actor,
data]`, where actor is `Actor.to_dict()` or nil. Session and lease records are msgpack maps
with the field names below; a field that is null is absent (Lua drops nil table entries).
"""

from __future__ import annotations

from dataclasses import asdict
from typing import Any, cast

import msgpack

from ..errors import BackendUnavailable
from ..ids import EntityRef, WorkspaceKey
from ..models import Actor, ApiKeyRecord, Audience, Event, Lock, PresenceSession, SessionKind


class UnexpectedReply(BackendUnavailable):
    """Redis answered in a shape no Huddle script or command gives: not Huddle's server, a
    proxy in the way, or scripts of another version. A 503, never a crash (nor an `assert`,
    which `python -O` removes)."""


def reply_list(reply: object) -> list[Any]:
    """`reply` when Redis answered an array; UnexpectedReply otherwise."""
    if not isinstance(reply, list):
        raise UnexpectedReply(f"Redis answered {type(reply).__name__} where a list was expected")
    return reply


def reply_int(reply: object) -> int:
    """`reply` when Redis answered an integer; UnexpectedReply otherwise."""
    if not isinstance(reply, int) or isinstance(reply, bool):
        raise UnexpectedReply(
            f"Redis answered {type(reply).__name__} where an integer was expected"
        )
    return reply


def pack(value: object) -> bytes:
    packed: bytes = msgpack.packb(value, use_bin_type=True)
    return packed


def unpack_map(blob: object) -> dict[str, Any]:
    """A msgpack map from a Redis reply (bytes)."""
    value = _unpack(blob)
    if not isinstance(value, dict):
        raise ValueError(f"expected a msgpack map, got {type(value).__name__}")
    return value


def _unpack(blob: object) -> Any:
    # strict_map_key=False: a map key that is not a string must not make a stored event
    # unreadable for every later reader.
    return msgpack.unpackb(_bytes(blob), raw=False, strict_map_key=False)


def _bytes(blob: object) -> bytes:
    if not isinstance(blob, bytes):
        raise ValueError(f"expected bytes from Redis, got {type(blob).__name__}")
    return blob


# --- events ----------------------------------------------------------------------------------


def encode_actor(actor: Actor | None) -> bytes:
    return pack(None if actor is None else actor.to_dict())


def encode_audience(audience: Audience | None) -> bytes:
    """A script argument: the audience's msgpack, or empty for none."""
    return b"" if audience is None else pack(audience.to_wire())


def decode_event(ws: WorkspaceKey, blob: object) -> Event:
    epoch, seq, ts_ms, type_, actor, data, *audience = _unpack(blob)
    return Event(
        workspace=ws,
        epoch=epoch,
        seq=seq,
        type=type_,
        actor=Actor.from_dict(actor),
        data=data,
        ts_ms=ts_ms,
        audience=Audience.from_wire(audience[0]) if audience else None,
    )


# --- presence and leases ---------------------------------------------------------------------


def encode_info(session_id: str, user_id: str, name: str | None, kind: str) -> bytes:
    return pack({"session_id": session_id, "user_id": user_id, "name": name, "kind": kind})


def decode_session(blob: object) -> PresenceSession:
    record = unpack_map(blob)
    viewing = record.get("viewing")
    return PresenceSession(
        session_id=record["session_id"],
        user_id=record["user_id"],
        name=record.get("name"),
        kind=cast(SessionKind, record["kind"]),
        joined_at_ms=record["joined_at_ms"],
        expires_at_ms=record["expires_at_ms"],
        viewing=None if viewing is None else EntityRef.from_field(viewing),
        viewing_since_ms=record.get("viewing_since_ms"),
        viewing_audience=Audience.from_wire(record.get("va")),
    )


def decode_lock(blob: object) -> Lock:
    record = unpack_map(blob)
    return Lock(
        entity=EntityRef(record["entity_type"], record["entity_id"]),
        user_id=record["user_id"],
        name=record.get("name"),
        session_id=record.get("session_id"),
        acquired_at_ms=record["acquired_at_ms"],
        expires_at_ms=record["expires_at_ms"],
        token=record["token"],
        audience=Audience.from_wire(record.get("aud")),
    )


# --- api keys --------------------------------------------------------------------------------


def encode_api_key(record: ApiKeyRecord) -> bytes:
    return pack(asdict(record))


def decode_api_key(blob: object) -> ApiKeyRecord:
    record = unpack_map(blob)
    return ApiKeyRecord(
        id=record["id"],
        org_id=record["org_id"],
        workspace_id=record["workspace_id"],
        user_id=record.get("user_id"),
        admin=record["admin"],
        name=record.get("name"),
        created_at_ms=record["created_at_ms"],
        created_by=record["created_by"],
        key_hash=record["key_hash"],
    )
