"""The routes of a declared module: one FastAPI route per declared operation.

Each endpoint is built from the module's declaration: its parameters (the record id as the
style types it, the style's paging, the module's filters, the body, a fencing token) are a
signature FastAPI reads like any hand-written endpoint's, so validation errors, the OpenAPI
document and the error dialect work as for the rest of the app. Bodies are read as JSON and
validated by the engine alone, so a module's 422s are the engine's, field by field; their
schemas in the document come from the same declaration (`schema.py`).
"""

import inspect
from collections.abc import Awaitable, Callable
from typing import Annotated, Any

from fastapi import APIRouter, Body, Depends, Path, Query
from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from ...errors import InvalidInput
from ...store import BATCH_LIMIT
from ..deps import CallerWorkspace, CurrentPrincipal, CurrentServices, IfMatchToken, fencing_token
from .module import Context, Module, Route
from .style import JsonSchema, Paging

Endpoint = Callable[..., Awaitable[Response]]

_ERRORS: dict[int, str] = {
    400: "A malformed request",
    401: "Missing, expired or unknown credentials",
    403: "Not allowed",
    404: "No such record (or one the caller may not see)",
    409: "A unique value taken, or a stale fencing token",
    422: "Invalid parameters or body, field by field",
    423: "Another user holds the record's lock",
    503: "The backend is unavailable",
}


async def _context(
    request: Request,
    ws: CallerWorkspace,
    caller: CurrentPrincipal,
    svc: CurrentServices,
) -> Context:
    return Context(request, ws, caller, svc)


_CONTEXT = inspect.Parameter(
    "ctx", inspect.Parameter.KEYWORD_ONLY, annotation=Annotated[Context, Depends(_context)]
)
_IF_MATCH = inspect.Parameter("if_match", inspect.Parameter.KEYWORD_ONLY, annotation=IfMatchToken)
_LOCK_TOKEN = inspect.Parameter(
    "lock_token",
    inspect.Parameter.KEYWORD_ONLY,
    annotation=Annotated[
        int | None,
        Query(ge=1, description="The fencing token of the lock the caller holds (or If-Match)"),
    ],
    default=None,
)


def _body(description: str) -> inspect.Parameter:
    return inspect.Parameter(
        "body",
        inspect.Parameter.KEYWORD_ONLY,
        annotation=Annotated[Any, Body(description=description)],
    )


def router_of(module: Module) -> APIRouter:
    """The routes of `module`, under its path, tagged with its title."""
    router = APIRouter(prefix=module.path, tags=[module.tag or f"{module.title}s"])
    for route in module.routes:
        _BUILDERS[route.op](router, module, route)
    return router


# --- one builder per operation -----------------------------------------------------------------


def _id_parameter(module: Module) -> inspect.Parameter:
    style = module.style
    example: int | str = 1 if style.id_type is int else "3fa85f64-5717-4562-b3fc-2c963f66afa6"
    path = (
        Path(ge=1, le=2**53 - 1, examples=[example])
        if style.id_type is int
        else Path(min_length=1, max_length=64, examples=[example])
    )
    return inspect.Parameter(
        "id", inspect.Parameter.KEYWORD_ONLY, annotation=Annotated[style.id_type, path]
    )


def _add(
    router: APIRouter,
    module: Module,
    route: Route,
    endpoint: Endpoint,
    parameters: list[inspect.Parameter],
    *,
    status: int,
    summary: str,
    response: JsonSchema | None,
    errors: tuple[int, ...],
    body: JsonSchema | None = None,
) -> None:
    endpoint.__signature__ = inspect.Signature(parameters)  # type: ignore[attr-defined]
    responses: dict[int | str, dict[str, Any]] = {
        code: {"description": f"{_ERRORS[code]} ({module.style.dialect_name} error envelope)"}
        for code in (401, *errors, 503)
    }
    if response is not None:
        responses[status] = {
            "description": "OK",
            "content": {"application/json": {"schema": response}},
        }
    else:
        responses[status] = {"description": "Done"}
    extra: dict[str, Any] | None = None
    if body is not None:
        extra = {
            "requestBody": {
                "required": True,
                "content": {"application/json": {"schema": body}},
            }
        }
    router.add_api_route(
        route.path,
        endpoint,
        methods=[route.method],
        status_code=status,
        summary=route.summary or summary,
        description=route.description,
        response_class=JSONResponse,
        response_model=None,
        responses=responses,
        openapi_extra=extra,
        name=f"{module.collection.name}.{route.op}.{route.method.lower()}",
    )


def _list(router: APIRouter, module: Module, route: Route) -> None:
    style, hooks = module.style, module.hooks
    filters = module.filters

    async def endpoint(ctx: Context, paging: Paging, **params: Any) -> Response:
        wanted: dict[str, Any] = {}
        for f in filters:
            raw = params[f"filter_{f.param}"]
            if raw is None or raw == []:
                continue
            if f.many:
                values = [v for part in raw for v in str(part).split(",") if v]
                wanted[f.field] = values
            else:
                wanted[f.field] = raw
        wanted = await hooks.filters(ctx, module, style.query_values(module, wanted))
        page = await ctx.services.records.page(
            ctx.ws,
            module.collection,
            offset=paging.offset,
            limit=paging.limit,
            sort=paging.sort,
            filters=wanted,
            ids=paging.ids,
            caller=ctx.caller,
        )
        extras = await hooks.present(ctx, module, page.records)
        items = [style.record_out(module, r, e) for r, e in zip(page.records, extras, strict=True)]
        return JSONResponse(style.list_out(module, ctx.request, page, paging, items))

    parameters = [
        _CONTEXT,
        inspect.Parameter(
            "paging",
            inspect.Parameter.KEYWORD_ONLY,
            annotation=Annotated[Paging, Depends(style.paging())],
        ),
    ]
    for f in filters:
        kind: Any = list[str] | None if f.many else str | None
        parameters.append(
            inspect.Parameter(
                f"filter_{f.param}",
                inspect.Parameter.KEYWORD_ONLY,
                annotation=Annotated[kind, Query(alias=f.param, description=f.description)],
                default=None,
            )
        )
    _add(
        router,
        module,
        route,
        endpoint,
        parameters,
        status=200,
        summary=f"List {module.title}s",
        response=style.list_schema(module),
        errors=(403, 422),
    )


def _get(router: APIRouter, module: Module, route: Route) -> None:
    style = module.style

    async def endpoint(ctx: Context, id: int | str) -> Response:
        record = await ctx.services.records.get(
            ctx.ws, module.collection, style.record_id(module, id), caller=ctx.caller
        )
        [extra] = await module.hooks.present(ctx, module, [record])
        return JSONResponse(style.record_out(module, record, extra))

    _add(
        router,
        module,
        route,
        endpoint,
        [_CONTEXT, _id_parameter(module)],
        status=200,
        summary=f"Get a {module.title}",
        response=style.record_schema(module),
        errors=(403, 404, 422),
    )


def _create(router: APIRouter, module: Module, route: Route) -> None:
    style, hooks = module.style, module.hooks

    async def endpoint(ctx: Context, body: Any) -> Response:
        values = await hooks.values(ctx, module, style.values_in(module, body, "create"), "create")
        record = await hooks.create(ctx, module, values)
        [extra] = await hooks.present(ctx, module, [record])
        content = style.record_out(module, record, extra)
        return JSONResponse(content, status_code=style.created_status)

    _add(
        router,
        module,
        route,
        endpoint,
        [_CONTEXT, _body(f"The new {module.title}")],
        status=style.created_status,
        summary=f"Create a {module.title}",
        response=style.record_schema(module),
        errors=(403, 409, 422),
        body=style.body_schema(module, "create"),
    )


def _update(router: APIRouter, module: Module, route: Route) -> None:
    style, hooks = module.style, module.hooks

    async def endpoint(
        ctx: Context, id: int | str, body: Any, if_match: int | None, lock_token: int | None
    ) -> Response:
        record_id = style.record_id(module, id)
        values = await hooks.values(ctx, module, style.values_in(module, body, "update"), "update")
        record = await ctx.services.records.update(
            ctx.ws,
            module.collection,
            record_id,
            values,
            ctx.caller,
            token=fencing_token(if_match, lock_token),
        )
        [extra] = await hooks.present(ctx, module, [record])
        return JSONResponse(style.record_out(module, record, extra))

    _add(
        router,
        module,
        route,
        endpoint,
        [_CONTEXT, _id_parameter(module), _body("The values to change"), _IF_MATCH, _LOCK_TOKEN],
        status=200,
        summary=f"Update a {module.title}",
        response=style.record_schema(module),
        errors=(403, 404, 409, 422, 423),
        body=style.body_schema(module, "update"),
    )


def _delete(router: APIRouter, module: Module, route: Route) -> None:
    style = module.style

    async def endpoint(
        ctx: Context, id: int | str, if_match: int | None, lock_token: int | None
    ) -> Response:
        record = await ctx.services.records.delete(
            ctx.ws,
            module.collection,
            style.record_id(module, id),
            ctx.caller,
            token=fencing_token(if_match, lock_token),
        )
        return style.deleted(module, [record])

    _add(
        router,
        module,
        route,
        endpoint,
        [_CONTEXT, _id_parameter(module), _IF_MATCH, _LOCK_TOKEN],
        status=style.deleted_status,
        summary=f"Delete a {module.title}",
        response=style.deleted_schema(module),
        errors=(403, 404, 409, 422, 423),
    )


def _bulk_create(router: APIRouter, module: Module, route: Route) -> None:
    style, hooks = module.style, module.hooks
    limit = min(module.bulk_max, BATCH_LIMIT)

    async def endpoint(ctx: Context, body: Any) -> Response:
        items = style.bulk_in(module, body)
        if len(items) > limit:
            raise _too_many(limit, len(items))
        values = [
            await hooks.values(
                ctx, module, style.values_in(module, item, "create", (*style.bulk_loc, i)), "create"
            )
            for i, item in enumerate(items)
        ]
        records = await ctx.services.records.create_many(
            ctx.ws, module.collection, values, ctx.caller, loc=style.bulk_loc
        )
        extras = await hooks.present(ctx, module, records)
        out = [style.record_out(module, r, e) for r, e in zip(records, extras, strict=True)]
        return JSONResponse(style.bulk_out(module, out), status_code=style.created_status)

    _add(
        router,
        module,
        route,
        endpoint,
        [_CONTEXT, _body(f"Up to {limit} new {module.title}s, all created or none")],
        status=style.created_status,
        summary=f"Create {module.title}s in bulk",
        response=_array_of(style.record_schema(module)),
        errors=(403, 409, 422),
        body=style.body_schema(module, "bulk_create"),
    )


def _bulk_delete(router: APIRouter, module: Module, route: Route) -> None:
    style = module.style
    limit = min(module.bulk_max, BATCH_LIMIT)

    async def endpoint(ctx: Context, body: Any) -> Response:
        ids = style.ids_in(module, body, ctx.request.query_params)
        if len(ids) > limit:
            raise _too_many(limit, len(ids))
        records = await ctx.services.records.delete_many(ctx.ws, module.collection, ids, ctx.caller)
        return style.deleted(module, records)

    body = inspect.Parameter(
        "body",
        inspect.Parameter.KEYWORD_ONLY,
        annotation=Annotated[Any, Body(description=f"Up to {limit} ids, all deleted or none")],
        default=None,
    )
    _add(
        router,
        module,
        route,
        endpoint,
        [_CONTEXT, body],
        status=style.deleted_status,
        summary=f"Delete {module.title}s in bulk",
        response=style.deleted_schema(module),
        errors=(403, 404, 409, 422, 423),
        body=style.body_schema(module, "bulk_delete"),
    )


def _array_of(item: JsonSchema) -> JsonSchema:
    example = item.get("example")
    schema: JsonSchema = {"type": "array", "items": item}
    if example is not None:
        schema["example"] = [example]
    return schema


def _too_many(limit: int, sent: int) -> InvalidInput:
    return InvalidInput(
        f"at most {limit} records at a time", loc=("body",), input=sent, type="too_long"
    )


_BUILDERS: dict[str, Callable[[APIRouter, Module, Route], None]] = {
    "list": _list,
    "get": _get,
    "create": _create,
    "update": _update,
    "delete": _delete,
    "bulk_create": _bulk_create,
    "bulk_delete": _bulk_delete,
}
