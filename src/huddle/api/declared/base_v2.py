"""Base API v2's style (seeds 001 and 002): records as `{"data": {...}, "meta": {"type"}}`.

A record is its `id` (a number), its fields by name (snake_case), then `created_at` and
`updated_at` in whole UTC seconds. A list is `{"items": [...], "meta": {"type": "collection",
"count", "links": {self, first_page, prev_page, next_page}}}`, paged by `page` (from 1) and
`per_page` (default 25, above 100 served as 100), ordered by `sort_by` (`field[:asc|:desc]`),
optionally restricted to `ids=1,2,3`. A create body is `{"data": {...}, "meta": {"type"}}`
(`meta` optional; its type, if sent, the record's). A delete answers 204.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Annotated, Any, Final, cast

from fastapi import Query
from pydantic import BaseModel
from starlette.requests import Request
from starlette.responses import Response

from ...engine.declarations import Sort
from ...engine.fields import FieldSpec, positive_id, public_values
from ...errors import InvalidInput, Problem
from ...store import Page, StoredRecord
from ..base_v2_errors import BaseV2Dialect
from ..dialects import ErrorDialect
from .schema import object_schema
from .style import JsonSchema, Paging

if TYPE_CHECKING:
    from .module import Module, Operation

PER_PAGE_DEFAULT: Final = 25
PER_PAGE_MAX: Final = 100
_TIME: Final[JsonSchema] = {"type": "string", "format": "date-time"}


def iso_seconds(ms: int) -> str:
    """Base's timestamps: UTC, ISO 8601, whole seconds, `Z`."""
    return datetime.fromtimestamp(ms / 1000, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _ids(raw: str | None) -> list[int] | None:
    if raw is None:
        return None
    parts = [part.strip() for part in raw.split(",") if part.strip()]
    if len(parts) > PER_PAGE_MAX:
        raise InvalidInput(
            f"at most {PER_PAGE_MAX} ids", loc=("query", "ids"), input=raw, type="too_long"
        )
    return [positive_id(part, ("query", "ids")) for part in parts]


async def _paging(
    page: Annotated[int, Query(ge=1, description="Page number, from 1")] = 1,
    per_page: Annotated[
        int, Query(ge=1, description="Records per page: default 25; above 100 is served 100")
    ] = PER_PAGE_DEFAULT,
    ids: Annotated[str | None, Query(description="Comma-separated ids, e.g. 1,2,3")] = None,
    includes: Annotated[
        str | None, Query(description="Related resources: not supported, ignored")
    ] = None,
    sort_by: Annotated[
        str | None,
        Query(description="A field to sort by, `:desc` for descending", examples=["id:desc"]),
    ] = None,
) -> Paging:
    per_page = min(per_page, PER_PAGE_MAX)
    return Paging(
        offset=(page - 1) * per_page,
        limit=per_page,
        page=page,
        per_page=per_page,
        sort=Sort.parse(sort_by),
        ids=_ids(ids),
    )


class BaseV2Style:
    dialect: Final[ErrorDialect] = BaseV2Dialect()
    dialect_name: Final = "Base v2"
    id_type: Final[type[int] | type[str]] = int
    created_status: Final = 200
    deleted_status: Final = 204
    bulk_loc: Final[tuple[str | int, ...]] = ("body", "items")

    def __init__(self, type_name: Callable[[Module], str] | None = None) -> None:
        self._type_name = type_name

    def type_of(self, module: Module) -> str:
        """The record's `meta.type` (its collection's event prefix by default)."""
        if self._type_name is not None:
            return self._type_name(module)
        return module.collection.events or module.collection.name

    def record_id(self, module: Module, raw: int | str) -> int:
        return int(raw)

    def paging(self) -> Callable[..., Any]:
        return _paging

    def body_model(self, module: Module, op: Operation) -> type[BaseModel] | None:
        return None

    def values_in(
        self, module: Module, body: Any, op: Operation, loc: tuple[str | int, ...] = ("body",)
    ) -> dict[str, Any]:
        if not isinstance(body, dict):
            raise InvalidInput(
                "Input should be an object with data and meta", loc=("body",), input=body
            )
        problems: list[Problem] = []
        data = body.get("data")
        if "data" not in body:
            problems.append(Problem(("body", "data"), "Field required", "missing"))
        elif not isinstance(data, dict):
            problems.append(
                Problem(("body", "data"), "Input should be a valid dictionary", "dict_type", data)
            )
        meta = body.get("meta")
        if meta is not None:
            if not isinstance(meta, dict) or not isinstance(meta.get("type"), str):
                problems.append(Problem(("body", "meta", "type"), "Field required", "missing"))
            elif meta["type"] != self.type_of(module):
                problems.append(
                    Problem(
                        ("body", "meta", "type"),
                        f"meta.type must be {self.type_of(module)}",
                        "enum",
                        meta["type"],
                    )
                )
        if problems:
            raise InvalidInput.of(problems)
        return dict(cast(dict[str, Any], data))

    def query_values(self, module: Module, filters: dict[str, Any]) -> dict[str, Any]:
        return filters

    def bulk_in(self, module: Module, body: Any) -> list[Any]:
        items = body.get("items") if isinstance(body, dict) else None
        if not isinstance(items, list):
            raise InvalidInput("items must be a list", loc=("body", "items"), input=items)
        return items

    def ids_in(self, module: Module, body: Any, query: Mapping[str, Any]) -> list[int]:
        return _ids(query.get("ids")) or []

    def record_out(
        self, module: Module, record: StoredRecord, extra: Mapping[str, Any]
    ) -> dict[str, Any]:
        values = public_values(module.collection.fields, record.data)
        data = {
            "id": record.id,
            **values,
            **extra,
            "created_at": iso_seconds(record.created_at_ms),
            "updated_at": iso_seconds(record.updated_at_ms),
        }
        return {"data": data, "meta": {"type": self.type_of(module)}}

    def list_out(
        self, module: Module, request: Request, page: Page, paging: Paging, items: list[Any]
    ) -> dict[str, Any]:
        pages = max(1, -(-page.total // paging.per_page))

        def link(number: int | None) -> str | None:
            return None if number is None else str(request.url.include_query_params(page=number))

        links = {
            "self": str(request.url),
            "first_page": link(1),
            "prev_page": link(paging.page - 1 if paging.page > 1 else None),
            "next_page": link(paging.page + 1 if paging.page < pages else None),
        }
        return {"items": items, "meta": {"type": "collection", "count": len(items), "links": links}}

    def deleted(self, module: Module, records: Sequence[StoredRecord]) -> Response:
        return Response(status_code=204)

    def bulk_out(self, module: Module, items: list[Any]) -> Any:
        return {"items": items, "meta": {"type": "collection", "count": len(items)}}

    # --- OpenAPI ----------------------------------------------------------------------------

    def _data_schema(self, module: Module) -> JsonSchema:
        system = {"id": {"type": "integer"}}
        schema = object_schema(module.collection.fields, _reference, extra=system)
        schema["properties"].update(created_at=_TIME, updated_at=_TIME)
        schema["required"] = [*schema.get("required", []), "created_at", "updated_at"]
        return schema

    def _example(self, module: Module) -> dict[str, Any]:
        data = {"id": 1, **module.example}
        data |= {"created_at": "2014-08-27T16:32:56Z", "updated_at": "2014-08-27T17:32:56Z"}
        return {"data": data, "meta": {"type": self.type_of(module)}}

    def record_schema(self, module: Module) -> JsonSchema:
        return {
            "type": "object",
            "properties": {
                "data": self._data_schema(module),
                "meta": {"type": "object", "properties": {"type": {"type": "string"}}},
            },
            "example": self._example(module),
        }

    def list_schema(self, module: Module) -> JsonSchema:
        links = {
            name: {"anyOf": [{"type": "string"}, {"type": "null"}]}
            for name in ("self", "first_page", "prev_page", "next_page")
        }
        meta = {
            "type": "object",
            "properties": {
                "type": {"const": "collection"},
                "count": {"type": "integer"},
                "links": {"type": "object", "properties": links},
            },
        }
        item = self.record_schema(module)
        return {
            "type": "object",
            "properties": {"items": {"type": "array", "items": item}, "meta": meta},
            "example": {
                "items": [self._example(module)],
                "meta": {"type": "collection", "count": 1, "links": {"self": module.path}},
            },
        }

    def error_responses(self, statuses: Sequence[int]) -> dict[int | str, dict[str, Any]]:
        return {}

    def deleted_schema(self, module: Module) -> JsonSchema | None:
        return None

    def body_schema(self, module: Module, op: Operation) -> JsonSchema:
        writable = [spec for spec in module.collection.fields if not _read_only(module, spec)]
        data = object_schema(writable, _reference, required=op == "create")
        example = {"data": dict(module.example), "meta": {"type": self.type_of(module)}}
        return {
            "type": "object",
            "properties": {
                "data": data,
                "meta": {"type": "object", "properties": {"type": {"type": "string"}}},
            },
            "required": ["data"],
            "example": example,
        }


def _read_only(module: Module, spec: FieldSpec) -> bool:
    return spec.name in getattr(module.hooks, "read_only", ())


def _reference(spec: FieldSpec) -> JsonSchema:
    return {"type": "integer", "minimum": 1}
