"""RecordStore: ids and versions, unique keys, references, guards, indexes, queries, cascades."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from dataclasses import replace
from typing import Any, Final

import pytest

from huddle.backends.base import Backend
from huddle.models import Actor, Granted, Holder, Lock
from huddle.store import (
    Cascade,
    CollectionCount,
    Filter,
    Guard,
    IndexEntry,
    IndexValue,
    Locked,
    Missing,
    NotEmpty,
    Page,
    Query,
    Range,
    RecordEvent,
    RecordWrite,
    Reference,
    Stale,
    StoredRecord,
    Taken,
    UniqueKey,
    Unresolved,
    VersionChanged,
)
from tests.support.contract import (
    ANA,
    ANA_ACTOR,
    BEN,
    DOC1,
    DOC2,
    LONG_MS,
    OTHER_ORG_WS,
    OTHER_WS,
    SHORT_MS,
    WS,
    advance_past,
    backend_now,
    head_of,
    log_of,
    types_of,
    until_lock_expired,
)
from tests.support.records import NOTES, create, ids_of, update, write

TAGS: Final = "tag"
BEN_ACTOR: Final = Actor("user", "ben", "Ben")


def ranked(rank: IndexValue = None, title: IndexValue = None) -> RecordWrite:
    """A silent write indexed by `rank` (numeric) and `title` (text)."""
    return write(
        {"rank": rank, "title": title},
        indexes=[IndexEntry("rank", "n", rank), IndexEntry("title", "s", title)],
        event=None,
    )


def slugged(slug: str, *, event: str | None = None) -> RecordWrite:
    return write({"slug": slug}, unique=[UniqueKey("slug", slug)], event=event)


async def one(backend: Backend, record_id: int, collection: str = NOTES) -> StoredRecord | None:
    [record] = await backend.records.get(WS, collection, [record_id])
    return record


async def stored(backend: Backend, *record_ids: int) -> tuple[StoredRecord, ...]:
    """The records with these ids, which must all exist."""
    records = await backend.records.get(WS, NOTES, record_ids)
    assert None not in records, records
    return tuple(r for r in records if r is not None)


async def lease(backend: Backend, holder: Holder = ANA, ttl_ms: int = LONG_MS) -> Lock:
    result = await backend.locks.acquire(WS, DOC1, holder, ttl_ms)
    assert isinstance(result, Granted), result
    return result.lock


def system_data(record: StoredRecord) -> dict[str, int]:
    return {
        "id": record.id,
        "version": record.version,
        "created_at_ms": record.created_at_ms,
        "updated_at_ms": record.updated_at_ms,
    }


# --- create, get, find -----------------------------------------------------------------------


async def test_create_numbers_records_from_one_at_version_one(backend: Backend) -> None:
    """Ids 1, 2, 3 per collection; version 1; both times the store's now; both authors the actor."""
    before = await backend_now(backend)
    records = [await create(backend, write({"n": n})) for n in range(3)]
    after = await backend_now(backend)

    assert [r.id for r in records] == [1, 2, 3]
    for n, record in enumerate(records):
        assert (record.collection, record.version, record.data) == (NOTES, 1, {"n": n})
        assert before <= record.created_at_ms == record.updated_at_ms <= after
        assert record.created_by == record.updated_by == "ana"
    assert await backend.records.get(WS, NOTES, [1, 2, 3]) == records


async def test_create_emits_the_event_with_the_system_keys_first(backend: Backend) -> None:
    """The write's event; its data: id, version, created_at_ms, updated_at_ms, then its own."""
    record = await create(backend, write({"title": "Hi"}, event="note.created"))

    [event] = await log_of(backend)
    assert (event.type, event.actor) == ("note.created", ANA_ACTOR)
    assert event.data == {**system_data(record), "note": {"title": "Hi"}}
    assert list(event.data) == ["id", "version", "created_at_ms", "updated_at_ms", "note"]


async def test_a_write_without_an_event_is_silent(backend: Backend) -> None:
    """`event` None stores the record and emits nothing."""
    await create(backend, write(event=None))
    assert await head_of(backend) == 0


async def test_event_data_may_not_set_the_system_keys(backend: Backend) -> None:
    """An event whose data sets id, version or a time is a caller's mistake: ValueError."""
    bad = RecordWrite({}, ANA_ACTOR, RecordEvent("note.created", ANA_ACTOR, {"version": 9}))
    with pytest.raises(ValueError, match="version"):
        await backend.records.create(WS, NOTES, bad)
    assert await backend.records.get(WS, NOTES, [1]) == [None]
    assert await head_of(backend) == 0


@pytest.mark.parametrize(
    "indexes",
    [
        [IndexEntry("id", "n", 5)],
        [IndexEntry("created_at", "n", 5)],
        [IndexEntry("rank", "n", 1), IndexEntry("rank", "n", 2)],
    ],
    ids=["id", "created_at", "twice"],
)
async def test_a_write_may_not_touch_system_indexes_or_repeat_one(
    backend: Backend, indexes: list[IndexEntry]
) -> None:
    """Entries for the store's own indexes, or two for one index, are a caller's mistake:
    ValueError before anything is written."""
    with pytest.raises(ValueError, match="index"):
        await backend.records.create(WS, NOTES, write(indexes=indexes))
    first = await create(backend, write(indexes=[IndexEntry("rank", "n", 1)]))
    with pytest.raises(ValueError, match="index"):
        await backend.records.update(WS, NOTES, first.id, first.version, write(indexes=indexes))
    with pytest.raises(ValueError, match="index"):
        await backend.records.update(
            WS, NOTES, first.id, first.version, write(), drop_indexes=[(NOTES, "id")]
        )
    with pytest.raises(ValueError, match="index"):
        await backend.records.delete(
            WS, NOTES, first.id, None, None, cascade=Cascade(drop_indexes=[(NOTES, "updated_at")])
        )
    assert await backend.records.get(WS, NOTES, [first.id]) == [first]
    assert (await backend.records.query(WS, NOTES, Query())).total == 1


async def test_a_versioned_reference_holds_the_write_to_that_version(backend: Backend) -> None:
    """A reference with a version (a custom object's definition) lets the write through only
    while the target is at that version: a write validated against an older definition, or
    racing the definition's delete, is refused and changes nothing."""
    definition = await create(backend, write(event=None), "defs")
    at_v1 = Reference("definition", "defs", definition.id, version=1)
    await create(backend, write(references=[at_v1]), TAGS)
    moved = await backend.records.update(WS, "defs", definition.id, 1, write(event=None))
    assert isinstance(moved, StoredRecord) and moved.version == 2
    assert await backend.records.create(WS, TAGS, write(references=[at_v1])) == Unresolved(at_v1)
    at_v2 = Reference("definition", "defs", definition.id, version=2)
    await backend.records.delete(WS, "defs", definition.id, None, None)
    assert await backend.records.create(WS, TAGS, write(references=[at_v2])) == Unresolved(at_v2)
    assert (await backend.records.query(WS, TAGS, Query())).total == 1


async def test_ids_are_per_collection_and_never_reused(backend: Backend) -> None:
    """Another collection counts from 1; a deleted record's id is not given again."""
    await create(backend, write())
    second = await create(backend, write())
    assert (await create(backend, write(), TAGS)).id == 1
    await backend.records.delete(WS, NOTES, second.id, None, None)
    assert (await create(backend, write())).id == 3


async def test_stored_data_is_the_stores_own_copy(backend: Backend) -> None:
    """Changing the data given or answered changes nothing stored; tuples come back as lists."""
    data: dict[str, Any] = {"tags": ("a", "b"), "meta": {"k": [1, 2]}}
    record = await create(backend, write(data, event=None))
    data["meta"]["k"].append(3)
    record.data["tags"].append("c")

    stored = await one(backend, record.id)
    assert stored is not None
    assert stored.data == {"tags": ["a", "b"], "meta": {"k": [1, 2]}}


async def test_get_answers_in_order_with_none_for_missing(backend: Backend) -> None:
    """get: one answer per id, in the order asked, None for an id nobody holds."""
    a = await create(backend, write({"n": 1}))
    b = await create(backend, write({"n": 2}))
    assert await backend.records.get(WS, NOTES, [2, 7, 1, 2]) == [b, None, a, b]
    assert await backend.records.get(WS, "unknown", [1]) == [None]
    assert await backend.records.get(WS, NOTES, []) == []


async def test_find_answers_the_holder_of_a_unique_key(backend: Backend) -> None:
    """find: the record holding the key's value, None for a free value or another key name."""
    await create(backend, slugged("alpha"))
    beta = await create(backend, slugged("beta"))
    assert await backend.records.find(WS, NOTES, UniqueKey("slug", "beta")) == beta
    assert await backend.records.find(WS, NOTES, UniqueKey("slug", "gamma")) is None
    assert await backend.records.find(WS, NOTES, UniqueKey("title", "beta")) is None
    assert await backend.records.find(WS, TAGS, UniqueKey("slug", "beta")) is None


# --- update ----------------------------------------------------------------------------------


async def test_update_bumps_the_version_and_the_update_time(backend: Backend) -> None:
    """update: version + 1, new data and updated_by, updated_at now; created_* kept; its event."""
    first = await create(backend, write({"title": "a"}))
    before = await backend_now(backend)
    second = await update(
        backend, first, write({"title": "b"}, event="note.updated", actor=BEN_ACTOR)
    )
    after = await backend_now(backend)

    assert (second.id, second.version, second.data) == (first.id, 2, {"title": "b"})
    assert (second.created_at_ms, second.created_by) == (first.created_at_ms, "ana")
    assert second.updated_by == "ben"
    assert before <= second.updated_at_ms <= after
    assert await one(backend, first.id) == second
    event = (await log_of(backend))[-1]
    assert (event.type, event.actor) == ("note.updated", BEN_ACTOR)
    assert event.data == {**system_data(second), "note": {"title": "b"}}


async def test_update_at_an_old_version_is_version_changed(backend: Backend) -> None:
    """A write computed from an older version answers VersionChanged with the current record."""
    first = await create(backend, write({"title": "a"}))
    second = await update(backend, first, write({"title": "b"}))
    result = await backend.records.update(WS, NOTES, first.id, 1, write({"title": "c"}))
    assert result == VersionChanged(second)
    assert await one(backend, first.id) == second


async def test_update_of_a_missing_record_is_missing(backend: Backend) -> None:
    """An id never given, deleted, or in an unknown collection answers Missing."""
    record = await create(backend, write())
    await backend.records.delete(WS, NOTES, record.id, None, None)
    for collection, record_id in ((NOTES, 1), (NOTES, 5), ("unknown", 1)):
        result = await backend.records.update(WS, collection, record_id, 1, write())
        assert result == Missing()
    assert await backend.records.get(WS, NOTES, [1, 5]) == [None, None]


# --- delete ----------------------------------------------------------------------------------


async def test_delete_answers_and_announces_the_record_as_it_was(backend: Backend) -> None:
    """delete: the record is gone; the answer and the event data are the record as it was."""
    record = await update(backend, await create(backend, write({"t": 1})), write({"t": 2}))
    gone = RecordEvent("note.deleted", BEN_ACTOR, {"by": "ben"})
    assert await backend.records.delete(WS, NOTES, record.id, 2, gone) == record

    assert await one(backend, record.id) is None
    event = (await log_of(backend))[-1]
    assert (event.type, event.actor) == ("note.deleted", BEN_ACTOR)
    assert event.data == {**system_data(record), "by": "ben"}
    assert list(event.data)[:4] == ["id", "version", "created_at_ms", "updated_at_ms"]


async def test_delete_releases_index_entries_and_unique_keys(backend: Backend) -> None:
    """A deleted record leaves every index and frees its unique values for another record."""
    w = write(indexes=[IndexEntry("rank", "n", 1)], unique=[UniqueKey("slug", "a")])
    record = await create(backend, w)
    await backend.records.delete(WS, NOTES, record.id, None, None)

    for sort in ("id", "created_at", "updated_at", "rank"):
        assert await backend.records.query(WS, NOTES, Query(sort=sort)) == Page((), 0)
    assert await backend.records.find(WS, NOTES, UniqueKey("slug", "a")) is None
    again = await create(backend, w)
    assert await backend.records.find(WS, NOTES, UniqueKey("slug", "a")) == again


async def test_delete_checks_the_version_unless_none(backend: Backend) -> None:
    """delete at an old version answers VersionChanged; version None deletes any version."""
    record = await update(backend, await create(backend, write()), write())
    assert await backend.records.delete(WS, NOTES, 1, 1, None) == VersionChanged(record)
    assert await backend.records.delete(WS, NOTES, 1, None, None) == record
    assert await backend.records.delete(WS, NOTES, 1, None, None) == Missing()
    assert await backend.records.delete(WS, "unknown", 1, None, None) == Missing()


# --- unique keys -----------------------------------------------------------------------------


async def test_concurrent_creates_of_one_unique_value_admit_exactly_one(backend: Backend) -> None:
    """20 racing creates holding the same value: one record, 19 Taken naming it."""
    results = await asyncio.gather(
        *(backend.records.create(WS, NOTES, slugged("same")) for _ in range(20))
    )
    winners = [r for r in results if isinstance(r, StoredRecord)]
    assert len(winners) == 1
    key = UniqueKey("slug", "same")
    assert [r for r in results if not isinstance(r, StoredRecord)] == [Taken(key, winners[0])] * 19
    page = await backend.records.query(WS, NOTES, Query())
    assert page == Page((winners[0],), 1)


async def test_a_create_refused_as_taken_uses_no_id(backend: Backend) -> None:
    """Taken names the first held key (in the write's order) and its holder; no id is spent."""
    first = await create(backend, write(unique=[UniqueKey("a", "1"), UniqueKey("b", "2")]))
    clash = write(unique=[UniqueKey("c", "3"), UniqueKey("b", "2"), UniqueKey("a", "1")])
    assert await backend.records.create(WS, NOTES, clash) == Taken(UniqueKey("b", "2"), first)
    assert (await create(backend, write())).id == 2


async def test_the_same_value_under_another_key_or_collection_is_free(backend: Backend) -> None:
    """Unique values are per collection and key name."""
    await create(backend, write(unique=[UniqueKey("slug", "x")]))
    await create(backend, write(unique=[UniqueKey("name", "x")]))
    await create(backend, write(unique=[UniqueKey("slug", "x")]), TAGS)


async def test_update_releases_the_values_it_no_longer_holds(backend: Backend) -> None:
    """An update moving to another value (or dropping the key) frees the old one at once."""
    a = await create(backend, slugged("old"))
    await update(backend, a, slugged("new"))
    assert await backend.records.find(WS, NOTES, UniqueKey("slug", "old")) is None
    b = await create(backend, slugged("old"))
    await update(backend, b, write())
    assert await backend.records.find(WS, NOTES, UniqueKey("slug", "old")) is None
    assert (await create(backend, slugged("old"))).id == 3


async def test_update_to_a_value_another_record_holds_is_taken(backend: Backend) -> None:
    """Updating to another record's value answers Taken with that holder; a record's own
    values are no conflict."""
    a = await create(backend, slugged("a"))
    b = await create(backend, slugged("b"))
    assert await backend.records.update(WS, NOTES, b.id, 1, slugged("a")) == Taken(
        UniqueKey("slug", "a"), a
    )
    assert await one(backend, b.id) == b
    assert (await update(backend, b, slugged("b"))).version == 2


# --- references ------------------------------------------------------------------------------


async def test_references_must_exist_when_the_record_is_created(backend: Backend) -> None:
    """Unresolved names the first missing reference (unknown collection or id); none is made."""
    tag = await create(backend, write(), TAGS)
    ok = Reference("tag", TAGS, tag.id)
    for missing in (Reference("tag", TAGS, 2), Reference("tag", "unknown", 1)):
        refs = [ok, missing, Reference("other", TAGS, 9)]
        result = await backend.records.create(WS, NOTES, write(references=refs))
        assert result == Unresolved(missing)
    assert (await create(backend, write(references=[ok]))).id == 1


async def test_references_must_exist_when_the_record_is_updated(backend: Backend) -> None:
    """An update referring to a deleted record answers Unresolved and changes nothing."""
    tag = await create(backend, write(), TAGS)
    ref = Reference("tag", TAGS, tag.id)
    note = await create(backend, write(references=[ref]))
    await backend.records.delete(WS, TAGS, tag.id, None, None)
    result = await backend.records.update(WS, NOTES, note.id, 1, write(references=[ref]))
    assert result == Unresolved(ref)
    assert await one(backend, note.id) == note


# --- guards ----------------------------------------------------------------------------------


def guarded(user: str = "ana", token: int | None = None) -> Guard:
    return Guard(DOC1, user, token)


async def guarded_update(backend: Backend, guard: Guard) -> object:
    """Update note 1 (created here if missing) at its current version under `guard`."""
    record = await one(backend, 1) or await create(backend, write())
    return await backend.records.update(WS, NOTES, 1, record.version, write(), guard=guard)


async def test_a_free_entity_admits_a_write_without_a_token(backend: Backend) -> None:
    """Nobody holds the entity and no token is given: the write happens."""
    assert isinstance(await guarded_update(backend, guarded()), StoredRecord)


async def test_a_token_for_a_free_entity_is_stale(backend: Backend) -> None:
    """A token with nobody holding the entity answers Stale(None, token): its lease is gone."""
    assert await guarded_update(backend, guarded(token=7)) == Stale(None, 7)


async def test_another_users_lease_locks_the_write(backend: Backend) -> None:
    """Another user's live lease answers Locked, with no token or even with that lease's."""
    lock = await lease(backend, BEN)
    assert await guarded_update(backend, guarded()) == Locked(lock)
    assert await guarded_update(backend, guarded(token=lock.token)) == Locked(lock)


async def test_a_wrong_token_against_another_users_lease_is_stale(backend: Backend) -> None:
    """Another user's live lease and a token that is not its own answer Stale(lease, token)."""
    lock = await lease(backend, BEN)
    assert await guarded_update(backend, guarded(token=lock.token + 1)) == Stale(
        lock, lock.token + 1
    )


async def test_your_own_lease_admits_the_write_with_no_token_or_its_token(
    backend: Backend,
) -> None:
    """The writer's user holds the lease: allowed without a token or with the lease's token."""
    lock = await lease(backend, ANA)
    assert isinstance(await guarded_update(backend, guarded()), StoredRecord)
    assert isinstance(await guarded_update(backend, guarded(token=lock.token)), StoredRecord)
    assert [e.type for e in await log_of(backend)][-2:] == ["note.saved", "note.saved"]


async def test_a_wrong_token_against_your_own_lease_is_stale(backend: Backend) -> None:
    """Even with the user's own lease, a token that is not the lease's answers Stale."""
    lock = await lease(backend, ANA)
    assert await guarded_update(backend, guarded(token=lock.token + 1)) == Stale(
        lock, lock.token + 1
    )


async def test_a_token_from_an_expired_lease_is_stale_against_the_next(backend: Backend) -> None:
    """After Ana's lease expired and Ben took the entity, Ana's token answers Stale(Ben's)."""
    old = await lease(backend, ANA, SHORT_MS)
    await until_lock_expired(backend, [DOC1])
    new = await lease(backend, BEN)
    assert await guarded_update(backend, guarded(token=old.token)) == Stale(new, old.token)


async def test_a_guarded_write_ends_an_expired_lease_before_its_own_event(
    backend: Backend,
) -> None:
    """A guarded write meeting an expired lease emits lock.expired, then its own event."""
    await create(backend, write())
    await lease(backend, BEN, SHORT_MS)
    await until_lock_expired(backend, [DOC1])
    assert isinstance(await guarded_update(backend, guarded()), StoredRecord)
    assert await types_of(backend) == ["note.saved", "lock.acquired", "lock.expired", "note.saved"]


async def test_the_guard_is_checked_before_existence(backend: Backend) -> None:
    """A locked entity answers Locked even for a record that does not exist."""
    lock = await lease(backend, BEN)
    result = await backend.records.update(WS, NOTES, 1, 1, write(), guard=guarded())
    assert result == Locked(lock)
    assert await backend.records.delete(WS, NOTES, 1, None, None, guard=guarded()) == Locked(lock)


async def test_a_guarded_delete_is_refused_like_an_update(backend: Backend) -> None:
    """delete respects its guard: Locked by another user's lease, done under one's own."""
    record = await create(backend, write())
    ben = await lease(backend, BEN)
    assert await backend.records.delete(WS, NOTES, 1, None, None, guard=guarded()) == Locked(ben)
    await backend.locks.release(WS, DOC1, "ben")
    mine = await lease(backend, ANA)
    done = await backend.records.delete(WS, NOTES, 1, 1, None, guard=guarded(token=mine.token))
    assert done == record


# --- a refused write changes nothing ---------------------------------------------------------


async def test_a_refused_write_changes_nothing(backend: Backend) -> None:
    """Every refusal leaves data, versions, indexes, unique keys and the log as they were."""
    indexed = [IndexEntry("rank", "n", 1), IndexEntry("title", "s", "a")]
    a = await create(backend, write({"v": 1}, indexes=indexed, unique=[UniqueKey("slug", "a")]))
    await create(backend, write({"v": 2}, unique=[UniqueKey("slug", "b")]))
    await create(backend, write(), TAGS)
    ben = await lease(backend, BEN)
    changed = write(
        {"v": 9},
        indexes=[IndexEntry("rank", "n", 9)],
        unique=[UniqueKey("slug", "z")],
        references=[Reference("tag", TAGS, 1)],
    )

    async def snapshot() -> tuple[object, ...]:
        records = backend.records
        return (
            await records.get(WS, NOTES, [1, 2, 3]),
            await records.query(WS, NOTES, Query(sort="rank")),
            await records.query(WS, NOTES, Query(sort="title", sort_kind="s")),
            await records.find(WS, NOTES, UniqueKey("slug", "a")),
            await records.find(WS, NOTES, UniqueKey("slug", "z")),
            await records.count(WS, [NOTES, TAGS], LONG_MS),
            await head_of(backend),
        )

    before = await snapshot()
    r = backend.records
    refusals: list[tuple[str, Callable[[], Awaitable[object]]]] = [
        ("version", lambda: r.update(WS, NOTES, a.id, 7, changed)),
        ("missing", lambda: r.update(WS, NOTES, 3, 1, changed)),
        ("taken", lambda: r.update(WS, NOTES, a.id, 1, slugged("b"))),
        (
            "unresolved",
            lambda: r.update(WS, NOTES, a.id, 1, write(references=[Reference("t", TAGS, 2)])),
        ),
        ("locked", lambda: r.update(WS, NOTES, a.id, 1, changed, guard=guarded())),
        (
            "stale",
            lambda: r.update(WS, NOTES, a.id, 1, changed, guard=guarded("ben", ben.token + 1)),
        ),
        ("create taken", lambda: r.create(WS, NOTES, slugged("a"))),
        (
            "create unresolved",
            lambda: r.create(WS, NOTES, write(references=[Reference("t", TAGS, 5)])),
        ),
        ("delete version", lambda: r.delete(WS, NOTES, a.id, 2, None)),
        ("delete locked", lambda: r.delete(WS, NOTES, a.id, 1, None, guard=guarded())),
        (
            "not empty",
            lambda: r.delete(WS, NOTES, a.id, 1, None, cascade=Cascade(require_empty=[TAGS])),
        ),
    ]
    for name, refused in refusals:
        result = await refused()
        assert not isinstance(result, StoredRecord), name
        assert await snapshot() == before, name


# --- queries ---------------------------------------------------------------------------------

RANKS: Final[list[IndexValue]] = [3, None, 1, 3, 2.5, None]
#: ids 1..6 by (score, id), nulls first
BY_RANK: Final = [2, 6, 3, 5, 1, 4]
TITLES: Final[list[IndexValue]] = ["b", None, "B", "ab", "b", "é", "abc", None, "a"]
#: ids 1..9 by UTF-8 bytes, then id, nulls first
BY_TITLE: Final = [2, 8, 3, 9, 4, 7, 1, 5, 6]


async def seed_ranks(backend: Backend) -> None:
    for rank in RANKS:
        await create(backend, ranked(rank=rank))


async def seed_titles(backend: Backend) -> None:
    for title in TITLES:
        await create(backend, ranked(title=title))


async def test_a_numeric_index_orders_by_value_then_id_nulls_first(backend: Backend) -> None:
    """Ascending: nulls, then values, ties by id; descending is the exact reverse."""
    await seed_ranks(backend)
    assert await ids_of(backend, Query(sort="rank")) == BY_RANK
    assert await ids_of(backend, Query(sort="rank", descending=True)) == BY_RANK[::-1]


async def test_a_text_index_orders_by_utf8_bytes_then_id_nulls_first(backend: Backend) -> None:
    """Ascending: nulls, then byte order ("B" < "a" < "ab" < "abc" < "b" < "é"), ties by id."""
    await seed_titles(backend)
    assert await ids_of(backend, Query(sort="title", sort_kind="s")) == BY_TITLE
    descending = Query(sort="title", sort_kind="s", descending=True)
    assert await ids_of(backend, descending) == BY_TITLE[::-1]


async def test_system_indexes_order_every_record(backend: Backend) -> None:
    """id, created_at and updated_at are numeric indexes of every collection."""
    first, _, last = [await create(backend, write()) for _ in range(3)]
    await advance_past(backend, last.updated_at_ms)
    await update(backend, first, write())
    assert await ids_of(backend, Query()) == [1, 2, 3]
    assert await ids_of(backend, Query(descending=True)) == [3, 2, 1]
    assert (await ids_of(backend, Query(sort="created_at")))[0] == 1
    assert (await ids_of(backend, Query(sort="updated_at", descending=True)))[0] == 1


async def test_a_page_is_offset_and_limit_of_all_matches(backend: Backend) -> None:
    """records = matches[offset : offset + limit] in sort order; total counts every match."""
    await seed_ranks(backend)
    page = await backend.records.query(WS, NOTES, Query(sort="rank", offset=1, limit=3))
    assert ([r.id for r in page.records], page.total) == (BY_RANK[1:4], 6)
    desc = await backend.records.query(WS, NOTES, Query(sort="rank", descending=True, offset=4))
    assert ([r.id for r in desc.records], desc.total) == (BY_RANK[::-1][4:], 6)
    assert await backend.records.query(WS, NOTES, Query(sort="rank", offset=6)) == Page((), 6)
    assert await backend.records.query(WS, NOTES, Query(sort="rank", limit=0)) == Page((), 6)


async def test_walking_every_page_returns_each_record_once(backend: Backend) -> None:
    """Pages of 4, both directions, filtered or not: every match once, in sort order."""
    for i in range(23):
        await create(
            backend, ranked(rank=None if i % 5 == 0 else i % 4, title="even" if i % 2 else "odd")
        )
    filters = [Filter("title", "s", "odd")]
    for descending in (False, True):
        for fs in ((), filters):
            whole = await backend.records.query(
                WS, NOTES, Query("rank", "n", descending, 0, 100, fs)
            )
            seen: list[StoredRecord] = []
            for offset in range(0, 28, 4):
                q = Query("rank", "n", descending, offset, 4, fs)
                page = await backend.records.query(WS, NOTES, q)
                assert page.total == whole.total
                seen.extend(page.records)
            assert tuple(seen) == whole.records
            assert len({r.id for r in seen}) == whole.total == (23 if not fs else 12)


async def test_filters_match_exact_values(backend: Backend) -> None:
    """A numeric filter compares as a number (3 == 3.0), a text one exactly, None matches nulls."""
    await seed_ranks(backend)
    assert await ids_of(backend, Query(filters=[Filter("rank", "n", 3)])) == [1, 4]
    assert await ids_of(backend, Query(filters=[Filter("rank", "n", 3.0)])) == [1, 4]
    assert await ids_of(backend, Query(filters=[Filter("rank", "n", None)])) == [2, 6]
    assert await ids_of(backend, Query(filters=[Filter("rank", "n", 2)])) == []
    assert await ids_of(backend, Query(filters=[Filter("title", "s", None)])) == [1, 2, 3, 4, 5, 6]
    await seed_titles(backend)
    titled = Query(sort="title", sort_kind="s", filters=[Filter("title", "s", "b")])
    assert await ids_of(backend, titled) == [7, 11]
    assert await ids_of(backend, Query(filters=[Filter("title", "s", "a")])) == [15]


async def test_ranges_select_by_value_with_open_or_closed_bounds_and_never_nulls(
    backend: Backend,
) -> None:
    """A range compares as numbers; None leaves a side unbounded; an open bound leaves the
    value itself out; nulls are in no range, however wide."""
    await seed_ranks(backend)
    by_rank = dict(zip(range(1, 7), RANKS, strict=True))

    def expected(r: Range) -> list[int]:
        ranks = {rid: rank for rid, rank in by_rank.items() if rank is not None}
        return [rid for rid in BY_RANK if rid in ranks and r.holds(float(ranks[rid]))]

    ranges = [
        Range("rank"),
        Range("rank", low=3),
        Range("rank", low=3, open_low=True),
        Range("rank", high=3),
        Range("rank", high=3, open_high=True),
        Range("rank", low=1, high=3.5),
        Range("rank", low=3, high=3),
        Range("rank", low=3, high=3, open_high=True),
        Range("rank", low=100),
    ]
    for r in ranges:
        got = await ids_of(backend, Query(sort="rank", ranges=[r]))
        assert got == expected(r), r
        page = await backend.records.query(WS, NOTES, Query(sort="rank", limit=1, ranges=[r]))
        assert page.total == len(expected(r)), r
    assert await ids_of(backend, Query(ranges=[Range("nope", low=1)])) == []


async def test_ranges_combine_with_filters_ids_and_each_other(backend: Backend) -> None:
    for rank, title in ((1, "x"), (2, "y"), (3, "x"), (4, "x"), (None, "x"), (5, "x")):
        await create(backend, ranked(rank, title))
    q = Query(
        sort="rank",
        descending=True,
        filters=[Filter("title", "s", "x")],
        ranges=[Range("rank", low=1, open_low=True), Range("rank", high=4)],
    )
    assert await ids_of(backend, q) == [4, 3]
    assert await ids_of(backend, Query(ids=[1, 2, 6], ranges=[Range("rank", low=2)])) == [2, 6]


async def test_paging_up_to_a_time_over_equal_times_returns_each_record_once(
    backend: Backend,
) -> None:
    """ "Everything up to time t", newest first, read page by page: 1,000 records on 40
    distinct times, 25 records each (ties ordered by id), come back exactly once each, in
    order, those after t never."""
    for i in range(1_000):
        await create(backend, ranked(rank=1_000 + i // 25))
    cutoff = Range("rank", high=1_029)  # the first 30 times: ids 1..750
    newest_first = Query(sort="rank", descending=True, ranges=[cutoff], limit=40)
    seen: list[StoredRecord] = []
    for offset in range(0, 800, 40):
        page = await backend.records.query(WS, NOTES, replace(newest_first, offset=offset))
        assert page.total == 750
        seen.extend(page.records)
    assert [r.id for r in seen] == [rid for t in range(29, -1, -1)
                                   for rid in range(25 * t + 25, 25 * t, -1)]  # fmt: skip


async def test_several_filters_must_all_match(backend: Backend) -> None:
    """Filters are a conjunction; the total counts the records matching all of them."""
    for rank, title in ((1, "x"), (1, "y"), (2, "x"), (1, "x"), (None, "x")):
        await create(backend, ranked(rank, title))
    q = Query(
        sort="rank", descending=True, filters=[Filter("rank", "n", 1), Filter("title", "s", "x")]
    )
    assert await backend.records.query(WS, NOTES, q) == Page(await stored(backend, 4, 1), 2)
    by_id = Query(filters=[Filter("id", "n", 3), Filter("title", "s", "x")])
    assert await ids_of(backend, by_id) == [3]


async def test_ids_restrict_the_matches(backend: Backend) -> None:
    """With `ids`, only those records match (unknown ids ignored, duplicates counted once)."""
    await seed_ranks(backend)
    page = await backend.records.query(WS, NOTES, Query(sort="rank", ids=[4, 99, 2, 4, 3]))
    assert ([r.id for r in page.records], page.total) == ([2, 3, 4], 3)
    q = Query(sort="rank", ids=[1, 2, 4, 5], filters=[Filter("rank", "n", 3)])
    assert await ids_of(backend, q) == [1, 4]
    # the matches of a filter more selective than the ids are still restricted to them
    assert await ids_of(backend, Query(ids=[1, 2, 3], filters=[Filter("rank", "n", 2.5)])) == []
    assert await backend.records.query(WS, NOTES, Query(ids=[])) == Page((), 0)


async def test_a_record_without_an_entry_in_the_sort_index_is_not_listed(
    backend: Backend,
) -> None:
    """Sorting by a service index lists only the records that have an entry in it."""
    await create(backend, ranked(rank=1))
    await create(backend, write())
    await create(backend, ranked(rank=None))
    assert await backend.records.query(WS, NOTES, Query(sort="rank")) == Page(
        await stored(backend, 3, 1), 2
    )
    assert await ids_of(backend, Query(filters=[Filter("rank", "n", 1)])) == [1]
    by_rank = await backend.records.query(WS, NOTES, Query(sort="rank", ids=[1, 2, 3]))
    assert ([r.id for r in by_rank.records], by_rank.total) == ([3, 1], 2)
    assert (await backend.records.query(WS, NOTES, Query())).total == 3


async def test_an_update_replaces_the_records_index_entries(backend: Backend) -> None:
    """An update moves the record in its indexes and takes it out of those it no longer lists."""
    a = await create(backend, ranked(rank=5, title="m"))
    await create(backend, ranked(rank=3, title="n"))
    a = await update(backend, a, ranked(rank=1, title="z"))
    assert await ids_of(backend, Query(sort="rank")) == [1, 2]
    assert await ids_of(backend, Query(filters=[Filter("rank", "n", 5)])) == []
    assert await ids_of(backend, Query(filters=[Filter("title", "s", "z")])) == [1]
    await update(backend, a, write(indexes=[IndexEntry("rank", "n", 4)]))
    assert await ids_of(backend, Query(sort="title", sort_kind="s")) == [2]
    assert await ids_of(backend, Query(sort="rank")) == [2, 1]


async def test_querying_what_does_not_exist_answers_an_empty_page(backend: Backend) -> None:
    """An unknown collection, sort index or filter index is empty: Page((), 0)."""
    await seed_ranks(backend)
    empty = Page((), 0)
    assert await backend.records.query(WS, "unknown", Query()) == empty
    assert await backend.records.query(WS, NOTES, Query(sort="nope")) == empty
    assert await backend.records.query(WS, NOTES, Query(filters=[Filter("nope", "n", 1)])) == empty


# --- dropping indexes and collections --------------------------------------------------------


async def test_an_update_can_drop_indexes_with_their_unique_keys(backend: Backend) -> None:
    """drop_indexes removes those indexes and same-named unique keys; records keep their data."""
    same = write(
        {"code": "A"}, indexes=[IndexEntry("code", "s", "A")], unique=[UniqueKey("code", "A")]
    )
    a = await create(backend, same)
    b = await create(backend, write(indexes=[IndexEntry("rank", "n", 1)]), TAGS)
    # the write's own entries are made first, then dropped with the index
    a2 = await update(backend, a, same, drop_indexes=[(NOTES, "code"), (TAGS, "rank")])

    assert a2.data == {"code": "A"}
    assert await backend.records.query(WS, NOTES, Query(sort="code", sort_kind="s")) == Page((), 0)
    assert await backend.records.query(WS, TAGS, Query(sort="rank")) == Page((), 0)
    assert await backend.records.find(WS, NOTES, UniqueKey("code", "A")) is None
    assert await backend.records.get(WS, TAGS, [b.id]) == [b]
    assert (await create(backend, write(unique=[UniqueKey("code", "A")]))).id == 2


async def test_delete_can_drop_whole_collections(backend: Backend) -> None:
    """cascade.drop removes the collections' records, indexes and unique keys with the record."""
    owner = await create(backend, write())
    for slug in ("a", "b"):
        await create(
            backend,
            write(indexes=[IndexEntry("rank", "n", 1)], unique=[UniqueKey("slug", slug)]),
            "obj:1",
        )
    await create(backend, write(), TAGS)
    done = await backend.records.delete(
        WS, NOTES, owner.id, 1, None, cascade=Cascade(drop=["obj:1"])
    )

    assert done == owner
    assert await backend.records.get(WS, "obj:1", [1, 2]) == [None, None]
    assert await backend.records.query(WS, "obj:1", Query(sort="rank")) == Page((), 0)
    assert await backend.records.find(WS, "obj:1", UniqueKey("slug", "a")) is None
    assert await backend.records.count(WS, ["obj:1", TAGS], LONG_MS) == [
        CollectionCount(0, 0),
        CollectionCount(1, 1),
    ]


async def test_delete_requires_collections_to_be_empty(backend: Backend) -> None:
    """cascade.require_empty: the first collection holding records answers NotEmpty(its count)."""
    owner = await create(backend, write())
    for _ in range(2):
        await create(backend, write(), "obj:1")
    cascade = Cascade(require_empty=["empty", "obj:1"])
    assert await backend.records.delete(
        WS, NOTES, owner.id, None, None, cascade=cascade
    ) == NotEmpty("obj:1", 2)
    assert await one(backend, owner.id) == owner
    await backend.records.delete(WS, "obj:1", 1, None, None)
    await backend.records.delete(WS, "obj:1", 2, None, None)
    assert await backend.records.delete(WS, NOTES, owner.id, None, None, cascade=cascade) == owner


async def test_delete_can_drop_indexes(backend: Backend) -> None:
    """cascade.drop_indexes removes indexes (and same-named unique keys) of other collections."""
    owner = await create(backend, write())
    await create(
        backend, write(indexes=[IndexEntry("f7", "n", 1)], unique=[UniqueKey("f7", "x")]), "obj:1"
    )
    cascade = Cascade(drop_indexes=[("obj:1", "f7")])
    await backend.records.delete(WS, NOTES, owner.id, None, None, cascade=cascade)
    assert await backend.records.query(WS, "obj:1", Query(sort="f7")) == Page((), 0)
    assert await backend.records.find(WS, "obj:1", UniqueKey("f7", "x")) is None
    assert (await backend.records.query(WS, "obj:1", Query())).total == 1


# --- count -----------------------------------------------------------------------------------


async def test_count_answers_totals_and_recent_creations(backend: Backend) -> None:
    """count: per collection in order, all records and those created after now - recent_ms."""
    old = await create(backend, write())
    await advance_past(backend, old.created_at_ms + 100)
    await create(backend, write())
    await create(backend, write(), TAGS)
    await backend.records.delete(WS, TAGS, 1, None, None)

    assert await backend.records.count(WS, [NOTES, TAGS, "unknown"], LONG_MS) == [
        CollectionCount(2, 2),
        CollectionCount(0, 0),
        CollectionCount(0, 0),
    ]
    # now - recent_ms lands at or after `old` and well before the second record
    recent_ms = await backend_now(backend) - old.created_at_ms
    assert await backend.records.count(WS, [NOTES], recent_ms) == [CollectionCount(2, 1)]
    assert await backend.records.count(WS, [NOTES], 0) == [CollectionCount(2, 0)]
    assert await backend.records.count(WS, [], LONG_MS) == []


# --- tenancy and workspace state -------------------------------------------------------------


async def test_records_of_one_workspace_are_invisible_in_another(backend: Backend) -> None:
    """Ids, records, unique keys, queries and counts are per workspace (org and id)."""
    mine = await create(
        backend, write(unique=[UniqueKey("slug", "a")], indexes=[IndexEntry("rank", "n", 1)])
    )
    for ws in (OTHER_WS, OTHER_ORG_WS):
        assert await backend.records.get(ws, NOTES, [mine.id]) == [None]
        assert await backend.records.find(ws, NOTES, UniqueKey("slug", "a")) is None
        assert await backend.records.query(ws, NOTES, Query(sort="rank")) == Page((), 0)
        assert await backend.records.count(ws, [NOTES], LONG_MS) == [CollectionCount(0, 0)]
        assert await backend.records.update(ws, NOTES, mine.id, 1, write()) == Missing()
        ref = Reference("n", NOTES, mine.id)
        assert await backend.records.create(ws, TAGS, write(references=[ref])) == Unresolved(ref)
        theirs = await create(backend, write(unique=[UniqueKey("slug", "a")]), ws=ws)
        assert theirs.id == 1
    assert await one(backend, mine.id) == mine
    assert await types_of(backend) == ["note.saved"]


async def test_records_do_not_make_a_workspace_active(backend: Backend) -> None:
    """Records are not presence or lock state: they never list a workspace as active."""
    await create(backend, write())
    assert await backend.active_workspaces() == []


async def test_records_outlive_the_locks_that_guarded_them(backend: Backend) -> None:
    """When a workspace goes idle (its last lease released, swept), its records stay."""
    lock = await lease(backend, ANA)
    record = await create(backend, write())
    record = await update(backend, record, write({"v": 2}), guard=guarded(token=lock.token))
    await backend.locks.release(WS, DOC1, "ana")
    await backend.locks.acquire(WS, DOC2, BEN, SHORT_MS)
    await until_lock_expired(backend, [DOC2])
    assert (await backend.sweep(WS, 100)).idle
    assert await one(backend, record.id) == record
    assert (await backend.records.query(WS, NOTES, Query())).total == 1
