"""RecordStore.batch and reserve: several writes across collections as one atomic step."""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Sequence
from typing import Any, Final

import pytest

from huddle.backends.base import Backend
from huddle.models import Actor, Granted, Holder, Lock
from huddle.store import (
    BATCH_LIMIT,
    AnyOf,
    BatchOp,
    BatchOutcome,
    BatchRefused,
    CreateOp,
    DeleteOp,
    Filter,
    Guard,
    IndexEntry,
    Locked,
    Missing,
    Query,
    RecordEvent,
    RecordWrite,
    Reference,
    Stale,
    StoredRecord,
    Taken,
    UniqueKey,
    Unresolved,
    UpdateOp,
    VersionChanged,
)
from tests.support.backends import BackendFactory
from tests.support.contract import (
    ANA_ACTOR,
    BEN,
    DOC1,
    LONG_MS,
    SHORT_MS,
    WS,
    backend_now,
    head_of,
    log_of,
    types_of,
    until_lock_expired,
)
from tests.support.records import NOTES, create, write

TAGS: Final = "tag"
CHATS: Final = "chat"
MESSAGES: Final = "message"
BEN_ACTOR: Final = Actor("user", "ben", "Ben")
ROUNDS: Final = 30


def slugged(slug: str, **data: Any) -> RecordWrite:
    return write({"slug": slug, **data}, unique=[UniqueKey("slug", slug)])


def ranked(rank: int, slug: str) -> RecordWrite:
    return write(
        {"rank": rank, "slug": slug},
        indexes=[IndexEntry("rank", "n", rank)],
        unique=[UniqueKey("slug", slug)],
    )


async def applied(backend: Backend, ops: Sequence[BatchOp]) -> tuple[StoredRecord, ...]:
    """The records `ops` wrote; the test fails if the batch is refused."""
    result = await backend.records.batch(WS, ops)
    assert isinstance(result, tuple), result
    return result


async def lease(backend: Backend, holder: Holder, ttl_ms: int = LONG_MS) -> Lock:
    result = await backend.locks.acquire(WS, DOC1, holder, ttl_ms)
    assert isinstance(result, Granted), result
    return result.lock


async def slug_holder(backend: Backend, slug: str, collection: str = NOTES) -> int | None:
    record = await backend.records.find(WS, collection, UniqueKey("slug", slug))
    return None if record is None else record.id


def system_data(record: StoredRecord) -> dict[str, int]:
    return {
        "id": record.id,
        "version": record.version,
        "created_at_ms": record.created_at_ms,
        "updated_at_ms": record.updated_at_ms,
    }


# --- success ---------------------------------------------------------------------------------


async def test_a_batch_writes_across_collections_with_its_events_in_op_order(
    backend: Backend,
) -> None:
    """Create a chat under a reserved id and a message referring to it, update and delete
    notes: every op happens, the answer is each record as written (a delete: as it was), and
    the events follow one another in op order, with the data single writes give them."""
    old = await create(backend, slugged("old"))
    gone = await create(backend, write({"t": "gone"}))
    [chat_id] = await backend.records.reserve(WS, CHATS, 1)
    head = await head_of(backend)
    chat_ref = Reference("chat", CHATS, chat_id)
    deleted_event = RecordEvent("note.deleted", BEN_ACTOR, {"by": "ben"})
    before = await backend_now(backend)
    chat, message, updated, deleted = await applied(
        backend,
        [
            CreateOp(CHATS, write({"title": "Deal 7"}, event="chat.created"), chat_id),
            CreateOp(
                MESSAGES,
                write(
                    {"text": "hi"},
                    indexes=[IndexEntry("chat", "n", chat_id)],
                    references=[chat_ref],
                    event="message.created",
                ),
            ),
            UpdateOp(
                NOTES,
                old.id,
                1,
                write(
                    {"slug": "new"},
                    unique=[UniqueKey("slug", "new")],
                    event="note.updated",
                    actor=BEN_ACTOR,
                ),
            ),
            DeleteOp(NOTES, gone.id, 1, deleted_event),
        ],
    )
    after = await backend_now(backend)

    now = chat.created_at_ms
    assert chat == StoredRecord(CHATS, chat_id, 1, now, now, "ana", "ana", {"title": "Deal 7"})
    assert (message.collection, message.id, message.version) == (MESSAGES, 1, 1)
    assert (updated.id, updated.version, updated.data) == (old.id, 2, {"slug": "new"})
    assert (updated.created_by, updated.updated_by) == ("ana", "ben")
    assert deleted == gone
    assert before <= now == message.created_at_ms == updated.updated_at_ms <= after

    assert await backend.records.get(WS, CHATS, [chat_id]) == [chat]
    assert await backend.records.get(WS, MESSAGES, [1]) == [message]
    assert await backend.records.get(WS, NOTES, [old.id, gone.id]) == [updated, None]
    assert await slug_holder(backend, "old") is None
    assert await slug_holder(backend, "new") == old.id
    by_chat = Query(filters=[Filter("chat", "n", chat_id)])
    assert (await backend.records.query(WS, MESSAGES, by_chat)).records == (message,)

    events = await log_of(backend, after=head)
    assert [e.seq for e in events] == [head + 1, head + 2, head + 3, head + 4]
    assert [(e.type, e.actor) for e in events] == [
        ("chat.created", ANA_ACTOR),
        ("message.created", ANA_ACTOR),
        ("note.updated", BEN_ACTOR),
        ("note.deleted", BEN_ACTOR),
    ]
    assert events[0].data == {**system_data(chat), "note": {"title": "Deal 7"}}
    assert events[1].data == {**system_data(message), "note": {"text": "hi"}}
    assert events[2].data == {**system_data(updated), "note": {"slug": "new"}}
    assert events[3].data == {**system_data(gone), "by": "ben"}
    assert list(events[0].data)[:4] == ["id", "version", "created_at_ms", "updated_at_ms"]


async def test_a_record_created_in_a_batch_can_be_updated_and_deleted_in_it(
    backend: Backend,
) -> None:
    """Under a reserved id, a batch creates a record (version 1), updates it (2) and deletes
    it: nothing of it is left, and its three events are logged."""
    [rid] = await backend.records.reserve(WS, NOTES, 1)
    gone_event = RecordEvent("note.deleted", ANA_ACTOR, {})
    created, updated, deleted = await applied(
        backend,
        [
            CreateOp(NOTES, ranked(1, "x"), rid),
            UpdateOp(NOTES, rid, 1, ranked(2, "y")),
            DeleteOp(NOTES, rid, 2, gone_event),
        ],
    )
    assert (created.version, updated.version, deleted) == (1, 2, updated)
    assert await backend.records.get(WS, NOTES, [rid]) == [None]
    assert await slug_holder(backend, "x") is None and await slug_holder(backend, "y") is None
    assert (await backend.records.query(WS, NOTES, Query(sort="rank"))).total == 0
    events = await log_of(backend)
    assert [(e.data["id"], e.data["version"]) for e in events] == [(rid, 1), (rid, 2), (rid, 2)]


async def test_an_update_in_the_batch_replaces_the_entries_of_a_create_before_it(
    backend: Backend,
) -> None:
    """Created and then updated in one batch, a record has the update's index entries and
    unique values only."""
    [rid] = await backend.records.reserve(WS, NOTES, 1)
    _, updated = await applied(
        backend, [CreateOp(NOTES, ranked(1, "x"), rid), UpdateOp(NOTES, rid, 1, ranked(2, "y"))]
    )
    assert await backend.records.get(WS, NOTES, [rid]) == [updated]
    by_rank = [
        (await backend.records.query(WS, NOTES, Query(filters=[Filter("rank", "n", r)]))).total
        for r in (1, 2)
    ]
    assert by_rank == [0, 1]
    assert (await slug_holder(backend, "x"), await slug_holder(backend, "y")) == (None, rid)


async def test_a_batch_of_the_limit_is_applied(backend: Backend) -> None:
    """BATCH_LIMIT creates in one batch: ids 1 to BATCH_LIMIT, in op order."""
    records = await applied(
        backend, [CreateOp(NOTES, write({"n": n}, event=None)) for n in range(BATCH_LIMIT)]
    )
    assert [r.id for r in records] == list(range(1, BATCH_LIMIT + 1))
    assert [r.data["n"] for r in records] == list(range(BATCH_LIMIT))
    assert (await backend.records.query(WS, NOTES, Query())).total == BATCH_LIMIT


# --- refused: nothing changes ----------------------------------------------------------------


def last_ops(
    keep: StoredRecord, lock: Lock
) -> dict[str, tuple[BatchOp, Callable[[StoredRecord], BatchOutcome]]]:
    """A failing last op of each kind, with the outcome it must be refused with (given
    `keep` as the store holds it)."""
    missing_ref = Reference("tag", TAGS, 9)
    return {
        "taken": (CreateOp(NOTES, slugged("keep")), lambda k: Taken(UniqueKey("slug", "keep"), k)),
        "unresolved": (
            CreateOp(NOTES, write(references=[missing_ref])),
            lambda k: Unresolved(missing_ref),
        ),
        "missing": (UpdateOp(NOTES, 99, 1, write()), lambda k: Missing()),
        "version": (UpdateOp(NOTES, keep.id, 7, write()), VersionChanged),
        "locked": (
            DeleteOp(NOTES, keep.id, None, None, Guard(DOC1, "ana")),
            lambda k: Locked(lock),
        ),
        "stale": (
            UpdateOp(NOTES, keep.id, 1, write(), Guard(DOC1, "ben", lock.token + 1)),
            lambda k: Stale(lock, lock.token + 1),
        ),
    }


@pytest.mark.parametrize(
    "failure", ["taken", "unresolved", "missing", "version", "locked", "stale"]
)
async def test_a_batch_refused_on_its_last_op_changes_nothing(
    backend: Backend, failure: str
) -> None:
    """Creates, an update and a delete followed by an op that fails: the answer names that
    op and why; no record, index entry, unique value, event or id of the batch is left."""
    keep = await create(backend, ranked(1, "keep"))
    other = await create(backend, ranked(2, "other"))
    lock = await lease(backend, BEN)
    head = await head_of(backend)
    last, outcome = last_ops(keep, lock)[failure]
    ops: list[BatchOp] = [
        CreateOp(NOTES, ranked(5, "fresh")),
        CreateOp(TAGS, ranked(6, "tagged")),
        UpdateOp(NOTES, other.id, 1, ranked(7, "moved")),
        DeleteOp(NOTES, other.id, 2, None),
        last,
    ]
    result = await backend.records.batch(WS, ops)

    assert result == BatchRefused(4, outcome(keep))
    assert await backend.records.get(WS, NOTES, [keep.id, other.id, 3]) == [keep, other, None]
    assert await backend.records.get(WS, TAGS, [1]) == [None]
    ranks = await backend.records.query(WS, NOTES, Query(sort="rank"))
    assert [r.id for r in ranks.records] == [keep.id, other.id]
    for slug in ("fresh", "moved"):
        assert await slug_holder(backend, slug) is None
    assert await slug_holder(backend, "other") == other.id
    assert await slug_holder(backend, "tagged", TAGS) is None
    assert await head_of(backend) == head
    assert (await create(backend, write())).id == 3, "no id of the batch was used"
    assert (await create(backend, write(), TAGS)).id == 1


# --- each op sees the earlier ones: unique values --------------------------------------------


async def test_a_value_claimed_earlier_in_the_batch_is_taken(backend: Backend) -> None:
    """Two creates of one unique value: the second is Taken, its holder the first op's record
    as it would have been stored; nothing is created and no id is used."""
    await create(backend, write())
    before = await backend_now(backend)
    result = await backend.records.batch(
        WS,
        [
            CreateOp(NOTES, slugged("a", n=1)),
            CreateOp(TAGS, write()),
            CreateOp(NOTES, slugged("a")),
        ],
    )
    after = await backend_now(backend)

    assert isinstance(result, BatchRefused) and result.index == 2, result
    assert isinstance(result.outcome, Taken) and result.outcome.key == UniqueKey("slug", "a")
    holder = result.outcome.holder
    assert (holder.collection, holder.id, holder.version) == (NOTES, 2, 1)
    assert (holder.data, holder.created_by, holder.updated_by) == (
        {"slug": "a", "n": 1},
        "ana",
        "ana",
    )
    assert before <= holder.created_at_ms == holder.updated_at_ms <= after
    assert await slug_holder(backend, "a") is None
    assert (await create(backend, write())).id == 2


async def test_a_value_claimed_by_an_earlier_update_is_taken(backend: Backend) -> None:
    """An update earlier in the batch that moves a record to a value makes a later claim of
    it Taken, naming that record as updated."""
    a = await create(backend, slugged("a"))
    result = await backend.records.batch(
        WS, [UpdateOp(NOTES, a.id, 1, slugged("b")), CreateOp(NOTES, slugged("b"))]
    )
    assert isinstance(result, BatchRefused) and result.index == 1, result
    assert isinstance(result.outcome, Taken)
    assert (result.outcome.holder.id, result.outcome.holder.version) == (a.id, 2)
    assert result.outcome.holder.data == {"slug": "b"}
    assert await backend.records.get(WS, NOTES, [a.id]) == [a]


async def test_a_value_held_in_the_store_is_taken(backend: Backend) -> None:
    """A create in a batch claiming a value a stored record holds is Taken with that record."""
    a = await create(backend, slugged("a"))
    result = await backend.records.batch(
        WS, [CreateOp(NOTES, slugged("b")), CreateOp(NOTES, slugged("a"))]
    )
    assert result == BatchRefused(1, Taken(UniqueKey("slug", "a"), a))
    assert await slug_holder(backend, "b") is None


async def test_a_value_released_earlier_in_the_batch_is_free(backend: Backend) -> None:
    """Values an update moves away from or a delete frees may be claimed by later ops: two
    records swap their values through a third, and a deleted record's value is taken anew."""
    a = await create(backend, slugged("a"))
    b = await create(backend, slugged("b"))
    c = await create(backend, slugged("c"))
    moved_a, moved_b, moved_a_again, _, fresh = await applied(
        backend,
        [
            UpdateOp(NOTES, a.id, 1, slugged("tmp")),
            UpdateOp(NOTES, b.id, 1, slugged("a")),
            UpdateOp(NOTES, a.id, 2, slugged("b")),
            DeleteOp(NOTES, c.id, 1, None),
            CreateOp(NOTES, slugged("c")),
        ],
    )
    assert (moved_a_again.id, moved_a_again.version) == (a.id, 3)
    assert await slug_holder(backend, "a") == b.id
    assert await slug_holder(backend, "b") == a.id
    assert await slug_holder(backend, "c") == fresh.id == 4
    assert await slug_holder(backend, "tmp") is None
    assert moved_a.version == 2 and moved_b.version == 2


# --- each op sees the earlier ones: references, versions, existence --------------------------


async def test_references_see_the_records_of_earlier_ops(backend: Backend) -> None:
    """A reference may name a record created earlier in the batch (under a reserved id), at
    the version the batch leaves it; a record the batch deleted, or a reserved id nothing
    created, is Unresolved."""
    [chat_id, unused] = await backend.records.reserve(WS, CHATS, 2)
    at_v2 = Reference("chat", CHATS, chat_id, version=2)
    await applied(
        backend,
        [
            CreateOp(CHATS, write(), chat_id),
            UpdateOp(CHATS, chat_id, 1, write()),
            CreateOp(MESSAGES, write(references=[at_v2])),
        ],
    )
    at_v1 = Reference("chat", CHATS, chat_id, version=1)
    assert await backend.records.batch(
        WS, [CreateOp(MESSAGES, write(references=[at_v1]))]
    ) == BatchRefused(0, Unresolved(at_v1))

    any_version = Reference("chat", CHATS, chat_id)
    result = await backend.records.batch(
        WS,
        [
            CreateOp(MESSAGES, write(references=[any_version])),
            DeleteOp(CHATS, chat_id, None, None),
            CreateOp(MESSAGES, write(references=[any_version])),
        ],
    )
    assert result == BatchRefused(2, Unresolved(any_version))
    never = Reference("chat", CHATS, unused)
    result = await backend.records.batch(WS, [CreateOp(MESSAGES, write(references=[never]))])
    assert result == BatchRefused(0, Unresolved(never))
    assert (await backend.records.query(WS, MESSAGES, Query())).total == 1


async def test_versions_and_existence_are_checked_against_earlier_ops(backend: Backend) -> None:
    """An update or delete at a version the store or an earlier op moved past answers
    VersionChanged with the record as it would be; one of a record deleted earlier in the
    batch, or never created, is Missing."""
    note = await create(backend, write({"v": 1}))
    updated = await backend.records.update(WS, NOTES, note.id, 1, write({"v": 2}))
    assert isinstance(updated, StoredRecord)

    stale_update = UpdateOp(NOTES, note.id, 1, write())
    assert await backend.records.batch(WS, [stale_update]) == BatchRefused(
        0, VersionChanged(updated)
    )
    stale_delete = DeleteOp(NOTES, note.id, 1, None)
    assert await backend.records.batch(WS, [stale_delete]) == BatchRefused(
        0, VersionChanged(updated)
    )

    result = await backend.records.batch(
        WS, [UpdateOp(NOTES, note.id, 2, write({"v": 3})), UpdateOp(NOTES, note.id, 2, write())]
    )
    assert isinstance(result, BatchRefused) and result.index == 1, result
    assert isinstance(result.outcome, VersionChanged)
    assert (result.outcome.current.version, result.outcome.current.data) == (3, {"v": 3})

    result = await backend.records.batch(
        WS, [DeleteOp(NOTES, note.id, None, None), UpdateOp(NOTES, note.id, 2, write())]
    )
    assert result == BatchRefused(1, Missing())
    result = await backend.records.batch(WS, [DeleteOp(NOTES, 5, None, None)])
    assert result == BatchRefused(0, Missing())
    assert await backend.records.get(WS, NOTES, [note.id]) == [updated]


# --- guards ----------------------------------------------------------------------------------


async def test_guards_are_checked_per_op_as_single_writes_check_them(backend: Backend) -> None:
    """Another user's lease locks an op (Locked), a wrong token is Stale, a token for a free
    entity is Stale(None); the writer's own lease lets the op through."""
    note = await create(backend, write())
    lock = await lease(backend, BEN)
    head = await head_of(backend)
    fresh = CreateOp(NOTES, slugged("fresh"))

    for guard, refusal in (
        (Guard(DOC1, "ana"), Locked(lock)),
        (Guard(DOC1, "ana", lock.token), Locked(lock)),
        (Guard(DOC1, "ben", lock.token + 1), Stale(lock, lock.token + 1)),
    ):
        for op in (
            UpdateOp(NOTES, note.id, 1, write(), guard),
            DeleteOp(NOTES, note.id, 1, None, guard),
        ):
            assert await backend.records.batch(WS, [fresh, op]) == BatchRefused(1, refusal)
    assert await head_of(backend) == head
    assert await slug_holder(backend, "fresh") is None

    own = Guard(DOC1, "ben", lock.token)
    _, updated = await applied(backend, [fresh, UpdateOp(NOTES, note.id, 1, write(), own)])
    assert updated.version == 2
    await backend.locks.release(WS, DOC1, "ben")
    gone = DeleteOp(NOTES, note.id, 2, None, Guard(DOC1, "ben", lock.token))
    assert await backend.records.batch(WS, [gone]) == BatchRefused(0, Stale(None, lock.token))


async def test_a_guard_meeting_an_expired_lease_ends_it_before_the_batchs_events(
    backend: Backend,
) -> None:
    """As a single write does, a guard that meets an expired lease ends it (`lock.expired`),
    even when a later op refuses the batch; an applied batch's events follow it, together."""
    note = await create(backend, write())
    for expect_applied in (False, True):
        await lease(backend, BEN, SHORT_MS)
        await until_lock_expired(backend, [DOC1])
        head = await head_of(backend)
        guarded = UpdateOp(NOTES, note.id, note.version, write(), Guard(DOC1, "ana"))
        last = CreateOp(NOTES, write()) if expect_applied else UpdateOp(NOTES, 99, 1, write())
        result = await backend.records.batch(WS, [guarded, last])
        assert isinstance(result, tuple) is expect_applied, result
        expected = (
            ["lock.expired", "note.saved", "note.saved"] if expect_applied else ["lock.expired"]
        )
        assert await types_of(backend, after=head) == expected


# --- reserved ids ----------------------------------------------------------------------------


async def test_reserved_ids_come_from_the_create_counter_and_are_never_given_again(
    backend: Backend,
) -> None:
    """reserve hands out the collection's next ids, in order; create and reserve go on after
    them; each collection counts for itself; the reserved ids may be used in any order."""
    await create(backend, write())
    assert await backend.records.reserve(WS, NOTES, 3) == [2, 3, 4]
    assert (await create(backend, write())).id == 5
    assert await backend.records.reserve(WS, NOTES, 1) == [6]
    assert await backend.records.reserve(WS, TAGS, 2) == [1, 2]
    assert (await create(backend, write(), TAGS)).id == 3
    assert await head_of(backend) == 3, "reserving emits nothing"

    later, earlier = await applied(
        backend, [CreateOp(NOTES, write(), 4), CreateOp(NOTES, write(), 2)]
    )
    assert (later.id, earlier.id) == (4, 2)
    assert [r.id for r in (await backend.records.query(WS, NOTES, Query())).records] == [
        1, 2, 4, 5,
    ]  # fmt: skip


async def test_a_create_under_an_id_never_reserved_is_a_mistake(backend: Backend) -> None:
    """An id above the collection's counter is a ValueError, whatever the other ops would
    answer; nothing changes."""
    [reserved] = await backend.records.reserve(WS, NOTES, 1)
    head = await head_of(backend)
    mistakes: list[list[BatchOp]] = [
        [CreateOp(NOTES, write(), reserved + 1)],
        [
            UpdateOp(NOTES, 99, 1, write()),
            CreateOp(NOTES, write(), reserved),
            CreateOp(TAGS, write(), 1),
        ],
    ]
    for ops in mistakes:
        with pytest.raises(ValueError, match="never reserved"):
            await backend.records.batch(WS, ops)
    assert await backend.records.get(WS, NOTES, [reserved]) == [None]
    assert await head_of(backend) == head
    with pytest.raises(ValueError, match="start at 1"):
        await backend.records.batch(WS, [CreateOp(NOTES, write(), 0)])


async def test_a_create_under_an_id_that_holds_a_record_is_version_changed(
    backend: Backend,
) -> None:
    """A create under an id is a compare-and-set from "no record": an id holding a record
    (stored, or created earlier in the batch) answers VersionChanged with that record."""
    first, second = await backend.records.reserve(WS, NOTES, 2)
    [stored] = await applied(backend, [CreateOp(NOTES, write({"n": 1}), first)])
    result = await backend.records.batch(
        WS, [CreateOp(NOTES, write(), second), CreateOp(NOTES, write(), first)]
    )
    assert result == BatchRefused(1, VersionChanged(stored))
    result = await backend.records.batch(
        WS, [CreateOp(NOTES, write({"n": 2}), second), CreateOp(NOTES, write(), second)]
    )
    assert isinstance(result, BatchRefused) and result.index == 1, result
    assert isinstance(result.outcome, VersionChanged)
    assert (result.outcome.current.id, result.outcome.current.data) == (second, {"n": 2})
    assert await backend.records.get(WS, NOTES, [second]) == [None]


# --- limits and mistakes ---------------------------------------------------------------------


async def test_batch_and_reserve_sizes_are_bounded(backend: Backend) -> None:
    """An empty batch, one over BATCH_LIMIT, or reserving 0 or over BATCH_LIMIT ids is a
    ValueError; nothing is written and no id is used."""
    with pytest.raises(ValueError, match="at least one"):
        await backend.records.batch(WS, [])
    with pytest.raises(ValueError, match=str(BATCH_LIMIT)):
        await backend.records.batch(WS, [CreateOp(NOTES, write())] * (BATCH_LIMIT + 1))
    for count in (0, -1, BATCH_LIMIT + 1):
        with pytest.raises(ValueError, match="reserve"):
            await backend.records.reserve(WS, NOTES, count)
    assert len(await backend.records.reserve(WS, TAGS, BATCH_LIMIT)) == BATCH_LIMIT
    assert (await create(backend, write())).id == 1
    assert await head_of(backend) == 1


async def test_an_op_a_single_write_would_refuse_as_a_mistake_fails_the_batch(
    backend: Backend,
) -> None:
    """An op whose write sets a system index or event key is a ValueError before anything
    is read, even as the last op."""
    bad_index = write(indexes=[IndexEntry("id", "n", 1)])
    bad_event = RecordEvent("note.deleted", ANA_ACTOR, {"version": 3})
    for last in (CreateOp(NOTES, bad_index), DeleteOp(NOTES, 1, None, bad_event)):
        with pytest.raises(ValueError, match=r"system indexes|may not set"):
            await backend.records.batch(WS, [CreateOp(NOTES, slugged("a")), last])
    assert await slug_holder(backend, "a") is None
    assert await head_of(backend) == 0


# --- concurrency -----------------------------------------------------------------------------


async def test_concurrent_batches_claiming_one_value_admit_exactly_one(
    make_backend: BackendFactory,
) -> None:
    """Two batches (from two clients) racing for one unique value, round after round: one is
    applied whole, the other refused whole with Taken naming the winner's record; the log
    holds the winner's events, one after another."""
    backend = await make_backend.open()
    twin = await make_backend.twin(backend)

    def side(k: int, name: str) -> list[BatchOp]:
        data = {"round": k, "side": name}
        indexed = [IndexEntry("round", "n", k), IndexEntry("side", "s", name)]
        return [
            CreateOp(NOTES, write(data, indexes=indexed)),
            CreateOp(
                NOTES,
                write(
                    {**data, "slug": f"r{k}"}, indexes=indexed, unique=[UniqueKey("slug", f"r{k}")]
                ),
            ),
            CreateOp(TAGS, write(data, indexes=indexed)),
        ]

    winners: list[str] = []
    for k in range(ROUNDS):
        first, second = ("a", "b") if k % 2 else ("b", "a")
        results = await asyncio.gather(
            backend.records.batch(WS, side(k, first)), twin.records.batch(WS, side(k, second))
        )
        applied_sides = [
            (name, r)
            for name, r in zip((first, second), results, strict=True)
            if isinstance(r, tuple)
        ]
        assert len(applied_sides) == 1, results
        [(winner, records)] = applied_sides
        [refused] = [r for r in results if isinstance(r, BatchRefused)]
        assert refused == BatchRefused(1, Taken(UniqueKey("slug", f"r{k}"), records[1]))
        winners.append(winner)
        in_round = Query(filters=[Filter("round", "n", k)])
        for collection, count in ((NOTES, 2), (TAGS, 1)):
            page = await backend.records.query(WS, collection, in_round)
            assert page.total == count
            assert {r.data["side"] for r in page.records} == {winner}

    events = await log_of(backend)
    assert len(events) == 3 * ROUNDS
    rounds = [(e.data["note"]["round"], e.data["note"]["side"]) for e in events]
    assert rounds == [(k, winners[k]) for k in range(ROUNDS) for _ in range(3)]


async def test_a_batch_writes_and_replaces_multi_valued_entries(backend: Backend) -> None:
    """A batch's writes enter multi-valued indexes as single writes do, and a later op of
    the same batch replacing the list leaves only the new values."""
    actor = Actor("user", "ana", "Ana")

    def tagged(*tags: str) -> RecordWrite:
        return RecordWrite({"tags": list(tags)}, actor, None, (IndexEntry("tags", "m", tags),))

    [rid] = await backend.records.reserve(WS, "post", 1)
    done = await backend.records.batch(
        WS,
        [
            CreateOp("post", tagged("a", "b"), record_id=rid),
            CreateOp("post", tagged("b", "c")),
            UpdateOp("post", rid, 1, tagged("c", "d")),
        ],
    )
    assert isinstance(done, tuple)

    async def tagged_with(*values: str) -> list[int]:
        page = await backend.records.query(WS, "post", Query(any_of=(AnyOf("tags", "m", values),)))
        return [r.id for r in page.records]

    assert await tagged_with("a") == []
    assert await tagged_with("b") == [done[1].id]
    assert await tagged_with("c") == sorted([rid, done[1].id])
    assert await tagged_with("d", "c") == sorted([rid, done[1].id])
