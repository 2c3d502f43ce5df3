"""WorkDrive's style (seed 004): camelCase records with UUID ids, plural list keys and `meta`.

A record is `{"id": <uuid>, <fields by name>..., "createdAt", "updatedAt", "createdBy",
"updatedBy"}` (ISO 8601 with milliseconds). A list is `{<list key>: [...], "meta": {"perPage",
"totalPages", "totalResults", "curPage", "nextPage"}}`, paged by `cur_page` (from 1) and
`per_page` (default 10, at most 100; sent as a string too); `nextPage` is null on the last
page. A create or update body is the values themselves; a bulk create is `{"data": [...]}`
answered by a bare array; a bulk delete names `{"ids": [...]}` (or `{"id": [...]}`). Creates
answer 201, deletes 200 with the ids deleted.

Errors are `{"statusCode", "message", "error", "errors": [{"field", "message", "type"}]}`;
the seed documents 400 for an invalid request, so validation failures are 400, not 422, and so
is a unique value already taken (an email used in the organization).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from http import HTTPStatus
from typing import TYPE_CHECKING, Annotated, Any, Final, Protocol

from fastapi import Query
from fastapi.encoders import jsonable_encoder
from pydantic import BaseModel
from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from ...clock import iso_ms
from ...engine.declarations import Sort
from ...engine.fields import FieldSpec, public_values
from ...errors import AlreadyExists, HuddleError, InvalidInput, NotFound, Problem
from ...store import Page, StoredRecord
from ..dialects import ErrorDialect
from ..errors import error_headers, sendable
from .schema import object_schema
from .style import JsonSchema, Paging

if TYPE_CHECKING:
    from .module import Module, Operation

PER_PAGE_DEFAULT: Final = 10
PER_PAGE_MAX: Final = 100
_TIME: Final[JsonSchema] = {"type": "string", "format": "date-time"}
_UUID: Final[JsonSchema] = {"type": "string", "format": "uuid"}
_EXAMPLE_ID: Final = "3fa85f64-5717-8562-b3fc-2c963f66afa6"


class IdCodec(Protocol):
    """Public ids of records (`public_ids.PublicIds`)."""

    def encode(self, collection: str, record_id: int) -> str: ...

    def decode(self, collection: str, text: str) -> int | None: ...


class WorkDriveDialect:
    """The `ErrorDialect` of seed 004's routes."""

    def error(self, request: Request, exc: HuddleError) -> JSONResponse:
        if isinstance(exc, InvalidInput):
            return self.invalid(request, exc.problems)
        if isinstance(exc, AlreadyExists):  # the seed knows 400 for any refused value
            field = str(exc.details.get("field", "body"))
            message = f"{field} is already used in this organization"
            return _answer(400, message, [{"field": field, "message": message, "type": "unique"}])
        return _answer(exc.status, exc.message, [], error_headers(exc))

    def invalid(self, request: Request, problems: Sequence[Problem]) -> JSONResponse:
        errors = [
            {
                "field": ".".join(str(part) for part in p.loc[1:]) or str(p.loc[0]),
                "message": p.msg,
                "type": p.type,
            }
            for p in problems
        ]
        message = "; ".join(f"{e['field']}: {e['message']}" for e in errors)
        return _answer(400, message, errors)

    def routing(
        self,
        request: Request,
        status: int,
        code: str,
        message: str,
        details: dict[str, Any],
        headers: dict[str, str],
    ) -> JSONResponse:
        return _answer(status, message, [], headers)

    def unexpected(self, request: Request) -> JSONResponse:
        return _answer(500, "An unexpected error occurred", [])


def _answer(
    status: int, message: str, errors: list[dict[str, Any]], headers: dict[str, str] | None = None
) -> JSONResponse:
    body = {
        "statusCode": status,
        "message": message,
        "error": HTTPStatus(status).phrase,
        "errors": sendable(jsonable_encoder(errors)),
    }
    return JSONResponse(body, status_code=status, headers=headers)


async def _paging(
    cur_page: Annotated[int, Query(ge=1, description="A page number, from 1")] = 1,
    per_page: Annotated[
        int, Query(ge=1, description="Results per page (at most 100)", examples=[10])
    ] = PER_PAGE_DEFAULT,
) -> Paging:
    return page_at(cur_page, per_page, Sort("created_at", descending=True))


def page_at(cur_page: int, per_page: int, sort: Sort) -> Paging:
    """Page `cur_page` (from 1) of `per_page` results (at most `PER_PAGE_MAX`)."""
    per_page = min(per_page, PER_PAGE_MAX)
    return Paging(
        offset=(cur_page - 1) * per_page,
        limit=per_page,
        page=cur_page,
        per_page=per_page,
        sort=sort,
    )


def meta(paging: Paging, total: int) -> dict[str, Any]:
    """A list's `meta`: `nextPage` is null on the last page."""
    pages = -(-total // paging.per_page)
    return {
        "perPage": paging.per_page,
        "totalPages": pages,
        "totalResults": total,
        "curPage": paging.page,
        "nextPage": paging.page + 1 if paging.page < pages else None,
    }


WORKDRIVE: Final[ErrorDialect] = WorkDriveDialect()


class WorkDriveStyle:
    dialect: Final[ErrorDialect] = WORKDRIVE
    dialect_name: Final = "WorkDrive"
    id_type: Final[type[int] | type[str]] = str
    created_status: Final = 201
    deleted_status: Final = 200
    bulk_loc: Final[tuple[str | int, ...]] = ("body", "data")

    def record_id(self, module: Module, raw: int | str) -> int:
        found = _ids(module).decode(module.collection.name, str(raw))
        if found is None:
            raise NotFound(
                "The specified content could not be found",
                details={"resource_type": module.title, "resource_id": str(raw)},
            )
        return found

    def paging(self) -> Callable[..., Any]:
        return _paging

    def body_model(self, module: Module, op: Operation) -> type[BaseModel] | None:
        return None

    def values_in(
        self, module: Module, body: Any, op: Operation, loc: tuple[str | int, ...] = ("body",)
    ) -> dict[str, Any]:
        if not isinstance(body, dict):
            raise InvalidInput("the body must be an object", loc=loc, input=body)
        return self._ids_in_values(_ids(module), module.collection.fields, body, loc)

    def _ids_in_values(
        self,
        ids: IdCodec,
        fields: Sequence[FieldSpec],
        values: Mapping[str, Any],
        loc: tuple[str | int, ...],
    ) -> dict[str, Any]:
        """`values` with the public ids of reference fields (and lists of them) turned into
        store ids; anything that is not an id this scheme made for the field's collection is
        refused at its place (a store id sent as a number too: clients know public ids)."""
        out = dict(values)
        problems: list[Problem] = []
        for spec in fields:
            value = out.get(spec.name)
            target = spec.reference or (spec.item.reference if spec.item else None)
            if value is None or target is None:
                continue
            if isinstance(value, list):
                at: list[tuple[str | int, ...]] = [(*loc, spec.name, i) for i in range(len(value))]
                out[spec.name] = [
                    _store_id(ids, target, v, where, problems)
                    for v, where in zip(value, at, strict=True)
                ]
            else:
                out[spec.name] = _store_id(ids, target, value, (*loc, spec.name), problems)
        if problems:
            raise InvalidInput.of(problems)
        return out

    def query_values(self, module: Module, filters: dict[str, Any]) -> dict[str, Any]:
        return self._ids_in_values(_ids(module), module.collection.fields, filters, ("query",))

    def bulk_in(self, module: Module, body: Any) -> list[Any]:
        items = body.get("data") if isinstance(body, dict) else body
        if not isinstance(items, list):
            raise InvalidInput(
                'send {"data": [...]}, a list of records', loc=("body", "data"), input=items
            )
        return items

    def ids_in(self, module: Module, body: Any, query: Mapping[str, Any]) -> list[int]:
        """`{"ids": [...]}` as the seed's example sends it, `{"id": [...]}` as its parameter
        table names it, or a bare array."""
        sent = body
        if isinstance(body, dict):
            sent = body["ids"] if "ids" in body else body.get("id")
        if not isinstance(sent, list) or not sent:
            raise InvalidInput(
                'send {"ids": [...]}, the ids to delete', loc=("body", "ids"), input=sent
            )
        return [self.record_id(module, raw) for raw in sent]

    def record_out(
        self, module: Module, record: StoredRecord, extra: Mapping[str, Any]
    ) -> dict[str, Any]:
        fields = module.collection.fields
        values = self._public(_ids(module), fields, public_values(fields, record.data))
        return {
            "id": _ids(module).encode(module.collection.name, record.id),
            **values,
            **extra,
            "createdAt": iso_ms(record.created_at_ms),
            "updatedAt": iso_ms(record.updated_at_ms),
            "createdBy": record.created_by,
            "updatedBy": record.updated_by,
        }

    def _public(
        self, ids: IdCodec, fields: Sequence[FieldSpec], values: dict[str, Any]
    ) -> dict[str, Any]:
        """`values` with store ids in reference fields turned into public ids, and a list
        that holds nothing answered `[]` (the seed shows arrays, never null)."""
        for spec in fields:
            value = values.get(spec.name)
            if value is None:
                if spec.type == "list":
                    values[spec.name] = []
                continue
            item = spec.item
            if spec.reference is not None and isinstance(value, int):
                values[spec.name] = ids.encode(spec.reference, value)
            elif item is not None and item.reference is not None and isinstance(value, list):
                values[spec.name] = [
                    ids.encode(item.reference, v) if isinstance(v, int) else v for v in value
                ]
        return values

    def list_out(
        self, module: Module, request: Request, page: Page, paging: Paging, items: list[Any]
    ) -> dict[str, Any]:
        return {module.list_key: items, "meta": meta(paging, page.total)}

    def deleted(self, module: Module, records: Sequence[StoredRecord]) -> Response:
        ids = [_ids(module).encode(module.collection.name, r.id) for r in records]
        return JSONResponse({"ids": ids, "deleted": len(ids)})

    def bulk_out(self, module: Module, items: list[Any]) -> Any:
        return items

    # --- OpenAPI ----------------------------------------------------------------------------

    def _example(self, module: Module) -> dict[str, Any]:
        return {
            "id": _EXAMPLE_ID,
            **module.example,
            "createdAt": "2022-12-22T09:09:12.831Z",
            "updatedAt": "2022-12-22T09:09:12.831Z",
            "createdBy": "bd06213a-a26b-8cd7-a6b8-cfa154073e1f",
            "updatedBy": "bd06213a-a26b-8cd7-a6b8-cfa154073e1f",
        }

    def record_schema(self, module: Module) -> JsonSchema:
        schema = object_schema(module.collection.fields, _reference, extra={"id": _UUID})
        schema["properties"].update(
            createdAt=_TIME,
            updatedAt=_TIME,
            createdBy={"type": "string"},
            updatedBy={"type": "string"},
        )
        schema["example"] = self._example(module)
        return schema

    def list_schema(self, module: Module) -> JsonSchema:
        count = {"type": "integer"}
        meta = {
            "type": "object",
            "properties": {
                "perPage": count,
                "totalPages": count,
                "totalResults": count,
                "curPage": count,
                "nextPage": {"anyOf": [count, {"type": "null"}]},
            },
        }
        example_meta = {
            "perPage": 10,
            "totalPages": 1,
            "totalResults": 1,
            "curPage": 1,
            "nextPage": None,
        }
        return {
            "type": "object",
            "properties": {
                module.list_key: {"type": "array", "items": self.record_schema(module)},
                "meta": meta,
            },
            "example": {module.list_key: [self._example(module)], "meta": example_meta},
        }

    def error_responses(self, statuses: Sequence[int]) -> dict[int | str, dict[str, Any]]:
        return {}

    def deleted_schema(self, module: Module) -> JsonSchema | None:
        return {
            "type": "object",
            "properties": {
                "ids": {"type": "array", "items": _UUID},
                "deleted": {"type": "integer"},
            },
            "example": {"ids": [_EXAMPLE_ID], "deleted": 1},
        }

    def body_schema(self, module: Module, op: Operation) -> JsonSchema:
        fields = module.collection.fields
        if op == "bulk_delete":
            return {
                "type": "object",
                "properties": {"ids": {"type": "array", "items": _UUID}},
                "required": ["ids"],
                "example": {"ids": [_EXAMPLE_ID]},
            }
        values = object_schema(fields, _reference, required=op != "update")
        values["example"] = dict(module.example)
        if op == "bulk_create":
            return {
                "type": "object",
                "properties": {"data": {"type": "array", "items": values}},
                "required": ["data"],
                "example": {"data": [dict(module.example)]},
            }
        return values


def _reference(spec: FieldSpec) -> JsonSchema:
    return _UUID


def _ids(module: Module) -> IdCodec:
    """The node's public ids, which the routes set on the module they serve a request with."""
    if module.ids is None:
        raise RuntimeError(f"{module.title}: WorkDrive's style needs the node's public ids")
    return module.ids


def _store_id(
    ids: IdCodec, collection: str, value: Any, loc: tuple[str | int, ...], problems: list[Problem]
) -> int | None:
    """The store id of a public id of `collection`; anything else is a problem at `loc`
    (a store id sent as a number too: clients know public ids only)."""
    found = ids.decode(collection, value) if isinstance(value, str) else None
    if found is None and value is not None:
        message = "Not the id of a record it may refer to"
        problems.append(Problem(loc, message, "reference", value))
    return found
