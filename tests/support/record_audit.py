"""An audit of a workspace's record keys in Redis: is every record whole, and only whole?

The Redis record store keeps one record in several keys (the layout is at the top of
`huddle/backends/scripts/_lib.lua`): the record's blob in `:r:<c>`, a member per index in
`:rx:<c>:<index>` (one per distinct text in a multi-valued index), its unique values in
`:ru:<c>:<key>`, and in `:rk:<c>` the list of the index members and unique values its last write
made. Every write changes all of them in one script.
A write applied in part (a script cut in two by a crash, a torn AOF tail loaded without
reverting its transaction, an evicted key) leaves a trace this audit finds, read straight from
the keys and not through Huddle, so a bug in the node's read path cannot hide one:

* every record's blob decodes, and it is in the `id`, `created_at` and `updated_at` indexes
  with the right scores, and has its `:rk` entry (and every `:rk` entry has its record);
* every index member and every unique value belongs to an existing record whose `:rk` entry
  lists exactly it, and every index member the `:rk` entry lists is in its index;
* an index member agrees with the record's value (a text member starts with the value, a
  numeric one is scored by it), so the blob and its indexes come from the same write;
* `:rid:<c>` is at least the largest id (ids are never given twice), every index and unique
  key is named in `:rxs:<c>` (or dropping the collection would leak it), and no `:rq` scratch
  key outlives its query.
"""

from __future__ import annotations

import re
from collections import defaultdict
from dataclasses import dataclass, field
from typing import Any, Final, cast

import msgpack
import redis.asyncio as aioredis

from huddle.backends.redis_records import decode_record
from huddle.store import SYSTEM_INDEXES, StoredRecord, padded_id

#: Suffixes of the record keys that name a collection whole (`:r:<c>` ...).
_COLLECTION_KINDS: Final = ("r", "rid", "rk", "rxs")
_PADDED: Final = re.compile(rb"^\d{16}$")
_TEXT_NULL: Final = b"0"
_TEXT_VALUE: Final = b"1"


@dataclass
class Audit:
    """What the audit saw: each collection's record ids, and every inconsistency found."""

    records: dict[str, dict[int, StoredRecord]] = field(default_factory=dict)
    problems: list[str] = field(default_factory=list)

    def ids(self, collection: str) -> set[int]:
        return set(self.records.get(collection, {}))

    def report(self) -> str:
        counts = ", ".join(f"{c}: {len(r)}" for c, r in sorted(self.records.items()))
        return f"{len(self.problems)} problem(s) in ({counts}):\n" + "\n".join(self.problems)


@dataclass
class _Written:
    """A record's `:rk` entry: its index members by index (several in a multi-valued one), and
    its unique values."""

    members: dict[bytes, set[bytes]]
    unique: set[tuple[bytes, bytes]]


async def _zset(client: aioredis.Redis, key: str) -> dict[bytes, float]:
    pairs = cast(list[tuple[bytes, float]], await client.zrange(key, 0, -1, withscores=True))
    return {member: float(score) for member, score in pairs}


async def _hash(client: aioredis.Redis, key: str) -> dict[bytes, bytes]:
    return cast(dict[bytes, bytes], await client.hgetall(key))


def _glob_escape(text: str) -> str:
    return re.sub(r"([\\*?\[\]])", r"\\\1", text)


def _id_of(member: bytes) -> int | None:
    """The record id at the end of an index member (`<padded id>` or `<text>\\0<padded id>`)."""
    tail = member.rpartition(b"\x00")[2]
    return int(tail) if _PADDED.match(tail) else None


def _decode_written(blob: bytes) -> _Written:
    """`cmsgpack.pack(xs, us)`: two msgpack arrays, [[index, member]...] and [[key, value]...]."""
    unpacker = msgpack.Unpacker(raw=True, strict_map_key=False)
    unpacker.feed(blob)
    parts = list(unpacker)
    xs = parts[0] if parts else []
    us = parts[1] if len(parts) > 1 else []
    members: dict[bytes, set[bytes]] = defaultdict(set)
    for x in xs:
        members[bytes(x[0])].add(bytes(x[1]))
    return _Written(
        members=dict(members),
        unique={(bytes(u[0]), _text(u[1])) for u in us},
    )


def _text(value: Any) -> bytes:
    """A unique value as Redis keeps it: a hash field (Lua numbers become decimal text)."""
    if isinstance(value, bytes):
        return value
    if isinstance(value, float) and value.is_integer():
        return str(int(value)).encode()
    return str(value).encode()


def _member_problem(member: bytes, score: float, value: Any) -> str | None:
    """Why an index member (and its score) does not match the record's value, or None."""
    if b"\x00" in member:  # a text index: `0` for null, `1` + UTF-8 of the value
        key = member.rpartition(b"\x00")[0]
        if value is None:
            return None if key == _TEXT_NULL else f"text member {key!r} for a null value"
        if isinstance(value, str):
            expected = _TEXT_VALUE + value.encode()
            return None if key == expected else f"text member {key!r} for value {value!r}"
        return None  # lists and other shapes: the engine's own encoding, not checked here
    if value is None:
        return None if score == float("-inf") else f"score {score} for a null value"
    if isinstance(value, bool):
        value = int(value)
    if isinstance(value, int | float):
        return None if score == float(value) else f"score {score} for value {value!r}"
    return f"numeric member for a {type(value).__name__} value {value!r}"


async def audit_records(client: aioredis.Redis, base: str) -> Audit:
    """Audit every record collection under the workspace key base `{prefix}:{org/ws}`.

    Read while nothing writes to the workspace: the audit reads key after key, so a write
    landing between two reads would look like a half-applied one.
    """
    audit = Audit()
    problems = audit.problems
    head = f"{base}:"
    by_kind: dict[str, set[str]] = defaultdict(set)
    async for raw_key in client.scan_iter(match=_glob_escape(head) + "*", count=1000):
        suffix = raw_key.decode()[len(head) :]
        kind, _, rest = suffix.partition(":")
        by_kind[kind].add(rest)
    if "rq" in by_kind:
        problems.append(f"the query scratch key {head}rq outlived its query")
    collections = set().union(*(by_kind[kind] for kind in _COLLECTION_KINDS))

    # :rx:<c>:<index> and :ru:<c>:<key>, by collection (the longest name that fits wins: a
    # collection's name may hold `:`, as `obj:7` does, an index name never does).
    named: dict[str, dict[str, set[str]]] = defaultdict(lambda: {"rx": set(), "ru": set()})
    for kind in ("rx", "ru"):
        for rest in by_kind.get(kind, ()):
            owners = [c for c in collections if rest.startswith(f"{c}:")]
            if not owners:
                problems.append(f"{head}{kind}:{rest} belongs to no collection")
                continue
            owner = max(owners, key=len)
            named[owner][kind].add(rest[len(owner) + 1 :])

    for c in sorted(collections):
        await _audit_collection(client, head, c, named[c]["rx"], named[c]["ru"], audit)
    return audit


async def _audit_collection(
    client: aioredis.Redis,
    head: str,
    c: str,
    index_names: set[str],
    unique_names: set[str],
    audit: Audit,
) -> None:
    problems = audit.problems
    where = f"collection {c!r}"

    records: dict[int, StoredRecord] = {}
    for raw_id, blob in (await _hash(client, f"{head}r:{c}")).items():
        try:
            record = decode_record(c, int(raw_id), blob)
        except Exception as exc:  # every undecodable blob is a finding
            problems.append(f"{where}: record {raw_id!r} does not decode: {exc!r}")
            continue
        records[record.id] = record
        if record.version < 1 or record.created_at_ms > record.updated_at_ms:
            problems.append(f"{where}: record {record.id} has impossible metadata {record}")
    audit.records[c] = records

    last_id = await client.get(f"{head}rid:{c}")
    if records and (last_id is None or int(last_id) < max(records)):
        problems.append(f"{where}: :rid is {last_id!r} below the largest id {max(records)}")

    # The system indexes: exactly the records, scored by id and times.
    for name in SYSTEM_INDEXES:
        entries = await _zset(client, f"{head}rx:{c}:{name}")
        for record in records.values():
            expected = {
                "id": record.id,
                "created_at": record.created_at_ms,
                "updated_at": record.updated_at_ms,
            }[name]
            score = entries.pop(padded_id(record.id).encode(), None)
            if score is None:
                problems.append(f"{where}: record {record.id} missing from index {name!r}")
            elif score != expected:
                problems.append(
                    f"{where}: record {record.id} scored {score} in {name!r}, not {expected}"
                )
        for member in entries:
            problems.append(f"{where}: index {name!r} holds {member!r}, not a record")

    # :rk entries: one per record, no other.
    written: dict[int, _Written] = {}
    for raw_id, blob in (await _hash(client, f"{head}rk:{c}")).items():
        record_id = int(raw_id)
        if record_id not in records:
            problems.append(f"{where}: :rk entry for {record_id}, which is no record")
            continue
        written[record_id] = _decode_written(blob)
    for record_id in records.keys() - written.keys():
        problems.append(f"{where}: record {record_id} has no :rk entry")

    in_use = {name.decode() for name in cast(set[bytes], await client.smembers(f"{head}rxs:{c}"))}
    own_indexes = index_names - set(SYSTEM_INDEXES)
    for name in own_indexes:
        if f"x:{name}" not in in_use:
            problems.append(f"{where}: index {name!r} exists but is not named in :rxs")
    for name in unique_names:
        if f"u:{name}" not in in_use:
            problems.append(f"{where}: unique key {name!r} exists but is not named in :rxs")

    # The service's indexes: each member is its record's, as its :rk says, and agrees with
    # the record's value; each member a record's :rk lists (while the index is in use) is there.
    for name in sorted(own_indexes):
        entries = await _zset(client, f"{head}rx:{c}:{name}")
        for member, score in entries.items():
            found_id = _id_of(member)
            if found_id is None or found_id not in records:
                problems.append(f"{where}: index {name!r} holds {member!r}, not a record")
                continue
            listed = written.get(found_id)
            if listed is None or member not in listed.members.get(name.encode(), set()):
                problems.append(
                    f"{where}: index {name!r} holds {member!r}, which record {found_id}'s "
                    f":rk does not list ({None if listed is None else listed.members})"
                )
            value = records[found_id].data.get(name)
            if (why := _member_problem(member, score, value)) is not None:
                problems.append(f"{where}: record {found_id}, index {name!r}: {why}")
        for record_id, listed in written.items():
            own = listed.members.get(name.encode(), set())
            if f"x:{name}" in in_use and not own <= entries.keys():
                problems.append(f"{where}: record {record_id} missing from index {name!r}")

    # Unique values: each held by an existing record that lists it; each listed one is held.
    held: dict[tuple[bytes, bytes], int] = {}
    for name in sorted(unique_names):
        for value, raw_id in (await _hash(client, f"{head}ru:{c}:{name}")).items():
            record_id = int(raw_id)
            held[(name.encode(), value)] = record_id
            listed = written.get(record_id)
            if record_id not in records:
                problems.append(f"{where}: unique {name}={value!r} held by missing {record_id}")
            elif listed is None or (name.encode(), value) not in listed.unique:
                problems.append(
                    f"{where}: unique {name}={value!r} held by {record_id}, whose :rk does not "
                    "list it"
                )
    for record_id, listed in written.items():
        for key, value in listed.unique:
            if f"u:{key.decode()}" in in_use and held.get((key, value)) != record_id:
                problems.append(
                    f"{where}: record {record_id}'s unique {key.decode()}={value!r} is held by "
                    f"{held.get((key, value))}"
                )
