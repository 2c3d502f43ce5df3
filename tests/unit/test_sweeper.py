"""The node's sweeper ends expired sessions and leases, one event each, on a moved clock."""

from __future__ import annotations

from huddle import Settings
from huddle.backends import open_backend
from huddle.clock import ManualClock
from huddle.hub.sweeper import Sweeper
from huddle.ids import EntityRef, OrgId, WorkspaceId, WorkspaceKey
from huddle.models import Holder, SessionInfo

WS = WorkspaceKey(OrgId("acme"), WorkspaceId("ws1"))


async def test_tick_expires_what_is_due_and_nothing_else() -> None:
    """Due sessions and leases end with presence.left(timeout) / lock.expired; live ones stay."""
    clock = ManualClock()
    async with open_backend(Settings(), clock) as backend:
        sweeper = Sweeper(backend, interval=1.0, batch=2)
        for n in range(3):
            await backend.presence.join(WS, SessionInfo(f"u{n}/s", f"u{n}"), ttl_ms=1_000)
        await backend.presence.join(WS, SessionInfo("keep/s", "keep"), ttl_ms=60_000)
        await backend.locks.acquire(WS, EntityRef("deal", "1"), Holder("u0"), ttl_ms=1_000)
        await backend.locks.acquire(WS, EntityRef("deal", "2"), Holder("keep"), ttl_ms=60_000)
        before = (await backend.log.read(WS, 0, 100)).head

        assert (await sweeper.tick()).sessions_expired == 0
        clock.advance(seconds=1)
        result = await sweeper.tick()

        assert (result.sessions_expired, result.locks_expired) == (3, 1)
        events = (await backend.log.read(WS, before, 100)).events
        assert sorted(e.type for e in events) == (
            ["lock.expired"] + ["presence.left"] * 3 + ["user.offline"] * 3
        )
        assert {e.data["reason"] for e in events if e.type.endswith(("left", "offline"))} == {
            "timeout"
        }
        assert [s.user_id for s in await backend.presence.roster(WS)] == ["keep"]
        assert (await sweeper.tick()).sessions_expired == 0
