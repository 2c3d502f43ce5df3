"""WorkDrive's organizations (seed 004 "Organization"): the platform operator creates one, its
admins update it.

An organization is a Huddle org whose id is the organization's `id` (a random UUID); its people
live in its own workspace of the same id. The organizations themselves are records of one
platform workspace (`PLATFORM`), where a subdomain is unique across organizations.

`POST /api/organization` takes the operator's key (`HUDDLE_OPERATOR_KEY`) as `X-API-KEY`, not a
user's: it creates the organization, its default security groups, categories and enforcement
templates, and its first admin (from `admin`, in the `Administrators` group), and answers the
admin's `accessToken` — the credential everything else starts from.
"""

from __future__ import annotations

import re
import uuid
from collections.abc import Mapping
from typing import Annotated, Any, Final, Literal

from fastapi import APIRouter, Body, Header, Path
from pydantic import BaseModel, ConfigDict, Field
from starlette.requests import Request
from starlette.responses import JSONResponse

from ...api.declared.module import Context
from ...api.deps import runtime
from ...auth import ADMIN, Principal, is_operator_key
from ...clock import iso_ms
from ...engine.declarations import ADMINS_ONLY, Collection
from ...engine.fields import declared, public_values
from ...engine.writes import New, Write
from ...errors import (
    AlreadyExists,
    Conflict,
    CredentialsMissing,
    Forbidden,
    InvalidInput,
    NotFound,
    Problem,
    Unauthenticated,
)
from ...ids import OrgId, WorkspaceId, WorkspaceKey
from ...services import Services
from ...store import StoredRecord
from . import lookups
from .context import WorkDriveContext, example_answer
from .people import ADMINS_GROUP, DEFAULT_GROUPS, SECURITY_GROUPS, USER, USERS, full_name

#: Where the organizations are kept: no organization's credential reaches it.
PLATFORM: Final = WorkspaceKey(OrgId("huddle-platform"), WorkspaceId("workdrive-organizations"))
OPERATOR: Final = "operator"
_SUBDOMAIN_MAX: Final = 48
AUTH: Final = ("internal", "ldap")


_ADDRESS: Final = tuple(declared(name) for name in ("street1", "street2", "city", "state", "zip"))

ORGANIZATIONS: Final = Collection(
    name="wd_organization",
    fields=(
        declared("orgId", required=True, unique=True),
        declared("name", required=True),
        declared("legalName"),
        declared("subdomain", required=True, unique=True),
        declared("status", "single_select", options=("ACTIVE", "INACTIVE"), default="ACTIVE"),
        declared("parentOrgId"),
        declared("websites", "list", item=declared("website"), indexed=False),
        declared("address", "object", shape=_ADDRESS),
        declared("email", "email"),
        declared("phone", indexed=False),
        declared("description", "long_text", indexed=False),
        declared("industry"),
        declared(
            "authMethod",
            "list",
            item=declared("method", "single_select", options=("internal", "ldap")),
        ),
        declared("fileId", "uuid", indexed=False),
        declared("adminId"),
    ),
    events="organization",
    permissions=ADMINS_ONLY,
)

#: What `PATCH /api/organization/{id}` may change.
EDITABLE: Final = (
    "fileId",
    "name",
    "legalName",
    "websites",
    "address",
    "email",
    "phone",
    "description",
    "industry",
)


class AdminIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    firstName: str = Field(min_length=1, max_length=255)
    lastName: str | None = Field(None, max_length=255)
    email: str = Field(min_length=3, max_length=254)


class AuthIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    method: Literal["internal", "ldap"] = "internal"


class OrganizationIn(BaseModel):
    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={
            "examples": [
                {
                    "name": "Stilla",
                    "admin": {"firstName": "john", "lastName": "smith", "email": "abc@xyz.com"},
                    "auth": {"method": "internal"},
                }
            ]
        },
    )

    name: str = Field(min_length=1, max_length=255)
    admin: AdminIn
    auth: AuthIn = AuthIn()


router = APIRouter(prefix="/api/organization", tags=["WorkDrive: Organization"])

ORGANIZATION_EXAMPLE: Final = {
    "createdAt": "2023-03-03T07:53:49.830Z",
    "updatedAt": "2023-03-03T07:53:49.830Z",
    "id": "bd06213a-a26b-4cd7-a6b8-cfa154073e1f",
    "status": "ACTIVE",
    "subdomain": "stilla",
    "parentOrgId": None,
    "name": "Stilla",
    "legalName": "stilla",
    "websites": ["abc_stilla.com"],
    "address": {
        "street1": "3739 Liberty Avenue",
        "street2": None,
        "city": "Anaheim",
        "state": "California",
        "zip": "92805",
    },
    "email": "stilla@abc.com",
    "phone": "714-517-5291",
    "description": "Real estate organization",
    "industry": None,
    "authMethod": ["internal"],
    "file": {"id": "38443974-b996-11ed-afa1-0242ac120002"},
    "createdBy": "a3068d46-b993-81ed-afa1-0242ac120002",
}


def operator(org_id: str) -> Principal:
    """The platform operator, acting in a new organization."""
    return Principal(
        kind="service",
        user_id=OPERATOR,
        org_id=org_id,
        workspaces=None,
        default_workspace=org_id,
        roles=frozenset({ADMIN}),
        name="Platform operator",
    )


@router.post(
    "",
    status_code=201,
    summary="Create a new Organization (the platform operator's)",
    responses=example_answer(
        201,
        {
            **ORGANIZATION_EXAMPLE,
            "updatedAt": None,
            "authMethod": "internal",
            "accessToken": "3080826c-1270-45c7-b40f-36ac317556fd",
        },
    ),
)
async def create_organization(
    request: Request,
    body: OrganizationIn,
    x_api_key: Annotated[str | None, Header(alias="X-API-KEY")] = None,
) -> JSONResponse:
    """`X-API-KEY` is the operator key (`HUDDLE_OPERATOR_KEY`). Answers the organization with
    its first admin's `accessToken`."""
    rt = runtime(request)
    if rt.operator_key is None:
        raise Forbidden(
            "No operator key is configured on this node (HUDDLE_OPERATOR_KEY)",
            details={"required_permission": "organizations:create"},
        )
    if x_api_key is None:
        raise CredentialsMissing("no X-API-KEY header")
    if not is_operator_key(rt.operator_key, x_api_key):
        raise Unauthenticated("X-API-KEY is not the operator key")
    svc = rt.services
    org_id = str(uuid.uuid4())
    ws = WorkspaceKey(OrgId(org_id), WorkspaceId(org_id))
    who = operator(org_id)
    admin_values = {
        "email": body.admin.email,
        "firstName": body.admin.firstName,
        "lastName": body.admin.lastName,
        "status": "ACTIVE",
    }
    admin = await _populated(svc, ws, who, admin_values)
    ids = svc.records.ids.in_workspace(ws)
    admin_id = ids.encode(USER, admin.id)
    values = {
        "orgId": org_id,
        "name": body.name,
        "legalName": body.name,
        "status": "ACTIVE",
        "authMethod": [body.auth.method],
        "adminId": admin_id,
    }
    record = await _registered(svc, values, _subdomain(body.name), org_id, who)
    _, token = await svc.apikeys.issue_user_token(
        org_id,
        workspace_id=org_id,
        user_id=admin_id,
        admin=True,
        created_by=OPERATOR,
        name=full_name(admin.data),
    )
    out = organization_out(record)
    out["updatedAt"] = None
    out["authMethod"] = body.auth.method
    return JSONResponse({**out, "accessToken": token}, status_code=201)


async def _populated(
    svc: Services, ws: WorkspaceKey, who: Principal, admin_values: dict[str, Any]
) -> StoredRecord:
    """A new organization's workspace in one atomic step: its security groups, default
    categories and enforcement templates, and its first admin, in `Administrators`. Answers
    the admin. Every value is checked before anything is written (the admin's at
    `body.admin`)."""
    records = svc.records
    wanted: list[tuple[Collection, Mapping[str, Any]]] = [
        *((SECURITY_GROUPS, {"name": name}) for name in DEFAULT_GROUPS),
        *lookups.defaults(),
    ]
    ids: dict[str, list[int]] = {}
    for collection in {c.name: c for c, _ in wanted}.values():
        count = sum(1 for c, _ in wanted if c.name == collection.name)
        ids[collection.name] = await records.reserve_ids(ws, collection, count)
    (admin_id,) = await records.reserve_ids(ws, USERS, 1)
    groups = dict(zip(DEFAULT_GROUPS, ids[SECURITY_GROUPS.name], strict=True))
    writes: list[Write] = [
        New(collection, ids[collection.name].pop(0), values, ("defaults",))
        for collection, values in wanted
    ]
    admin = {**admin_values, "securityGroup": groups[ADMINS_GROUP]}
    writes.append(New(USERS, admin_id, admin, ("body", "admin")))
    done = await records.write_many(ws, writes, who)
    if done is None:  # nothing else writes a workspace nobody knows yet
        raise Conflict("The organization could not be created; retry")
    return done[(USERS.name, admin_id)]


async def _registered(
    svc: Services, values: dict[str, Any], subdomain: str, org_id: str, who: Principal
) -> StoredRecord:
    """The organization's record, under `subdomain`, or under `subdomain-<id prefix>` when
    another organization has it."""
    try:
        return await svc.records.create(
            PLATFORM, ORGANIZATIONS, {**values, "subdomain": subdomain}, who
        )
    except AlreadyExists:
        unique = f"{subdomain}-{org_id[:8]}"
        return await svc.records.create(
            PLATFORM, ORGANIZATIONS, {**values, "subdomain": unique}, who
        )


def _subdomain(name: str) -> str:
    slug = re.sub(r"[^a-z0-9]+", "-", name.lower()).strip("-")[:_SUBDOMAIN_MAX].strip("-")
    return slug or "org"


def organization_out(record: StoredRecord) -> dict[str, Any]:
    """An organization as the seed answers it."""
    values = public_values(ORGANIZATIONS.fields, record.data)
    file_id = values.pop("fileId")
    admin_id = values.pop("adminId")
    org_id = values.pop("orgId")
    return {
        "createdAt": iso_ms(record.created_at_ms),
        "updatedAt": iso_ms(record.updated_at_ms),
        "id": org_id,
        **values,
        "file": {"id": file_id} if file_id else None,
        "createdBy": admin_id,
    }


async def _find(ctx: Context, org_id: str) -> StoredRecord:
    """The caller's own organization; another's (or none) is 404."""
    if org_id != ctx.caller.org_id:
        raise NotFound(
            "The specified content could not be found",
            details={"resource_type": "Organization", "resource_id": org_id},
        )
    page = await ctx.services.records.page(
        PLATFORM, ORGANIZATIONS, offset=0, limit=1, filters={"orgId": org_id}
    )
    if not page.records:
        raise NotFound(
            "The specified content could not be found",
            details={"resource_type": "Organization", "resource_id": org_id},
        )
    return page.records[0]


_ORG_ID = Annotated[str, Path(max_length=64, examples=["bd06213a-a26b-4cd7-a6b8-cfa154073e1f"])]


@router.get(
    "/{id}",
    summary="Get an Organization (Huddle's)",
    responses=example_answer(200, ORGANIZATION_EXAMPLE),
)
async def get_organization(ctx: WorkDriveContext, id: _ORG_ID) -> dict[str, Any]:
    return organization_out(await _find(ctx, id))


@router.patch(
    "/{id}",
    summary="Update an Organization",
    responses=example_answer(200, ORGANIZATION_EXAMPLE),
)
async def update_organization(
    ctx: WorkDriveContext,
    id: _ORG_ID,
    body: Annotated[dict[str, Any], Body(examples=[{"name": "Stilla", "phone": "714-517-5291"}])],
) -> dict[str, Any]:
    """Admins of the organization only. Answers the organization; its stream gets an
    `organization.updated` event."""
    found = await _find(ctx, id)
    ctx.caller.require_admin("organization:update")
    unknown = [
        Problem(("body", name), "Unknown field", "extra_forbidden", value)
        for name, value in body.items()
        if name not in EDITABLE
    ]
    if unknown:
        raise InvalidInput.of(unknown)
    record = await ctx.services.records.update(PLATFORM, ORGANIZATIONS, found.id, body, ctx.caller)
    out = organization_out(record)
    await ctx.services.events.publish_own(ctx.ws, ctx.caller.actor(), "organization.updated", out)
    return out
