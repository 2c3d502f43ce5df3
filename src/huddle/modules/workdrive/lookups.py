"""WorkDrive's lookups (seed 004 "Module Codes", "Category", "Enforcement Template"): the
fixed codes of the modules, and each organization's categories and enforcement templates.

Module codes are constants of this server, the same for every organization. Categories and
enforcement templates are records of the organization's own workspace: `create_defaults` makes
the defaults when the organization is created, and its admins add (and remove) more through
Huddle's own routes, which the seed leaves out (it only lists them).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from enum import IntEnum
from typing import Annotated, Any, Final

from fastapi import APIRouter, Query

from ...api.declared.module import Context, Hooks, Module, Operation, QueryFilter, Route, Written
from ...api.declared.routes import router_of
from ...api.declared.style import Paging
from ...api.declared.workdrive import PER_PAGE_DEFAULT, PER_PAGE_MAX, WorkDriveStyle, page_at
from ...api.deps import CurrentPrincipal
from ...engine.declarations import ADMINS_ONLY, Collection, Sort
from ...engine.fields import declared
from ...errors import AlreadyExists, InvalidInput, Problem
from ...store import StoredRecord
from .context import workdrive_module


class ModuleCode(IntEnum):
    """The code of each seed module that holds content: what categories belong to and what a
    media upload names (`moduleCode`). The seed's one example is `POST` = 1; the others follow
    in the seed's order of sections, then the modules whose only content is media (pictures
    of users, organizations and SSOs). Codes are never renumbered: clients store them."""

    POST = 1
    NEWS = 2
    EVENT = 3
    VIDEO = 4
    PHOTO = 5
    DOCUMENT = 6
    FAQ = 7
    COURSE = 8
    TASK = 9
    GROUP_CHAT = 10
    MESSAGE = 11
    USER = 12
    ORGANIZATION = 13
    SSO = 14


def module_code_in(value: Any, loc: tuple[str | int, ...]) -> int:
    """A module code sent as an integer (or, in a query, its digits); `InvalidInput` at `loc`
    for anything else, naming the valid codes."""
    if isinstance(value, str) and value.strip().isdigit():
        value = int(value)
    if isinstance(value, int) and not isinstance(value, bool) and value in _CODES:
        return value
    codes = ", ".join(str(code.value) for code in ModuleCode)
    raise InvalidInput(f"Must be a module code: {codes}", loc=loc, input=value, type="enum")


_CODES: Final = frozenset(code.value for code in ModuleCode)
STYLE: Final = WorkDriveStyle()
CATEGORY: Final = "wd_category"
TEMPLATE: Final = "wd_enforcement_template"
DEFAULT_COLOR: Final = "#6B7280"
REMINDER_TYPES: Final = ("email", "push", "text", "restrict")
REMINDER_UNITS: Final = ("week", "days", "hours", "minutes")
#: Reminders one template holds at most.
REMINDERS_MAX: Final = 20
SORT_DIRECTIONS: Final = ("ASC", "DESC")


# --- module codes ------------------------------------------------------------------------------

module_codes = APIRouter(prefix="/api/module-codes", tags=["WorkDrive: Module Codes"])


@module_codes.get(
    "",
    summary="Get Module Codes",
    responses={
        200: {
            "description": "Every module code",
            "content": {"application/json": {"example": [{"name": "POST", "moduleCode": 1}]}},
        }
    },
)
async def list_module_codes(caller: CurrentPrincipal) -> list[dict[str, Any]]:
    """Every module code, in code order: a bare array, the same for every organization."""
    return [{"name": code.name, "moduleCode": code.value} for code in ModuleCode]


# --- categories --------------------------------------------------------------------------------

CATEGORIES: Final = Collection(
    name=CATEGORY,
    fields=(
        declared("moduleCode", "integer", required=True),
        declared("category", required=True, max_length=100),
        declared("color", default=DEFAULT_COLOR, max_length=32, indexed=False),
    ),
    events="category",
    compound_unique=(("moduleCode", "category"),),
    public_ids=True,
    permissions=ADMINS_ONLY,
)


class CategoryHooks(Hooks):
    async def filters(
        self, ctx: Context, module: Module, filters: dict[str, Any]
    ) -> dict[str, Any]:
        """`moduleCode` is required, and a code this server knows."""
        if filters.get("moduleCode") is None:
            raise InvalidInput(
                "moduleCode is required", loc=("query", "moduleCode"), type="missing"
            )
        filters["moduleCode"] = module_code_in(filters["moduleCode"], ("query", "moduleCode"))
        return filters

    async def values(
        self, ctx: Context, module: Module, values: dict[str, Any], op: Operation
    ) -> dict[str, Any]:
        code = values.get("moduleCode")
        if isinstance(code, int) and not isinstance(code, bool):
            module_code_in(code, ("body", "moduleCode"))
        return values  # any other type: the engine names it

    async def create(
        self, ctx: Context, module: Module, values: Mapping[str, Any]
    ) -> StoredRecord | Written:
        try:
            return await super().create(ctx, module, values)
        except AlreadyExists:
            raise InvalidInput(
                "This module already has a category of this name",
                loc=("body", "category"),
                input=values.get("category"),
                type="unique",
            ) from None

    async def present(
        self, ctx: Context, module: Module, records: Sequence[StoredRecord]
    ) -> list[dict[str, Any]]:
        return [{"orgId": ctx.ws.org_id} for _ in records]


CATEGORIES_MODULE: Final = workdrive_module(
    collection=CATEGORIES,
    path="/api/categories",
    title="Category",
    tag="WorkDrive: Categories",
    list_key="categories",
    routes=(
        Route("list", "GET", summary="Get All Categories"),
        Route("create", "POST", summary="Create a Category (Huddle's)"),
        Route("delete", "DELETE", "/{id}", summary="Delete a Category (Huddle's)"),
    ),
    filters=(QueryFilter("moduleCode", "moduleCode", "The module's code (required)"),),
    example={"moduleCode": 1, "category": "General", "color": DEFAULT_COLOR},
    hooks=CategoryHooks(),
)


# --- enforcement templates ---------------------------------------------------------------------

_REMINDER: Final = declared(
    "reminder",
    "object",
    shape=(
        declared("reminderType", "single_select", options=REMINDER_TYPES, required=True),
        declared("reminderTimeUnit", "single_select", options=REMINDER_UNITS, required=True),
        declared("reminderTime", "integer", required=True),
        declared("refId", max_length=64),
        declared("orgContentTemplateId", max_length=64),
    ),
)

TEMPLATES: Final = Collection(
    name=TEMPLATE,
    fields=(
        declared("title", required=True),
        declared("systemEvent", max_length=100),
        declared("type", max_length=100),
        declared("subType", max_length=100),
        declared("reminders", "list", item=_REMINDER, max_items=REMINDERS_MAX),
    ),
    events="enforcement_template",
    public_ids=True,
    permissions=ADMINS_ONLY,
)


async def _sorted_paging(
    cur_page: Annotated[int, Query(ge=1, description="A page number, from 1")] = 1,
    per_page: Annotated[
        int, Query(ge=1, description=f"Results per page (at most {PER_PAGE_MAX})", examples=[10])
    ] = PER_PAGE_DEFAULT,
    sort_direction: Annotated[
        str, Query(description="By creation time: ASC or DESC (any case)", examples=["DESC"])
    ] = "DESC",
) -> Paging:
    direction = sort_direction.upper()
    if direction not in SORT_DIRECTIONS:
        raise InvalidInput(
            "sort_direction must be ASC or DESC",
            loc=("query", "sort_direction"),
            input=sort_direction,
            type="enum",
        )
    return page_at(cur_page, per_page, Sort("created_at", descending=direction == "DESC"))


class SortedWorkDriveStyle(WorkDriveStyle):
    """WorkDrive's style with the seed's `sort_direction` (by creation time) on lists."""

    def paging(self) -> Callable[..., Any]:
        return _sorted_paging


class TemplateHooks(Hooks):
    async def values(
        self, ctx: Context, module: Module, values: dict[str, Any], op: Operation
    ) -> dict[str, Any]:
        """A reminder's `reminderTime` is not negative (other types: the engine names them)."""
        reminders = values.get("reminders")
        problems = [
            Problem(
                ("body", "reminders", i, "reminderTime"),
                "Must be 0 or more",
                "greater_than_equal",
                t,
            )
            for i, r in enumerate(reminders if isinstance(reminders, list) else [])
            if isinstance(r, dict)
            and isinstance(t := r.get("reminderTime"), int)
            and not isinstance(t, bool)
            and t < 0
        ]
        if problems:
            raise InvalidInput.of(problems)
        return values


TEMPLATES_MODULE: Final = workdrive_module(
    collection=TEMPLATES,
    path="/api/enforcement-templates",
    style=SortedWorkDriveStyle(),
    title="Enforcement Template",
    tag="WorkDrive: Enforcement Templates",
    list_key="notificationTemplates",
    routes=(
        Route("list", "GET", summary="Get All Templates"),
        Route("create", "POST", summary="Create a Template (Huddle's)"),
    ),
    example={
        "title": "Course due reminder",
        "systemEvent": "COURSE_DUE",
        "type": "COURSE",
        "subType": "DUE_DATE",
        "reminders": [
            {
                "reminderType": "email",
                "reminderTimeUnit": "days",
                "reminderTime": 1,
                "refId": "1",
                "orgContentTemplateId": None,
            }
        ],
    },
    hooks=TemplateHooks(),
)


# --- defaults of a new organization ------------------------------------------------------------

#: Module codes whose records carry a category in the seed; each gets `General`.
CATEGORIZED: Final = (
    ModuleCode.POST,
    ModuleCode.NEWS,
    ModuleCode.EVENT,
    ModuleCode.DOCUMENT,
    ModuleCode.FAQ,
    ModuleCode.COURSE,
    ModuleCode.GROUP_CHAT,
)
#: The categories the seed's own examples name, so its examples work on a new organization.
_NAMED: Final[tuple[tuple[ModuleCode, str, str], ...]] = (
    (ModuleCode.NEWS, "Featured", "#F59E0B"),
    (ModuleCode.EVENT, "Corporate Events", "#3B82F6"),
    (ModuleCode.DOCUMENT, "Human resource", "#10B981"),
    (ModuleCode.FAQ, "Human resource", "#10B981"),
    (ModuleCode.FAQ, "Refund Policy", "#EF4444"),
    (ModuleCode.COURSE, "Business", "#8B5CF6"),
    (ModuleCode.COURSE, "Development", "#06B6D4"),
)
DEFAULT_CATEGORIES: Final[tuple[Mapping[str, Any], ...]] = (
    *(
        {"moduleCode": code.value, "category": "General", "color": DEFAULT_COLOR}
        for code in CATEGORIZED
    ),
    *({"moduleCode": code.value, "category": name, "color": color} for code, name, color in _NAMED),
)


def _reminder(ref: int, kind: str, time: int, unit: str) -> dict[str, Any]:
    return {"reminderType": kind, "reminderTimeUnit": unit, "reminderTime": time, "refId": str(ref)}


DEFAULT_TEMPLATES: Final[tuple[Mapping[str, Any], ...]] = (
    {
        "title": "Course due reminder",
        "systemEvent": "COURSE_DUE",
        "type": "COURSE",
        "subType": "DUE_DATE",
        "reminders": [_reminder(1, "email", 1, "days"), _reminder(2, "push", 2, "hours")],
    },
    {
        "title": "Course overdue enforcement",
        "systemEvent": "COURSE_OVERDUE",
        "type": "COURSE",
        "subType": "OVERDUE",
        "reminders": [_reminder(1, "email", 1, "days"), _reminder(2, "restrict", 1, "week")],
    },
    {
        "title": "Task due reminder",
        "systemEvent": "TASK_DUE",
        "type": "TASK",
        "subType": "DUE_DATE",
        "reminders": [_reminder(1, "push", 1, "hours")],
    },
)


def defaults() -> list[tuple[Collection, Mapping[str, Any]]]:
    """The default categories and enforcement templates of a new organization: what its
    create writes, in the same atomic step as its security groups and first admin."""
    return [
        *((CATEGORIES, values) for values in DEFAULT_CATEGORIES),
        *((TEMPLATES, values) for values in DEFAULT_TEMPLATES),
    ]


MODULES: Final[tuple[Module, ...]] = (CATEGORIES_MODULE, TEMPLATES_MODULE)
#: Every router of this file, in the order their paths must be matched (none clash).
ROUTERS: Final[tuple[APIRouter, ...]] = (module_codes, *(router_of(m) for m in MODULES))
