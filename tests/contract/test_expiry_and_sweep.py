"""Expiry: reads hide what expired; sweep or a later write removes it with exactly one event.

Redis scripts read Redis `TIME`, so these tests run on real time on both backends: short
TTLs, then they wait (through reads, which never return what expired) until the store's own
clock has passed the expiry, and only then act.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable

import pytest

from huddle.backends.base import Backend
from huddle.ids import EntityRef
from huddle.models import SYSTEM, Granted, Holder, Lock, NotHeld, PresenceSession, SweepResult
from tests.support.backends import BackendFactory
from tests.support.contract import (
    ADMIN,
    ANA,
    BEN,
    DEAL,
    DOC1,
    DOC2,
    LONG_MS,
    OTHER_WS,
    SHORT_MS,
    WS,
    lock_end_data,
    log_of,
    session,
    types_of,
    until_lock_expired,
    until_session_expired,
)

BATCH = 100


async def expired_lock(backend: Backend, entity: EntityRef = DOC1, holder: Holder = ANA) -> Lock:
    """A lease granted with a short TTL, returned once the store's clock has passed it."""
    result = await backend.locks.acquire(WS, entity, holder, SHORT_MS)
    assert isinstance(result, Granted)
    await until_lock_expired(backend, [entity])
    return result.lock


async def expired_session(
    backend: Backend, sid: str = "s-ana", viewing: EntityRef | None = DOC1
) -> PresenceSession:
    """A session joined (viewing `viewing`) with a short TTL, returned once it has expired."""
    joined = await backend.presence.view(WS, session(ANA, sid), viewing, SHORT_MS)
    await until_session_expired(backend, [sid])
    return joined.session


def left_timeout(s: PresenceSession) -> dict[str, object]:
    return {"session_id": s.session_id, "user_id": s.user_id, "name": s.name, "reason": "timeout"}


# --- reads hide what expired -----------------------------------------------------------------


async def test_reads_never_return_an_expired_lease(backend: Backend) -> None:
    """Once expired, a lease is absent from get, held_by and viewers, before any sweep."""
    await expired_lock(backend)

    assert await backend.locks.get(WS, [DOC1]) == [None]
    assert await backend.locks.held_by(WS, "ana") == []
    [entity] = await backend.presence.viewers(WS, [DOC1])
    assert entity.lock is None


async def test_reads_never_return_an_expired_session(backend: Backend) -> None:
    """Once expired, a session is absent from get, roster and viewers, before any sweep."""
    await expired_session(backend)

    assert await backend.presence.get(WS, "s-ana") is None
    assert await backend.presence.roster(WS) == []
    [entity] = await backend.presence.viewers(WS, [DOC1])
    assert entity.sessions == ()


async def test_reads_emit_no_expiry_events(backend: Backend) -> None:
    """Reading an expired session or lease is not a write: the log does not grow."""
    await expired_lock(backend)
    await expired_session(backend)
    await backend.locks.get(WS, [DOC1])
    await backend.locks.held_by(WS, "ana")
    await backend.presence.viewers(WS, [DOC1])
    await backend.presence.roster(WS)
    assert await types_of(backend) == ["lock.acquired", "presence.joined", "presence.viewing"]


# --- sweep -----------------------------------------------------------------------------------


async def test_sweep_expires_a_lease_with_one_lock_expired_event(backend: Backend) -> None:
    """sweep removes an expired lease and emits lock.expired with the lease's fields, once."""
    lock = await expired_lock(backend)

    result = await backend.sweep(WS, BATCH)
    assert (result.sessions_expired, result.locks_expired) == (0, 1)
    assert (await backend.sweep(WS, BATCH)).locks_expired == 0
    events = await log_of(backend)
    assert [e.type for e in events] == ["lock.acquired", "lock.expired"]
    assert events[1].data == lock_end_data(lock)


async def test_sweep_expires_a_session_with_one_left_timeout_event(backend: Backend) -> None:
    """sweep removes an expired session and emits presence.left (reason timeout), once."""
    expired = await expired_session(backend)

    result = await backend.sweep(WS, BATCH)
    assert (result.sessions_expired, result.locks_expired) == (1, 0)
    assert (await backend.sweep(WS, BATCH)).sessions_expired == 0
    events = await log_of(backend)
    assert [e.type for e in events] == ["presence.joined", "presence.viewing", "presence.left"]
    assert events[2].data == left_timeout(expired)


async def test_expiry_events_are_by_the_system(backend: Backend) -> None:
    """lock.expired and presence.left (timeout) have Huddle itself as actor, not the user."""
    await expired_lock(backend)
    await expired_session(backend)
    await backend.sweep(WS, BATCH)

    events = await log_of(backend)
    assert {e.actor for e in events if e.type in ("lock.expired", "presence.left")} == {SYSTEM}


async def test_sweep_leaves_live_sessions_and_leases_alone(backend: Backend) -> None:
    """Only what expired is swept; live state stays, and the workspace is not idle."""
    live_lock = await backend.locks.acquire(WS, DOC2, BEN, LONG_MS)
    live = await backend.presence.join(WS, session(BEN), LONG_MS)
    await expired_lock(backend)
    await expired_session(backend)

    result = await backend.sweep(WS, BATCH)
    assert result == SweepResult(sessions_expired=1, locks_expired=1, idle=False)
    assert isinstance(live_lock, Granted)
    assert await backend.locks.get(WS, [DOC2]) == [live_lock.lock]
    assert await backend.presence.get(WS, "s-ben") == live.session


async def test_sweep_handles_at_most_limit_of_each_per_call(backend: Backend) -> None:
    """sweep(limit) removes up to `limit` sessions and up to `limit` leases per call."""
    for i in range(5):
        await backend.presence.join(WS, session(ANA, f"s-{i}"), SHORT_MS)
        await backend.locks.acquire(WS, EntityRef("doc", str(i)), ANA, SHORT_MS)
    await until_session_expired(backend, [f"s-{i}" for i in range(5)])
    await until_lock_expired(backend, [EntityRef("doc", str(i)) for i in range(5)])

    counts = []
    for _ in range(4):
        result = await backend.sweep(WS, 2)
        counts.append((result.sessions_expired, result.locks_expired))
    assert counts == [(2, 2), (2, 2), (1, 1), (0, 0)]
    types = await types_of(backend)
    assert types.count("presence.left") == 5
    assert types.count("lock.expired") == 5


async def test_a_swept_empty_workspace_is_idle(backend: Backend) -> None:
    """When nothing is left (all expired and swept), sweep reports the workspace idle."""
    await expired_lock(backend)
    await expired_session(backend)
    assert await backend.sweep(WS, BATCH) == SweepResult(1, 1, idle=True)
    assert await backend.sweep(WS, BATCH) == SweepResult(0, 0, idle=True)


async def test_sweeping_an_untouched_workspace_changes_nothing(backend: Backend) -> None:
    """A sweep of a workspace with no state expires nothing, is idle and creates no log."""
    assert await backend.sweep(WS, BATCH) == SweepResult(0, 0, idle=True)
    page = await backend.log.read(WS, 0, 10)
    assert (page.epoch, page.head) == ("", 0)


@pytest.mark.parametrize("nodes", ["one node", "two nodes"])
async def test_concurrent_sweeps_emit_exactly_one_event_per_expiry(
    make_backend: BackendFactory, nodes: str
) -> None:
    """Two sweeps at once (one client, or two clients of one store) emit one event per expiry."""
    backend = await make_backend.open()
    other = backend if nodes == "one node" else await make_backend.twin(backend)
    entities = [DOC1, DOC2, DEAL]
    for i, entity in enumerate(entities):
        await backend.presence.join(WS, session(ANA, f"s-{i}"), SHORT_MS)
        await backend.locks.acquire(WS, entity, ANA, SHORT_MS)
    await until_session_expired(backend, [f"s-{i}" for i in range(3)])
    await until_lock_expired(backend, entities)

    results = await asyncio.gather(
        backend.sweep(WS, BATCH), other.sweep(WS, BATCH), backend.sweep(WS, BATCH)
    )
    assert sum(r.sessions_expired for r in results) == 3
    assert sum(r.locks_expired for r in results) == 3
    events = await log_of(backend)
    left = [e.data["session_id"] for e in events if e.type == "presence.left"]
    expired = [e.data["entity_id"] for e in events if e.type == "lock.expired"]
    assert sorted(left) == ["s-0", "s-1", "s-2"]
    assert sorted(expired) == sorted(e.id for e in entities)


# --- a write meets the expiry first ------------------------------------------------------------

LockWrite = Callable[[Backend], Awaitable[object]]


async def _acquire_by_other(backend: Backend) -> object:
    return await backend.locks.acquire(WS, DOC1, BEN, LONG_MS)


async def _acquire_by_holder(backend: Backend) -> object:
    return await backend.locks.acquire(WS, DOC1, ANA, LONG_MS)


async def _refresh(backend: Backend) -> object:
    return await backend.locks.refresh(WS, DOC1, "ana", LONG_MS)


async def _release(backend: Backend) -> object:
    return await backend.locks.release(WS, DOC1, "ana")


async def _force_release(backend: Backend) -> object:
    return await backend.locks.force_release(WS, DOC1, ADMIN)


@pytest.mark.parametrize(
    ("write", "then"),
    [
        (_acquire_by_other, ["lock.acquired"]),
        (_acquire_by_holder, ["lock.acquired"]),
        (_refresh, []),
        (_release, []),
        (_force_release, []),
    ],
    ids=["acquire-by-other", "acquire-by-holder", "refresh", "release", "force-release"],
)
async def test_a_write_on_an_expired_lease_emits_lock_expired_before_its_own_event(
    backend: Backend, write: LockWrite, then: list[str]
) -> None:
    """A write meeting an expired lease emits lock.expired first; a later sweep finds nothing."""
    lock = await expired_lock(backend)

    result = await write(backend)

    events = await log_of(backend)
    assert [e.type for e in events] == ["lock.acquired", "lock.expired", *then]
    assert events[1].data == lock_end_data(lock)
    if then:
        assert isinstance(result, Granted)
        assert result.fresh is True, "an expired lease is free: the grant is a new one"
        assert result.lock.token > lock.token
    else:
        assert result == NotHeld()
    assert (await backend.sweep(WS, BATCH)).locks_expired == 0
    assert len(await log_of(backend)) == len(events)


async def test_a_join_on_an_expired_session_emits_left_then_joined(backend: Backend) -> None:
    """join of an expired session: presence.left (timeout), then presence.joined; new=True."""
    expired = await expired_session(backend)

    joined = await backend.presence.join(WS, session(ANA), LONG_MS)

    assert joined.new is True
    assert joined.session.viewing is None
    events = await log_of(backend)
    assert [e.type for e in events] == [
        "presence.joined",
        "presence.viewing",
        "presence.left",
        "presence.joined",
    ]
    assert events[2].data == left_timeout(expired)
    assert (await backend.sweep(WS, BATCH)).sessions_expired == 0
    assert len(await log_of(backend)) == 4


async def test_a_view_on_an_expired_session_emits_left_joined_viewing(backend: Backend) -> None:
    """view of an expired session: presence.left (timeout), presence.joined, presence.viewing."""
    expired = await expired_session(backend, viewing=DOC1)

    joined = await backend.presence.view(WS, session(ANA), DOC2, LONG_MS)

    assert joined.new is True
    events = await log_of(backend, after=3)  # after joined, user.online, viewing
    assert [e.type for e in events] == ["presence.left", "presence.joined", "presence.viewing"]
    assert events[0].data == left_timeout(expired)
    assert events[2].data["previous"] is None, "the new session viewed nothing before"
    assert (await backend.sweep(WS, BATCH)).sessions_expired == 0


async def test_a_leave_on_an_expired_session_emits_only_left_timeout(backend: Backend) -> None:
    """leave of an expired session answers False; the only event is presence.left (timeout)."""
    expired = await expired_session(backend)

    assert await backend.presence.leave(WS, "s-ana") is False

    events = await log_of(backend, after=3)  # after joined, user.online, viewing
    assert [e.data for e in events] == [left_timeout(expired)]
    assert (await backend.sweep(WS, BATCH)).sessions_expired == 0


async def test_touch_does_not_revive_an_expired_session(backend: Backend) -> None:
    """touch names an expired session, which stays gone and leaves exactly once."""
    await expired_session(backend)

    assert await backend.presence.touch(WS, ["s-ana"], LONG_MS) == ["s-ana"]
    assert await backend.presence.get(WS, "s-ana") is None
    await backend.sweep(WS, BATCH)
    assert (await types_of(backend)).count("presence.left") == 1


# --- what expiry leaves behind ------------------------------------------------------------------


@pytest.mark.parametrize("path", ["sweep", "write"])
async def test_an_expired_viewer_is_not_a_viewer_of_anything_after_rejoining(
    backend: Backend, path: str
) -> None:
    """A session that expired while viewing, then joined again, views nothing until it says."""
    await expired_session(backend, viewing=DOC1)
    if path == "sweep":
        await backend.sweep(WS, BATCH)
    rejoined = await backend.presence.join(WS, session(ANA), LONG_MS)

    assert rejoined.session.viewing is None
    [doc1] = await backend.presence.viewers(WS, [DOC1])
    assert doc1.sessions == ()
    await backend.presence.view(WS, session(ANA), DOC2, LONG_MS)
    doc1, doc2 = await backend.presence.viewers(WS, [DOC1, DOC2])
    assert (doc1.sessions, [s.session_id for s in doc2.sessions]) == ((), ["s-ana"])


@pytest.mark.parametrize("path", ["sweep", "write"])
async def test_an_expired_lease_leaves_its_holders_list(backend: Backend, path: str) -> None:
    """Once a lease expired and another user took the entity, only the new holder lists it."""
    await expired_lock(backend, DOC1, ANA)
    if path == "sweep":
        await backend.sweep(WS, BATCH)

    taken = await backend.locks.acquire(WS, DOC1, BEN, LONG_MS)

    assert isinstance(taken, Granted)
    assert await backend.locks.held_by(WS, "ana") == []
    assert await backend.locks.held_by(WS, "ben") == [taken.lock]
    [entity] = await backend.presence.viewers(WS, [DOC1])
    assert entity.lock == taken.lock


# --- active workspaces -----------------------------------------------------------------------


async def test_active_workspaces_include_every_workspace_with_sessions_or_locks(
    backend: Backend,
) -> None:
    """A workspace with a live session, or only a live lease, is listed."""
    await backend.presence.join(WS, session(ANA), LONG_MS)
    await backend.locks.acquire(OTHER_WS, DOC1, BEN, LONG_MS)

    active = await backend.active_workspaces()
    assert {WS, OTHER_WS} <= set(active)


async def test_active_workspaces_include_a_workspace_whose_state_expired_unswept(
    backend: Backend,
) -> None:
    """Expired but unswept state keeps a workspace listed, so a sweeper will find it."""
    await expired_session(backend)
    await backend.locks.acquire(OTHER_WS, DOC1, BEN, SHORT_MS)
    await until_lock_expired(backend, [DOC1], OTHER_WS)

    assert {WS, OTHER_WS} <= set(await backend.active_workspaces())
    assert (await backend.sweep(WS, BATCH)).sessions_expired == 1
    assert (await backend.sweep(OTHER_WS, BATCH)).locks_expired == 1


async def test_sweeping_every_active_workspace_finds_every_expiry(backend: Backend) -> None:
    """What a sweeper does: sweep each active workspace; every expiry gets its event."""
    await expired_session(backend)
    await backend.presence.join(OTHER_WS, session(BEN), SHORT_MS)
    await until_session_expired(backend, ["s-ben"], OTHER_WS)

    total = 0
    for ws in await backend.active_workspaces():
        total += (await backend.sweep(ws, BATCH)).sessions_expired
    assert total == 2
    assert (await types_of(backend)).count("presence.left") == 1
    assert (await types_of(backend, OTHER_WS)).count("presence.left") == 1
