"""Every error the client raises, and what the caller may do about each.

HuddleClientError
├── ClientError          the server refused a request: `code`, `message`, `details`
│   └── LockHeldError    LOCK_HELD: another user holds the lock (`holder`, `expires_at`)
├── ConnectionLost       no answer: the connection dropped or could not be made; the request
│   │                    may or may not have happened (a publish with an idempotency key is
│   │                    safe to repeat)
│   └── UpgradeRefused   the WebSocket handshake was refused (a proxy, an old server)
├── ServerProtocolError  the server sent something this client cannot read: a server bug
└── ClientClosed         the client stopped for good (`code`: the close code, or None)
    └── AuthError        the credentials were refused (4500, 4504, HTTP 401) or expired
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Final


class HuddleClientError(Exception):
    """Base of every error raised by `huddle.client`."""


#: Codes of refusals that a later retry of the same request may overcome.
RETRYABLE_CODES: Final = frozenset(
    {"SERVICE_UNAVAILABLE", "HTTP_429", "HTTP_502", "HTTP_503", "HTTP_504"}
)


class ClientError(HuddleClientError):
    """An error reply (`{"ok": false, "error": {...}}`) or a REST error envelope."""

    def __init__(self, code: str, message: str, details: Mapping[str, Any] | None = None) -> None:
        super().__init__(f"{code}: {message}")
        self.code = code
        self.message = message
        self.details: dict[str, Any] = dict(details or {})

    @property
    def retryable(self) -> bool:
        """True when the same request may succeed later (the backend was unavailable)."""
        return self.code in RETRYABLE_CODES


class LockHeldError(ClientError):
    """Another user holds a live lease on the entity; nothing changed."""

    @property
    def holder(self) -> dict[str, Any]:
        """`{"userId", "name"}` of the holder (empty when the server left it out)."""
        holder = self.details.get("holder")
        return dict(holder) if isinstance(holder, Mapping) else {}

    @property
    def expires_at(self) -> str | None:
        """When the holder's lease ends unless refreshed (ISO-8601 UTC)."""
        value = self.details.get("expiresAt")
        return value if isinstance(value, str) else None


class ConnectionLost(HuddleClientError):
    """No reply arrived: the connection dropped or could not be opened."""


class UpgradeRefused(ConnectionLost):
    """The server (or a proxy in front of it) answered the WebSocket handshake with something
    other than `101 Switching Protocols`; `status` is the HTTP status when there was one."""

    def __init__(self, message: str, status: int | None = None) -> None:
        super().__init__(message)
        self.status = status


class ServerProtocolError(HuddleClientError):
    """A frame or an event that does not have the documented shape."""


class ClientClosed(HuddleClientError):
    """The client has stopped: closed by its owner, closed by the server with a code that says
    not to come back (4500-4999), or dropped while `reconnect=False`."""

    def __init__(self, message: str, code: int | None = None) -> None:
        super().__init__(message)
        self.code = code


class AuthError(ClientClosed):
    """The server refused the credentials; reconnecting with the same token cannot help."""


def error_from(raw: object) -> ClientError:
    """The exception for a wire error object `{"code", "message", "details"}`."""
    if not isinstance(raw, Mapping):
        return ClientError("UNKNOWN", f"malformed error object: {raw!r:.200}")
    code = str(raw.get("code") or "UNKNOWN")
    message = str(raw.get("message") or code)
    details = raw.get("details")
    details = details if isinstance(details, Mapping) else {}
    kind = LockHeldError if code == "LOCK_HELD" else ClientError
    return kind(code, message, details)
