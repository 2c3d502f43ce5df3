"""Record audiences through the record engine, on both backends: a collection declared with an
audience rule answers 404 for a record the caller may not read, leaves it out of pages and
totals, refuses writes to it as if it did not exist, and addresses every event about it to its
audience — an update to whoever could read the record before or after it."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Final

import pytest

from huddle.auth import ADMIN, Principal
from huddle.engine.audiences import AudienceService
from huddle.engine.declarations import Collection, listed, members, owner_only
from huddle.engine.fields import FieldSpec
from huddle.engine.service import RecordService
from huddle.errors import NotFound
from huddle.hub.node import Node
from huddle.models import Actor, Audience
from tests.support.backends import BackendFactory
from tests.support.contract import WS

NOTES: Final = Collection(
    name="note",
    fields=(FieldSpec(key="text", name="text", type="text", required=True),),
    events="note",
    audience=owner_only,
)
CHATS: Final = Collection(
    name="chat",
    fields=(
        FieldSpec(key="title", name="title", type="text", required=True),
        FieldSpec(key="member", name="member", type="text"),
    ),
    events="chat",
    audience=members("member"),
)
POSTS: Final = Collection(
    name="post",
    fields=(
        FieldSpec(key="title", name="title", type="text", required=True),
        FieldSpec(key="reader", name="reader", type="text"),
        FieldSpec(key="department", name="department", type="text"),
    ),
    events="post",
    audience=listed(users="reader", groups={"department": "department"}),
)


def user(name: str, *, admin: bool = False) -> Principal:
    return Principal(
        kind="user",
        user_id=name,
        org_id="acme",
        workspaces=None,
        default_workspace="ws1",
        roles=frozenset({ADMIN} if admin else {"member"}),
        name=name.title(),
    )


ANA, BEN, CLEO, BOSS = user("ana"), user("ben"), user("cleo"), user("boss", admin=True)
SERVICE: Final = Principal("service", "service:k1", "acme", None, "ws1", frozenset())


class Engine:
    def __init__(self, node: Node) -> None:
        self.node = node
        self.audiences = AudienceService(node)
        self.records = RecordService(node, self.audiences)

    async def total(self, collection: Collection, caller: Principal | None) -> int:
        page = await self.records.page(WS, collection, offset=0, limit=100, caller=caller)
        return page.total

    async def readable(self, collection: Collection, record_id: int, caller: Principal) -> bool:
        try:
            await self.records.get(WS, collection, record_id, caller=caller)
        except NotFound:
            return False
        return True

    async def audiences_of_events(self) -> list[tuple[str, Audience | None]]:
        log = await self.node.backend.log.read(WS, 0, 1000)
        return [(e.type, e.audience) for e in log.events]


@pytest.fixture
async def engine(make_backend: BackendFactory) -> AsyncIterator[Engine]:
    backend = await make_backend.open()
    async with Node(backend, make_backend.settings()).running() as node:
        yield Engine(node)


async def test_an_owner_only_record_is_its_creators_alone(engine: Engine) -> None:
    note = await engine.records.create(WS, NOTES, {"text": "mine"}, ANA)
    assert await engine.readable(NOTES, note.id, ANA)
    assert not await engine.readable(NOTES, note.id, BEN)
    assert not await engine.readable(NOTES, note.id, BOSS), "admins are readers like others"
    assert await engine.readable(NOTES, note.id, SERVICE)
    assert [await engine.total(NOTES, p) for p in (ANA, BEN, BOSS, SERVICE, None)] == [
        1,
        0,
        0,
        1,
        1,
    ]
    assert await engine.audiences_of_events() == [("note.created", Audience.of(["ana"]))]


async def test_an_outsider_cannot_write_what_it_cannot_see(engine: Engine) -> None:
    note = await engine.records.create(WS, NOTES, {"text": "mine"}, ANA)
    with pytest.raises(NotFound):
        await engine.records.update(WS, NOTES, note.id, {"text": "yours"}, BOSS)
    with pytest.raises(NotFound):
        await engine.records.delete(WS, NOTES, note.id, BEN)
    kept = await engine.records.get(WS, NOTES, note.id)
    assert (kept.version, kept.data) == (1, {"text": "mine"})
    assert len(await engine.audiences_of_events()) == 1


async def test_a_members_record_follows_its_member_list(engine: Engine) -> None:
    chat = await engine.records.create(WS, CHATS, {"title": "t", "member": "ben"}, ANA)
    assert [await engine.readable(CHATS, chat.id, p) for p in (ANA, BEN, CLEO)] == [
        True,
        True,
        False,
    ]
    await engine.records.update(WS, CHATS, chat.id, {"member": "cleo"}, BEN)
    assert [await engine.readable(CHATS, chat.id, p) for p in (ANA, BEN, CLEO)] == [
        True,
        False,
        True,
    ]
    with pytest.raises(NotFound):
        await engine.records.update(WS, CHATS, chat.id, {"title": "again"}, BEN)
    await engine.records.delete(WS, CHATS, chat.id, ANA)
    assert await engine.audiences_of_events() == [
        ("chat.created", Audience.of(["ana", "ben"])),
        ("chat.updated", Audience.of(["ana", "ben", "cleo"])),
        ("chat.deleted", Audience.of(["ana", "cleo"])),
    ]


async def test_group_audiences_follow_the_readers_groups(engine: Engine) -> None:
    post = await engine.records.create(WS, POSTS, {"title": "t", "department": "7"}, ANA)
    public = await engine.records.create(WS, POSTS, {"title": "all"}, ANA)
    assert not await engine.readable(POSTS, post.id, CLEO)
    assert await engine.readable(POSTS, public.id, CLEO), "nothing listed: everyone's"
    await engine.audiences.set_groups(WS, "cleo", ["department:7"], Actor("user", "boss"))
    assert await engine.readable(POSTS, post.id, CLEO)
    assert await engine.total(POSTS, CLEO) == 2
    await engine.audiences.set_groups(WS, "cleo", ["department:8"], Actor("user", "boss"))
    assert not await engine.readable(POSTS, post.id, CLEO)
    assert await engine.total(POSTS, CLEO) == 1
    assert await engine.audiences_of_events() == [
        ("post.created", Audience.of(["ana"], ["department:7"])),
        ("post.created", None),
        ("membership.changed", Audience.of(["cleo"])),
        ("membership.changed", Audience.of(["cleo"])),
    ]


async def test_pages_and_totals_hold_exactly_the_readable_records(engine: Engine) -> None:
    """60 posts for mixes of readers and groups: each reader pages through exactly the posts
    it may read, each once, in order, and the total counts exactly those."""
    await engine.audiences.set_groups(WS, "ben", ["department:1"], Actor("user", "boss"))
    expected: dict[str, list[int]] = {"ana": [], "ben": [], "cleo": []}
    for n in range(60):
        values = {"title": f"p{n}"}
        if n % 3 == 1:
            values["reader"] = "cleo"
        if n % 4 == 1:
            values["department"] = "1"
        created = await engine.records.create(WS, POSTS, values, ANA)
        everyone = "reader" not in values and "department" not in values
        expected["ana"].append(created.id)
        if everyone or "department" in values:
            expected["ben"].append(created.id)
        if everyone or values.get("reader") == "cleo":
            expected["cleo"].append(created.id)
    for caller in (ANA, BEN, CLEO):
        seen: list[int] = []
        for offset in range(0, 60, 7):
            page = await engine.records.page(WS, POSTS, offset=offset, limit=7, caller=caller)
            assert page.total == len(expected[caller.user_id])
            seen += [r.id for r in page.records]
        assert seen == expected[caller.user_id], caller.user_id
