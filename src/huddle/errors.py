"""Every error a client can see; each has a code, an HTTP status and whether a retry may help.

HuddleError
├── BadRequest           400   (InvalidInput 422, PayloadTooLarge 413)
├── Unauthenticated      401
├── Forbidden            403
├── NotFound             404   also another tenant's ids: existence is never leaked
├── Conflict             409   LockHeld, StaleFence, AlreadyExists, NotEmptyConflict,
│                              LimitReached
├── Locked               423   another user holds the entity's lock (a write was refused)
├── TooManyRequests      429   retryable: RateLimited, TooManyConnections
├── BackendUnavailable   503   retryable
└── ShuttingDown         503   retryable: the node drains

Services raise these without knowing HTTP; `api/errors.py` alone maps them to each dialect's
envelope. `ConfigError` is for operators at startup, never sent to a client.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, ClassVar


class ConfigError(Exception):
    """The node's configuration cannot work; raised before it serves anything."""


class HuddleError(Exception):
    status: ClassVar[int] = 500
    code: ClassVar[str] = "INTERNAL_SERVER_ERROR"
    retryable: ClassVar[bool] = False

    def __init__(self, message: str, *, details: dict[str, Any] | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.details: dict[str, Any] = details or {}


class BadRequest(HuddleError):
    status = 400
    code = "BAD_REQUEST"


@dataclass(frozen=True, slots=True)
class Problem:
    """One refused value: where (`loc`, as in a pydantic error), why, and what was sent."""

    loc: tuple[str | int, ...]
    msg: str
    type: str = "value_error"
    input: Any = None
    ctx: dict[str, Any] = field(default_factory=dict)


class InvalidInput(BadRequest):
    """Values the schema accepted but a rule refuses; rendered like a schema error (422), one
    entry per problem."""

    status = 422
    code = "VALIDATION_ERROR"

    def __init__(
        self,
        message: str,
        *,
        loc: tuple[str | int, ...],
        input: Any = None,
        type: str = "value_error",
    ) -> None:
        super().__init__(message)
        self.problems: tuple[Problem, ...] = (Problem(loc, message, type, input),)

    @classmethod
    def of(cls, problems: Sequence[Problem]) -> InvalidInput:
        if not problems:
            raise ValueError("InvalidInput needs at least one problem")
        first = problems[0]
        error = cls(first.msg, loc=first.loc, input=first.input, type=first.type)
        error.problems = tuple(problems)
        return error

    @property
    def loc(self) -> tuple[str | int, ...]:
        return self.problems[0].loc


class PayloadTooLarge(BadRequest):
    status = 413
    code = "PAYLOAD_TOO_LARGE"


class Unauthenticated(HuddleError):
    """401. A client sees one message per category — missing, invalid, expired — since which
    check failed (the signature, the audience ...) helps whoever probes; that is `reason`,
    for the node's log only."""

    status = 401
    code = "AUTHENTICATION_FAILED"
    message_for_clients: ClassVar[str] = "Invalid credentials"

    def __init__(self, reason: str) -> None:
        super().__init__(self.message_for_clients)
        self.reason = reason


class CredentialsMissing(Unauthenticated):
    message_for_clients = "Authentication required"


class TokenExpired(Unauthenticated):
    code = "TOKEN_EXPIRED"
    message_for_clients = "Credentials expired"


class Forbidden(HuddleError):
    status = 403
    code = "FORBIDDEN"


class NotFound(HuddleError):
    status = 404
    code = "RESOURCE_NOT_FOUND"


class Conflict(HuddleError):
    status = 409
    code = "CONFLICT"


class LockHeld(Conflict):
    code = "LOCK_HELD"


class StaleFence(Conflict):
    code = "STALE_FENCING_TOKEN"


class AlreadyExists(Conflict):
    """A unique value is held by another record."""

    code = "ALREADY_EXISTS"


class NotEmptyConflict(Conflict):
    """A delete that would take other records with it, without the flag that allows it."""

    code = "NOT_EMPTY"


class LimitReached(Conflict):
    """A configured capacity is full (custom objects per workspace ...): retrying will not
    help until something is deleted."""

    code = "LIMIT_REACHED"


class DefinitionChanged(Conflict):
    """The definition a write was validated against changed before the write (a field added
    or removed meanwhile): re-read it and validate again."""

    code = "DEFINITION_CHANGED"


class EditLocked(HuddleError):
    """A write to an entity whose lock another user holds (DESIGN: Locks), naming the holder
    in `details`."""

    status = 423
    code = "LOCKED"


class TooManyRequests(HuddleError):
    """Over a limit of this node or connection: the same request later may succeed."""

    status = 429
    code = "TOO_MANY_REQUESTS"
    retryable = True


class RateLimited(TooManyRequests):
    code = "RATE_LIMITED"


class TooManyConnections(TooManyRequests):
    code = "TOO_MANY_CONNECTIONS"


class BackendUnavailable(HuddleError):
    status = 503
    code = "SERVICE_UNAVAILABLE"
    retryable = True


class ShuttingDown(HuddleError):
    """503: the node drains (SIGTERM); the same request succeeds on another node."""

    status = 503
    code = "SHUTTING_DOWN"
    retryable = True
