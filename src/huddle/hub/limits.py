"""Connection limits of one node, and the publish budget of one connection.

The counts belong to the node (`node.limits`), never to a module, so every app counts its own.
A connection holds a `Slot` while it is open; leaving the `with` block (or `release`) frees it.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Literal

from ..errors import TooManyConnections

Transport = Literal["ws", "sse"]
UserKey = tuple[str, str]
"""(org_id, user_id): user ids are only unique within an organisation."""


class Slot:
    """One admitted connection. `release` frees it once; later calls do nothing."""

    __slots__ = ("_held", "_limits", "_transport", "_user")

    def __init__(self, limits: ConnectionLimits, transport: Transport, user: UserKey) -> None:
        self._limits = limits
        self._transport = transport
        self._user = user
        self._held = True

    def release(self) -> None:
        if self._held:
            self._held = False
            self._limits._free(self._transport, self._user)

    def __enter__(self) -> Slot:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.release()


class ConnectionLimits:
    """Live WebSocket connections and SSE streams of this node, per transport and per user.

    WebSocket: at most `ws_max` on the node and `ws_max_per_user` per user. SSE: at most
    `sse_max_per_user` streams per user (per node: a user's streams on other nodes are theirs).
    """

    def __init__(self, *, ws_max: int, ws_max_per_user: int, sse_max_per_user: int) -> None:
        self._node_max: dict[Transport, int | None] = {"ws": ws_max, "sse": None}
        self._user_max: dict[Transport, int] = {"ws": ws_max_per_user, "sse": sse_max_per_user}
        self._total: dict[Transport, int] = {"ws": 0, "sse": 0}
        self._per_user: dict[tuple[Transport, UserKey], int] = {}

    def count(self, transport: Transport) -> int:
        """Open connections of `transport` on this node."""
        return self._total[transport]

    def admit(self, transport: Transport, user: UserKey) -> Slot:
        """Count one more connection of `user`, or raise `TooManyConnections` (429, details
        `{"limit"}`) and count nothing."""
        name = "WebSocket connections" if transport == "ws" else "SSE streams"
        node_max = self._node_max[transport]
        if node_max is not None and self._total[transport] >= node_max:
            raise TooManyConnections(
                f"this node serves at most {node_max} {name}; retry later or elsewhere",
                details={"limit": node_max},
            )
        user_max = self._user_max[transport]
        key = (transport, user)
        held = self._per_user.get(key, 0)
        if held >= user_max:
            raise TooManyConnections(
                f"at most {user_max} {name} per user on this node", details={"limit": user_max}
            )
        self._per_user[key] = held + 1
        self._total[transport] += 1
        return Slot(self, transport, user)

    def _free(self, transport: Transport, user: UserKey) -> None:
        key = (transport, user)
        left = self._per_user.get(key, 0) - 1
        if left > 0:
            self._per_user[key] = left
        else:
            self._per_user.pop(key, None)
        self._total[transport] -= 1


class TokenBucket:
    """`rate` tokens per second, holding at most `max(1, rate)`: a client may burst one
    second's worth, then goes at `rate`. Not thread-safe (one connection, one task)."""

    __slots__ = ("_capacity", "_now", "_rate", "_stamp", "_tokens")

    def __init__(self, rate: float, *, now: Callable[[], float] = time.monotonic) -> None:
        self._rate = rate
        self._capacity = max(1.0, rate)
        self._tokens = self._capacity
        self._now = now
        self._stamp = now()

    def take(self) -> bool:
        """Spend one token: False (and nothing spent) when none is left."""
        self._refill()
        if self._tokens < 1.0:
            return False
        self._tokens -= 1.0
        return True

    def full(self) -> bool:
        """True when the bucket is as if new: forgetting it changes nothing."""
        self._refill()
        return self._tokens >= self._capacity

    def _refill(self) -> None:
        now = self._now()
        self._tokens = min(self._capacity, self._tokens + (now - self._stamp) * self._rate)
        self._stamp = now


class PublishBudgets:
    """One `TokenBucket` per user for publishes over REST, where no connection holds one.

    At most `max_users` buckets are kept: past that, full buckets (users who have not
    published for a second or more) are forgotten, which changes nothing; if every bucket is
    in use, the older half goes (those users get a fresh second's worth)."""

    def __init__(self, rate: float, *, max_users: int = 10_000) -> None:
        self._rate = rate
        self._max_users = max_users
        self._buckets: dict[UserKey, TokenBucket] = {}

    def take(self, user: UserKey) -> bool:
        bucket = self._buckets.get(user)
        if bucket is None:
            if len(self._buckets) >= self._max_users:
                self._forget()
            bucket = self._buckets[user] = TokenBucket(self._rate)
        return bucket.take()

    def _forget(self) -> None:
        self._buckets = {user: b for user, b in self._buckets.items() if not b.full()}
        if len(self._buckets) >= self._max_users:
            keep = list(self._buckets.items())[len(self._buckets) // 2 :]
            self._buckets = dict(keep)
