"""Several record writes, of any collections, as one atomic step: what a module that moves
records between groups (users between departments) hands `RecordService.write_many`."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from ..store import StoredRecord
from .declarations import Collection


@dataclass(frozen=True, slots=True)
class New:
    """Create a record of `collection` under `record_id`, which `reserve` handed out (so
    later writes of the batch may refer to it)."""

    collection: Collection
    record_id: int
    values: Mapping[str, Any]
    loc: tuple[str | int, ...] = ("body",)
    """Where the values were sent, for the problems of an invalid one."""


@dataclass(frozen=True, slots=True)
class Change:
    """Change `values` (by public name) of `current`, the record as it was read."""

    collection: Collection
    current: StoredRecord
    values: Mapping[str, Any]
    loc: tuple[str | int, ...] = ()


@dataclass(frozen=True, slots=True)
class Gone:
    """Delete `current`, the record as it was read."""

    collection: Collection
    current: StoredRecord
    loc: tuple[str | int, ...] = ()


Write = New | Change | Gone
#: Records a batch wrote (a deleted one as it was; an unchanged one as it was read), by
#: (collection name, id).
Outcome = dict[tuple[str, int], StoredRecord]
