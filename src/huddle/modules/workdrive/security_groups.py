"""WorkDrive's security groups (seed 004 "Security Groups"): list, and users added to a group
or removed from it. Huddle's addition: an admin may create a group (`POST`); an organization's
default groups (`people.DEFAULT_GROUPS`) are created with it.

A group's members are the users whose `securityGroup` names it (one group per user): adding
users moves them out of their previous group. The `ADMINS_GROUP` group is the organization's
admins: whoever joins or leaves it has their access token's admin role set to match, right
after the (atomic) move of the users' records.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Annotated, Any, Final

from fastapi import APIRouter, Path
from pydantic import ConfigDict, Field

from ...api.declared.module import Context, Hooks, Module, Operation, Route
from ...api.declared.routes import router_of
from ...api.declared.workdrive import WorkDriveStyle
from ...store import StoredRecord
from .context import WorkDriveContext, record_id, record_out, workdrive_module
from .membership import (
    ADMIN_PERMISSION,
    EXAMPLE_ID,
    MEMBERS_PER_REQUEST,
    OTHER_EXAMPLE_ID,
    Change,
    Outcome,
    StrictBody,
    Write,
    answers,
    member_counts,
    named,
    read_users,
    retried,
    write_many,
)
from .people import ADMINS_GROUP, SECURITY_GROUP, SECURITY_GROUPS, USER, USERS

STYLE: Final = WorkDriveStyle()
GroupId = Annotated[
    str, Path(alias="groupId", description="The security group's id", examples=[EXAMPLE_ID])
]
_GROUP: Final = {
    "id": EXAMPLE_ID,
    "name": "Managers",
    "orgId": "afdcc332-51a0-11eb-b540-537816f1bbe5",
    "memberCount": 2,
    "createdAt": "2022-11-28T05:52:23.167Z",
    "updatedAt": "2022-11-28T05:52:23.167Z",
    "createdBy": "172fa58d-7933-45a6-a905-b06770f2224c",
    "updatedBy": "172fa58d-7933-45a6-a905-b06770f2224c",
}


class GroupMembersIn(StrictBody):
    model_config = ConfigDict(
        json_schema_extra={"examples": [{"ids": [EXAMPLE_ID, OTHER_EXAMPLE_ID]}]}
    )

    ids: list[str] = Field(min_length=1, max_length=MEMBERS_PER_REQUEST)


class GroupHooks(Hooks):
    async def values(
        self, ctx: Context, module: Module, values: dict[str, Any], op: Operation
    ) -> dict[str, Any]:
        ctx.caller.require_admin(ADMIN_PERMISSION)  # 403 before any 400 of the body
        return values

    async def present(
        self, ctx: Context, module: Module, records: Sequence[StoredRecord]
    ) -> list[dict[str, Any]]:
        counts = await member_counts(ctx, "securityGroup", [r.id for r in records])
        return [{"orgId": ctx.ws.org_id, "memberCount": counts[r.id]} for r in records]


GROUPS_MODULE: Final = workdrive_module(
    collection=SECURITY_GROUPS,
    path="/api/security_groups",
    title="Security Group",
    tag="WorkDrive: Security Groups",
    list_key="groups",
    routes=(
        Route("list", "GET", summary="Get All Security Groups"),
        Route("create", "POST", summary="Create a Security Group (Huddle's)"),
        Route("get", "GET", "/{id}", summary="Get a Security Group (Huddle's)"),
    ),
    example={"name": "Managers"},
    hooks=GroupHooks(),
)

groups = APIRouter(prefix="/api/security_groups", tags=["WorkDrive: Security Groups"])
#: The seed writes these paths with a stray `}` (`.../members}`); clients copying it send
#: `%7D`, which Starlette matches decoded, so the same endpoints answer there too.
_TYPO: Final = "}"


async def add_members(
    ctx: WorkDriveContext, group_id: GroupId, body: GroupMembersIn
) -> dict[str, Any]:
    """Put each of `ids` in the group (out of the one they were in), atomically. A user
    already in it changes nothing."""
    return await _move(ctx, group_id, body, join=True)


async def remove_members(
    ctx: WorkDriveContext, group_id: GroupId, body: GroupMembersIn
) -> dict[str, Any]:
    """Take each of `ids` out of the group (in no group then), atomically. A user who is not
    in it changes nothing."""
    return await _move(ctx, group_id, body, join=False)


def _member_routes(router: APIRouter) -> None:
    for path in ("/{groupId}/members", "/{groupId}/members" + _TYPO):
        seed = path.endswith(_TYPO)  # served, not documented twice
        suffix = ".seed_path" if seed else ""
        router.add_api_route(
            path,
            add_members,
            methods=["POST"],
            summary="Add users to the SecurityGroup",
            responses=answers(200, _GROUP),
            include_in_schema=not seed,
            name=f"security_groups.add_members{suffix}",
        )
        router.add_api_route(
            path,
            remove_members,
            methods=["DELETE"],
            summary="Remove users from the SecurityGroup",
            responses=answers(200, {**_GROUP, "memberCount": 0}),
            include_in_schema=not seed,
            name=f"security_groups.remove_members{suffix}",
        )


_member_routes(groups)


async def _move(ctx: Context, raw: str, body: GroupMembersIn, *, join: bool) -> dict[str, Any]:
    ctx.caller.require_admin(ADMIN_PERMISSION)
    target = record_id(ctx, GROUPS_MODULE, raw)
    records = ctx.services.records
    before: dict[int, int | None] = {}

    async def attempt() -> Outcome | None:
        group = await records.get(ctx.ws, SECURITY_GROUPS, target)
        users = await read_users(ctx, named(body.ids, "ids"))
        if join:
            moving = [u for u in users if u.data.get("securityGroup") != target]
        else:
            moving = [u for u in users if u.data.get("securityGroup") == target]
        before.clear()
        before.update((u.id, u.data.get("securityGroup")) for u in moving)
        writes: list[Write] = [
            Change(USERS, u, {"securityGroup": target if join else None}) for u in moving
        ]
        return await write_many(ctx, writes, keep=[group])

    done = await retried(attempt)
    group = done[(SECURITY_GROUP, target)]
    await sync_admins(ctx, before, target if join else None)
    count = await member_counts(ctx, "securityGroup", [target])
    return record_out(
        ctx, GROUPS_MODULE, group, {"orgId": ctx.ws.org_id, "memberCount": count[target]}
    )


async def sync_admins(ctx: Context, before: dict[int, int | None], after: int | None) -> None:
    """Each moved user who joined or left the admins' group gets the admin role on their
    access token, or loses it."""
    records = ctx.services.records
    named_groups = {g for g in (*before.values(), after) if g is not None}
    found = await records.get_many(ctx.ws, SECURITY_GROUPS, named_groups)
    admins = {g for g, record in found.items() if record.data.get("name") == ADMINS_GROUP}
    now_admin = after in admins
    ids = records.ids.in_workspace(ctx.ws)
    for user, was in before.items():
        if (was in admins) != now_admin:
            await ctx.services.apikeys.set_user_token_admin(
                ctx.ws.org_id, ids.encode(USER, user), admin=now_admin
            )


ROUTERS: Final[tuple[APIRouter, ...]] = (groups, router_of(GROUPS_MODULE))
