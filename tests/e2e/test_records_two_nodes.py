"""Records on two nodes sharing one Redis behave as on one server: a unique value is won by
exactly one of many concurrent writes whichever node each goes through, a subscriber of node A
sees every record, object, field and collaboration change made through node B, in order and
with its actor, and a lock taken through A guards the record's writes through B."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from typing import Any, Final

import httpx
import orjson
import pytest
import redis.asyncio as aioredis
from httpx_sse import ServerSentEvent, aconnect_sse

from tests.support.nodes import HuddleNode, NodeFactory, bearer
from tests.support.record_audit import audit_records
from tests.support.redis_server import RedisServer

pytestmark = pytest.mark.xdist_group("e2e")

OBJECTS: Final = "/v1/custom-objects"
RECORDS: Final = "/v1/custom-objects/ticket/records"
COLLABORATIONS: Final = "/v2/collaborations"
STREAM: Final = "/v1/orgs/acme/workspaces/ws1/sync/stream"
TICKET: Final = {
    "apiName": "ticket",
    "label": "Ticket",
    "fields": [
        {"apiName": "code", "type": "text", "required": True, "unique": True},
        {"apiName": "n", "type": "integer"},
    ],
}
RACERS: Final = 20
ROOT: Final = {"type": "user", "id": "root", "name": "Root"}
BEN: Final = {"type": "user", "id": "ben", "name": "Ben"}


async def two_nodes(nodes: NodeFactory, redis_server: RedisServer) -> tuple[HuddleNode, ...]:
    return await asyncio.gather(
        nodes.start(redis_server.url(), name="a"), nodes.start(redis_server.url(), name="b")
    )


async def define_ticket(node: HuddleNode) -> str:
    async with node.client(bearer("root", admin=True, name="Root")) as admin:
        made = await admin.post(OBJECTS, json=TICKET)
    assert made.status_code == 201, made.text
    return str(made.json()["id"])


async def assert_keys_consistent(redis_server: RedisServer, nodes: NodeFactory) -> None:
    client = aioredis.Redis.from_url(redis_server.url())
    try:
        audited = await audit_records(client, f"{nodes.prefix}:{{acme/ws1}}")
    finally:
        await client.aclose()
    assert not audited.problems, audited.report()


async def test_a_unique_value_is_won_by_exactly_one_of_concurrent_creates_on_two_nodes(
    nodes: NodeFactory, redis_server: RedisServer
) -> None:
    """Twenty creates of the same `code`, half through each node, all at once: one 201, and
    nineteen 409 ALREADY_EXISTS naming the field and the winner; one record is stored."""
    a, b = await two_nodes(nodes, redis_server)
    await define_ticket(a)
    async with a.client(bearer("ana")) as on_a, b.client(bearer("ben")) as on_b:
        answers = await asyncio.gather(
            *(
                (on_a if i % 2 else on_b).post(RECORDS, json={"values": {"code": "X", "n": i}})
                for i in range(RACERS)
            )
        )
        won = [answer for answer in answers if answer.status_code == 201]
        assert len(won) == 1, [answer.text for answer in answers]
        winner = won[0].json()
        lost = [answer for answer in answers if answer.status_code != 201]
        assert [answer.status_code for answer in lost] == [409] * (RACERS - 1)
        for answer in lost:
            body = answer.json()
            assert body["error"] == "ALREADY_EXISTS", body
            assert body["details"] == {"field": "code", "existing_id": int(winner["id"])}, body

        listed = (await on_a.get(RECORDS)).json()
        assert [r["id"] for r in listed["data"]] == [winner["id"]]
        assert listed["data"][0]["values"] == winner["values"]
    await assert_keys_consistent(redis_server, nodes)


async def test_a_unique_value_is_won_by_exactly_one_of_concurrent_updates_on_two_nodes(
    nodes: NodeFactory, redis_server: RedisServer
) -> None:
    """Ten records renamed to the same `code` at once, through alternate nodes: one rename
    wins, nine answer 409 naming the winner and leave their record as it was."""
    a, b = await two_nodes(nodes, redis_server)
    await define_ticket(a)
    async with a.client(bearer("ana")) as on_a, b.client(bearer("ben")) as on_b:
        made = [
            (await on_a.post(RECORDS, json={"values": {"code": f"r{i}"}})).json()
            for i in range(RACERS // 2)
        ]
        answers = await asyncio.gather(
            *(
                (on_a if i % 2 else on_b).patch(
                    f"{RECORDS}/{record['id']}", json={"values": {"code": "X"}}
                )
                for i, record in enumerate(made)
            )
        )
        won = [answer.json() for answer in answers if answer.status_code == 200]
        assert len(won) == 1, [answer.text for answer in answers]
        refusals = [answer.json() for answer in answers if answer.status_code != 200]
        assert [body["error"] for body in refusals] == ["ALREADY_EXISTS"] * (RACERS // 2 - 1)
        assert {body["details"]["existing_id"] for body in refusals} == {int(won[0]["id"])}

        listed = (await on_b.get(RECORDS, params={"limit": 100})).json()["data"]
        codes = {r["id"]: r["values"]["code"] for r in listed}
        expected = {r["id"]: r["values"]["code"] for r in made} | {won[0]["id"]: "X"}
        assert codes == expected
        versions = {r["id"]: r["version"] for r in listed}
        assert sorted(versions.values()) == [1] * (RACERS // 2 - 1) + [2]
    await assert_keys_consistent(redis_server, nodes)


class Reader:
    """An SSE client that keeps every event it got."""

    def __init__(self, events: AsyncIterator[ServerSentEvent]) -> None:
        self._sse = events
        self.events: list[dict[str, Any]] = []

    async def until(self, done: Callable[[list[dict[str, Any]]], bool], within: float = 20) -> None:
        async with asyncio.timeout(within):
            while not done(self.events):
                sse = await anext(self._sse)
                if sse.data:
                    event = orjson.loads(sse.data)
                    assert sse.id == event["id"] and sse.event == event["type"], sse
                    self.events.append(event)


@asynccontextmanager
async def sse(node: HuddleNode, user: str) -> AsyncIterator[Reader]:
    async with (
        httpx.AsyncClient(base_url=node.url, timeout=30) as http,
        aconnect_sse(http, "GET", STREAM, headers=bearer(user)) as source,
    ):
        assert source.response.status_code == 200, await source.response.aread()
        reader = Reader(source.aiter_sse())
        # The reader's own presence event: from here on the stream follows the workspace.
        await reader.until(lambda got: any(e["type"] == "presence.joined" for e in got))
        yield reader


CHANGE_PREFIXES: Final = ("object.", "field.", "record.", "collaboration.")


def changes(events: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [e for e in events if e["type"].startswith(CHANGE_PREFIXES)]


async def test_a_subscriber_on_a_sees_record_changes_made_on_b_in_order_with_their_actor(
    nodes: NodeFactory, redis_server: RedisServer
) -> None:
    """An SSE reader on node A gets, in the order they were made through node B, the
    `object.*`, `field.*`, `record.*` and `collaboration.*` events, each naming its actor and
    carrying the changed record."""
    a, b = await two_nodes(nodes, redis_server)
    async with (
        sse(a, "reader") as reader,
        b.client(bearer("root", admin=True, name="Root")) as admin,
        b.client(bearer("ben", name="Ben")) as ben,
    ):
        made = await admin.post(OBJECTS, json=TICKET)
        assert made.status_code == 201, made.text
        obj = made.json()["id"]
        steps = [
            (admin, "POST", f"{OBJECTS}/{obj}/fields", {"apiName": "due", "type": "date"}),
            (admin, "PATCH", f"{OBJECTS}/{obj}/fields/due", {"label": "Due date"}),
            (admin, "PATCH", f"{OBJECTS}/{obj}", {"label": "Support ticket"}),
            (ben, "POST", RECORDS, {"values": {"code": "T-1", "n": 1}}),
            (ben, "PATCH", f"{RECORDS}/1", {"values": {"n": 2}}),
            (ben, "DELETE", f"{RECORDS}/1", None),
            (ben, "POST", COLLABORATIONS, {"data": _deal_collaboration(42)}),
            (ben, "DELETE", f"{COLLABORATIONS}/1", None),
            (admin, "DELETE", f"{OBJECTS}/{obj}/fields/due", None),
            (admin, "DELETE", f"{OBJECTS}/{obj}", None),
        ]
        for http, method, url, body in steps:
            answer = await http.request(method, url, json=body)
            assert answer.is_success, f"{method} {url}: {answer.status_code} {answer.text}"
        await reader.until(lambda got: any(e["type"] == "object.deleted" for e in got))

    seen = changes(reader.events)
    assert [(e["type"], e["actor"]) for e in seen] == [
        ("object.created", ROOT),
        ("field.created", ROOT),
        ("field.updated", ROOT),
        ("object.updated", ROOT),
        ("record.created", BEN),
        ("record.updated", BEN),
        ("record.deleted", BEN),
        ("collaboration.created", BEN),
        ("collaboration.deleted", BEN),
        ("field.deleted", ROOT),
        ("object.deleted", ROOT),
    ]
    offsets = [e["seq"] for e in seen]
    assert offsets == sorted(offsets) and len(set(offsets)) == len(offsets)
    by_type = {e["type"]: e["data"] for e in seen}
    assert by_type["object.created"]["api_name"] == "ticket"
    assert by_type["field.created"]["field"]["api_name"] == "due"
    assert by_type["field.updated"]["field"]["label"] == "Due date"
    assert by_type["object.updated"]["changed"] == ["label"]
    created, updated = by_type["record.created"], by_type["record.updated"]
    assert (created["id"], created["version"], created["object"]) == (1, 1, "ticket")
    assert created["values"] == {"code": "T-1", "n": 1, "due": None}
    assert (updated["version"], updated["changed"]) == (2, ["n"])
    assert updated["values"]["n"] == 2
    assert by_type["record.deleted"]["values"] == updated["values"]
    collaboration = by_type["collaboration.created"]
    assert (collaboration["resource_type"], collaboration["resource_id"]) == ("deal", 42)
    assert by_type["collaboration.deleted"]["id"] == collaboration["id"]
    assert by_type["field.deleted"]["field"]["api_name"] == "due"


def _deal_collaboration(deal: int) -> dict[str, Any]:
    return {"resource_type": "deal", "resource_id": deal, "collaborator_id": 7}


async def test_a_lock_taken_on_a_guards_record_writes_on_b(
    nodes: NodeFactory, redis_server: RedisServer
) -> None:
    """Ana locks ticket 1 through A: Ben's update and delete through B answer 423 naming Ana,
    while Ana writes through B; once she releases it, Ben writes, and her old fencing token is
    refused as stale. A locked collaboration refuses Ben's delete the same way (Base's
    envelope)."""
    a, b = await two_nodes(nodes, redis_server)
    await define_ticket(a)
    async with (
        a.client(bearer("ana", name="Ana")) as ana_on_a,
        b.client(bearer("ana", name="Ana")) as ana_on_b,
        b.client(bearer("ben", name="Ben")) as ben_on_b,
    ):
        made = await ben_on_b.post(RECORDS, json={"values": {"code": "T-1", "n": 1}})
        assert made.status_code == 201, made.text
        record = f"{RECORDS}/{made.json()['id']}"
        lock = f"/v1/collaboration/locks/ticket/{made.json()['id']}"

        taken = await ana_on_a.post(lock)
        assert taken.status_code == 200, taken.text
        token = taken.json()["fencingToken"]

        for refused in (
            await ben_on_b.patch(record, json={"values": {"n": 2}}),
            await ben_on_b.delete(record),
        ):
            assert refused.status_code == 423, refused.text
            body = refused.json()
            assert body["error"] == "LOCKED", body
            assert body["details"]["holder"] == {"userId": "ana", "name": "Ana"}, body
            assert body["details"]["fencingToken"] == token, body
            assert body["details"]["expiresAt"] == taken.json()["expiresAt"], body
            assert "Ana" in body["message"], body
        assert (await ben_on_b.get(record)).json()["version"] == 1, "nothing was written"

        mine = await ana_on_b.patch(record, json={"values": {"n": 3}, "lock_token": token})
        assert mine.status_code == 200, mine.text
        assert (await ana_on_a.delete(lock)).status_code == 200

        his = await ben_on_b.patch(record, json={"values": {"n": 4}})
        assert his.status_code == 200, his.text
        assert his.json()["values"]["n"] == 4
        stale = await ana_on_b.patch(record, json={"values": {"n": 5}, "lock_token": token})
        assert stale.status_code == 409, stale.text
        assert stale.json()["error"] == "STALE_FENCING_TOKEN", stale.text

        collaboration = await ben_on_b.post(COLLABORATIONS, json={"data": _deal_collaboration(42)})
        assert collaboration.status_code == 200, collaboration.text
        collaboration_id = collaboration.json()["data"]["id"]
        locked = await ana_on_a.post(f"/v1/collaboration/locks/collaboration/{collaboration_id}")
        assert locked.status_code == 200, locked.text
        refused = await ben_on_b.delete(f"{COLLABORATIONS}/{collaboration_id}")
        assert refused.status_code == 423, refused.text
        [error] = refused.json()["errors"]
        assert error["error"]["code"] == "locked", error
        assert "Ana" in error["error"]["message"], error
        still = await ben_on_b.get(f"{COLLABORATIONS}/{collaboration_id}")
        assert still.status_code == 200, still.text
    await assert_keys_consistent(redis_server, nodes)
