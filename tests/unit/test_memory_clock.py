"""The memory backend on a ManualClock: the contract's time rules, to the millisecond.

Redis reads its own `TIME`, so the contract suite can only wait real expiries out; here the
injected clock pins what real time cannot: expiry exactly at `expires_at_ms`, and ties in time
ordered by id.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, datetime

import pytest
from hypothesis import given
from hypothesis import strategies as st

from huddle.backends import open_backend
from huddle.backends.base import Backend
from huddle.clock import ManualClock, iso_ms
from huddle.config import Settings
from huddle.models import Granted
from tests.support.contract import ANA, BEN, CARA, DOC1, WS, session, types_of


@pytest.fixture
def clock() -> ManualClock:
    return ManualClock()


@pytest.fixture
async def memory(clock: ManualClock) -> AsyncIterator[Backend]:
    async with open_backend(Settings(backend_url="memory://"), clock) as backend:
        yield backend


async def test_times_come_from_the_injected_clock(memory: Backend, clock: ManualClock) -> None:
    """joined_at, acquired_at, expiries and event times are the clock's now (+ ttl)."""
    now = clock.now_ms()
    joined = await memory.presence.join(WS, session(ANA), 1_000)
    granted = await memory.locks.acquire(WS, DOC1, ANA, 2_000)

    assert isinstance(granted, Granted)
    assert (joined.session.joined_at_ms, joined.session.expires_at_ms) == (now, now + 1_000)
    assert (granted.lock.acquired_at_ms, granted.lock.expires_at_ms) == (now, now + 2_000)
    assert {e.ts_ms for e in (await memory.log.read(WS, 0, 10)).events} == {now}


async def test_a_lease_expires_exactly_at_its_expiry(memory: Backend, clock: ManualClock) -> None:
    """Live one millisecond before expires_at_ms; expired at it (at or before now)."""
    await memory.locks.acquire(WS, DOC1, ANA, 1_000)
    clock.advance(seconds=0.999)
    assert (await memory.locks.get(WS, [DOC1]))[0] is not None
    clock.advance(seconds=0.001)
    assert await memory.locks.get(WS, [DOC1]) == [None]
    assert (await memory.sweep(WS, 10)).locks_expired == 1


async def test_a_session_expires_exactly_at_its_expiry(memory: Backend, clock: ManualClock) -> None:
    """Live one millisecond before expires_at_ms; expired at it, and swept with one event."""
    await memory.presence.join(WS, session(ANA), 1_000)
    clock.advance(seconds=0.999)
    assert await memory.presence.touch(WS, ["s-ana"], 1_000) == []
    clock.advance(seconds=1.0)
    assert await memory.presence.get(WS, "s-ana") is None
    assert (await memory.sweep(WS, 10)).sessions_expired == 1
    assert await types_of(memory) == ["presence.joined", "presence.left"]


async def test_ties_in_time_are_ordered_by_session_id(memory: Backend) -> None:
    """Sessions that joined or started viewing in the same millisecond come by session id."""
    for holder, sid in ((CARA, "s-c"), (ANA, "s-a"), (BEN, "s-b")):
        await memory.presence.view(WS, session(holder, sid), DOC1, 60_000)

    [entity] = await memory.presence.viewers(WS, [DOC1])
    assert [s.session_id for s in entity.sessions] == ["s-a", "s-b", "s-c"]
    assert [s.session_id for s in await memory.presence.roster(WS)] == ["s-a", "s-b", "s-c"]


@given(st.integers(min_value=0, max_value=253_402_300_799_999))
def test_iso_ms_is_the_utc_instant_to_the_millisecond(ms: int) -> None:
    expected = datetime.fromtimestamp(ms // 1000, tz=UTC).strftime("%Y-%m-%dT%H:%M:%S")
    assert iso_ms(ms) == f"{expected}.{ms % 1000:03d}Z"
