"""PresenceStore: join and refresh, viewing, leave, heartbeats, and the reads over sessions.

Offsets count every event: a user's first session is followed by `user.online` (one offset),
which `log_of` leaves out unless asked (tests/contract/test_user_presence.py checks those)."""

from __future__ import annotations

import pytest

from huddle.backends.base import Backend
from huddle.models import SYSTEM, Actor, Granted, PresenceSession
from tests.support.contract import (
    ANA,
    BEN,
    CARA,
    DEAL,
    DOC1,
    DOC2,
    LONG_MS,
    WS,
    advance_past,
    backend_now,
    head_of,
    log_of,
    session,
    types_of,
)


def joined_data(s: PresenceSession) -> dict[str, object]:
    return {"session_id": s.session_id, "user_id": s.user_id, "name": s.name, "kind": s.kind}


def viewing_data(s: PresenceSession, previous: tuple[str, str] | None) -> dict[str, object]:
    return {
        "session_id": s.session_id,
        "user_id": s.user_id,
        "name": s.name,
        "resource_type": None if s.viewing is None else s.viewing.type,
        "resource_id": None if s.viewing is None else s.viewing.id,
        "previous": None
        if previous is None
        else {"resource_type": previous[0], "resource_id": previous[1]},
    }


def ids(sessions: tuple[PresenceSession, ...] | list[PresenceSession]) -> list[str]:
    return [s.session_id for s in sessions]


# --- join ------------------------------------------------------------------------------------


@pytest.mark.parametrize("kind", ["rest", "ws", "sse"])
async def test_joining_creates_a_session_and_emits_joined(backend: Backend, kind: str) -> None:
    """A new session is live at once, new=True, with one presence.joined naming it."""
    joined = await backend.presence.join(WS, session(ANA, kind=kind), LONG_MS)

    assert joined.new is True
    s = joined.session
    assert (s.session_id, s.user_id, s.name, s.kind) == ("s-ana", "ana", "Ana", kind)
    assert (s.viewing, s.viewing_since_ms) == (None, None)
    assert s.expires_at_ms == s.joined_at_ms + LONG_MS
    assert await backend.presence.get(WS, "s-ana") == s
    [event] = await log_of(backend)
    assert event.type == "presence.joined"
    assert event.data == joined_data(s)


async def test_joining_a_live_session_refreshes_it_without_an_event(backend: Backend) -> None:
    """A repeat join extends the expiry, updates the name, keeps joined_at; new=False, no event."""
    first = await backend.presence.join(WS, session(ANA), 60_000)
    again = await backend.presence.join(WS, session(ANA, name="Ana B."), LONG_MS)

    assert again.new is False
    assert again.session.joined_at_ms == first.session.joined_at_ms
    assert again.session.name == "Ana B."
    assert again.session.expires_at_ms >= first.session.expires_at_ms + LONG_MS - 60_000
    assert await backend.presence.get(WS, "s-ana") == again.session
    assert await types_of(backend) == ["presence.joined"]


async def test_sessions_of_one_user_are_separate_sessions(backend: Backend) -> None:
    """Each tab is its own session: two session ids of one user both join (new) and list."""
    one = await backend.presence.join(WS, session(ANA, "tab-1"), LONG_MS)
    two = await backend.presence.join(WS, session(ANA, "tab-2"), LONG_MS)

    assert (one.new, two.new) == (True, True)
    assert sorted(ids(await backend.presence.roster(WS))) == ["tab-1", "tab-2"]
    assert await types_of(backend) == ["presence.joined", "presence.joined"]


# --- view ------------------------------------------------------------------------------------


async def test_viewing_without_a_live_session_joins_first(backend: Backend) -> None:
    """view on an unknown session emits presence.joined, then presence.viewing; new=True."""
    joined = await backend.presence.view(WS, session(ANA), DOC1, LONG_MS)

    assert joined.new is True
    s = joined.session
    assert s.viewing == DOC1
    assert s.viewing_since_ms is not None
    assert s.joined_at_ms <= s.viewing_since_ms
    assert await backend.presence.get(WS, "s-ana") == s
    events = await log_of(backend)
    assert [e.type for e in events] == ["presence.joined", "presence.viewing"]
    assert events[0].data == joined_data(s)
    assert events[1].data == viewing_data(s, previous=None)


async def test_viewing_from_a_live_session_emits_viewing_only(backend: Backend) -> None:
    """A live session that starts viewing emits one presence.viewing; new=False."""
    await backend.presence.join(WS, session(ANA), LONG_MS)
    joined = await backend.presence.view(WS, session(ANA), DOC1, LONG_MS)

    assert joined.new is False
    events = await log_of(backend, after=1)
    assert [e.type for e in events] == ["presence.viewing"]
    assert events[0].data == viewing_data(joined.session, previous=None)


async def test_viewing_another_entity_names_the_previous_one(backend: Backend) -> None:
    """Moving to another entity emits presence.viewing with `previous` set to the old one."""
    await backend.presence.view(WS, session(ANA), DOC1, LONG_MS)
    moved = await backend.presence.view(WS, session(ANA), DEAL, LONG_MS)

    assert moved.session.viewing == DEAL
    [event] = await log_of(backend, after=3)
    assert event.type == "presence.viewing"
    assert event.data == viewing_data(moved.session, previous=("doc", "1"))


async def test_viewing_the_same_entity_again_only_refreshes(backend: Backend) -> None:
    """Viewing what it already views: no event, viewing_since_ms kept, expiry extended."""
    first = await backend.presence.view(WS, session(ANA), DOC1, 60_000)
    again = await backend.presence.view(WS, session(ANA), DOC1, LONG_MS)

    assert again.new is False
    assert again.session.viewing == DOC1
    assert again.session.viewing_since_ms == first.session.viewing_since_ms
    assert again.session.expires_at_ms >= first.session.expires_at_ms + LONG_MS - 60_000
    assert await head_of(backend) == 3


async def test_viewing_none_stops_viewing(backend: Backend) -> None:
    """view(None) emits presence.viewing with null resource and the previous entity."""
    await backend.presence.view(WS, session(ANA), DOC1, LONG_MS)
    stopped = await backend.presence.view(WS, session(ANA), None, LONG_MS)

    assert stopped.new is False
    assert (stopped.session.viewing, stopped.session.viewing_since_ms) == (None, None)
    [event] = await log_of(backend, after=3)
    assert event.type == "presence.viewing"
    assert event.data == viewing_data(stopped.session, previous=("doc", "1"))
    assert event.data["resource_type"] is None
    assert event.data["resource_id"] is None
    [entity] = await backend.presence.viewers(WS, [DOC1])
    assert entity.sessions == ()


async def test_viewing_none_when_viewing_nothing_only_refreshes(backend: Backend) -> None:
    """A live session that views nothing and views None again: no event."""
    await backend.presence.join(WS, session(ANA), LONG_MS)
    again = await backend.presence.view(WS, session(ANA), None, LONG_MS)

    assert again.new is False
    assert again.session.viewing is None
    assert await head_of(backend) == 2


async def test_a_session_views_one_entity_at_a_time(backend: Backend) -> None:
    """After moving, a session is a viewer of the new entity only."""
    await backend.presence.view(WS, session(ANA), DOC1, LONG_MS)
    await backend.presence.view(WS, session(ANA), DOC2, LONG_MS)

    doc1, doc2 = await backend.presence.viewers(WS, [DOC1, DOC2])
    assert ids(doc1.sessions) == []
    assert ids(doc2.sessions) == ["s-ana"]


async def test_viewing_keeps_the_join_time(backend: Backend) -> None:
    """View changes what a live session views, never when it joined."""
    joined = await backend.presence.join(WS, session(ANA), LONG_MS)
    await advance_past(backend, joined.session.joined_at_ms)
    viewing = await backend.presence.view(WS, session(ANA), DOC1, LONG_MS)

    assert viewing.session.joined_at_ms == joined.session.joined_at_ms
    assert viewing.session.viewing_since_ms is not None
    assert viewing.session.viewing_since_ms > joined.session.joined_at_ms


# --- leave -----------------------------------------------------------------------------------


async def test_leaving_ends_the_session_with_one_left_event(backend: Backend) -> None:
    """leave answers True, emits presence.left (reason leave), and the session is gone."""
    joined = await backend.presence.view(WS, session(ANA), DOC1, LONG_MS)

    assert await backend.presence.leave(WS, "s-ana") is True
    assert await backend.presence.get(WS, "s-ana") is None
    assert await backend.presence.roster(WS) == []
    [entity] = await backend.presence.viewers(WS, [DOC1])
    assert entity.sessions == ()
    [event] = await log_of(backend, after=3)
    assert event.type == "presence.left"
    assert event.data == {
        "session_id": "s-ana",
        "user_id": "ana",
        "name": joined.session.name,
        "reason": "leave",
    }


async def test_a_node_that_shuts_down_ends_a_session_as_the_system(backend: Backend) -> None:
    """leave with reason `shutdown`: the node ended it, so the actor is the system."""
    joined = await backend.presence.view(WS, session(ANA), DOC1, LONG_MS)

    assert await backend.presence.leave(WS, "s-ana", "shutdown") is True
    assert await backend.presence.get(WS, "s-ana") is None
    [event] = await log_of(backend, after=3)
    assert (event.type, event.actor) == ("presence.left", SYSTEM)
    assert event.data == {
        "session_id": "s-ana",
        "user_id": "ana",
        "name": joined.session.name,
        "reason": "shutdown",
    }


async def test_leaving_a_session_that_is_not_live_is_false_and_silent(backend: Backend) -> None:
    """leave of an unknown or already-left session answers False and emits nothing."""
    assert await backend.presence.leave(WS, "nobody") is False
    await backend.presence.join(WS, session(ANA), LONG_MS)
    assert await backend.presence.leave(WS, "s-ana") is True
    assert await backend.presence.leave(WS, "s-ana") is False
    assert await types_of(backend) == ["presence.joined", "presence.left"]


async def test_a_left_session_joins_again_as_new(backend: Backend) -> None:
    """After leave, the same session id joins afresh (new=True, presence.joined)."""
    await backend.presence.join(WS, session(ANA), LONG_MS)
    await backend.presence.leave(WS, "s-ana")
    again = await backend.presence.join(WS, session(ANA), LONG_MS)

    assert again.new is True
    assert await types_of(backend) == ["presence.joined", "presence.left", "presence.joined"]


# --- touch -----------------------------------------------------------------------------------


async def test_touch_extends_the_live_sessions_and_names_the_others(backend: Backend) -> None:
    """touch extends the live sessions among the ids and answers the others, distinct, in
    order (unknown ids included): a caller announces again those its connections keep."""
    one = await backend.presence.join(WS, session(ANA), 60_000)
    two = await backend.presence.view(WS, session(BEN), DOC1, 60_000)

    assert await backend.presence.touch(
        WS, ["ghost", "s-ana", "s-ben", "ghost", "other"], LONG_MS
    ) == ["ghost", "other"]

    for before in (one.session, two.session):
        after = await backend.presence.get(WS, before.session_id)
        assert after is not None
        assert after.expires_at_ms >= before.expires_at_ms + LONG_MS - 60_000
        assert after.viewing == before.viewing
        assert after.joined_at_ms == before.joined_at_ms


async def test_touch_emits_no_events(backend: Backend) -> None:
    """A heartbeat changes no one's presence: the log does not grow."""
    await backend.presence.join(WS, session(ANA), LONG_MS)
    await backend.presence.touch(WS, ["s-ana"], LONG_MS)
    await backend.presence.touch(WS, [], LONG_MS)
    assert await head_of(backend) == 2


async def test_touch_does_not_revive_a_left_session(backend: Backend) -> None:
    """touch of a session that left names it and the session stays gone."""
    await backend.presence.join(WS, session(ANA), LONG_MS)
    await backend.presence.leave(WS, "s-ana")

    assert await backend.presence.touch(WS, ["s-ana"], LONG_MS) == ["s-ana"]
    assert await backend.presence.get(WS, "s-ana") is None


# --- reads -----------------------------------------------------------------------------------


async def test_get_answers_none_for_an_unknown_session(backend: Backend) -> None:
    """get of a session that never joined is None."""
    assert await backend.presence.get(WS, "nobody") is None


async def test_viewers_answer_each_entity_in_the_order_asked(backend: Backend) -> None:
    """viewers answers one EntityPresence per entity, in order, with its viewing sessions."""
    await backend.presence.view(WS, session(ANA), DOC1, LONG_MS)
    await backend.presence.view(WS, session(BEN), DEAL, LONG_MS)
    await backend.presence.join(WS, session(CARA), LONG_MS)

    answer = await backend.presence.viewers(WS, [DEAL, DOC2, DOC1])
    assert [e.entity for e in answer] == [DEAL, DOC2, DOC1]
    assert [ids(e.sessions) for e in answer] == [["s-ben"], [], ["s-ana"]]
    assert [e.lock for e in answer] == [None, None, None]
    assert answer[2].sessions[0] == await backend.presence.get(WS, "s-ana")


async def test_viewers_are_ordered_by_viewing_since_then_session_id(backend: Backend) -> None:
    """Viewers of an entity come in the order they started viewing, ties by session id."""
    first = await backend.presence.view(WS, session(BEN, "z-first"), DOC1, LONG_MS)
    assert first.session.viewing_since_ms is not None
    await advance_past(backend, first.session.viewing_since_ms)
    await backend.presence.view(WS, session(ANA, "a-second"), DOC1, LONG_MS)
    await backend.presence.view(WS, session(CARA, "m-third"), DOC1, LONG_MS)
    await backend.presence.view(WS, session(CARA, "b-third"), DOC1, LONG_MS)

    [entity] = await backend.presence.viewers(WS, [DOC1])
    assert ids(entity.sessions)[0] == "z-first"
    keys = [(s.viewing_since_ms or 0, s.session_id) for s in entity.sessions]
    assert keys == sorted(keys)
    assert len(keys) == 4


async def test_viewers_include_the_entity_lock(backend: Backend) -> None:
    """Each EntityPresence carries the entity's live lock, viewed or not."""
    granted = await backend.locks.acquire(WS, DOC2, BEN, LONG_MS)
    assert isinstance(granted, Granted)
    await backend.presence.view(WS, session(ANA), DOC1, LONG_MS)

    doc1, doc2 = await backend.presence.viewers(WS, [DOC1, DOC2])
    assert (doc1.lock, ids(doc1.sessions)) == (None, ["s-ana"])
    assert (doc2.lock, doc2.sessions) == (granted.lock, ())
    assert [doc2.lock] == await backend.locks.get(WS, [DOC2])

    await backend.locks.release(WS, DOC2, BEN.user_id)
    [doc2_after] = await backend.presence.viewers(WS, [DOC2])
    assert doc2_after.lock is None


async def test_roster_lists_every_live_session_by_join_time_then_id(backend: Backend) -> None:
    """roster answers every live session, ordered by joined_at_ms, ties by session id."""
    first = await backend.presence.join(WS, session(BEN, "z-first"), LONG_MS)
    await advance_past(backend, first.session.joined_at_ms)
    await backend.presence.view(WS, session(ANA, "a-second"), DOC1, LONG_MS)
    await backend.presence.join(WS, session(CARA, "m-third"), LONG_MS)
    await backend.presence.join(WS, session(CARA, "b-third"), LONG_MS)
    await backend.presence.join(WS, session(CARA, "gone"), LONG_MS)
    await backend.presence.leave(WS, "gone")

    roster = await backend.presence.roster(WS)
    assert ids(roster)[0] == "z-first"
    assert sorted(ids(roster)) == ["a-second", "b-third", "m-third", "z-first"]
    keys = [(s.joined_at_ms, s.session_id) for s in roster]
    assert keys == sorted(keys)
    assert roster == [await backend.presence.get(WS, sid) for sid in ids(roster)]


async def test_an_untouched_workspace_has_no_presence(backend: Backend) -> None:
    """Reads of a workspace nobody joined answer empty and emit nothing."""
    assert await backend.presence.roster(WS) == []
    assert await backend.presence.get(WS, "s-ana") is None
    [entity] = await backend.presence.viewers(WS, [DOC1])
    assert (entity.entity, entity.sessions, entity.lock) == (DOC1, (), None)
    page = await backend.log.read(WS, 0, 10)
    assert (page.epoch, page.head) == ("", 0)


async def test_presence_times_come_from_the_store_clock(backend: Backend) -> None:
    """joined_at_ms and expiry are the store's now and now + ttl."""
    before = await backend_now(backend)
    joined = await backend.presence.join(WS, session(ANA), 90_000)
    after = await backend_now(backend)

    assert before <= joined.session.joined_at_ms <= after
    assert joined.session.expires_at_ms == joined.session.joined_at_ms + 90_000


async def test_presence_events_name_the_user_as_actor(backend: Backend) -> None:
    """presence.joined, viewing and left (leave) are by the session's user."""
    joined = await backend.presence.view(WS, session(ANA), DOC1, LONG_MS)
    await backend.presence.leave(WS, "s-ana")

    events = await log_of(backend)
    assert [e.actor for e in events] == [Actor("user", "ana", "Ana")] * 3
    assert events[0].ts_ms == joined.session.joined_at_ms
