"""The routes of a declared module: one FastAPI route per declared operation.

Each endpoint is built from the module's declaration: its parameters (the record id as the
style types it, the module's own path parameters, the style's paging, the module's filters,
the body, a fencing token) are a signature FastAPI reads like any hand-written endpoint's, so
validation errors, the OpenAPI document and the error dialect work as for the rest of the
app. Bodies are read as JSON (or as the style's `body_model`) and their values validated by
the engine alone, so a module's 422s are the engine's, field by field; their schemas in the
document come from the same declaration (`schema.py`).
"""

import inspect
from collections.abc import Awaitable, Callable
from dataclasses import replace
from typing import Annotated, Any

from fastapi import APIRouter, Body, Depends, Path, Query
from pydantic import BaseModel
from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from ...engine.declarations import Collection
from ...errors import InvalidInput
from ...ids import WorkspaceKey
from ...store import BATCH_LIMIT, StoredRecord
from ..deps import CallerWorkspace, CurrentPrincipal, CurrentServices, IfMatchToken, fencing_token
from .module import Context, Module, Route, Written
from .style import JsonSchema, Paging, TokenBody

Endpoint = Callable[..., Awaitable[Response]]
_KEYWORD = inspect.Parameter.KEYWORD_ONLY
#: Names of the endpoints' own parameters, which no path parameter may take.
_TAKEN = frozenset({"ctx", "paging", "body", "if_match", "lock_token", "module_path"})

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


def _context_of(module: Module) -> inspect.Parameter:
    """The `ctx` parameter of `module`'s endpoints: in the caller's workspace, or in the one
    the module's own `workspace` dependency answers."""
    if module.workspace is None:
        return _CONTEXT
    chosen = module.workspace

    async def context(
        request: Request,
        ws: Annotated[WorkspaceKey, Depends(chosen)],
        caller: CurrentPrincipal,
        svc: CurrentServices,
    ) -> Context:
        return Context(request, ws, caller, svc)

    return inspect.Parameter("ctx", _KEYWORD, annotation=Annotated[Context, Depends(context)])


def _body(description: str, model: type[BaseModel] | None = None) -> inspect.Parameter:
    return inspect.Parameter(
        "body", _KEYWORD, annotation=Annotated[model or Any, Body(description=description)]
    )


def router_of(module: Module) -> APIRouter:
    """The routes of `module`, under its path, tagged with its title."""
    names = [module.id_param, *(p.name for p in module.path_params)]
    if len(set(names)) < len(names) or _TAKEN & set(names):
        raise ValueError(f"{module.path}: path parameter names {names} clash")
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
    return inspect.Parameter(module.id_param, _KEYWORD, annotation=Annotated[style.id_type, path])


def _path(module: Module, paging: Callable[..., Any] | None = None) -> list[inspect.Parameter]:
    """The module's own path parameters and, for a list, the style's `paging` after them, read
    by one dependency: FastAPI validates them all at once and in that order, as it would a
    hand-written endpoint's own parameters, and `paging` runs (it may refuse a sort itself)
    only once all are valid."""
    if not module.path_params:
        return [] if paging is None else [_param("paging", paging)]
    tail = (
        [] if paging is None else list(inspect.signature(paging, eval_str=True).parameters.values())
    )

    async def dependency(**values: Any) -> Paging | None:
        if paging is None:
            return None
        found = paging(**{p.name: values[p.name] for p in tail})
        read: Paging = await found if inspect.isawaitable(found) else found
        return read

    own = [
        inspect.Parameter(
            p.name,
            _KEYWORD,
            annotation=Annotated[
                str, Path(pattern=p.pattern, description=p.description, examples=list(p.examples))
            ],
        )
        for p in module.path_params
    ]
    dependency.__signature__ = inspect.Signature(  # type: ignore[attr-defined]
        [*own, *(p.replace(kind=_KEYWORD) for p in tail)]
    )
    return [_param("module_path" if paging is None else "paging", dependency)]


def _param(name: str, dependency: Callable[..., Any]) -> inspect.Parameter:
    return inspect.Parameter(name, _KEYWORD, annotation=Annotated[Any, Depends(dependency)])


def _bound(ctx: Context, module: Module) -> Module:
    """`module` with the node's public ids (`Module.ids`), for the style."""
    return replace(module, ids=ctx.services.records.ids.in_workspace(ctx.ws))


async def _resolved(ctx: Context, module: Module) -> Module:
    """`module` serving the collection of this request (`Hooks.collection`)."""
    module = _bound(ctx, module)
    return _serving(module, await module.hooks.collection(ctx, module))


def _serving(module: Module, collection: Collection) -> Module:
    return module if collection is module.collection else replace(module, collection=collection)


def _written(module: Module, result: StoredRecord | Written) -> tuple[Module, StoredRecord]:
    if isinstance(result, Written):
        return _serving(module, result.collection), result.record
    return module, result


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
    own = _context_of(module)
    parameters = [own if p is _CONTEXT else p for p in parameters]
    endpoint.__signature__ = inspect.Signature(parameters)  # type: ignore[attr-defined]
    responses: dict[int | str, dict[str, Any]] = {
        code: {"description": f"{_ERRORS[code]} ({module.style.dialect_name} error envelope)"}
        for code in (401, *errors, 503)
    }
    for code, documented in module.style.error_responses((401, *errors, 503)).items():
        responses[code] = {**responses[code], **documented}
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
        name=route.name or f"{module.collection.name}.{route.op}.{route.method.lower()}",
    )


def _list(router: APIRouter, module: Module, route: Route) -> None:
    style, hooks = module.style, module.hooks
    filters = module.filters
    # by the style's own names, as FastAPI reads them without an alias
    reserved = {*inspect.signature(style.paging()).parameters, *(f.param for f in filters)}

    async def endpoint(ctx: Context, paging: Paging, **params: Any) -> Response:
        here = await _resolved(ctx, module)
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
        if module.field_filters:
            query = ctx.request.query_params.items()
            wanted |= {name: value for name, value in query if name not in reserved}
        wanted = await hooks.filters(ctx, here, style.query_values(here, wanted))
        page = await ctx.services.records.page(
            ctx.ws,
            here.collection,
            offset=paging.offset,
            limit=paging.limit,
            sort=paging.sort,
            filters=wanted,
            ids=paging.ids,
            caller=ctx.caller,
        )
        extras = await hooks.present(ctx, here, page.records)
        items = [style.record_out(here, r, e) for r, e in zip(page.records, extras, strict=True)]
        return JSONResponse(style.list_out(here, ctx.request, page, paging, items))

    parameters = [_CONTEXT, *_path(module, style.paging())]
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
        errors=(403, 404, 422) if module.path_params else (403, 422),
    )


def _get(router: APIRouter, module: Module, route: Route) -> None:
    style = module.style

    async def endpoint(ctx: Context, **params: Any) -> Response:
        here = await _resolved(ctx, module)
        record_id = style.record_id(here, params[module.id_param])
        record = await ctx.services.records.get(
            ctx.ws, here.collection, record_id, caller=ctx.caller
        )
        [extra] = await module.hooks.present(ctx, here, [record])
        return JSONResponse(style.record_out(here, record, extra))

    _add(
        router,
        module,
        route,
        endpoint,
        [_CONTEXT, *_path(module), _id_parameter(module)],
        status=200,
        summary=f"Get a {module.title}",
        response=style.record_schema(module),
        errors=(403, 404, 422),
    )


def _create(router: APIRouter, module: Module, route: Route) -> None:
    style, hooks = module.style, module.hooks

    async def endpoint(ctx: Context, body: Any, **params: Any) -> Response:
        bound = _bound(ctx, module)
        values = await hooks.values(ctx, bound, style.values_in(bound, body, "create"), "create")
        here, record = _written(bound, await hooks.create(ctx, bound, values))
        [extra] = await hooks.present(ctx, here, [record])
        content = style.record_out(here, record, extra)
        return JSONResponse(content, status_code=style.created_status)

    _add(
        router,
        module,
        route,
        endpoint,
        [
            _CONTEXT,
            *_path(module),
            _body(f"The new {module.title}", style.body_model(module, "create")),
        ],
        status=style.created_status,
        summary=f"Create a {module.title}",
        response=style.record_schema(module),
        errors=(403, 404, 409, 422) if module.path_params else (403, 409, 422),
        body=style.body_schema(module, "create"),
    )


def _update(router: APIRouter, module: Module, route: Route) -> None:
    style, hooks = module.style, module.hooks

    model = style.body_model(module, "update")
    in_body = model is not None and issubclass(model, TokenBody)  # no `?lock_token=` then

    async def endpoint(
        ctx: Context, body: Any, if_match: int | None, lock_token: int | None = None, **params: Any
    ) -> Response:
        bound = _bound(ctx, module)
        record_id = style.record_id(bound, params[module.id_param])
        values = await hooks.values(ctx, bound, style.values_in(bound, body, "update"), "update")
        token = fencing_token(if_match, body.token() if in_body else lock_token)
        written = await hooks.update(ctx, bound, record_id, values, token)
        here, record = _written(bound, written)
        [extra] = await hooks.present(ctx, here, [record])
        return JSONResponse(style.record_out(here, record, extra))

    _add(
        router,
        module,
        route,
        endpoint,
        [
            _CONTEXT,
            _id_parameter(module),
            _body("The values to change", model),
            _IF_MATCH,
            *_path(module),
            *([] if in_body else [_LOCK_TOKEN]),
        ],
        status=200,
        summary=f"Update a {module.title}",
        response=style.record_schema(module),
        errors=(403, 404, 409, 422, 423),
        body=style.body_schema(module, "update"),
    )


def _delete(router: APIRouter, module: Module, route: Route) -> None:
    style = module.style

    async def endpoint(
        ctx: Context, if_match: int | None, lock_token: int | None, **params: Any
    ) -> Response:
        here = await _resolved(ctx, module)
        record_id = style.record_id(here, params[module.id_param])
        token = fencing_token(if_match, lock_token)
        record = await ctx.services.records.delete(
            ctx.ws, here.collection, record_id, ctx.caller, token=token
        )
        await module.hooks.deleted(ctx, here, [record])
        return style.deleted(here, [record])

    _add(
        router,
        module,
        route,
        endpoint,
        [_CONTEXT, _id_parameter(module), _IF_MATCH, *_path(module), _LOCK_TOKEN],
        status=style.deleted_status,
        summary=f"Delete a {module.title}",
        response=style.deleted_schema(module),
        errors=(403, 404, 409, 422, 423),
    )


def _bulk_create(router: APIRouter, module: Module, route: Route) -> None:
    style, hooks = module.style, module.hooks
    limit = min(module.bulk_max, BATCH_LIMIT)

    async def endpoint(ctx: Context, body: Any, **params: Any) -> Response:
        here = await _resolved(ctx, module)
        items = style.bulk_in(here, body)
        if len(items) > limit:
            raise _too_many(limit, len(items))
        values = [
            await hooks.values(
                ctx, here, style.values_in(here, item, "create", (*style.bulk_loc, i)), "create"
            )
            for i, item in enumerate(items)
        ]
        records = await hooks.create_many(ctx, here, values, style.bulk_loc)
        extras = await hooks.present(ctx, here, records)
        out = [style.record_out(here, r, e) for r, e in zip(records, extras, strict=True)]
        return JSONResponse(style.bulk_out(here, out), status_code=style.created_status)

    _add(
        router,
        module,
        route,
        endpoint,
        [
            _CONTEXT,
            *_path(module),
            _body(f"Up to {limit} new {module.title}s, all created or none"),
        ],
        status=style.created_status,
        summary=f"Create {module.title}s in bulk",
        response=_array_of(style.record_schema(module)),
        errors=(403, 409, 422),
        body=style.body_schema(module, "bulk_create"),
    )


def _bulk_delete(router: APIRouter, module: Module, route: Route) -> None:
    style = module.style
    limit = min(module.bulk_max, BATCH_LIMIT)

    async def endpoint(ctx: Context, body: Any, **params: Any) -> Response:
        here = await _resolved(ctx, module)
        ids = style.ids_in(here, body, ctx.request.query_params)
        if len(ids) > limit:
            raise _too_many(limit, len(ids))
        records = await ctx.services.records.delete_many(ctx.ws, here.collection, ids, ctx.caller)
        await module.hooks.deleted(ctx, here, records)
        return style.deleted(here, records)

    body = inspect.Parameter(
        "body",
        _KEYWORD,
        annotation=Annotated[Any, Body(description=f"Up to {limit} ids, all deleted or none")],
        default=None,
    )
    _add(
        router,
        module,
        route,
        endpoint,
        [_CONTEXT, *_path(module), body],
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
