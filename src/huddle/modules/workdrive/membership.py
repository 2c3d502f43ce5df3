"""What the three membership modules share (each user names one department, one location,
one security group): reading the users a body names, counting and listing members, and
writing several records as one atomic step (`RecordService.write_many`) with retries."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Iterable, Sequence
from typing import Any, Final

from pydantic import BaseModel, ConfigDict

from ...api.declared.module import Context
from ...engine.declarations import Collection, Sort
from ...engine.service import UPDATE_ROUNDS
from ...engine.writes import Change, Gone, New, Outcome, Write
from ...errors import Conflict, InvalidInput, Problem
from ...store import BATCH_LIMIT, Page, StoredRecord
from .people import USER, USERS

__all__ = [
    "ADMIN_PERMISSION",
    "DELETED_EXAMPLE",
    "EXAMPLE_ID",
    "MEMBERS_PER_REQUEST",
    "OTHER_EXAMPLE_ID",
    "SUMMARY_EXAMPLE",
    "Change",
    "Gone",
    "New",
    "Outcome",
    "StrictBody",
    "Write",
    "answers",
    "member_counts",
    "members_of",
    "named",
    "naming",
    "read_users",
    "reserve",
    "retried",
    "write_many",
]

#: Users one request may add, and as many it may remove: with the records they touch, one
#: atomic batch (`store.BATCH_LIMIT` operations).
MEMBERS_PER_REQUEST: Final = 100
#: Members a members response embeds (`memberCount` stays exact; page the rest with
#: `GET /api/users?location=<id>` or `?department=<id>`).
MEMBERS_SHOWN: Final = 1000
#: Members a delete clears in its own batch (the group's delete is the batch's last op).
DELETE_MEMBERS_MAX: Final = BATCH_LIMIT - 1
ADMIN_PERMISSION: Final = "workdrive:people"
EXAMPLE_ID: Final = "3fa85f64-5717-4562-b3fc-2c963f66afa6"
OTHER_EXAMPLE_ID: Final = "6301fd00-6216-11ec-9294-cfe91ad8177f"
#: A user summary as members lists show it (`summaries.Live.summary`).
SUMMARY_EXAMPLE: Final = {
    "id": EXAMPLE_ID,
    "firstName": "John",
    "lastName": "Smith",
    "picture": {},
    "cover": {},
    "color": "#2d9cdb",
    "online": True,
    "availability": 1,
    "designation": {"name": "Manager"},
    "department": {},
    "departmentData": {},
    "locationId": {},
    "availabilityStatusText": "Active",
    "phone": "+13756366604",
    "email": "john@example.com",
    "status": "ACTIVE",
    "externalUserId": None,
}
DELETED_EXAMPLE: Final = {"ids": [EXAMPLE_ID], "deleted": 1}


class StrictBody(BaseModel):
    """A hand-written route's body: a field it does not read is a 400 naming it."""

    model_config = ConfigDict(extra="forbid")


def answers(status: int, example: Any) -> dict[int | str, dict[str, Any]]:
    """A hand-written route's documented answers (`responses=`): its own, with its example,
    and the refusals in WorkDrive's error envelope."""
    refusals = {400: "An invalid body, field by field", 403: "Not an admin", 404: "No such id"}
    return {
        status: {"description": "OK", "content": {"application/json": {"example": example}}},
        **{
            code: {"description": f"{why} (WorkDrive error envelope)"}
            for code, why in refusals.items()
        },
    }


Loc = tuple[str | int, ...]


def named(sent: Sequence[str], where: str, key: str | None = None) -> list[tuple[str, Loc]]:
    """Each public id of `sent` with where it was sent: `body.<where>.<i>`, or
    `body.<where>.<i>.<key>` for a list of objects."""
    return [(raw, ("body", where, i, *([key] if key else []))) for i, raw in enumerate(sent)]


async def read_users(ctx: Context, sent: Sequence[tuple[str, Loc]]) -> list[StoredRecord]:
    """The users of the organization that the public ids `sent` name, in order; a 400 naming
    each place whose id is no user here (another organization's ids included), or whose user
    is named at an earlier place too."""
    ids = ctx.services.records.ids.in_workspace(ctx.ws)
    decoded = [ids.decode(USER, raw) for raw, _ in sent]
    users = await ctx.services.records.get_many(ctx.ws, USERS, {r for r in decoded if r})
    problems: list[Problem] = []
    seen: set[int] = set()
    for (raw, loc), rid in zip(sent, decoded, strict=True):
        if rid is None or rid not in users:
            problems.append(Problem(loc, "Not a user of this organization", "reference", raw))
        elif rid in seen:
            problems.append(Problem(loc, "Named twice", "duplicate", raw))
        seen.add(rid or 0)
    if problems:
        raise InvalidInput.of(problems)
    return [users[rid] for rid in decoded if rid]


async def member_counts(ctx: Context, field: str, group_ids: Iterable[int]) -> dict[int, int]:
    """How many users name each of `group_ids` in `field`: one exact count per group, read
    concurrently (a page of groups costs one round trip, not one per group in turn)."""
    records = ctx.services.records
    wanted = sorted(set(group_ids))

    async def count(group: int) -> int:
        page = await records.page(ctx.ws, USERS, offset=0, limit=0, filters={field: group})
        return page.total

    async with asyncio.TaskGroup() as tasks:
        counting = [tasks.create_task(count(group)) for group in wanted]
    return {group: task.result() for group, task in zip(wanted, counting, strict=True)}


async def members_of(ctx: Context, field: str, group_id: int) -> Page:
    """The first `MEMBERS_SHOWN` users naming `group_id` in `field`, oldest first, and how
    many there are."""
    return await ctx.services.records.page(
        ctx.ws, USERS, offset=0, limit=MEMBERS_SHOWN, sort=Sort("id"), filters={field: group_id}
    )


async def naming(ctx: Context, group_id: int, *fields: str) -> list[StoredRecord]:
    """Every user naming `group_id` in any of `fields`, for a delete to clear them in its own
    batch (409 when there are more than one batch holds: move some out first)."""
    found: dict[int, StoredRecord] = {}
    for field in fields:
        page = await ctx.services.records.page(
            ctx.ws, USERS, offset=0, limit=DELETE_MEMBERS_MAX + 1, filters={field: group_id}
        )
        found.update((r.id, r) for r in page.records)
        if max(page.total, len(found)) > DELETE_MEMBERS_MAX:
            raise Conflict(
                f"More than {DELETE_MEMBERS_MAX} users name it, more than one delete clears:"
                " move some of them first",
                details={"users": max(page.total, len(found))},
            )
    return list(found.values())


async def reserve(ctx: Context, collection: Collection) -> int:
    """A new id of `collection`, for a `New` write."""
    (found,) = await ctx.services.records.reserve_ids(ctx.ws, collection, 1)
    return found


async def write_many(
    ctx: Context, writes: Sequence[Write], *, keep: Iterable[StoredRecord] = ()
) -> Outcome | None:
    """`RecordService.write_many` by the request's caller, in its workspace."""
    return await ctx.services.records.write_many(ctx.ws, writes, ctx.caller, keep=keep)


async def retried(attempt: Callable[[], Awaitable[Outcome | None]]) -> Outcome:
    """`attempt` (which reads what it changes, then `write_many`s) until a batch applies."""
    for _ in range(UPDATE_ROUNDS):
        done = await attempt()
        if done is not None:
            return done
    raise Conflict("The members kept changing under this request; retry it")
