"""Per-user presence: a user is online in a workspace while they have a session there.

`user.online` follows a user's first session's `presence.joined`; `user.offline` follows their
last session's `presence.left` (leave, shutdown or expiry, with its reason and actor). Each
transition is emitted once, however many nodes join, leave and sweep at the same time; the
batch read `users` counts live sessions for the ids asked, without scanning the workspace.
"""

from __future__ import annotations

import asyncio

from huddle.backends.base import Backend
from huddle.models import SYSTEM, Actor, Event, UserPresence
from tests.support.backends import BackendFactory
from tests.support.contract import (
    ANA,
    BEN,
    CARA,
    LONG_MS,
    OTHER_WS,
    SHORT_MS,
    WS,
    log_of,
    session,
    until_session_expired,
)

ANA_USER = Actor("user", "ana", "Ana")


def transitions(events: list[Event]) -> list[tuple[str, str, str | None]]:
    """The session and user events, as (type, user, session or reason)."""
    out: list[tuple[str, str, str | None]] = []
    for e in events:
        if e.type in ("presence.joined", "presence.left"):
            out.append((e.type, e.data["user_id"], e.data["session_id"]))
        elif e.type == "user.online":
            out.append((e.type, e.data["user_id"], None))
        elif e.type == "user.offline":
            out.append((e.type, e.data["user_id"], e.data["reason"]))
    return out


async def test_the_first_session_brings_a_user_online_and_the_last_takes_them_off(
    backend: Backend,
) -> None:
    await backend.presence.join(WS, session(ANA, "t1"), LONG_MS)
    await backend.presence.view(WS, session(ANA, "t2"), None, LONG_MS)
    assert await backend.presence.leave(WS, "t1") is True
    assert await backend.presence.leave(WS, "t2") is True

    events = await log_of(backend, with_users=True)
    assert transitions(events) == [
        ("presence.joined", "ana", "t1"),
        ("user.online", "ana", None),
        ("presence.joined", "ana", "t2"),
        ("presence.left", "ana", "t1"),
        ("presence.left", "ana", "t2"),
        ("user.offline", "ana", "leave"),
    ]
    online = next(e for e in events if e.type == "user.online")
    offline = next(e for e in events if e.type == "user.offline")
    assert (online.actor, online.data) == (ANA_USER, {"user_id": "ana", "name": "Ana"})
    assert (offline.actor, offline.data) == (
        ANA_USER,
        {"user_id": "ana", "name": "Ana", "reason": "leave"},
    )


async def test_a_node_shutting_down_takes_a_user_offline_as_the_system(backend: Backend) -> None:
    await backend.presence.join(WS, session(ANA), LONG_MS)
    assert await backend.presence.leave(WS, "s-ana", "shutdown") is True
    [*_, offline] = await log_of(backend, with_users=True)
    assert (offline.type, offline.actor, offline.data["reason"]) == (
        "user.offline",
        SYSTEM,
        "shutdown",
    )


async def test_users_counts_live_sessions_for_the_ids_asked(backend: Backend) -> None:
    for sid in ("a1", "a2"):
        await backend.presence.join(WS, session(ANA, sid), LONG_MS)
    await backend.presence.join(WS, session(BEN), LONG_MS)
    await backend.presence.join(OTHER_WS, session(CARA), LONG_MS)

    assert await backend.presence.users(WS, ["cara", "ana", "nobody", "ben", "ana"]) == [
        UserPresence("cara", 0),
        UserPresence("ana", 2),
        UserPresence("nobody", 0),
        UserPresence("ben", 1),
        UserPresence("ana", 2),
    ]
    assert await backend.presence.users(OTHER_WS, ["cara", "ana"]) == [
        UserPresence("cara", 1),
        UserPresence("ana", 0),
    ]
    assert await backend.presence.users(WS, []) == []
    assert UserPresence("ana", 2).online and not UserPresence("x", 0).online


async def test_a_session_whose_time_is_up_no_longer_counts(backend: Backend) -> None:
    await backend.presence.join(WS, session(ANA, "short"), SHORT_MS)
    await backend.presence.join(WS, session(BEN), LONG_MS)
    await until_session_expired(backend, ["short"])
    assert await backend.presence.users(WS, ["ana", "ben"]) == [
        UserPresence("ana", 0),
        UserPresence("ben", 1),
    ]


async def test_a_new_session_after_an_expired_last_one_is_offline_then_online(
    backend: Backend,
) -> None:
    """The expired session is ended first (its left and the user's offline, reason timeout),
    then the new one starts the user again: never two onlines in a row."""
    await backend.presence.join(WS, session(ANA, "old"), SHORT_MS)
    await until_session_expired(backend, ["old"])
    await backend.presence.join(WS, session(ANA, "new"), LONG_MS)

    assert transitions(await log_of(backend, with_users=True)) == [
        ("presence.joined", "ana", "old"),
        ("user.online", "ana", None),
        ("presence.left", "ana", "old"),
        ("user.offline", "ana", "timeout"),
        ("presence.joined", "ana", "new"),
        ("user.online", "ana", None),
    ]
    assert await backend.presence.users(WS, ["ana"]) == [UserPresence("ana", 1)]


async def test_concurrent_joins_and_leaves_on_two_nodes_make_one_transition_each_way(
    backend: Backend, make_backend: BackendFactory
) -> None:
    other = await make_backend.twin(backend)
    sids = [f"tab{i}" for i in range(10)]
    await asyncio.gather(
        *((backend if i % 2 else other).presence.join(WS, session(ANA, sid), LONG_MS)
          for i, sid in enumerate(sids))
    )  # fmt: skip
    assert await other.presence.users(WS, ["ana"]) == [UserPresence("ana", 10)]
    await asyncio.gather(
        *((other if i % 2 else backend).presence.leave(WS, sid) for i, sid in enumerate(sids))
    )

    kinds = [kind for kind, *_ in transitions(await log_of(backend, with_users=True))]
    assert kinds.count("user.online") == kinds.count("user.offline") == 1
    assert kinds[1] == "user.online" and kinds[-1] == "user.offline"


async def test_a_crashed_nodes_sessions_take_their_users_offline_once_with_two_sweepers(
    backend: Backend, make_backend: BackendFactory
) -> None:
    """Sessions nobody refreshes (their node died) expire; two nodes sweeping at once end
    each user exactly once."""
    other = await make_backend.twin(backend)
    for holder in (ANA, BEN):
        for sid in ("x", "y"):
            await backend.presence.join(WS, session(holder, f"{holder.user_id}-{sid}"), SHORT_MS)
    await backend.presence.join(WS, session(CARA), LONG_MS)
    await until_session_expired(backend, ["ana-x", "ana-y", "ben-x", "ben-y"])

    await asyncio.gather(backend.sweep(WS, 1), other.sweep(WS, 100), backend.sweep(WS, 100))

    events = await log_of(backend, with_users=True)
    offline = [e for e in events if e.type == "user.offline"]
    assert sorted(e.data["user_id"] for e in offline) == ["ana", "ben"]
    assert {(e.actor, e.data["reason"]) for e in offline} == {(SYSTEM, "timeout")}
    assert await backend.presence.users(WS, ["ana", "ben", "cara"]) == [
        UserPresence("ana", 0),
        UserPresence("ben", 0),
        UserPresence("cara", 1),
    ]
