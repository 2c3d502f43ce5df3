"""LockStore: grants, re-entrant extension, refusals, release, force release, fencing tokens."""

from __future__ import annotations

import asyncio
import time

from huddle.backends.base import Backend
from huddle.ids import EntityRef
from huddle.models import Actor, Granted, Held, Holder, Lock, NotHeld, Released
from tests.support.backends import BackendFactory
from tests.support.contract import (
    ADMIN,
    ANA,
    BEN,
    CARA,
    DEAL,
    DOC1,
    DOC2,
    LONG_MS,
    SERVICE,
    WS,
    backend_now,
    head_of,
    lock_data,
    lock_end_data,
    log_of,
)
from tests.support.redis_server import unique_prefix


async def grant(
    backend: Backend, entity: EntityRef = DOC1, holder: Holder = ANA, ttl_ms: int = LONG_MS
) -> Lock:
    """The lease `holder` is granted; the test fails if it is refused."""
    result = await backend.locks.acquire(WS, entity, holder, ttl_ms)
    assert isinstance(result, Granted), result
    return result.lock


# --- acquire ---------------------------------------------------------------------------------


async def test_acquiring_a_free_entity_grants_a_fresh_lease(backend: Backend) -> None:
    """A free entity is granted (fresh) to the holder, for now + ttl, with lock.acquired."""
    before = await backend_now(backend)
    result = await backend.locks.acquire(WS, DOC1, ANA, 90_000)
    after = await backend_now(backend)

    assert isinstance(result, Granted)
    assert result.fresh is True
    lock = result.lock
    assert (lock.entity, lock.user_id, lock.name, lock.session_id) == (DOC1, "ana", "Ana", "s-ana")
    assert before <= lock.acquired_at_ms <= after
    assert lock.expires_at_ms == lock.acquired_at_ms + 90_000
    assert lock.token >= 1
    assert await backend.locks.get(WS, [DOC1]) == [lock]
    [event] = await log_of(backend)
    assert event.type == "lock.acquired"
    assert event.data == lock_data(lock)


async def test_acquiring_your_own_lease_again_extends_it(backend: Backend) -> None:
    """Re-entrant acquire: same token and acquired_at, later expiry, fresh=False, lock.refreshed."""
    first = await grant(backend, DOC1, ANA, 60_000)
    other_tab = Holder(ANA.user_id, ANA.name, "s-ana-tab-2")
    result = await backend.locks.acquire(WS, DOC1, other_tab, LONG_MS)

    assert isinstance(result, Granted)
    assert result.fresh is False
    lock = result.lock
    assert lock.token == first.token
    assert lock.acquired_at_ms == first.acquired_at_ms
    assert lock.expires_at_ms >= first.expires_at_ms + LONG_MS - 60_000
    assert lock.session_id == "s-ana-tab-2", "the session id becomes the caller's"
    assert await backend.locks.get(WS, [DOC1]) == [lock]
    events = await log_of(backend)
    assert [e.type for e in events] == ["lock.acquired", "lock.refreshed"]
    assert events[1].data == lock_data(lock)


async def test_extending_sets_the_expiry_to_now_plus_the_new_ttl(backend: Backend) -> None:
    """Re-entrant acquire and refresh set expires_at_ms to now + ttl, even when that is sooner."""
    await grant(backend, DOC1, ANA, LONG_MS)

    before = await backend_now(backend)
    again = await grant(backend, DOC1, ANA, 60_000)
    refreshed = await backend.locks.refresh(WS, DOC1, "ana", 30_000)
    after = await backend_now(backend)

    assert isinstance(refreshed, Granted)
    assert before + 60_000 <= again.expires_at_ms <= after + 60_000
    assert before + 30_000 <= refreshed.lock.expires_at_ms <= after + 30_000
    assert await backend.locks.get(WS, [DOC1]) == [refreshed.lock]


async def test_acquiring_another_users_lease_is_answered_held(backend: Backend) -> None:
    """Another user's live lease answers Held with that lease; nothing changes, no event."""
    lock = await grant(backend, DOC1, ANA)
    result = await backend.locks.acquire(WS, DOC1, BEN, LONG_MS)

    assert result == Held(lock)
    assert await backend.locks.get(WS, [DOC1]) == [lock]
    assert await head_of(backend) == 1


async def test_locks_of_different_entities_are_independent(backend: Backend) -> None:
    """Holding one entity neither grants nor blocks another."""
    await grant(backend, DOC1, ANA)
    ben = await backend.locks.acquire(WS, DOC2, BEN, LONG_MS)
    assert isinstance(ben, Granted)
    assert ben.fresh is True


# --- refresh ---------------------------------------------------------------------------------


async def test_refreshing_your_lease_extends_it_with_the_same_token(backend: Backend) -> None:
    """refresh by the holder: Granted(fresh=False), same token, new expiry, lock.refreshed."""
    first = await grant(backend, DOC1, ANA, 60_000)
    result = await backend.locks.refresh(WS, DOC1, "ana", LONG_MS)

    assert isinstance(result, Granted)
    assert result.fresh is False
    lock = result.lock
    assert (lock.token, lock.acquired_at_ms, lock.session_id) == (
        first.token,
        first.acquired_at_ms,
        first.session_id,
    )
    assert lock.expires_at_ms >= first.expires_at_ms + LONG_MS - 60_000
    assert await backend.locks.get(WS, [DOC1]) == [lock]
    events = await log_of(backend)
    assert [e.type for e in events] == ["lock.acquired", "lock.refreshed"]
    assert events[1].data == lock_data(lock)


async def test_refreshing_another_users_lease_is_held(backend: Backend) -> None:
    """refresh by someone else answers Held with the lease; nothing changes, no event."""
    lock = await grant(backend, DOC1, ANA)
    assert await backend.locks.refresh(WS, DOC1, "ben", LONG_MS) == Held(lock)
    assert await backend.locks.get(WS, [DOC1]) == [lock]
    assert await head_of(backend) == 1


async def test_refreshing_a_free_entity_is_not_held(backend: Backend) -> None:
    """refresh of an entity nobody holds answers NotHeld and creates nothing."""
    assert await backend.locks.refresh(WS, DOC1, "ana", LONG_MS) == NotHeld()
    assert await backend.locks.get(WS, [DOC1]) == [None]
    assert await head_of(backend) == 0


# --- release ---------------------------------------------------------------------------------


async def test_releasing_your_lease_ends_it(backend: Backend) -> None:
    """release by the holder: Released(lease), the entity is free, lock.released."""
    lock = await grant(backend, DOC1, ANA)
    assert await backend.locks.release(WS, DOC1, "ana") == Released(lock)

    assert await backend.locks.get(WS, [DOC1]) == [None]
    assert await backend.locks.held_by(WS, "ana") == []
    events = await log_of(backend)
    assert [e.type for e in events] == ["lock.acquired", "lock.released"]
    assert events[1].data == lock_end_data(lock)


async def test_releasing_another_users_lease_is_held(backend: Backend) -> None:
    """release by someone else answers Held; the lease stays, no event."""
    lock = await grant(backend, DOC1, ANA)
    assert await backend.locks.release(WS, DOC1, "ben") == Held(lock)
    assert await backend.locks.get(WS, [DOC1]) == [lock]
    assert await head_of(backend) == 1


async def test_releasing_a_free_entity_is_not_held(backend: Backend) -> None:
    """release of an entity nobody holds (never, or no longer) answers NotHeld, no event."""
    assert await backend.locks.release(WS, DOC1, "ana") == NotHeld()
    await grant(backend, DOC1, ANA)
    await backend.locks.release(WS, DOC1, "ana")
    assert await backend.locks.release(WS, DOC1, "ana") == NotHeld()
    assert [e.type for e in await log_of(backend)] == ["lock.acquired", "lock.released"]


# --- force release ---------------------------------------------------------------------------


async def test_force_release_ends_anyones_lease_naming_who_did_it(backend: Backend) -> None:
    """force_release: Released, lock.force_released with released_by, the actor is `by`."""
    lock = await grant(backend, DOC1, ANA)
    assert await backend.locks.force_release(WS, DOC1, ADMIN) == Released(lock)

    assert await backend.locks.get(WS, [DOC1]) == [None]
    events = await log_of(backend)
    assert [e.type for e in events] == ["lock.acquired", "lock.force_released"]
    assert events[1].data == lock_end_data(lock, released_by="root")
    assert events[1].actor == ADMIN


async def test_force_release_by_a_service(backend: Backend) -> None:
    """A service actor may force-release too; released_by is its id."""
    lock = await grant(backend, DOC1, BEN)
    assert await backend.locks.force_release(WS, DOC1, SERVICE) == Released(lock)
    [_, event] = await log_of(backend)
    assert event.data == lock_end_data(lock, released_by="crm-sync")
    assert event.actor == SERVICE


async def test_force_releasing_a_free_entity_is_not_held(backend: Backend) -> None:
    """force_release with no live lease answers NotHeld and emits nothing."""
    assert await backend.locks.force_release(WS, DOC1, ADMIN) == NotHeld()
    assert await head_of(backend) == 0


# --- fencing tokens --------------------------------------------------------------------------


async def test_fencing_tokens_only_grow(backend: Backend) -> None:
    """Every new grant carries a larger token than every earlier grant of the workspace."""
    tokens = [(await grant(backend, DOC1, ANA)).token]
    tokens.append((await grant(backend, DOC2, BEN)).token)
    await backend.locks.release(WS, DOC1, "ana")
    tokens.append((await grant(backend, DOC1, BEN)).token)
    await backend.locks.force_release(WS, DOC1, ADMIN)
    tokens.append((await grant(backend, DOC1, ANA)).token)
    await backend.locks.release(WS, DOC1, "ana")
    tokens.append((await grant(backend, DOC1, ANA)).token)
    tokens.append((await grant(backend, DEAL, CARA)).token)

    assert tokens == sorted(set(tokens)), tokens


async def test_a_store_that_lost_its_counter_grants_tokens_above_every_earlier_one(
    make_backend: BackendFactory,
) -> None:
    """A workspace's first token is the store's time in microseconds, then one more a grant:
    a store that lost its data (Redis restarted without persistence, a memory node restarted)
    never grants again a token it granted before, so an old token never passes a guarded
    write of the next holder."""
    before_us = time.time_ns() // 1000
    first = await make_backend.open()
    old = (await grant(first, DOC1, ANA)).token
    assert before_us - 5_000_000 <= old <= time.time_ns() // 1000 + 5_000_000
    assert old < 2**53, "a token stays exact in JSON numbers (JavaScript clients)"
    lost = await make_backend.open(redis_prefix=unique_prefix())  # the same workspace, afresh
    assert (await grant(lost, DOC1, ANA)).token > old


async def test_extending_a_lease_keeps_its_token(backend: Backend) -> None:
    """Re-entrant acquire and refresh never change the token; the next holder's is larger."""
    lock = await grant(backend, DOC1, ANA)
    again = await grant(backend, DOC1, ANA)
    refreshed = await backend.locks.refresh(WS, DOC1, "ana", LONG_MS)
    assert isinstance(refreshed, Granted)
    assert again.token == refreshed.lock.token == lock.token

    await backend.locks.release(WS, DOC1, "ana")
    assert (await grant(backend, DOC1, BEN)).token > lock.token


# --- reads -----------------------------------------------------------------------------------


async def test_get_answers_each_entitys_lease_in_order(backend: Backend) -> None:
    """get answers one entry per entity, in the order asked, None where free."""
    ana = await grant(backend, DOC2, ANA)
    ben = await grant(backend, DEAL, BEN)
    assert await backend.locks.get(WS, [DOC1, DEAL, DOC2]) == [None, ben, ana]
    assert await backend.locks.get(WS, []) == []


async def test_held_by_lists_a_users_leases_ordered_by_entity(backend: Backend) -> None:
    """held_by answers the user's live leases only, ordered by entity (type, then id)."""
    doc2 = await grant(backend, DOC2, ANA)
    await grant(backend, DOC1, BEN)
    deal = await grant(backend, DEAL, ANA)
    await grant(backend, EntityRef("doc", "3"), ANA)
    await backend.locks.release(WS, EntityRef("doc", "3"), "ana")
    doc10 = await grant(backend, EntityRef("doc", "10"), ANA)

    held = await backend.locks.held_by(WS, "ana")
    assert held == sorted([doc2, deal, doc10], key=lambda lock: lock.entity)
    assert [lock.entity.field for lock in held] == ["deal/9", "doc/10", "doc/2"]
    assert await backend.locks.held_by(WS, "cara") == []


async def test_held_by_follows_grants_and_releases(backend: Backend) -> None:
    """A user's list gains a lease when granted and loses it at release or force release."""
    await grant(backend, DOC1, ANA)
    await grant(backend, DOC2, ANA)
    await backend.locks.release(WS, DOC1, "ana")
    await backend.locks.force_release(WS, DOC2, ADMIN)
    assert await backend.locks.held_by(WS, "ana") == []
    taken = await grant(backend, DOC1, BEN)
    assert await backend.locks.held_by(WS, "ben") == [taken]


async def test_concurrent_acquires_grant_exactly_one_holder(make_backend: BackendFactory) -> None:
    """Acquires racing on one entity, from two clients of the store, grant it exactly once."""
    backend = await make_backend.open()
    other = await make_backend.twin(backend)
    holders = [Holder(f"user-{i}", None, f"s-{i}") for i in range(10)]

    results = await asyncio.gather(
        *(
            (backend if i % 2 else other).locks.acquire(WS, DOC1, h, LONG_MS)
            for i, h in enumerate(holders)
        )
    )

    granted = [r for r in results if isinstance(r, Granted)]
    assert len(granted) == 1
    winner = granted[0].lock
    assert all(r == Held(winner) for r in results if not isinstance(r, Granted))
    assert [e.type for e in await log_of(backend)] == ["lock.acquired"]


async def test_lock_events_name_the_user_as_actor_at_the_lease_time(backend: Backend) -> None:
    """lock.acquired/refreshed/released are by the holder, stamped with the store's now."""
    lock = await grant(backend, DOC1, ANA)
    await backend.locks.refresh(WS, DOC1, "ana", LONG_MS)
    await backend.locks.release(WS, DOC1, "ana")

    acquired, refreshed, released = await log_of(backend)
    ana = Actor("user", "ana", "Ana")
    assert (acquired.actor, refreshed.actor, released.actor) == (ana, ana, ana)
    assert acquired.ts_ms == lock.acquired_at_ms
    assert acquired.ts_ms <= refreshed.ts_ms <= released.ts_ms


# --- session-bound release and refresh (a dropped connection's locks) ------------------------


async def test_release_bound_to_a_session_ends_only_that_sessions_lease(backend: Backend) -> None:
    """With a session id, release ends the lease only while that session holds it."""
    await grant(backend)  # taken by ANA's session "s-ana"
    head = await head_of(backend)
    other = await backend.locks.release(WS, DOC1, "ana", session_id="s-elsewhere")
    assert isinstance(other, Held)
    assert await head_of(backend) == head, "a refused release emitted an event"
    mine = await backend.locks.release(WS, DOC1, "ana", session_id="s-ana")
    assert isinstance(mine, Released)
    assert await backend.locks.get(WS, [DOC1]) == [None]


async def test_refresh_with_a_session_moves_the_lease_to_it(backend: Backend) -> None:
    """A refresh from another session of the holder takes the lease over: a release bound to
    the first session then leaves it alone."""
    lock = await grant(backend)
    refreshed = await backend.locks.refresh(WS, DOC1, "ana", LONG_MS, session_id="s-tab2")
    assert isinstance(refreshed, Granted)
    assert refreshed.lock.session_id == "s-tab2" and refreshed.lock.token == lock.token
    assert isinstance(await backend.locks.release(WS, DOC1, "ana", session_id="s-ana"), Held)
    assert (await backend.locks.get(WS, [DOC1]))[0] == refreshed.lock
    plain = await backend.locks.refresh(WS, DOC1, "ana", LONG_MS)
    assert isinstance(plain, Granted) and plain.lock.session_id == "s-tab2"
