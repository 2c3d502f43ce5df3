"""The one place where errors become HTTP answers, in seed 003's envelope.

`{"error": CODE, "message", "details", "timestamp", "status_code"}`; validation failures use
FastAPI's `{"detail": [{"loc", "msg", "type", "input", "ctx"}]}` (422), which the seeds show.
"""

from __future__ import annotations

import logging
from datetime import UTC, datetime
from typing import Any

from fastapi import FastAPI, Request
from fastapi.encoders import jsonable_encoder
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException

from ..errors import BackendUnavailable, HuddleError, InvalidInput, Unauthenticated
from .metrics import metrics_of

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


def error_response(exc: HuddleError) -> JSONResponse:
    if isinstance(exc, InvalidInput):
        detail = {
            "loc": list(exc.loc),
            "msg": exc.message,
            "type": "value_error",
            "input": exc.input,
            "ctx": exc.details,
        }
        return JSONResponse({"detail": [jsonable_encoder(detail)]}, status_code=422)
    headers: dict[str, str] = {}
    if isinstance(exc, Unauthenticated):
        headers["WWW-Authenticate"] = "Bearer"
    if exc.retryable:  # 503 backend down, 429 over a limit
        headers["Retry-After"] = "1"
    body = envelope(exc.status, exc.code, exc.message, jsonable_encoder(exc.details))
    return JSONResponse(body, status_code=exc.status, headers=headers)


async def _huddle_error(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, HuddleError)
    if isinstance(exc, BackendUnavailable):
        log.warning("%s %s: %s", request.method, request.url.path, exc.message)
        if (metrics := metrics_of(request.scope)) is not None:
            metrics.backend_error("http")
    return error_response(exc)


async def _validation_error(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, RequestValidationError)
    errors = [{k: v for k, v in error.items() if k != "url"} for error in exc.errors()]
    return JSONResponse({"detail": jsonable_encoder(errors)}, status_code=422)


async def _http_error(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, StarletteHTTPException)
    code = _HTTP_CODES.get(exc.status_code, "HTTP_ERROR")
    message = exc.detail if isinstance(exc.detail, str) else code
    details: dict[str, Any] = {}
    if exc.status_code == 404:
        message, details = "No such route", {"path": request.url.path}
    body = envelope(exc.status_code, code, message, details)
    return JSONResponse(body, status_code=exc.status_code, headers=exc.headers)


async def _unexpected(request: Request, exc: Exception) -> JSONResponse:
    log.exception("unhandled error on %s %s", request.method, request.url.path, exc_info=exc)
    body = envelope(500, "INTERNAL_SERVER_ERROR", "An unexpected error occurred", {})
    return JSONResponse(body, status_code=500)


def install_error_handlers(app: FastAPI) -> None:
    app.add_exception_handler(HuddleError, _huddle_error)
    app.add_exception_handler(RequestValidationError, _validation_error)
    app.add_exception_handler(StarletteHTTPException, _http_error)
    app.add_exception_handler(Exception, _unexpected)
