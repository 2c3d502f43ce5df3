"""How one API writes records on the wire: a `Style` per API, shared by its modules.

The style owns everything a client of that API sees that is not a module's own: the path
type of a record id and how it maps to the store's, the record's JSON form (system fields,
naming), the list envelope and its pagination parameters and `meta`, how a body carries
values, what a delete answers, and the error dialect.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Protocol

from pydantic import BaseModel
from starlette.requests import Request
from starlette.responses import Response

from ...engine.declarations import Sort
from ...store import Page, StoredRecord
from ..dialects import ErrorDialect

if TYPE_CHECKING:
    from .module import Module, Operation


@dataclass(frozen=True, slots=True)
class Paging:
    """A list request's page: `offset`/`limit` for the store, the style's own numbers for
    its `meta`, the sort, and `ids` when the API can restrict a list to some ids."""

    offset: int
    limit: int
    page: int
    per_page: int
    sort: Sort = field(default_factory=Sort)
    ids: Sequence[int] | None = None


JsonSchema = dict[str, Any]


class TokenBody(BaseModel):
    """An update body model (`Style.body_model`) that carries the writer's fencing token
    (`token`): its route reads no `?lock_token=`."""

    def token(self) -> int | None:
        raise NotImplementedError


class Style(Protocol):
    @property
    def dialect(self) -> ErrorDialect: ...

    @property
    def dialect_name(self) -> str:
        """How the OpenAPI document names the error envelope (`Base v2`, `WorkDrive`)."""
        ...

    @property
    def id_type(self) -> type[int] | type[str]:
        """The type of a record id in paths and bodies."""
        ...

    @property
    def created_status(self) -> int: ...

    @property
    def deleted_status(self) -> int: ...

    @property
    def bulk_loc(self) -> tuple[str | int, ...]:
        """Where a bulk create's items are in its body, for error locations."""
        ...

    def record_id(self, module: Module, raw: int | str) -> int:
        """The store id of a public id; `NotFound` for one that names nothing."""
        ...

    def paging(self) -> Callable[..., Any]:
        """A FastAPI dependency reading the API's paging (and sort) parameters into a
        `Paging`."""
        ...

    def body_model(self, module: Module, op: Operation) -> type[BaseModel] | None:
        """The model FastAPI validates a create or update body against, as a hand-written
        route's (its 422s, its schema); None: any JSON, for `values_in` to check."""
        ...

    def values_in(
        self, module: Module, body: Any, op: Operation, loc: tuple[str | int, ...] = ("body",)
    ) -> dict[str, Any]:
        """The public values a create or update body (at `loc`: one item of a bulk create
        is deeper; a `body_model` instance) carries (`InvalidInput` for a body of the wrong
        shape); public ids in reference fields are turned into store ids."""
        ...

    def query_values(self, module: Module, filters: dict[str, Any]) -> dict[str, Any]:
        """A list's filters by field name, with public ids turned into store ids."""
        ...

    def bulk_in(self, module: Module, body: Any) -> list[Any]:
        """The items of a bulk create body, each as `values_in` takes it."""
        ...

    def ids_in(self, module: Module, body: Any, query: Mapping[str, Any]) -> list[int]:
        """The store ids a bulk delete names."""
        ...

    def record_out(
        self, module: Module, record: StoredRecord, extra: Mapping[str, Any]
    ) -> dict[str, Any]:
        """One record as this API answers it (`extra`: the module's `present`)."""
        ...

    def list_out(
        self, module: Module, request: Request, page: Page, paging: Paging, items: list[Any]
    ) -> dict[str, Any]:
        """A page of `items` (each `record_out`) in this API's list envelope."""
        ...

    def deleted(self, module: Module, records: Sequence[StoredRecord]) -> Response:
        """What a delete (or a bulk delete) answers, given the records deleted."""
        ...

    def bulk_out(self, module: Module, items: list[Any]) -> Any:
        """What a bulk create answers, from its records' `record_out`."""
        ...

    def record_schema(self, module: Module) -> JsonSchema:
        """The JSON schema of `record_out` (OpenAPI)."""
        ...

    def list_schema(self, module: Module) -> JsonSchema: ...

    def error_responses(self, statuses: Sequence[int]) -> dict[int | str, dict[str, Any]]:
        """OpenAPI `responses` entries (model, example) of the dialect's errors, by status;
        statuses left out are described in words only."""
        ...

    def deleted_schema(self, module: Module) -> JsonSchema | None:
        """The JSON schema of what a delete answers (None: no body)."""
        ...

    def body_schema(self, module: Module, op: Operation) -> JsonSchema | None:
        """The JSON schema of a create/update/bulk body (OpenAPI; None: its `body_model`)."""
        ...
