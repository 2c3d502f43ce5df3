"""When to come back after a connection ends, and whether to come back at all."""

from __future__ import annotations

import random
from dataclasses import dataclass, field

from ..protocol.close_codes import CloseCode
from .errors import AuthError, ClientClosed

#: Close codes that mean the credentials, not the connection, are the problem.
_AUTH_CODES = frozenset({CloseCode.INVALID_TOKEN, CloseCode.AUTH_REQUIRED})


@dataclass(frozen=True)
class Backoff:
    """Jittered exponential delays: attempt `n` waits between half and all of
    `min(cap, base * 2**n)` seconds ("equal jitter": never zero, never in lockstep with the
    other clients a restart disconnected at the same instant)."""

    base: float = 0.1
    cap: float = 5.0
    rng: random.Random = field(default_factory=random.Random, compare=False, repr=False)

    def __post_init__(self) -> None:
        if not 0 < self.base <= self.cap:
            raise ValueError(f"backoff needs 0 < base <= cap, got ({self.base}, {self.cap})")

    def delay(self, attempt: int) -> float:
        ceiling: float = min(self.cap, self.base * 2.0 ** min(attempt, 32))
        return ceiling / 2 + self.rng.uniform(0.0, ceiling / 2)


def may_reconnect(code: int) -> bool:
    """The rule of `CloseCode.reconnect`, for every code: 4000-4499 and the standard codes
    (1000-3999: a restart, a network drop, a proxy) say come back; 4500-4999 say stop."""
    try:
        return CloseCode(code).reconnect
    except ValueError:
        return code < 4500


def stop_error(
    code: int, reason: str, *, reconnect: bool, token_refreshable: bool
) -> ClientClosed | None:
    """None when the client should reconnect after a close with `code`; otherwise the error
    that stops it. An expired token is final unless the client can fetch a new one."""
    what = f"closed with {code}" + (f" ({reason})" if reason else "")
    if code in _AUTH_CODES:
        return AuthError(f"credentials refused: {what}", code)
    if code == CloseCode.AUTH_EXPIRED and not token_refreshable:
        return AuthError(f"token expired and no token source to renew it: {what}", code)
    if not may_reconnect(code):
        return ClientClosed(f"the server said not to reconnect: {what}", code)
    if not reconnect:
        return ClientClosed(f"connection {what}; reconnect=False", code)
    return None
