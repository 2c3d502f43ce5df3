"""Audiences of presence and locks, on both backends: a lease keeps the audience it was
acquired with and every event of it — refresh, release, force release, expiry — goes to that
audience; a session viewing an entity with an audience announces it to that audience only, and
moving between entities of different audiences is a leave for the one and an arrival for the
other, so nobody learns of an entity outside their audience."""

from __future__ import annotations

from typing import Any, Final

from huddle.backends.base import Backend
from huddle.ids import EntityRef
from huddle.models import Audience, Granted
from tests.support.contract import (
    ADMIN,
    ANA,
    BEN,
    DEAL,
    LONG_MS,
    SHORT_MS,
    WS,
    session,
    until_lock_expired,
)

CHAT: Final = EntityRef("chat", "1")
OTHER_CHAT: Final = EntityRef("chat", "2")
MEMBERS: Final = Audience.of(["ana", "ben"])
OTHERS: Final = Audience.of(["ana"], ["department:7"])


async def events_after(backend: Backend, seq: int) -> list[tuple[str, Any, Audience | None]]:
    """(type, resource or entity, audience) of the events after `seq`."""
    found = []
    for e in (await backend.log.read(WS, seq, 100)).events:
        where = e.data.get("resource_id", e.data.get("entity_id"))
        found.append((e.type, where, e.audience))
    return found


async def head(backend: Backend) -> int:
    return (await backend.log.read(WS, 2**53, 1)).head


async def test_every_event_of_a_lease_goes_to_its_audience(backend: Backend) -> None:
    granted = await backend.locks.acquire(WS, CHAT, ANA, LONG_MS, MEMBERS)
    assert isinstance(granted, Granted) and granted.lock.audience == MEMBERS
    assert (await backend.locks.get(WS, [CHAT]))[0] == granted.lock
    assert (await backend.locks.held_by(WS, "ana"))[0].audience == MEMBERS
    await backend.locks.refresh(WS, CHAT, "ana", LONG_MS)
    await backend.locks.release(WS, CHAT, "ana")
    await backend.locks.acquire(WS, CHAT, BEN, LONG_MS, MEMBERS)
    await backend.locks.force_release(WS, CHAT, ADMIN)
    await backend.locks.acquire(WS, CHAT, BEN, SHORT_MS, MEMBERS)
    await backend.locks.acquire(WS, DEAL, BEN, LONG_MS)
    await until_lock_expired(backend, [CHAT])
    await backend.sweep(WS, 10)
    assert await events_after(backend, 0) == [
        ("lock.acquired", "1", MEMBERS),
        ("lock.refreshed", "1", MEMBERS),
        ("lock.released", "1", MEMBERS),
        ("lock.acquired", "1", MEMBERS),
        ("lock.force_released", "1", MEMBERS),
        ("lock.acquired", "1", MEMBERS),
        ("lock.acquired", "9", None),
        ("lock.expired", "1", MEMBERS),
    ]


async def test_a_re_entrant_acquire_takes_the_audience_it_is_given(backend: Backend) -> None:
    await backend.locks.acquire(WS, CHAT, ANA, LONG_MS, MEMBERS)
    again = await backend.locks.acquire(WS, CHAT, ANA, LONG_MS, OTHERS)
    assert isinstance(again, Granted) and again.lock.audience == OTHERS
    start = await head(backend)
    await backend.locks.release(WS, CHAT, "ana")
    assert await events_after(backend, start) == [("lock.released", "1", OTHERS)]


async def test_viewing_goes_to_the_entitys_audience_and_moves_split_between_audiences(
    backend: Backend,
) -> None:
    info = session(ANA)
    joined = await backend.presence.view(WS, info, CHAT, LONG_MS, MEMBERS)
    assert joined.session.viewing_audience == MEMBERS
    start = await head(backend)
    # the same entity again: a refresh, no event
    await backend.presence.view(WS, info, CHAT, LONG_MS, MEMBERS)
    # private -> public: leave (members), arrive (everyone, no previous)
    await backend.presence.view(WS, info, DEAL, LONG_MS)
    # public -> private: leave (everyone), arrive (members)
    await backend.presence.view(WS, info, OTHER_CHAT, LONG_MS, MEMBERS)
    # private -> private of the same audience: one event, with its previous
    await backend.presence.view(WS, info, CHAT, LONG_MS, MEMBERS)
    # private -> private of another audience: leave, arrive
    await backend.presence.view(WS, info, OTHER_CHAT, LONG_MS, OTHERS)
    # private -> nothing: leave only
    await backend.presence.view(WS, info, None, LONG_MS)
    found = (await backend.log.read(WS, start, 100)).events
    assert [
        (e.data["resource_id"], (e.data["previous"] or {}).get("resource_id"), e.audience)
        for e in found
    ] == [
        (None, "1", MEMBERS),
        ("9", None, None),
        (None, "9", None),
        ("2", None, MEMBERS),
        ("1", "2", MEMBERS),
        (None, "1", MEMBERS),
        ("2", None, OTHERS),
        (None, "2", OTHERS),
    ]
    assert {e.type for e in found} == {"presence.viewing"}


async def test_reads_keep_the_viewing_audience(backend: Backend) -> None:
    await backend.presence.view(WS, session(ANA), CHAT, LONG_MS, MEMBERS)
    await backend.presence.view(WS, session(BEN), DEAL, LONG_MS)
    roster = {s.user_id: s.viewing_audience for s in await backend.presence.roster(WS)}
    assert roster == {"ana": MEMBERS, "ben": None}
    [chat] = await backend.presence.viewers(WS, [CHAT])
    assert [s.viewing_audience for s in chat.sessions] == [MEMBERS]
