"""The memory backend's state: one `Store` shared by its facets, one `WorkspaceState` each.

Nothing here awaits. A facet operation reads the clock once, then calls only these synchronous
methods before it returns, so it is one indivisible step on the event loop: no other operation
can see it half done, and the events it emits reach the log and every subscriber in order
before any other operation runs.
"""

from __future__ import annotations

import heapq
import secrets
from collections import deque
from collections.abc import Iterable
from typing import TYPE_CHECKING, Any, Generic, TypeVar

from ..clock import Clock
from ..config import Settings
from ..errors import BackendUnavailable
from ..ids import EntityRef, WorkspaceKey
from ..models import (
    SYSTEM,
    Actor,
    ApiKeyRecord,
    Audience,
    Event,
    LeaveReason,
    Lock,
    PresenceSession,
)
from .subscriber import Subscriber

if TYPE_CHECKING:
    from .memory_records import CollectionState

K = TypeVar("K", str, EntityRef)


class Expiries(Generic[K]):
    """Due times of sessions or leases: earliest first, ties by key.

    Entries are never updated in place: a new expiry pushes a new entry, and the old one is
    recognised as stale when popped because it no longer matches the item's current expiry.
    `rebuild` drops the stale ones when they outnumber the live items.
    """

    __slots__ = ("_heap",)

    def __init__(self) -> None:
        self._heap: list[tuple[int, K]] = []

    def push(self, expires_at_ms: int, key: K) -> None:
        heapq.heappush(self._heap, (expires_at_ms, key))

    def pop_due(self, now_ms: int) -> tuple[int, K] | None:
        if self._heap and self._heap[0][0] <= now_ms:
            return heapq.heappop(self._heap)
        return None

    def bloated(self, live: int) -> bool:
        return len(self._heap) > 2 * live + 64

    def rebuild(self, entries: Iterable[tuple[int, K]]) -> None:
        self._heap = list(entries)
        heapq.heapify(self._heap)


class WorkspaceState:
    """Everything of one workspace: its log, sessions and leases, with their indexes, and its
    record collections (which are not presence or lock state: they never make it active)."""

    __slots__ = (
        "collections",
        "epoch",
        "events",
        "fencing",
        "head",
        "idempotency",
        "key",
        "lease_due",
        "leases",
        "leases_by_user",
        "session_due",
        "sessions",
        "sessions_by_user",
        "viewers",
    )

    def __init__(self, key: WorkspaceKey, log_length: int) -> None:
        self.key = key
        self.epoch = ""
        self.head = 0
        self.events: deque[Event] = deque(maxlen=log_length)
        # key -> (expires_at_ms, first event); insertion order is expiry order, so expired
        # keys are pruned from the front.
        self.idempotency: dict[str, tuple[int, Event]] = {}
        self.sessions: dict[str, PresenceSession] = {}
        self.viewers: dict[EntityRef, set[str]] = {}
        self.sessions_by_user: dict[str, set[str]] = {}
        self.session_due: Expiries[str] = Expiries()
        self.leases: dict[EntityRef, Lock] = {}
        self.leases_by_user: dict[str, set[EntityRef]] = {}
        self.lease_due: Expiries[EntityRef] = Expiries()
        self.fencing = 0
        self.collections: dict[str, CollectionState] = {}

    @property
    def idle(self) -> bool:
        return not self.sessions and not self.leases

    def put_session(self, session: PresenceSession) -> None:
        """Store a new or changed session, keeping the viewer index and due times in step."""
        sid = session.session_id
        old = self.sessions.get(sid)
        if old is not None and old.viewing != session.viewing:
            self._unview(old)
        if session.viewing is not None:
            self.viewers.setdefault(session.viewing, set()).add(sid)
        if old is None:
            self.sessions_by_user.setdefault(session.user_id, set()).add(sid)
        self.sessions[sid] = session
        if old is None or old.expires_at_ms != session.expires_at_ms:
            self.session_due.push(session.expires_at_ms, sid)
            if self.session_due.bloated(len(self.sessions)):
                self.session_due.rebuild(
                    (s.expires_at_ms, s.session_id) for s in self.sessions.values()
                )

    def remove_session(self, session: PresenceSession) -> None:
        del self.sessions[session.session_id]
        self._unview(session)
        mine = self.sessions_by_user.get(session.user_id)
        if mine is not None:
            mine.discard(session.session_id)
            if not mine:
                del self.sessions_by_user[session.user_id]

    def _unview(self, session: PresenceSession) -> None:
        if session.viewing is None:
            return
        ids = self.viewers.get(session.viewing)
        if ids is not None:
            ids.discard(session.session_id)
            if not ids:
                del self.viewers[session.viewing]

    def put_lease(self, lock: Lock) -> None:
        """Store a new or extended lease (an entity changes holder only through removal)."""
        old = self.leases.get(lock.entity)
        self.leases[lock.entity] = lock
        self.leases_by_user.setdefault(lock.user_id, set()).add(lock.entity)
        if old is None or old.expires_at_ms != lock.expires_at_ms:
            self.lease_due.push(lock.expires_at_ms, lock.entity)
            if self.lease_due.bloated(len(self.leases)):
                self.lease_due.rebuild((le.expires_at_ms, le.entity) for le in self.leases.values())

    def remove_lease(self, lock: Lock) -> None:
        del self.leases[lock.entity]
        entities = self.leases_by_user.get(lock.user_id)
        if entities is not None:
            entities.discard(lock.entity)
            if not entities:
                del self.leases_by_user[lock.user_id]

    def live_session(self, session_id: str, now_ms: int) -> PresenceSession | None:
        """The session if live, for reads: an expired one is skipped, not removed."""
        session = self.sessions.get(session_id)
        return session if session is not None and session.expires_at_ms > now_ms else None

    def live_lease(self, entity: EntityRef, now_ms: int) -> Lock | None:
        """The lease if live, for reads: an expired one is skipped, not removed."""
        lock = self.leases.get(entity)
        return lock if lock is not None and lock.expires_at_ms > now_ms else None


class Store:
    """The state of one memory backend, shared by its facets; gone when the process ends."""

    def __init__(self, settings: Settings, clock: Clock) -> None:
        self.settings = settings
        self.clock = clock
        self.workspaces: dict[WorkspaceKey, WorkspaceState] = {}
        # Kept apart from `workspaces` so subscribing to a workspace creates none of its state.
        self.subscribers: dict[WorkspaceKey, dict[Subscriber, None]] = {}
        self.active: dict[WorkspaceKey, None] = {}
        self.api_keys: dict[str, ApiKeyRecord] = {}
        self.api_keys_by_org: dict[str, dict[str, str]] = {}
        self.closed = False

    def check_open(self) -> None:
        if self.closed:
            raise BackendUnavailable("the memory backend is closed")

    def now(self) -> int:
        """The one time of an operation; every operation calls this first."""
        self.check_open()
        return self.clock.now_ms()

    def workspace(self, ws: WorkspaceKey) -> WorkspaceState:
        state = self.workspaces.get(ws)
        if state is None:
            state = self.workspaces[ws] = WorkspaceState(ws, self.settings.event_log_length)
        return state

    def emit(
        self,
        w: WorkspaceState,
        type_: str,
        actor: Actor | None,
        data: dict[str, Any],
        now: int,
        audience: Audience | None = None,
    ) -> Event:
        """Append one event to the workspace's log and hand it to every subscriber."""
        if not w.epoch:
            w.epoch = secrets.token_hex(4)
        w.head += 1
        event = Event(w.key, w.epoch, w.head, type_, actor, data, now, audience)
        w.events.append(event)
        self.fan_out(w.key, event)
        return event

    def fan_out(self, ws: WorkspaceKey, event: Event) -> None:
        """Hand `event` to every subscriber of `ws`; a full one is dropped (and lost)."""
        subscribers = self.subscribers.get(ws)
        if subscribers:
            lost = [sub for sub in subscribers if not sub.offer(event)]
            for sub in lost:
                del subscribers[sub]

    def settle(self, w: WorkspaceState) -> None:
        """Drop an idle workspace from the active index (its log and fencing counter stay)."""
        if w.idle:
            self.active.pop(w.key, None)

    # --- presence ------------------------------------------------------------------------

    def start_session(self, w: WorkspaceState, session: PresenceSession, now: int) -> None:
        """Store a new session (`presence.joined`; `user.online` when it is the user's only
        one, after their sessions whose time is up were ended)."""
        for sid in list(w.sessions_by_user.get(session.user_id, ())):
            self.meet_session(w, sid, now)
        first = session.user_id not in w.sessions_by_user
        w.put_session(session)
        self.active[w.key] = None
        actor = user_actor(session)
        self.emit(w, "presence.joined", actor, joined_data(session), now)
        if first:
            self.emit(w, "user.online", actor, _user(session), now)

    def end_session(
        self, w: WorkspaceState, session: PresenceSession, reason: LeaveReason, now: int
    ) -> None:
        w.remove_session(session)
        actor = user_actor(session) if reason == "leave" else SYSTEM
        self.emit(w, "presence.left", actor, {**_who(session), "reason": reason}, now)
        if session.user_id not in w.sessions_by_user:
            self.emit(w, "user.offline", actor, {**_user(session), "reason": reason}, now)
        self.settle(w)

    def meet_session(self, w: WorkspaceState, session_id: str, now: int) -> PresenceSession | None:
        """The session if live, for writes: an expired one is removed here, with its event."""
        session = w.sessions.get(session_id)
        if session is None or session.expires_at_ms > now:
            return session
        self.end_session(w, session, "timeout", now)
        return None

    def sweep_sessions(self, w: WorkspaceState, limit: int, now: int) -> int:
        swept = 0
        while swept < limit and (due := w.session_due.pop_due(now)) is not None:
            expires_at_ms, sid = due
            session = w.sessions.get(sid)
            if session is not None and session.expires_at_ms == expires_at_ms:
                self.end_session(w, session, "timeout", now)
                swept += 1
        return swept

    # --- locks ---------------------------------------------------------------------------

    def grant_lease(self, w: WorkspaceState, lock: Lock, now: int) -> None:
        w.put_lease(lock)
        self.active[w.key] = None
        self.emit(w, "lock.acquired", user_actor(lock), lease_data(lock), now, lock.audience)

    def end_lease(
        self,
        w: WorkspaceState,
        lock: Lock,
        type_: str,
        actor: Actor,
        now: int,
        extra: dict[str, Any] | None = None,
    ) -> None:
        w.remove_lease(lock)
        data = {
            "entity_type": lock.entity.type,
            "entity_id": lock.entity.id,
            "user_id": lock.user_id,
            "name": lock.name,
            "fencing_token": lock.token,
        }
        self.emit(w, type_, actor, data | (extra or {}), now, lock.audience)
        self.settle(w)

    def meet_lease(self, w: WorkspaceState, entity: EntityRef, now: int) -> Lock | None:
        """The lease if live, for writes: an expired one is removed here, with its event."""
        lock = w.leases.get(entity)
        if lock is None or lock.expires_at_ms > now:
            return lock
        self.end_lease(w, lock, "lock.expired", SYSTEM, now)
        return None

    def sweep_leases(self, w: WorkspaceState, limit: int, now: int) -> int:
        swept = 0
        while swept < limit and (due := w.lease_due.pop_due(now)) is not None:
            expires_at_ms, entity = due
            lock = w.leases.get(entity)
            if lock is not None and lock.expires_at_ms == expires_at_ms:
                self.end_lease(w, lock, "lock.expired", SYSTEM, now)
                swept += 1
        return swept


def user_actor(of: PresenceSession | Lock) -> Actor:
    return Actor("user", of.user_id, of.name)


def _who(session: PresenceSession) -> dict[str, Any]:
    return {"session_id": session.session_id, "user_id": session.user_id, "name": session.name}


def _user(session: PresenceSession) -> dict[str, Any]:
    return {"user_id": session.user_id, "name": session.name}


def joined_data(session: PresenceSession) -> dict[str, Any]:
    return {**_who(session), "kind": session.kind}


def viewing_data(session: PresenceSession, previous: EntityRef | None) -> dict[str, Any]:
    viewing = session.viewing
    return {
        **_who(session),
        "resource_type": None if viewing is None else viewing.type,
        "resource_id": None if viewing is None else viewing.id,
        "previous": (
            None
            if previous is None
            else {"resource_type": previous.type, "resource_id": previous.id}
        ),
    }


def lease_data(lock: Lock) -> dict[str, Any]:
    """The data of `lock.acquired` and `lock.refreshed`."""
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
