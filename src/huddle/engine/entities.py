"""The audiences of entities that presence and locks name: `(type, id)` pairs whose type is
the lock type of a collection with an audience are its records, and private like them.

Presence and locks take any entity type a client names (`deal/42` needs no declaration);
only the types registered here are checked. For those, an entity is visible to a reader when
its record exists and the collection's audience admits the reader; a missing record and a
hidden one look the same (404 to act on, empty to read), so nobody learns that a hidden one
exists.
"""

from __future__ import annotations

from collections.abc import Iterable

from ..backends.base import RecordStore
from ..hub.audience import Reader
from ..ids import EntityRef, WorkspaceKey
from ..models import Audience
from ..public_ids import PublicIds
from .declarations import Collection
from .service import audience_of


class Invisible(Exception):
    """The entity does not exist for this reader (missing, or outside its audience)."""


class EntityAudiences:
    def __init__(
        self, records: RecordStore, collections: Iterable[Collection], ids: PublicIds
    ) -> None:
        self._records = records
        self._ids = ids
        self._by_type = {
            c.lock_type: c for c in collections if c.lock_type is not None and c.audience
        }

    def is_private(self, entity_type: str) -> bool:
        return entity_type in self._by_type

    async def audience(
        self, ws: WorkspaceKey, entity: EntityRef, reader: Reader | None
    ) -> Audience | None:
        """The audience of `entity` (None: a type nobody declared private), for a reader who
        may see it (`reader` None: a service). Raises `Invisible` otherwise."""
        collection = self._by_type.get(entity.type)
        if collection is None:
            return None
        record_id = self._record_id(ws, collection, entity.id)
        found = None
        if record_id is not None:
            (found,) = await self._records.get(ws, collection.name, [record_id])
        if found is None:
            raise Invisible(entity)
        audience = audience_of(collection, found.data, found.created_by)
        if reader is not None and not reader.admits(audience):
            raise Invisible(entity)
        return audience

    def _record_id(self, ws: WorkspaceKey, collection: Collection, entity_id: str) -> int | None:
        if entity_id.isascii() and entity_id.isdigit() and len(entity_id) <= 16:
            return int(entity_id)
        return self._ids.in_workspace(ws).decode(collection.name, entity_id)
