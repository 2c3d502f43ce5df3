"""The record engine serves a module from its declaration alone: a seed-004-like `post`
collection gets validation, owner permissions, lock-aware writes, events and paging without a
line of its own code."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from huddle.auth import ADMIN, Principal
from huddle.backends import open_backend
from huddle.clock import ManualClock
from huddle.config import Settings
from huddle.engine.declarations import Collection, Permissions, Sort
from huddle.engine.fields import FieldSpec
from huddle.engine.service import RecordService
from huddle.errors import EditLocked, Forbidden, InvalidInput, StaleFence
from huddle.hub.node import Node
from huddle.ids import EntityRef, OrgId, WorkspaceId, WorkspaceKey
from huddle.models import Holder

WS = WorkspaceKey(OrgId("acme"), WorkspaceId("ws1"))

POSTS = Collection(
    name="post",
    fields=(
        FieldSpec(key="title", name="title", type="text", required=True),
        FieldSpec(key="body", name="body", type="long_text", indexed=False),
        FieldSpec(key="pinned", name="pinned", type="boolean", default=False),
    ),
    events="post",
    lock_type="post",
    permissions=Permissions(update="owner", delete="owner"),
)


def user(name: str, *, admin: bool = False) -> Principal:
    return Principal(
        kind="user",
        user_id=name,
        org_id="acme",
        workspaces=frozenset({"ws1"}),
        default_workspace="ws1",
        roles=frozenset({ADMIN} if admin else {"member"}),
        name=name.title(),
    )


ANA, BEN, BOSS = user("ana"), user("ben"), user("boss", admin=True)


@pytest.fixture
async def engine() -> AsyncIterator[tuple[RecordService, Node]]:
    settings = Settings(backend_url="memory://")
    async with (
        open_backend(settings, ManualClock(1_700_000_000_000)) as backend,
        Node(backend, settings).running() as node,
    ):
        yield RecordService(node), node


async def test_a_declared_module_validates_and_announces_its_records(
    engine: tuple[RecordService, Node],
) -> None:
    records, node = engine
    post = await records.create(WS, POSTS, {"title": "Hello"}, ANA)
    assert post.data == {"title": "Hello", "pinned": False}

    with pytest.raises(InvalidInput) as refused:
        await records.create(WS, POSTS, {"title": 5, "colour": "red"}, ANA)
    assert {p.loc for p in refused.value.problems} == {("body", "title"), ("body", "colour")}

    [event] = (await node.backend.log.read(WS, 0, 10)).events
    assert event.type == "post.created"
    assert event.actor is not None and event.actor.id == "ana"
    assert event.data["values"] == {"title": "Hello", "body": None, "pinned": False}


async def test_owner_permissions_come_from_the_declaration(
    engine: tuple[RecordService, Node],
) -> None:
    records, _ = engine
    post = await records.create(WS, POSTS, {"title": "Mine"}, ANA)
    with pytest.raises(Forbidden):
        await records.update(WS, POSTS, post.id, {"title": "Yours"}, BEN)
    with pytest.raises(Forbidden):
        await records.delete(WS, POSTS, post.id, BEN)
    updated = await records.update(WS, POSTS, post.id, {"pinned": True}, ANA)
    assert updated.data == {"title": "Mine", "pinned": True}
    assert (await records.update(WS, POSTS, post.id, {"title": "Edited"}, BOSS)).version == 3
    await records.delete(WS, POSTS, post.id, BOSS)


async def test_writes_respect_the_declared_lock_entity(
    engine: tuple[RecordService, Node],
) -> None:
    records, node = engine
    post = await records.create(WS, POSTS, {"title": "Draft"}, ANA)
    granted = await node.backend.locks.acquire(
        WS, EntityRef("post", str(post.id)), Holder("boss", "Boss"), 60_000
    )
    with pytest.raises(EditLocked) as locked:
        await records.update(WS, POSTS, post.id, {"title": "Mine now"}, ANA)
    assert locked.value.details["holder"] == {"userId": "boss", "name": "Boss"}
    with pytest.raises(StaleFence):
        await records.update(WS, POSTS, post.id, {"title": "x"}, BOSS, token=granted.lock.token + 1)
    await records.update(WS, POSTS, post.id, {"title": "Final"}, BOSS, token=granted.lock.token)


async def test_pages_sort_and_filter_by_declared_fields(
    engine: tuple[RecordService, Node],
) -> None:
    records, _ = engine
    for title, pinned in (("b", True), ("a", False), ("c", True)):
        await records.create(WS, POSTS, {"title": title, "pinned": pinned}, ANA)
    page = await records.page(
        WS, POSTS, offset=0, limit=10, sort=Sort("title", descending=True), filters={"pinned": True}
    )
    assert [r.data["title"] for r in page.records] == ["c", "b"]
    assert page.total == 2
    with pytest.raises(InvalidInput):
        await records.page(WS, POSTS, offset=0, limit=10, sort=Sort("body"))


AUTHORS = Collection(
    name="author",
    fields=(FieldSpec(key="name", name="name", type="text", required=True),),
    events=None,
)
QUOTES = Collection(
    name="quote",
    fields=(
        FieldSpec(key="text", name="text", type="text", required=True),
        FieldSpec(key="by", name="by", type="reference", reference="author", required=False),
    ),
    events=None,
)


async def test_expand_embeds_a_pages_references_in_one_read(
    engine: tuple[RecordService, Node],
) -> None:
    """20 quotes by 3 authors (and one by nobody): one backend read returns the 3 authors, by
    id; a deleted author is absent; a field that is not a reference is refused."""
    records, node = engine
    authors = [await records.create(WS, AUTHORS, {"name": n}, ANA) for n in ("Ada", "Bo", "Cy")]
    for i in range(20):
        by = None if i == 19 else authors[i % 3].id
        await records.create(WS, QUOTES, {"text": f"q{i}", "by": by}, ANA)
    page = await records.page(WS, QUOTES, offset=0, limit=50)
    reads: list[int] = []
    store_get = node.backend.records.get

    async def counted_get(*args: object, **kwargs: object) -> object:
        reads.append(1)
        return await store_get(*args, **kwargs)  # type: ignore[arg-type]

    records._store.get = counted_get  # type: ignore[method-assign]
    embedded = await records.expand(WS, QUOTES, page.records, "by")
    assert len(reads) == 1
    assert {rid: r.data["name"] for rid, r in embedded.items()} == {
        authors[0].id: "Ada",
        authors[1].id: "Bo",
        authors[2].id: "Cy",
    }
    records._store.get = store_get  # type: ignore[method-assign]
    await records.delete(WS, AUTHORS, authors[1].id, BOSS)
    assert set(await records.expand(WS, QUOTES, page.records, "by")) == {
        authors[0].id,
        authors[2].id,
    }
    assert await records.expand(WS, QUOTES, [], "by") == {}
    with pytest.raises(ValueError, match="not a reference field"):
        await records.expand(WS, QUOTES, page.records, "text")
