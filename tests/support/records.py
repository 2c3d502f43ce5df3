"""Helpers the record contract tests share: writes, and reads that must succeed."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Final

from huddle.backends.base import Backend
from huddle.ids import WorkspaceKey
from huddle.models import Actor
from huddle.store import (
    IndexEntry,
    Query,
    RecordEvent,
    RecordWrite,
    Reference,
    StoredRecord,
    UniqueKey,
)
from tests.support.contract import ANA_ACTOR, WS

NOTES: Final = "note"


def write(
    data: dict[str, Any] | None = None,
    *,
    indexes: Sequence[IndexEntry] = (),
    unique: Sequence[UniqueKey] = (),
    references: Sequence[Reference] = (),
    event: str | None = "note.saved",
    actor: Actor = ANA_ACTOR,
) -> RecordWrite:
    """A write of `data` whose event (unless None) carries the data as its public form."""
    data = data or {}
    record_event = None if event is None else RecordEvent(event, actor, {"note": data})
    return RecordWrite(data, actor, record_event, indexes, unique, references)


async def create(
    backend: Backend, w: RecordWrite, collection: str = NOTES, ws: WorkspaceKey = WS
) -> StoredRecord:
    """The record `w` creates; the test fails if it is refused."""
    result = await backend.records.create(ws, collection, w)
    assert isinstance(result, StoredRecord), result
    return result


async def update(
    backend: Backend, record: StoredRecord, w: RecordWrite, **kwargs: Any
) -> StoredRecord:
    """`record` updated by `w` at its version; the test fails if it is refused."""
    result = await backend.records.update(
        WS, record.collection, record.id, record.version, w, **kwargs
    )
    assert isinstance(result, StoredRecord), result
    return result


async def ids_of(backend: Backend, query: Query, collection: str = NOTES) -> list[int]:
    return [record.id for record in (await backend.records.query(WS, collection, query)).records]
