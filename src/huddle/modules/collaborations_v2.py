"""Seed 001: Base API v2 Collaborations at /v2/collaborations (workspace from the credential).

The collection, its numbering of users and its idempotent create are the engine module in
`services.collaborations`; this declares its routes in Base v2's style. Existing Base clients
send `Authorization: Bearer <64-hex token>`: Huddle API keys are accepted there, as are JWTs.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Final

from ..api.declared.base_v2 import BaseV2Style
from ..api.declared.module import Context, Hooks, Module, QueryFilter, Route
from ..engine.fields import positive_id
from ..errors import InvalidInput, Problem
from ..services.collaborations import COLLABORATIONS, resource_type
from ..store import StoredRecord


class CollaborationHooks(Hooks):
    read_only: Final = ("creator_id",)

    async def create(self, ctx: Context, module: Module, values: Mapping[str, Any]) -> StoredRecord:
        """The new collaboration, or the existing one for the same resource and collaborator
        (answered unchanged, with no event)."""
        record, _created = await ctx.services.collaborations.create(ctx.ws, ctx.caller, values)
        return record

    async def filters(
        self, ctx: Context, module: Module, filters: dict[str, Any]
    ) -> dict[str, Any]:
        problems: list[Problem] = []
        for name in ("creator_id", "resource_id"):
            if name in filters:
                try:
                    filters[name] = positive_id(filters[name], ("query", name))
                except InvalidInput as exc:
                    problems += exc.problems
        if "resource_type" in filters:
            try:
                filters["resource_type"] = resource_type(filters["resource_type"], ("query",))
            except InvalidInput as exc:
                problems += exc.problems
        if problems:
            raise InvalidInput.of(problems)
        return filters


COLLABORATIONS_V2: Final = Module(
    collection=COLLABORATIONS,
    path="/v2/collaborations",
    style=BaseV2Style(),
    title="Collaboration",
    tag="Collaborations (Base API v2)",
    routes=(
        Route(
            "list",
            "GET",
            summary="Retrieve all Collaborations",
            description="Collaborations of the caller's workspace matching every given "
            "filter, ordered by `sort_by` (default: id), ties by id.",
        ),
        Route(
            "create",
            "POST",
            summary="Create a Collaboration",
            description="Assign `collaborator_id` to a lead, contact, sales account or deal. "
            "Repeating an existing assignment answers the existing collaboration (200, "
            "unchanged, no event).",
        ),
        Route("get", "GET", "/{id}", summary="Retrieve a single Collaboration"),
        Route(
            "delete",
            "DELETE",
            "/{id}",
            summary="Delete a Collaboration",
            description="Refused with 423 while another user holds the lock on "
            "(`collaboration`, id).",
        ),
    ),
    filters=(
        QueryFilter("creator_id", "creator_id", "Collaborations created by this user"),
        QueryFilter("resource_id", "resource_id", "Collaborations of this resource"),
        QueryFilter(
            "resource_type",
            "resource_type",
            "lead, contact, deal or sales_account (plural forms accepted)",
        ),
    ),
    example={"creator_id": 1, "resource_type": "lead", "resource_id": 1, "collaborator_id": 2},
    hooks=CollaborationHooks(),
)
