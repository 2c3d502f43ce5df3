"""Names and small readers shared by the contract suite (`tests/contract/`).

Everything here goes through the public contract of `huddle.backends.base`; nothing peeks into
an implementation, so the same helpers serve memory:// and redis://.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from typing import Any, Final

from huddle.backends.base import Backend
from huddle.ids import EntityRef, OrgId, WorkspaceId, WorkspaceKey
from huddle.models import Actor, Event, EventDraft, Holder, Lock, SessionInfo
from tests.support.waiting import wait_until

WS: Final = WorkspaceKey(OrgId("acme"), WorkspaceId("ws1"))
#: Same org, a workspace id that starts like WS's: nothing may be matched by prefix.
OTHER_WS: Final = WorkspaceKey(OrgId("acme"), WorkspaceId("ws10"))
#: Another org with the same workspace id: tenancy is the pair, never the workspace id alone.
OTHER_ORG_WS: Final = WorkspaceKey(OrgId("globex"), WorkspaceId("ws1"))
#: Where `backend_now` probes the backend's clock; no test asserts anything about it.
CLOCK_WS: Final = WorkspaceKey(OrgId("clock"), WorkspaceId("probe"))

DOC1: Final = EntityRef("doc", "1")
DOC2: Final = EntityRef("doc", "2")
DEAL: Final = EntityRef("deal", "9")

ANA: Final = Holder("ana", "Ana", "s-ana")
BEN: Final = Holder("ben", "Ben", "s-ben")
CARA: Final = Holder("cara", "Cara", "s-cara")

ANA_ACTOR: Final = Actor("user", "ana", "Ana")
ADMIN: Final = Actor("user", "root", "Root")
SERVICE: Final = Actor("service", "crm-sync", None)

LONG_MS: Final = 600_000
"""A TTL nothing in a test outlives."""
SHORT_MS: Final = 250
"""A TTL a test waits out (in the store's own clock) to observe expiry."""
EXPIRY_WAIT: Final = 10.0
"""Seconds a test waits at most for a SHORT_MS lease or session to expire."""
CLOCK_SKEW_MS: Final = 2_000
"""How far the store's clock (Redis TIME, same machine) may be from this process's."""


def session(holder: Holder, session_id: str | None = None, **changes: Any) -> SessionInfo:
    """The presence identity matching a lock holder (its session id unless one is given)."""
    values: dict[str, Any] = {
        "session_id": session_id or holder.session_id,
        "user_id": holder.user_id,
        "name": holder.name,
    }
    values.update(changes)
    return SessionInfo(**values)


def draft(
    type_: str = "note.added",
    data: dict[str, Any] | None = None,
    *,
    actor: Actor | None = ANA_ACTOR,
    key: str | None = None,
) -> EventDraft:
    return EventDraft(type=type_, data=data or {}, actor=actor, idempotency_key=key)


def wall_ms() -> int:
    return time.time_ns() // 1_000_000


USER_EVENTS: Final = ("user.online", "user.offline")


async def log_of(
    backend: Backend, ws: WorkspaceKey = WS, after: int = 0, *, with_users: bool = False
) -> list[Event]:
    """Every retained event of `ws` after `after`, oldest first (the log is the truth).

    Without `with_users`, the per-user transitions (`user.online`, `user.offline`) are left
    out: they follow a user's first joined and last left session wherever presence is used,
    and tests/contract/test_user_presence.py checks them; the other tests read the events
    of their own subject."""
    events: list[Event] = []
    while True:
        page = await backend.log.read(ws, after, 500)
        events.extend(e for e in page.events if with_users or e.type not in USER_EVENTS)
        if not page.events:
            return events
        after = page.events[-1].seq


async def types_of(backend: Backend, ws: WorkspaceKey = WS, after: int = 0) -> list[str]:
    return [event.type for event in await log_of(backend, ws, after)]


async def head_of(backend: Backend, ws: WorkspaceKey = WS) -> int:
    return (await backend.log.read(ws, 0, 1)).head


async def backend_now(backend: Backend) -> int:
    """The store's current time (Redis TIME, or the memory backend's clock), in epoch ms.

    Read through the contract: refreshing a live session sets its expiry to now + ttl.
    """
    probe = SessionInfo("clock-probe", "clock", None)
    joined = await backend.presence.join(CLOCK_WS, probe, LONG_MS)
    return joined.session.expires_at_ms - LONG_MS


async def advance_past(backend: Backend, instant_ms: int) -> None:
    """Return once the store's clock reads later than `instant_ms`."""

    async def later() -> bool:
        return await backend_now(backend) > instant_ms

    await wait_until(later, what=f"the store's clock to pass {instant_ms}")


async def until_lock_expired(
    backend: Backend, entities: Sequence[EntityRef], ws: WorkspaceKey = WS
) -> None:
    """Return once no read shows a live lease on any of `entities` (their leases expired)."""

    async def gone() -> bool:
        return all(lock is None for lock in await backend.locks.get(ws, entities))

    await wait_until(gone, within=EXPIRY_WAIT, what=f"the leases on {entities} to expire")


async def until_session_expired(
    backend: Backend, session_ids: Sequence[str], ws: WorkspaceKey = WS
) -> None:
    """Return once no read shows any of `session_ids` live (their sessions expired)."""

    async def gone() -> bool:
        return all([await backend.presence.get(ws, sid) is None for sid in session_ids])

    await wait_until(gone, within=EXPIRY_WAIT, what=f"the sessions {session_ids} to expire")


def lock_data(lock: Lock) -> dict[str, Any]:
    """The data of `lock.acquired` / `lock.refreshed` for this lease (the table in base.py)."""
    return {
        "entity_type": lock.entity.type,
        "entity_id": lock.entity.id,
        "user_id": lock.user_id,
        "name": lock.name,
        "session_id": lock.session_id,
        "fencing_token": lock.token,
        "acquired_at_ms": lock.acquired_at_ms,
        "expires_at_ms": lock.expires_at_ms,
    }


def lock_end_data(lock: Lock, **extra: Any) -> dict[str, Any]:
    """The data of `lock.released` / `lock.expired` (plus `released_by` when forced)."""
    return {
        "entity_type": lock.entity.type,
        "entity_id": lock.entity.id,
        "user_id": lock.user_id,
        "name": lock.name,
        "fencing_token": lock.token,
        **extra,
    }
