"""What only redis:// has: scripts by SHA, hash-tagged keys, msgpack payloads, Redis going away.

These look at Redis itself with a raw client, next to the backend under test, and take a
private server down and up again. Everything else is in the shared contract suite.
"""

from __future__ import annotations

import asyncio
import dataclasses
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import AsyncExitStack, asynccontextmanager
from typing import Any, Final, TypeVar

import msgpack
import pytest
from redis.asyncio import Redis
from redis.crc import key_slot

from huddle.auth import key_fingerprint
from huddle.backends import open_backend
from huddle.backends.base import Backend, SubscriptionLost
from huddle.config import Settings
from huddle.errors import BackendUnavailable
from huddle.hub.credentials import Verdict
from huddle.hub.node import Node
from huddle.ids import EntityRef
from huddle.models import ApiKeyRecord, Granted, Held, Holder, Released, credentials_stream
from tests.support.contract import (
    ADMIN,
    ANA,
    BEN,
    DEAL,
    DOC1,
    DOC2,
    LONG_MS,
    OTHER_ORG_WS,
    OTHER_WS,
    SHORT_MS,
    WS,
    draft,
    log_of,
    session,
    until_session_expired,
)
from tests.support.redis_server import RedisServer, unique_prefix
from tests.support.waiting import wait_until

T = TypeVar("T")

DOWN_DEADLINE: Final = 5.0
"""Seconds within which a call must answer BackendUnavailable once Redis is gone."""


class Store:
    """A backend on one prefix plus a raw client of the same server, to look underneath."""

    def __init__(self, backend: Backend, raw: Redis, settings: Settings) -> None:
        self.backend = backend
        self.raw = raw
        self.settings = settings
        self.prefix = settings.redis_prefix

    async def keys(self) -> list[str]:
        """Every key under this store's prefix."""
        return sorted([key async for key in self.raw.scan_iter(match=f"{self.prefix}*")])

    async def all_keys(self) -> list[str]:
        return sorted([key async for key in self.raw.scan_iter()])


async def open_store(stack: AsyncExitStack, server: RedisServer, **overrides: Any) -> Store:
    values: dict[str, Any] = {
        "backend_url": server.url(),
        "redis_prefix": unique_prefix(),
        "redis_timeout": 0.5,
    }
    values.update(overrides)
    settings = Settings(**values)
    backend = await stack.enter_async_context(open_backend(settings))
    raw = Redis.from_url(server.url(), decode_responses=True)
    stack.push_async_callback(raw.aclose)
    return Store(backend, raw, settings)


@pytest.fixture
async def store(redis_server: RedisServer) -> AsyncIterator[Store]:
    async with AsyncExitStack() as stack:
        yield await open_store(stack, redis_server)


@pytest.fixture
async def private_store(private_redis: RedisServer) -> AsyncIterator[Store]:
    async with AsyncExitStack() as stack:
        yield await open_store(stack, private_redis)


async def eventually(call: Callable[[], Awaitable[T]], what: str) -> T:
    """`call()`'s answer once it stops raising BackendUnavailable (Redis is back)."""

    async def attempt() -> tuple[T] | None:
        try:
            return (await call(),)
        except BackendUnavailable:
            return None

    return (await wait_until(attempt, within=DOWN_DEADLINE, what=what))[0]


# --- scripts ---------------------------------------------------------------------------------


async def test_every_operation_still_works_after_the_script_cache_is_flushed(
    store: Store,
) -> None:
    """After SCRIPT FLUSH (a restart or failover), each script is reloaded on NOSCRIPT."""
    backend, raw = store.backend, store.raw

    async def flushed() -> None:
        assert await raw.script_flush() is True

    await flushed()
    assert (await backend.log.publish(WS, draft())).seq == 1
    await flushed()
    assert (await backend.log.publish(WS, draft(key="k"))).seq == 2
    await flushed()
    assert (await backend.presence.join(WS, session(ANA), LONG_MS)).new is True
    await flushed()
    assert (await backend.presence.view(WS, session(ANA), DOC1, LONG_MS)).new is False
    await flushed()
    assert await backend.presence.touch(WS, ["s-ana"], LONG_MS) == []
    await flushed()
    acquired = await backend.locks.acquire(WS, DOC1, ANA, LONG_MS)
    assert isinstance(acquired, Granted)
    await flushed()
    assert isinstance(await backend.locks.refresh(WS, DOC1, "ana", LONG_MS), Granted)
    await flushed()
    assert isinstance(await backend.locks.release(WS, DOC1, "ana"), Released)
    await flushed()
    await backend.locks.acquire(WS, DOC2, BEN, LONG_MS)
    await flushed()
    assert isinstance(await backend.locks.force_release(WS, DOC2, ADMIN), Released)
    await flushed()
    assert await backend.presence.leave(WS, "s-ana") is True
    await flushed()
    await backend.sweep(WS, 100)
    await flushed()
    await backend.keys.create(_api_key())
    await flushed()
    assert await backend.keys.update(dataclasses.replace(_api_key(), admin=True)) is True
    await flushed()
    assert await backend.keys.revoke("acme", "k1") is True
    await flushed()
    assert (await backend.log.read(WS, 0, 100)).head == 12  # with user.online, user.offline
    assert [e.type for e in await log_of(backend)][-1] == "presence.left"


# --- keys ------------------------------------------------------------------------------------


async def test_every_key_is_prefixed_and_workspace_keys_carry_the_hash_tag(
    private_store: Store,
) -> None:
    """Each key starts with redis_prefix; a workspace's keys all carry `{org/ws}` (one slot)."""
    backend = private_store.backend
    for ws in (WS, OTHER_WS, OTHER_ORG_WS):
        await backend.log.publish(ws, draft(key="idem"))
        await backend.presence.view(ws, session(ANA), DOC1, LONG_MS)
        await backend.presence.join(ws, session(BEN), SHORT_MS)
        await backend.locks.acquire(ws, DOC1, ANA, LONG_MS)
        await backend.locks.acquire(ws, DEAL, BEN, SHORT_MS)
    await backend.keys.create(_api_key())
    await until_session_expired(backend, ["s-ben"], OTHER_ORG_WS)
    await backend.sweep(OTHER_ORG_WS, 100)

    keys = await private_store.all_keys()
    prefix = private_store.prefix
    workspaces = (WS, OTHER_WS, OTHER_ORG_WS)
    assert keys, "the operations stored nothing"
    assert all(key.startswith(prefix) for key in keys), keys
    for key in keys:
        if "{" in key:
            assert hash_tag(key) in {ws.tag for ws in workspaces}, key
        else:
            # Org-level keys (API keys, the active index) may name an org, never a workspace.
            assert not any(ws.workspace_id in key for ws in workspaces), (
                f"{key} names a workspace outside a hash tag"
            )
    for ws in workspaces:
        tagged = [key for key in keys if "{" in key and hash_tag(key) == ws.tag]
        assert len(tagged) >= 3, f"{ws.tag}: {tagged}"
        assert len({key_slot(key.encode()) for key in tagged}) == 1


def hash_tag(key: str) -> str:
    """What Redis Cluster hashes: the text between the first `{` and the next `}`."""
    start = key.index("{") + 1
    return key[start : key.index("}", start)]


async def test_reads_of_an_untouched_workspace_create_no_keys(store: Store) -> None:
    """Reading a workspace nobody used writes nothing to Redis (not even an epoch)."""
    backend = store.backend
    await backend.log.read(WS, 0, 10)
    await backend.presence.roster(WS)
    await backend.presence.viewers(WS, [DOC1])
    await backend.presence.get(WS, "s-ana")
    await backend.locks.get(WS, [DOC1])
    await backend.locks.held_by(WS, "ana")
    await backend.sweep(WS, 100)
    assert [key for key in await store.keys() if WS.tag in key] == []


async def test_lock_records_are_msgpack(store: Store) -> None:
    """A lease is stored as msgpack: a raw HGET of its field decodes to the holder's data."""
    backend, raw = store.backend, store.raw
    granted = await backend.locks.acquire(WS, DOC1, ANA, LONG_MS)
    assert isinstance(granted, Granted)

    raw_bytes = Redis.from_url(f"{store.settings.backend_url}", decode_responses=False)
    try:
        found = []
        for key in await store.keys():
            if await raw.type(key) != "hash":
                continue
            value = await raw_bytes.hget(key, DOC1.field)
            if value is not None:
                found.append((key, msgpack.unpackb(value)))
    finally:
        await raw_bytes.aclose()

    assert found, "no hash holds a field named after the locked entity"
    records = [record for _, record in found if isinstance(record, dict)]
    assert any(_mentions(record, "ana") for record in records), found


def _mentions(record: Any, value: Any) -> bool:
    if record == value:
        return True
    if isinstance(record, dict):
        return any(_mentions(v, value) for v in record.values())
    if isinstance(record, list | tuple):
        return any(_mentions(v, value) for v in record)
    return False


def _api_key() -> ApiKeyRecord:
    return ApiKeyRecord(
        id="k1",
        org_id="acme",
        workspace_id="ws1",
        user_id="ana",
        admin=False,
        name=None,
        created_at_ms=1,
        created_by="root",
        key_hash="0" * 64,
    )


# --- Redis going away ------------------------------------------------------------------------


async def test_calls_fail_fast_with_backend_unavailable_while_redis_is_down(
    private_redis: RedisServer, private_store: Store
) -> None:
    """With Redis stopped, operations raise BackendUnavailable within a bounded time."""
    backend = private_store.backend
    assert isinstance(await backend.locks.acquire(WS, DOC1, ANA, LONG_MS), Granted)

    private_redis.stop()

    async with asyncio.timeout(DOWN_DEADLINE):
        with pytest.raises(BackendUnavailable):
            await backend.locks.acquire(WS, DOC2, ANA, LONG_MS)
    async with asyncio.timeout(DOWN_DEADLINE):
        with pytest.raises(BackendUnavailable):
            await backend.ping()
    async with asyncio.timeout(DOWN_DEADLINE):
        with pytest.raises(BackendUnavailable):
            await backend.log.read(WS, 0, 10)


async def test_the_same_backend_works_again_when_redis_returns(
    private_redis: RedisServer, private_store: Store
) -> None:
    """After a stop and start, the backend object answers again without being reopened."""
    backend = private_store.backend
    await backend.log.publish(WS, draft())
    private_redis.stop()
    async with asyncio.timeout(DOWN_DEADLINE):
        with pytest.raises(BackendUnavailable):
            await backend.locks.acquire(WS, DOC1, ANA, LONG_MS)

    private_redis.start()

    await eventually(backend.ping, "ping to answer after the restart")
    result = await eventually(
        lambda: backend.locks.acquire(WS, DOC1, ANA, LONG_MS), "acquire after the restart"
    )
    assert isinstance(result, Granted)
    assert result.fresh is True, "the restarted server lost the data (no persistence)"
    assert await backend.locks.acquire(WS, DOC1, BEN, LONG_MS) == Held(result.lock)


async def test_a_store_that_lost_its_data_starts_a_new_epoch(
    private_redis: RedisServer, private_store: Store
) -> None:
    """Offsets restart at 1 under a different epoch when Redis lost the workspace's log."""
    backend = private_store.backend
    before = [await backend.log.publish(WS, draft()) for _ in range(3)]
    private_redis.stop()
    private_redis.start()

    after = await eventually(lambda: backend.log.publish(WS, draft()), "publish after restart")
    assert after.seq == 1
    assert after.epoch not in ("", before[0].epoch)
    page = await backend.log.read(WS, 0, 10)
    assert (page.epoch, page.head, page.events) == (after.epoch, 1, (after,))


async def test_a_frozen_redis_answers_backend_unavailable_within_the_timeout(
    private_redis: RedisServer, private_store: Store
) -> None:
    """A Redis that accepts nothing (hung) fails calls after about redis_timeout, not never."""
    backend = private_store.backend
    await backend.ping()
    private_redis.freeze()
    try:
        async with asyncio.timeout(DOWN_DEADLINE):
            with pytest.raises(BackendUnavailable):
                await backend.locks.acquire(WS, DOC1, ANA, LONG_MS)
    finally:
        private_redis.thaw()
    await eventually(backend.ping, "ping after the thaw")
    result = await eventually(
        lambda: backend.locks.acquire(WS, DOC2, ANA, LONG_MS), "acquire after the thaw"
    )
    assert isinstance(result, Granted)


async def test_a_subscription_is_lost_when_the_bus_connection_drops(
    private_redis: RedisServer, private_store: Store
) -> None:
    """When Redis goes away, a subscriber's get() raises SubscriptionLost (read the log)."""
    backend = private_store.backend
    async with backend.log.subscribe(WS) as subscription:
        first = await backend.log.publish(WS, draft())
        async with asyncio.timeout(DOWN_DEADLINE):
            assert await subscription.get() == first
        private_redis.stop()
        async with asyncio.timeout(DOWN_DEADLINE):
            with pytest.raises(SubscriptionLost):
                await subscription.get()

    private_redis.start()
    await eventually(backend.ping, "ping after the restart")

    async def subscribed_and_delivered() -> bool:
        async with backend.log.subscribe(WS) as again:
            event = await backend.log.publish(WS, draft(data={"after": True}))
            async with asyncio.timeout(DOWN_DEADLINE):
                return await again.get() == event

    assert await eventually(subscribed_and_delivered, "a new subscription after the restart")


async def test_sweeps_from_two_nodes_emit_one_event_per_expiry(
    redis_server: RedisServer,
) -> None:
    """Many sweeps at once from separate clients of one prefix: one presence.left each."""
    prefix = unique_prefix()
    async with AsyncExitStack() as stack:
        nodes = [await open_store(stack, redis_server, redis_prefix=prefix) for _ in range(3)]
        backend = nodes[0].backend
        for i in range(10):
            await backend.presence.join(WS, session(ANA, f"s-{i}"), SHORT_MS)
        await until_session_expired(backend, [f"s-{i}" for i in range(10)])

        results = await asyncio.gather(
            *(node.backend.sweep(WS, 3) for node in nodes for _ in range(3))
        )

        assert sum(r.sessions_expired for r in results) == 10
        assert (await backend.sweep(WS, 100)).sessions_expired == 0
        left = [e.data["session_id"] for e in await log_of(backend) if e.type == "presence.left"]
        assert sorted(left) == sorted(f"s-{i}" for i in range(10))


async def test_a_password_in_the_url_is_used_and_masked(private_redis: RedisServer) -> None:
    """A redis://:password@ URL authenticates, and `url` never shows the password."""
    async with AsyncExitStack() as stack:
        raw = Redis.from_url(private_redis.url())
        stack.push_async_callback(raw.aclose)
        await raw.config_set("requirepass", "s3cret-pass")
        url = f"redis://:s3cret-pass@127.0.0.1:{private_redis.port}/0"
        store = await open_store(stack, private_redis, backend_url=url)

        assert "s3cret-pass" not in store.backend.url
        assert str(private_redis.port) in store.backend.url
        await store.backend.ping()
        assert (await store.backend.log.publish(WS, draft())).seq == 1


async def test_a_lost_offset_counter_starts_a_new_epoch_with_an_empty_history(
    store: Store,
) -> None:
    """If the workspace's counter is lost (evicted), the next event opens a new epoch at 1."""
    backend = store.backend
    before = [await backend.log.publish(WS, draft(data={"i": i})) for i in range(3)]
    counters = [
        key for key in await store.keys() if f"{{{WS.tag}}}" in key and key.endswith(":seq")
    ]
    assert len(counters) == 1, f"expected one offset counter key, found {counters}"
    await store.raw.delete(counters[0])

    after = await backend.log.publish(WS, draft(data={"i": "after"}))

    assert after.seq == 1
    assert after.epoch not in ("", before[0].epoch)
    page = await backend.log.read(WS, 0, 10)
    assert (page.epoch, page.head, page.oldest, page.events) == (after.epoch, 1, 1, (after,))


async def test_a_credential_stream_that_lost_its_history_leaves_its_keys_unverified(
    store: Store,
) -> None:
    """The org's credential stream starts a new epoch (its counter was lost, as when Redis
    lost its data): a revocation may be gone with it, so every watch of the org is told
    `unverified` (its connection authenticates again), and the next revocation still arrives."""
    backend = store.backend
    keys = [dataclasses.replace(_api_key(), id=f"k{i}", key_hash=f"{i}" * 64) for i in range(3)]
    for key in keys:
        await backend.keys.create(key)
    await backend.keys.revoke("acme", "k0")  # the stream has an epoch now
    told: dict[str, list[Verdict]] = {"k1": [], "k2": []}
    async with AsyncExitStack() as stack:
        node = await stack.enter_async_context(Node(backend, store.settings).running())
        for key in keys[1:]:
            watch = node.credentials.watch(
                "acme", key.id, key_fingerprint(key.key_hash), told[key.id].append
            )
            await stack.enter_async_context(watch)
        counter = f"{store.prefix}:{{{credentials_stream('acme').tag}}}:seq"
        assert await store.raw.delete(counter) == 1

        await backend.keys.revoke("acme", "k2")

        async def all_told() -> bool:
            return all(told.values())

        await wait_until(all_told, what="both watches to be told")
        assert told == {"k1": ["unverified"], "k2": ["unverified"]}, "told once each"


async def test_concurrent_calls_share_one_round_trip_and_one_connection(store: Store) -> None:
    """Calls made by many tasks in one turn of the event loop go to Redis in one write on
    the node's one connection, and each caller gets its own reply."""
    backend, raw = store.backend, store.raw
    await backend.locks.acquire(WS, DOC2, ANA, LONG_MS)  # opens the link's connection
    holders = [Holder(f"u{i}", f"U{i}", f"s{i}") for i in range(50)]
    entities = [EntityRef("doc", f"batch-{i}") for i in range(50)]
    before = await _connections_of(raw, store)
    replies = await asyncio.gather(
        *(backend.locks.acquire(WS, e, h, LONG_MS) for e, h in zip(entities, holders, strict=True))
    )
    after = await _connections_of(raw, store)
    assert [r.lock.user_id for r in replies] == [h.user_id for h in holders]
    assert all(isinstance(r, Granted) for r in replies)
    assert [r.lock.entity for r in replies] == entities
    tokens = [r.lock.token for r in replies]
    assert len(set(tokens)) == len(tokens)
    assert after == before, f"{after - before} more connections for 50 concurrent calls"


async def _connections_of(raw: Redis, store: Store) -> int:
    """Connections to this server other than the raw client's own."""
    clients = await raw.client_list()
    return len(clients) - 1


async def test_a_flood_of_callers_shares_the_one_connection_while_redis_is_busy(
    redis_server: RedisServer,
) -> None:
    """Callers that keep coming over many loop turns while Redis is busy are written behind
    each other on the same connection rather than opening connection after connection
    (redis-py's pool refuses past 100: "Too many connections"). A generous timeout: this is
    about connections, not speed."""
    async with AsyncExitStack() as stack:
        store = await open_store(stack, redis_server, redis_timeout=10.0)
        backend, raw = store.backend, store.raw
        await backend.locks.acquire(WS, DOC2, ANA, LONG_MS)
        before = await _connections_of(raw, store)
        holders = [Holder(f"f{i}", None, f"fs{i}") for i in range(200)]

        async def caller(i: int) -> None:
            for _ in range(i % 50):  # arrive on 50 different turns
                await asyncio.sleep(0)
            granted = await backend.locks.acquire(
                WS, EntityRef("doc", f"flood-{i}"), holders[i], LONG_MS
            )
            assert isinstance(granted, Granted)

        async with _redis_busy(raw):
            await asyncio.gather(*(caller(i) for i in range(200)))
        after = await _connections_of(raw, store)
        assert after == before, f"{after - before} more connections for 200 callers"


async def test_calls_run_in_redis_in_the_order_they_were_made(redis_server: RedisServer) -> None:
    """Publishes made one after another, by different tasks on different loop turns while
    Redis is busy, get offsets in the order they were made: one connection, written in
    order, answered in order."""
    async with AsyncExitStack() as stack:
        store = await open_store(stack, redis_server, redis_timeout=10.0)
        backend = store.backend
        await backend.log.publish(WS, draft())
        made: list[int] = []

        async def publisher(i: int) -> int:
            for _ in range((i * 7) % 40):  # a scrambled order of arrival
                await asyncio.sleep(0)
            made.append(i)
            return (await backend.log.publish(WS, draft(data={"i": i}))).seq

        async with _redis_busy(store.raw):
            offsets = await asyncio.gather(*(publisher(i) for i in range(200)))
        in_order_made = [offsets[i] for i in made]
        assert in_order_made == list(range(2, 202))


async def test_the_first_calls_on_a_redis_without_the_scripts_run_in_order(
    private_redis: RedisServer,
) -> None:
    """On a Redis that has never seen the scripts, publishes made over many loop turns still
    get offsets in the order they were made: the scripts are loaded when the connection
    opens, before any call, so no call is refused (NOSCRIPT) and sent again behind later
    ones."""
    async with AsyncExitStack() as stack:
        store = await open_store(stack, private_redis, redis_timeout=10.0)
        made: list[int] = []

        async def publisher(i: int) -> int:
            for _ in range(i % 20):
                await asyncio.sleep(0)
            made.append(i)
            return (await store.backend.log.publish(WS, draft(data={"i": i}))).seq

        offsets = await asyncio.gather(*(publisher(i) for i in range(100)))
        assert [offsets[i] for i in made] == list(range(1, 101))


async def test_past_redis_max_waiting_a_call_is_refused_at_once_and_changes_nothing(
    redis_server: RedisServer,
) -> None:
    """With `redis_max_waiting` calls already waiting on a busy Redis, the next call is
    refused with BackendUnavailable before anything is sent; the waiting ones complete."""
    async with AsyncExitStack() as stack:
        store = await open_store(stack, redis_server, redis_timeout=10.0, redis_max_waiting=10)
        backend = store.backend
        await backend.ping()
        entities = [EntityRef("doc", f"wait-{i}") for i in range(11)]
        async with _redis_busy(store.raw):
            waiting = [
                asyncio.create_task(backend.locks.acquire(WS, e, ANA, LONG_MS))
                for e in entities[:10]
            ]
            await asyncio.sleep(0)  # they reach the link's queue
            with pytest.raises(BackendUnavailable, match="redis_max_waiting"):
                await backend.locks.acquire(WS, entities[10], ANA, LONG_MS)
            granted = await asyncio.gather(*waiting)
        assert all(isinstance(g, Granted) for g in granted)
        assert await backend.locks.get(WS, [entities[10]]) == [None]
        assert isinstance(await backend.locks.acquire(WS, entities[10], ANA, LONG_MS), Granted)


@asynccontextmanager
async def _redis_busy(raw: Redis) -> AsyncIterator[None]:
    """Redis runs a 300 ms script meanwhile and answers nobody until the block has ended
    and the script with it."""
    await raw.ping()  # connected: the script goes out on the next turn
    busy = asyncio.create_task(raw.eval(BUSY_FOR_300_MS, 0))
    try:
        yield
    finally:
        await busy


BUSY_FOR_300_MS: Final = """
local start = redis.call('TIME')
while true do
  local now = redis.call('TIME')
  if (now[1] - start[1]) * 1000000 + (now[2] - start[2]) > 300000 then return 1 end
end
"""
