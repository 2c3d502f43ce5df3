"""The memory backend's records: per collection, the records, their indexes and unique keys.

Each index is a sorted list of `(prefix, id)` keys (`bisect`), plus a map of id to its keys:

* numeric: prefix `score_of(value)`, so the order is (score, id), nulls (-inf) first;
* text: prefix `text_key(value)` (`0` for null, `1` + UTF-8), an order equal to that of
  `text_member(value, id)` bytes, because a text holds no NUL and the ids are equal-width;
* multi-valued: a text key per distinct text, so one id may have any number of keys.

An unfiltered page is a slice of one list, O(log N + offset + limit); a value's records are a
`bisect` range. Every operation reads the clock once and then runs without `await`, so it is one
atomic step on the event loop (see `memory_state`). Records are stored and answered as copies in
the shape msgpack gives back on Redis (tuples become lists), so no caller shares stored state.
"""

from __future__ import annotations

from bisect import bisect_left, bisect_right, insort
from collections.abc import Iterable, Sequence
from dataclasses import replace
from typing import Any, Final

from ..ids import WorkspaceKey
from ..store import (
    ID_WIDTH,
    SYSTEM_INDEXES,
    BatchOp,
    BatchOutcome,
    BatchRefused,
    Cascade,
    CollectionCount,
    CreateOp,
    CreateOutcome,
    DeleteOp,
    DeleteOutcome,
    Guard,
    IndexKey,
    IndexKind,
    Locked,
    Missing,
    NotEmpty,
    Page,
    Query,
    Range,
    RecordEvent,
    RecordWrite,
    Reference,
    Stale,
    StoredRecord,
    Taken,
    UniqueKey,
    Unresolved,
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
    guard_refusal,
    index_key,
    unreserved,
)
from .memory_batch import BatchView
from .memory_state import Store, WorkspaceState

Prefix = IndexKey
SortKey = tuple[Prefix, int]
IndexId = tuple[str, IndexKind]

#: Above every record id (ids have at most ID_WIDTH digits): the end of a value's range.
_AFTER_IDS: Final = 10**ID_WIDTH


class SortedIndex:
    """One index of one collection: sort keys in order, and each record's keys (one, or in a
    multi-valued index one per distinct text)."""

    __slots__ = ("by_id", "keys")

    def __init__(self) -> None:
        self.keys: list[SortKey] = []
        self.by_id: dict[int, tuple[SortKey, ...]] = {}

    def __len__(self) -> int:
        return len(self.keys)

    def put(self, record_id: int, prefixes: Sequence[Prefix]) -> None:
        """Place the record at exactly these (distinct) prefixes; none leaves the index."""
        new = tuple((prefix, record_id) for prefix in prefixes)
        old = self.by_id.get(record_id, ())
        if old == new:
            return
        for key in set(old).difference(new):
            del self.keys[bisect_left(self.keys, key)]
        for key in set(new).difference(old):
            insort(self.keys, key)
        if new:
            self.by_id[record_id] = new
        else:
            self.by_id.pop(record_id, None)

    def discard(self, record_id: int) -> None:
        for key in self.by_id.pop(record_id, ()):
            del self.keys[bisect_left(self.keys, key)]

    def key_of(self, record_id: int) -> SortKey | None:
        """The record's key in a single-valued index (a sort index is never multi-valued)."""
        keys = self.by_id.get(record_id)
        return None if keys is None else keys[0]

    def holds(self, record_id: int, prefix: Prefix) -> bool:
        return any(key[0] == prefix for key in self.by_id.get(record_id, ()))

    def holds_any(self, record_id: int, prefixes: frozenset[Prefix]) -> bool:
        return any(key[0] in prefixes for key in self.by_id.get(record_id, ()))

    def span_of(self, r: Range) -> tuple[int, int]:
        """The positions of the keys whose score `r` holds (a numeric index)."""
        low = float("-inf") if r.low is None else r.low
        if r.low is None or r.open_low:
            start = bisect_right(self.keys, (low, _AFTER_IDS))
        else:
            start = bisect_left(self.keys, (low, 0))
        if r.high is None:
            end = len(self.keys)
        elif r.open_high:
            end = bisect_left(self.keys, (r.high, 0))
        else:
            end = bisect_right(self.keys, (r.high, _AFTER_IDS))
        return start, max(start, end)

    def in_range(self, record_id: int, r: Range) -> bool:
        key = self.key_of(record_id)
        return key is not None and isinstance(key[0], float) and r.holds(key[0])

    def range_of(self, prefix: Prefix) -> tuple[int, int]:
        """The positions of the keys holding exactly `prefix`."""
        return bisect_left(self.keys, (prefix, 0)), bisect_right(self.keys, (prefix, _AFTER_IDS))

    def count_after(self, prefix: Prefix) -> int:
        """How many keys have a prefix greater than `prefix`."""
        return len(self.keys) - bisect_right(self.keys, (prefix, _AFTER_IDS))

    def page(self, offset: int, limit: int, descending: bool) -> list[int]:
        """Ids at positions offset .. offset + limit, from the end when `descending`."""
        if not descending:
            return [key[1] for key in self.keys[offset : offset + limit]]
        end = len(self.keys) - offset
        if end <= 0 or limit <= 0:
            return []
        return [key[1] for key in reversed(self.keys[max(end - limit, 0) : end])]


class CollectionState:
    """One collection of one workspace; created by its first record, gone only when dropped."""

    __slots__ = ("entries", "indexes", "last_id", "records", "unique", "unique_of")

    def __init__(self) -> None:
        self.last_id = 0
        self.records: dict[int, StoredRecord] = {}
        self.indexes: dict[IndexId, SortedIndex] = {
            (name, "n"): SortedIndex() for name in SYSTEM_INDEXES
        }
        # record id -> the service indexes it has an entry in (system ones are implied)
        self.entries: dict[int, tuple[IndexId, ...]] = {}
        # key name -> value -> holder id; and each record's keys, to release them
        self.unique: dict[str, dict[str, int]] = {}
        self.unique_of: dict[int, tuple[UniqueKey, ...]] = {}

    def taken(self, keys: Sequence[UniqueKey], record_id: int) -> Taken | None:
        """The first key of `keys` held by another record than `record_id`."""
        for key in keys:
            holder = self.unique.get(key.name, {}).get(key.value)
            if holder is not None and holder != record_id:
                return Taken(key, _copy_record(self.records[holder]))
        return None

    def put(
        self,
        record: StoredRecord,
        entries: Sequence[tuple[IndexId, tuple[Prefix, ...]]],
        keys: Sequence[UniqueKey],
    ) -> None:
        """Store a new or updated record with exactly these index entries (each with its
        prefixes: one, or any number in a multi-valued index) and unique keys."""
        rid = record.id
        self.records[rid] = record
        for name, value in zip(
            SYSTEM_INDEXES, (rid, record.created_at_ms, record.updated_at_ms), strict=True
        ):
            self.indexes[(name, "n")].put(rid, (float(value),))
        kept = {index_id: prefixes for index_id, prefixes in entries if prefixes}
        self._leave_indexes(rid, (i for i in self.entries.get(rid, ()) if i not in kept))
        for index_id, prefixes in kept.items():
            self.indexes.setdefault(index_id, SortedIndex()).put(rid, prefixes)
        self.entries[rid] = tuple(kept)
        self._release(rid)
        for key in keys:
            self.unique.setdefault(key.name, {})[key.value] = rid
        if keys:
            self.unique_of[rid] = tuple(keys)

    def remove(self, rid: int) -> None:
        del self.records[rid]
        for name in SYSTEM_INDEXES:
            self.indexes[(name, "n")].discard(rid)
        self._leave_indexes(rid, self.entries.pop(rid, ()))
        self._release(rid)

    def drop_index(self, name: str) -> None:
        """Forget index `name` (of any kind) and the unique keys named the same."""
        for kind in ("n", "s", "m"):
            index = self.indexes.pop((name, kind), None)
            for rid in () if index is None else index.by_id:
                self.entries[rid] = tuple(i for i in self.entries[rid] if i[0] != name)
        for rid in set(self.unique.pop(name, {}).values()):
            rest = tuple(key for key in self.unique_of[rid] if key.name != name)
            if rest:
                self.unique_of[rid] = rest
            else:
                del self.unique_of[rid]

    def _leave_indexes(self, rid: int, index_ids: Iterable[IndexId]) -> None:
        for index_id in index_ids:
            index = self.indexes.get(index_id)
            if index is not None:
                index.discard(rid)
                if not index.keys:
                    del self.indexes[index_id]

    def _release(self, rid: int) -> None:
        for key in self.unique_of.pop(rid, ()):
            values = self.unique.get(key.name)
            if values is not None and values.get(key.value) == rid:
                del values[key.value]
                if not values:
                    del self.unique[key.name]


class MemoryRecords:
    def __init__(self, store: Store) -> None:
        self._store = store

    async def create(self, ws: WorkspaceKey, collection: str, write: RecordWrite) -> CreateOutcome:
        entries = _checked_write(write)
        store = self._store
        now = store.now()
        w = store.workspaces.get(ws)
        c = None if w is None else w.collections.get(collection)
        taken = None if c is None else c.taken(write.unique, 0)
        refused = taken or _unresolved(w, write.references)
        if refused is not None:
            return refused
        w = store.workspace(ws)
        c = w.collections.setdefault(collection, CollectionState())
        c.last_id += 1
        actor = write.actor.id
        record = StoredRecord(
            collection, c.last_id, 1, now, now, actor, actor, _plain_map(write.data)
        )
        c.put(record, entries, write.unique)
        self._emit(w, write.event, record, now)
        return _copy_record(record)

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
        entries = _checked_write(write)
        _check_dropped(drop_indexes)
        store = self._store
        now = store.now()
        w = store.workspaces.get(ws)
        refused = None if guard is None else self._guard(w, guard, now)
        if refused is not None:
            return refused
        c = None if w is None else w.collections.get(collection)
        old = None if c is None else c.records.get(record_id)
        if w is None or c is None or old is None:
            return Missing()
        if old.version != version:
            return VersionChanged(_copy_record(old))
        conflict = c.taken(write.unique, record_id) or _unresolved(w, write.references)
        if conflict is not None:
            return conflict
        record = replace(
            old,
            version=old.version + 1,
            updated_at_ms=now,
            updated_by=write.actor.id,
            data=_plain_map(write.data),
        )
        c.put(record, entries, write.unique)
        _drop_indexes(w, drop_indexes)
        self._emit(w, write.event, record, now)
        return _copy_record(record)

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
        if event is not None:
            check_event(event)
        cascade = cascade or Cascade()
        _check_dropped(cascade.drop_indexes)
        store = self._store
        now = store.now()
        w = store.workspaces.get(ws)
        refused = None if guard is None else self._guard(w, guard, now)
        if refused is not None:
            return refused
        c = None if w is None else w.collections.get(collection)
        old = None if c is None else c.records.get(record_id)
        if w is None or c is None or old is None:
            return Missing()
        if version is not None and old.version != version:
            return VersionChanged(_copy_record(old))
        for name in cascade.require_empty:
            other = w.collections.get(name)
            if other is not None and other.records:
                return NotEmpty(name, len(other.records))
        c.remove(record_id)
        for name in cascade.drop:
            w.collections.pop(name, None)
        _drop_indexes(w, cascade.drop_indexes)
        self._emit(w, event, old, now)
        return _copy_record(old)

    async def reserve(self, ws: WorkspaceKey, collection: str, count: int) -> list[int]:
        check_reserve(count)
        self._store.check_open()
        c = self._store.workspace(ws).collections.setdefault(collection, CollectionState())
        first = c.last_id + 1
        c.last_id += count
        return list(range(first, c.last_id + 1))

    async def batch(
        self, ws: WorkspaceKey, ops: Sequence[BatchOp]
    ) -> tuple[StoredRecord, ...] | BatchRefused:
        check_batch(ops)
        entries = [[] if isinstance(op, DeleteOp) else _checked_write(op.write) for op in ops]
        store = self._store
        now = store.now()
        view = BatchView(store.workspaces.get(ws))
        for op in ops:
            reserved = view.counter(op.collection)
            if isinstance(op, CreateOp) and op.record_id is not None and op.record_id > reserved:
                raise unreserved(op.collection, op.record_id)
        planned: list[StoredRecord] = []
        for i, op in enumerate(ops):
            outcome = self._plan(ws, view, op, now)
            if not isinstance(outcome, StoredRecord):
                return BatchRefused(i, outcome)
            planned.append(outcome)
        # every op passed: apply them in order, as the view saw them
        w = store.workspace(ws)
        for op, record, op_entries in zip(ops, planned, entries, strict=True):
            c = w.collections.setdefault(op.collection, CollectionState())
            if isinstance(op, DeleteOp):
                c.remove(record.id)
                self._emit(w, op.event, record, now)
                continue
            c.last_id = max(c.last_id, record.id)
            c.put(record, op_entries, op.write.unique)
            self._emit(w, op.write.event, record, now)
        return tuple(_copy_record(record) for record in planned)

    def _plan(
        self, ws: WorkspaceKey, view: BatchView, op: BatchOp, now: int
    ) -> StoredRecord | BatchOutcome:
        """The record `op` would write (for a delete: remove) on the store as `view` shows
        it, entered in `view`; or its refusal, the single-record call's answer."""
        if not isinstance(op, CreateOp) and op.guard is not None:
            refused = self._guard(self._store.workspaces.get(ws), op.guard, now)
            if refused is not None:
                return refused
        c, rid = op.collection, op.record_id
        old = None if rid is None else view.record(c, rid)
        if isinstance(op, CreateOp):
            if old is not None:  # a create under an id is a compare-and-set from "no record"
                return VersionChanged(_copy_record(old))
            actor = op.write.actor.id
            data = _plain_map(op.write.data)
            record = StoredRecord(c, rid or view.next_id(c), 1, now, now, actor, actor, data)
        elif old is None:
            return Missing()
        elif op.version is not None and old.version != op.version:
            return VersionChanged(_copy_record(old))
        elif isinstance(op, DeleteOp):
            view.remove(c, old.id)
            return old
        else:
            record = replace(
                old,
                version=old.version + 1,
                updated_at_ms=now,
                updated_by=op.write.actor.id,
                data=_plain_map(op.write.data),
            )
        taken = view.taken(c, op.write.unique, record.id)
        if taken is not None:
            return Taken(taken[0], _copy_record(taken[1]))
        missing = view.unresolved(op.write.references)
        if missing is not None:
            return Unresolved(missing)
        view.put(record, op.write.unique)
        return record

    async def get(
        self, ws: WorkspaceKey, collection: str, record_ids: Sequence[int]
    ) -> list[StoredRecord | None]:
        c = self._collection(ws, collection)
        found = (None if c is None else c.records.get(rid) for rid in record_ids)
        return [None if record is None else _copy_record(record) for record in found]

    async def find(self, ws: WorkspaceKey, collection: str, key: UniqueKey) -> StoredRecord | None:
        c = self._collection(ws, collection)
        holder = None if c is None else c.unique.get(key.name, {}).get(key.value)
        return None if c is None or holder is None else _copy_record(c.records[holder])

    async def query(self, ws: WorkspaceKey, collection: str, query: Query) -> Page:
        check_query(query)
        c = self._collection(ws, collection)
        order = None if c is None else c.indexes.get((query.sort, query.sort_kind))
        if c is None or order is None:
            return Page((), 0)
        if not query.filters and not query.ranges and not query.any_of and query.ids is None:
            ids = order.page(query.offset, query.limit, query.descending)
            total = len(order)
        else:
            keys = sorted(
                (key for rid in _matches(c, query) if (key := order.key_of(rid)) is not None),
                reverse=query.descending,
            )
            ids = [key[1] for key in keys[query.offset : query.offset + query.limit]]
            total = len(keys)
        return Page(tuple(_copy_record(c.records[rid]) for rid in ids), total)

    async def count(
        self, ws: WorkspaceKey, collections: Sequence[str], recent_ms: int
    ) -> list[CollectionCount]:
        now = self._store.now()
        w = self._store.workspaces.get(ws)
        counts: list[CollectionCount] = []
        for name in collections:
            c = None if w is None else w.collections.get(name)
            if c is None:
                counts.append(CollectionCount(0, 0))
                continue
            recent = c.indexes[("created_at", "n")].count_after(float(now - recent_ms))
            counts.append(CollectionCount(len(c.records), recent))
        return counts

    def _collection(self, ws: WorkspaceKey, collection: str) -> CollectionState | None:
        self._store.check_open()
        w = self._store.workspaces.get(ws)
        return None if w is None else w.collections.get(collection)

    def _guard(self, w: WorkspaceState | None, guard: Guard, now: int) -> Locked | Stale | None:
        """The refusal of a guarded write, if any (an expired lease met here is ended)."""
        lease = None if w is None else self._store.meet_lease(w, guard.entity, now)
        return guard_refusal(guard, lease)

    def _emit(
        self, w: WorkspaceState, event: RecordEvent | None, record: StoredRecord, now: int
    ) -> None:
        if event is None:
            return
        data = {
            "id": record.id,
            "version": record.version,
            "created_at_ms": record.created_at_ms,
            "updated_at_ms": record.updated_at_ms,
            **_plain_map(event.data),
        }
        self._store.emit(w, event.type, event.actor, data, now, event.audience)


# --- checks made before anything is read: mistakes of the caller, raised on every backend ---


def _checked_write(write: RecordWrite) -> list[tuple[IndexId, tuple[Prefix, ...]]]:
    """The write's index entries as (index, sort prefixes); ValueError/TypeError if malformed."""
    check_write(write)
    return [((e.name, e.kind), entry_keys(e)) for e in write.indexes]


def _check_dropped(pairs: Sequence[tuple[str, str]]) -> None:
    check_index_names([name for _, name in pairs])


# --- helpers -----------------------------------------------------------------------------------


def _unresolved(w: WorkspaceState | None, references: Sequence[Reference]) -> Unresolved | None:
    for ref in references:
        target = None if w is None else w.collections.get(ref.collection)
        found = None if target is None else target.records.get(ref.id)
        if found is None or (ref.version is not None and found.version != ref.version):
            return Unresolved(ref)
    return None


def _drop_indexes(w: WorkspaceState, pairs: Sequence[tuple[str, str]]) -> None:
    for collection, name in pairs:
        c = w.collections.get(collection)
        if c is not None:
            c.drop_index(name)


def _matches(c: CollectionState, query: Query) -> list[int]:
    """Ids matching every filter, range, any-of and `query.ids`, each once, checked from the
    smallest candidate set."""
    tests: list[tuple[SortedIndex, Prefix]] = []
    smallest: list[int] | None = None
    wanted: frozenset[int] | None = None
    if query.ids is not None:
        smallest = [rid for rid in dict.fromkeys(query.ids) if rid in c.records]
        wanted = frozenset(smallest)
    for f in query.filters:
        index = c.indexes.get((f.name, f.kind))
        if index is None:
            return []
        prefix = index_key(f.kind, f.value)
        tests.append((index, prefix))
        start, end = index.range_of(prefix)
        if smallest is None or end - start < len(smallest):
            smallest = [key[1] for key in index.keys[start:end]]
    alternatives: list[tuple[SortedIndex, frozenset[Prefix]]] = []
    for a in query.any_of:
        index = c.indexes.get((a.name, a.kind))
        if index is None or not a.values:
            return []
        prefixes = any_of_keys(a)
        alternatives.append((index, frozenset(prefixes)))
        spans = [index.range_of(prefix) for prefix in prefixes]
        if smallest is None or sum(end - start for start, end in spans) < len(smallest):
            smallest = _union(index, spans)
    ranged: list[tuple[SortedIndex, Range]] = []
    for r in query.ranges:
        index = c.indexes.get((r.name, "n"))
        if index is None:
            return []
        ranged.append((index, r))
        start, end = index.span_of(r)
        if smallest is None or end - start < len(smallest):
            smallest = [key[1] for key in index.keys[start:end]]
    if smallest is None:  # no filter, range or ids: every record matches
        smallest = list(c.records)
    return [
        rid
        for rid in smallest
        if (wanted is None or rid in wanted)
        and all(index.holds(rid, p) for index, p in tests)
        and all(index.in_range(rid, r) for index, r in ranged)
        and all(index.holds_any(rid, ps) for index, ps in alternatives)
    ]


def _union(index: SortedIndex, spans: Sequence[tuple[int, int]]) -> list[int]:
    """The ids at these positions of `index`, each once (a record may hold several values)."""
    return list(dict.fromkeys(index.keys[i][1] for start, end in spans for i in range(start, end)))


def _plain(value: Any) -> Any:
    """A copy of a msgpack-able value as msgpack returns it: maps and arrays copied, tuples as
    lists; scalars (immutable) shared."""
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_plain(v) for v in value]
    return value


def _plain_map(data: Any) -> dict[str, Any]:
    return {k: _plain(v) for k, v in data.items()}


def _copy_record(record: StoredRecord) -> StoredRecord:
    return replace(record, data=_plain_map(record.data))


__all__ = ["CollectionState", "MemoryRecords"]
