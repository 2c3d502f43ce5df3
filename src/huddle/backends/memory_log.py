"""The memory backend's event log: a ring buffer per workspace and asyncio fan-out."""

from __future__ import annotations

from collections import deque
from collections.abc import AsyncIterator
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from itertools import islice

from ..ids import WorkspaceKey
from ..models import Event, EventDraft, LogSlice
from .base import Subscription
from .memory_state import Store, WorkspaceState
from .subscriber import Subscriber


class MemoryEventLog:
    def __init__(self, store: Store) -> None:
        self._store = store
        self._window_ms = round(store.settings.idempotency_window * 1000)

    async def publish(self, ws: WorkspaceKey, draft: EventDraft) -> Event:
        store = self._store
        now = store.now()
        w = store.workspace(ws)
        key = draft.idempotency_key
        if key is None:
            return store.emit(w, draft.type, draft.actor, dict(draft.data), now, draft.audience)
        _forget_expired_keys(w, now)
        first = w.idempotency.get(key)
        if first is not None:
            if first[0] > now:
                return first[1]
            # Expired but not yet pruned (the clock stepped back): re-added at the end below.
            del w.idempotency[key]
        event = store.emit(w, draft.type, draft.actor, dict(draft.data), now, draft.audience)
        w.idempotency[key] = (now + self._window_ms, event)
        return event

    async def broadcast(self, ws: WorkspaceKey, draft: EventDraft) -> Event:
        store = self._store
        store.check_open()
        w = store.workspaces.get(ws)
        epoch = w.epoch if w else ""
        data = dict(draft.data)
        event = Event(ws, epoch, 0, draft.type, draft.actor, data, store.now(), draft.audience)
        store.fan_out(ws, event)
        return event

    async def read(self, ws: WorkspaceKey, after: int, limit: int) -> LogSlice:
        self._store.check_open()
        w = self._store.workspaces.get(ws)
        if w is None:
            return LogSlice(epoch="", head=0, oldest=1, events=())
        events = w.events
        oldest = events[0].seq if events else w.head + 1
        start = max(0, after + 1 - oldest)
        count = min(limit, len(events) - start)
        page = _page(events, start, count) if count > 0 else ()
        return LogSlice(epoch=w.epoch, head=w.head, oldest=oldest, events=page)

    def subscribe(self, ws: WorkspaceKey) -> AbstractAsyncContextManager[Subscription]:
        return self._subscription(ws)

    @asynccontextmanager
    async def _subscription(self, ws: WorkspaceKey) -> AsyncIterator[Subscriber]:
        # Registered before the first suspension point of `__aenter__`, so nothing published
        # after entering the context can be missed.
        store = self._store
        store.check_open()
        subscriber = Subscriber(store.settings.subscriber_queue_limit)
        store.subscribers.setdefault(ws, {})[subscriber] = None
        try:
            yield subscriber
        finally:
            subscribers = store.subscribers.get(ws)
            if subscribers is not None:
                subscribers.pop(subscriber, None)
                if not subscribers:
                    del store.subscribers[ws]
            subscriber.lose("the subscription was closed")


def _forget_expired_keys(w: WorkspaceState, now: int) -> None:
    keys = w.idempotency
    while keys:
        key, (expires_at_ms, _) = next(iter(keys.items()))
        if expires_at_ms > now:
            return
        del keys[key]


def _page(events: deque[Event], start: int, count: int) -> tuple[Event, ...]:
    """`events[start:start + count]`, walking the deque from whichever end is nearer."""
    from_end = len(events) - start - count
    if start <= from_end:
        return tuple(islice(events, start, start + count))
    return tuple(reversed(list(islice(reversed(events), from_end, from_end + count))))
