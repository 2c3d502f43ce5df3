"""Collaborators of CRM resources (seed 001): one declared collection of the record engine.

A collaboration says that user `collaborator_id` works on resource `(resource_type,
resource_id)`; `creator_id` is the caller. Ids are numbers, as Base clients expect:

* a principal whose user id is a decimal integer (plain: no sign, no leading zero) below
  `USER_NUMBER_BASE` is that number;
* any other user id (`ana`, a service key) is given a stable number of its own in the
  workspace on first use, from `USER_NUMBER_BASE` up, so it never collides with integer ids.

A second create of the same (resource_type, resource_id, collaborator_id) is idempotent: it
answers the existing collaboration and emits nothing.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Final

from ..auth import Principal
from ..engine.declarations import Collection, Sort
from ..engine.fields import FieldSpec, positive_id
from ..engine.service import RecordService
from ..errors import InvalidInput, Problem
from ..ids import WorkspaceKey
from ..store import Page, StoredRecord, Taken

RESOURCE_TYPES: Final = ("lead", "contact", "sales_account", "deal")

#: Plural spellings accepted for `resource_type` (the seed's own curl uses `deals`).
RESOURCE_TYPE_ALIASES: Final = {f"{name}s": name for name in RESOURCE_TYPES}

#: Numbers given to non-numeric user ids start here.
USER_NUMBER_BASE: Final = 1_000_000_000_000

WRITABLE: Final = ("resource_type", "resource_id", "collaborator_id")
READ_ONLY: Final = ("id", "creator_id", "created_at", "updated_at")

COLLABORATIONS: Final = Collection(
    name="collaboration",
    fields=(
        FieldSpec(key="creator_id", name="creator_id", type="integer", required=True),
        FieldSpec(
            key="resource_type",
            name="resource_type",
            type="single_select",
            required=True,
            options=RESOURCE_TYPES,
        ),
        FieldSpec(key="resource_id", name="resource_id", type="integer", required=True),
        FieldSpec(key="collaborator_id", name="collaborator_id", type="integer", required=True),
    ),
    events="collaboration",
    lock_type="collaboration",
    values_key=None,
    compound_unique=(("resource_type", "resource_id", "collaborator_id"),),
)

USER_NUMBERS: Final = Collection(
    name="user_number",
    fields=(FieldSpec(key="user_id", name="user_id", type="text", required=True, unique=True),),
    events=None,
)


@dataclass(frozen=True, slots=True)
class CollaborationFilters:
    ids: Sequence[int] | None = None
    creator_id: int | None = None
    resource_id: int | None = None
    resource_type: str | None = None


class CollaborationService:
    def __init__(self, records: RecordService) -> None:
        self._records = records

    async def create(
        self, ws: WorkspaceKey, principal: Principal, data: Mapping[str, Any]
    ) -> tuple[StoredRecord, bool]:
        """The new collaboration (True), or the existing one with the same resource and
        collaborator (False)."""
        values = self._values(data)
        values["creator_id"] = await self.user_number(ws, principal)
        outcome = await self._records.create_or_existing(
            ws, COLLABORATIONS, values, principal, loc=("body", "data")
        )
        if isinstance(outcome, Taken):
            return outcome.holder, False
        return outcome, True

    async def get(self, ws: WorkspaceKey, collaboration_id: int) -> StoredRecord:
        return await self._records.get(ws, COLLABORATIONS, collaboration_id)

    async def page(
        self,
        ws: WorkspaceKey,
        *,
        page: int,
        per_page: int,
        sort: Sort,
        filters: CollaborationFilters,
    ) -> Page:
        wanted: dict[str, Any] = {}
        if filters.creator_id is not None:
            wanted["creator_id"] = filters.creator_id
        if filters.resource_id is not None:
            wanted["resource_id"] = filters.resource_id
        if filters.resource_type is not None:
            wanted["resource_type"] = resource_type(filters.resource_type, ("query",))
        return await self._records.page(
            ws,
            COLLABORATIONS,
            offset=(page - 1) * per_page,
            limit=per_page,
            sort=sort,
            filters=wanted,
            ids=filters.ids,
        )

    async def delete(
        self,
        ws: WorkspaceKey,
        principal: Principal,
        collaboration_id: int,
        token: int | None = None,
    ) -> StoredRecord:
        return await self._records.delete(
            ws, COLLABORATIONS, collaboration_id, principal, token=token
        )

    async def user_number(self, ws: WorkspaceKey, principal: Principal) -> int:
        """The caller's numeric id (see the module docstring)."""
        user_id = principal.user_id
        if (
            user_id.isascii()
            and user_id.isdigit()
            and user_id == str(int(user_id))
            and 0 < int(user_id) < USER_NUMBER_BASE
        ):
            return int(user_id)
        outcome = await self._records.create_or_existing(
            ws, USER_NUMBERS, {"user_id": user_id}, principal
        )
        record = outcome.holder if isinstance(outcome, Taken) else outcome
        return USER_NUMBER_BASE + record.id

    def _values(self, data: Mapping[str, Any]) -> dict[str, Any]:
        """The writable fields of a create body, with the seed's loose forms accepted:
        numeric strings for ids and plural resource types. Read-only fields are ignored;
        unknown ones refused."""
        loc = ("body", "data")
        problems: list[Problem] = []
        values: dict[str, Any] = {}
        for name, value in data.items():
            if name in READ_ONLY:
                continue
            if name not in WRITABLE:
                problems.append(
                    Problem((*loc, name), "Unknown field", type="extra_forbidden", input=value)
                )
                continue
            values[name] = value
        for name in WRITABLE:
            if values.get(name) is None:
                problems.append(Problem((*loc, name), "can't be blank", type="missing"))
        for name in ("resource_id", "collaborator_id"):
            if values.get(name) is not None:
                values[name] = _collect(problems, positive_id, values[name], (*loc, name))
        if values.get("resource_type") is not None:
            values["resource_type"] = _collect(
                problems, resource_type, values["resource_type"], loc
            )
        if problems:
            raise InvalidInput.of(problems)
        return values


def _collect(problems: list[Problem], check: Any, value: Any, loc: tuple[str | int, ...]) -> Any:
    """`check(value, loc)`, with its refusal added to `problems` instead of raised."""
    try:
        return check(value, loc)
    except InvalidInput as exc:
        problems.extend(exc.problems)
        return value


def resource_type(value: Any, loc: tuple[str | int, ...]) -> str:
    """One of RESOURCE_TYPES; a plural spelling is accepted."""
    if isinstance(value, str):
        name = RESOURCE_TYPE_ALIASES.get(value, value)
        if name in RESOURCE_TYPES:
            return name
    raise InvalidInput(
        f"must be one of {', '.join(RESOURCE_TYPES)}",
        loc=(*loc, "resource_type"),
        input=value,
        type="enum",
    )
