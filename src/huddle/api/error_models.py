"""OpenAPI descriptions of the error envelope, so every route documents its failures."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel


class ErrorOut(BaseModel):
    error: str
    message: str
    details: dict[str, Any]
    timestamp: str
    status_code: int


_EXAMPLES: dict[int, tuple[str, str, dict[str, Any]]] = {
    400: ("BAD_REQUEST", "The request cannot be served as sent", {}),
    401: ("AUTHENTICATION_FAILED", "Authentication required", {}),
    403: (
        "FORBIDDEN",
        "You don't have permission to perform this action",
        {"required_permission": "resource:action"},
    ),
    404: (
        "RESOURCE_NOT_FOUND",
        "The requested resource was not found",
        {"resource_type": "example", "resource_id": "xxx"},
    ),
    409: (
        "LOCK_HELD",
        "Locked by Ben until 2026-01-05T10:02:30.000Z",
        {
            "entityType": "deal",
            "entityId": "42",
            "holder": {"userId": "ben", "name": "Ben"},
            "expiresAt": "2026-01-05T10:02:30.000Z",
            "acquiredAt": "2026-01-05T10:02:00.000Z",
        },
    ),
    422: (
        "VALIDATION_ERROR",
        'Validation failures use FastAPI\'s {"detail": [{loc, msg, type, input, ctx}]}',
        {},
    ),
    423: (
        "LOCKED",
        "Locked by Ben until 2026-01-05T10:02:30.000Z",
        {
            "entityType": "project",
            "entityId": "7",
            "holder": {"userId": "ben", "name": "Ben"},
            "expiresAt": "2026-01-05T10:02:30.000Z",
            "acquiredAt": "2026-01-05T10:02:00.000Z",
            "fencingToken": 18,
        },
    ),
    413: ("PAYLOAD_TOO_LARGE", "Request body exceeds 65536 bytes", {"limit": 65536}),
    429: ("TOO_MANY_CONNECTIONS", "at most 20 SSE streams per user on this node", {"limit": 20}),
    503: ("SERVICE_UNAVAILABLE", "Redis is unreachable: connection refused", {}),
}


def errors(*statuses: int) -> dict[int | str, dict[str, Any]]:
    """`responses=` for a route: the envelope with an example for each status (+ 401, 503)."""
    out: dict[int | str, dict[str, Any]] = {}
    for status in sorted({401, 503, *statuses}):
        code, message, details = _EXAMPLES[status]
        example = {
            "error": code,
            "message": message,
            "details": details,
            "timestamp": "2026-01-05T10:02:00.000000",
            "status_code": status,
        }
        out[status] = {"model": ErrorOut, "content": {"application/json": {"example": example}}}
    return out
