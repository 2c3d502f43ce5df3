"""The one place where errors become HTTP answers: the app's exception handlers hand each
error to the dialect of the request (`dialects.py`), and Huddle's own dialect lives here.

Huddle's dialect (seed 003, Huddle's own routes, seeds 000 and 002): `{"error": CODE,
"message", "details", "timestamp", "status_code"}`; validation failures use FastAPI's
`{"detail": [{"loc", "msg", "type", "input", "ctx"}]}` (422), which the seeds show. Base API
v2's dialect (seed 001) is in `base_v2_errors.py`.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any, Final

from fastapi import FastAPI, Request
from fastapi.encoders import jsonable_encoder
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException

from ..errors import (
    BackendUnavailable,
    HuddleError,
    InvalidInput,
    Problem,
    Unauthenticated,
)
from .dialects import Dialects, ErrorDialect
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


def error_response(exc: HuddleError, request: Request) -> JSONResponse:
    """`exc` in the envelope of `request`'s dialect."""
    return dialect_of(request).error(request, exc)


def dialect_of(request: Request) -> ErrorDialect:
    """The dialect registered for `request` (Huddle's outside an app that registered any)."""
    state = getattr(request.scope.get("app"), "state", None)
    dialects = getattr(state, "dialects", None)
    return dialects.of(request) if isinstance(dialects, Dialects) else HUDDLE


class HuddleDialect:
    """The `ErrorDialect` of seed 003, seeds 000 and 002, and Huddle's own routes."""

    def error(self, request: Request, exc: HuddleError) -> JSONResponse:
        if isinstance(exc, InvalidInput):
            return self.invalid(request, exc.problems)
        body = envelope(exc.status, exc.code, exc.message, jsonable_encoder(exc.details))
        return JSONResponse(body, status_code=exc.status, headers=error_headers(exc))

    def invalid(self, request: Request, problems: Sequence[Problem]) -> JSONResponse:
        detail = [
            {
                "loc": list(problem.loc),
                "msg": problem.msg,
                "type": problem.type,
                "input": problem.input,
                "ctx": problem.ctx,
            }
            for problem in problems
        ]
        return JSONResponse({"detail": sendable(jsonable_encoder(detail))}, status_code=422)

    def routing(
        self,
        request: Request,
        status: int,
        code: str,
        message: str,
        details: dict[str, Any],
        headers: dict[str, str],
    ) -> JSONResponse:
        return JSONResponse(
            envelope(status, code, message, details), status_code=status, headers=headers
        )

    def unexpected(self, request: Request) -> JSONResponse:
        body = envelope(500, "INTERNAL_SERVER_ERROR", "An unexpected error occurred", {})
        return JSONResponse(body, status_code=500)


HUDDLE: Final = HuddleDialect()


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


def error_headers(exc: HuddleError) -> dict[str, str]:
    headers: dict[str, str] = {}
    if isinstance(exc, Unauthenticated):
        headers["WWW-Authenticate"] = "Bearer"
    if exc.retryable:  # 503 backend down, 429 over a limit
        headers["Retry-After"] = "1"
    return headers


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
    problems = [
        Problem(tuple(e["loc"]), e["msg"], e["type"], e.get("input"), e.get("ctx") or {})
        for e in exc.errors()
    ]
    return dialect_of(request).invalid(request, problems)


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
    return dialect_of(request).routing(request, exc.status_code, code, message, details, headers)


async def _unexpected(request: Request, exc: Exception) -> JSONResponse:
    log.exception("unhandled error on %s %s", request.method, request.url.path, exc_info=exc)
    return dialect_of(request).unexpected(request)


def install_error_handlers(app: FastAPI, dialects: Dialects) -> None:
    """Answer every error of `app` in its request's dialect, as `dialects` registered them."""
    app.state.dialects = dialects
    app.add_exception_handler(HuddleError, _huddle_error)
    app.add_exception_handler(RequestValidationError, _validation_error)
    app.add_exception_handler(StarletteHTTPException, _http_error)
    app.add_exception_handler(Exception, _unexpected)
