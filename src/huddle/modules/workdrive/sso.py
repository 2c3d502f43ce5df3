"""WorkDrive's SSOs (seed 004 "SSO"): the applications and quick links an organization's
launcher shows, each at admin or user level, optionally for one department or location.

An SSO created with `?manage=true` is admin-level: only admins create it and only admins list
those (`GET /api/sso?manage=true`). Any member creates a user-level one (the default), which
every member of the organization lists. `GET /api/sso` answers a bare array, as the seed shows
it: at most `SSO_LIST_MAX`, by `order` then creation, with the total in `X-Total-Count`.

The OAuth addresses (`authorizationURI`, `tokenURI`, `refreshURI`, `loginURL`) are text, not
URLs: the seed's own examples are templates (`{{redirect_uri}}/?code=<authorization_token`)
that a client fills in. `link`, which a launcher opens as it is, must be an http(s) URL, and a
`QUICK_LINK` needs one.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Annotated, Any, Final

from fastapi import APIRouter, Body, Query
from starlette.responses import JSONResponse

from ...api.declared.module import Context, Hooks, Module, Route
from ...api.declared.routes import router_of
from ...api.declared.workdrive import WorkDriveStyle
from ...engine.declarations import Collection, Permissions, Sort
from ...engine.field_types import URL_MAX
from ...engine.fields import FieldSpec, declared
from ...errors import InvalidInput, Problem
from ...store import StoredRecord
from .context import WorkDriveContext, bound, workdrive_module
from .people import DEPARTMENT, LOCATION, USER
from .summaries import Live, picture

SSO: Final = "wd_sso"
SSO_TYPES: Final = ("QUICK_LINK", "SSO")
#: The most SSOs one `GET /api/sso` answers (the seed's list has no pages).
SSO_LIST_MAX: Final = 200
STYLE: Final = WorkDriveStyle()


def _template(name: str) -> FieldSpec:
    """An address a client fills in: text up to a URL's length, not checked as a URL."""
    return declared(name, max_length=URL_MAX, indexed=False)


SSOS: Final = Collection(
    name=SSO,
    fields=(
        declared("type", "single_select", options=SSO_TYPES, required=True),
        declared("name", required=True),
        _template("authorizationURI"),
        _template("tokenURI"),
        _template("refreshURI"),
        _template("loginURL"),
        declared("order", "integer", default=0),
        declared("fileId", "uuid", indexed=False),
        FieldSpec("departmentId", "departmentId", "reference", reference=DEPARTMENT),
        FieldSpec("locationId", "locationId", "reference", reference=LOCATION),
        declared("link", "url", indexed=False),
        declared("manage", "boolean", default=False),
    ),
    events="sso",
    public_ids=True,
    permissions=Permissions(create="member", update="owner", delete="owner"),
)


class SsoHooks(Hooks):
    async def present(
        self, ctx: Context, module: Module, records: Sequence[StoredRecord]
    ) -> list[dict[str, Any]]:
        """`orgId`, `file` (`{}` without one) and `user`: the summary of its creator, live,
        or null when the creator is no user of the organization (an operator, a service)."""
        ids = ctx.services.records.ids.in_workspace(ctx.ws)
        creators = [ids.decode(USER, r.created_by) for r in records]
        live = await Live.of(ctx, {c for c in creators if c is not None})
        return [
            {
                "orgId": ctx.ws.org_id,
                "file": picture(r.data.get("fileId")),
                "user": live.summary(creator),
            }
            for r, creator in zip(records, creators, strict=True)
        ]


_EXAMPLE: Final = {
    "type": "QUICK_LINK",
    "name": "Salesforce",
    "authorizationURI": "{{redirect_uri}}/?code=<authorization_token",
    "tokenURI": "https://api.example.io/oauth/token",
    "refreshURI": "https://api.example.io/oauth/token/refresh",
    "loginURL": "https://api.example.io/oauth/login?token={{access_token}}",
    "order": 1,
    "link": "https://api.example.io",
}

SSO_MODULE: Final = workdrive_module(
    collection=SSOS,
    path="/api/sso",
    title="SSO",
    tag="WorkDrive: SSO",
    list_key="ssos",
    routes=(Route("delete", "DELETE", "/{id}", summary="Delete a SSO (Huddle's)"),),
    example=_EXAMPLE,
    hooks=SsoHooks(),
)

router = APIRouter(prefix="/api/sso", tags=["WorkDrive: SSO"])

_MANAGE: Final = "true: the admin-level SSOs (admins only); false: the user-level ones"


@router.get(
    "",
    summary="Get all SSOs",
    response_class=JSONResponse,
    responses={
        200: {
            "description": f"At most {SSO_LIST_MAX}, by order then creation",
            "content": {
                "application/json": {
                    "schema": {"type": "array", "items": STYLE.record_schema(SSO_MODULE)},
                    "example": [STYLE.record_schema(SSO_MODULE)["example"]],
                }
            },
        }
    },
)
async def list_ssos(
    ctx: WorkDriveContext,
    manage: Annotated[bool, Query(description=_MANAGE)] = False,
    location: Annotated[str | None, Query(description="SSOs of this location (its id)")] = None,
    department: Annotated[str | None, Query(description="SSOs of this department (its id)")] = None,
) -> JSONResponse:
    """The SSOs of one level, filtered by location and department (each exactly: an SSO of
    no department is not one of a department's), as a bare array."""
    if manage:
        ctx.caller.require_admin("sso:manage")
    ids = ctx.services.records.ids.in_workspace(ctx.ws)
    filters: dict[str, Any] = {"manage": manage}
    problems: list[Problem] = []
    for param, field, target, raw in (
        ("location", "locationId", LOCATION, location),
        ("department", "departmentId", DEPARTMENT, department),
    ):
        if raw is None:
            continue
        found = ids.decode(target, raw)
        if found is None:
            message = f"Not a {param} of this organization"
            problems.append(Problem(("query", param), message, "reference", raw))
        filters[field] = found
    if problems:
        raise InvalidInput.of(problems)
    page = await ctx.services.records.page(
        ctx.ws, SSOS, offset=0, limit=SSO_LIST_MAX, sort=Sort("order"), filters=filters
    )
    items = await _answers(ctx, page.records)
    return JSONResponse(items, headers={"X-Total-Count": str(page.total)})


@router.post(
    "",
    status_code=201,
    summary="Create a SSO",
    response_class=JSONResponse,
    responses={
        201: {
            "description": "The SSO",
            "content": {"application/json": {"schema": STYLE.record_schema(SSO_MODULE)}},
        }
    },
    openapi_extra={
        "requestBody": {
            "required": True,
            "content": {"application/json": {"schema": STYLE.body_schema(SSO_MODULE, "create")}},
        }
    },
)
async def create_sso(
    ctx: WorkDriveContext,
    body: Annotated[Any, Body()],
    manage: Annotated[bool, Query(description="true: an admin-level SSO (admins only)")] = False,
) -> JSONResponse:
    """An SSO at admin level (`manage=true`, admins only) or user level (any member), for the
    whole organization or one department or location. A `QUICK_LINK` needs a `link`."""
    if manage:
        ctx.caller.require_admin("sso:manage")
    if not isinstance(body, dict):
        raise InvalidInput("the body must be an object", loc=("body",), input=body)
    own: list[Problem] = []
    if "manage" in body:
        message = "Set by the query parameter manage, not the body"
        own.append(Problem(("body", "manage"), message, "extra_forbidden", body["manage"]))
    if body.get("type") == "QUICK_LINK" and not body.get("link"):
        own.append(Problem(("body", "link"), "Required when type is QUICK_LINK", "missing"))
    module = bound(ctx, SSO_MODULE)
    try:
        values = module.style.values_in(module, body, "create")
    except InvalidInput as exc:
        raise InvalidInput.of([*exc.problems, *own]) from None
    if own:
        raise InvalidInput.of(own)
    record = await ctx.services.records.create(
        ctx.ws, SSOS, {**values, "manage": manage}, ctx.caller
    )
    [answer] = await _answers(ctx, [record])
    return JSONResponse(answer, status_code=201)


async def _answers(ctx: Context, records: Sequence[StoredRecord]) -> list[dict[str, Any]]:
    module = bound(ctx, SSO_MODULE)
    extras = await SSO_MODULE.hooks.present(ctx, module, records)
    return [module.style.record_out(module, r, e) for r, e in zip(records, extras, strict=True)]


MODULES: Final[tuple[Module, ...]] = (SSO_MODULE,)
#: In the order their paths must be matched: the hand-written list and create, then
#: `/api/sso/{id}`.
ROUTERS: Final[tuple[APIRouter, ...]] = (router, router_of(SSO_MODULE))
