"""Tenancy: nothing of one workspace is seen, changed or counted in another."""

from __future__ import annotations

from huddle.backends.base import Backend
from huddle.models import Granted
from tests.support.contract import (
    ADMIN,
    ANA,
    BEN,
    DOC1,
    LONG_MS,
    OTHER_ORG_WS,
    OTHER_WS,
    SHORT_MS,
    WS,
    draft,
    head_of,
    log_of,
    session,
    until_session_expired,
)

WORKSPACES = (WS, OTHER_WS, OTHER_ORG_WS)


async def test_each_workspace_has_its_own_log_and_offsets(backend: Backend) -> None:
    """Events land only in their workspace's log, whose offsets start at 1."""
    for n, ws in enumerate(WORKSPACES, start=1):
        for i in range(n):
            await backend.log.publish(ws, draft(data={"ws": ws.tag, "i": i}))

    for n, ws in enumerate(WORKSPACES, start=1):
        events = await log_of(backend, ws)
        assert [e.seq for e in events] == list(range(1, n + 1))
        assert {e.workspace for e in events} == {ws}
        assert {e.data["ws"] for e in events} == {ws.tag}


async def test_the_same_entity_locks_independently_per_workspace(backend: Backend) -> None:
    """A lease on an entity in one workspace neither blocks nor shows in another."""
    for ws, holder in ((WS, ANA), (OTHER_WS, BEN), (OTHER_ORG_WS, BEN)):
        result = await backend.locks.acquire(ws, DOC1, holder, LONG_MS)
        assert isinstance(result, Granted)
        assert result.fresh is True

    assert [lock.user_id for lock in await backend.locks.held_by(WS, "ana")] == ["ana"]
    assert await backend.locks.held_by(OTHER_WS, "ana") == []
    assert await backend.locks.held_by(WS, "ben") == []
    [theirs] = await backend.locks.get(OTHER_ORG_WS, [DOC1])
    assert theirs is not None
    assert theirs.user_id == "ben"

    await backend.locks.force_release(OTHER_WS, DOC1, ADMIN)
    [mine] = await backend.locks.get(WS, [DOC1])
    assert mine is not None
    assert mine.user_id == "ana"
    assert [e.type for e in await log_of(backend, WS)] == ["lock.acquired"]


async def test_the_same_session_id_is_a_different_session_per_workspace(
    backend: Backend,
) -> None:
    """Presence is per workspace: joining, viewing or leaving one leaves the others alone."""
    for ws in WORKSPACES:
        assert (await backend.presence.view(ws, session(ANA), DOC1, LONG_MS)).new is True

    assert await backend.presence.leave(OTHER_WS, "s-ana") is True
    assert [s.session_id for s in await backend.presence.roster(WS)] == ["s-ana"]
    assert await backend.presence.roster(OTHER_WS) == []
    [entity] = await backend.presence.viewers(OTHER_ORG_WS, [DOC1])
    assert [s.session_id for s in entity.sessions] == ["s-ana"]
    assert await backend.presence.touch(OTHER_WS, ["s-ana"], LONG_MS) == ["s-ana"]
    assert await head_of(backend, WS) == 3  # joined, user.online, viewing


async def test_sweeping_one_workspace_never_touches_another(backend: Backend) -> None:
    """sweep(ws) expires only ws's sessions and logs only in ws."""
    await backend.presence.join(WS, session(ANA), SHORT_MS)
    await backend.presence.join(OTHER_WS, session(BEN), SHORT_MS)
    await until_session_expired(backend, ["s-ana"], WS)
    await until_session_expired(backend, ["s-ben"], OTHER_WS)

    assert (await backend.sweep(OTHER_WS, 100)).sessions_expired == 1
    assert [e.type for e in await log_of(backend, WS)] == ["presence.joined"]
    assert [e.type for e in await log_of(backend, OTHER_WS)] == [
        "presence.joined",
        "presence.left",
    ]
    assert (await backend.sweep(WS, 100)).sessions_expired == 1
