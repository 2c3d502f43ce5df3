"""The memory backend's batches: the store as the ops checked so far would leave it.

A batch is checked op by op against a `BatchView`, an overlay of the workspace's collections
that records what each checked op would write (records, unique values, id counters) without
changing the store; only when every op passed are they applied, one after another, by
`MemoryRecords.batch`. Nothing here awaits, so checking and applying are one atomic step.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

from ..store import Reference, StoredRecord, UniqueKey

if TYPE_CHECKING:
    from .memory_records import CollectionState
    from .memory_state import WorkspaceState

RecordKey = tuple[str, int]
#: (collection, unique key name, value)
ValueKey = tuple[str, str, str]


class BatchView:
    """One workspace (None: none yet) as seen by the next op of a batch: the stored state
    under what the earlier ops wrote (None: a record deleted, or a value released)."""

    __slots__ = ("_counters", "_holders", "_keys", "_records", "_w")

    def __init__(self, w: WorkspaceState | None) -> None:
        self._w = w
        self._records: dict[RecordKey, StoredRecord | None] = {}
        self._keys: dict[RecordKey, Sequence[UniqueKey]] = {}
        self._holders: dict[ValueKey, int | None] = {}
        self._counters: dict[str, int] = {}

    def _stored(self, collection: str) -> CollectionState | None:
        return None if self._w is None else self._w.collections.get(collection)

    def counter(self, collection: str) -> int:
        """The last id the collection's counter handed out before the batch."""
        c = self._stored(collection)
        return 0 if c is None else c.last_id

    def next_id(self, collection: str) -> int:
        """The id the next create of the batch in `collection` gets (counted here only)."""
        next_id = self._counters.get(collection, self.counter(collection)) + 1
        self._counters[collection] = next_id
        return next_id

    def record(self, collection: str, record_id: int) -> StoredRecord | None:
        if (collection, record_id) in self._records:
            return self._records[(collection, record_id)]
        c = self._stored(collection)
        return None if c is None else c.records.get(record_id)

    def holder(self, collection: str, key: UniqueKey) -> int | None:
        value_key = (collection, key.name, key.value)
        if value_key in self._holders:
            return self._holders[value_key]
        c = self._stored(collection)
        return None if c is None else c.unique.get(key.name, {}).get(key.value)

    def taken(
        self, collection: str, keys: Sequence[UniqueKey], record_id: int
    ) -> tuple[UniqueKey, StoredRecord] | None:
        """The first of `keys` another record than `record_id` holds, with that record."""
        for key in keys:
            holder = self.holder(collection, key)
            if holder is not None and holder != record_id:
                found = self.record(collection, holder)
                if found is None:
                    raise RuntimeError(f"{collection}: unique {key} held by missing {holder}")
                return key, found
        return None

    def unresolved(self, references: Sequence[Reference]) -> Reference | None:
        """The first reference whose record is missing, or at another version than named."""
        for ref in references:
            found = self.record(ref.collection, ref.id)
            if found is None or (ref.version is not None and found.version != ref.version):
                return ref
        return None

    def put(self, record: StoredRecord, keys: Sequence[UniqueKey]) -> None:
        """`record` written with exactly the unique values `keys`."""
        self._release(record.collection, record.id)
        rk = (record.collection, record.id)
        self._records[rk] = record
        self._keys[rk] = keys
        for key in keys:
            self._holders[(record.collection, key.name, key.value)] = record.id

    def remove(self, collection: str, record_id: int) -> None:
        self._release(collection, record_id)
        self._records[(collection, record_id)] = None
        self._keys[(collection, record_id)] = ()

    def _release(self, collection: str, record_id: int) -> None:
        rk = (collection, record_id)
        if rk in self._keys:
            keys: Sequence[UniqueKey] = self._keys[rk]
        else:
            c = self._stored(collection)
            keys = () if c is None else c.unique_of.get(record_id, ())
        for key in keys:
            if self.holder(collection, key) == record_id:
                self._holders[(collection, key.name, key.value)] = None


__all__ = ["BatchView"]
