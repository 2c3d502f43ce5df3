"""WorkDrive's locations (seed 004 "Locations"): list, create, rename, delete, and the members
moved in and out — and the membership writes departments and security groups share.

A location's members are the users whose `location` names it (`people`): moving users is one
atomic batch of their records, each a `user.updated` event; deleting a location clears it from
its members (and from their `addAdditionalLocations`) in the batch that deletes it.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Annotated, Any, Final

from fastapi import APIRouter, Path
from pydantic import ConfigDict, Field

from ...api.declared.module import Context, Hooks, Module, Operation, Route
from ...api.declared.routes import router_of
from ...api.declared.workdrive import WorkDriveStyle
from ...store import (
    StoredRecord,
)
from .context import WorkDriveContext, bound, record_id, record_out, workdrive_module
from .membership import (
    ADMIN_PERMISSION,
    DELETED_EXAMPLE,
    EXAMPLE_ID,
    MEMBERS_PER_REQUEST,
    OTHER_EXAMPLE_ID,
    SUMMARY_EXAMPLE,
    Change,
    Gone,
    Outcome,
    StrictBody,
    Write,
    answers,
    member_counts,
    members_of,
    named,
    naming,
    read_users,
    retried,
    write_many,
)
from .people import LOCATION, LOCATIONS, USERS
from .summaries import Live

STYLE: Final = WorkDriveStyle()
LocationId = Annotated[str, Path(description="The location's id", examples=[EXAMPLE_ID])]

_LOCATION: Final = {
    "id": EXAMPLE_ID,
    "createdAt": "2022-12-17T08:13:21.760Z",
    "updatedAt": "2022-12-17T08:13:21.760Z",
    "createdBy": "172fa58d-7933-45a6-a905-b06770f2224c",
    "updatedBy": "172fa58d-7933-45a6-a905-b06770f2224c",
    "name": "Berlin",
    "orgId": "afdcc332-51a0-11eb-b540-537816f1bbe5",
    "memberCount": 1,
}


class LocationMembersIn(StrictBody):
    model_config = ConfigDict(
        json_schema_extra={
            "examples": [{"addMembers": [EXAMPLE_ID], "removeMembers": [OTHER_EXAMPLE_ID]}]
        },
    )

    addMembers: list[str] = Field(default_factory=list, max_length=MEMBERS_PER_REQUEST)
    removeMembers: list[str] = Field(default_factory=list, max_length=MEMBERS_PER_REQUEST)


class LocationHooks(Hooks):
    async def values(
        self, ctx: Context, module: Module, values: dict[str, Any], op: Operation
    ) -> dict[str, Any]:
        ctx.caller.require_admin(ADMIN_PERMISSION)  # 403 before any 400 of the body
        return values

    async def present(
        self, ctx: Context, module: Module, records: Sequence[StoredRecord]
    ) -> list[dict[str, Any]]:
        counts = await member_counts(ctx, "location", [r.id for r in records])
        return [
            {"orgId": ctx.ws.org_id, "addedBy": r.created_by, "memberCount": counts[r.id]}
            for r in records
        ]


LOCATIONS_MODULE: Final = workdrive_module(
    collection=LOCATIONS,
    path="/api/locations",
    title="Location",
    tag="WorkDrive: Locations",
    list_key="locations",
    routes=(
        Route("list", "GET", summary="Get All Locations"),
        Route("create", "POST", summary="Create a Location"),
        Route("get", "GET", "/{id}", summary="Get a Location (Huddle's)"),
        Route("update", "PATCH", "/{id}", summary="Update a Location"),
    ),
    example={"name": "Berlin"},
    hooks=LocationHooks(),
)

locations = APIRouter(prefix="/api/locations", tags=["WorkDrive: Locations"])


@locations.post(
    "/{id}/members",
    summary="Update Location Members",
    responses=answers(200, {**_LOCATION, "members": [SUMMARY_EXAMPLE]}),
)
async def update_location_members(
    ctx: WorkDriveContext, id: LocationId, body: LocationMembersIn
) -> dict[str, Any]:
    """Move `addMembers` into the location and `removeMembers` out of it, atomically. A user
    already there, or removed while elsewhere, changes nothing."""
    ctx.caller.require_admin(ADMIN_PERMISSION)
    target = record_id(ctx, LOCATIONS_MODULE, id)
    sent = [*named(body.addMembers, "addMembers"), *named(body.removeMembers, "removeMembers")]

    async def attempt() -> Outcome | None:
        location = await ctx.services.records.get(ctx.ws, LOCATIONS, target)
        users = await read_users(ctx, sent)  # a user both added and removed: "Named twice"
        joining, leaving = users[: len(body.addMembers)], users[len(body.addMembers) :]
        writes: list[Write] = [Change(USERS, u, {"location": target}) for u in joining]
        writes += [
            Change(USERS, u, {"location": None})
            for u in leaving
            if u.data.get("location") == target
        ]
        return await write_many(ctx, writes, keep=[location])

    done = await retried(attempt)
    return await location_members(ctx, done[(LOCATION, target)])


@locations.get(
    "/{id}/members",
    summary="Get Location Members",
    responses=answers(200, {**_LOCATION, "members": [SUMMARY_EXAMPLE]}),
)
async def get_location_members(ctx: WorkDriveContext, id: LocationId) -> dict[str, Any]:
    location = await ctx.services.records.get(
        ctx.ws, LOCATIONS, record_id(ctx, LOCATIONS_MODULE, id)
    )
    return await location_members(ctx, location)


@locations.delete("/{id}", summary="Delete a Location", responses=answers(200, DELETED_EXAMPLE))
async def delete_location(ctx: WorkDriveContext, id: LocationId) -> Any:
    """Delete the location and clear it from every user naming it (as their location or one
    of their `addAdditionalLocations`), in one atomic step."""
    ctx.caller.require_admin(ADMIN_PERMISSION)
    target = record_id(ctx, LOCATIONS_MODULE, id)

    async def attempt() -> Outcome | None:
        location = await ctx.services.records.get(ctx.ws, LOCATIONS, target)
        writes: list[Write] = []
        for user in await naming(ctx, target, "location", "addAdditionalLocations"):
            values: dict[str, Any] = {}
            if user.data.get("location") == target:
                values["location"] = None
            others = user.data.get("addAdditionalLocations") or []
            if target in others:
                values["addAdditionalLocations"] = [o for o in others if o != target]
            writes.append(Change(USERS, user, values))
        return await write_many(ctx, [*writes, Gone(LOCATIONS, location)])

    done = await retried(attempt)
    module = bound(ctx, LOCATIONS_MODULE)
    return module.style.deleted(module, [done[(LOCATION, target)]])


async def location_members(ctx: Context, location: StoredRecord) -> dict[str, Any]:
    """`{...location, orgId, memberCount, members: [summaries]}` as stored now."""
    page = await members_of(ctx, "location", location.id)
    live = await Live.of(ctx, (), known=page.records)
    extra = {"orgId": ctx.ws.org_id, "memberCount": page.total}
    out = record_out(ctx, LOCATIONS_MODULE, location, extra)
    out["members"] = live.summaries(r.id for r in page.records)
    return out


ROUTERS: Final[tuple[APIRouter, ...]] = (locations, router_of(LOCATIONS_MODULE))
