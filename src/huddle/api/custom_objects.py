"""Seed 002: custom objects and their fields under /v1/custom-objects.

The workspace comes from the credential (`X-Workspace-Id` chooses among several). `{id}` is an
object's id or its apiName; `{fieldId}` a field's id or apiName. Defining objects and fields
needs the admin role. Writes under another user's lock answer 423. Their records, any
member's, are a declared module (`modules/custom_records.py`).
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Path, Query, Response

from .custom_objects_models import (
    FieldChangeOut,
    FieldOut,
    FieldPatch,
    NewFieldIn,
    ObjectIn,
    ObjectListOut,
    ObjectOut,
    ObjectPatch,
    PageMeta,
    StatsOut,
)
from .declared.huddle_style import LIMIT_DEFAULT, LIMIT_MAX
from .deps import (
    CallerWorkspace,
    CurrentPrincipal,
    CurrentServices,
    IfMatchToken,
    fencing_token,
)
from .error_models import errors

router = APIRouter(prefix="/v1/custom-objects", tags=["Custom Objects"])

#: An object's (or a field's) id or apiName in a path.
OBJECT_REF = r"^[A-Za-z0-9_]{1,63}$"

ObjectRef = Annotated[
    str,
    Path(
        pattern=OBJECT_REF,
        description="The object's id or apiName",
        examples=["1", "project"],
    ),
]
FieldRef = Annotated[
    str,
    Path(
        pattern=OBJECT_REF,
        description="The field's id or apiName",
        examples=["3", "stage"],
    ),
]
PageParam = Annotated[int, Query(ge=1, description="Page number, from 1")]
LimitParam = Annotated[
    int, Query(ge=1, description=f"Items per page (default {LIMIT_DEFAULT}, at most {LIMIT_MAX})")
]
LockTokenParam = Annotated[
    int | None, Query(ge=1, description="The fencing token of the lock held (or If-Match)")
]


@router.get(
    "",
    response_model=ObjectListOut,
    responses=errors(403),
    summary="Custom Objects Controller_list Custom Objects",
)
async def list_custom_objects(
    ws: CallerWorkspace,
    svc: CurrentServices,
    page: PageParam = 1,
    limit: LimitParam = LIMIT_DEFAULT,
) -> ObjectListOut:
    """The workspace's custom objects, oldest first."""
    limit = min(limit, LIMIT_MAX)
    objects, total = await svc.custom_objects.list_objects(ws, page=page, limit=limit)
    return ObjectListOut(
        data=[ObjectOut.of(obj) for obj in objects], meta=PageMeta.of(page, limit, total)
    )


@router.post(
    "",
    response_model=ObjectOut,
    status_code=201,
    responses=errors(403, 409, 422),
    summary="Custom Objects Controller_create Custom Object",
)
async def create_custom_object(
    body: ObjectIn, caller: CurrentPrincipal, ws: CallerWorkspace, svc: CurrentServices
) -> ObjectOut:
    """Define an object with its fields (admin). `apiName` is unique in the workspace and
    fixed; 409 when taken."""
    return ObjectOut.of(await svc.custom_objects.create_object(ws, caller, body.spec()))


@router.get(
    "/stats",
    response_model=StatsOut,
    responses=errors(403),
    summary="Custom Objects Controller_get Stats",
)
async def get_custom_object_stats(ws: CallerWorkspace, svc: CurrentServices) -> StatsOut:
    """Objects, fields, records per object and records created in the last 24 hours."""
    return StatsOut.of(await svc.custom_objects.stats(ws))


@router.get(
    "/{id}",
    response_model=ObjectOut,
    responses=errors(403, 404),
    summary="Custom Objects Controller_get Custom Object",
)
async def get_custom_object(id: ObjectRef, ws: CallerWorkspace, svc: CurrentServices) -> ObjectOut:
    return ObjectOut.of(await svc.custom_objects.get_object(ws, id))


@router.patch(
    "/{id}",
    response_model=ObjectOut,
    responses=errors(403, 404, 409, 422, 423),
    summary="Custom Objects Controller_update Custom Object",
)
async def update_custom_object(
    id: ObjectRef,
    body: ObjectPatch,
    caller: CurrentPrincipal,
    ws: CallerWorkspace,
    svc: CurrentServices,
    if_match: IfMatchToken,
) -> ObjectOut:
    """Labels and description (admin). Respects the lock on (`custom_object`, id)."""
    token = fencing_token(if_match, body.lock_token)
    obj = await svc.custom_objects.update_object(ws, caller, id, body.changes(), token)
    return ObjectOut.of(obj)


@router.delete(
    "/{id}",
    status_code=204,
    response_class=Response,
    responses=errors(403, 404, 409, 423),
    summary="Custom Objects Controller_delete Custom Object",
)
async def delete_custom_object(
    id: ObjectRef,
    caller: CurrentPrincipal,
    ws: CallerWorkspace,
    svc: CurrentServices,
    if_match: IfMatchToken,
    force: Annotated[
        bool, Query(description="Also delete its records; without it, 409 if it has any")
    ] = False,
    lock_token: LockTokenParam = None,
) -> Response:
    token = fencing_token(if_match, lock_token)
    await svc.custom_objects.delete_object(ws, caller, id, force=force, token=token)
    return Response(status_code=204)


@router.post(
    "/{id}/fields",
    response_model=FieldChangeOut,
    status_code=201,
    responses=errors(403, 404, 409, 422, 423),
    summary="Custom Objects Controller_add Field",
)
async def add_custom_field(
    id: ObjectRef,
    body: NewFieldIn,
    caller: CurrentPrincipal,
    ws: CallerWorkspace,
    svc: CurrentServices,
    if_match: IfMatchToken,
) -> FieldChangeOut:
    """Add a field (admin); older records read it as null."""
    token = fencing_token(if_match, body.lock_token)
    obj, field = await svc.custom_objects.add_field(ws, caller, id, body.spec(), token)
    return FieldChangeOut(field=FieldOut.of(field), object=ObjectOut.of(obj))


@router.patch(
    "/{id}/fields/{fieldId}",
    response_model=FieldChangeOut,
    responses=errors(403, 404, 409, 422, 423),
    summary="Custom Objects Controller_update Field",
)
async def update_custom_field(
    id: ObjectRef,
    fieldId: FieldRef,
    body: FieldPatch,
    caller: CurrentPrincipal,
    ws: CallerWorkspace,
    svc: CurrentServices,
    if_match: IfMatchToken,
) -> FieldChangeOut:
    """Change a field's name, label, rules or options (admin); its type never changes, nor
    `unique` while the object has records. Stored values are never rewritten."""
    token = fencing_token(if_match, body.lock_token)
    obj, field = await svc.custom_objects.update_field(
        ws, caller, id, fieldId, body.changes(), token
    )
    return FieldChangeOut(field=FieldOut.of(field), object=ObjectOut.of(obj))


@router.delete(
    "/{id}/fields/{fieldId}",
    status_code=204,
    response_class=Response,
    responses=errors(403, 404, 409, 423),
    summary="Custom Objects Controller_delete Field",
)
async def delete_custom_field(
    id: ObjectRef,
    fieldId: FieldRef,
    caller: CurrentPrincipal,
    ws: CallerWorkspace,
    svc: CurrentServices,
    if_match: IfMatchToken,
    lock_token: LockTokenParam = None,
) -> Response:
    """Remove a field (admin): its values vanish from every record at once."""
    token = fencing_token(if_match, lock_token)
    await svc.custom_objects.delete_field(ws, caller, id, fieldId, token)
    return Response(status_code=204)
