"""Lock calls cancelled at random points (a client gone, a deadline passed) leave the store
sound: every lease that exists can be released by its holder, nothing is held by nobody, and
the next calls get their own answers (a cancelled Redis call must not leave a reply behind for
the next caller on its connection)."""

from __future__ import annotations

import asyncio
import contextlib
import random
from collections.abc import Coroutine
from typing import Any

from huddle.backends.base import Backend
from huddle.ids import EntityRef
from huddle.models import Granted, Held, NotHeld, Released
from tests.support.contract import ANA, BEN, CARA, LONG_MS, WS, log_of

ENTITIES = [EntityRef("deal", str(i)) for i in range(8)]
HOLDERS = [ANA, BEN, CARA]
ROUNDS = 1_000


async def test_a_thousand_cancelled_lock_calls_leave_every_lease_releasable(
    backend: Backend,
) -> None:
    rng = random.Random(1_000)
    cancelled = 0
    for _ in range(ROUNDS):
        entity, holder = rng.choice(ENTITIES), rng.choice(HOLDERS)
        call: Coroutine[Any, Any, object]
        match rng.choice(("acquire", "refresh", "release")):
            case "acquire":
                call = backend.locks.acquire(WS, entity, holder, LONG_MS)
            case "refresh":
                call = backend.locks.refresh(WS, entity, holder.user_id, LONG_MS)
            case _:
                call = backend.locks.release(WS, entity, holder.user_id)
        # Cut before the call starts, or at a deadline that may fall anywhere in it (on
        # memory:// a started call never yields, so only the first kind cuts there).
        task = asyncio.ensure_future(call)
        if rng.random() < 0.2:
            task.cancel()
        else:
            await asyncio.wait([task], timeout=rng.uniform(0, 0.0015))
            task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task
        cancelled += task.cancelled()
    assert cancelled >= ROUNDS // 10, f"only {cancelled} calls were cut: the test tests little"

    # Each call now answers about its own entity: no reply was left on a connection.
    for entity in ENTITIES:
        for lock in await backend.locks.get(WS, [entity]):
            if lock is None:
                continue
            assert lock.entity == entity, lock
            released = await backend.locks.release(WS, entity, lock.user_id)
            assert isinstance(released, Released), released
            assert released.lock.token == lock.token
    assert await backend.locks.get(WS, ENTITIES) == [None] * len(ENTITIES)
    for entity in ENTITIES:
        granted = await backend.locks.acquire(WS, entity, ANA, LONG_MS)
        assert isinstance(granted, Granted) and granted.lock.entity == entity, granted
        refused = await backend.locks.acquire(WS, entity, BEN, LONG_MS)
        assert isinstance(refused, Held) and refused.lock.entity == entity, refused
        assert isinstance(await backend.locks.release(WS, entity, "ben"), Held)
        assert isinstance(await backend.locks.release(WS, entity, "ana"), Released)
        assert isinstance(await backend.locks.release(WS, entity, "ana"), NotHeld)

    # The log agrees: every grant was ended once, and tokens only grew.
    holder: dict[EntityRef, int | None] = {}
    last_token = 0
    for event in await log_of(backend):
        if not event.type.startswith("lock."):
            continue
        entity = EntityRef(event.data["entity_type"], event.data["entity_id"])
        token = event.data["fencing_token"]
        if event.type == "lock.acquired":
            assert holder.get(entity) is None, f"{event}: granted while held"
            assert token > last_token, f"{event}: the token did not grow"
            holder[entity], last_token = token, token
        elif event.type == "lock.released":
            assert holder.get(entity) == token, f"{event}: ended another lease"
            holder[entity] = None
        else:
            assert event.type == "lock.refreshed" and holder.get(entity) == token, event
    assert set(holder.values()) == {None}
