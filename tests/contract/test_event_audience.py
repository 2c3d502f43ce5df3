"""Audiences travel with their events: stored in the log, published live, and on every write
that emits an event (custom publish, ephemeral broadcast, record writes). Who receives what is
decided above the backend (`hub.audience.Reader`); the backend's part is to keep the audience
exactly, on both backends alike."""

from __future__ import annotations

import asyncio

from huddle.backends.base import Backend, Subscription
from huddle.hub.audience import Reader
from huddle.models import MEMBERSHIP_CHANGED, Audience, Event, EventDraft
from huddle.store import CreateOp, DeleteOp, RecordEvent, RecordWrite, StoredRecord
from tests.support.contract import ANA_ACTOR, WS, draft, log_of

GET_TIMEOUT = 5.0
PRIVATE = Audience.of(["ana", "ben"], ["department:7"])


async def next_event(subscription: Subscription) -> Event:
    async with asyncio.timeout(GET_TIMEOUT):
        return await subscription.get()


async def test_a_published_audience_is_stored_and_published_as_given(backend: Backend) -> None:
    async with backend.log.subscribe(WS) as live:
        private = EventDraft("chat.message", {"text": "hi"}, ANA_ACTOR, audience=PRIVATE)
        event = await backend.log.publish(WS, private)
        public = await backend.log.publish(WS, draft("chat.opened", {}))
        assert (await next_event(live)).audience == PRIVATE
        assert (await next_event(live)).audience is None
    assert event.audience == PRIVATE
    assert public.audience is None
    stored = (await backend.log.read(WS, 0, 10)).events
    assert [e.audience for e in stored] == [PRIVATE, None]
    assert [e.data for e in stored] == [{"text": "hi"}, {}]


async def test_an_empty_audience_is_kept_apart_from_none(backend: Backend) -> None:
    """An empty audience reaches no user (services only); None is the whole workspace."""
    nobody = Audience()
    await backend.log.publish(WS, EventDraft("x.y", {}, ANA_ACTOR, audience=nobody))
    [event] = (await backend.log.read(WS, 0, 10)).events
    assert event.audience == nobody
    assert not event.audience.admits("ana", frozenset({"department:7"}))


async def test_an_idempotent_repeat_answers_the_first_audience(backend: Backend) -> None:
    first = EventDraft("x.y", {}, ANA_ACTOR, "k-1", audience=PRIVATE)
    again = EventDraft("x.y", {}, ANA_ACTOR, "k-1", audience=Audience.of(["zed"]))
    assert (await backend.log.publish(WS, first)).audience == PRIVATE
    assert (await backend.log.publish(WS, again)).audience == PRIVATE
    assert len(await log_of(backend, WS, with_users=True)) == 1


async def test_a_broadcast_carries_its_audience_to_live_subscribers(backend: Backend) -> None:
    async with backend.log.subscribe(WS) as live:
        typing = EventDraft("chat.typing", {"on": True}, ANA_ACTOR, audience=PRIVATE)
        await backend.log.broadcast(WS, typing)
        got = await next_event(live)
    assert (got.seq, got.type, got.audience) == (0, "chat.typing", PRIVATE)


async def test_record_events_carry_the_write_audience(backend: Backend) -> None:
    records = backend.records
    created_event = RecordEvent("chat.created", ANA_ACTOR, {"title": "a"}, audience=PRIVATE)
    created = await records.create(
        WS, "chat", RecordWrite({"title": "a"}, ANA_ACTOR, created_event)
    )
    assert isinstance(created, StoredRecord)
    members = Audience.of(["ana"])
    updated_event = RecordEvent("chat.updated", ANA_ACTOR, {"title": "b"}, audience=members)
    await records.update(
        WS, "chat", created.id, 1, RecordWrite({"title": "b"}, ANA_ACTOR, updated_event)
    )
    deleted_event = RecordEvent("chat.deleted", ANA_ACTOR, {}, audience=members)
    await records.delete(WS, "chat", created.id, 2, deleted_event)
    public = RecordEvent("chat.noted", ANA_ACTOR, {})
    await records.create(WS, "chat", RecordWrite({"title": "c"}, ANA_ACTOR, public))
    stored = (await backend.log.read(WS, 0, 10)).events
    assert [(e.type, e.audience) for e in stored] == [
        ("chat.created", PRIVATE),
        ("chat.updated", members),
        ("chat.deleted", members),
        ("chat.noted", None),
    ]
    assert stored[0].data["title"] == "a" and stored[0].data["version"] == 1


async def test_a_reader_applies_membership_changes_in_log_order(backend: Backend) -> None:
    """The log of a membership change and of events for a group, read back and folded by a
    reader: what it admits follows the user's groups event by event."""
    for_dept = EventDraft("post.created", {}, ANA_ACTOR, audience=Audience.of((), ["dept:1"]))
    joined = EventDraft(
        MEMBERSHIP_CHANGED,
        {"user_id": "ben", "members_of": ["dept:1"]},
        ANA_ACTOR,
        audience=Audience.of(["ben"]),
    )
    left = EventDraft(
        MEMBERSHIP_CHANGED, {"user_id": "ben", "members_of": []}, ANA_ACTOR, None, PRIVATE
    )
    for d in (for_dept, joined, for_dept, left, for_dept):
        await backend.log.publish(WS, d)
    events = (await backend.log.read(WS, 0, 10)).events
    ben, cleo = Reader("ben"), Reader("cleo", frozenset({"dept:1"}))
    assert [ben.sees(e) for e in events] == [False, True, True, True, False]
    assert [cleo.sees(e) for e in events] == [True, False, True, False, True]


async def test_batch_events_carry_each_op_audience(backend: Backend) -> None:
    chat = RecordEvent("chat.created", ANA_ACTOR, {}, audience=PRIVATE)
    note = RecordEvent("chat.noted", ANA_ACTOR, {})
    [chat_id] = await backend.records.reserve(WS, "chat", 1)
    done = await backend.records.batch(
        WS,
        [
            CreateOp("chat", RecordWrite({"t": 1}, ANA_ACTOR, chat), record_id=chat_id),
            CreateOp("note", RecordWrite({"t": 2}, ANA_ACTOR, note)),
            DeleteOp("chat", chat_id, 1, RecordEvent("chat.deleted", ANA_ACTOR, {}, PRIVATE)),
        ],
    )
    assert isinstance(done, tuple)
    stored = (await backend.log.read(WS, 0, 10)).events
    assert [(e.type, e.audience) for e in stored] == [
        ("chat.created", PRIVATE),
        ("chat.noted", None),
        ("chat.deleted", PRIVATE),
    ]
