"""Seed 001: Base API v2 Collaborations at /v2/collaborations (workspace from the credential).

Errors on these routes use Base's own envelope (`DIALECT`, from `api/base_v2_errors.py`).
Existing Base clients send `Authorization: Bearer <64-hex token>`: Huddle API keys are
accepted there, as are JWTs.
"""

from __future__ import annotations

from typing import Annotated, Final

from fastapi import APIRouter, Path, Query, Request, Response

from ..errors import InvalidInput
from ..services.collaborations import CollaborationFilters, positive_id
from ..services.declarations import Sort
from .base_v2_errors import BaseV2Dialect
from .collaborations_v2_models import (
    CollaborationListOut,
    CollaborationOut,
    CollectionMeta,
    CreateCollaborationIn,
    Links,
)
from .deps import (
    CallerWorkspace,
    CurrentPrincipal,
    CurrentServices,
    IfMatchToken,
    fencing_token,
)

router = APIRouter(prefix="/v2/collaborations", tags=["Collaborations (Base API v2)"])
DIALECT: Final = BaseV2Dialect()

PER_PAGE_DEFAULT = 25
PER_PAGE_MAX = 100

_ERRORS = {
    status: {"description": description}
    for status, description in {
        401: "Missing, expired or unknown credentials (Base v2 error envelope)",
        403: "Not a member of the workspace (Base v2 error envelope)",
        404: "No such collaboration in the caller's workspace (Base v2 error envelope)",
        409: "A stale lock token (Base v2 error envelope)",
        422: "Invalid parameters or body, one error per field (Base v2 error envelope)",
        423: "Another user holds the collaboration's lock (Base v2 error envelope)",
        503: "The backend is unavailable (Base v2 error envelope)",
    }.items()
}

CollaborationId = Annotated[int, Path(ge=1, le=2**53 - 1, examples=[1])]


def _responses(*statuses: int) -> dict[int | str, dict[str, str]]:
    return {status: _ERRORS[status] for status in (401, *statuses, 503)}


def _ids(raw: str | None) -> list[int] | None:
    if raw is None:
        return None
    parts = [part.strip() for part in raw.split(",") if part.strip()]
    if len(parts) > PER_PAGE_MAX:
        raise InvalidInput(
            f"at most {PER_PAGE_MAX} ids", loc=("query", "ids"), input=raw, type="too_long"
        )
    return [positive_id(part, ("query", "ids")) for part in parts]


def _link(request: Request, page: int | None) -> str | None:
    if page is None:
        return None
    return str(request.url.include_query_params(page=page))


@router.get(
    "",
    response_model=CollaborationListOut,
    responses=_responses(403, 422),
    summary="Retrieve all Collaborations",
)
async def list_collaborations(
    request: Request,
    ws: CallerWorkspace,
    svc: CurrentServices,
    page: Annotated[int, Query(ge=1, description="Page number, from 1")] = 1,
    per_page: Annotated[
        int, Query(ge=1, description="Records per page: default 25; above 100 is served 100")
    ] = PER_PAGE_DEFAULT,
    ids: Annotated[str | None, Query(description="Comma-separated ids, e.g. 1,2,3")] = None,
    includes: Annotated[
        str | None, Query(description="Related resources: not supported, ignored")
    ] = None,
    sort_by: Annotated[
        str | None,
        Query(
            description="A field (id, creator_id, resource_type, resource_id, "
            "collaborator_id, created_at, updated_at), `:desc` for descending",
            examples=["resource_type:desc"],
        ),
    ] = None,
    creator_id: Annotated[int | None, Query(ge=1)] = None,
    resource_id: Annotated[int | None, Query(ge=1)] = None,
    resource_type: Annotated[
        str | None,
        Query(description="lead, contact, deal or sales_account (plural forms accepted)"),
    ] = None,
) -> CollaborationListOut:
    """Collaborations of the caller's workspace matching every given filter, ordered by
    `sort_by` (default: id), ties by id."""
    per_page = min(per_page, PER_PAGE_MAX)
    found = await svc.collaborations.page(
        ws,
        page=page,
        per_page=per_page,
        sort=Sort.parse(sort_by),
        filters=CollaborationFilters(
            ids=_ids(ids),
            creator_id=creator_id,
            resource_id=resource_id,
            resource_type=resource_type,
        ),
    )
    pages = max(1, -(-found.total // per_page))
    links = Links(
        self=str(request.url),
        first_page=_link(request, 1),
        prev_page=_link(request, page - 1 if page > 1 else None),
        next_page=_link(request, page + 1 if page < pages else None),
    )
    return CollaborationListOut(
        items=[CollaborationOut.of(record) for record in found.records],
        meta=CollectionMeta(count=len(found.records), links=links),
    )


@router.post(
    "",
    response_model=CollaborationOut,
    responses=_responses(403, 422),
    summary="Create a Collaboration",
)
async def create_collaboration(
    body: CreateCollaborationIn,
    caller: CurrentPrincipal,
    ws: CallerWorkspace,
    svc: CurrentServices,
) -> CollaborationOut:
    """Assign `collaborator_id` to a lead, contact, sales account or deal. Repeating an
    existing assignment answers the existing collaboration (200, unchanged, no event)."""
    if body.meta is not None and body.meta.type != "collaboration":
        raise InvalidInput(
            "meta.type must be collaboration",
            loc=("body", "meta", "type"),
            input=body.meta.type,
            type="enum",
        )
    record, _created = await svc.collaborations.create(ws, caller, body.data)
    return CollaborationOut.of(record)


@router.get(
    "/{id}",
    response_model=CollaborationOut,
    responses=_responses(403, 404, 422),
    summary="Retrieve a single Collaboration",
)
async def get_collaboration(
    id: CollaborationId, ws: CallerWorkspace, svc: CurrentServices
) -> CollaborationOut:
    return CollaborationOut.of(await svc.collaborations.get(ws, id))


LockToken = Annotated[
    int | None,
    Query(ge=1, description="The fencing token of the lock the caller holds (or If-Match)"),
]


@router.delete(
    "/{id}",
    status_code=204,
    response_class=Response,
    responses=_responses(403, 404, 409, 422, 423),
    summary="Delete a Collaboration",
)
async def delete_collaboration(
    id: CollaborationId,
    caller: CurrentPrincipal,
    ws: CallerWorkspace,
    svc: CurrentServices,
    if_match: IfMatchToken,
    lock_token: LockToken = None,
) -> Response:
    """Refused with 423 while another user holds the lock on (`collaboration`, id)."""
    token = fencing_token(if_match, lock_token)
    await svc.collaborations.delete(ws, caller, id, token)
    return Response(status_code=204)
