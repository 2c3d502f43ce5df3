"""WorkDrive's departments (seed 004 "Departments"): list, create with members, rename,
delete, and the heads and members moved in and out.

A department's members are the users whose `department` names it; its heads are listed on
the department (`departmentHeads`) and are always members of it. A user's `isDepartmentHead`
is true exactly while they head their department: every route that moves users or heads
writes the users, the department and the departments they left (which lose them as heads) in
one atomic batch, so no reader ever sees a half-moved member. A create, its members' moves
and their headships are that one batch too.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from typing import Annotated, Any, Final

from fastapi import APIRouter, Path
from pydantic import ConfigDict, Field

from ...api.declared.module import Context, Hooks, Module, Operation, Route
from ...api.declared.routes import router_of
from ...api.declared.workdrive import WorkDriveStyle
from ...engine.fields import validate_record
from ...errors import InvalidInput, Problem
from ...store import StoredRecord
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
    New,
    Outcome,
    StrictBody,
    Write,
    answers,
    member_counts,
    members_of,
    named,
    naming,
    read_users,
    reserve,
    retried,
    write_many,
)
from .people import DEPARTMENT, DEPARTMENTS, USERS
from .summaries import Live

STYLE: Final = WorkDriveStyle()
_HEADS_ROUTES: Final = "heads change with /admin or /members"
DepartmentId = Annotated[str, Path(description="The department's id", examples=[EXAMPLE_ID])]
_DEPARTMENT: Final = {
    "id": EXAMPLE_ID,
    "createdAt": "2022-11-28T05:52:23.167Z",
    "updatedAt": "2022-11-28T05:52:23.167Z",
    "createdBy": "172fa58d-7933-45a6-a905-b06770f2224c",
    "updatedBy": "172fa58d-7933-45a6-a905-b06770f2224c",
    "orgId": "afdcc332-51a0-11eb-b540-537816f1bbe5",
    "type": "DEPARTMENT",
    "name": "Management",
    "departmentHeads": [EXAMPLE_ID],
}
_DEPARTMENT_MEMBERS: Final = {**_DEPARTMENT, "memberCount": 1, "members": [SUMMARY_EXAMPLE]}
_MEMBER: Final = {"id": EXAMPLE_ID, "isAdmin": True, "existingDept": OTHER_EXAMPLE_ID}


def _example(example: dict[str, Any]) -> ConfigDict:
    return ConfigDict(json_schema_extra={"examples": [example]})


class MemberIn(StrictBody):
    """A user to make a member. `existingDept` and `isDepartmentHead` are the client's view
    of the user (Huddle reads the user's department itself); `isAdmin` makes them a head."""

    id: str
    existingDept: str | None = None
    isDepartmentHead: bool | None = None
    isAdmin: bool | None = None


class DepartmentIn(StrictBody):
    model_config = _example({"members": [_MEMBER], "name": "Management"})

    name: Any = None
    type: Any = None
    members: list[MemberIn] = Field(default_factory=list, max_length=MEMBERS_PER_REQUEST)


class HeadsIn(StrictBody):
    model_config = _example({"remove": OTHER_EXAMPLE_ID, "add": [_MEMBER]})

    remove: str | list[str] | None = None
    add: list[MemberIn] = Field(default_factory=list, max_length=MEMBERS_PER_REQUEST)


class MembersIn(StrictBody):
    model_config = _example({"addMembers": [_MEMBER], "removeMembers": [OTHER_EXAMPLE_ID]})

    addMembers: list[MemberIn] = Field(default_factory=list, max_length=MEMBERS_PER_REQUEST)
    removeMembers: list[str] = Field(default_factory=list, max_length=MEMBERS_PER_REQUEST)


class DepartmentHooks(Hooks):
    async def values(
        self, ctx: Context, module: Module, values: dict[str, Any], op: Operation
    ) -> dict[str, Any]:
        """A rename (or a new `type`); heads are moved by their own routes, which keep each
        head a member and their `isDepartmentHead` true."""
        ctx.caller.require_admin(ADMIN_PERMISSION)  # 403 before any 400 of the body
        if "departmentHeads" in values:
            raise InvalidInput(
                f"Not changed here: {_HEADS_ROUTES}",
                loc=("body", "departmentHeads"),
                input=values["departmentHeads"],
                type="extra_forbidden",
            )
        return values

    async def present(
        self, ctx: Context, module: Module, records: Sequence[StoredRecord]
    ) -> list[dict[str, Any]]:
        """`memberCount` and `admins`, the summaries of the heads (live `online`): one count
        per department, one read of every head of the page."""
        counts = await member_counts(ctx, "department", [r.id for r in records])
        live = await Live.of(ctx, (h for r in records for h in _heads(r)))
        return [
            {
                "orgId": ctx.ws.org_id,
                "memberCount": counts[r.id],
                "admins": live.summaries(_heads(r)),
            }
            for r in records
        ]


DEPARTMENTS_MODULE: Final = workdrive_module(
    collection=DEPARTMENTS,
    path="/api/departments",
    title="Department",
    tag="WorkDrive: Departments",
    list_key="departments",
    routes=(
        Route("list", "GET", summary="Get All Departments"),
        Route("get", "GET", "/{id}", summary="Get a Department (Huddle's)"),
        Route("update", "PATCH", "/{id}", summary="Update a Department"),
    ),
    example={"name": "Management", "type": "DEPARTMENT", "departmentHeads": []},
    hooks=DepartmentHooks(),
)

departments = APIRouter(prefix="/api/departments", tags=["WorkDrive: Departments"])


@departments.post(
    "", status_code=201, summary="Create a Department", responses=answers(201, _DEPARTMENT)
)
async def create_department(ctx: WorkDriveContext, body: DepartmentIn) -> dict[str, Any]:
    """The department, with `members` moved into it and those with `isAdmin` its heads, as
    one atomic step (a refused member leaves no department and no user changed)."""
    ctx.caller.require_admin(ADMIN_PERMISSION)
    _check_existing(ctx, body.members, "members")
    values = body.model_dump(include={"name", "type"}, exclude_unset=True)
    validate_record(DEPARTMENTS.fields, values, current=None, loc=("body",))
    target = await reserve(ctx, DEPARTMENTS)

    async def attempt() -> Outcome | None:
        joining = await read_users(ctx, named([m.id for m in body.members], "members", "id"))
        heads = {u.id for u, m in zip(joining, body.members, strict=True) if m.isAdmin}
        return await _moved(ctx, target, None, values, joining, heads=heads)

    done = await retried(attempt)
    return record_out(ctx, DEPARTMENTS_MODULE, done[(DEPARTMENT, target)], _org(ctx))


@departments.patch(
    "/{id}/admin", summary="Update Department Head", responses=answers(200, _DEPARTMENT)
)
async def update_heads(ctx: WorkDriveContext, id: DepartmentId, body: HeadsIn) -> dict[str, Any]:
    """Make each of `add` a head (moving them into the department if they are elsewhere),
    and `remove` (one id or a list) no longer heads (they stay members)."""
    ctx.caller.require_admin(ADMIN_PERMISSION)
    target = record_id(ctx, DEPARTMENTS_MODULE, id)
    _check_existing(ctx, body.add, "add")
    removed = (
        [(body.remove, ("body", "remove"))]
        if isinstance(body.remove, str)
        else named(body.remove or [], "remove")
    )
    sent = [*named([m.id for m in body.add], "add", "id"), *removed]

    async def attempt() -> Outcome | None:
        department = await ctx.services.records.get(ctx.ws, DEPARTMENTS, target)
        users = await read_users(ctx, sent)  # a user both added and removed: "Named twice"
        adding, unheaded = users[: len(body.add)], users[len(body.add) :]
        heads = {u.id for u in adding}
        return await _moved(ctx, target, department, {}, adding, heads=heads, unhead=unheaded)

    done = await retried(attempt)
    return record_out(ctx, DEPARTMENTS_MODULE, done[(DEPARTMENT, target)], _org(ctx))


@departments.post(
    "/{id}/members",
    summary="Update Department Members",
    responses=answers(200, _DEPARTMENT_MEMBERS),
)
async def update_members(
    ctx: WorkDriveContext, id: DepartmentId, body: MembersIn
) -> dict[str, Any]:
    """Move `addMembers` in (those with `isAdmin` become heads) and `removeMembers` out
    (no longer heads either), atomically. Removing a user who is no member changes nothing."""
    ctx.caller.require_admin(ADMIN_PERMISSION)
    target = record_id(ctx, DEPARTMENTS_MODULE, id)
    _check_existing(ctx, body.addMembers, "addMembers")
    added = [m.id for m in body.addMembers]
    sent = [*named(added, "addMembers", "id"), *named(body.removeMembers, "removeMembers")]

    async def attempt() -> Outcome | None:
        department = await ctx.services.records.get(ctx.ws, DEPARTMENTS, target)
        users = await read_users(ctx, sent)  # a user both added and removed: "Named twice"
        joining, leaving = users[: len(added)], users[len(added) :]
        heads = {u.id for u, m in zip(joining, body.addMembers, strict=True) if m.isAdmin}
        return await _moved(ctx, target, department, {}, joining, heads=heads, leave=leaving)

    done = await retried(attempt)
    return await department_members(ctx, done[(DEPARTMENT, target)])


@departments.get(
    "/{id}/members", summary="Get Department Members", responses=answers(200, _DEPARTMENT_MEMBERS)
)
async def get_members(ctx: WorkDriveContext, id: DepartmentId) -> dict[str, Any]:
    department = await ctx.services.records.get(
        ctx.ws, DEPARTMENTS, record_id(ctx, DEPARTMENTS_MODULE, id)
    )
    return await department_members(ctx, department)


@departments.delete("/{id}", summary="Delete a Department", responses=answers(200, DELETED_EXAMPLE))
async def delete_department(ctx: WorkDriveContext, id: DepartmentId) -> Any:
    """Delete the department and clear it from its members (who head nothing any more), in
    one atomic step."""
    ctx.caller.require_admin(ADMIN_PERMISSION)
    target = record_id(ctx, DEPARTMENTS_MODULE, id)

    async def attempt() -> Outcome | None:
        department = await ctx.services.records.get(ctx.ws, DEPARTMENTS, target)
        members = await naming(ctx, target, "department")
        writes: list[Write] = [
            Change(USERS, u, {"department": None, "isDepartmentHead": False}) for u in members
        ]
        return await write_many(ctx, [*writes, Gone(DEPARTMENTS, department)])

    done = await retried(attempt)
    module = bound(ctx, DEPARTMENTS_MODULE)
    return module.style.deleted(module, [done[(DEPARTMENT, target)]])


async def department_members(ctx: Context, department: StoredRecord) -> dict[str, Any]:
    """`{...department, orgId, memberCount, departmentHeads: [ids], members: [summaries]}`."""
    page = await members_of(ctx, "department", department.id)
    live = await Live.of(ctx, (), known=page.records)
    extra = {**_org(ctx), "memberCount": page.total}
    out = record_out(ctx, DEPARTMENTS_MODULE, department, extra)
    out["members"] = live.summaries(r.id for r in page.records)
    return out


async def _moved(
    ctx: Context,
    target: int,
    department: StoredRecord | None,
    values: Mapping[str, Any],
    joining: Sequence[StoredRecord],
    *,
    heads: set[int],
    leave: Sequence[StoredRecord] = (),
    unhead: Sequence[StoredRecord] = (),
) -> Outcome | None:
    """One batch: the department `target` (created from `values` when `department` is None)
    with `joining` as members and `heads` among its heads; `leave` out of it; `unhead` no
    longer heads; the departments `joining` leave without them as heads; each user's
    `department` and `isDepartmentHead` to match. Heads that are no users any more are
    dropped from every head list written (a list naming a missing user cannot be stored)."""
    records = ctx.services.records
    moving = {u.id for u in joining}
    old_ids = {u.data.get("department") for u in joining} - {None, target}
    old = await records.get_many(ctx.ws, DEPARTMENTS, (d for d in old_ids if isinstance(d, int)))
    mine = _heads(department) if department is not None else []
    named_heads = {*mine, *(h for d in old.values() for h in _heads(d))}
    alive = (await records.get_many(ctx.ws, USERS, named_heads)).keys() | moving
    out_ids = {u.id for u in (*leave, *unhead)}
    kept = [h for h in mine if h in alive and h not in out_ids]
    new_heads = [*kept, *(u.id for u in joining if u.id in heads and u.id not in kept)]
    writes: list[Write] = []
    if department is None:
        writes.append(New(DEPARTMENTS, target, {**values, "departmentHeads": new_heads}))
    else:
        writes.append(Change(DEPARTMENTS, department, {"departmentHeads": new_heads}))
    for other in old.values():
        left = [h for h in _heads(other) if h in alive and h not in moving]
        writes.append(Change(DEPARTMENTS, other, {"departmentHeads": left}))
    heading = set(new_heads)
    writes += [
        Change(USERS, u, {"department": target, "isDepartmentHead": u.id in heading})
        for u in joining
    ]
    writes += [
        Change(USERS, u, {"department": None, "isDepartmentHead": False})
        for u in leave
        if u.data.get("department") == target
    ]
    writes += [
        Change(USERS, u, {"isDepartmentHead": False})
        for u in unhead
        if u.data.get("department") == target and u.id not in moving
    ]
    return await write_many(ctx, writes)


def _heads(department: StoredRecord) -> list[int]:
    return list(department.data.get("departmentHeads") or [])


def _org(ctx: Context) -> dict[str, Any]:
    return {"orgId": ctx.ws.org_id}


def _check_existing(ctx: Context, members: Iterable[MemberIn], where: str) -> None:
    """`existingDept` is advisory (the user's department is read, not trusted), but when
    given it must be a department id of this organization."""
    ids = ctx.services.records.ids.in_workspace(ctx.ws)
    problems = [
        Problem(
            ("body", where, i, "existingDept"),
            "Not a department of this organization",
            "reference",
            m.existingDept,
        )
        for i, m in enumerate(members)
        if m.existingDept is not None and ids.decode(DEPARTMENT, m.existingDept) is None
    ]
    if problems:
        raise InvalidInput.of(problems)


ROUTERS: Final[tuple[APIRouter, ...]] = (departments, router_of(DEPARTMENTS_MODULE))
