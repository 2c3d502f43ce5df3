"""The Redis backend's records: a hash per collection, zset indexes, hashes of unique values.

The key layout is in `scripts/_lib.lua` (records section). Each write is one script that checks
the guard, the version, unique values and references, then writes the record, its index
entries and its event, so nothing is ever half applied. A batch is one script too
(`record_batch.lua`): it checks every op before it writes any.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import msgpack

from ..ids import WorkspaceKey
from ..store import (
    BatchOp,
    BatchRefused,
    Cascade,
    CollectionCount,
    CreateOutcome,
    DeleteOp,
    DeleteOutcome,
    Guard,
    IndexEntry,
    IndexKey,
    Locked,
    Missing,
    NotEmpty,
    Page,
    Query,
    RecordEvent,
    RecordWrite,
    Stale,
    StoredRecord,
    Taken,
    UniqueKey,
    Unresolved,
    UpdateOp,
    UpdateOutcome,
    VersionChanged,
    any_of_keys,
    check_batch,
    check_event,
    check_index_names,
    check_query,
    check_reserve,
    check_write,
    entry_keys,
    index_key,
    unreserved,
)
from .redis_codec import decode_lock, encode_actor, pack, reply_int, reply_list
from .redis_scripts import Runner


class RedisRecords:
    def __init__(self, runner: Runner) -> None:
        self._runner = runner

    async def create(self, ws: WorkspaceKey, collection: str, write: RecordWrite) -> CreateOutcome:
        spec = _write_spec(write)
        reply = await self._runner.run(
            ws,
            "record_create",
            collection,
            pack(dict(write.data)),
            pack(spec),
            *_event_args(write.event),
        )
        reply = reply_list(reply)
        verdict = reply[0].decode()
        if verdict == "ok":
            return decode_record(collection, reply[1], reply[2])
        return _claim_refusal(collection, write, reply)

    async def update(
        self,
        ws: WorkspaceKey,
        collection: str,
        record_id: int,
        version: int,
        write: RecordWrite,
        guard: Guard | None = None,
        drop_indexes: Sequence[tuple[str, str]] = (),
    ) -> UpdateOutcome:
        spec = _write_spec(write)
        check_index_names([name for _, name in drop_indexes])
        spec.update(v=version, g=_guard_spec(guard), drop=[list(pair) for pair in drop_indexes])
        reply = await self._runner.run(
            ws,
            "record_update",
            collection,
            record_id,
            pack(dict(write.data)),
            pack(spec),
            *_event_args(write.event),
        )
        reply = reply_list(reply)
        verdict = reply[0].decode()
        if verdict == "ok":
            return decode_record(collection, record_id, reply[1])
        if verdict in ("taken", "unresolved"):
            return _claim_refusal(collection, write, reply)
        return _refusal(collection, record_id, verdict, reply)

    async def delete(
        self,
        ws: WorkspaceKey,
        collection: str,
        record_id: int,
        version: int | None,
        event: RecordEvent | None,
        guard: Guard | None = None,
        cascade: Cascade | None = None,
    ) -> DeleteOutcome:
        cascade = cascade or Cascade()
        check_index_names([name for _, name in cascade.drop_indexes])
        spec: dict[str, Any] = {
            "v": version,
            "g": _guard_spec(guard),
            "ev": None if event is None else event.type,
            "aud": _audience_spec(event),
            "empty": list(cascade.require_empty),
            "dropc": list(cascade.drop),
            "drop": [list(pair) for pair in cascade.drop_indexes],
        }
        reply = await self._runner.run(
            ws, "record_delete", collection, record_id, pack(spec), *_event_args(event)
        )
        reply = reply_list(reply)
        verdict = reply[0].decode()
        if verdict == "ok":
            return decode_record(collection, record_id, reply[1])
        if verdict == "not_empty":
            return NotEmpty(cascade.require_empty[reply[1] - 1], reply[2])
        return _refusal(collection, record_id, verdict, reply)

    async def reserve(self, ws: WorkspaceKey, collection: str, count: int) -> list[int]:
        check_reserve(count)
        reply = await self._runner.run(ws, "record_reserve", collection, count)
        return [reply_int(record_id) for record_id in reply_list(reply)]

    async def batch(
        self, ws: WorkspaceKey, ops: Sequence[BatchOp]
    ) -> tuple[StoredRecord, ...] | BatchRefused:
        check_batch(ops)
        specs: list[dict[str, Any]] = []
        args: list[bytes] = []
        for op in ops:
            if isinstance(op, DeleteOp):
                spec: dict[str, Any] = {
                    "k": "d",
                    "v": op.version,
                    "g": _guard_spec(op.guard),
                    "ev": None if op.event is None else op.event.type,
                    "aud": _audience_spec(op.event),
                }
                args += [b"", *_event_args(op.event)]
            else:
                spec = _write_spec(op.write)
                if isinstance(op, UpdateOp):
                    spec.update(k="u", v=op.version, g=_guard_spec(op.guard))
                else:
                    spec.update(k="c")
                args += [pack(dict(op.write.data)), *_event_args(op.write.event)]
            spec.update(c=op.collection, id=op.record_id)
            specs.append(spec)
        reply = reply_list(await self._runner.run(ws, "record_batch", pack(specs), *args))
        verdict = reply[0].decode()
        if verdict == "ok":
            return tuple(
                decode_record(op.collection, reply[1 + 2 * i], reply[2 + 2 * i])
                for i, op in enumerate(ops)
            )
        index = reply_int(reply[1]) - 1
        op = ops[index]
        if verdict == "unreserved":
            raise unreserved(op.collection, op.record_id or 0)
        single = [reply[0], *reply[2:]]  # the single script's answer
        if verdict in ("taken", "unresolved") and not isinstance(op, DeleteOp):
            return BatchRefused(index, _claim_refusal(op.collection, op.write, single))
        record_id = op.record_id or 0  # a create is refused by id only when it named one
        return BatchRefused(index, _refusal(op.collection, record_id, verdict, single))

    async def get(
        self, ws: WorkspaceKey, collection: str, record_ids: Sequence[int]
    ) -> list[StoredRecord | None]:
        if not record_ids:
            return []
        key = f"{self._runner.keys.base(ws)}:r:{collection}"
        [blobs] = await self._runner.execute([self._runner.command("HMGET", key, *record_ids)])
        blobs = reply_list(blobs)
        return [
            None if blob is None else decode_record(collection, record_id, blob)
            for record_id, blob in zip(record_ids, blobs, strict=True)
        ]

    async def find(self, ws: WorkspaceKey, collection: str, key: UniqueKey) -> StoredRecord | None:
        reply = await self._runner.run(ws, "records_find", collection, key.name, key.value)
        if not isinstance(reply, list):
            return None
        return decode_record(collection, reply[0], reply[1])

    async def query(self, ws: WorkspaceKey, collection: str, query: Query) -> Page:
        check_query(query)
        spec: dict[str, Any] = {
            "sort": query.sort,
            "kind": query.sort_kind,
            "desc": query.descending,
            "offset": query.offset,
            "limit": query.limit,
            "filters": [[f.name, f.kind, _wire(index_key(f.kind, f.value))] for f in query.filters],
            "ids": None if query.ids is None else list(query.ids),
            "ranges": [[r.name, r.low, r.high, r.open_low, r.open_high] for r in query.ranges],
            "any": [[a.name, a.kind, [_wire(k) for k in any_of_keys(a)]] for a in query.any_of],
        }
        reply = await self._runner.run(ws, "records_query", collection, pack(spec))
        reply = reply_list(reply)
        total, rest = reply[0], reply[1:]
        records = tuple(
            decode_record(collection, rest[i], rest[i + 1])
            for i in range(0, len(rest), 2)
            if rest[i + 1] is not None
        )
        return Page(records, total)

    async def count(
        self, ws: WorkspaceKey, collections: Sequence[str], recent_ms: int
    ) -> list[CollectionCount]:
        if not collections:
            return []
        reply = await self._runner.run(ws, "records_count", recent_ms, *collections)
        reply = reply_list(reply)
        return [CollectionCount(reply[i], reply[i + 1]) for i in range(0, len(reply), 2)]


def decode_record(collection: str, record_id: int, blob: object) -> StoredRecord:
    """A record blob: msgpack [version, created, updated, created_by, updated_by], then the
    msgpack map of its data (see `_lib.lua`)."""
    if not isinstance(blob, bytes):
        raise ValueError(f"expected a record blob, got {type(blob).__name__}")
    unpacker = msgpack.Unpacker(raw=False, strict_map_key=False)
    unpacker.feed(blob)
    version, created, updated, created_by, updated_by = unpacker.unpack()
    data = unpacker.unpack()
    return StoredRecord(
        collection=collection,
        id=int(record_id),
        version=version,
        created_at_ms=created,
        updated_at_ms=updated,
        created_by=created_by,
        updated_by=updated_by,
        data=data if isinstance(data, dict) else {},
    )


def _wire(key: IndexKey) -> str:
    """An index key as the scripts take it: a score as text (`-inf` for null), or a text key."""
    return repr(key) if isinstance(key, float) else key.decode()


def _entry_spec(entry: IndexEntry) -> list[Any]:
    """[index, kind, value]: a score or a text key; for a multi-valued index, a list of the
    distinct text keys."""
    keys = [_wire(key) for key in entry_keys(entry)]
    return [entry.name, entry.kind, keys if entry.kind == "m" else keys[0]]


def _write_spec(write: RecordWrite) -> dict[str, Any]:
    check_write(write)
    return {
        "x": [_entry_spec(x) for x in write.indexes],
        "u": [[u.name, u.value] for u in write.unique],
        "f": [[ref.collection, ref.id, ref.version] for ref in write.references],
        "by": write.actor.id,
        "ev": None if write.event is None else write.event.type,
        "aud": _audience_spec(write.event),
    }


def _audience_spec(event: RecordEvent | None) -> list[list[str]] | None:
    if event is None or event.audience is None:
        return None
    return event.audience.to_wire()


def _event_args(event: RecordEvent | None) -> tuple[bytes, bytes]:
    if event is None:
        return b"", b""
    check_event(event)
    return encode_actor(event.actor), pack(dict(event.data))


def _guard_spec(guard: Guard | None) -> list[Any] | None:
    if guard is None:
        return None
    return [guard.entity.field, guard.user_id, guard.token]


def _claim_refusal(collection: str, write: RecordWrite, reply: list[Any]) -> Taken | Unresolved:
    if reply[0] == b"taken":
        return Taken(write.unique[reply[1] - 1], decode_record(collection, reply[2], reply[3]))
    return Unresolved(write.references[reply[1] - 1])


def _refusal(
    collection: str, record_id: int, verdict: str, reply: list[Any]
) -> Locked | Stale | Missing | VersionChanged:
    if verdict == "locked":
        return Locked(decode_lock(reply[1]))
    if verdict == "stale":
        return Stale(None if not reply[1] else decode_lock(reply[1]), int(reply[2]))
    if verdict == "version":
        return VersionChanged(decode_record(collection, record_id, reply[1]))
    if verdict == "missing":
        return Missing()
    raise ValueError(f"record script answered {verdict!r}")
