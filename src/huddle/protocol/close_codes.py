"""Why the server closed a WebSocket: the code alone tells a client whether to come back."""

from __future__ import annotations

from enum import IntEnum
from typing import Final


class CloseCode(IntEnum):
    """4000–4499: reconnect with backoff and resume from your last event id. 4500–4999: do not
    reconnect as is.

    A client needs no table of codes: `code < 4500` means "the connection was fine, come back
    later and resume", anything above means "the same request will fail the same way".
    """  # noqa: RUF002 - en dashes: ranges, as docs/protocol.md writes them

    BACKEND_UNAVAILABLE = 4001
    GOING_AWAY = 4002
    SLOW_CONSUMER = 4008
    AUTH_EXPIRED = 4010
    TOO_MANY_CONNECTIONS = 4029
    INVALID_TOKEN = 4500
    FORBIDDEN_ORIGIN = 4501
    BAD_FRAME = 4502
    UNSUPPORTED_SUBPROTOCOL = 4503
    AUTH_REQUIRED = 4504

    @property
    def reconnect(self) -> bool:
        """True when reconnecting (with backoff, resuming from the last event id) may work."""
        return self < 4500

    @property
    def reason(self) -> str:
        """Short ASCII text for the close frame (RFC 6455 allows at most 123 bytes)."""
        return _REASONS[self]


#: The reason of a 4500 (INVALID_TOKEN) closing a connection whose API key or user token was
#: revoked or replaced while it was open.
REVOKED_REASON: Final = "credential revoked"

_REASONS: Final[dict[CloseCode, str]] = {
    CloseCode.BACKEND_UNAVAILABLE: "backend unavailable; reconnect and resume",
    CloseCode.GOING_AWAY: "node shutting down; reconnect and resume",
    CloseCode.SLOW_CONSUMER: "too far behind; reconnect and resume from your last event id",
    CloseCode.AUTH_EXPIRED: "credentials expired; get a new token and reconnect",
    CloseCode.TOO_MANY_CONNECTIONS: "too many connections; retry later",
    CloseCode.INVALID_TOKEN: "invalid token",
    CloseCode.FORBIDDEN_ORIGIN: "origin not allowed",
    CloseCode.BAD_FRAME: "frame not decodable or too large",
    CloseCode.UNSUPPORTED_SUBPROTOCOL: "offer huddle.v1.json or huddle.v1.msgpack",
    CloseCode.AUTH_REQUIRED: "credentials required",
}
