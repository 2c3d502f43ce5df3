"""The record engine over each backend: a collection declared with a list of references and
a list of UUIDs. A write naming a record that does not exist is refused whole, any-of filters
count each record once, and `expand` follows every list of a page in one backend read."""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

import pytest

from huddle.auth import ADMIN, Principal
from huddle.backends.base import Backend
from huddle.engine.declarations import Collection, Sort
from huddle.engine.fields import FieldSpec
from huddle.engine.service import RecordService
from huddle.errors import InvalidInput
from huddle.hub.node import Node
from huddle.store import StoredRecord
from tests.support.backends import BackendFactory
from tests.support.contract import WS

USERS = Collection(
    name="user",
    fields=(FieldSpec("name", "name", "text", required=True),),
    events=None,
)
EVENTS = Collection(
    name="event",
    fields=(
        FieldSpec("title", "title", "text", required=True),
        FieldSpec(
            "people",
            "participants",
            "list",
            item=FieldSpec("", "", "reference", reference="user"),
        ),
        FieldSpec("files", "fileIds", "list", item=FieldSpec("", "", "uuid"), unique_items=True),
        FieldSpec(
            "status", "status", "single_select", options=("draft", "live", "done"), default="draft"
        ),
    ),
    events="event",
)

F1 = "3fa85f64-5717-4562-b3fc-2c963f66afa6"
F2 = "f5743644-c8ce-4bbe-a9bd-dfdd18dce445"
F3 = "1f1b75a3-f773-4fd6-a63e-9a5fb978b21e"

ANA = Principal(
    kind="user",
    user_id="ana",
    org_id="acme",
    workspaces=frozenset({"ws1"}),
    default_workspace="ws1",
    roles=frozenset({ADMIN}),
    name="Ana",
)


@dataclass
class Engine:
    records: RecordService
    backend: Backend

    async def users(self, *names: str) -> list[int]:
        return [(await self.records.create(WS, USERS, {"name": n}, ANA)).id for n in names]

    async def event(self, **values: Any) -> StoredRecord:
        return await self.records.create(WS, EVENTS, {"title": "e", **values}, ANA)

    async def ids(self, **filters: Any) -> tuple[list[int], int]:
        page = await self.records.page(WS, EVENTS, offset=0, limit=100, filters=filters)
        return [record.id for record in page.records], page.total

    async def event_types(self) -> list[str]:
        return [e.type for e in (await self.backend.log.read(WS, 0, 100)).events]


@pytest.fixture
async def engine(make_backend: BackendFactory) -> AsyncIterator[Engine]:
    backend = await make_backend.open()
    async with Node(backend, make_backend.settings()).running() as node:
        yield Engine(RecordService(node), backend)


async def test_a_write_naming_a_missing_record_is_refused_whole(engine: Engine) -> None:
    """Every referenced record is checked in the write's atomic step: one missing among
    several refuses the write (422 at the field), which stores and announces nothing."""
    ada, bo = await engine.users("Ada", "Bo")
    with pytest.raises(InvalidInput) as refused:
        await engine.event(participants=[ada, 999, bo])
    [problem] = refused.value.problems
    assert (problem.loc, problem.input, problem.type) == (
        ("body", "participants"),
        999,
        "reference",
    )
    assert await engine.ids() == ([], 0)
    assert await engine.event_types() == []

    event = await engine.event(participants=[ada, bo, ada], fileIds=[F1.upper()])
    assert event.data["people"] == [ada, bo, ada]
    assert event.data["files"] == [F1]
    with pytest.raises(InvalidInput):
        await engine.records.update(WS, EVENTS, event.id, {"participants": [bo, 12345]}, ANA)
    assert (await engine.records.get(WS, EVENTS, event.id)).version == 1

    await engine.records.delete(WS, USERS, bo, ANA)
    # An update checks only the references it sets: the dangling one does not block a rename.
    renamed = await engine.records.update(WS, EVENTS, event.id, {"title": "Renamed"}, ANA)
    assert renamed.version == 2
    with pytest.raises(InvalidInput):
        await engine.records.update(WS, EVENTS, event.id, {"participants": [ada, bo]}, ANA)
    kept = await engine.records.update(WS, EVENTS, event.id, {"participants": [ada]}, ANA)
    assert kept.data["people"] == [ada]
    assert await engine.event_types() == ["event.created", "event.updated", "event.updated"]


async def test_a_repeated_uuid_is_refused_where_items_must_be_distinct(engine: Engine) -> None:
    with pytest.raises(InvalidInput) as refused:
        await engine.event(fileIds=[F1, F2, F1.upper()])
    assert [p.loc for p in refused.value.problems] == [("body", "fileIds", 2)]


async def test_list_filters_are_membership_and_any_of_with_exact_totals(engine: Engine) -> None:
    """A record matching several of the values is one match, counted once; filters on a
    list, on a scalar and any-of conditions combine (AND)."""
    ada, bo, cy = await engine.users("Ada", "Bo", "Cy")
    e1 = (await engine.event(fileIds=[F1, F2], participants=[ada, bo])).id
    e2 = (await engine.event(fileIds=[F2], participants=[bo], status="live")).id
    e3 = (await engine.event(fileIds=[F3], participants=[cy], status="done")).id
    e4 = (await engine.event(fileIds=[], participants=[])).id

    assert await engine.ids(fileIds=F2.upper()) == ([e1, e2], 2)
    assert await engine.ids(fileIds=[F1, F2]) == ([e1, e2], 2)
    assert await engine.ids(fileIds=[F1, F2, F3, F1]) == ([e1, e2, e3], 3)
    assert await engine.ids(fileIds=[]) == ([], 0)
    assert await engine.ids(participants=str(bo)) == ([e1, e2], 2)
    assert await engine.ids(participants=[ada, bo, cy]) == ([e1, e2, e3], 3)
    assert await engine.ids(status=["draft", "done"]) == ([e1, e3, e4], 3)
    assert await engine.ids(status=["draft", "done"], participants=[bo, cy]) == ([e1, e3], 2)
    assert await engine.ids(status="live", fileIds=[F1, F2]) == ([e2], 1)

    page = await engine.records.page(
        WS,
        EVENTS,
        offset=0,
        limit=1,
        sort=Sort("id", descending=True),
        filters={"fileIds": [F1, F2, F3]},
    )
    assert ([r.id for r in page.records], page.total) == ([e3], 3)

    with pytest.raises(InvalidInput) as refused:
        await engine.ids(fileIds=[F1, "nope"], participants=None)
    assert sorted(p.loc for p in refused.value.problems) == [
        ("query", "fileIds", 1),
        ("query", "participants"),
    ]


async def test_expand_follows_every_list_of_a_page_in_one_read(engine: Engine) -> None:
    """The distinct ids of all the page's lists, fetched with one `get`; a deleted target
    is absent; a list of UUIDs is not a reference."""
    ada, bo, cy = await engine.users("Ada", "Bo", "Cy")
    for people in ([ada, bo], [bo, cy, bo], [], None):
        await engine.event(participants=people)
    page = await engine.records.page(WS, EVENTS, offset=0, limit=10)

    store = engine.backend.records
    real_get = store.get
    reads: list[list[int]] = []

    async def counted_get(ws: Any, collection: str, ids: list[int]) -> Any:
        reads.append(list(ids))
        return await real_get(ws, collection, ids)

    engine.records._store.get = counted_get  # type: ignore[method-assign]
    try:
        embedded = await engine.records.expand(WS, EVENTS, page.records, "participants")
    finally:
        engine.records._store.get = real_get  # type: ignore[method-assign]
    assert reads == [[ada, bo, cy]]
    assert {rid: r.data["name"] for rid, r in embedded.items()} == {ada: "Ada", bo: "Bo", cy: "Cy"}

    await engine.records.delete(WS, USERS, bo, ANA)
    assert set(await engine.records.expand(WS, EVENTS, page.records, "participants")) == {ada, cy}
    with pytest.raises(ValueError, match="not a reference field"):
        await engine.records.expand(WS, EVENTS, page.records, "fileIds")
