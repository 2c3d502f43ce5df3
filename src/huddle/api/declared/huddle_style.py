"""Huddle's own style (seed 002's records): `{"id", ..., "values": {...}, "version", ...}`.

A record is its `id` (a number, written as a string), what the module's `present` adds (a
custom object's record: `objectId`, `object`), its `values` by field name, its `version`, then
`createdAt`/`updatedAt` (ISO 8601 with milliseconds) and `createdBy`/`updatedBy`. A list is
`{"data": [...], "meta": {"page", "limit", "total", "totalPages"}}`, paged by `page` (from 1)
and `limit` (default 20, above 100 served as 100), ordered by `sort_by` (`field[:asc|:desc]`).
A create body is `{"values": {...}}`, an update's `{"values": {...}, "lock_token": n}` (or
`lockToken`); both are models, so FastAPI refuses any other member as for a hand-written
route. Creates answer 201, deletes 204. Errors are Huddle's envelope (`api/errors.py`). The
style serves no bulk routes: a module declaring one fails when its router is built.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import TYPE_CHECKING, Annotated, Any, Final, NoReturn, TypeVar

from fastapi import Query
from pydantic import AliasChoices, BaseModel, ConfigDict, Field, create_model
from starlette.requests import Request
from starlette.responses import Response

from ...clock import iso_ms
from ...engine.declarations import Sort
from ...engine.fields import FieldSpec, public_values
from ...store import Page, StoredRecord
from ..dialects import ErrorDialect
from ..error_models import errors
from ..errors import HUDDLE
from .schema import object_schema
from .style import JsonSchema, Paging, TokenBody

if TYPE_CHECKING:
    from .module import Module, Operation

LIMIT_DEFAULT: Final = 20
LIMIT_MAX: Final = 100
_STRING: Final[JsonSchema] = {"type": "string"}
_TIME: Final[JsonSchema] = {"type": "string", "format": "date-time"}
_EXAMPLE_TIME: Final = "2026-01-05T10:02:00.000Z"

_Body = TypeVar("_Body", bound=BaseModel)

LOCK_TOKEN = Field(
    None,
    ge=1,
    validation_alias=AliasChoices("lock_token", "lockToken"),
    description="The fencing token of the lock the writer holds (or send If-Match: lock:<n>)",
)


class NewValues(BaseModel):
    model_config = ConfigDict(extra="forbid")

    values: dict[str, Any] = Field(description="Values by field apiName")


class ChangedValues(TokenBody):
    model_config = ConfigDict(extra="forbid")

    values: dict[str, Any] = Field(description="Only the fields to change; null clears one")
    lock_token: int | None = LOCK_TOKEN

    def token(self) -> int | None:
        return self.lock_token


async def _paging(
    page: Annotated[int, Query(ge=1, description="Page number, from 1")] = 1,
    limit: Annotated[
        int,
        Query(ge=1, description=f"Items per page (default {LIMIT_DEFAULT}, at most {LIMIT_MAX})"),
    ] = LIMIT_DEFAULT,
    sort_by: Annotated[
        str | None,
        Query(description="id, created_at, updated_at or a field's apiName; `:desc` reverses"),
    ] = None,
) -> Paging:
    limit = min(limit, LIMIT_MAX)
    sort = Sort.parse(sort_by)
    return Paging(offset=(page - 1) * limit, limit=limit, page=page, per_page=limit, sort=sort)


class HuddleStyle:
    dialect: Final[ErrorDialect] = HUDDLE
    dialect_name: Final = "Huddle"
    id_type: Final[type[int] | type[str]] = int
    created_status: Final = 201
    deleted_status: Final = 204
    bulk_loc: Final[tuple[str | int, ...]] = ("body",)

    def __init__(self, extra: Mapping[str, str] | None = None) -> None:
        """`extra`: the text properties the module's `present` adds after a record's `id`,
        each with an example (for the OpenAPI document)."""
        self._extra = dict(extra or {})

    def record_id(self, module: Module, raw: int | str) -> int:
        return int(raw)

    def paging(self) -> Callable[..., Any]:
        return _paging

    def body_model(self, module: Module, op: Operation) -> type[BaseModel] | None:
        example: dict[str, Any] = {"values": dict(module.example)}
        if op == "create":
            return _with_example(f"{module.title}In", NewValues, example)
        if op == "update":
            return _with_example(
                f"{module.title}Patch", ChangedValues, example | {"lock_token": 17}
            )
        return None

    def values_in(
        self, module: Module, body: Any, op: Operation, loc: tuple[str | int, ...] = ("body",)
    ) -> dict[str, Any]:
        assert isinstance(body, NewValues | ChangedValues)  # FastAPI validated `body_model`
        return dict(body.values)

    def query_values(self, module: Module, filters: dict[str, Any]) -> dict[str, Any]:
        return filters

    def bulk_in(self, module: Module, body: Any) -> list[Any]:
        _no_bulk()

    def ids_in(self, module: Module, body: Any, query: Mapping[str, Any]) -> list[int]:
        _no_bulk()

    def record_out(
        self, module: Module, record: StoredRecord, extra: Mapping[str, Any]
    ) -> dict[str, Any]:
        return {
            "id": str(record.id),
            **extra,
            "values": public_values(module.collection.fields, record.data),
            "version": record.version,
            "createdAt": iso_ms(record.created_at_ms),
            "updatedAt": iso_ms(record.updated_at_ms),
            "createdBy": record.created_by,
            "updatedBy": record.updated_by,
        }

    def list_out(
        self, module: Module, request: Request, page: Page, paging: Paging, items: list[Any]
    ) -> dict[str, Any]:
        limit = paging.per_page
        meta = {"page": paging.page, "limit": limit, "total": page.total}
        return {"data": items, "meta": meta | {"totalPages": -(-page.total // limit)}}

    def deleted(self, module: Module, records: Sequence[StoredRecord]) -> Response:
        return Response(status_code=204)

    def bulk_out(self, module: Module, items: list[Any]) -> Any:
        _no_bulk()

    # --- OpenAPI ----------------------------------------------------------------------------

    def _example(self, module: Module) -> dict[str, Any]:
        return {
            "id": "7",
            **self._extra,
            "values": dict(module.example),
            "version": 1,
            "createdAt": _EXAMPLE_TIME,
            "updatedAt": _EXAMPLE_TIME,
            "createdBy": "ana",
            "updatedBy": "ana",
        }

    def record_schema(self, module: Module) -> JsonSchema:
        values = object_schema(module.collection.fields, _reference)
        values["description"] = "Values by field apiName"
        properties: dict[str, JsonSchema] = {
            "id": _STRING,
            **{name: _STRING for name in self._extra},
            "values": values,
            "version": {"type": "integer"},
            "createdAt": _TIME,
            "updatedAt": _TIME,
            "createdBy": _STRING,
            "updatedBy": _STRING,
        }
        return {
            "type": "object",
            "properties": properties,
            "required": list(properties),
            "example": self._example(module),
        }

    def list_schema(self, module: Module) -> JsonSchema:
        count = {"type": "integer"}
        meta = {"page": count, "limit": count, "total": count, "totalPages": count}
        return {
            "type": "object",
            "properties": {
                "data": {"type": "array", "items": self.record_schema(module)},
                "meta": {"type": "object", "properties": meta, "required": list(meta)},
            },
            "example": {
                "data": [self._example(module)],
                "meta": {"page": 1, "limit": LIMIT_DEFAULT, "total": 1, "totalPages": 1},
            },
        }

    def error_responses(self, statuses: Sequence[int]) -> dict[int | str, dict[str, Any]]:
        return errors(*statuses)

    def deleted_schema(self, module: Module) -> JsonSchema | None:
        return None

    def body_schema(self, module: Module, op: Operation) -> JsonSchema | None:
        if op in ("create", "update"):
            return None  # `body_model` documents itself
        _no_bulk()


def _with_example(name: str, base: type[_Body], example: dict[str, Any]) -> type[_Body]:
    """`base` named `name` (its schema's name in the OpenAPI document), with `example`."""
    extra = {"json_schema_extra": {"examples": [example]}}
    return create_model(name, __base__=base, __cls_kwargs__=extra)


def _no_bulk() -> NoReturn:
    raise ValueError("the Huddle style serves no bulk routes")


def _reference(spec: FieldSpec) -> JsonSchema:
    return {"type": "integer", "minimum": 1}
