"""Seed 002's records at /v1/custom-objects/{id}/records (workspace from the credential).

`{id}` is an object's id or apiName; its records are a collection built per request from the
object's stored definition (`ObjectDef.collection`). Writes go through `CustomRecordService`,
which validates a write again against the definition as it is now when a field changed under
it. The object and field routes stay hand-written (`api/custom_objects.py`): they change a
schema, not records.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any, Final

from ..api.custom_objects import OBJECT_REF
from ..api.declared.huddle_style import HuddleStyle
from ..api.declared.module import Context, Hooks, Module, PathParam, Route, Written
from ..engine.declarations import Collection
from ..store import StoredRecord

#: What the OpenAPI document describes: an object's fields are its own definition's.
ANY_OBJECT: Final = Collection(name="custom_record", fields=(), events="record")


class CustomRecordHooks(Hooks):
    async def collection(self, ctx: Context, module: Module) -> Collection:
        obj = await ctx.services.custom_objects.get_object(ctx.ws, ctx.path["id"])
        return obj.collection()

    async def create(self, ctx: Context, module: Module, values: Mapping[str, Any]) -> Written:
        records = ctx.services.custom_records
        obj, record = await records.create_record(ctx.ws, ctx.caller, ctx.path["id"], values)
        return Written(record, obj.collection())

    async def update(
        self,
        ctx: Context,
        module: Module,
        record_id: int,
        values: Mapping[str, Any],
        token: int | None,
    ) -> Written:
        obj, record = await ctx.services.custom_records.update_record(
            ctx.ws, ctx.caller, ctx.path["id"], record_id, values, token
        )
        return Written(record, obj.collection())

    async def present(
        self, ctx: Context, module: Module, records: Sequence[StoredRecord]
    ) -> list[dict[str, Any]]:
        """Each record names its object, as its events do (the collection's `context`)."""
        of = module.collection.context
        return [{"objectId": str(of["object_id"]), "object": of["object"]} for _ in records]


CUSTOM_RECORDS: Final = Module(
    collection=ANY_OBJECT,
    path="/v1/custom-objects/{id}/records",
    path_params=(PathParam("id", "The object's id or apiName", OBJECT_REF, ("1", "project")),),
    id_param="recordId",
    style=HuddleStyle(extra={"objectId": "1", "object": "project"}),
    title="Record",
    tag="Custom Objects",
    routes=(
        Route(
            "list",
            "GET",
            summary="Custom Objects Controller_list Records",
            description="The object's records, oldest first unless `sort_by` says otherwise. "
            "Any other query parameter named after a field filters by equality (`?stage=won`).",
            name="list_custom_records",
        ),
        Route(
            "create",
            "POST",
            summary="Custom Objects Controller_create Record",
            description="Validated against the object's fields: 422 names every refused field.",
            name="create_custom_record",
        ),
        Route("get", "GET", "/{recordId}", summary="Get Record", name="get_custom_record"),
        Route(
            "update",
            "PATCH",
            "/{recordId}",
            summary="Custom Objects Controller_update Record",
            description="Change the given values only. Refused with 423 while another user "
            "holds the lock on (`<apiName>`, recordId), and with 409 for a stale fencing token.",
            name="update_custom_record",
        ),
        Route(
            "delete",
            "DELETE",
            "/{recordId}",
            summary="Custom Objects Controller_delete Record",
            name="delete_custom_record",
        ),
    ),
    field_filters=True,
    example={"name": "Apollo", "budget": 125000, "stage": "active", "due_date": "2026-03-31"},
    hooks=CustomRecordHooks(),
)
