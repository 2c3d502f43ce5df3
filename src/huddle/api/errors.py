"""The one place where errors become HTTP answers, in each dialect's envelope.

* Seed 003 and Huddle's own routes (and seeds 000, 002): `{"error": CODE, "message",
  "details", "timestamp", "status_code"}`; validation failures use FastAPI's
  `{"detail": [{"loc", "msg", "type", "input", "ctx"}]}` (422), which the seeds show.
* Seed 001 (every path under `/v2/`): Base API v2's `{"errors": [{"error": {"code",
  "message", "details", "resource", "field"}, "meta": {"type": "error"}}], "meta": {"type":
  "errors", "http_status": "422 Unprocessable Entity", "logref": <request id>}}`, one entry per
  refused value, which existing Base clients parse.
"""

from __future__ import annotations

import logging
import math
import re
import uuid
from datetime import UTC, datetime
from http import HTTPStatus
from typing import Any

import orjson
from fastapi import FastAPI, Request
from fastapi.encoders import jsonable_encoder
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException

from ..errors import (
    AlreadyExists,
    BackendUnavailable,
    Conflict,
    EditLocked,
    Forbidden,
    HuddleError,
    InvalidInput,
    NotFound,
    PayloadTooLarge,
    Problem,
    StaleFence,
    TooManyRequests,
    Unauthenticated,
)
from .metrics import metrics_of
from .route_table import allow_header, path_methods

log = logging.getLogger("huddle.api")

_HTTP_CODES = {
    400: "BAD_REQUEST",
    401: "AUTHENTICATION_FAILED",
    403: "FORBIDDEN",
    404: "RESOURCE_NOT_FOUND",
    405: "METHOD_NOT_ALLOWED",
    413: "PAYLOAD_TOO_LARGE",
    415: "UNSUPPORTED_MEDIA_TYPE",
}


def envelope(status: int, code: str, message: str, details: dict[str, Any]) -> dict[str, Any]:
    return {
        "error": code,
        "message": message,
        "details": details,
        "timestamp": datetime.now(UTC).replace(tzinfo=None).isoformat(timespec="microseconds"),
        "status_code": status,
    }


def error_response(exc: HuddleError, request: Request | None = None) -> JSONResponse:
    if request is not None and is_base_v2(request):
        return base_v2_response(request, exc.status, base_errors(exc), _headers(exc))
    if isinstance(exc, InvalidInput):
        detail = [
            {
                "loc": list(problem.loc),
                "msg": problem.msg,
                "type": problem.type,
                "input": problem.input,
                "ctx": problem.ctx,
            }
            for problem in exc.problems
        ]
        return JSONResponse({"detail": sendable(jsonable_encoder(detail))}, status_code=422)
    body = envelope(exc.status, exc.code, exc.message, jsonable_encoder(exc.details))
    return JSONResponse(body, status_code=exc.status, headers=_headers(exc))


def sendable(value: Any) -> Any:
    """`value` made encodable as JSON: a refused input is echoed back, and it may hold what JSON
    cannot carry out (a lone surrogate, a number parsed as infinity)."""
    if isinstance(value, str):
        return value.encode("utf-8", "backslashreplace").decode()
    if isinstance(value, float) and not math.isfinite(value):
        return str(value)
    if isinstance(value, list):
        return [sendable(item) for item in value]
    if isinstance(value, dict):
        return {sendable(key): sendable(item) for key, item in value.items()}
    return value


def _headers(exc: HuddleError) -> dict[str, str]:
    headers: dict[str, str] = {}
    if isinstance(exc, Unauthenticated):
        headers["WWW-Authenticate"] = "Bearer"
    if exc.retryable:  # 503 backend down, 429 over a limit
        headers["Retry-After"] = "1"
    return headers


# --- Base API v2 (seed 001) -------------------------------------------------------------------

BASE_V2_PREFIX = "/v2/"

#: Base's error codes by Huddle error class, most specific first.
_BASE_CODES: tuple[tuple[type[HuddleError], str], ...] = (
    (EditLocked, "locked"),
    (StaleFence, "stale_lock_token"),
    (AlreadyExists, "taken"),
    (Conflict, "conflict"),
    (NotFound, "not_found"),
    (Unauthenticated, "unauthorized"),
    (Forbidden, "forbidden"),
    (PayloadTooLarge, "request_entity_too_large"),
    (TooManyRequests, "too_many_requests"),
    (BackendUnavailable, "service_unavailable"),
)
#: Base's validation codes by pydantic error type.
_BASE_PROBLEM_CODES = {"missing": "blank", "enum": "inclusion", "extra_forbidden": "unknown"}
#: Reason phrases as Base writes them (Python 3.13 renamed 422 "Unprocessable Content").
_BASE_PHRASES = {413: "Request Entity Too Large", 422: "Unprocessable Entity"}
_REQUEST_ID = re.compile(r"[A-Za-z0-9._-]{1,128}")


def is_base_v2(request: Request) -> bool:
    return request.url.path.startswith(BASE_V2_PREFIX)


def _resource_of(request: Request) -> str:
    """`collaboration` for /v2/collaborations..., as Base names resources."""
    parts = request.url.path[len(BASE_V2_PREFIX) :].split("/")
    return parts[0].removesuffix("s") if parts and parts[0] else "request"


def base_error(
    code: str, message: str, details: str, field: str | None, resource: str | None = None
) -> dict[str, Any]:
    return {
        "error": {
            "code": code,
            "message": message,
            "details": details,
            "resource": resource,
            "field": field,
        },
        "meta": {"type": "error"},
    }


def _problem_errors(problems: list[Problem] | tuple[Problem, ...]) -> list[dict[str, Any]]:
    out = []
    for problem in problems:
        names = [part for part in problem.loc if isinstance(part, str)]
        field = names[-1] if len(names) > 1 else None
        where = ".".join(str(part) for part in problem.loc)
        code = _BASE_PROBLEM_CODES.get(problem.type, "invalid")
        out.append(base_error(code, problem.msg, f"{where}: {problem.msg}", field))
    return out


def base_errors(exc: HuddleError) -> list[dict[str, Any]]:
    if isinstance(exc, InvalidInput):
        return _problem_errors(exc.problems)
    code = next((code for cls, code in _BASE_CODES if isinstance(exc, cls)), "bad_request")
    if exc.status >= 500 and not isinstance(exc, BackendUnavailable):
        code = "internal_server_error"
    details = "; ".join(
        f"{key}: {orjson.dumps(jsonable_encoder(value)).decode()}"
        for key, value in exc.details.items()
    )
    return [base_error(code, exc.message, details or exc.message, None)]


def base_v2_response(
    request: Request,
    status: int,
    errors: list[dict[str, Any]],
    headers: dict[str, str] | None = None,
) -> JSONResponse:
    """The Base v2 envelope; `logref` is the caller's `X-Request-Id` or a new id, echoed."""
    sent = request.headers.get("x-request-id", "")
    logref = sent if _REQUEST_ID.fullmatch(sent) else uuid.uuid4().hex
    resource = _resource_of(request)
    for entry in errors:
        entry["error"]["resource"] = entry["error"]["resource"] or resource
    body = {
        "errors": sendable(jsonable_encoder(errors)),
        "meta": {
            "type": "errors",
            "http_status": f"{status} {_BASE_PHRASES.get(status) or HTTPStatus(status).phrase}",
            "logref": logref,
        },
    }
    return JSONResponse(
        body, status_code=status, headers={**(headers or {}), "X-Request-Id": logref}
    )


async def _huddle_error(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, HuddleError)
    if isinstance(exc, BackendUnavailable):
        log.warning("%s %s: %s", request.method, request.url.path, exc.message)
        if (metrics := metrics_of(request.scope)) is not None:
            metrics.backend_error("http")
    elif isinstance(exc, Unauthenticated):
        log.info("%s %s: 401 %s (%s)", request.method, request.url.path, exc.code, exc.reason)
    return error_response(exc, request)


async def _validation_error(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, RequestValidationError)
    if is_base_v2(request):
        problems = [
            Problem(tuple(e["loc"]), e["msg"], e["type"], e.get("input"), e.get("ctx") or {})
            for e in exc.errors()
        ]
        return base_v2_response(request, 422, _problem_errors(problems))
    errors = [{k: v for k, v in error.items() if k != "url"} for error in exc.errors()]
    return JSONResponse({"detail": sendable(jsonable_encoder(errors))}, status_code=422)


async def _http_error(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, StarletteHTTPException)
    code = _HTTP_CODES.get(exc.status_code, "HTTP_ERROR")
    message = exc.detail if isinstance(exc.detail, str) else code
    details: dict[str, Any] = {}
    headers = dict(exc.headers or {})
    if exc.status_code == 404:
        message, details = "No such route", {"path": request.url.path}
    if exc.status_code == 405:
        methods = path_methods(request.app.router.routes, request.url.path)
        headers["Allow"] = allow_header(methods)
        details = {"allowed_methods": sorted(methods)}
    if is_base_v2(request):
        code = "not_found" if exc.status_code == 404 else code.lower()
        errors = [base_error(code, message, message, None)]
        return base_v2_response(request, exc.status_code, errors, headers)
    body = envelope(exc.status_code, code, message, details)
    return JSONResponse(body, status_code=exc.status_code, headers=headers)


async def _unexpected(request: Request, exc: Exception) -> JSONResponse:
    log.exception("unhandled error on %s %s", request.method, request.url.path, exc_info=exc)
    if is_base_v2(request):
        message = "An unexpected error occurred"
        return base_v2_response(
            request, 500, [base_error("internal_server_error", message, message, None)]
        )
    body = envelope(500, "INTERNAL_SERVER_ERROR", "An unexpected error occurred", {})
    return JSONResponse(body, status_code=500)


def install_error_handlers(app: FastAPI) -> None:
    app.add_exception_handler(HuddleError, _huddle_error)
    app.add_exception_handler(RequestValidationError, _validation_error)
    app.add_exception_handler(StarletteHTTPException, _http_error)
    app.add_exception_handler(Exception, _unexpected)
