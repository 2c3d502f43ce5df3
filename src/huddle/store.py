"""The values of the record store: stored records, their indexes, guarded writes and queries.

A *collection* is a named set of records inside one workspace (`collaboration`,
`custom_object`, `obj:7` for the records of custom object 7 ...). The store knows nothing of
their fields: it keeps each record's `data` as an opaque map, and the service that declares the
collection tells it, on every write, how the record appears in the collection's indexes:

* an **index** orders and filters records by one value, either a number (`"n"`: the value is a
  double, nulls first) or a text (`"s"`: byte order of the UTF-8 value, nulls first);
* a **multi-valued index** (`"m"`) holds a record once per distinct text of a tuple (tags,
  options): it filters (`Filter`: the tuple holds a text; `AnyOf`: it holds one of several)
  but neither sorts nor ranges, since a record has no one place in it;
* a **unique key** maps a canonical text to at most one record of the collection;
* a **reference** names a record of another collection that must exist when the write happens.

Every write is one atomic step in the backend, together with its lock check (`Guard`), its
version check and the event it emits, so an index never points at a missing record, a unique
key is never held twice, and a stale lease never overwrites the next holder's work. A batch
(`CreateOp`, `UpdateOp`, `DeleteOp`) makes several writes, on any collections, one such step.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Final, Literal

from .ids import EntityRef
from .models import Actor, Audience, Lock

IndexKind = Literal["n", "s", "m"]
#: One value of an index: a number or null (`"n"`), a text or null (`"s"`), or one of the texts
#: a multi-valued index holds (`"m"`, never null).
IndexValue = int | float | str | None
#: The texts a record has in a multi-valued index (`"m"`): duplicates count once; empty puts the
#: record nowhere in that index.
IndexValues = tuple[str, ...]
#: Where a value sits in an index: a numeric index's score, or the text key of a text (see
#: `text_key`); the prefix of the index's members, before the record id.
IndexKey = float | bytes

#: Index names the store maintains itself on every collection: `id`, `created_at`, `updated_at`
#: (all numeric). A service's own indexes may not use them.
SYSTEM_INDEXES: Final = ("id", "created_at", "updated_at")

#: Keys of event data the store writes itself; a service's event data may not use them.
SYSTEM_EVENT_KEYS: Final = ("id", "version", "created_at_ms", "updated_at_ms")

#: Width of the zero-padded record id that ends every index member, so that ties in an index
#: are ordered by id (byte order of equal-width decimals is numeric order).
ID_WIDTH: Final = 16

#: The most values one `AnyOf` may list: each costs a count and a read of the index in a query.
ANY_OF_LIMIT: Final = 1_000


@dataclass(frozen=True, slots=True)
class StoredRecord:
    """One record as stored. `version` starts at 1 and grows by one with every update."""

    collection: str
    id: int
    version: int
    created_at_ms: int
    updated_at_ms: int
    created_by: str
    updated_by: str
    data: dict[str, Any]


@dataclass(frozen=True, slots=True)
class IndexEntry:
    """Where a record sits in one index of its collection: `value` None sorts first. For a
    multi-valued index (`"m"`) `value` is a tuple of texts: the record is in the index once
    per distinct text, and nowhere in it when the tuple is empty."""

    name: str
    kind: IndexKind
    value: IndexValue | IndexValues


@dataclass(frozen=True, slots=True)
class UniqueKey:
    """A canonical text (`value`) that at most one record of the collection may hold under
    `name` (a field, or a virtual key such as a compound of several fields)."""

    name: str
    value: str


@dataclass(frozen=True, slots=True)
class Reference:
    """A record that must exist (in `collection`, with `id`) when the write happens, and be at
    `version` when one is given (a custom object's definition its records were checked
    against: a write validated against an older definition is refused, not stored)."""

    name: str
    collection: str
    id: int
    version: int | None = None


@dataclass(frozen=True, slots=True)
class RecordEvent:
    """The event a write emits: `data` is the public form of the record (and any context), to
    which the store adds `id`, `version`, `created_at_ms` and `updated_at_ms`; `audience`,
    who may receive it (None: the whole workspace)."""

    type: str
    actor: Actor
    data: Mapping[str, Any]
    audience: Audience | None = None


@dataclass(frozen=True, slots=True)
class RecordWrite:
    """The whole new state of a record: its data and everything derived from it. An update
    replaces the record's index entries and unique keys with these (a key not listed is
    released). `event` None writes silently (internal bookkeeping only)."""

    data: Mapping[str, Any]
    actor: Actor
    event: RecordEvent | None
    indexes: Sequence[IndexEntry] = ()
    unique: Sequence[UniqueKey] = ()
    references: Sequence[Reference] = ()


@dataclass(frozen=True, slots=True)
class Guard:
    """The lock a write must respect, checked in the same atomic step as the write.

    * another user holds a live lease on `entity`: refused with `Locked` — or with `Stale`
      when `token` is given and is not that lease's;
    * the writer's own user holds it: allowed, unless `token` is given and differs (`Stale`);
    * nobody holds it: allowed without a token; a token is `Stale` (the lease it came from is
      gone, so the write may race the next holder's).
    """

    entity: EntityRef
    user_id: str
    token: int | None = None


@dataclass(frozen=True, slots=True)
class Filter:
    """Records whose index `name` (of `kind`) holds exactly `value`; for a multi-valued index,
    records whose texts include `value` (a text: such an index holds no null)."""

    name: str
    kind: IndexKind
    value: IndexValue


@dataclass(frozen=True, slots=True)
class AnyOf:
    """Records whose index `name` (of `kind`) holds any of `values`: for `"n"` and `"s"` the
    record's value is one of them (None among them matches null); for `"m"` one of the
    record's texts is. A record matching several values is still one match; no values match
    nothing. At most `ANY_OF_LIMIT` values."""

    name: str
    kind: IndexKind
    values: Sequence[IndexValue]


@dataclass(frozen=True, slots=True)
class Range:
    """Records whose numeric index `name` lies between `low` and `high` (None: unbounded on
    that side); `open_low` / `open_high` leave the bound itself out. A null value (scored -inf)
    is in no range. `kind` must be `"n"`: it is there so that a range on a text or
    multi-valued index is refused (ValueError) rather than read."""

    name: str
    low: float | None = None
    high: float | None = None
    open_low: bool = False
    open_high: bool = False
    kind: IndexKind = "n"

    def holds(self, score: float) -> bool:
        if score == float("-inf"):
            return False
        if self.low is not None and (score < self.low or (self.open_low and score == self.low)):
            return False
        return self.high is None or not (
            score > self.high or (self.open_high and score == self.high)
        )


@dataclass(frozen=True, slots=True)
class Query:
    """One page of a collection: records matching every filter, range and any-of (and, when
    `ids` is given, one of those ids), ordered by the index `sort` (ties by id, in the same
    direction), each record once. A range on the sort index with `offset` paging reads
    "everything up to a time" in a stable order: equal scores are ordered by id. The sort may
    not be a multi-valued index (ValueError)."""

    sort: str = "id"
    sort_kind: IndexKind = "n"
    descending: bool = False
    offset: int = 0
    limit: int = 25
    filters: Sequence[Filter] = ()
    ids: Sequence[int] | None = None
    ranges: Sequence[Range] = ()
    any_of: Sequence[AnyOf] = ()


@dataclass(frozen=True, slots=True)
class Page:
    records: tuple[StoredRecord, ...]
    total: int


@dataclass(frozen=True, slots=True)
class CollectionCount:
    """How many records a collection holds, and how many were created within `recent_ms`."""

    total: int
    recent: int


# --- outcomes of a write: answers, not errors --------------------------------------------------


@dataclass(frozen=True, slots=True)
class Missing:
    """No such record; nothing changed."""


@dataclass(frozen=True, slots=True)
class VersionChanged:
    """The record is no longer at the version the write was computed from; nothing changed."""

    current: StoredRecord


@dataclass(frozen=True, slots=True)
class Locked:
    """Another user holds a live lease on the guarded entity; nothing changed."""

    lock: Lock


@dataclass(frozen=True, slots=True)
class Stale:
    """The presented fencing token is not the live lease's (`lock`, None when the entity is
    not locked any more); nothing changed."""

    lock: Lock | None
    token: int


@dataclass(frozen=True, slots=True)
class Taken:
    """Unique key `key` is held by record `holder`; nothing changed."""

    key: UniqueKey
    holder: StoredRecord


@dataclass(frozen=True, slots=True)
class Unresolved:
    """A referenced record does not exist; nothing changed."""

    reference: Reference


@dataclass(frozen=True, slots=True)
class NotEmpty:
    """A collection that had to be empty holds `count` records; nothing changed."""

    collection: str
    count: int


CreateOutcome = StoredRecord | Taken | Unresolved
UpdateOutcome = StoredRecord | Missing | VersionChanged | Locked | Stale | Taken | Unresolved
DeleteOutcome = StoredRecord | Missing | VersionChanged | Locked | Stale | NotEmpty


# --- batches: several writes, across collections, in one atomic step --------------------------

#: The most operations one batch (and one `reserve`) may hold: a batch is one Lua script on
#: Redis, which blocks every other command while it runs. More is a caller's mistake.
BATCH_LIMIT: Final = 500


@dataclass(frozen=True, slots=True)
class CreateOp:
    """Create a record, as `RecordStore.create` does: under the collection's next id, or,
    with `record_id`, under that id, which `RecordStore.reserve` must have handed out (so a
    batch can create a record and, by that id, records referring to it)."""

    collection: str
    write: RecordWrite
    record_id: int | None = None


@dataclass(frozen=True, slots=True)
class UpdateOp:
    """Update a record, as `RecordStore.update` does (no `drop_indexes` in a batch)."""

    collection: str
    record_id: int
    version: int
    write: RecordWrite
    guard: Guard | None = None


@dataclass(frozen=True, slots=True)
class DeleteOp:
    """Delete a record, as `RecordStore.delete` does (no cascade in a batch)."""

    collection: str
    record_id: int
    version: int | None
    event: RecordEvent | None
    guard: Guard | None = None


BatchOp = CreateOp | UpdateOp | DeleteOp
BatchOutcome = Taken | Unresolved | Missing | VersionChanged | Locked | Stale


@dataclass(frozen=True, slots=True)
class BatchRefused:
    """The batch changed nothing: its op `index` (from 0, the first that would fail, checked
    after the ops before it) is refused with `outcome`, the answer that op alone would get
    from the store as the earlier ops would have left it."""

    index: int
    outcome: BatchOutcome


@dataclass(frozen=True, slots=True)
class Cascade:
    """What deleting a record does to other collections: `drop` collections are deleted whole
    (records, indexes, id counter: ids are never reused because the collection name is not);
    `require_empty` collections must hold no record or the delete is refused (`NotEmpty`);
    `drop_indexes` are (collection, index name) pairs removed with their unique keys."""

    drop: Sequence[str] = ()
    require_empty: Sequence[str] = ()
    drop_indexes: Sequence[tuple[str, str]] = ()


# --- index encodings, shared by both backends -------------------------------------------------


def padded_id(record_id: int) -> str:
    return f"{record_id:0{ID_WIDTH}d}"


def score_of(value: IndexValue) -> float:
    """A numeric index's score: nulls first (-inf). Text is not a number here."""
    if value is None:
        return float("-inf")
    if isinstance(value, str):
        raise TypeError(f"numeric index value expected, got text {value!r}")
    return float(value)


def text_key(value: IndexValue) -> bytes:
    """The sortable prefix of a text index member: `0` for null, `1` + UTF-8 for a value (which
    may not contain NUL, the separator before the padded id)."""
    if value is None:
        return b"0"
    text = str(value)
    if "\x00" in text:
        raise ValueError("an indexed text may not contain NUL")
    return b"1" + text.encode()


def text_member(value: IndexValue, record_id: int) -> bytes:
    return text_key(value) + b"\x00" + padded_id(record_id).encode()


def index_key(kind: IndexKind, value: IndexValue) -> IndexKey:
    """Where `value` sits in an index of `kind`: its score, or its text key. A multi-valued
    index holds texts only (TypeError for anything else, null included)."""
    if kind == "n":
        return score_of(value)
    if kind == "m" and not isinstance(value, str):
        raise TypeError(f"a multi-valued index holds texts, got {value!r}")
    return text_key(value)


def entry_keys(entry: IndexEntry) -> tuple[IndexKey, ...]:
    """The keys `entry` puts its record at: one, or for a multi-valued index one per distinct
    text (none for an empty tuple). TypeError for a value of the wrong shape."""
    value = entry.value
    if entry.kind != "m":
        if isinstance(value, tuple):
            raise TypeError(f"index {entry.name!r} ({entry.kind}) holds one value, got {value!r}")
        return (index_key(entry.kind, value),)
    if not isinstance(value, tuple):
        raise TypeError(f"multi-valued index {entry.name!r} needs a tuple of texts, got {value!r}")
    return tuple(dict.fromkeys(index_key("m", text) for text in value))


def any_of_keys(any_of: AnyOf) -> tuple[IndexKey, ...]:
    """The distinct keys of `any_of.values` (3 and 3.0 are one score)."""
    return tuple(dict.fromkeys(index_key(any_of.kind, value) for value in any_of.values))


def guard_refusal(guard: Guard, lease: Lock | None) -> Locked | Stale | None:
    """What `guard` says of a write while `lease` (live, or None) is on its entity: the
    refusal, or None to go ahead. The Lua scripts apply the same rules (`_lib.lua`)."""
    if lease is None:
        return None if guard.token is None else Stale(None, guard.token)
    if guard.token is not None and guard.token != lease.token:
        return Stale(lease, guard.token)
    if lease.user_id != guard.user_id:
        return Locked(lease)
    return None


# --- caller mistakes, checked the same way by every backend before anything is read ----------


def check_event(event: RecordEvent) -> None:
    clash = [key for key in SYSTEM_EVENT_KEYS if key in event.data]
    if clash:
        raise ValueError(f"event data may not set {', '.join(clash)}: the store writes them")


def check_write(write: RecordWrite) -> None:
    """ValueError for a write a service should never make: event data setting the store's
    own keys, an entry for a system index, or two entries for one index."""
    if write.event is not None:
        check_event(write.event)
    names = [entry.name for entry in write.indexes]
    check_index_names(names)
    if len(set(names)) != len(names):
        raise ValueError(f"a record has one entry per index, got {names}")


def check_batch(ops: Sequence[BatchOp]) -> None:
    """ValueError for a batch a service should never send: no op, more than BATCH_LIMIT, a
    `record_id` below 1 on a create, or any op's write or event failing `check_write` or
    `check_event`."""
    if not ops:
        raise ValueError("a batch holds at least one op")
    if len(ops) > BATCH_LIMIT:
        raise ValueError(f"a batch holds at most {BATCH_LIMIT} ops, got {len(ops)}")
    for op in ops:
        if isinstance(op, DeleteOp):
            if op.event is not None:
                check_event(op.event)
            continue
        check_write(op.write)
        if isinstance(op, CreateOp) and op.record_id is not None and op.record_id < 1:
            raise ValueError(f"record ids start at 1, got {op.record_id}")


def check_reserve(count: int) -> None:
    if not 1 <= count <= BATCH_LIMIT:
        raise ValueError(f"reserve 1 to {BATCH_LIMIT} ids at a time, not {count}")


def unreserved(collection: str, record_id: int) -> ValueError:
    """The mistake of a `CreateOp` naming an id `reserve` never handed out."""
    return ValueError(f"record id {record_id} of {collection!r} was never reserved")


def check_query(query: Query) -> None:
    """ValueError for a query a caller should never make: a sort by a multi-valued index, a
    range on an index that is not numeric, an any-of of more than `ANY_OF_LIMIT` values; and
    the errors of encoding its filter and any-of values (`index_key`)."""
    if query.sort_kind == "m":
        raise ValueError(
            f"cannot sort by multi-valued index {query.sort!r}: a record has no one place in it"
        )
    for r in query.ranges:
        if r.kind != "n":
            raise ValueError(f"a range needs a numeric index; {r.name!r} is of kind {r.kind!r}")
    for f in query.filters:
        index_key(f.kind, f.value)
    for a in query.any_of:
        if len(a.values) > ANY_OF_LIMIT:
            raise ValueError(
                f"any-of on {a.name!r} lists {len(a.values)} values, at most {ANY_OF_LIMIT}"
            )
        any_of_keys(a)


def check_index_names(names: Sequence[str]) -> None:
    system = sorted(set(names) & set(SYSTEM_INDEXES))
    if system:
        raise ValueError(f"{', '.join(system)}: system indexes, kept by the store itself")
