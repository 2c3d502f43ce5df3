"""The leak matrix of event audiences, on two nodes sharing one Redis: for an audience of named
users, of a group's members and of one user alone (a personal event), the users inside receive
each event exactly once on every transport — WebSocket, SSE, REST polling, a replay after a
reconnect — and the users outside receive nothing of it, not even on a resume that starts
before it. A membership removed while the member's WebSocket and SSE stream are open stops
delivery from that change on."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import AsyncExitStack, asynccontextmanager
from typing import Any, Final

import httpx
import orjson
import pytest

from tests.support.nodes import HuddleNode, NodeFactory, bearer, read_events
from tests.support.redis_server import RedisServer

from .test_stream_credentials import Frames
from .test_websocket import WS1, Client, ws_client

pytestmark = pytest.mark.xdist_group("e2e")

BASE: Final = "/v1/orgs/acme/workspaces/ws1"
ADMIN: Final = bearer("root", admin=True)
NAMED: Final = {"users": ["ana"], "members_of": ["dept:1"]}
"""Ana by name, Ben through dept:1; Cleo is outside (and in dept:2)."""


async def set_groups(node: HuddleNode, user: str, groups: list[str]) -> None:
    async with node.client(ADMIN) as http:
        answer = await http.put(f"{BASE}/sync/memberships/{user}", json={"members_of": groups})
    assert answer.status_code == 200, answer.text
    assert answer.json() == {"user_id": user, "members_of": sorted(groups)}


async def send(
    node: HuddleNode, event_type: str, n: int, audience: dict[str, Any] | None = None
) -> str:
    body: dict[str, Any] = {"type": event_type, "data": {"n": n}}
    if audience is not None:
        body["audience"] = audience
    async with node.client(ADMIN) as http:
        answer = await http.post(f"{BASE}/events", json=body)
    assert answer.status_code == 201, answer.text
    event_id: str = answer.json()["id"]
    return event_id


@asynccontextmanager
async def sse(node: HuddleNode, user: str, since: str | None = None) -> AsyncIterator[Frames]:
    headers = {**bearer(user), **({"Last-Event-ID": since} if since else {})}
    async with (
        httpx.AsyncClient(base_url=node.url, timeout=30) as http,
        http.stream(
            "GET", f"{BASE}/sync/stream", params={"presence": "false"}, headers=headers
        ) as response,
    ):
        assert response.status_code == 200
        yield Frames(response)


async def sse_until(frames: Frames, marker: int) -> list[tuple[str, int]]:
    """The `test.*` events of the stream up to the public marker `n = marker`."""
    seen: list[tuple[str, int]] = []
    while True:
        block = await frames.next_block()
        assert block is not None, "the stream ended"
        if not block.get("event", "").startswith("test."):
            continue
        n = orjson.loads(block["data"])["data"]["n"]
        seen.append((block["event"], n))
        if (block["event"], n) == ("test.public", marker):
            return seen


async def ws_until(client: Client, marker: int) -> list[tuple[str, int]]:
    await client.until(lambda c: ("test.public", marker) in seen_by(c))
    return seen_by(client)


def seen_by(client: Client) -> list[tuple[str, int]]:
    return [(e["type"], e["data"]["n"]) for e in client.events if e["type"].startswith("test.")]


async def polled(node: HuddleNode, user: str) -> list[tuple[str, int]]:
    async with node.client(bearer(user)) as http:
        log = await read_events(http)
    return [(e["type"], e["data"]["n"]) for e in log if e["type"].startswith("test.")]


PRIVATE_ROUND: Final = [
    ("test.public", 0),
    ("test.private", 1),
    ("test.personal", 2),
    ("test.private", 3),
    ("test.public", 4),
]


def visible_to(user: str, events: list[tuple[str, int]]) -> list[tuple[str, int]]:
    keep = {
        "ana": ("test.public", "test.private", "test.personal"),
        "ben": ("test.public", "test.private"),
    }.get(user, ("test.public",))
    return [e for e in events if e[0] in keep]


async def publish_round(node: HuddleNode) -> None:
    await send(node, "test.public", 0)
    await send(node, "test.private", 1, NAMED)
    await send(node, "test.personal", 2, {"users": ["ana"]})
    await send(node, "test.private", 3, NAMED)
    await send(node, "test.public", 4)


async def test_insiders_get_every_event_once_and_outsiders_nothing_on_every_transport(
    nodes: NodeFactory, redis_server: RedisServer
) -> None:
    a = await nodes.start(redis_server.url(), name="a")
    b = await nodes.start(redis_server.url(), name="b")
    await set_groups(a, "ben", ["dept:1"])
    await set_groups(b, "cleo", ["dept:2"])
    async with AsyncExitStack() as stack:
        ws = {
            user: await stack.enter_async_context(ws_client(node, user))
            for user, node in (("ana", a), ("ben", b), ("cleo", b))
        }
        for client in ws.values():
            assert (await client.request("subscribe", **WS1))["ok"]
        streams = {
            user: await stack.enter_async_context(sse(node, user))
            for user, node in (("ana", b), ("ben", a), ("cleo", a))
        }
        await publish_round(b)
        for user in ("ana", "ben", "cleo"):
            expected = visible_to(user, PRIVATE_ROUND)
            assert await ws_until(ws[user], 4) == expected, f"{user} over WebSocket"
            assert await sse_until(streams[user], 4) == expected, f"{user} over SSE"
            assert await polled(a, user) == expected, f"{user} polling node A"
            assert await polled(b, user) == expected, f"{user} polling node B"

    # A reconnect that resumes from before the round replays it through the same filter.
    async with AsyncExitStack() as stack:
        for user, node in (("ana", a), ("ben", b), ("cleo", a)):
            client = await stack.enter_async_context(ws_client(node, user))
            assert (await client.request("subscribe", **WS1, since="origin:0"))["ok"]
            frames = await stack.enter_async_context(sse(node, user, since="origin:0"))
            expected = visible_to(user, PRIVATE_ROUND)
            assert await ws_until(client, 4) == expected, f"{user} resuming a WebSocket"
            assert await sse_until(frames, 4) == expected, f"{user} resuming SSE"

    # An admin is a user like any other here; a service (an API key without a user) sees all.
    assert await polled(a, "root") == visible_to("cleo", PRIVATE_ROUND)
    async with a.client(ADMIN) as http:
        made = await http.post("/v1/orgs/acme/api-keys", json={"workspace_id": "ws1"})
        assert made.status_code == 201, made.text
    async with b.client({"X-API-KEY": made.json()["key"]}) as service:
        everything = await read_events(service)
    assert [(e["type"], e["data"]["n"]) for e in everything if e["type"].startswith("test.")] == (
        PRIVATE_ROUND
    )


async def test_a_membership_removed_stops_delivery_to_open_streams_at_once(
    nodes: NodeFactory, redis_server: RedisServer
) -> None:
    a = await nodes.start(redis_server.url(), name="a")
    b = await nodes.start(redis_server.url(), name="b")
    await set_groups(a, "ben", ["dept:1"])
    async with ws_client(b, "ben") as client, sse(a, "ben") as frames:
        assert (await client.request("subscribe", **WS1))["ok"]
        await send(a, "test.private", 1, {"members_of": ["dept:1"]})
        await send(a, "test.public", 2)
        await set_groups(b, "ben", [])
        await send(b, "test.private", 3, {"members_of": ["dept:1"]})
        await send(a, "test.public", 4)
        await set_groups(a, "ben", ["dept:1"])
        await send(b, "test.private", 5, {"members_of": ["dept:1"]})
        await send(a, "test.public", 6)
        expected = [
            ("test.private", 1),
            ("test.public", 2),
            ("test.public", 4),
            ("test.private", 5),
            ("test.public", 6),
        ]
        assert await ws_until(client, 6) == expected
        assert await sse_until(frames, 6) == expected
        changes = [
            e["data"]["members_of"] for e in client.events if e["type"] == "membership.changed"
        ]
        assert changes == [[], ["dept:1"]]


async def test_a_user_may_not_set_groups_and_reads_only_their_own(nodes: NodeFactory) -> None:
    a = await nodes.start("memory://", name="a")
    async with a.client(bearer("ana")) as http:
        put = await http.put(f"{BASE}/sync/memberships/ana", json={"members_of": ["dept:1"]})
        assert put.status_code == 403
        assert (await http.get(f"{BASE}/sync/memberships/ben")).status_code == 403
        own = await http.get(f"{BASE}/sync/memberships/ana")
        assert own.status_code == 200 and own.json() == {"user_id": "ana", "members_of": []}
    async with a.client(ADMIN) as http:
        bad = await http.put(f"{BASE}/sync/memberships/ana", json={"members_of": [""]})
        assert bad.status_code == 422
        bad_audience = await http.post(
            f"{BASE}/events", json={"type": "test.x", "audience": {"users": "ana"}}
        )
        assert bad_audience.status_code == 422
        unknown = await http.post(
            f"{BASE}/events", json={"type": "test.x", "audience": {"roles": ["a"]}}
        )
        assert unknown.status_code == 422
        assert [e for e in await read_events(http) if e["type"].startswith("test.")] == []


async def test_a_reset_tells_insiders_and_outsiders_the_same_and_nothing_of_items(
    nodes: NodeFactory, redis_server: RedisServer
) -> None:
    """A cursor from another epoch answers one `sync.reset`: the same for a user inside a
    private event's audience and one outside it, naming positions only."""
    a = await nodes.start(redis_server.url(), name="a")
    await send(a, "test.private", 1, {"users": ["ana"]})
    await send(a, "test.public", 2)
    resets = {}
    for user in ("ana", "cleo"):
        async with sse(a, user, since="zzzzzzzz:1") as frames:
            block = await frames.until_event("sync.reset")
            resets[user] = orjson.loads(block["data"])
    for reset in resets.values():
        assert set(reset["data"]) == {"reason", "requested", "epoch", "oldest", "head"}
        reset.pop("ts")
    assert resets["ana"] == resets["cleo"]
