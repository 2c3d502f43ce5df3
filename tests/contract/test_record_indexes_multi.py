"""RecordStore: multi-valued text indexes (`"m"`) and any-of conditions (`AnyOf`).

A multi-valued index holds a record once per distinct text of its tuple (tags, options); a
`Filter` on it keeps the records whose tuple holds a text, an `AnyOf` (on any kind of index)
those holding one of several values. Totals count each record once, however many of the values
it holds. Sorting by such an index, or a range on it, is a caller's mistake.
"""

from __future__ import annotations

import itertools
import os
from dataclasses import dataclass, replace
from typing import Final

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from huddle.backends.base import Backend
from huddle.store import (
    ANY_OF_LIMIT,
    AnyOf,
    Cascade,
    Filter,
    IndexEntry,
    IndexValue,
    IndexValues,
    Page,
    Query,
    Range,
    RecordWrite,
    StoredRecord,
)
from tests.support.contract import ANA_ACTOR, WS
from tests.support.records import NOTES, create, ids_of, update

TAGS: Final = "tags"


def tagged(
    tags: IndexValues | None = (),
    rank: IndexValue = None,
    title: IndexValue = None,
) -> RecordWrite:
    """A silent write with a multi-valued `tags` entry (none when `tags` is None), a numeric
    `rank` and a text `title`."""
    entries = [IndexEntry("rank", "n", rank), IndexEntry("title", "s", title)]
    if tags is not None:
        entries.append(IndexEntry(TAGS, "m", tags))
    data = {"tags": None if tags is None else list(tags), "rank": rank, "title": title}
    return RecordWrite(data, ANA_ACTOR, None, entries)


async def total_of(backend: Backend, query: Query, collection: str = NOTES) -> int:
    return (await backend.records.query(WS, collection, query)).total


def has(*texts: str) -> AnyOf:
    return AnyOf(TAGS, "m", texts)


#: ids 1..6 and their tags
LISTS: Final[list[IndexValues]] = [
    ("red", "blue"),
    ("blue",),
    (),
    ("green", "red", "red"),
    ("Red",),
    ("blue", "green", "red"),
]


async def seed_lists(backend: Backend) -> None:
    for tags in LISTS:
        await create(backend, tagged(tags))


# --- filters and any-of ----------------------------------------------------------------------


async def test_a_filter_on_a_multi_valued_index_matches_lists_holding_the_text(
    backend: Backend,
) -> None:
    """Filter(name, "m", text): the records whose tuple holds that text exactly (bytes: "Red" is
    not "red"), each once, in the sort's order."""
    await seed_lists(backend)
    assert await ids_of(backend, Query(filters=[Filter(TAGS, "m", "red")])) == [1, 4, 6]
    assert await ids_of(backend, Query(filters=[Filter(TAGS, "m", "Red")])) == [5]
    assert await ids_of(backend, Query(filters=[Filter(TAGS, "m", "re")])) == []
    assert await ids_of(backend, Query(filters=[Filter(TAGS, "m", "")])) == []
    by_id_desc = Query(descending=True, filters=[Filter(TAGS, "m", "blue")])
    assert await ids_of(backend, by_id_desc) == [6, 2, 1]
    both = Query(filters=[Filter(TAGS, "m", "blue"), Filter(TAGS, "m", "red")])
    assert await ids_of(backend, both) == [1, 6]


async def test_any_of_on_a_multi_valued_index_matches_lists_holding_one_of_the_texts(
    backend: Backend,
) -> None:
    """AnyOf(name, "m", texts): a record whose tuple shares any text with `texts`."""
    await seed_lists(backend)
    assert await ids_of(backend, Query(any_of=[has("green", "Red")])) == [4, 5, 6]
    assert await ids_of(backend, Query(any_of=[has("blue")])) == [1, 2, 6]
    assert await ids_of(backend, Query(any_of=[has("nope", "blue", "nope")])) == [1, 2, 6]
    assert await ids_of(backend, Query(any_of=[has("nope")])) == []
    assert await ids_of(backend, Query(any_of=[has("red", "blue", "green", "Red")])) == [
        1,
        2,
        4,
        5,
        6,
    ]


async def test_any_of_on_single_valued_indexes_matches_one_of_the_values(
    backend: Backend,
) -> None:
    """On "n" and "s" indexes the record's one value is among `values`; None matches null; a
    number compares as a number (3 == 3.0), a text by its bytes."""
    for rank, title in ((3, "a"), (None, "b"), (1, None), (3.0, "B"), (2.5, "a"), (None, "é")):
        await create(backend, tagged(rank=rank, title=title))
    by_rank = Query(sort="rank")
    some = AnyOf("rank", "n", [3, 1])
    assert await ids_of(backend, replace(by_rank, any_of=[some])) == [3, 1, 4]
    nulls = AnyOf("rank", "n", [None, 2.5])
    assert await ids_of(backend, replace(by_rank, any_of=[nulls])) == [2, 6, 5]
    assert await ids_of(backend, Query(any_of=[AnyOf("rank", "n", [3.0, 3])])) == [1, 4]
    by_title = Query(sort="title", sort_kind="s")
    titles = AnyOf("title", "s", ["a", None, "é", "zz"])
    assert await ids_of(backend, replace(by_title, any_of=[titles])) == [3, 1, 5, 6]
    assert await total_of(backend, Query(any_of=[AnyOf("title", "s", ["A"])])) == 0


async def test_a_record_holding_several_of_the_values_is_one_match(backend: Backend) -> None:
    """Totals and pages are deduplicated: a record whose tuple holds two of the values (or one
    value twice) counts, and is listed, once — on every page size."""
    for tags in (("a", "b", "a"), ("b", "c"), ("a", "a", "a"), ("c",)):
        await create(backend, tagged(tags))
    q = Query(any_of=[has("a", "b", "a")])
    first_three = [r for r in await backend.records.get(WS, NOTES, [1, 2, 3]) if r is not None]
    assert await backend.records.query(WS, NOTES, q) == Page(tuple(first_three), 3)
    for limit in (1, 2):
        seen = [
            rid
            for offset in range(0, 4, limit)
            for rid in await ids_of(backend, replace(q, offset=offset, limit=limit))
        ]
        assert seen == [1, 2, 3]
    assert await total_of(backend, Query(filters=[Filter(TAGS, "m", "a")])) == 2
    assert await total_of(backend, Query(any_of=[has("a"), has("a", "c")])) == 2


async def test_any_of_combines_with_filters_ranges_ids_and_each_other(backend: Backend) -> None:
    """Every condition must hold: any-ofs are ANDed with each other, filters, ranges and ids."""
    rows: list[tuple[IndexValues, IndexValue, IndexValue]] = [
        (("x", "y"), 1, "p"),
        (("y",), 2, "q"),
        (("x",), 3, "p"),
        (("z",), 4, "p"),
        (("x", "z"), None, "q"),
        (("y", "z"), 6, "p"),
    ]
    for tags, rank, title in rows:
        await create(backend, tagged(tags, rank, title))
    xy = has("x", "y")
    assert await ids_of(backend, Query(any_of=[xy], filters=[Filter("title", "s", "p")])) == [
        1,
        3,
        6,
    ]
    assert await ids_of(backend, Query(any_of=[xy], filters=[Filter(TAGS, "m", "z")])) == [5, 6]
    ranged = Query(sort="rank", descending=True, any_of=[xy], ranges=[Range("rank", low=2)])
    assert await ids_of(backend, ranged) == [6, 3, 2]
    assert await ids_of(backend, Query(any_of=[xy], ids=[4, 5, 99, 5])) == [5]
    two = Query(any_of=[xy, has("z")])
    assert await ids_of(backend, two) == [5, 6]
    mixed = Query(any_of=[has("x", "z"), AnyOf("rank", "n", [None, 3, 4])])
    assert await ids_of(backend, mixed) == [3, 4, 5]
    everything = Query(
        sort="rank",
        any_of=[xy, AnyOf("title", "s", ["p"])],
        filters=[Filter(TAGS, "m", "y")],
        ranges=[Range("rank", high=6, open_high=True)],
        ids=[1, 2, 3, 6],
    )
    assert await ids_of(backend, everything) == [1]


# --- writes ----------------------------------------------------------------------------------


async def test_an_update_replaces_the_whole_list(backend: Backend) -> None:
    """After an update the record holds exactly its new texts: old ones stop matching, new ones
    start; an empty tuple or no entry at all takes it out of the index."""
    a = await create(backend, tagged(("old", "both")))
    b = await create(backend, tagged(("old",)))
    a = await update(backend, a, tagged(("both", "new", "new")))
    assert await ids_of(backend, Query(any_of=[has("old")])) == [b.id]
    assert await ids_of(backend, Query(any_of=[has("new")])) == [a.id]
    assert await ids_of(backend, Query(filters=[Filter(TAGS, "m", "both")])) == [a.id]
    a = await update(backend, a, tagged(()))
    assert await total_of(backend, Query(any_of=[has("both", "new", "old")])) == 1
    a = await update(backend, a, tagged(("back",)))
    assert await ids_of(backend, Query(any_of=[has("back", "old")])) == [a.id, b.id]
    await update(backend, b, tagged(None))
    assert await ids_of(backend, Query(any_of=[has("back", "old")])) == [a.id]


async def test_delete_removes_every_value_of_the_record(backend: Backend) -> None:
    """A deleted record matches none of its texts any more; the others are untouched."""
    a = await create(backend, tagged(("p", "q", "r")))
    b = await create(backend, tagged(("q",)))
    await backend.records.delete(WS, NOTES, a.id, None, None)
    assert await ids_of(backend, Query(any_of=[has("p", "q", "r")])) == [b.id]
    for text in ("p", "r"):
        assert await total_of(backend, Query(filters=[Filter(TAGS, "m", text)])) == 0
    again = await create(backend, tagged(("p",)))
    assert await ids_of(backend, Query(any_of=[has("p", "q", "r")])) == [b.id, again.id]


async def test_dropping_a_multi_valued_index_drops_every_value(backend: Backend) -> None:
    """drop_indexes (on update) and Cascade.drop_indexes (on delete) remove an "m" index whole:
    no record matches it, even named by id; records keep their data; a later write starts it
    anew with only its own texts."""
    a = await create(backend, tagged(("x", "y")))
    b = await create(backend, tagged(("x",)), "obj:1")
    await update(backend, a, tagged(("x", "y")), drop_indexes=[(NOTES, TAGS)])
    for q in (Query(any_of=[has("x", "y")]), Query(filters=[Filter(TAGS, "m", "x")])):
        assert await backend.records.query(WS, NOTES, q) == Page((), 0)
        assert await backend.records.query(WS, NOTES, replace(q, ids=[a.id])) == Page((), 0)
    [kept] = await backend.records.get(WS, NOTES, [a.id])
    assert kept is not None and kept.data["tags"] == ["x", "y"]
    c = await create(backend, tagged(("y",)))
    assert await ids_of(backend, Query(any_of=[has("x", "y")], ids=[a.id, c.id])) == [c.id]

    owner = await create(backend, tagged())
    cascade = Cascade(drop_indexes=[("obj:1", TAGS)])
    await backend.records.delete(WS, NOTES, owner.id, None, None, cascade=cascade)
    assert await backend.records.query(WS, "obj:1", Query(any_of=[has("x")])) == Page((), 0)
    assert await backend.records.get(WS, "obj:1", [b.id]) == [b]


async def test_paging_a_multi_valued_match_by_creation_time_returns_each_record_once(
    backend: Backend,
) -> None:
    """300 records on few distinct creation times (ties ordered by id), matched by an any-of
    that several of their texts satisfy, read page by page both ways: each match once, in
    (created_at, id) order."""
    lists: list[IndexValues] = [("a", "b", "a"), ("b",), ("c",)]
    created = [await create(backend, tagged(lists[i % 3])) for i in range(300)]
    matching = [r for r in created if r.id % 3 != 0]  # ids 1, 2, 4, 5 ...: the "a"/"b" lists
    order = [r.id for r in sorted(matching, key=lambda r: (r.created_at_ms, r.id))]
    assert len({r.created_at_ms for r in created}) < len(created)  # ties to order by id
    for descending in (False, True):
        q = Query(sort="created_at", descending=descending, any_of=[has("b", "a")], limit=7)
        seen: list[int] = []
        for offset in range(0, 210, 7):
            page = await backend.records.query(WS, NOTES, replace(q, offset=offset))
            assert page.total == 200
            seen.extend(r.id for r in page.records)
        assert seen == (order[::-1] if descending else order)


# --- caller mistakes and edges ---------------------------------------------------------------


@pytest.mark.parametrize(
    ("query", "why"),
    [
        (Query(sort=TAGS, sort_kind="m"), "cannot sort"),
        (Query(sort=TAGS, sort_kind="m", any_of=[has("a")]), "cannot sort"),
        (Query(ranges=[Range(TAGS, low=0, kind="m")]), "numeric index"),
        (Query(ranges=[Range("title", kind="s")]), "numeric index"),
        (
            Query(any_of=[AnyOf(TAGS, "m", [str(i) for i in range(ANY_OF_LIMIT + 1)])]),
            f"at most {ANY_OF_LIMIT}",
        ),
    ],
    ids=["sort", "sort-with-any-of", "range-m", "range-s", "too-many-values"],
)
async def test_sorting_or_ranging_a_multi_valued_index_is_refused(
    backend: Backend, query: Query, why: str
) -> None:
    """A sort by an "m" index (a record has no one place in it), a range on a non-numeric index,
    or more than ANY_OF_LIMIT values: ValueError, before anything is read (so even for a
    collection that does not exist)."""
    await seed_lists(backend)
    for collection in (NOTES, "unknown"):
        with pytest.raises(ValueError, match=why):
            await backend.records.query(WS, collection, query)


async def test_any_of_limit_values_are_accepted(backend: Backend) -> None:
    """Exactly ANY_OF_LIMIT values is within the bound."""
    await seed_lists(backend)
    values = ["red", *(f"v{i}" for i in range(ANY_OF_LIMIT - 1))]
    assert await ids_of(backend, Query(any_of=[has(*values)])) == [1, 4, 6]


async def test_no_values_match_nothing(backend: Backend) -> None:
    """An any-of without values matches no record (total 0), whatever else the query says; an
    empty tuple puts its record nowhere in the index (it is not a null)."""
    await seed_lists(backend)
    await create(backend, tagged(None))
    for kind, name in (("m", TAGS), ("n", "rank"), ("s", "title")):
        empty = AnyOf(name, kind, ())  # type: ignore[arg-type]
        assert await backend.records.query(WS, NOTES, Query(any_of=[empty])) == Page((), 0)
        assert await backend.records.query(WS, NOTES, Query(any_of=[empty], ids=[1])) == Page((), 0)
    assert await total_of(backend, Query(sort="rank", any_of=[AnyOf("rank", "n", [None])])) == 7
    every_text = has("red", "blue", "green", "Red", "")
    assert await total_of(backend, Query(any_of=[every_text])) == 5  # not record 3 nor 7


async def test_a_text_with_nul_is_refused(backend: Backend) -> None:
    """NUL separates a member's text from its id: a value holding it is a ValueError, in a
    write (nothing is stored) as in a filter or an any-of."""
    bad = tagged(("fine", "bad\x00text"))
    with pytest.raises(ValueError, match="NUL"):
        await backend.records.create(WS, NOTES, bad)
    assert await total_of(backend, Query()) == 0
    record = await create(backend, tagged(("fine",)))
    with pytest.raises(ValueError, match="NUL"):
        await backend.records.update(WS, NOTES, record.id, record.version, bad)
    for q in (Query(filters=[Filter(TAGS, "m", "a\x00")]), Query(any_of=[has("ok", "\x00")])):
        with pytest.raises(ValueError, match="NUL"):
            await backend.records.query(WS, NOTES, q)
    assert await backend.records.get(WS, NOTES, [record.id]) == [record]
    assert await ids_of(backend, Query(any_of=[has("fine")])) == [record.id]


@pytest.mark.parametrize(
    "entry",
    [
        IndexEntry(TAGS, "m", "ab"),
        IndexEntry(TAGS, "m", ["a"]),  # type: ignore[arg-type]
        IndexEntry(TAGS, "m", ("a", None)),  # type: ignore[arg-type]
        IndexEntry(TAGS, "m", None),
        IndexEntry("title", "s", ("a",)),
        IndexEntry("rank", "n", ("1",)),
    ],
    ids=["text", "list", "null-inside", "null", "tuple-for-s", "tuple-for-n"],
)
async def test_an_entry_of_the_wrong_shape_is_refused(backend: Backend, entry: IndexEntry) -> None:
    """An "m" entry takes a tuple of texts, an "n" or "s" entry one value: TypeError, nothing
    stored."""
    with pytest.raises(TypeError):
        await backend.records.create(WS, NOTES, RecordWrite({}, ANA_ACTOR, None, [entry]))
    assert await total_of(backend, Query()) == 0


@pytest.mark.parametrize(
    "query",
    [
        Query(filters=[Filter(TAGS, "m", None)]),
        Query(filters=[Filter(TAGS, "m", 1)]),
        Query(any_of=[AnyOf(TAGS, "m", ["a", None])]),
    ],
    ids=["null-filter", "number-filter", "null-any-of"],
)
async def test_a_multi_valued_condition_takes_texts(backend: Backend, query: Query) -> None:
    """A multi-valued index holds texts, never null: another value is a TypeError."""
    with pytest.raises(TypeError):
        await backend.records.query(WS, NOTES, query)


# --- against a model -------------------------------------------------------------------------

TEXTS: Final = ["a", "b", "c", "d", "é"]
texts = st.sampled_from(TEXTS)
ranks = st.none() | st.integers(min_value=0, max_value=3)
titles = st.none() | st.sampled_from(["x", "y", "Y"])


@dataclass(frozen=True)
class Row:
    tags: IndexValues | None
    rank: int | None
    title: str | None


rows = st.builds(Row, st.none() | st.lists(texts, max_size=4).map(tuple), ranks, titles)


@dataclass(frozen=True)
class Ask:
    """One query of the model test, before it is turned into a `Query`."""

    any_tags: tuple[tuple[str, ...], ...]
    any_ranks: tuple[int | None, ...] | None
    any_titles: tuple[str | None, ...] | None
    tag: str | None
    low: int | None
    ids: tuple[int, ...] | None
    sort: str
    descending: bool
    offset: int
    limit: int

    def query(self) -> Query:
        any_of = [AnyOf(TAGS, "m", values) for values in self.any_tags]
        if self.any_ranks is not None:
            any_of.append(AnyOf("rank", "n", self.any_ranks))
        if self.any_titles is not None:
            any_of.append(AnyOf("title", "s", self.any_titles))
        return Query(
            sort=self.sort,
            sort_kind="s" if self.sort == "title" else "n",
            descending=self.descending,
            offset=self.offset,
            limit=self.limit,
            filters=[] if self.tag is None else [Filter(TAGS, "m", self.tag)],
            ranges=[] if self.low is None else [Range("rank", low=self.low)],
            ids=self.ids,
            any_of=any_of,
        )


asks = st.builds(
    Ask,
    st.lists(st.lists(texts, max_size=3).map(tuple), max_size=2).map(tuple),
    st.none() | st.lists(ranks, max_size=3).map(tuple),
    st.none() | st.lists(titles, max_size=3).map(tuple),
    st.none() | texts,
    st.none() | st.integers(min_value=0, max_value=3),
    st.none() | st.lists(st.integers(min_value=1, max_value=14), max_size=5).map(tuple),
    st.sampled_from(["id", "created_at", "rank", "title"]),
    st.booleans(),
    st.integers(min_value=0, max_value=6),
    st.integers(min_value=0, max_value=6),
)


def expected(records: dict[int, tuple[StoredRecord, Row]], ask: Ask) -> tuple[list[int], int]:
    """The page's ids and the total, by brute force over every record."""

    def keeps(rid: int, row: Row) -> bool:
        tags = set(row.tags or ())
        if any(not tags & set(values) for values in ask.any_tags):
            return False
        if ask.any_ranks is not None and row.rank not in ask.any_ranks:
            return False
        if ask.any_titles is not None and row.title not in ask.any_titles:
            return False
        if ask.tag is not None and ask.tag not in tags:
            return False
        if ask.low is not None and (row.rank is None or row.rank < ask.low):
            return False
        return ask.ids is None or rid in ask.ids

    def sort_key(rid: int) -> tuple[float, bytes, int]:
        record, row = records[rid]
        if ask.sort == "rank":
            return (float("-inf") if row.rank is None else row.rank, b"", rid)
        if ask.sort == "title":  # nulls first, then UTF-8 bytes
            return (0 if row.title is None else 1, (row.title or "").encode(), rid)
        return (record.created_at_ms if ask.sort == "created_at" else rid, b"", rid)

    matching = sorted(
        (rid for rid, (_, row) in records.items() if keeps(rid, row)),
        key=sort_key,
        reverse=ask.descending,
    )
    return matching[ask.offset : ask.offset + ask.limit], len(matching)


_collections = itertools.count()


@settings(
    max_examples=int(os.environ.get("HUDDLE_PROPERTY_EXAMPLES", "60")),
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(
    created=st.lists(rows, min_size=1, max_size=12),
    rewritten=st.lists(st.tuples(st.integers(min_value=1, max_value=12), rows), max_size=4),
    deleted=st.sets(st.integers(min_value=1, max_value=12), max_size=3),
    questions=st.lists(asks, min_size=1, max_size=6),
)
async def test_queries_agree_with_a_brute_force_model(
    backend: Backend,
    created: list[Row],
    rewritten: list[tuple[int, Row]],
    deleted: set[int],
    questions: list[Ask],
) -> None:
    """Random lists, rewritten and deleted at random, then queried with random any-ofs,
    membership filters, ranges, ids, sorts and pages: the backend answers what a brute-force
    pass over the records says. Each example writes a collection of its own, so examples share
    the test's backend without meeting."""
    collection = f"h{next(_collections)}"

    def write(row: Row) -> RecordWrite:
        return tagged(row.tags, row.rank, row.title)

    records: dict[int, tuple[StoredRecord, Row]] = {}
    for row in created:
        record = await create(backend, write(row), collection)
        records[record.id] = (record, row)
    for rid, row in rewritten:
        if rid in records:
            record = await update(backend, records[rid][0], write(row))
            records[rid] = (record, row)
    for rid in deleted:
        if rid in records:
            await backend.records.delete(WS, collection, rid, None, None)
            del records[rid]
    for ask in questions:
        page = await backend.records.query(WS, collection, ask.query())
        ids, total = expected(records, ask)
        assert ([r.id for r in page.records], page.total) == (ids, total), ask
        assert all(r == records[r.id][0] for r in page.records)
