"""The records of custom objects (seed 002): each object's declaration served by the engine.

A record of object `project` is validated against the object's fields as they are now, stored
in the object's collection, locked under (`project`, record id), announced as `record.*`.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Final

from ..auth import Principal
from ..engine.service import RecordService
from ..errors import Conflict, DefinitionChanged
from ..ids import WorkspaceKey
from ..store import StoredRecord
from .custom_objects import CustomObjectService
from .object_definitions import ObjectDef

#: Rounds of a record write while its object's definition keeps changing under it.
DEFINITION_ROUNDS: Final = 8


class CustomRecordService:
    """Each write carries the definition's version it was validated against (see
    `ObjectDef.collection`): a field added or removed meanwhile, or the object deleted, makes
    the store refuse it, and it is validated again against the definition as it is now."""

    def __init__(self, objects: CustomObjectService, records: RecordService) -> None:
        self._objects = objects
        self._records = records

    async def create_record(
        self, ws: WorkspaceKey, principal: Principal, ref: str, values: Mapping[str, Any]
    ) -> tuple[ObjectDef, StoredRecord]:
        for _ in range(DEFINITION_ROUNDS):
            obj = await self._objects.get_object(ws, ref)
            try:
                record = await self._records.create(
                    ws, obj.collection(), values, principal, loc=("body", "values")
                )
            except DefinitionChanged:
                continue  # a field changed meanwhile (or the object is gone: 404 next round)
            return obj, record
        raise Conflict("The object's definition kept changing under this write; retry it")

    async def update_record(
        self,
        ws: WorkspaceKey,
        principal: Principal,
        ref: str,
        record_id: int,
        values: Mapping[str, Any],
        token: int | None,
    ) -> tuple[ObjectDef, StoredRecord]:
        for _ in range(DEFINITION_ROUNDS):
            obj = await self._objects.get_object(ws, ref)
            try:
                record = await self._records.update(
                    ws,
                    obj.collection(),
                    record_id,
                    values,
                    principal,
                    token=token,
                    loc=("body", "values"),
                )
            except DefinitionChanged:
                continue
            return obj, record
        raise Conflict("The object's definition kept changing under this write; retry it")
