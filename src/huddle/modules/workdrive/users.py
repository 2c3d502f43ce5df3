"""WorkDrive's users (seed 004 "User"): list, supervisors, create one or in bulk, update,
delete one or in bulk — with live `online`, `availability` and embedded summaries.

An admin manages every user; a user may change the self-service fields of their own record
(`people.SELF_SERVICE`: name, phone, bio, availability, pictures, `isExpert`). `online` is
never stored: it is the user's presence in the organization's workspace, read per response.
An `availability` change is also a `user.availability` event on the organization's stream.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Annotated, Any, Final

from fastapi import APIRouter, Depends, Query

from ...api.declared.module import Context, Hooks, Module, Operation, QueryFilter, Route, Written
from ...api.declared.style import Paging
from ...api.declared.workdrive import WorkDriveStyle, meta
from ...engine.writes import Change, New, Outcome, Write
from ...errors import Forbidden, InvalidInput, Problem
from ...store import StoredRecord
from .context import WorkDriveContext, example_answer, record_id, workdrive_module
from .membership import retried
from .people import DEPARTMENTS, SELF_SERVICE, USER, USERS, availability_in
from .security_groups import sync_admins
from .summaries import Live, status_text

STYLE: Final = WorkDriveStyle()
Loc = tuple[str | int, ...]
#: Direct reports listed in a user's `teamMembers` (a response embeds at most this many).
TEAM_MAX: Final = 1000

_EXAMPLE: Final = {
    "email": "john@example.com",
    "firstName": "John",
    "lastName": "Smith",
    "phone": "+13756366604",
    "designation": "Manager",
    "isDepartmentHead": False,
    "status": "ACTIVE",
    "availability": 1,
}


class UserHooks(Hooks):
    async def values(
        self, ctx: Context, module: Module, values: dict[str, Any], op: Operation
    ) -> dict[str, Any]:
        """`availability` by name or number; `addAdditionalTeams` (supervisors whose teams the
        user joins) into `userAdditionalTeams` on a create, left for `update` to merge."""
        problems: list[Problem] = []
        if "availability" in values:
            try:
                values["availability"] = availability_in(
                    values["availability"], ("body", "availability")
                )
            except InvalidInput as exc:
                problems += exc.problems
        for name in ("addAdditionalTeams", "removeAdditionalTeams"):
            if name in values:
                values[name] = _user_ids(ctx, values[name], name, problems)
        if op != "update" and "removeAdditionalTeams" in values:
            problems.append(Problem(("body", "removeAdditionalTeams"), "Only on an update"))
        if problems:
            raise InvalidInput.of(problems)
        if op != "update" and "addAdditionalTeams" in values:
            values["userAdditionalTeams"] = values.pop("addAdditionalTeams")
        return values

    async def create(
        self, ctx: Context, module: Module, values: Mapping[str, Any]
    ) -> StoredRecord | Written:
        (record,) = await _created(ctx, [values], lambda i: ("body",))
        return Written(record, USERS)

    async def create_many(
        self,
        ctx: Context,
        module: Module,
        items: Sequence[Mapping[str, Any]],
        loc: tuple[str | int, ...],
    ) -> list[StoredRecord]:
        return await _created(ctx, items, lambda i: (*loc, i))

    async def update(
        self,
        ctx: Context,
        module: Module,
        record_id: int,
        values: Mapping[str, Any],
        token: int | None,
    ) -> StoredRecord | Written:
        records = ctx.services.records
        own = records.ids.in_workspace(ctx.ws).encode(USER, record_id)
        if not ctx.caller.is_admin:
            others = sorted(set(values) - SELF_SERVICE)
            if own != ctx.caller.user_id or others:
                raise Forbidden(
                    "Only an admin may change this"
                    + (f": {', '.join(others)}" if own == ctx.caller.user_id else ""),
                    details={"required_permission": "users:update"},
                )
        changes = dict(values)
        add = changes.pop("addAdditionalTeams", None) or []
        remove = set(changes.pop("removeAdditionalTeams", None) or [])
        current = await records.get(ctx.ws, USERS, record_id)
        if add or remove:
            teams = [t for t in current.data.get("userAdditionalTeams") or [] if t not in remove]
            changes["userAdditionalTeams"] = teams + [t for t in add if t not in teams]
        if "department" in changes or "isDepartmentHead" in changes:
            record = await _moved(ctx, current, changes)
        else:
            record = await records.update(
                ctx.ws, USERS, record_id, changes, ctx.caller, token=token
            )
        if "securityGroup" in values:
            before = current.data.get("securityGroup")
            await sync_admins(ctx, {record_id: before}, record.data.get("securityGroup"))
        if "availability" in values:
            availability = record.data.get("availability")
            await ctx.services.events.publish_own(
                ctx.ws,
                ctx.caller.actor(),
                "user.availability",
                {
                    "userId": own,
                    "availability": availability,
                    "availabilityStatusText": status_text(availability),
                },
            )
        return Written(record, USERS)

    async def deleted(self, ctx: Context, module: Module, records: Sequence[StoredRecord]) -> None:
        """A deleted user's access token stops working at once."""
        ids = ctx.services.records.ids.in_workspace(ctx.ws)
        for record in records:
            await ctx.services.apikeys.revoke_user_token(ctx.ws.org_id, ids.encode(USER, record.id))

    async def present(
        self, ctx: Context, module: Module, records: Sequence[StoredRecord]
    ) -> list[dict[str, Any]]:
        supervisors = {r.data["reportsTo"] for r in records if r.data.get("reportsTo")}
        live = await Live.of(ctx, supervisors, known=records)
        reports = await _direct_reports(ctx, [r.id for r in records])
        return [
            {
                "orgId": ctx.ws.org_id,
                **live.extra(r),
                "reportsToObj": live.summary(r.data.get("reportsTo")),
                "teamMembers": [live.public_id(u) for u in reports.get(r.id, [])],
                "badges": [],
            }
            for r in records
        ]


async def _created(
    ctx: Context, items: Sequence[Mapping[str, Any]], loc: Callable[[int], Loc]
) -> list[StoredRecord]:
    """Create `items` atomically. A user created as a head (`isDepartmentHead` with a
    `department`) joins that department's heads in the same step."""
    records = ctx.services.records
    heading: dict[int, list[int]] = {}
    problems: list[Problem] = []
    for i, values in enumerate(items):
        if values.get("isDepartmentHead") is True:
            department = values.get("department")
            if isinstance(department, int):
                heading.setdefault(department, []).append(i)
            else:
                problems.append(_headless(loc(i), values))
    if problems:
        raise InvalidInput.of(problems)
    if not heading:
        if len(items) == 1:
            return [await records.create(ctx.ws, USERS, items[0], ctx.caller, loc=loc(0))]
        return await records.create_many(ctx.ws, USERS, items, ctx.caller, loc=loc(0)[:-1])
    ids = await records.reserve_ids(ctx.ws, USERS, len(items))

    async def attempt() -> Outcome | None:
        departments = await records.get_many(ctx.ws, DEPARTMENTS, heading)
        _all_found(departments, heading, loc)
        writes: list[Write] = [
            New(USERS, rid, values, loc(i))
            for i, (rid, values) in enumerate(zip(ids, items, strict=True))
        ]
        for department_id, which in heading.items():
            department = departments[department_id]
            heads = list(department.data.get("departmentHeads") or [])
            heads += [ids[i] for i in which if ids[i] not in heads]
            writes.append(Change(DEPARTMENTS, department, {"departmentHeads": heads}))
        return await records.write_many(ctx.ws, writes, ctx.caller)

    done = await retried(attempt)
    return [done[(USER, rid)] for rid in ids]


async def _moved(ctx: Context, current: StoredRecord, changes: dict[str, Any]) -> StoredRecord:
    """Change a user's `department` or `isDepartmentHead` with the departments' heads in the
    same atomic step: a head is in its department's `departmentHeads`, and nobody else is."""
    records = ctx.services.records
    user = current.id
    department = changes.get("department", current.data.get("department"))
    moving = department != current.data.get("department")
    heads = changes.get(
        "isDepartmentHead", False if moving else current.data.get("isDepartmentHead")
    )
    if heads and not isinstance(department, int):
        raise InvalidInput.of([_headless(("body",), changes)])
    changes["isDepartmentHead"] = bool(heads)

    async def attempt() -> Outcome | None:
        me = await records.get(ctx.ws, USERS, user)
        before = me.data.get("department")
        wanted = {d for d in (before, department) if isinstance(d, int)}
        departments = await records.get_many(ctx.ws, DEPARTMENTS, wanted)
        if isinstance(department, int) and department not in departments:
            raise InvalidInput(
                "Not a department of this organization",
                loc=("body", "department"),
                input=department,
                type="reference",
            )
        writes: list[Write] = [Change(USERS, me, changes, ("body",))]
        for found in departments.values():
            listed = list(found.data.get("departmentHeads") or [])
            keep = [h for h in listed if h != user]
            if heads and found.id == department:
                keep.append(user)
            if keep != listed:
                writes.append(Change(DEPARTMENTS, found, {"departmentHeads": keep}))
        return await records.write_many(ctx.ws, writes, ctx.caller)

    done = await retried(attempt)
    return done[(USER, user)]


def _headless(loc: Loc, values: Mapping[str, Any]) -> Problem:
    return Problem(
        (*loc, "isDepartmentHead"),
        "A department head needs a department",
        "value_error",
        values.get("isDepartmentHead"),
    )


def _all_found(
    found: Mapping[int, StoredRecord], heading: Mapping[int, list[int]], loc: Callable[[int], Loc]
) -> None:
    missing = [
        Problem((*loc(i), "department"), "Not a department of this organization", "reference", d)
        for d, which in heading.items()
        if d not in found
        for i in which
    ]
    if missing:
        raise InvalidInput.of(missing)


async def _direct_reports(ctx: Context, user_ids: list[int]) -> dict[int, list[int]]:
    """The users reporting to each of `user_ids`: one query for all of them."""
    if not user_ids:
        return {}
    page = await ctx.services.records.page(
        ctx.ws, USERS, offset=0, limit=TEAM_MAX, filters={"reportsTo": user_ids}
    )
    out: dict[int, list[int]] = {}
    for record in page.records:
        out.setdefault(record.data["reportsTo"], []).append(record.id)
    return out


def _user_ids(ctx: Context, value: Any, name: str, problems: list[Problem]) -> list[int]:
    ids = ctx.services.records.ids.in_workspace(ctx.ws)
    if not isinstance(value, list):
        problems.append(Problem(("body", name), "Must be a list of user ids", "list_type", value))
        return []
    found: list[int] = []
    for i, raw in enumerate(value):
        rid = ids.decode(USER, raw) if isinstance(raw, str) else None
        if rid is None:
            problems.append(
                Problem(("body", name, i), "Not a user of this organization", "reference", raw)
            )
        else:
            found.append(rid)
    return found


USERS_MODULE: Final = workdrive_module(
    collection=USERS,
    path="/api/users",
    title="User",
    tag="WorkDrive: Users",
    list_key="users",
    routes=(
        Route("list", "GET", summary="Get All Users"),
        Route("create", "POST", "/add", summary="Create a User"),
        Route("bulk_create", "POST", "/bulk-create", summary="Bulk Create User"),
        Route("bulk_delete", "DELETE", "/bulk-delete", summary="Bulk Delete User"),
        Route("get", "GET", "/{id}", summary="Get a User (Huddle's)"),
        Route("update", "PATCH", "/{id}", summary="Update a User"),
        Route("delete", "DELETE", "/{id}", summary="Delete a User"),
    ),
    filters=(
        QueryFilter("department", "department", "Users of this department (its id)"),
        QueryFilter("location", "location", "Users of this location (its id)"),
    ),
    example=_EXAMPLE,
    hooks=UserHooks(),
)


supervisors = APIRouter(prefix="/api/users", tags=["WorkDrive: Users"])


@supervisors.get(
    "/supervisors",
    summary="Get All Team Supervisors",
    responses=example_answer(
        200,
        {
            "users": [
                {
                    "id": "90a34cdd-cb83-89b5-9b54-fe1dd2d829ff",
                    "email": "john@example.com",
                    "firstName": "John",
                    "lastName": "Smith",
                }
            ],
            "meta": {
                "perPage": 10,
                "totalPages": 1,
                "totalResults": 1,
                "curPage": 1,
                "nextPage": None,
            },
        },
    ),
)
async def list_supervisors(
    ctx: WorkDriveContext,
    paging: Annotated[Paging, Depends(STYLE.paging())],
    user_id: Annotated[str | None, Query(alias="userId")] = None,
) -> dict[str, Any]:
    """Without `userId`: every user somebody reports to. With it: that user's supervisors
    (whom they report to, then the supervisors of the teams they joined)."""
    records = ctx.services.records
    if user_id is not None:
        user = await records.get(ctx.ws, USERS, record_id(ctx, USERS_MODULE, user_id))
        chosen = [user.data.get("reportsTo"), *(user.data.get("userAdditionalTeams") or [])]
        ids = list(dict.fromkeys(u for u in chosen if isinstance(u, int)))
    else:
        ids = await _all_supervisors(ctx)
    found = await records.get_many(ctx.ws, USERS, ids)
    present = [u for u in ids if u in found]
    public = records.ids.in_workspace(ctx.ws)
    return {
        "users": [
            {
                "id": public.encode(USER, u),
                "email": found[u].data.get("email"),
                "firstName": found[u].data.get("firstName"),
                "lastName": found[u].data.get("lastName"),
            }
            for u in present[paging.offset : paging.offset + paging.limit]
        ],
        "meta": meta(paging, len(present)),
    }


async def _all_supervisors(ctx: Context) -> list[int]:
    """Users somebody reports to, in id order (a scan of the users who report to someone)."""
    records = ctx.services.records
    found: set[int] = set()
    offset = 0
    while True:
        page = await records.page(ctx.ws, USERS, offset=offset, limit=500)
        for record in page.records:
            for boss in (
                record.data.get("reportsTo"),
                *(record.data.get("userAdditionalTeams") or []),
            ):
                if isinstance(boss, int):
                    found.add(boss)
        offset += len(page.records)
        if not page.records or offset >= page.total:
            return sorted(found)
