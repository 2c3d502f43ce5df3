"""EventLog: dense offsets under an epoch, bounded retention, idempotent publish, live delivery."""

from __future__ import annotations

import asyncio

import pytest

from huddle.backends.base import Backend, Subscription, SubscriptionLost
from huddle.models import Event
from tests.support.backends import BackendFactory
from tests.support.contract import (
    ANA,
    ANA_ACTOR,
    CLOCK_SKEW_MS,
    DOC1,
    LONG_MS,
    OTHER_ORG_WS,
    OTHER_WS,
    SERVICE,
    WS,
    draft,
    head_of,
    log_of,
    session,
    wall_ms,
)
from tests.support.waiting import wait_until

GET_TIMEOUT = 5.0


async def next_event(subscription: Subscription) -> Event:
    async with asyncio.timeout(GET_TIMEOUT):
        return await subscription.get()


# --- publish and read ------------------------------------------------------------------------


async def test_publish_returns_the_event_the_log_stores(backend: Backend) -> None:
    """publish answers the stored event: the draft's type, data and actor, seq 1, an epoch."""
    before = wall_ms()
    event = await backend.log.publish(WS, draft("note.added", {"text": "hi"}, actor=ANA_ACTOR))
    after = wall_ms()

    assert event.workspace == WS
    assert event.type == "note.added"
    assert event.data == {"text": "hi"}
    assert event.actor == ANA_ACTOR
    assert event.seq == 1
    assert event.epoch != ""
    assert before - CLOCK_SKEW_MS <= event.ts_ms <= after + CLOCK_SKEW_MS
    page = await backend.log.read(WS, 0, 10)
    assert page.events == (event,)
    assert (page.epoch, page.head, page.oldest) == (event.epoch, 1, 1)


async def test_event_data_and_actor_round_trip_unchanged(backend: Backend) -> None:
    """Nested data of every JSON type, unicode and a service or absent actor come back equal."""
    data = {
        "text": "Grüße, 世界 🎉",
        "n": -12,
        "big": 2**53,
        "ratio": 0.25,
        "flags": [True, False, None],
        "nested": {"list": [1, "two", {"three": 3}], "empty": {}},
    }
    first = await backend.log.publish(WS, draft("custom.thing", data, actor=SERVICE))
    second = await backend.log.publish(WS, draft("custom.thing", {}, actor=None))

    assert first.data == data
    assert first.actor == SERVICE
    assert second.actor is None
    assert second.data == {}
    assert await log_of(backend) == [first, second]


async def test_offsets_are_dense_across_every_kind_of_event(backend: Backend) -> None:
    """Published, presence and lock events share one offset sequence: 1, 2, 3 ... no holes."""
    await backend.log.publish(WS, draft())
    await backend.presence.join(WS, session(ANA), LONG_MS)
    await backend.locks.acquire(WS, DOC1, ANA, LONG_MS)
    await backend.presence.view(WS, session(ANA), DOC1, LONG_MS)
    for _ in range(20):
        await backend.log.publish(WS, draft())

    events = await log_of(backend, with_users=True)  # presence.joined, then user.online
    assert [e.seq for e in events] == list(range(1, 26))
    assert await head_of(backend) == 25


async def test_every_event_carries_the_workspace_epoch(backend: Backend) -> None:
    """The epoch is created with the first event and stays the same for every later one."""
    await backend.presence.join(WS, session(ANA), LONG_MS)
    for _ in range(5):
        await backend.log.publish(WS, draft())

    page = await backend.log.read(WS, 0, 100)
    assert page.epoch != ""
    assert {e.epoch for e in page.events} == {page.epoch}
    assert (await backend.log.publish(WS, draft())).epoch == page.epoch


async def test_workspaces_get_different_random_epochs(backend: Backend) -> None:
    """Two workspaces' epochs differ: a cursor of one is never valid in the other."""
    one = await backend.log.publish(WS, draft())
    two = await backend.log.publish(OTHER_WS, draft())
    assert one.epoch != two.epoch


async def test_reading_an_untouched_workspace_answers_an_empty_log_and_creates_nothing(
    backend: Backend,
) -> None:
    """An untouched workspace reads epoch "", head 0, oldest 1, no events, however often."""
    for _ in range(2):
        page = await backend.log.read(WS, 0, 100)
        assert (page.epoch, page.head, page.oldest, page.events) == ("", 0, 1, ())
    first = await backend.log.publish(WS, draft())
    assert (first.seq, first.epoch != "") == (1, True)


async def test_read_returns_events_after_the_offset_oldest_first_at_most_limit(
    backend: Backend,
) -> None:
    """read(after, limit) answers seq > after, ascending, at most limit, with head and oldest."""
    published = [await backend.log.publish(WS, draft(data={"i": i})) for i in range(10)]

    page = await backend.log.read(WS, 0, 3)
    assert page.events == tuple(published[:3])
    assert (page.head, page.oldest) == (10, 1)
    assert (await backend.log.read(WS, 3, 100)).events == tuple(published[3:])
    assert (await backend.log.read(WS, 4, 1)).events == (published[4],)
    assert (await backend.log.read(WS, 9, 100)).events == (published[9],)


async def test_read_at_or_past_the_head_answers_no_events(backend: Backend) -> None:
    """Nothing is after the head; the slice still tells the epoch and the head."""
    event = await backend.log.publish(WS, draft())
    for after in (1, 5):
        page = await backend.log.read(WS, after, 10)
        assert (page.epoch, page.head, page.oldest, page.events) == (event.epoch, 1, 1, ())


async def test_the_log_is_bounded_and_gapless_from_its_oldest_offset(
    make_backend: BackendFactory,
) -> None:
    """Well past event_log_length, old events are dropped (oldest > 1) and the rest is gapless."""
    backend = await make_backend.open(event_log_length=10)
    for i in range(300):
        await backend.log.publish(WS, draft(data={"i": i}))

    page = await backend.log.read(WS, 0, 1_000)
    assert page.head == 300
    assert page.oldest > 1
    assert page.events[0].seq == page.oldest
    assert [e.seq for e in page.events] == list(range(page.oldest, 301))
    assert len(page.events) >= 10, "fewer than event_log_length events retained"
    assert [e.data["i"] for e in page.events] == list(range(page.oldest - 1, 300))


async def test_reading_a_trimmed_log_from_the_start_begins_at_oldest(
    make_backend: BackendFactory,
) -> None:
    """A read after an offset older than the log starts at `oldest`; paging reaches the head."""
    backend = await make_backend.open(event_log_length=10)
    for _ in range(300):
        await backend.log.publish(WS, draft())

    first = await backend.log.read(WS, 0, 5)
    assert [e.seq for e in first.events] == list(range(first.oldest, first.oldest + 5))
    seqs, after = [], first.oldest - 1
    while page_events := (await backend.log.read(WS, after, 7)).events:
        assert len(page_events) <= 7
        seqs.extend(e.seq for e in page_events)
        after = page_events[-1].seq
    assert seqs == list(range(first.oldest, 301))


async def test_concurrent_publishes_get_distinct_dense_offsets(
    make_backend: BackendFactory,
) -> None:
    """Publishes racing from two clients of one store get offsets 1..n, each exactly once."""
    backend = await make_backend.open()
    other = await make_backend.twin(backend)

    published = await asyncio.gather(
        *((backend if i % 2 else other).log.publish(WS, draft(data={"i": i})) for i in range(40))
    )

    assert sorted(e.seq for e in published) == list(range(1, 41))
    logged = await log_of(backend)
    assert [e.seq for e in logged] == list(range(1, 41))
    assert {e.data["i"]: e.seq for e in logged} == {e.data["i"]: e.seq for e in published}


async def test_concurrent_repeats_of_an_idempotency_key_append_once(
    make_backend: BackendFactory,
) -> None:
    """Racing publishes with one idempotency key all return the same single event."""
    backend = await make_backend.open()
    other = await make_backend.twin(backend)

    results = await asyncio.gather(
        *((backend if i % 2 else other).log.publish(WS, draft(key="once")) for i in range(10))
    )

    assert all(r == results[0] for r in results)
    assert await log_of(backend) == [results[0]]


# --- idempotency ----------------------------------------------------------------------------


async def test_a_repeated_idempotency_key_returns_the_first_event(backend: Backend) -> None:
    """A repeat of the key within the window returns the first event and appends nothing."""
    first = await backend.log.publish(WS, draft(data={"v": 1}, key="op-1"))
    again = await backend.log.publish(WS, draft(data={"v": 2}, key="op-1"))

    assert again == first
    assert await log_of(backend) == [first]


async def test_distinct_or_absent_idempotency_keys_append_each_time(backend: Backend) -> None:
    """Only the same key deduplicates; different keys and no key append every time."""
    await backend.log.publish(WS, draft(key="a"))
    await backend.log.publish(WS, draft(key="b"))
    await backend.log.publish(WS, draft())
    await backend.log.publish(WS, draft())
    assert [e.seq for e in await log_of(backend)] == [1, 2, 3, 4]


async def test_idempotency_keys_are_scoped_to_their_workspace(backend: Backend) -> None:
    """The same key in another workspace is another event there, never this workspace's."""
    mine = await backend.log.publish(WS, draft(data={"who": "acme"}, key="k"))
    theirs = await backend.log.publish(OTHER_ORG_WS, draft(data={"who": "globex"}, key="k"))

    assert theirs.workspace == OTHER_ORG_WS
    assert theirs.data == {"who": "globex"}
    assert theirs.seq == 1
    assert await log_of(backend) == [mine]
    assert await log_of(backend, OTHER_ORG_WS) == [theirs]


async def test_an_idempotency_key_appends_again_after_its_window(
    make_backend: BackendFactory,
) -> None:
    """Once idempotency_window has passed, the same key publishes a new event."""
    backend = await make_backend.open(idempotency_window=0.2)
    first = await backend.log.publish(WS, draft(key="op-1"))

    async def appended_anew() -> Event | None:
        event = await backend.log.publish(WS, draft(key="op-1"))
        return event if event.seq != first.seq else None

    second = await wait_until(appended_anew, what="the idempotency window to pass")
    assert second.seq == 2
    assert [e.seq for e in await log_of(backend)] == [1, 2]


# --- subscriptions ---------------------------------------------------------------------------


async def test_a_subscription_gets_what_is_published_after_entering_in_log_order(
    backend: Backend,
) -> None:
    """Events published before subscribing are not delivered; later ones are, in log order."""
    await backend.log.publish(WS, draft(data={"i": "before"}))
    async with backend.log.subscribe(WS) as subscription:
        published = [await backend.log.publish(WS, draft(data={"i": i})) for i in range(5)]
        received = [await next_event(subscription) for _ in range(5)]

    assert received == published
    assert received == (await log_of(backend))[1:]


async def test_a_subscription_delivers_the_events_backend_operations_emit(
    backend: Backend,
) -> None:
    """Presence and lock changes reach subscribers as the same events the log holds."""
    async with backend.log.subscribe(WS) as subscription:
        await backend.presence.join(WS, session(ANA), LONG_MS)
        await backend.locks.acquire(WS, DOC1, ANA, LONG_MS)
        await backend.locks.release(WS, DOC1, ANA.user_id)
        await backend.presence.leave(WS, ANA.session_id or "")
        received = [await next_event(subscription) for _ in range(6)]

    assert [e.type for e in received] == [
        "presence.joined",
        "user.online",
        "lock.acquired",
        "lock.released",
        "presence.left",
        "user.offline",
    ]
    assert received == await log_of(backend, with_users=True)


async def test_a_subscription_can_be_iterated(backend: Backend) -> None:
    """`async for` over a subscription yields the same events as get(), in order."""
    async with backend.log.subscribe(WS) as subscription:
        published = [await backend.log.publish(WS, draft(data={"i": i})) for i in range(3)]
        received: list[Event] = []
        async with asyncio.timeout(GET_TIMEOUT):
            async for event in subscription:
                received.append(event)
                if len(received) == 3:
                    break
    assert received == published


async def test_a_subscription_sees_only_its_own_workspace(backend: Backend) -> None:
    """Events of other workspaces, same org or other org, never reach a subscriber."""
    async with backend.log.subscribe(WS) as subscription:
        await backend.log.publish(OTHER_WS, draft(data={"leak": 1}))
        await backend.log.publish(OTHER_ORG_WS, draft(data={"leak": 2}))
        await backend.locks.acquire(OTHER_WS, DOC1, ANA, LONG_MS)
        marker = await backend.log.publish(WS, draft(data={"marker": True}))
        assert await next_event(subscription) == marker


async def test_every_subscriber_of_a_workspace_gets_every_event(backend: Backend) -> None:
    """Two subscriptions of one workspace each receive the whole stream."""
    async with backend.log.subscribe(WS) as one, backend.log.subscribe(WS) as two:
        published = [await backend.log.publish(WS, draft(data={"i": i})) for i in range(3)]
        assert [await next_event(one) for _ in range(3)] == published
        assert [await next_event(two) for _ in range(3)] == published


async def test_a_subscription_starts_when_entered(backend: Backend) -> None:
    """An event published between two subscriptions reaches neither."""
    async with backend.log.subscribe(WS):
        pass
    await backend.log.publish(WS, draft(data={"between": True}))
    async with backend.log.subscribe(WS) as subscription:
        later = await backend.log.publish(WS, draft(data={"later": True}))
        assert await next_event(subscription) == later


async def test_a_subscriber_other_nodes_publish_to_gets_their_events(
    make_backend: BackendFactory,
) -> None:
    """Events published through another client of the same store are delivered too."""
    backend = await make_backend.open()
    other = await make_backend.twin(backend)
    async with backend.log.subscribe(WS) as subscription:
        published = [await other.log.publish(WS, draft(data={"i": i})) for i in range(3)]
        assert [await next_event(subscription) for _ in range(3)] == published


async def test_delivery_order_is_log_order_under_concurrent_publishers(
    make_backend: BackendFactory,
) -> None:
    """With two clients publishing at once, a subscriber still gets offsets 1..n in order."""
    backend = await make_backend.open()
    other = await make_backend.twin(backend)
    async with backend.log.subscribe(WS) as subscription:
        await asyncio.gather(
            *(
                (backend if i % 2 else other).log.publish(WS, draft(data={"i": i}))
                for i in range(30)
            )
        )
        received = [await next_event(subscription) for _ in range(30)]

    assert [e.seq for e in received] == list(range(1, 31))
    assert received == await log_of(backend)


async def test_a_subscriber_within_the_queue_limit_loses_nothing(
    make_backend: BackendFactory,
) -> None:
    """A subscriber at most subscriber_queue_limit events behind gets them all."""
    backend = await make_backend.open(subscriber_queue_limit=3)
    async with backend.log.subscribe(WS) as subscription:
        for _ in range(2):
            published = [await backend.log.publish(WS, draft()) for _ in range(3)]
            assert [await next_event(subscription) for _ in range(3)] == published


async def test_a_subscriber_that_falls_too_far_behind_is_lost(
    make_backend: BackendFactory,
) -> None:
    """Past subscriber_queue_limit undelivered events, get() raises SubscriptionLost."""
    limit = 3
    backend = await make_backend.open(subscriber_queue_limit=limit)
    async with backend.log.subscribe(WS) as subscription:
        published = [await backend.log.publish(WS, draft()) for _ in range(20)]
        received: list[Event] = []
        with pytest.raises(SubscriptionLost):  # noqa: PT012 - the raise may come on any get
            for _ in range(limit + 1):
                received.append(await next_event(subscription))

    # What did arrive before the loss is a prefix of the log, in order.
    assert received == published[: len(received)]


# --- ephemeral broadcasts ----------------------------------------------------------------------


async def test_a_broadcast_reaches_live_subscribers_and_never_the_log(backend: Backend) -> None:
    """An ephemeral event (seq 0) goes to subscribers between logged ones, in order, and
    leaves the log, its head and its offsets untouched."""
    first = await backend.log.publish(WS, draft(data={"i": 1}))
    async with backend.log.subscribe(WS) as subscription:
        cursor = await backend.log.broadcast(WS, draft(data={"x": 10, "y": 4}))
        second = await backend.log.publish(WS, draft(data={"i": 2}))
        received = [await next_event(subscription) for _ in range(2)]

    assert cursor.seq == 0 and cursor.ephemeral and cursor.epoch == first.epoch
    assert cursor.data == {"x": 10, "y": 4}
    assert cursor.to_wire()["id"] is None
    assert received == [cursor, second]
    assert second.seq == first.seq + 1
    assert await log_of(backend) == [first, second]


async def test_a_broadcast_to_an_untouched_workspace_creates_nothing(backend: Backend) -> None:
    """Broadcasting makes no epoch and no log: the workspace still reads as untouched."""
    event = await backend.log.broadcast(OTHER_WS, draft())
    assert (event.epoch, event.seq) == ("", 0)
    page = await backend.log.read(OTHER_WS, 0, 10)
    assert (page.epoch, page.head, page.events) == ("", 0, ())
