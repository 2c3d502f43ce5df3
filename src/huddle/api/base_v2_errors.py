"""Base API v2's error dialect (seed 001, every path under `/v2/`).

`{"errors": [{"error": {"code", "message", "details", "resource", "field"}, "meta": {"type":
"error"}}], "meta": {"type": "errors", "http_status": "422 Unprocessable Entity", "logref":
<request id>}}`, one entry per refused value, which existing Base clients parse.
"""

from __future__ import annotations

import re
import uuid
from collections.abc import Sequence
from http import HTTPStatus
from typing import Any, Final

import orjson
from fastapi.encoders import jsonable_encoder
from starlette.requests import Request
from starlette.responses import JSONResponse

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
from .errors import error_headers, sendable

#: The URL space Base clients use: unrouted requests under it answer in this dialect too.
BASE_V2_PATHS: Final = "/v2/"

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


class BaseV2Dialect:
    """The `ErrorDialect` of seed 001's routes."""

    def error(self, request: Request, exc: HuddleError) -> JSONResponse:
        return _response(request, exc.status, _errors_of(exc), error_headers(exc))

    def invalid(self, request: Request, problems: Sequence[Problem]) -> JSONResponse:
        return _response(request, 422, _problem_errors(problems))

    def routing(
        self,
        request: Request,
        status: int,
        code: str,
        message: str,
        details: dict[str, Any],
        headers: dict[str, str],
    ) -> JSONResponse:
        code = "not_found" if status == 404 else code.lower()
        return _response(request, status, [base_error(code, message, message, None)], headers)

    def unexpected(self, request: Request) -> JSONResponse:
        message = "An unexpected error occurred"
        return _response(
            request, 500, [base_error("internal_server_error", message, message, None)]
        )


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


def _resource_of(request: Request) -> str:
    """`collaboration` for /v2/collaborations..., as Base names resources."""
    parts = request.url.path.removeprefix(BASE_V2_PATHS).split("/")
    return parts[0].removesuffix("s") if parts and parts[0] else "request"


def _problem_errors(problems: Sequence[Problem]) -> list[dict[str, Any]]:
    out = []
    for problem in problems:
        names = [part for part in problem.loc if isinstance(part, str)]
        field = names[-1] if len(names) > 1 else None
        where = ".".join(str(part) for part in problem.loc)
        code = _BASE_PROBLEM_CODES.get(problem.type, "invalid")
        out.append(base_error(code, problem.msg, f"{where}: {problem.msg}", field))
    return out


def _errors_of(exc: HuddleError) -> list[dict[str, Any]]:
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


def _response(
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
