"""A module's HTTP declaration: which operations it serves, where, in which API's style.

A `Module` is data. `declared.router_of(module)` turns it into routes whose paths, query
parameters, bodies, envelopes, pagination and error dialect come from the module's `Style`
(one per API: Base v2, WorkDrive ...) and whose records come from the engine
(`services.records.RecordService`) through the module's `Collection`. What is truly a module's
own — a value computed from the caller, an idempotent create, an embedded summary, a
collection read per request from a stored definition — goes in its `Hooks`.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Literal

from starlette.requests import Request

from ...auth import Principal
from ...engine.declarations import Collection
from ...ids import WorkspaceKey
from ...public_ids import WorkspaceIds
from ...services import Services
from ...store import StoredRecord

if TYPE_CHECKING:
    from .style import Style

Operation = Literal["list", "get", "create", "update", "delete", "bulk_create", "bulk_delete"]


@dataclass(frozen=True, slots=True)
class Route:
    """One operation served at `method` `module.path + path` (`{<module.id_param>}` names the
    record). `name` names the endpoint (OpenAPI's operation id derives from it)."""

    op: Operation
    method: str
    path: str = ""
    summary: str | None = None
    description: str | None = None
    name: str | None = None


@dataclass(frozen=True, slots=True)
class QueryFilter:
    """A list's query parameter `param` filtering on the module's field `field`. With
    `many`, the value may list several (comma-separated or repeated): any of them matches."""

    param: str
    field: str
    description: str = ""
    many: bool = False


@dataclass(frozen=True, slots=True)
class PathParam:
    """A parameter of the module's own path (`{name}` in `Module.path`): a string matching
    `pattern`, for the module's hooks to read (`Context.path`)."""

    name: str
    description: str
    pattern: str
    examples: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class Context:
    """One request, as a hook sees it."""

    request: Request
    ws: WorkspaceKey
    caller: Principal
    services: Services

    @property
    def path(self) -> Mapping[str, str]:
        """The request's path parameters by name, validated (`Module.path_params`, the id)."""
        return self.request.path_params


@dataclass(frozen=True, slots=True)
class Written:
    """A record a write hook made, with the collection it was checked against (a module
    resolved per request: the definition as the write found it)."""

    record: StoredRecord
    collection: Collection


class Hooks:
    """A module's own code. Every default does what the declaration alone says."""

    async def values(
        self, ctx: Context, module: Module, values: dict[str, Any], op: Operation
    ) -> dict[str, Any]:
        """The values to write, from those sent (create, update, each of a bulk create)."""
        return values

    async def filters(
        self, ctx: Context, module: Module, filters: dict[str, Any]
    ) -> dict[str, Any]:
        """A list's filters by field name, from the query parameters sent."""
        return filters

    async def collection(self, ctx: Context, module: Module) -> Collection:
        """The collection this request serves: the module's own, or one resolved per request
        from its path (`ctx.path`), e.g. from a stored definition (NotFound if none). Lists,
        reads and deletes call it; creates and updates leave it to their hooks, which may read
        it as often as their write needs and answer the one they used (`Written`). A write's
        id and body are read with the module as declared."""
        return module.collection

    async def create(
        self, ctx: Context, module: Module, values: Mapping[str, Any]
    ) -> StoredRecord | Written:
        """Create one record (a module whose repeated create is idempotent answers the
        existing record here)."""
        collection = await self.collection(ctx, module)
        record = await ctx.services.records.create(ctx.ws, collection, values, ctx.caller)
        return Written(record, collection)

    async def create_many(
        self,
        ctx: Context,
        module: Module,
        items: Sequence[Mapping[str, Any]],
        loc: tuple[str | int, ...],
    ) -> list[StoredRecord]:
        """Create every item as one atomic step (a bulk create); `loc` is where the items
        were sent (each item's problems at `loc + (index, field)`)."""
        collection = await self.collection(ctx, module)
        return await ctx.services.records.create_many(
            ctx.ws, collection, items, ctx.caller, loc=loc
        )

    async def update(
        self,
        ctx: Context,
        module: Module,
        record_id: int,
        values: Mapping[str, Any],
        token: int | None,
    ) -> StoredRecord | Written:
        """Change the given values of one record, under the caller's fencing `token`."""
        collection = await self.collection(ctx, module)
        records = ctx.services.records
        record = await records.update(
            ctx.ws, collection, record_id, values, ctx.caller, token=token
        )
        return Written(record, collection)

    async def deleted(self, ctx: Context, module: Module, records: Sequence[StoredRecord]) -> None:
        """After a delete (or a bulk delete) of `records`: what else goes with them."""

    async def present(
        self, ctx: Context, module: Module, records: Sequence[StoredRecord]
    ) -> list[dict[str, Any]]:
        """Extra public values of each record (embedded summaries, counts), in order. One
        call per response, so a page's expansions cost one read, not one per record."""
        return [{} for _ in records]


@dataclass(frozen=True, slots=True)
class Module:
    collection: Collection
    """The module's records (one resolved per request, `Hooks.collection`: the collection
    its OpenAPI document describes)."""
    path: str
    style: Style
    routes: tuple[Route, ...]
    title: str
    """The record's name in summaries and docs (`Post`, `Collaboration`)."""
    list_key: str = "items"
    filters: tuple[QueryFilter, ...] = ()
    field_filters: bool = False
    """Every other query parameter of a list (not the style's paging, not a `filters` one)
    filters by equality on the field it names; a name that is no filterable field is a 422."""
    path_params: tuple[PathParam, ...] = ()
    """The parameters of `path` itself (`/v1/custom-objects/{id}/records`)."""
    id_param: str = "id"
    """The name of a record's id in route paths."""
    example: Mapping[str, Any] = field(default_factory=dict)
    """Public values of an example record, for the OpenAPI document."""
    hooks: Hooks = field(default_factory=Hooks)
    tag: str | None = None
    bulk_max: int = 100
    """The most records one bulk create or delete may hold (at most `records.BATCH_LIMIT`)."""
    lock_token: bool = True
    """Writes accept the caller's fencing token (`If-Match: lock:<n>` or `?lock_token=`)."""
    workspace: Callable[..., Awaitable[WorkspaceKey]] | None = None
    """A FastAPI dependency answering the workspace a request serves (None: the caller's,
    `deps.principal_workspace`; WorkDrive's: the organization's own)."""
    ids: WorkspaceIds | None = None
    """The node's public ids (`HUDDLE_ID_SECRET`): set on the module a request is served
    with, for styles that show UUIDs; never declared."""
