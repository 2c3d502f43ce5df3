"""The node's presence keeper on each backend: kept sessions stay live, and one whose entry
the backend lost while its connection lived (a partition longer than the TTL) is announced
again — what it viewed included — at the next round."""

from __future__ import annotations

from huddle.backends.base import Backend
from huddle.hub.keepalive import PresenceKeeper
from huddle.hub.metrics import Metrics
from tests.support.contract import (
    ANA,
    BEN,
    DOC1,
    LONG_MS,
    SHORT_MS,
    WS,
    log_of,
    session,
    until_session_expired,
)

from .test_expiry_and_sweep import BATCH


async def test_a_kept_session_stays_live_and_announces_nothing(backend: Backend) -> None:
    keeper = PresenceKeeper(backend.presence, ttl=LONG_MS / 1000, metrics=Metrics())
    joined = await backend.presence.view(WS, session(ANA), DOC1, LONG_MS)
    keeper.keep(WS, joined.session)
    assert await keeper.tick() == 1
    assert [e.type for e in await log_of(backend)] == ["presence.joined", "presence.viewing"]


async def test_a_session_the_backend_lost_is_announced_again_with_what_it_viewed(
    backend: Backend,
) -> None:
    metrics = Metrics()
    keeper = PresenceKeeper(backend.presence, ttl=LONG_MS / 1000, metrics=metrics)
    viewing = await backend.presence.view(WS, session(ANA, "s-ana"), DOC1, SHORT_MS)
    joined = await backend.presence.join(WS, session(BEN, "s-ben"), SHORT_MS)
    keeper.keep(WS, viewing.session)
    keeper.keep(WS, joined.session)
    await until_session_expired(backend, ["s-ana", "s-ben"])
    swept = await backend.sweep(WS, BATCH)  # another node's sweep, say
    assert swept.sessions_expired == 2

    assert await keeper.tick() == 0
    assert await keeper.tick() == 2, "the restored sessions are live again"
    events = await log_of(backend)
    restored = [(e.type, e.data["session_id"]) for e in events[-3:]]
    assert restored == [
        ("presence.joined", "s-ana"),
        ("presence.viewing", "s-ana"),
        ("presence.joined", "s-ben"),
    ]
    again = await backend.presence.get(WS, "s-ana")
    assert again is not None and again.viewing == DOC1 and again.name == ANA.name
    assert b"huddle_presence_restored_total 2.0" in metrics.render()


async def test_a_dropped_session_is_not_announced_again(backend: Backend) -> None:
    keeper = PresenceKeeper(backend.presence, ttl=LONG_MS / 1000, metrics=Metrics())
    joined = await backend.presence.join(WS, session(ANA), SHORT_MS)
    keeper.keep(WS, joined.session)
    keeper.drop(WS, joined.session.session_id)
    await until_session_expired(backend, ["s-ana"])
    await backend.sweep(WS, BATCH)
    assert await keeper.tick() == 0
    assert [e.type for e in await log_of(backend)] == ["presence.joined", "presence.left"]
